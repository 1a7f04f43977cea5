#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "test-factor-store-common.h"
#include "vpush-time.h"

/* The caller's callback drops the last reference it has: the store's last one is then the
 * write's own, which its thread may drop after the callback has run. */
static void
drop_store_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->ok = vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &wait->error);
  g_object_unref (source);
  wait->done = TRUE;
}

static void
count_finalized (gpointer data)
{
  g_atomic_int_inc ((gint *)data);
}

/* A store finalized in its writer's thread (by the write that held the last reference)
 * must not wait there for that very thread to end: it never would. */
static void
test_store_last_unref_in_writer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Laptop");
  const guint n = 300;
  gint finalized = 0;
  gint64 deadline;

  for (guint i = 0; i < n; i++)
    {
      VpushFactorStore *store = new_store (fixture);
      Wait wait = { 0 };

      /* set after the finalize function has returned (GObject's own finalize) */
      g_object_set_data_full (G_OBJECT (store), "finalized", &finalized, count_finalized);
      vpush_factor_store_save_async (store, record, drop_store_cb, &wait);
      g_assert_true (wait_write (&wait, NULL));
    }
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while ((guint)g_atomic_int_get (&finalized) < n && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_cmpint (g_atomic_int_get (&finalized), ==, n);
}

static const VpushFactorRecord *
find_record (GPtrArray *records, const gchar *sid)
{
  for (guint i = 0; i < records->len; i++)
    {
      const VpushFactorRecord *record = g_ptr_array_index (records, i);

      if (g_strcmp0 (record->sid, sid) == 0)
        return record;
    }
  return NULL;
}

static void
test_store_dir_perms (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);

  assert_mode (fixture->dir, 0700);
  assert_mode (fixture->factors, 0700);
}

/* A directory made by someone else with a looser mode is closed */
static void
test_store_dir_tightened (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = NULL;

  g_autofree gchar *enrolling = g_build_filename (fixture->dir, "enrolling", NULL);

  g_assert_cmpint (g_mkdir_with_parents (fixture->factors, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (enrolling, 0755), ==, 0);
  g_assert_cmpint (g_chmod (fixture->dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (fixture->factors, 0750), ==, 0);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE,
                         "*vpush was open to other users (mode 0755)*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE,
                         "*factors was open to other users (mode 0750)*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE,
                         "*enrolling was open to other users (mode 0755)*");
  store = new_store (fixture);
  g_test_assert_expected_messages ();
  assert_mode (fixture->dir, 0700);
  assert_mode (fixture->factors, 0700);
  /* before any enrollment is journalled */
  assert_mode (enrolling, 0700);
}

static void
test_store_round_trip (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "Kiosk 1");
  g_autoptr (VpushFactorRecord) b = make_record (SID_B, "Kiosk 2");
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *path_a = g_build_filename (fixture->factors, SID_A ".json", NULL);
  const VpushFactorRecord *loaded;

  /* a rename keeps the name the policy matches, across renames and a round trip */
  g_assert_cmpstr (vpush_factor_record_get_policy_name (a), ==, "Kiosk 1");
  vpush_factor_record_rename (a, "Shop kiosk");
  vpush_factor_record_rename (a, "Shop kiosk 2");
  g_assert_cmpstr (a->friendly_name, ==, "Shop kiosk 2");
  g_assert_cmpstr (vpush_factor_record_get_policy_name (a), ==, "Kiosk 1");

  /* Nullable fields stay NULL across a round trip; a creation time kept as the API sent
   * it (records from before enrollment normalised it) comes back in the bus's form. */
  g_clear_pointer (&b->entity_sid, g_free);
  g_clear_pointer (&b->push_url, g_free);
  g_clear_pointer (&b->metadata, g_free);
  g_free (b->created_at);
  b->created_at = g_strdup ("2024-05-01T14:00:00.5+02:00");

  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
  g_clear_pointer (&records, g_ptr_array_unref);

  g_assert_true (store_save (store, a, &error));
  g_assert_no_error (error);
  g_assert_true (store_save (store, b, &error));
  g_assert_no_error (error);
  assert_mode (path_a, 0600);

  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 2);

  loaded = find_record (records, SID_A);
  g_assert_nonnull (loaded);
  g_assert_cmpstr (loaded->friendly_name, ==, a->friendly_name);
  g_assert_cmpstr (loaded->service_sid, ==, a->service_sid);
  g_assert_cmpstr (loaded->identity, ==, a->identity);
  g_assert_cmpstr (loaded->account_sid, ==, a->account_sid);
  g_assert_cmpstr (loaded->entity_sid, ==, a->entity_sid);
  g_assert_cmpstr (loaded->credential_sid, ==, a->credential_sid);
  g_assert_cmpstr (loaded->status, ==, a->status);
  g_assert_cmpstr (loaded->created_at, ==, a->created_at);
  g_assert_cmpstr (loaded->push_url, ==, a->push_url);
  g_assert_cmpstr (loaded->metadata, ==, a->metadata);
  g_assert_cmpstr (loaded->friendly_name, ==, "Shop kiosk 2");
  g_assert_cmpstr (vpush_factor_record_get_policy_name (loaded), ==, "Kiosk 1");

  loaded = find_record (records, SID_B);
  g_assert_nonnull (loaded);
  g_assert_cmpstr (loaded->friendly_name, ==, "Kiosk 2");
  /* never renamed (or written before the field): its name is the policy's */
  g_assert_null (loaded->enrolled_name);
  g_assert_cmpstr (vpush_factor_record_get_policy_name (loaded), ==, "Kiosk 2");
  g_assert_cmpstr (loaded->created_at, ==, "2024-05-01T12:00:00Z");
  g_assert_null (loaded->entity_sid);
  g_assert_null (loaded->push_url);
  g_assert_null (loaded->metadata);

  /* A second store object on the same directory sees the same records. */
  {
    g_autoptr (VpushFactorStore) again = new_store (fixture);
    g_autoptr (GPtrArray) reloaded = vpush_factor_store_load_all (again, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (reloaded->len, ==, 2);
  }
}

