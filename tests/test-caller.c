#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-files.h"
#include "vpush-caller.h"
#include "vpush-names.h"

#define PID 4242

/* A fake /proc with one process, PID, in it. */
typedef struct
{
  gchar *root;
  gchar *pid_dir;
} FakeProc;

static void
fake_proc_setup (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->root = g_dir_make_tmp ("vpush-proc-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->pid_dir = g_strdup_printf ("%s/%d", fixture->root, PID);
  g_assert_cmpint (g_mkdir (fixture->pid_dir, 0755), ==, 0);
}

static void
fake_proc_teardown (FakeProc *fixture, gconstpointer data)
{
  rm_rf (fixture->root);
  g_free (fixture->root);
  g_free (fixture->pid_dir);
}

static void
put_file (FakeProc *fixture, const gchar *name, const gchar *text)
{
  g_autofree gchar *path = g_build_filename (fixture->pid_dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
put_link (FakeProc *fixture, const gchar *name, const gchar *target)
{
  g_autofree gchar *path = g_build_filename (fixture->pid_dir, name, NULL);

  g_assert_cmpint (symlink (target, path), ==, 0);
}

/* The sandbox root, /proc/<pid>/root, holding .flatpak-info with the text when given */
static void
put_root (FakeProc *fixture, const gchar *flatpak_info)
{
  g_autofree gchar *root = g_build_filename (fixture->pid_dir, "root", NULL);

  g_assert_cmpint (g_mkdir (root, 0755), ==, 0);
  if (flatpak_info != NULL)
    put_file (fixture, "root/.flatpak-info", flatpak_info);
}

static VpushCaller *
read_caller (FakeProc *fixture, GError **error)
{
  g_autoptr (VpushCaller) caller = vpush_caller_new ();

  caller->sender = g_strdup (":1.7");
  caller->pid = PID;
  if (!vpush_caller_read_proc (caller, fixture->root, error))
    return NULL;
  return g_steal_pointer (&caller);
}

static VpushCaller *
read_caller_ok (FakeProc *fixture)
{
  g_autoptr (GError) error = NULL;
  VpushCaller *caller = read_caller (fixture, &error);

  g_assert_no_error (error);
  g_assert_nonnull (caller);
  return caller;
}

/* A program upgraded while it runs: the kernel shows its executable as "PATH (deleted)",
 * and it is still the program that was installed at PATH */
static void
test_caller_exe_replaced (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;

  put_link (fixture, "exe", "/usr/bin/shop-kiosk (deleted)");
  put_file (fixture, "cgroup", "0::/user.slice\n");
  put_root (fixture, NULL);
  caller = read_caller_ok (fixture);
  g_assert_cmpstr (caller->exe, ==, "/usr/bin/shop-kiosk");
}

/* Names that are not UTF-8 are unknown: no rule could name them, and the policy's glob
 * matching, messages and the bus need UTF-8 (a cgroup name of this kind aborted vpushd
 * in g_pattern_match_simple()) */
static void
test_caller_not_utf8 (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;

  put_link (fixture, "exe", "/tmp/bin\xff/gdbus");
  put_file (fixture, "cgroup",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-com.example.Shop-\xf2.scope\n");
  put_root (fixture, NULL);
  caller = read_caller_ok (fixture);
  g_assert_null (caller->exe);
  g_assert_null (caller->unit);
  g_assert_null (caller->session);
}

static void
test_caller_host_app (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;
  g_autofree gchar *text = NULL;

  put_link (fixture, "exe", "/usr/bin/shop-kiosk");
  put_file (fixture, "cgroup",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-gnome-com.example.Shop-4242.scope\n");
  put_root (fixture, NULL);

  caller = read_caller_ok (fixture);
  g_assert_cmpstr (caller->exe, ==, "/usr/bin/shop-kiosk");
  g_assert_cmpstr (caller->unit, ==, "app-gnome-com.example.Shop-4242.scope");
  g_assert_null (caller->app_id);
  g_assert_null (caller->session);
  /* started by user 1000's manager: that user's graphical session is its own */
  g_assert_cmpint (caller->user_manager_uid, ==, 1000);

  text = vpush_caller_describe (caller);
  g_assert_cmpstr (text, ==, "/usr/bin/shop-kiosk (pid 4242, :1.7)");
}

static void
test_caller_session_scope (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;

  put_link (fixture, "exe", "/usr/bin/bash");
  put_file (fixture, "cgroup", "0::/user.slice/user-1000.slice/session-3.scope\n");
  put_root (fixture, NULL);

  caller = read_caller_ok (fixture);
  g_assert_cmpstr (caller->unit, ==, "session-3.scope");
  g_assert_cmpstr (caller->session, ==, "3");
  g_assert_cmpint (caller->user_manager_uid, ==, -1);
}

/* cgroup v1 with systemd's named hierarchy, as on hybrid systems */
static void
test_caller_hybrid_cgroup (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;

  put_file (fixture, "cgroup",
            "9:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "vpush-test.service\n"
            "4:memory:/user.slice\n"
            "0::/\n");
  put_root (fixture, NULL);

  caller = read_caller_ok (fixture);
  g_assert_cmpstr (caller->unit, ==, "vpush-test.service");
  g_assert_cmpint (caller->user_manager_uid, ==, 1000);
  /* no exe link: nothing for exe: rules to match, but not an error */
  g_assert_null (caller->exe);
}

/* Outside any systemd unit (this test machine has no systemd) */
static void
test_caller_no_unit (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;

  put_link (fixture, "exe", "/usr/bin/python3.11");
  put_file (fixture, "cgroup", "9:name=systemd:/\n4:memory:/some/where\n0::/\n");
  put_root (fixture, NULL);

  caller = read_caller_ok (fixture);
  g_assert_null (caller->unit);
  g_assert_null (caller->session);
  g_assert_cmpint (caller->user_manager_uid, ==, -1);
  g_assert_cmpstr (caller->exe, ==, "/usr/bin/python3.11");
}

static void
test_caller_flatpak (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = NULL;
  g_autofree gchar *text = NULL;

  put_link (fixture, "exe", "/app/bin/shop");
  put_file (fixture, "cgroup",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
            "app-flatpak-com.example.Shop-77.scope\n");
  put_root (fixture, "[Application]\n"
                     "name=com.example.Shop\n"
                     "runtime=runtime/org.gnome.Platform/x86_64/45\n"
                     "\n"
                     "[Instance]\n"
                     "instance-id=1234567\n");

  caller = read_caller_ok (fixture);
  g_assert_cmpstr (caller->app_id, ==, "com.example.Shop");
  g_assert_cmpstr (caller->exe, ==, "/app/bin/shop");
  g_assert_cmpstr (caller->unit, ==, "app-flatpak-com.example.Shop-77.scope");

  text = vpush_caller_describe (caller);
  g_assert_cmpstr (text, ==, "/app/bin/shop (Flatpak com.example.Shop, pid 4242, :1.7)");
}

static void
assert_unidentified (FakeProc *fixture, const gchar *in_message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushCaller) caller = read_caller (fixture, &error);

  g_assert_null (caller);
  g_assert_nonnull (error);
  if (strstr (error->message, in_message) == NULL)
    g_error ("“%s” is not in “%s”", in_message, error->message);
}

/* A sandbox that can't be read is not taken for the host: fail closed */
static void
test_caller_flatpak_broken (FakeProc *fixture, gconstpointer data)
{
  g_autofree gchar *info = g_build_filename (fixture->pid_dir, "root", ".flatpak-info", NULL);
  g_autofree gchar *elsewhere = g_build_filename (fixture->root, "info", NULL);
  g_autoptr (GError) error = NULL;

  put_root (fixture, "[Application]\nruntime=runtime/org.gnome.Platform/x86_64/45\n");
  assert_unidentified (fixture, "a sandbox without a valid [Application] name");

  g_file_set_contents (info, "[Application]\nname=not an id\n", -1, &error);
  g_assert_no_error (error);
  assert_unidentified (fixture, "a sandbox without a valid [Application] name");

  g_file_set_contents (info, "not a key file", -1, &error);
  g_assert_no_error (error);
  assert_unidentified (fixture, "root/.flatpak-info: ");

  /* a link would be followed in our namespace, not the sandbox's */
  g_unlink (info);
  g_file_set_contents (elsewhere, "[Application]\nname=com.example.Shop\n", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (symlink (elsewhere, info), ==, 0);
  assert_unidentified (fixture, "root/.flatpak-info");

  /* a FIFO is not waited on for a writer */
  g_unlink (info);
  g_assert_cmpint (mkfifo (info, 0600), ==, 0);
  assert_unidentified (fixture, "not a regular file");

  g_unlink (info);
  g_assert_cmpint (g_mkdir (info, 0755), ==, 0);
  assert_unidentified (fixture, "not a regular file");
}

static void
test_caller_gone (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushCaller) caller = vpush_caller_new ();

  caller->pid = PID + 1;
  g_assert_false (vpush_caller_read_proc (caller, fixture->root, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* no root link (a zombie): can't tell whether it is sandboxed */
  caller->pid = PID;
  g_assert_false (vpush_caller_read_proc (caller, fixture->root, &error));
  g_assert_nonnull (strstr (error->message, "root"));
}

static void
test_caller_pidfd (void)
{
  g_autoptr (VpushCaller) caller = vpush_caller_new ();
  pid_t child;

  g_assert_false (vpush_caller_is_alive (caller));

  child = fork ();
  g_assert_cmpint (child, >=, 0);
  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  caller->pid = child;
  caller->pidfd = pidfd_open (child, 0);
  if (caller->pidfd < 0)
    {
      int saved_errno = errno;

      kill (child, SIGKILL);
      waitpid (child, NULL, 0);
      /* valgrind 3.19 does not know the syscall */
      if (saved_errno == ENOSYS)
        {
          g_test_skip ("no pidfd_open()");
          return;
        }
      g_error ("pidfd_open: %s", g_strerror (saved_errno));
    }
  g_assert_true (vpush_caller_is_alive (caller));

  /* once it exited, its pid may name another process: the pidfd knows */
  kill (child, SIGKILL);
  g_assert_cmpint (waitpid (child, NULL, 0), ==, child);
  g_assert_false (vpush_caller_is_alive (caller));
}

static void
lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

/* Looks up the caller named name, running the main loop until the answer */
static VpushCaller *
lookup (GDBusConnection *connection, const gchar *name, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_caller_lookup_async (connection, name, lookup_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return vpush_caller_lookup_finish (result, error);
}

/* A connection to the private bus, brought up; NULL, the test skipped, where no caller
 * can be pinned for want of pidfds, so none is let in (valgrind 3.19) */
static GDBusConnection *
private_bus_connection (GTestDBus *bus)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *connection;
  int probe = pidfd_open (getpid (), 0);

  if (probe < 0 && errno == ENOSYS)
    {
      g_test_skip ("no pidfd_open()");
      return NULL;
    }
  close (probe);
  g_test_dbus_up (bus);
  connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

/* The real thing: ourselves as a caller on a private bus */
static void
test_caller_lookup (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GDBusConnection) connection = private_bus_connection (bus);
  g_autoptr (VpushCaller) caller = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *exe = g_file_read_link ("/proc/self/exe", NULL);

  if (connection == NULL)
    return;
  caller = lookup (connection, g_dbus_connection_get_unique_name (connection), &error);
  g_assert_no_error (error);

  g_assert_cmpuint (caller->uid, ==, getuid ());
  g_assert_cmpuint (caller->pid, ==, getpid ());
  g_assert_cmpint (caller->pidfd, >=, 0);
  g_assert_true (vpush_caller_is_alive (caller));
  g_assert_cmpstr (caller->exe, ==, exe);
  g_assert_null (caller->app_id);
  g_assert_cmpstr (caller->sender, ==, g_dbus_connection_get_unique_name (connection));
  g_clear_pointer (&caller, vpush_caller_free);

  /* again: the bus's answer is remembered, /proc is read anew, the pidfd is a new one */
  caller = lookup (connection, g_dbus_connection_get_unique_name (connection), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (caller->uid, ==, getuid ());
  g_assert_cmpuint (caller->pid, ==, getpid ());
  g_assert_true (vpush_caller_is_alive (caller));
  g_assert_cmpstr (caller->exe, ==, exe);
  g_clear_pointer (&caller, vpush_caller_free);

  /* a name nobody has can't be identified */
  caller = lookup (connection, ":1.9999", &error);
  g_assert_null (caller);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);

  g_dbus_connection_close_sync (connection, NULL, NULL);
  g_clear_object (&connection);
  g_test_dbus_down (bus);
}

/* Counts the GetConnectionCredentials calls this connection sends */
static GDBusMessage *
count_questions (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                 gpointer user_data)
{
  guint *n = user_data;

  if (!incoming
      && g_strcmp0 (g_dbus_message_get_member (message),
                    VPUSH_DBUS_DAEMON_GET_CONNECTION_CREDENTIALS)
             == 0)
    g_atomic_int_inc (n);
  return message;
}

/* Lookups of one sender made before the bus answers share one question: a burst of
 * hundreds of calls from a new caller, each asking on its own, kept vpushd's main loop
 * busy long enough for the last answers to time out. Each lookup still gets a pidfd of
 * its own, and a refusal reaches every one of them. */
static void
test_caller_lookups_share_the_question (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GDBusConnection) connection = private_bus_connection (bus);
  g_autoptr (VpushCaller) caller = NULL;
  g_autoptr (GError) error = NULL;
  GAsyncResult *results[4] = { NULL };
  const gchar *names[] = { NULL, ":1.9999" };
  guint questions = 0;

  if (connection == NULL)
    return;
  g_dbus_connection_add_filter (connection, count_questions, &questions, NULL);
  names[0] = g_dbus_connection_get_unique_name (connection);

  for (guint n = 0; n < G_N_ELEMENTS (names); n++)
    {
      VpushCaller *callers[G_N_ELEMENTS (results)];

      g_atomic_int_set (&questions, 0);
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        vpush_caller_lookup_async (connection, names[n], lookup_cb, &results[i]);
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        while (results[i] == NULL)
          g_main_context_iteration (NULL, TRUE);
      g_assert_cmpuint (g_atomic_int_get (&questions), ==, 1);

      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        {
          callers[i] = vpush_caller_lookup_finish (results[i], &error);
          g_clear_object (&results[i]);
          if (n == 1)
            {
              g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
              g_assert_null (callers[i]);
              g_clear_error (&error);
              continue;
            }
          g_assert_no_error (error);
          g_assert_cmpuint (callers[i]->pid, ==, getpid ());
          g_assert_true (vpush_caller_is_alive (callers[i]));
          /* each holds a pidfd of its own, which freeing another does not close */
          for (guint j = 0; j < i; j++)
            g_assert_cmpint (callers[j]->pidfd, !=, callers[i]->pidfd);
        }
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        {
          if (callers[i] != NULL)
            g_assert_true (vpush_caller_is_alive (callers[i]));
          g_clear_pointer (&callers[i], vpush_caller_free);
        }
    }

  /* the answer is remembered: no question at all now */
  g_atomic_int_set (&questions, 0);
  caller = lookup (connection, names[0], &error);
  g_assert_no_error (error);
  g_assert_nonnull (caller);
  g_assert_cmpuint (g_atomic_int_get (&questions), ==, 0);

  g_dbus_connection_close_sync (connection, NULL, NULL);
  g_clear_object (&connection);
  g_test_dbus_down (bus);
}

/* The read made on the main loop for a caller that seemed to share vpushd's root: a root
 * that is another (the caller entered namespaces of its own since) is not opened into,
 * and the read is left to the worker thread (WOULD_BLOCK); the expected one is read. */
static void
test_caller_root_checked (FakeProc *fixture, gconstpointer data)
{
  g_autoptr (VpushCaller) caller = vpush_caller_new ();
  g_autofree gchar *root = g_build_filename (fixture->pid_dir, "root", NULL);
  g_autoptr (GError) error = NULL;
  struct stat ours;
  struct stat fake;

  put_link (fixture, "exe", "/app/bin/shop");
  put_file (fixture, "cgroup", "0::/user.slice\n");
  put_root (fixture, "[Application]\nname=com.example.Shop\n");
  g_assert_cmpint (stat ("/", &ours), ==, 0);
  g_assert_cmpint (stat (root, &fake), ==, 0);
  caller->pid = PID;

  g_assert_false (vpush_caller_read_proc_in_root (caller, fixture->root, &ours, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  g_assert_null (caller->app_id);
  g_clear_error (&error);

  g_assert_true (vpush_caller_read_proc_in_root (caller, fixture->root, &fake, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (caller->app_id, ==, "com.example.Shop");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define FAKE_PROC_TEST(path, func)                                                                 \
  g_test_add (path, FakeProc, NULL, fake_proc_setup, func, fake_proc_teardown)

  FAKE_PROC_TEST ("/caller/host-app", test_caller_host_app);
  FAKE_PROC_TEST ("/caller/exe-replaced", test_caller_exe_replaced);
  FAKE_PROC_TEST ("/caller/not-utf8", test_caller_not_utf8);
  FAKE_PROC_TEST ("/caller/session-scope", test_caller_session_scope);
  FAKE_PROC_TEST ("/caller/hybrid-cgroup", test_caller_hybrid_cgroup);
  FAKE_PROC_TEST ("/caller/no-unit", test_caller_no_unit);
  FAKE_PROC_TEST ("/caller/flatpak", test_caller_flatpak);
  FAKE_PROC_TEST ("/caller/flatpak-broken", test_caller_flatpak_broken);
  FAKE_PROC_TEST ("/caller/root-checked", test_caller_root_checked);
  FAKE_PROC_TEST ("/caller/gone", test_caller_gone);
  g_test_add_func ("/caller/pidfd", test_caller_pidfd);
  g_test_add_func ("/caller/lookup", test_caller_lookup);
  g_test_add_func ("/caller/lookups-share-the-question", test_caller_lookups_share_the_question);
  return g_test_run ();
}
