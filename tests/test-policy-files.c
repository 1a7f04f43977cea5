/* Unit tests of the policy as vpushd reads it from its directories (daemon/vpush-policy.c,
 * and their watch in daemon/vpush-bouncer-watch.c): which files are read and whose they
 * must be, symlinked files, a change applied at once (also in a directory made later, and
 * while other files are still being written), a relative --policy-dir, and the built-in
 * default and the file shipped as it. The rules themselves: test-policy.c. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-files.h"
#include "test-policy-common.h"
#include "vpush-bouncer.h"
#include "vpush-root-path.h"

static gchar *
make_dir (const gchar *parent, const gchar *name)
{
  gchar *dir = g_build_filename (parent, name, NULL);

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  return dir;
}

static void
write_file (const gchar *dir, const gchar *name, const gchar *text, int mode)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

/* Loading dirs as the system's policy directories fails, naming what is not root's. */
static void
assert_not_root_only (const gchar *const *dirs, const gchar *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushPolicy) policy = vpush_policy_load_dirs (dirs, TRUE, &error);

  g_assert_null (policy);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, message));
  g_assert_nonnull (strstr (error->message, "owned by root and writable by nobody else"));
}

static void
test_policy_dirs (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *etc = make_dir (tmp, "etc");
  g_autofree gchar *share = make_dir (tmp, "share");
  g_autofree gchar *missing = g_build_filename (tmp, "missing", NULL);
  g_autofree gchar *masked = g_build_filename (share, "10-shop.conf", NULL);
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);
  const gchar *dirs[] = { etc, missing, share, NULL };
  const gchar *const *sources;

  g_assert_no_error (error);
  write_file (share, "10-shop.conf",
              "[Rule shop]\nActions=approve\nCallers=*\nRequireActiveSession=false\n", 0644);
  write_file (share, "20-list.conf",
              "[Rule list]\nActions=list\nCallers=*\nRequireActiveSession=false\n", 0644);
  write_file (share, "notes.txt", "not a policy", 0644);
  write_file (share, ".hidden.conf", "broken", 0644);
  /* same name in the first directory: it masks the shipped one */
  write_file (etc, "10-shop.conf", "# approvals off\n", 0644);
  write_file (etc, "05-mine.conf",
              "[Rule mine]\nActions=deny\nCallers=*\nRequireActiveSession=false\n", 0644);

  policy = vpush_policy_load_dirs (dirs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 2);
  sources = vpush_policy_get_sources (policy);
  g_assert_true (g_str_has_suffix (sources[0], "/etc/05-mine.conf"));
  g_assert_true (g_str_has_suffix (sources[1], "/etc/10-shop.conf"));
  g_assert_true (g_str_has_suffix (sources[2], "/share/20-list.conf"));
  g_assert_null (sources[3]);
  g_assert_null (check (policy, &query, NULL));
  query.action = VPUSH_ACTION_DENY;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "mine");
  g_clear_object (&policy);

  /* a broken file fails the whole load, naming the file */
  write_file (share, "30-broken.conf", "[Rule b]\nActions=approve\n", 0644);
  policy = vpush_policy_load_dirs (dirs, FALSE, &error);
  g_assert_null (policy);
  g_assert_nonnull (strstr (error->message, "/share/30-broken.conf: rule “b”, key Callers"));
  g_clear_error (&error);
  g_unlink (masked);

  /* root only: a file others may write is refused */
  if (getuid () == 0)
    {
      g_autofree gchar *path = g_build_filename (share, "30-broken.conf", NULL);
      g_autofree gchar *open = g_build_filename (share, "40-open.conf", NULL);

      g_unlink (path);
      /* as shipped: root's, 0644 files in 0755 directories */
      policy = vpush_policy_load_dirs (dirs, TRUE, &error);
      g_assert_no_error (error);
      g_clear_object (&policy);

      write_file (share, "40-open.conf", "", 0666);
      assert_not_root_only (dirs, "40-open.conf: must be a regular file of at most 1048576 "
                                  "bytes, owned by root and writable by nobody else, and it is "
                                  "writable by everyone (mode 0666)");
      /* group-writable, or another user's */
      g_assert_cmpint (g_chmod (open, 0664), ==, 0);
      assert_not_root_only (dirs, "and it is writable by its group (mode 0664)");
      g_assert_cmpint (g_chmod (open, 0644), ==, 0);
      g_assert_cmpint (chown (open, 1000, 1000), ==, 0);
      assert_not_root_only (dirs, "40-open.conf: must be a regular file");
      assert_not_root_only (dirs, "and it is owned by uid 1000");
      g_unlink (open);

      /* a directory others may add files to */
      g_assert_cmpint (g_chmod (etc, 0775), ==, 0);
      assert_not_root_only (dirs, "/etc: a policy directory must be owned by root");
      g_assert_cmpint (g_chmod (etc, 0755), ==, 0);
      g_assert_cmpint (chown (share, 1000, 1000), ==, 0);
      assert_not_root_only (dirs, "/share: a policy directory must be owned by root");
    }
  else
    {
      /* this user's directories: the check of the path to them refuses the first */
      assert_not_root_only (dirs, "/etc: must be reached only through directories owned by "
                                  "root");
    }

  rm_rf (tmp);
}

