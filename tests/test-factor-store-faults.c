/* The factor store when the system fails it: a directory that can't be synced, a thread
 * that can't be made (tests/test-syscall-faults.c) */
#include <errno.h>
#include <string.h>

#include "test-factor-store-common.h"
#include "test-syscall-faults.h"
#include "vpush-file-read.h"

/* On a read-only mount every unlink() fails, also of a file that is not there: a removal
 * of what is not there is done all the same (an enrollment's rollback went on to delete
 * its remote factor only then); of what is there, it fails */
static void
test_store_remove_read_only (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;

  g_assert_true (store_save (store, a, &error));
  g_assert_no_error (error);
  test_faults_fail_unlinks (EROFS);
  g_assert_true (store_remove (store, SID_B, &error));
  g_assert_no_error (error);
  g_assert_false (store_remove (store, SID_A, &error));
  test_faults_fail_unlinks (0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  g_assert_true (vpush_factor_store_has_record (store, SID_A));
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* The sweep's read of the journal and the records runs in the writer's thread, behind the
 * writes asked for before it: while one of them hangs on the disk, the main loop goes on,
 * and the read sees what that write wrote */
static void
test_store_find_unowned_off_the_main_loop (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;
  g_autofree gchar *unowned = NULL;
  const gchar *const names[] = { SID_A, SID_B, NULL };
  gboolean ticked = FALSE;
  Unowned u = { 0 };

  test_faults_hold_syncs (TRUE);
  vpush_factor_store_save_async (store, a, NULL, NULL);
  while (test_faults_syncs_held () == 0)
    g_usleep (1000);
  store_find_unowned_async (store, names, &u);
  g_timeout_add (10, set_flag, &ticked);
  while (!ticked)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (u.done);
  test_faults_hold_syncs (FALSE);
  unowned = store_find_unowned_wait (&u, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (unowned, ==, SID_B);
}

typedef struct
{
  gboolean done;
  gboolean has_record;
} RecordCheck;

static void
record_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RecordCheck *check = user_data;

  check->has_record = vpush_factor_store_has_record_finish (VPUSH_FACTOR_STORE (source), result);
  check->done = TRUE;
}

static gboolean
store_has_record_wait (VpushFactorStore *store, const gchar *sid)
{
  RecordCheck check = { 0 };

  vpush_factor_store_has_record_async (store, sid, record_checked_cb, &check);
  while (!check.done)
    g_main_context_iteration (NULL, TRUE);
  return check.has_record;
}

/* The check of a record for the main loop (the crash recovery's of an entry handed over
 * while running, a failed Delete's) runs in the writer's thread, behind the writes asked
 * for before it */
static void
test_store_has_record_off_the_main_loop (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  RecordCheck check = { 0 };
  gboolean ticked = FALSE;

  g_assert_false (store_has_record_wait (store, SID_A));
  g_assert_false (store_has_record_wait (store, "../factors/" SID_A));
  test_faults_hold_syncs (TRUE);
  vpush_factor_store_save_async (store, a, NULL, NULL);
  while (test_faults_syncs_held () == 0)
    g_usleep (1000);
  vpush_factor_store_has_record_async (store, SID_A, record_checked_cb, &check);
  g_timeout_add (10, set_flag, &ticked);
  while (!ticked)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (check.done);
  test_faults_hold_syncs (FALSE);
  while (!check.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (check.has_record);
}

/* A write or a removal whose directory can't be synced is not durable: it is reported as
 * failed, though the file was renamed or removed */
static void
test_store_dir_sync_failure (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;

  test_faults_fail_dir_syncs (EIO);
  g_assert_false (store_save (store, a, &error));
  test_faults_fail_dir_syncs (0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fixture->factors));
  g_clear_error (&error);
  g_assert_true (vpush_factor_store_has_record (store, SID_A));

  test_faults_fail_dir_syncs (EIO);
  g_assert_false (store_remove (store, SID_A, &error));
  test_faults_fail_dir_syncs (0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_false (vpush_factor_store_has_record (store, SID_A));

  /* the next ones are durable again */
  g_assert_true (store_save (store, a, &error));
  g_assert_no_error (error);
}

/* A directory made for a write whose sync into its parent failed is made (and synced)
 * again by the next one: taken as there, it could still be lost with what is written in it */
static void
test_store_new_dir_sync_failure (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushEnrollment) enrollment
      = vpush_enrollment_new ("VA00000000000000000000000000000001", "0a1b2c3d-user", "A", BASE_URL);
  g_autoptr (GError) error = NULL;
  guint synced;

  test_faults_fail_dir_syncs (EIO);
  g_assert_false (store_save_enrollment (store, enrollment, &error));
  test_faults_fail_dir_syncs (0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_clear_error (&error);

  synced = test_faults_dir_syncs (fixture->dir);
  g_assert_true (store_save_enrollment (store, enrollment, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (test_faults_dir_syncs (fixture->dir), ==, synced + 1);
}

/* A file system that can't sync a directory (EINVAL: some network and FUSE ones) has
 * nothing more to do for it: its writes are not failed, every one of them would be */
static void
test_store_dir_sync_unsupported (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;
  gboolean saved;
  gboolean removed;

  test_faults_fail_dir_syncs (EINVAL);
  saved = store_save (store, a, &error);
  g_assert_no_error (error);
  removed = store_remove (store, SID_A, &error);
  test_faults_fail_dir_syncs (0);
  g_assert_no_error (error);
  g_assert_true (saved);
  g_assert_true (removed);
}

/* A sync that a signal interrupted (EINTR: SIGHUP's policy reload, on a network or FUSE
 * file system) synced nothing and is made again: the write is not failed for it, nor taken
 * for durable without it */
static void
test_store_sync_interrupted (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (VpushEnrollment) enrollment
      = vpush_enrollment_new ("VA00000000000000000000000000000001", "0a1b2c3d-user", "A", BASE_URL);
  g_autoptr (GError) error = NULL;
  guint synced = test_faults_dir_syncs (fixture->dir);
  gboolean saved;
  gboolean journaled;
  gboolean removed;

  test_faults_interrupt_syncs (TRUE);
  saved = store_save (store, a, &error);
  g_assert_no_error (error);
  journaled = store_save_enrollment (store, enrollment, &error);
  g_assert_no_error (error);
  removed = store_remove (store, SID_A, &error);
  test_faults_interrupt_syncs (FALSE);
  g_assert_no_error (error);
  g_assert_true (saved);
  g_assert_true (journaled);
  g_assert_true (removed);
  /* the new journal directory made it into the state directory */
  g_assert_cmpuint (test_faults_dir_syncs (fixture->dir), ==, synced + 1);
  g_assert_false (vpush_factor_store_has_record (store, SID_A));
}

/* A close() that a signal interrupted (EINTR) after the file was synced: Linux released
 * the fd, so the write is done, and the fd is not closed again (its number may be another
 * thread's by then) */
static void
test_store_close_interrupted (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = new_store (fixture);
  g_autoptr (VpushFactorStore) again = NULL;
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;
  gboolean saved;
  guint bad_closes;

  test_faults_interrupt_closes (TRUE);
  saved = store_save (store, a, &error);
  bad_closes = test_faults_bad_closes ();
  test_faults_interrupt_closes (FALSE);
  g_assert_no_error (error);
  g_assert_true (saved);
  g_assert_cmpuint (bad_closes, ==, 0);

  /* what was written is there, and no temp file is left */
  again = new_store (fixture);
  g_assert_true (vpush_factor_store_has_record (again, SID_A));
  g_assert_cmpuint (vpush_factor_store_remove_temp_files (again), ==, 0);
}

/* Every directory a first run makes is synced into its parent, not only the last: the
 * state directory's parent too, which did not exist */
static void
test_store_new_dirs_synced (Fixture *fixture, gconstpointer data)
{
  g_autofree gchar *parent = g_path_get_dirname (fixture->dir);
  g_autoptr (VpushFactorStore) store = NULL;

  g_assert_false (g_file_test (parent, G_FILE_TEST_EXISTS));
  store = new_store (fixture);
  /* tmp/state made in tmp, tmp/state/vpush in tmp/state, factors in tmp/state/vpush */
  g_assert_cmpuint (test_faults_dir_syncs (fixture->tmp), ==, 1);
  g_assert_cmpuint (test_faults_dir_syncs (parent), ==, 1);
  g_assert_cmpuint (test_faults_dir_syncs (fixture->dir), ==, 1);
}

/* A store whose writer's thread can't be made is refused at once: its writes would wait in
 * the queue for a thread (and the exit's flush with them) */
static void
test_store_no_thread (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = NULL;
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;

  /* alone in a process: a thread other tests' pools left idle would be taken instead */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  test_faults_fail_threads (TRUE);
  store = vpush_factor_store_new (fixture->dir, &error);
  test_faults_fail_threads (FALSE);
  g_assert_null (store);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, fixture->dir));
  g_clear_error (&error);

  /* a thread made once is there for every write after */
  store = new_store (fixture);
  g_assert_true (store_save (store, a, &error));
  g_assert_no_error (error);
  test_faults_fail_threads (TRUE);
  vpush_factor_store_save_async (store, a, NULL, NULL);
  vpush_factor_store_flush (store);
  g_assert_true (store_save (store, a, &error));
  test_faults_fail_threads (FALSE);
  g_assert_no_error (error);
}

/* A state directory on a file system without POSIX locks is used as before the lock was
 * taken, with a warning; one locked by another process is refused (test_restart.py) */
static void
test_store_no_locks (Fixture *fixture, gconstpointer data)
{
  g_autoptr (VpushFactorStore) store = NULL;
  g_autoptr (VpushFactorRecord) a = make_record (SID_A, "A");
  g_autoptr (GError) error = NULL;
  const int errs[] = { ENOLCK, ENOSYS, EOPNOTSUPP };

  for (guint i = 0; i < G_N_ELEMENTS (errs); i++)
    {
      g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                             "cannot lock */lock (*): a second vpushd of this state directory "
                             "would not be kept out");
      test_faults_fail_locks (errs[i]);
      store = vpush_factor_store_new (fixture->dir, &error);
      test_faults_fail_locks (0);
      g_test_assert_expected_messages ();
      g_assert_no_error (error);
      g_assert_true (store_save (store, a, &error));
      g_assert_no_error (error);
      g_clear_object (&store);
    }
  /* any other error is one */
  test_faults_fail_locks (EIO);
  store = vpush_factor_store_new (fixture->dir, &error);
  test_faults_fail_locks (0);
  g_assert_null (store);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "cannot lock "));
}