static void
test_store_overwrite (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autofree gchar *path = g_build_filename (fixture->factors, SID_A ".json", NULL);
  const VpushFactorRecord *loaded;
  const gchar *name;
  guint files = 0;

  g_assert_true (store_save (store, record, &error));
  g_assert_no_error (error);

  g_free (record->status);
  record->status = g_strdup ("verified");
  g_assert_true (store_save (store, record, &error));
  g_assert_no_error (error);
  assert_mode (path, 0600);

  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  loaded = g_ptr_array_index (records, 0);
  g_assert_cmpstr (loaded->status, ==, "verified");

  /* The write replaced the file by rename: no temp file is left beside it. */
  dir = g_dir_open (fixture->factors, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_assert_cmpstr (name, ==, SID_A ".json");
      files++;
    }
  g_assert_cmpuint (files, ==, 1);
}

static void
test_store_remove (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (VpushFactorRecord) b = make_record (SID_B, "B");
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (store_save (store, a, &error));
  g_assert_true (store_save (store, b, &error));
  g_assert_no_error (error);

  g_assert_true (store_remove (store, SID_A, &error));
  g_assert_no_error (error);
  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_nonnull (find_record (records, SID_B));

  /* Removing what is already gone is fine. */
  g_assert_true (store_remove (store, SID_A, &error));
  g_assert_no_error (error);

  g_assert_false (store_remove (store, "../clock", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_store_bad_sid (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *escaped = g_build_filename (fixture->tmp, "state", "escape.json", NULL);
  const gchar *bad[] = { "../../escape", "YF0123456789abcdef0123456789abcde/", "", "YF01" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_free (record->sid);
      record->sid = g_strdup (bad[i]);
      g_assert_false (store_save (store, record, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
  /* Where "../../escape" would have landed. */
  g_assert_false (g_file_test (escaped, G_FILE_TEST_EXISTS));
}

static void
test_store_corrupt_skipped (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) good = make_record (SID_A, "Good");
  g_autoptr (VpushFactorRecord) other = make_record (SID_A, "Misnamed");
  g_autoptr (JsonNode) other_node = vpush_factor_record_to_json (other);
  g_autofree gchar *other_text = json_to_string (other_node, FALSE);
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *corrupt_path = g_build_filename (fixture->factors, SID_B ".json", NULL);
  g_autofree gchar *corrupt_msg = g_strdup_printf ("*%s*", corrupt_path);
  g_autofree gchar *misnamed_path
      = g_build_filename (fixture->factors, "YF11111111111111111111111111111111.json", NULL);
  g_autofree gchar *misnamed_msg = g_strdup_printf ("*%s*", misnamed_path);

  g_assert_true (store_save (store, good, &error));
  g_assert_no_error (error);
  write_file (fixture->factors, SID_B ".json", "{\"sid\": \"" SID_B "\", trunc");
  /* A valid record under another factor's name. */
  write_file (fixture->factors, "YF11111111111111111111111111111111.json", other_text);

  /* The two warnings come in directory order, which is not fixed. */
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping factor record*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "skipping factor record*");
  records = vpush_factor_store_load_all (store, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpstr (((VpushFactorRecord *)g_ptr_array_index (records, 0))->friendly_name, ==,
                   "Good");

  /* Each warning names its file. */
  g_unlink (misnamed_path);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, corrupt_msg);
  g_clear_pointer (&records, g_ptr_array_unref);
  records = vpush_factor_store_load_all (store, &error);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (records->len, ==, 1);

  g_unlink (corrupt_path);
  write_file (fixture->factors, "YF11111111111111111111111111111111.json", other_text);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, misnamed_msg);
  g_clear_pointer (&records, g_ptr_array_unref);
  records = vpush_factor_store_load_all (store, &error);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (records->len, ==, 1);
  g_unlink (misnamed_path);

  /* JSON nested past reason is skipped like any damage, not parsed off the end of the
   * stack at the next start */
  {
    g_autofree gchar *deep = g_strnfill (300000, '[');

    write_file (fixture->factors, SID_B ".json", deep);
    g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "*nested deeper than 32 levels*");
    g_clear_pointer (&records, g_ptr_array_unref);
    records = vpush_factor_store_load_all (store, &error);
    g_test_assert_expected_messages ();
    g_assert_cmpuint (records->len, ==, 1);
  }
}

/* A push URL that Enroll and Update would have refused (a hand-edited record) is dropped
 * at load with one warning that names the factor and why, never the URL and its topic; the
 * factor stays, polled only. Good ones are kept. */
static void
test_store_bad_push_url (Fixture *fixture, gconstpointer data)
{
  static const struct
  {
    const gchar *url;
    const gchar *message; /* the whole warning; NULL: the URL is kept */
  } cases[] = {
    { "http://ntfy.example.com/secret-topic-1/json",
      "factor " SID_A ": ignoring its push URL: the URL: plain http:// is only "
      "allowed to a loopback host, not “ntfy.example.com”" },
    { "https://me:pw@ntfy.example.com/secret-topic-2/json",
      "factor " SID_A ": ignoring its push URL: the URL to “ntfy.example.com” "
      "must not carry a user name or password" },
    { "ftp://ntfy.example.com/secret-topic-3",
      "factor " SID_A ": ignoring its push URL: the URL: scheme “ftp” is not "
      "http or https" },
    { "secret-topic-4", "factor " SID_A ": ignoring its push URL: the URL is not "
                        "valid: *" },
    { "https://ntfy.example.com/vpush-1/json", NULL },
    { "http://127.0.0.1:8080/vpush-1/sse", NULL },
  };
  g_autoptr (VpushFactorStore) store = new_store (fixture);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
      g_autoptr (GPtrArray) records = NULL;
      g_autoptr (GError) error = NULL;
      const VpushFactorRecord *loaded;

      g_free (record->push_url);
      record->push_url = g_strdup (cases[i].url);
      g_assert_true (store_save (store, record, &error));
      g_assert_no_error (error);

      /* an exact message: no part of the URL but its host */
      if (cases[i].message != NULL)
        g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, cases[i].message);
      records = vpush_factor_store_load_all (store, &error);
      g_test_assert_expected_messages ();
      g_assert_no_error (error);
      g_assert_cmpuint (records->len, ==, 1);
      loaded = g_ptr_array_index (records, 0);
      g_assert_cmpstr (loaded->sid, ==, SID_A);
      g_assert_cmpstr (loaded->friendly_name, ==, "Kiosk");
      if (cases[i].message != NULL)
        g_assert_null (loaded->push_url);
      else
        g_assert_cmpstr (loaded->push_url, ==, cases[i].url);
    }
}

