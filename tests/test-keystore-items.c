/* Unit tests for the key store with a working Secret Service: a factor's key stored, loaded,
 * relabelled and deleted, the item as other programs see it, and calls made before the key
 * store has settled. */
#define _GNU_SOURCE /* memmem */
#include <malloc.h>
#include <string.h>

#include "vpush-error.h"

#include "test-keystore-common.h"

/* This binary links with -Wl,--wrap=g_free (tests/meson.build): every g_free() in it, the
 * daemon library's included, comes here first, so a buffer can be looked at just before
 * it is freed. libsecret's and OpenSSL's own frees do not come here. */
void __real_g_free (gpointer mem);
void __wrap_g_free (gpointer mem);

static struct
{
  guint8 scalar[32]; /* a private key's scalar to look for in freed buffers */
  gboolean on;
  guint found; /* buffers freed with the scalar still in them */
} watch;

void
__wrap_g_free (gpointer mem)
{
  if (mem != NULL && watch.on)
    {
      gsize size = malloc_usable_size (mem);

      if (size >= sizeof watch.scalar && memmem (mem, size, watch.scalar, sizeof watch.scalar))
        watch.found++;
    }
  __real_g_free (mem);
}

/* The scalar of key, from its PKCS#8 form: RFC 5915's ECPrivateKey, version 1 then the
 * 32-byte OCTET STRING. */
static void
watch_for_key (VpushKey *key)
{
  static const guint8 before[] = { 0x02, 0x01, 0x01, 0x04, 0x20 };
  g_autoptr (GError) error = NULL;
  guint8 *der = NULL;
  gsize len = 0;
  const guint8 *at;

  g_assert_true (vpush_key_export_pkcs8 (key, &der, &len, &error));
  g_assert_no_error (error);
  at = memmem (der, len, before, sizeof before);
  g_assert_nonnull (at);
  g_assert_cmpuint (at + sizeof before + 32 - der, <=, len);
  memcpy (watch.scalar, at + sizeof before, 32);
  vpush_secure_free (der, len);
  watch.found = 0;
  watch.on = TRUE;
}

/* design.md: keys "are wiped from memory after use". Every copy of a key's private part
 * that vpushd's code makes while storing and loading it is wiped before it is freed. */
static void
test_keystore_copies_wiped (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autofree gchar *sid = random_sid ();
  guint8 *copy;

  watch_for_key (key);
  store_key (keystore, sid, "Kiosk", key);
  assert_loads_key (keystore, sid, key);
  watch.on = FALSE;
  g_assert_cmpuint (watch.found, ==, 0);

  /* the watch sees a copy freed unwiped */
  watch.on = TRUE;
  copy = g_memdup2 (watch.scalar, sizeof watch.scalar);
  g_free (copy);
  watch.on = FALSE;
  g_assert_cmpuint (watch.found, ==, 1);
  memset (watch.scalar, 0, sizeof watch.scalar);
}

static void
test_keystore_round_trip (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) replacement = generate_key ();
  g_autofree gchar *sid = random_sid ();

  g_assert_false (vpush_keystore_get_locked (keystore));

  store_key (keystore, sid, "Kiosk", key);
  assert_loads_key (keystore, sid, key);

  /* Storing under the same attributes replaces the item. */
  store_key (keystore, sid, "Kiosk", replacement);
  assert_loads_key (keystore, sid, replacement);
}

/* Calls made after init but before the key store has settled wait for it and then go
 * through (vpushd owns its name before the Secret Service has answered); a call before init
 * fails at once, with nothing that would ever send it. */
