/* The enrollment journal (docs/crash-safety.md): its entries written, read back and
 * skipped when unreadable, and the crash recovery's sweep of keys no record or entry
 * owns. */
#include <string.h>

#include "test-factor-store-common.h"

/* The crash recovery's sweep: a key is owned by a record (readable or not), or by an
 * enrollment journal entry, under its id or its factor's sid; read in the writer's thread,
 * after the writes asked for before it. A journal not read in full owns everything. */
static void
test_store_find_unowned (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
  g_autoptr (VpushEnrollment) started = make_enrollment ();
  g_autoptr (VpushEnrollment) created = make_enrollment ();
  g_autoptr (VpushEnrollment) other = make_enrollment ();
  g_autoptr (GError) error = NULL;
  g_autofree gchar *enrolling = g_build_filename (fixture->dir, "enrolling", NULL);
  g_autofree gchar *unowned = NULL;
  g_autofree gchar *expected = NULL;
  const gchar *sid_c = "YF00000000000000000000000000000c0c";
  const gchar *sid_d = "YF00000000000000000000000000000d0d";
  const gchar *names[] = { SID_A, SID_B, sid_c, sid_d, NULL, NULL, NULL, NULL };

  names[4] = started->id;
  names[5] = created->id;
  names[6] = other->id;
  created->factor = make_record (SID_B, "Kiosk");
  /* asked for, not waited for: the read comes after them */
  vpush_factor_store_save_async (store, record, NULL, NULL);
  vpush_factor_store_save_enrollment_async (store, started, NULL, NULL);
  vpush_factor_store_save_enrollment_async (store, created, NULL, NULL);
  write_file (fixture->factors, "YF00000000000000000000000000000d0d.json", "{ unreadable");

  unowned = store_find_unowned (store, names, &error);
  g_assert_no_error (error);
  expected = g_strconcat (sid_c, " ", other->id, NULL);
  g_assert_cmpstr (unowned, ==, expected);

  /* an entry that can't be read might own any key */
  write_file (enrolling, "enroll-0123456789abcdef0123456789abcdef.json", "{ trunc");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping enrollment journal entry*");
  g_assert_null (store_find_unowned (store, names, &error));
  g_test_assert_expected_messages ();
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "1 entries of the enrollment journal can't be read");
}

static void
test_journal_ids (void)
{
  g_autoptr (VpushEnrollment) a = make_enrollment ();
  g_autoptr (VpushEnrollment) b = make_enrollment ();
  const gchar *bad[] = {
    NULL,
    "",
    "enroll-",
    "enroll-0123456789abcdef0123456789abcde",
    "enroll-0123456789abcdef0123456789abcdef0",
    "enroll-0123456789ABCDEF0123456789abcdef",
    "enroll-0123456789abcdef0123456789abcdeg",
    "enrol-0123456789abcdef0123456789abcdef0",
    "YF0123456789abcdef0123456789abcdef",
    "enroll-../../0123456789abcdef0123456789",
  };

  g_assert_true (vpush_enrollment_id_is_valid (a->id));
  g_assert_true (vpush_enrollment_id_is_valid ("enroll-0123456789abcdef0123456789abcdef"));
  g_assert_cmpstr (a->id, !=, b->id);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (vpush_enrollment_id_is_valid (bad[i]));
  g_assert_cmpstr (a->service_sid, ==, "VA00000000000000000000000000000001");
  g_assert_cmpstr (a->identity, ==, "0a1b2c3d-user");
  g_assert_cmpstr (a->friendly_name, ==, "Kiosk");
  g_assert_nonnull (a->started_at);
  g_assert_null (a->factor);
}