static void
test_store_bogus_names (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
  g_autoptr (JsonNode) node = vpush_factor_record_to_json (record);
  g_autofree gchar *text = json_to_string (node, FALSE);
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;

  /* Names a crash or a person might leave behind; none is read, none is warned about (any
   * warning would fail the test). */
  write_file (fixture->factors, SID_A ".json.8XK2QZ", "{ half a temp file");
  write_file (fixture->factors, SID_A ".json~", text);
  write_file (fixture->factors, "README", "hello");
  write_file (fixture->factors, "notasid.json", text);
  write_file (fixture->factors, "YF0123.json", text);
  write_file (fixture->factors, ".json", text);
  write_file (fixture->factors, "yf0123456789abcdef0123456789abcdef.json", text);

  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
}

static void
test_store_clock_offset (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autofree gchar *path = g_build_filename (fixture->dir, "clock.json", NULL);
  const gint64 offsets[] = { -1234, 0, 86400, VPUSH_TIME_OFFSET_MAX, -VPUSH_TIME_OFFSET_MAX };
  /* what a damaged file could hold: added to the clock, they would overflow */
  const gint64 out_of_range[]
      = { VPUSH_TIME_OFFSET_MAX + 1, -VPUSH_TIME_OFFSET_MAX - 1, G_MAXINT64, G_MININT64 };

  /* Nothing stored yet means no correction. */
  g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (offsets); i++)
    {
      vpush_factor_store_save_clock_offset (store, offsets[i]);
      vpush_factor_store_flush (store);
      g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, offsets[i]);
    }
  assert_mode (path, 0600);

  /* A second store sees the last value. */
  {
    g_autoptr (VpushFactorStore) again = new_store (fixture);

    g_assert_cmpint (vpush_factor_store_load_clock_offset (again), ==, -VPUSH_TIME_OFFSET_MAX);
  }

  for (guint i = 0; i < G_N_ELEMENTS (out_of_range); i++)
    {
      g_autofree gchar *text
          = g_strdup_printf ("{\"offset_seconds\": %" G_GINT64_FORMAT "}", out_of_range[i]);

      write_file (fixture->dir, "clock.json", text);
      g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                             "ignoring clock correction*is out of range");
      g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, 0);
      g_test_assert_expected_messages ();
    }

  write_file (fixture->dir, "clock.json", "{\"offset_seconds\": \"soon\"}");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "ignoring clock correction*");
  g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, 0);
  g_test_assert_expected_messages ();

  write_file (fixture->dir, "clock.json", "");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "ignoring clock correction*");
  g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, 0);
  g_test_assert_expected_messages ();

  write_file (fixture->dir, "clock.json", "[1, 2");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "ignoring clock correction*");
  g_assert_cmpint (vpush_factor_store_load_clock_offset (store), ==, 0);
  g_test_assert_expected_messages ();
}