static void
test_keystore_parked (void)
{
  g_autoptr (VpushKeystore) ready = keystore_new_ready (5000);
  g_autoptr (VpushKeystore) keystore = vpush_keystore_new (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) other = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GAsyncResult) early = NULL;
  g_autoptr (GAsyncResult) init = NULL;
  g_autoptr (GAsyncResult) load = NULL;
  g_autoptr (GAsyncResult) store = NULL;
  g_autoptr (GAsyncResult) list = NULL;
  g_autoptr (GHashTable) listed = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *other_sid = random_sid ();

  store_key (ready, sid, "Kiosk", key);

  vpush_keystore_load_async (keystore, sid, NULL, on_result, &early);
  g_assert_null (vpush_keystore_load_finish (keystore, wait_result (&early), &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);

  vpush_keystore_init_async (keystore, NULL, on_result, &init);
  g_assert_false (vpush_keystore_get_settled (keystore));
  vpush_keystore_load_async (keystore, sid, NULL, on_result, &load);
  vpush_keystore_store_async (keystore, other_sid, SERVICE_SID, "Other", other, NULL, on_result,
                              &store);
  vpush_keystore_list_async (keystore, NULL, on_result, &list);

  loaded = vpush_keystore_load_finish (keystore, wait_result (&load), &error);
  g_assert_no_error (error);
  /* the outcome came first, and was a connection */
  g_assert_true (vpush_keystore_get_settled (keystore));
  g_assert_nonnull (init);
  g_assert_true (vpush_keystore_init_finish (keystore, init, &error));
  g_assert_no_error (error);
  assert_same_key (key, loaded);
  g_assert_true (vpush_keystore_store_finish (keystore, wait_result (&store), &error));
  g_assert_no_error (error);
  listed = vpush_keystore_list_finish (keystore, wait_result (&list), &error);
  g_assert_no_error (error);
  g_assert_true (g_hash_table_contains (listed, sid));

  assert_loads_key (ready, other_sid, other);
  g_assert_true (keystore_delete (keystore, sid, &error));
  g_assert_true (keystore_delete (keystore, other_sid, &error));
  g_assert_no_error (error);
}