/* A policy file that is a symlink is read through it, and what it names is checked as a
 * policy file is: a link to a file another user may write is refused (vpush-policy(5)). */
static void
test_policy_symlinked_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *etc = make_dir (tmp, "etc");
  g_autofree gchar *elsewhere = make_dir (tmp, "elsewhere");
  g_autofree gchar *link = g_build_filename (etc, "10-shop.conf", NULL);
  g_autofree gchar *target = g_build_filename (elsewhere, "shop.conf", NULL);
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);
  const gchar *dirs[] = { etc, NULL };

  g_assert_no_error (error);
  write_file (elsewhere, "shop.conf",
              "[Rule shop]\nActions=approve\nCallers=*\nRequireActiveSession=false\n", 0644);
  g_assert_cmpint (symlink (target, link), ==, 0);
  policy = vpush_policy_load_dirs (dirs, getuid () == 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "shop");
  g_clear_object (&policy);

  if (getuid () == 0)
    {
      g_autofree gchar *home = make_dir (tmp, "home");
      g_autofree gchar *home_link = g_build_filename (home, "shop.conf", NULL);
      g_autofree gchar *hop = g_build_filename (home, "hop", NULL);
      g_autofree gchar *via_hop = g_build_filename (hop, "shop.conf", NULL);
      g_autofree gchar *home_dir = g_build_filename (home, "policy", NULL);
      const gchar *home_dirs[] = { home_dir, NULL };

      /* a root-owned file, named by a link in a directory a user may write: the user
       * could point it at any root-owned file, a wider policy's backup say */
      g_assert_cmpint (g_unlink (link), ==, 0);
      g_assert_cmpint (symlink (home_link, link), ==, 0);
      g_assert_cmpint (symlink (target, home_link), ==, 0);
      g_assert_cmpint (chown (home, 1000, 1000), ==, 0);
      assert_not_root_only (dirs, "10-shop.conf: must be reached only through directories");
      assert_not_root_only (dirs, "home is not (uid 1000, mode 0755)");
      /* the same through a directory symlink in that directory */
      g_assert_cmpint (g_unlink (link), ==, 0);
      g_assert_cmpint (symlink (via_hop, link), ==, 0);
      g_assert_cmpint (symlink (elsewhere, hop), ==, 0);
      assert_not_root_only (dirs, "home is not (uid 1000, mode 0755)");
      /* and a policy directory reached through it, though it is root's itself */
      g_assert_cmpint (chown (home, 0, 0), ==, 0);
      g_free (make_dir (home, "policy"));
      g_assert_cmpint (chown (home, 1000, 1000), ==, 0);
      assert_not_root_only (home_dirs, "/policy: must be reached only through directories");
      /* a missing one too: the user could make it */
      g_assert_cmpint (g_rmdir (home_dir), ==, 0);
      assert_not_root_only (home_dirs, "home is not (uid 1000, mode 0755)");
      /* all root's again: read through both links */
      g_assert_cmpint (chown (home, 0, 0), ==, 0);
      policy = vpush_policy_load_dirs (dirs, TRUE, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (check (policy, &query, NULL), ==, "shop");
      g_clear_object (&policy);

      g_assert_cmpint (chown (target, 1000, 1000), ==, 0);
      assert_not_root_only (dirs, "10-shop.conf: must be a regular file");
    }
  rm_rf (tmp);
}

/* vpush_root_path_check follows a path as open() would: "..", relative paths and
 * symlinks relative to their own directory; a loop or a file used as a directory fails. */