static void
test_journal_round_trip (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushEnrollment) enrollment = make_enrollment ();
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_build_filename (fixture->dir, "enrolling", NULL);
  g_autofree gchar *name = g_strconcat (enrollment->id, ".json", NULL);
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  g_autofree gchar *text = NULL;
  const VpushEnrollment *loaded;

  /* nothing yet, not even the directory */
  entries = load_enrollments (store, 0);
  g_assert_cmpuint (entries->len, ==, 0);
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* before the create: no factor */
  g_assert_true (store_save_enrollment (store, enrollment, &error));
  g_assert_no_error (error);
  assert_mode (dir, 0700);
  assert_mode (path, 0600);
  entries = load_enrollments (store, 0);
  g_assert_cmpuint (entries->len, ==, 1);
  loaded = g_ptr_array_index (entries, 0);
  g_assert_cmpstr (loaded->id, ==, enrollment->id);
  g_assert_cmpstr (loaded->service_sid, ==, enrollment->service_sid);
  g_assert_cmpstr (loaded->identity, ==, enrollment->identity);
  g_assert_cmpstr (loaded->friendly_name, ==, enrollment->friendly_name);
  g_assert_cmpstr (loaded->started_at, ==, enrollment->started_at);
  g_assert_cmpstr (loaded->base_url, ==, BASE_URL);
  g_assert_null (loaded->factor);
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* after the create: the factor, in full, so that it can be deleted */
  enrollment->factor = make_record (SID_A, "Kiosk");
  g_assert_true (store_save_enrollment (store, enrollment, &error));
  g_assert_no_error (error);
  entries = load_enrollments (store, 0);
  g_assert_cmpuint (entries->len, ==, 1);
  loaded = g_ptr_array_index (entries, 0);
  g_assert_nonnull (loaded->factor);
  g_assert_cmpstr (loaded->factor->sid, ==, SID_A);
  g_assert_cmpstr (loaded->factor->account_sid, ==, enrollment->factor->account_sid);
  g_assert_cmpstr (loaded->factor->credential_sid, ==, enrollment->factor->credential_sid);
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* no secrets: nothing but what the record has, and the names */
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_null (strstr (text, "PRIVATE"));
  g_assert_null (strstr (text, "token"));

  /* a journal entry is not a record */
  g_assert_false (vpush_factor_store_has_record (store, SID_A));
  {
    g_autoptr (GPtrArray) records = vpush_factor_store_load_all (store, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (records->len, ==, 0);
  }

  /* an older vpushd's entry names no Verify API */
  g_clear_pointer (&enrollment->base_url, g_free);
  g_assert_true (store_save_enrollment (store, enrollment, &error));
  g_assert_no_error (error);
  entries = load_enrollments (store, 0);
  g_assert_null (((VpushEnrollment *)g_ptr_array_index (entries, 0))->base_url);
  g_clear_pointer (&entries, g_ptr_array_unref);

  g_assert_true (store_remove_enrollment (store, enrollment->id, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  /* already gone is fine */
  g_assert_true (store_remove_enrollment (store, enrollment->id, &error));
  g_assert_no_error (error);
  entries = load_enrollments (store, 0);
  g_assert_cmpuint (entries->len, ==, 0);
}

static void
test_journal_order (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *times[] = { "2024-05-01T12:00:02Z", "2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z" };

  for (guint i = 0; i < G_N_ELEMENTS (times); i++)
    {
      g_autoptr (VpushEnrollment) enrollment = make_enrollment ();

      g_free (enrollment->started_at);
      enrollment->started_at = g_strdup (times[i]);
      g_assert_true (store_save_enrollment (store, enrollment, &error));
      g_assert_no_error (error);
    }
  entries = load_enrollments (store, 0);
  g_assert_cmpuint (entries->len, ==, 3);
  for (guint i = 0; i < entries->len; i++)
    {
      const VpushEnrollment *enrollment = g_ptr_array_index (entries, i);
      g_autofree gchar *expected = g_strdup_printf ("2024-05-01T12:00:0%uZ", i);

      g_assert_cmpstr (enrollment->started_at, ==, expected);
    }
}

static void
test_journal_bad_id (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushEnrollment) enrollment = make_enrollment ();
  g_autoptr (GError) error = NULL;

  g_free (enrollment->id);
  enrollment->id = g_strdup ("../factors/" SID_A);
  g_assert_false (store_save_enrollment (store, enrollment, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (store_remove_enrollment (store, "../clock", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_journal_corrupt_skipped (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushEnrollment) good = make_enrollment ();
  g_autoptr (VpushEnrollment) other = make_enrollment ();
  g_autoptr (VpushEnrollment) password = make_enrollment ();
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_build_filename (fixture->dir, "enrolling", NULL);
  g_autofree gchar *other_path = NULL;
  g_autofree gchar *other_text = NULL;
  g_autofree gchar *misnamed = NULL;

  g_assert_true (store_save_enrollment (store, good, &error));
  g_assert_no_error (error);

  /* cut short, an entry under another entry's name, a factor of another identity */
  write_file (dir, "enroll-00000000000000000000000000000001.json", "{\"id\": \"enroll-0");
  g_assert_true (store_save_enrollment (store, other, &error));
  g_assert_no_error (error);
  other_path = g_strconcat (dir, "/", other->id, ".json", NULL);
  g_assert_true (g_file_get_contents (other_path, &other_text, NULL, NULL));
  misnamed = g_strconcat (dir, "/enroll-00000000000000000000000000000002.json", NULL);
  g_assert_true (g_file_set_contents (misnamed, other_text, -1, NULL));
  g_free (other->friendly_name);
  other->friendly_name = g_strdup ("Other");
  other->factor = make_record (SID_B, "Other");
  g_free (other->factor->identity);
  other->factor->identity = g_strdup ("someone-else");
  g_assert_true (store_save_enrollment (store, other, &error));
  g_assert_no_error (error);
  /* a base URL that no BaseUrl could be: its password would be quoted in messages */
  g_free (password->base_url);
  password->base_url = g_strdup ("https://user:secret@verify.twilio.com/v2/");
  g_assert_true (store_save_enrollment (store, password, &error));
  g_assert_no_error (error);

  /* names that are not ours are not read and not warned about */
  write_file (dir, "README", "hello");
  write_file (dir, "enroll-0123.json", "{}");
  write_file (dir, SID_A ".json", "{}");

  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping enrollment journal entry*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping enrollment journal entry*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping enrollment journal entry*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping enrollment journal entry*");
  entries = load_enrollments (store, 4);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (entries->len, ==, 1);
  g_assert_cmpstr (((VpushEnrollment *)g_ptr_array_index (entries, 0))->id, ==, good->id);
  /* left in place for a person to look at */
  g_assert_true (g_file_test (misnamed, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/factor-store/find-unowned", test_store_find_unowned);
  ADD ("/factor-store/journal/round-trip", test_journal_round_trip);
  ADD ("/factor-store/journal/order", test_journal_order);
  ADD ("/factor-store/journal/bad-id", test_journal_bad_id);
  ADD ("/factor-store/journal/corrupt-skipped", test_journal_corrupt_skipped);
#undef ADD
  g_test_add_func ("/factor-store/journal/ids", test_journal_ids);
  return g_test_run ();
}