static void
test_store_new_fails (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) tmp_error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-store-XXXXXX", &tmp_error);
  g_autofree gchar *file = g_build_filename (tmp, "plain-file", NULL);
  g_autofree gchar *dir = g_build_filename (file, "state", NULL);
  g_autoptr (VpushFactorStore) store = NULL;

  g_assert_no_error (tmp_error);
  write_file (tmp, "plain-file", "");
  store = vpush_factor_store_new (dir, &error);
  g_assert_null (store);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, dir));
  rm_rf (tmp);
}

static void
test_store_has_record (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) record = make_record (SID_A, "Kiosk");
  g_autoptr (GError) error = NULL;

  g_assert_false (vpush_factor_store_has_record (store, SID_A));
  g_assert_true (store_save (store, record, &error));
  g_assert_no_error (error);
  g_assert_true (vpush_factor_store_has_record (store, SID_A));
  /* unreadable is still there: its key is not an orphan */
  write_file (fixture->factors, SID_B ".json", "{ trunc");
  g_assert_true (vpush_factor_store_has_record (store, SID_B));
  g_assert_false (vpush_factor_store_has_record (store, "../factors/" SID_A));
  g_assert_false (vpush_factor_store_has_record (store, NULL));
}

static void
test_store_temp_files (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushEnrollment) enrollment = make_enrollment ();
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_build_filename (fixture->dir, "enrolling", NULL);
  g_autofree gchar *journal_temp = g_strconcat (enrollment->id, ".json.vpush-tmp-a1B2c3", NULL);
  /* a person's files, some named like a temp file of mkstemp's: not provably vpushd's */
  const gchar *kept[]
      = { SID_A ".json~",       SID_A ".json.tmp",    "README.a1B2c3",          SID_A ".json",
          SID_A ".json.backup", SID_A ".json.8XK2QZ", "x.json.vpush-tmp-a1B2c3" };

  g_assert_true (store_save_enrollment (store, enrollment, &error));
  g_assert_no_error (error);
  write_file (fixture->factors, SID_A ".json.vpush-tmp-8XK2QZ", "{ half a record");
  write_file (fixture->factors, SID_A ".json", "{}");
  write_file (fixture->factors, SID_A ".json.backup", "{}");
  write_file (fixture->factors, SID_A ".json.8XK2QZ", "{}");
  write_file (fixture->factors, "x.json.vpush-tmp-a1B2c3", "{}");
  write_file (fixture->factors, SID_A ".json~", "{}");
  write_file (fixture->factors, SID_A ".json.tmp", "{}");
  write_file (fixture->factors, "README.a1B2c3", "{}");
  write_file (dir, journal_temp, "{ half an entry");
  write_file (fixture->dir, "clock.json.vpush-tmp-zzzzzz", "{");

  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE, "removed*left by a write*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE, "removed*left by a write*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_MESSAGE, "removed*left by a write*");
  g_assert_cmpuint (vpush_factor_store_remove_temp_files (store), ==, 3);
  g_test_assert_expected_messages ();
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree gchar *path = g_build_filename (fixture->factors, kept[i], NULL);

      g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  {
    g_autoptr (GPtrArray) entries = load_enrollments (store, 0);

    g_assert_cmpuint (entries->len, ==, 1);
  }
  g_assert_cmpuint (vpush_factor_store_remove_temp_files (store), ==, 0);
}