/* A file cut short by another process while it is read: what was there is read, or less,
 * and vpushd goes on (a mapping's reader would be ended by SIGBUS) */
static void
test_keyfile_truncated_while_read (Fixture *fixture, gconstpointer data)
{
  g_autofree gchar *path = g_build_filename (fixture->tmp, "shrinking.conf", NULL);
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *read_data = NULL;
  gsize length = 0;

  /* several pages, so that the bytes past the first are read after the cut */
  while (text->len < 64 * 1024)
    g_string_append (text, "# a comment line to fill the file\n");
  g_assert_true (g_file_set_contents (path, text->str, text->len, NULL));

  test_faults_truncate_on_access (path);
  g_assert_true (vpush_file_read (path, FALSE, &read_data, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (length, <, text->len);
  g_assert_cmpuint (strlen (read_data), ==, length);
}

/* A NUL byte is refused: some readers stop at it and others go on, so one file could be
 * two */
static void
test_keyfile_nul_byte (Fixture *fixture, gconstpointer data)
{
  static const gchar text[] = "[Rule shop]\nActions=approve\n\0Callers=*\n";
  g_autofree gchar *path = g_build_filename (fixture->tmp, "nul.conf", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *read_data = NULL;
  gsize length = 0;

  g_assert_true (g_file_set_contents (path, text, sizeof text - 1, NULL));
  g_assert_false (vpush_file_read (path, FALSE, &read_data, &length, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_nonnull (strstr (error->message, "NUL byte"));
  g_assert_null (read_data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/factor-store/dir-sync-failure", test_store_dir_sync_failure);
  ADD ("/factor-store/dir-sync-unsupported", test_store_dir_sync_unsupported);
  ADD ("/factor-store/new-dir-sync-failure", test_store_new_dir_sync_failure);
  ADD ("/factor-store/no-thread", test_store_no_thread);
  ADD ("/factor-store/remove-read-only", test_store_remove_read_only);
  ADD ("/factor-store/find-unowned-off-the-main-loop", test_store_find_unowned_off_the_main_loop);
  ADD ("/factor-store/has-record-off-the-main-loop", test_store_has_record_off_the_main_loop);
  ADD ("/factor-store/no-locks", test_store_no_locks);
  ADD ("/factor-store/sync-interrupted", test_store_sync_interrupted);
  ADD ("/factor-store/close-interrupted", test_store_close_interrupted);
  ADD ("/factor-store/new-dirs-synced", test_store_new_dirs_synced);
  ADD ("/keyfile/truncated-while-read", test_keyfile_truncated_while_read);
  ADD ("/keyfile/nul-byte", test_keyfile_nul_byte);
#undef ADD
  return g_test_run ();
}