static void
test_keystore_item (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GHashTable) attributes = NULL;
  g_autoptr (SecretValue) value = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *label = NULL;
  g_autofree gchar *schema_name = NULL;
  g_autofree guint8 *der = NULL;
  const gchar *stored;
  gsize der_len = 0;
  gsize stored_len = 0;
  GList *items;
  SecretItem *item;

  store_key (keystore, sid, "Front desk", key);

  items = search_items (sid, SECRET_SEARCH_LOAD_SECRETS);
  g_assert_cmpuint (g_list_length (items), ==, 1);
  item = items->data;

  label = secret_item_get_label (item);
  g_assert_cmpstr (label, ==, "vpush factor key (Front desk)");
  schema_name = secret_item_get_schema_name (item);
  g_assert_cmpstr (schema_name, ==, "io.github.vpush.FactorKey");
  attributes = secret_item_get_attributes (item);
  g_assert_cmpstr (g_hash_table_lookup (attributes, "factor-sid"), ==, sid);
  g_assert_cmpstr (g_hash_table_lookup (attributes, "service-sid"), ==, SERVICE_SID);

  /* The secret is the PKCS#8 DER itself. */
  value = secret_item_get_secret (item);
  g_assert_nonnull (value);
  stored = secret_value_get (value, &stored_len);
  g_assert_true (vpush_key_export_pkcs8 (key, &der, &der_len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (stored, stored_len, der, der_len);
  vpush_secure_free (g_steal_pointer (&der), der_len);

  g_list_free_full (items, g_object_unref);
}

/* The label of the factor's one item */
static gchar *
item_label (const gchar *sid)
{
  GList *items = find_items (sid);
  gchar *label;

  g_assert_cmpuint (g_list_length (items), ==, 1);
  label = secret_item_get_label (items->data);
  g_list_free_full (items, g_object_unref);
  return label;
}

/* A rename relabels the item; the key stays as it was. */
static void
test_keystore_relabel (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *other_sid = random_sid ();
  g_autofree gchar *label = NULL;

  store_key (keystore, sid, "Front desk", key);
  store_key (keystore, other_sid, "Back office", key);

  g_assert_true (keystore_relabel (keystore, sid, "Front desk 2", &error));
  g_assert_no_error (error);
  label = item_label (sid);
  g_assert_cmpstr (label, ==, "vpush factor key (Front desk 2)");
  g_clear_pointer (&label, g_free);
  label = item_label (other_sid);
  g_assert_cmpstr (label, ==, "vpush factor key (Back office)");
  assert_loads_key (keystore, sid, key);

  g_assert_false (keystore_relabel (keystore, ABSENT_SID, "Nobody", &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
}

static void
test_keystore_absent (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;

  loaded = keystore_load (keystore, ABSENT_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
  g_assert_null (loaded);
}

static void
test_keystore_delete (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *other_sid = random_sid ();

  store_key (keystore, sid, "Doomed", key);
  store_key (keystore, other_sid, "Survivor", key);

  g_assert_true (keystore_delete (keystore, sid, &error));
  g_assert_no_error (error);
  loaded = keystore_load (keystore, sid, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
  g_assert_null (loaded);
  g_clear_error (&error);

  /* Only the one factor's key went. */
  assert_loads_key (keystore, other_sid, key);

  /* Deleting what is gone is not an error. */
  g_assert_true (keystore_delete (keystore, sid, &error));
  g_assert_no_error (error);
  g_assert_true (keystore_delete (keystore, ABSENT_SID, &error));
  g_assert_no_error (error);
}

/* Two deletes of one item at once (a deleted factor's, and the key store's own retry of one
 * that failed earlier): both succeed, answered once each. libsecret 0.20 answers the second
 * of two concurrent clears of one item twice, a critical. */
static void
test_keystore_delete_twice (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GAsyncResult) first = NULL;
  g_autoptr (GAsyncResult) second = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();

  store_key (keystore, sid, "Deleted twice", key);

  vpush_keystore_delete_async (keystore, sid, NULL, on_result, &first);
  vpush_keystore_delete_async (keystore, sid, NULL, on_result, &second);
  g_assert_true (vpush_keystore_delete_finish (keystore, wait_result (&first), &error));
  g_assert_no_error (error);
  g_assert_true (vpush_keystore_delete_finish (keystore, wait_result (&second), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_items (sid), ==, 0);
}

/* Another program deletes the item between the key store's search for it and its Delete
 * (Seahorse, secret-tool, a second client of the same keyring): the key is gone, which is
 * what was asked, answered once. libsecret 0.20's clear answers a clear whose Delete fails
 * twice, a critical; a Delete that fails in any other way (the keyring killed or stopped
 * right then, the deadline's cancellation) does the same. */
static void
test_keystore_delete_meets_another (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GAsyncResult) ours = NULL;
  g_autoptr (GAsyncResult) theirs = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  GList *items;

  store_key (keystore, sid, "Deleted by another", key);
  items = find_items (sid);
  g_assert_cmpuint (g_list_length (items), ==, 1);

  /* One connection, one order: the key store's search, the other Delete, then the key
   * store's Delete, of an item the keyring no longer has. */
  vpush_keystore_delete_async (keystore, sid, NULL, on_result, &ours);
  secret_item_delete (items->data, NULL, on_result, &theirs);
  g_assert_true (secret_item_delete_finish (items->data, wait_result (&theirs), &error));
  g_assert_no_error (error);
  g_assert_true (vpush_keystore_delete_finish (keystore, wait_result (&ours), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_items (sid), ==, 0);
  g_list_free_full (items, g_object_unref);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/keystore/round-trip", test_keystore_round_trip);
  g_test_add_func ("/keystore/copies-wiped", test_keystore_copies_wiped);
  g_test_add_func ("/keystore/item", test_keystore_item);
  g_test_add_func ("/keystore/parked", test_keystore_parked);
  g_test_add_func ("/keystore/relabel", test_keystore_relabel);
  g_test_add_func ("/keystore/absent", test_keystore_absent);
  g_test_add_func ("/keystore/delete", test_keystore_delete);
  g_test_add_func ("/keystore/delete-twice", test_keystore_delete_twice);
  g_test_add_func ("/keystore/delete-meets-another", test_keystore_delete_meets_another);

  return g_test_run ();
}
