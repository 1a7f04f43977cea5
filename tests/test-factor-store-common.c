#include "test-factor-store-common.h"

#include <glib/gstdio.h>

void
fixture_setup (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->tmp = g_dir_make_tmp ("vpush-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->dir = g_build_filename (fixture->tmp, "state", "vpush", NULL);
  fixture->factors = g_build_filename (fixture->dir, "factors", NULL);
}

void
fixture_teardown (Fixture *fixture, gconstpointer data)
{
  rm_rf (fixture->tmp);
  g_free (fixture->tmp);
  g_free (fixture->dir);
  g_free (fixture->factors);
}

VpushFactorRecord *
make_record (const gchar *sid, const gchar *friendly_name)
{
  VpushFactorRecord *record = vpush_factor_record_new ();

  record->sid = g_strdup (sid);
  record->friendly_name = g_strdup (friendly_name);
  record->service_sid = g_strdup ("VA00000000000000000000000000000001");
  record->identity = g_strdup ("0a1b2c3d-user");
  record->account_sid = g_strdup ("AC00000000000000000000000000000002");
  record->entity_sid = g_strdup ("YE00000000000000000000000000000003");
  record->credential_sid = g_strdup ("CR00000000000000000000000000000004");
  record->status = g_strdup ("unverified");
  record->created_at = g_strdup ("2024-05-01T12:00:00Z");
  record->push_url = g_strdup ("https://ntfy.example.com/vpush-1/json");
  record->metadata = g_strdup ("{\"os\":\"Linux\"}");
  return record;
}

VpushFactorStore *
new_store (Fixture *fixture)
{
  g_autoptr (GError) error = NULL;
  VpushFactorStore *store = vpush_factor_store_new (fixture->dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

void
write_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->ok = vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &wait->error);
  wait->done = TRUE;
}

gboolean
wait_write (Wait *wait, GError **error)
{
  while (!wait->done)
    g_main_context_iteration (NULL, TRUE);
  if (wait->error != NULL)
    g_propagate_error (error, wait->error);
  return wait->ok;
}

gboolean
store_save (VpushFactorStore *store, const VpushFactorRecord *record, GError **error)
{
  Wait wait = { 0 };

  vpush_factor_store_save_async (store, record, write_done_cb, &wait);
  return wait_write (&wait, error);
}

gboolean
store_remove (VpushFactorStore *store, const gchar *sid, GError **error)
{
  Wait wait = { 0 };

  vpush_factor_store_remove_async (store, sid, write_done_cb, &wait);
  return wait_write (&wait, error);
}

gboolean
store_save_enrollment (VpushFactorStore *store, const VpushEnrollment *enrollment, GError **error)
{
  Wait wait = { 0 };

  vpush_factor_store_save_enrollment_async (store, enrollment, write_done_cb, &wait);
  return wait_write (&wait, error);
}

gboolean
store_remove_enrollment (VpushFactorStore *store, const gchar *id, GError **error)
{
  Wait wait = { 0 };

  vpush_factor_store_remove_enrollment_async (store, id, write_done_cb, &wait);
  return wait_write (&wait, error);
}

VpushEnrollment *
make_enrollment (void)
{
  return vpush_enrollment_new ("VA00000000000000000000000000000001", "0a1b2c3d-user", "Kiosk",
                               BASE_URL);
}

GPtrArray *
load_enrollments (VpushFactorStore *store, guint expected_unreadable)
{
  g_autoptr (GError) error = NULL;
  guint n_unreadable = 99;
  GPtrArray *entries = vpush_factor_store_load_enrollments (store, &n_unreadable, &error);

  g_assert_no_error (error);
  g_assert_nonnull (entries);
  g_assert_cmpuint (n_unreadable, ==, expected_unreadable);
  return entries;
}

void
assert_mode (const gchar *path, guint mode)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, mode);
}

void
write_file (const gchar *dir, const gchar *name, const gchar *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
unowned_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Unowned *u = user_data;

  /* in the main context, as the caller asked it */
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  u->unowned
      = vpush_factor_store_find_unowned_finish (VPUSH_FACTOR_STORE (source), result, &u->error);
  u->done = TRUE;
}

void
store_find_unowned_async (VpushFactorStore *store, const gchar *const *names, Unowned *u)
{
  g_autoptr (GPtrArray) asked = g_ptr_array_new_with_free_func (g_free);

  for (gsize i = 0; names[i] != NULL; i++)
    g_ptr_array_add (asked, g_strdup (names[i]));
  vpush_factor_store_find_unowned_async (store, asked, unowned_cb, u);
}

gchar *
store_find_unowned_wait (Unowned *u, GError **error)
{
  g_autoptr (GPtrArray) unowned = NULL;
  g_autoptr (GString) joined = g_string_new (NULL);

  while (!u->done)
    g_main_context_iteration (NULL, TRUE);
  if (u->unowned == NULL)
    {
      g_propagate_error (error, u->error);
      return NULL;
    }
  unowned = g_steal_pointer (&u->unowned);
  for (guint i = 0; i < unowned->len; i++)
    g_string_append_printf (joined, "%s%s", i ? " " : "",
                            (const gchar *)g_ptr_array_index (unowned, i));
  return g_string_free (g_steal_pointer (&joined), FALSE);
}

gchar *
store_find_unowned (VpushFactorStore *store, const gchar *const *names, GError **error)
{
  Unowned u = { 0 };

  store_find_unowned_async (store, names, &u);
  return store_find_unowned_wait (&u, error);
}