static void
test_root_path (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *a = make_dir (tmp, "a");
  g_autofree gchar *b = make_dir (a, "b");
  g_autofree gchar *file = g_build_filename (b, "f.conf", NULL);
  g_autofree gchar *dotted = g_build_filename (b, "..", "b", ".", "f.conf", NULL);
  g_autofree gchar *rel = g_build_filename (a, "rel", NULL);
  g_autofree gchar *loop = g_build_filename (a, "loop", NULL);
  g_autofree gchar *through_file = g_build_filename (file, "x", NULL);
  g_autofree gchar *cwd = g_get_current_dir ();
  struct stat st, want;

  g_assert_no_error (error);
  write_file (b, "f.conf", "", 0644);
  g_assert_cmpint (stat (file, &want), ==, 0);
  if (getuid () != 0)
    {
      /* this user's directories are not root's alone */
      g_assert_false (vpush_root_path_check (file, &st, &error));
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
      rm_rf (tmp);
      return;
    }
  g_assert_true (vpush_root_path_check (dotted, &st, &error));
  g_assert_no_error (error);
  g_assert_true (st.st_ino == want.st_ino && st.st_dev == want.st_dev);
  g_assert_cmpint (symlink ("b/../b/f.conf", rel), ==, 0);
  g_assert_true (vpush_root_path_check (rel, &st, &error));
  g_assert_true (st.st_ino == want.st_ino);
  g_assert_cmpint (chdir (b), ==, 0);
  g_assert_true (vpush_root_path_check ("../rel", &st, &error));
  g_assert_no_error (error);
  g_assert_true (st.st_ino == want.st_ino);
  g_assert_cmpint (chdir (cwd), ==, 0);

  g_assert_cmpint (symlink ("loop", loop), ==, 0);
  g_assert_false (vpush_root_path_check (loop, &st, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_LOOP);
  g_clear_error (&error);
  g_assert_false (vpush_root_path_check (through_file, &st, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR);
  g_clear_error (&error);
  rm_rf (tmp);
}

/* Whether one of this process's inotify instances watches the inode of path. */
static gboolean
inotify_watches (const gchar *path)
{
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  const gchar *fd;
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_nonnull (fds);
  while ((fd = g_dir_read_name (fds)) != NULL)
    {
      g_autofree gchar *link = g_build_filename ("/proc/self/fd", fd, NULL);
      g_autofree gchar *target = g_file_read_link (link, NULL);
      g_autofree gchar *info_path = g_build_filename ("/proc/self/fdinfo", fd, NULL);
      g_autofree gchar *info = NULL;
      g_auto (GStrv) lines = NULL;

      if (g_strcmp0 (target, "anon_inode:inotify") != 0
          || !g_file_get_contents (info_path, &info, NULL, NULL))
        continue;
      lines = g_strsplit (info, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        {
          unsigned long ino;

          /* "inotify wd:1 ino:2a0e sdev:800001 mask:…", in hex */
          if (sscanf (lines[i], "inotify wd:%*x ino:%lx", &ino) == 1 && ino == st.st_ino)
            return TRUE;
        }
    }
  return FALSE;
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until the bouncer's policy comes from a file whose path ends in
 * suffix, or from the built-in one for NULL. */
/* A watch is set up by the read that finds the directory's change, which may come after
 * the read that found its policy files gone (the two happen in a thread, as the test
 * makes its changes) */
static void
wait_for_watch (const gchar *path)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  guint wake_id = g_timeout_add (50, wake_cb, NULL);

  while (!inotify_watches (path))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (wake_id);
}

static void
wait_for_policy_from (VpushBouncer *bouncer, const gchar *suffix)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  guint wake_id = g_timeout_add (50, wake_cb, NULL);

  for (;;)
    {
      const gchar *const *sources = vpush_policy_get_sources (vpush_bouncer_get_policy (bouncer));

      if (suffix == NULL ? g_str_has_prefix (sources[0], "built-in")
                         : g_str_has_suffix (sources[0], suffix))
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (wake_id);
}

/* README: a change to the policy applies at once, also when it makes the policy
 * directory (or its parent: /etc/vpush) that did not exist when vpushd started. */
static void
test_policy_dir_made_later (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *vpush = g_build_filename (tmp, "vpush", NULL);
  g_autofree gchar *dir = g_build_filename (vpush, "policy.d", NULL);
  g_autofree gchar *file = g_build_filename (dir, "50-shop.conf", NULL);
  const gchar *dirs[] = { dir, NULL };
  g_autoptr (VpushBouncer) bouncer = NULL;

  g_assert_no_error (error);
  bouncer = vpush_bouncer_new_for_dirs (dirs, FALSE, &error);
  g_assert_no_error (error);
  wait_for_policy_from (bouncer, NULL);
  /* GLib's monitor of a missing directory looks for it only every few seconds: the
   * nearest directory there is is watched for it instead */
  g_assert_true (inotify_watches (tmp));

  g_assert_cmpint (g_mkdir (vpush, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  write_file (dir, "50-shop.conf", "[Rule shop]\nActions=list\nCallers=*\n", 0644);
  wait_for_policy_from (bouncer, "/vpush/policy.d/50-shop.conf");

  /* gone, and made again */
  g_assert_cmpint (g_unlink (file), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  wait_for_policy_from (bouncer, NULL);
  wait_for_watch (vpush);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  write_file (dir, "60-shop.conf", "[Rule shop]\nActions=list\nCallers=*\n", 0644);
  wait_for_policy_from (bouncer, "/vpush/policy.d/60-shop.conf");

  g_clear_object (&bouncer);
  rm_rf (tmp);
}

/* A policy file is read once its writer closed it: half of it could be a rule that
 * grants more than the whole (no Factors= line yet: every factor). */
static void
test_policy_read_when_closed (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *path = g_build_filename (dir, "50-shop.conf", NULL);
  const gchar *dirs[] = { dir, NULL };
  g_autoptr (VpushBouncer) bouncer = NULL;
  const gchar *head = "[Rule shop]\nActions=approve\nCallers=*\n";
  gint64 until;
  guint wake_id;
  FILE *f;

  g_assert_no_error (error);
  bouncer = vpush_bouncer_new_for_dirs (dirs, FALSE, &error);
  g_assert_no_error (error);
  wait_for_policy_from (bouncer, NULL);

  f = fopen (path, "w");
  g_assert_nonnull (f);
  g_assert_cmpint (fputs (head, f), >=, 0);
  g_assert_cmpint (fflush (f), ==, 0);
  /* past the reload delay, short of the longest wait for a file left open */
  until = g_get_monotonic_time () + G_USEC_PER_SEC;
  wake_id = g_timeout_add (50, wake_cb, NULL);
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake_id);
  g_assert_true (g_str_has_prefix (vpush_policy_get_sources (vpush_bouncer_get_policy (bouncer))[0],
                                   "built-in"));

  g_assert_cmpint (fputs ("Factors=YF00000000000000000000000000000001\n", f), >=, 0);
  g_assert_cmpint (fclose (f), ==, 0);
  wait_for_policy_from (bouncer, "/50-shop.conf");
  g_assert_cmpuint (vpush_policy_get_n_rules (vpush_bouncer_get_policy (bouncer)), ==, 1);

  g_clear_object (&bouncer);
  rm_rf (dir);
}

typedef struct
{
  const gchar *dir;
  GArray *fds;
} Busy;

/* one more file made and left open, as by a writer that is not done */
static gboolean
busy_cb (gpointer user_data)
{
  Busy *busy = user_data;
  g_autofree gchar *name = g_strdup_printf ("60-log-%u.conf", busy->fds->len);
  g_autofree gchar *path = g_build_filename (busy->dir, name, NULL);
  gint fd = g_open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

  g_assert_cmpint (fd, >=, 0);
  g_array_append_val (busy->fds, fd);
  return G_SOURCE_CONTINUE;
}

/* A change applies while other files there are still being written: those are waited
 * for at most 2 s, not until the directory is quiet, which it may never be; each is named
 * in a warning, as it may be half a rule. */
static void
test_policy_read_while_busy (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *path = g_build_filename (dir, "50-shop.conf", NULL);
  const gchar *dirs[] = { dir, NULL };
  g_autoptr (VpushBouncer) bouncer = NULL;
  g_autoptr (GArray) fds = g_array_new (FALSE, FALSE, sizeof (gint));
  Busy busy = { dir, fds };
  const gchar *rule = "[Rule shop]\nActions=approve\nCallers=*\n"
                      "Factors=YF00000000000000000000000000000001\n";
  guint busy_id;

  g_assert_no_error (error);
  bouncer = vpush_bouncer_new_for_dirs (dirs, FALSE, &error);
  g_assert_no_error (error);
  wait_for_policy_from (bouncer, NULL);

  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "policy files still being written 2 s after the first of them began, "
                         "read as they are now: "
                         "*/60-log-*.conf*; write policy files elsewhere and rename them into "
                         "place");
  busy_id = g_timeout_add (30, busy_cb, &busy);
  while (fds->len < 10)
    g_main_context_iteration (NULL, TRUE);
  /* whole at once: written aside and renamed into place */
  g_assert_true (g_file_set_contents (path, rule, -1, &error));
  g_assert_no_error (error);
  /* far more files than the 2 s allow for, each one started while the rest are open */
  while (fds->len < 400
         && !g_str_has_suffix (vpush_policy_get_sources (vpush_bouncer_get_policy (bouncer))[0],
                               "/50-shop.conf"))
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_str_has_suffix (vpush_policy_get_sources (vpush_bouncer_get_policy (bouncer))[0],
                                   "/50-shop.conf"));
  g_test_assert_expected_messages ();
  g_source_remove (busy_id);

  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, gint, i));
  g_clear_object (&bouncer);
  rm_rf (dir);
}

/* --policy-dir names a directory relative to where vpushd started: its files are named
 * by their absolute path in the log, as the system directories' are. */
static void
test_policy_relative_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *dir = g_build_filename (tmp, "policy.d", NULL);
  g_autofree gchar *file = g_build_filename (dir, "50-shop.conf", NULL);
  g_autofree gchar *cwd = g_get_current_dir ();
  g_autoptr (VpushBouncer) bouncer = NULL;
  const gchar *const *sources;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  write_file (dir, "50-shop.conf", "[Rule shop]\nActions=list\nCallers=*\n", 0644);
  g_assert_cmpint (g_chdir (tmp), ==, 0);
  bouncer = vpush_bouncer_new ("./policy.d/", &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  sources = vpush_policy_get_sources (vpush_bouncer_get_policy (bouncer));
  g_assert_nonnull (sources);
  g_assert_cmpstr (sources[0], ==, file);
  g_assert_null (sources[1]);

  g_clear_object (&bouncer);
  rm_rf (tmp);
}

static void
test_policy_builtin (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *missing = g_build_filename (tmp, "missing", NULL);
  const gchar *dirs[] = { tmp, missing, NULL };
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new ("/usr/bin/anything", NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);
  static const VpushAction allowed[] = {
    VPUSH_ACTION_ENROLL,
    VPUSH_ACTION_UPDATE,
    VPUSH_ACTION_DELETE,
    VPUSH_ACTION_LIST,
  };

  g_assert_no_error (error);
  /* only root's directories pass as the system's (/policy/dirs) */
  policy = vpush_policy_load_dirs (dirs, getuid () == 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (vpush_policy_get_sources (policy)[0], ==, "built-in default policy");

  /* no session needed, nor asked for */
  query.session = VPUSH_SESSION_UNKNOWN;
  query.match = VPUSH_MATCH_NONE;
  query.challenge_age = -1;
  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++)
    {
      query.action = allowed[i];
      g_assert_cmpstr (check (policy, &query, NULL), ==, "default");
      g_assert_false (vpush_policy_needs_session (policy, &query));
    }
  /* approve and deny are refused by default */
  query = approve_query (caller);
  assert_refused (policy, &query, "no policy rule allows “approve”");
  query.action = VPUSH_ACTION_DENY;
  assert_refused (policy, &query, "no policy rule allows “deny”");

  g_rmdir (tmp);
}

/* The file vpushd installs is the one it builds in. */
static void
test_policy_shipped_default (void)
{
  g_autoptr (GError) error = NULL;
  const gchar *source_dir = g_getenv ("VPUSH_SOURCE_DIR");
  g_autofree gchar *dir = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *shipped = NULL;
  g_autoptr (GBytes) builtin = NULL;
  const gchar *dirs[] = { NULL, NULL };
  g_autoptr (VpushPolicy) policy = NULL;

  if (source_dir == NULL)
    {
      g_test_skip ("VPUSH_SOURCE_DIR is not set");
      return;
    }
  dir = g_build_filename (source_dir, "policy", NULL);
  dirs[0] = dir;
  policy = vpush_policy_load_dirs (dirs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 1);

  path = g_build_filename (dir, "default.conf", NULL);
  g_file_get_contents (path, &shipped, NULL, &error);
  g_assert_no_error (error);
  builtin = g_resources_lookup_data ("/io/github/vpush/policy/default.conf", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (shipped, strlen (shipped), g_bytes_get_data (builtin, NULL),
                   g_bytes_get_size (builtin));
}

int
main (int argc, char **argv)
{
  policy_test_init (&argc, &argv);

  g_test_add_func ("/policy/dirs", test_policy_dirs);
  g_test_add_func ("/policy/dir-made-later", test_policy_dir_made_later);
  g_test_add_func ("/policy/read-when-closed", test_policy_read_when_closed);
  g_test_add_func ("/policy/read-while-busy", test_policy_read_while_busy);
  g_test_add_func ("/policy/relative-dir", test_policy_relative_dir);
  g_test_add_func ("/policy/symlinked-file", test_policy_symlinked_file);
  g_test_add_func ("/policy/root-path", test_root_path);
  g_test_add_func ("/policy/builtin", test_policy_builtin);
  g_test_add_func ("/policy/shipped-default", test_policy_shipped_default);
  return g_test_run ();
}
