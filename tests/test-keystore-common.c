/* The helpers of test-keystore-common.h. */
#include "test-keystore-common.h"
#include "vpush-names.h"
#include "test-signatures.h"

/* Our own copy of the schema, so a wrong name in the key store fails the search below. */
const SecretSchema test_schema = {
  VPUSH_SECRET_SCHEMA,
  SECRET_SCHEMA_NONE,
  {
      { "factor-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "service-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
  },
};

void
on_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

gboolean
on_wait_expired (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

GAsyncResult *
wait_result (GAsyncResult **slot)
{
  WAIT_FOR (*slot != NULL);
  return *slot;
}

gchar *
random_sid (void)
{
  GString *sid = g_string_new ("YF");

  for (guint i = 0; i < 32; i++)
    g_string_append_c (sid, "0123456789abcdef"[g_random_int_range (0, 16)]);
  return g_string_free (sid, FALSE);
}

VpushKeystore *
keystore_new_ready (guint timeout_ms)
{
  g_autoptr (VpushKeystore) keystore = vpush_keystore_new (timeout_ms);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  vpush_keystore_init_async (keystore, NULL, on_result, &result);
  g_assert_true (vpush_keystore_init_finish (keystore, wait_result (&result), &error));
  g_assert_no_error (error);
  return g_steal_pointer (&keystore);
}

gboolean
keystore_store (VpushKeystore *keystore, const gchar *sid, const gchar *name, VpushKey *key,
                GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_keystore_store_async (keystore, sid, SERVICE_SID, name, key, NULL, on_result, &result);
  return vpush_keystore_store_finish (keystore, wait_result (&result), error);
}

/* Stores the factor's key, which must work. */
void
store_key (VpushKeystore *keystore, const gchar *sid, const gchar *name, VpushKey *key)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (keystore_store (keystore, sid, name, key, &error));
  g_assert_no_error (error);
}

VpushKey *
keystore_load (VpushKeystore *keystore, const gchar *sid, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_keystore_load_async (keystore, sid, NULL, on_result, &result);
  return vpush_keystore_load_finish (keystore, wait_result (&result), error);
}

gboolean
keystore_delete (VpushKeystore *keystore, const gchar *sid, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_keystore_delete_async (keystore, sid, NULL, on_result, &result);
  return vpush_keystore_delete_finish (keystore, wait_result (&result), error);
}

VpushKey *
generate_key (void)
{
  g_autoptr (GError) error = NULL;
  VpushKey *key = vpush_key_generate (&error);

  g_assert_no_error (error);
  return key;
}

/* A signature made with the loaded key verifies with the original key's public half. */
void
assert_same_key (VpushKey *original, VpushKey *loaded)
{
  static const guint8 msg[] = "vpush keystore round trip";
  g_autoptr (GError) error = NULL;
  g_autofree gchar *spki = vpush_key_get_public_spki_b64 (original, &error);
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;

  g_assert_no_error (error);
  g_assert_true (vpush_key_sign_der (loaded, msg, sizeof msg, &sig, &sig_len, &error));
  g_assert_no_error (error);
  g_assert_true (ecdsa_verify_der (spki, msg, sizeof msg, sig, sig_len, &error));
  g_assert_no_error (error);
}

/* The factor's key loads, and is key. */
void
assert_loads_key (VpushKeystore *keystore, const gchar *sid, VpushKey *key)
{
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;

  loaded = keystore_load (keystore, sid, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  assert_same_key (key, loaded);
}

gboolean
keystore_relabel (VpushKeystore *keystore, const gchar *sid, const gchar *name, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_keystore_relabel_async (keystore, sid, name, NULL, on_result, &result);
  return vpush_keystore_relabel_finish (keystore, wait_result (&result), error);
}

/* The key store's items of a factor, as any other program sees them (every one, with
 * whatever else flags asks for) */
GList *
search_items (const gchar *sid, SecretSearchFlags flags)
{
  g_autoptr (SecretService) service = NULL;
  g_autoptr (GHashTable) query = secret_attributes_build (&test_schema, "factor-sid", sid, NULL);
  g_autoptr (GError) error = NULL;
  GList *items;

  service = secret_service_get_sync (SECRET_SERVICE_NONE, NULL, &error);
  g_assert_no_error (error);
  items = secret_service_search_sync (service, &test_schema, query, SECRET_SEARCH_ALL | flags, NULL,
                                      &error);
  g_assert_no_error (error);
  return items;
}

GList *
find_items (const gchar *sid)
{
  return search_items (sid, SECRET_SEARCH_NONE);
}

guint
count_items (const gchar *sid)
{
  GList *items = find_items (sid);
  guint n = g_list_length (items);

  g_list_free_full (items, g_object_unref);
  return n;
}