/* Writes are done in the order asked for, one at a time, whatever is waited for: a step
 * that waits for its own write knows the earlier ones are done too */
static void
test_store_write_order (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 40; i++)
    {
      g_free (a->friendly_name);
      a->friendly_name = g_strdup_printf ("A%u", i);
      vpush_factor_store_save_async (store, a, NULL, NULL);
      if (i % 10 == 9)
        vpush_factor_store_remove_async (store, SID_A, NULL, NULL);
    }
  /* a factor whose last write was its removal is gone */
  g_assert_true (store_remove (store, SID_B, &error));
  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
  g_clear_pointer (&records, g_ptr_array_unref);

  vpush_factor_store_remove_async (store, SID_A, NULL, NULL);
  for (guint i = 0; i < 40; i++)
    {
      g_free (a->friendly_name);
      a->friendly_name = g_strdup_printf ("B%u", i);
      vpush_factor_store_save_async (store, a, NULL, NULL);
    }
  g_assert_true (store_remove (store, SID_B, &error));
  records = vpush_factor_store_load_all (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpstr (((VpushFactorRecord *)g_ptr_array_index (records, 0))->friendly_name, ==, "B39");
}

/* The write is done while the main loop is not run: it never waits for the disk */
static void
test_store_write_off_main_loop (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autofree gchar *name = g_strconcat (SID_A, ".json", NULL);
  g_autofree gchar *path = g_build_filename (fixture->factors, name, NULL);
  g_autoptr (GError) error = NULL;
  Wait wait = { 0 };
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  vpush_factor_store_save_async (store, a, write_done_cb, &wait);
  while (!g_file_test (path, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  /* the callback comes from the main loop, and only there */
  g_assert_false (wait.done);
  g_assert_true (wait_write (&wait, &error));
  g_assert_no_error (error);
}

/* A failed write reaches its callback; without one, it is logged */
static void
test_store_write_failure (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (VpushEnrollment) enrollment
      = vpush_enrollment_new (a->service_sid, a->identity, a->friendly_name, BASE_URL);
  g_autofree gchar *enrolling = g_build_filename (fixture->dir, "enrolling", NULL);
  g_autoptr (GError) error = NULL;

  /* a file where the journal's directory should be */
  write_file (fixture->dir, "enrolling", "");
  g_assert_false (store_save_enrollment (store, enrollment, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, enrolling));
  g_clear_error (&error);

  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "cannot create*enrolling*");
  vpush_factor_store_save_enrollment_async (store, enrollment, NULL, NULL);
  vpush_factor_store_flush (store);
  g_test_assert_expected_messages ();

  /* the later writes are done all the same */
  g_assert_true (store_save (store, a, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/factor-store/dir-perms", test_store_dir_perms);
  ADD ("/factor-store/dir-tightened", test_store_dir_tightened);
  ADD ("/factor-store/round-trip", test_store_round_trip);
  ADD ("/factor-store/overwrite", test_store_overwrite);
  ADD ("/factor-store/remove", test_store_remove);
  ADD ("/factor-store/write-order", test_store_write_order);
  ADD ("/factor-store/write-off-main-loop", test_store_write_off_main_loop);
  ADD ("/factor-store/write-failure", test_store_write_failure);
  ADD ("/factor-store/bad-sid", test_store_bad_sid);
  ADD ("/factor-store/corrupt-skipped", test_store_corrupt_skipped);
  ADD ("/factor-store/bad-push-url", test_store_bad_push_url);
  ADD ("/factor-store/bogus-names", test_store_bogus_names);
  ADD ("/factor-store/clock-offset", test_store_clock_offset);
  ADD ("/factor-store/has-record", test_store_has_record);
  ADD ("/factor-store/temp-files", test_store_temp_files);
  ADD ("/factor-store/last-unref-in-writer", test_store_last_unref_in_writer);
#undef ADD
  g_test_add_func ("/factor-store/new-fails", test_store_new_fails);
  return g_test_run ();
}
