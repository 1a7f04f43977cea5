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

void
write_file (const gchar *dir, const gchar *name, const gchar *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}
