/* O_PATH */
#define _GNU_SOURCE

#include "vpush-caller.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpush-error.h"

#include "vpush-names.h"

/* cap on what is read from /proc and from a sandbox's root */
#define PROC_FILE_MAX          (64 * 1024)
#define CREDENTIALS_TIMEOUT_MS 5000
/* callers whose bus credentials are remembered, per connection (see Credentials) */
#define CREDENTIALS_CACHE_MAX 16
#define CREDENTIALS_CACHE_KEY "vpush-caller-credentials"
/* what the kernel adds to /proc/<pid>/exe once the file is unlinked */
#define EXE_DELETED " (deleted)"

VpushCaller *
vpush_caller_new (void)
{
  VpushCaller *caller = g_new0 (VpushCaller, 1);

  caller->pidfd = -1;
  caller->user_manager_uid = -1;
  return caller;
}

void
vpush_caller_free (VpushCaller *caller)
{
  if (caller == NULL)
    return;
  if (caller->pidfd >= 0)
    close (caller->pidfd);
  g_free (caller->sender);
  g_free (caller->exe);
  g_free (caller->unit);
  g_free (caller->app_id);
  g_free (caller->session);
  g_free (caller);
}

gchar *
vpush_caller_describe (const VpushCaller *caller)
{
  const gchar *exe = caller->exe ? caller->exe : "unknown executable";

  if (caller->app_id)
    return g_strdup_printf ("%s (Flatpak %s, pid %u, %s)", exe, caller->app_id, caller->pid,
                            caller->sender);
  return g_strdup_printf ("%s (pid %u, %s)", exe, caller->pid, caller->sender);
}

gchar *
vpush_caller_key (const VpushCaller *caller)
{
  if (caller == NULL)
    return g_strdup ("unidentified");
  if (caller->app_id)
    return g_strconcat ("flatpak:", caller->app_id, NULL);
  if (caller->exe)
    return g_strconcat ("exe:", caller->exe, NULL);
  if (caller->unit)
    return g_strconcat ("unit:", caller->unit, NULL);
  return g_strdup ("unknown");
}

static gboolean
set_errno_error (GError **error, int saved_errno, const gchar *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s", what,
               g_strerror (saved_errno));
  return FALSE;
}

/* A small regular file below dirfd, at most PROC_FILE_MAX bytes. */
static gboolean
read_file_at (int dirfd, const gchar *name, int flags, gchar **out_contents, GError **error)
{
  g_autoptr (GString) contents = g_string_new (NULL);
  struct stat st;
  gchar buf[4096];
  int fd;

  /* O_NONBLOCK: a sandbox's FIFO would wait for a writer that never comes */
  fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
  if (fd < 0)
    return set_errno_error (error, errno, name);
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a regular file", name);
      return FALSE;
    }
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          close (fd);
          return set_errno_error (error, saved_errno, name);
        }
      if (n == 0)
        break;
      g_string_append_len (contents, buf, n);
      if (contents->len > PROC_FILE_MAX)
        {
          close (fd);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: larger than %d bytes", name,
                       PROC_FILE_MAX);
          return FALSE;
        }
    }
  close (fd);
  *out_contents = g_string_free (g_steal_pointer (&contents), FALSE);
  return TRUE;
}

static gchar *
read_link_at (int dirfd, const gchar *name)
{
  gchar buf[PATH_MAX + 1];
  ssize_t n = readlinkat (dirfd, name, buf, sizeof buf);

  if (n < 0 || n >= (ssize_t)sizeof buf)
    return NULL;
  buf[n] = '\0';
  return g_strdup (buf);
}

/* The cgroup path as systemd sees it: the unified hierarchy, else systemd's named one. */
static const gchar *
cgroup_path (gchar **lines)
{
  const gchar *named = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const gchar *line = lines[i];

      if (g_str_has_prefix (line, "0::") && !g_str_equal (line + 3, "/"))
        return line + 3;
      if (strstr (line, ":name=systemd:") != NULL)
        named = strstr (line, ":name=systemd:") + strlen (":name=systemd:");
    }
  return named;
}

/* The first unit below the user manager (user@UID.service), else the first system unit;
 * a session-N.scope on the way names the login session, as sd_pid_get_session() does. */
static void
parse_cgroup (const gchar *contents, gchar **out_unit, gchar **out_session,
              gint64 *out_user_manager_uid)
{
  g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
  g_auto (GStrv) parts = NULL;
  const gchar *path = cgroup_path (lines);
  const gchar *system_unit = NULL;
  const gchar *user_unit = NULL;
  gboolean in_user_manager = FALSE;

  if (path == NULL)
    return;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const gchar *part = parts[i];

      if (*part == '\0' || g_str_has_suffix (part, ".slice"))
        continue;
      if (in_user_manager)
        {
          user_unit = part;
          break;
        }
      if (system_unit == NULL)
        system_unit = part;
      if (g_str_has_prefix (part, "user@") && g_str_has_suffix (part, ".service"))
        {
          g_autofree gchar *digits = g_strndup (
              part + strlen ("user@"), strlen (part) - strlen ("user@") - strlen (".service"));
          guint64 uid;

          in_user_manager = TRUE;
          if (g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT32, &uid, NULL))
            *out_user_manager_uid = (gint64)uid;
        }
      else if (g_str_has_prefix (part, "session-") && g_str_has_suffix (part, ".scope")
               && *out_session == NULL)
        *out_session = g_strndup (part + strlen ("session-"),
                                  strlen (part) - strlen ("session-") - strlen (".scope"));
      if (!in_user_manager)
        break;
    }
  *out_unit = g_strdup (user_unit ? user_unit : system_unit);
}

/* Flatpak puts .flatpak-info at the sandbox root; the sandboxed app can't change it.
 * root_stat: the root that is expected, or NULL for any. */
static gboolean
read_flatpak_app_id (int pid_dirfd, const struct stat *root_stat, gchar **out_app_id,
                     GError **error)
{
  g_autoptr (GKeyFile) info = g_key_file_new ();
  g_autofree gchar *contents = NULL;
  g_autofree gchar *name = NULL;
  g_autoptr (GError) local_error = NULL;
  gboolean ok;
  int root;

  root = openat (pid_dirfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return set_errno_error (error, errno, "root");
  /* checked on the root held open: the process may have entered another since. From the
   * attributes the kernel has (AT_STATX_DONT_SYNC): asking a FUSE root for fresh ones
   * would wait for its server. */
  if (root_stat != NULL)
    {
      struct statx stx;

      if (statx (root, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &stx) < 0
          || makedev (stx.stx_dev_major, stx.stx_dev_minor) != root_stat->st_dev
          || stx.stx_ino != root_stat->st_ino)
        {
          close (root);
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                               "root: not the root expected");
          return FALSE;
        }
    }
  /* O_NOFOLLOW: a link would be resolved in our namespace, not the sandbox's */
  ok = read_file_at (root, ".flatpak-info", O_NOFOLLOW, &contents, &local_error);
  close (root);
  if (!ok)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "root/");
      return FALSE;
    }

  if (!g_key_file_load_from_data (info, contents, -1, G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "root/.flatpak-info: ");
      return FALSE;
    }
  name = g_key_file_get_string (info, "Application", "name", NULL);
  if (name == NULL || !g_application_id_is_valid (name))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "root/.flatpak-info: a sandbox without a valid [Application] name");
      return FALSE;
    }
  *out_app_id = g_steal_pointer (&name);
  return TRUE;
}

gboolean
vpush_caller_read_proc (VpushCaller *caller, const gchar *proc_root, GError **error)
{
  return vpush_caller_read_proc_in_root (caller, proc_root, NULL, error);
}

gboolean
vpush_caller_read_proc_in_root (VpushCaller *caller, const gchar *proc_root,
                                const struct stat *root_stat, GError **error)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%u", proc_root, caller->pid);
  g_autofree gchar *cgroup = NULL;
  gboolean ok;
  int dirfd;

  dirfd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return set_errno_error (error, errno, path);

  g_clear_pointer (&caller->exe, g_free);
  g_clear_pointer (&caller->unit, g_free);
  g_clear_pointer (&caller->app_id, g_free);
  g_clear_pointer (&caller->session, g_free);
  caller->user_manager_uid = -1;

  /* no executable or cgroup only means exe: and unit: rules can't match */
  caller->exe = read_link_at (dirfd, "exe");
  /* The file it runs was replaced since it started, as a package upgrade does: it is
   * still the program that was at that path. Only who may write there could make a name
   * that ends so, and they could put any program at the path itself. */
  if (caller->exe != NULL && g_str_has_suffix (caller->exe, EXE_DELETED))
    {
      caller->exe[strlen (caller->exe) - strlen (EXE_DELETED)] = '\0';
      g_debug ("pid %u runs %s, replaced on disk since it started", caller->pid, caller->exe);
    }
  /* Paths and cgroup names are bytes, which a caller can choose (a cgroup of its own in
   * its delegated tree). Rules, globs, messages and the bus are UTF-8: a name that is not
   * can't match any rule, and is taken as unknown. */
  if (caller->exe != NULL && !g_utf8_validate (caller->exe, -1, NULL))
    g_clear_pointer (&caller->exe, g_free);
  if (read_file_at (dirfd, "cgroup", 0, &cgroup, NULL) && g_utf8_validate (cgroup, -1, NULL))
    parse_cgroup (cgroup, &caller->unit, &caller->session, &caller->user_manager_uid);
  ok = read_flatpak_app_id (dirfd, root_stat, &caller->app_id, error);
  close (dirfd);
  if (!ok)
    g_prefix_error (error, "%s/", path);
  return ok;
}

gboolean
vpush_caller_is_alive (const VpushCaller *caller)
{
  return caller->pidfd >= 0 && pidfd_send_signal (caller->pidfd, 0, NULL, 0) == 0;
}

/* What the bus says about a unique name never changes: dbus-daemon takes uid and pid from
 * the socket when the peer connects, and never gives the name to another connection. So
 * it is asked once per caller, not on every call (a round trip through the bus). The
 * pidfd pinned at that first call is kept with them: a caller whose process has exited
 * stays refused even if its pid is reused meanwhile. What /proc says (executable, unit,
 * sandbox) can change with exec() and is still read on every call. A few callers are
 * remembered, the oldest forgotten first; a name that left the bus is never asked for
 * again, so it just ages out. */
typedef struct
{
  gchar *sender;
  guint32 uid;
  guint32 pid;
  gint pidfd;
} Credentials;

typedef struct
{
  GHashTable *by_sender; /* sender → Credentials (owned) */
  GQueue order;          /* senders, oldest first (borrowed from the entries) */
  /* sender → GPtrArray of the GTasks waiting for the bus's answer about it: one question
   * per sender, however many of its calls come in before the answer */
  GHashTable *asking;
} CredentialsCache;

static void
credentials_free (gpointer data)
{
  Credentials *creds = data;

  if (creds->pidfd >= 0)
    close (creds->pidfd);
  g_free (creds->sender);
  g_free (creds);
}

static void
credentials_cache_free (gpointer data)
{
  CredentialsCache *cache = data;

  g_queue_clear (&cache->order);
  g_hash_table_unref (cache->by_sender);
  g_hash_table_unref (cache->asking);
  g_free (cache);
}

static CredentialsCache *
credentials_cache (GDBusConnection *connection)
{
  CredentialsCache *cache = g_object_get_data (G_OBJECT (connection), CREDENTIALS_CACHE_KEY);

  if (cache == NULL)
    {
      cache = g_new0 (CredentialsCache, 1);
      cache->by_sender = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, credentials_free);
      g_queue_init (&cache->order);
      cache->asking = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)g_ptr_array_unref);
      g_object_set_data_full (G_OBJECT (connection), CREDENTIALS_CACHE_KEY, cache,
                              credentials_cache_free);
    }
  return cache;
}

/* Takes pidfd. */
static void
credentials_remember (GDBusConnection *connection, const gchar *sender, guint32 uid, guint32 pid,
                      int pidfd)
{
  CredentialsCache *cache = credentials_cache (connection);
  Credentials *creds;

  if (g_hash_table_contains (cache->by_sender, sender))
    {
      close (pidfd);
      return;
    }
  if (g_queue_get_length (&cache->order) >= CREDENTIALS_CACHE_MAX)
    g_hash_table_remove (cache->by_sender, g_queue_pop_head (&cache->order));
  creds = g_new0 (Credentials, 1);
  creds->sender = g_strdup (sender);
  creds->uid = uid;
  creds->pid = pid;
  creds->pidfd = pidfd;
  g_hash_table_insert (cache->by_sender, creds->sender, creds);
  g_queue_push_tail (&cache->order, creds->sender);
}

typedef struct
{
  VpushCaller *caller;
} Lookup;

static void
lookup_free (Lookup *lookup)
{
  vpush_caller_free (lookup->caller);
  g_free (lookup);
}

static void return_denied (GTask *task, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static void
return_denied (GTask *task, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_task_return_error (task,
                       g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, message));
}

/* vpushd itself has no descriptor left: a failure of its own, not the caller's doing (it
 * fails closed all the same). An EMFILE that came from a read under a sandboxed caller's
 * root may be a FUSE server's answer there, the caller's doing: whether vpushd can still
 * make a descriptor tells the two apart. */
static gboolean
out_of_descriptors (int saved_errno)
{
  int fd;

  if (saved_errno != EMFILE && saved_errno != ENFILE)
    return FALSE;
  fd = eventfd (0, EFD_CLOEXEC);
  if (fd >= 0)
    {
      close (fd);
      return FALSE;
    }
  return errno == EMFILE || errno == ENFILE;
}

/* What could not be done to identify the caller: message with errno's text */
static void
return_unidentified (GTask *task, const gchar *what, int saved_errno)
{
  if (out_of_descriptors (saved_errno))
    g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED, "vpushd %s: %s", what,
                             g_strerror (saved_errno));
  else
    return_denied (task, "%s: %s", what, g_strerror (saved_errno));
}

/* The outcome of reading the caller's /proc files (ok, or error) */
static void
return_read (GTask *task, Lookup *lookup, gboolean ok, const GError *error)
{
  if (!ok)
    {
      /* its /proc entry going away as it was read is the usual reason */
      if (!vpush_caller_is_alive (lookup->caller))
        return_denied (task, "the caller exited while it was being identified");
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES)
               && out_of_descriptors (EMFILE))
        g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                                 "vpushd could not identify the caller: %s", error->message);
      else
        return_denied (task, "could not identify the caller: %s", error->message);
      return;
    }
  /* the reads above were of the pinned process only if it is still there */
  if (!vpush_caller_is_alive (lookup->caller))
    {
      return_denied (task, "the caller exited while it was being identified");
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&lookup->caller),
                         (GDestroyNotify)vpush_caller_free);
}

/* In a worker thread: a sandbox root may be a slow or hung FUSE mount. */
static void
read_proc_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Lookup *lookup = task_data;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  ok = vpush_caller_read_proc (lookup->caller, "/proc", &error);
  return_read (task, lookup, ok, error);
}

/* Whether /proc/<pid>/ns/<ns> is our own namespace (*mine caches ours; we never change
 * namespaces); FALSE when it can't be told. */
static gboolean
same_namespace (guint32 pid, const gchar *ns, struct stat *mine)
{
  gchar path[64];
  struct stat theirs;

  if (mine->st_ino == 0)
    {
      g_snprintf (path, sizeof path, "/proc/self/ns/%s", ns);
      if (stat (path, mine) < 0)
        {
          mine->st_ino = 0;
          return FALSE;
        }
    }
  g_snprintf (path, sizeof path, "/proc/%u/ns/%s", pid, ns);
  if (stat (path, &theirs) < 0)
    return FALSE;
  return mine->st_dev == theirs.st_dev && mine->st_ino == theirs.st_ino;
}

/* The sandbox root is read in a worker thread because a sandbox could make it a hung FUSE
 * mount. A caller in our own mount and user namespaces has our root (another one needs
 * CAP_SYS_CHROOT, and a process of our uid with that could as well stop vpushd
 * outright), unless it enters namespaces of its own right after the check: its root is
 * then checked to be ours once it is held open. Its /proc files are read right here,
 * which saves two thread switches per call. What is read, and the liveness check after
 * it, are the same either way. */
static void
identify (GTask *task)
{
  static struct stat our_mnt;
  static struct stat our_user;
  static struct stat our_root;
  Lookup *lookup = g_task_get_task_data (task);
  guint32 pid = lookup->caller->pid;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (our_root.st_ino == 0 && stat ("/", &our_root) < 0)
    our_root.st_ino = 0;
  if (our_root.st_ino == 0 || !same_namespace (pid, "mnt", &our_mnt)
      || !same_namespace (pid, "user", &our_user))
    {
      g_task_run_in_thread (task, read_proc_thread);
      return;
    }
  /* the caller may enter a namespace of its own after the check above, with a root a
   * FUSE mount of its own: the root is checked again, held open, before it is read */
  ok = vpush_caller_read_proc_in_root (lookup->caller, "/proc", &our_root, &error);
  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_task_run_in_thread (task, read_proc_thread);
      return;
    }
  return_read (task, lookup, ok, error);
}

/* The caller as the bus told of it: a copy of its pinned pidfd of its own, then its /proc
 * files read. */
static void
identify_pinned (GTask *task, guint32 uid, guint32 pid, int pidfd)
{
  Lookup *lookup = g_task_get_task_data (task);

  lookup->caller->uid = uid;
  lookup->caller->pid = pid;
  lookup->caller->pidfd = fcntl (pidfd, F_DUPFD_CLOEXEC, 3);
  if (lookup->caller->pidfd < 0)
    {
      return_unidentified (task, "could not pin the caller's process", errno);
      return;
    }
  identify (task);
}

/* The bus's answer about one sender, for every lookup of it that came in meanwhile */
static void
credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GDBusConnection *connection = G_DBUS_CONNECTION (source);
  g_autofree gchar *sender = user_data;
  g_autofree gchar *key = NULL;
  g_autoptr (GPtrArray) tasks = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) creds = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *denied = NULL;
  int pin_errno = 0;
  guint32 uid = 0;
  guint32 pid = 0;
  gint32 fd_index;
  int pidfd = -1;

  if (!g_hash_table_steal_extended (credentials_cache (connection)->asking, sender,
                                    (gpointer *)&key, (gpointer *)&tasks))
    g_return_if_reached ();
  reply = g_dbus_connection_call_with_unix_fd_list_finish (connection, &fds, result, &error);
  if (reply != NULL)
    creds = g_variant_get_child_value (reply, 0);
  if (reply == NULL)
    denied = g_strdup_printf ("could not identify the caller: %s", error->message);
  else if (!g_variant_lookup (creds, VPUSH_DBUS_CREDENTIALS_UID, "u", &uid)
           || !g_variant_lookup (creds, VPUSH_DBUS_CREDENTIALS_PID, "u", &pid))
    denied = g_strdup ("the bus did not tell who the caller is");
  else if (uid != getuid ())
    denied = g_strdup_printf ("only processes of uid %u may call vpushd", (guint)getuid ());
  else
    {
      /* pin the process: a pidfd from the bus (SO_PEERPIDFD) can't name a recycled pid;
       * one opened here could, if the process that connected has exited since and its
       * connection lives on in another (the README's "How the caller is identified") */
      if (fds != NULL && g_variant_lookup (creds, VPUSH_DBUS_CREDENTIALS_PID_FD, "h", &fd_index)
          && fd_index >= 0 && fd_index < g_unix_fd_list_get_length (fds))
        pidfd = g_unix_fd_list_get (fds, fd_index, NULL);
      if (pidfd < 0)
        pidfd = pidfd_open (pid, 0);
      if (pidfd < 0)
        pin_errno = errno;
    }

  for (guint i = 0; i < tasks->len; i++)
    {
      if (pin_errno != 0)
        return_unidentified (g_ptr_array_index (tasks, i), "could not pin the caller's process",
                             pin_errno);
      else if (denied != NULL)
        return_denied (g_ptr_array_index (tasks, i), "%s", denied);
      else
        identify_pinned (g_ptr_array_index (tasks, i), uid, pid, pidfd);
    }
  if (pidfd >= 0)
    credentials_remember (connection, sender, uid, pid, pidfd);
}

void
vpush_caller_lookup_async (GDBusConnection *connection, const gchar *sender,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (connection, NULL, callback, user_data);
  CredentialsCache *cache = credentials_cache (connection);
  Lookup *lookup = g_new0 (Lookup, 1);
  Credentials *creds = g_hash_table_lookup (cache->by_sender, sender);
  GPtrArray *waiting;

  lookup->caller = vpush_caller_new ();
  lookup->caller->sender = g_strdup (sender);
  g_task_set_task_data (task, lookup, (GDestroyNotify)lookup_free);
  if (creds != NULL)
    {
      identify_pinned (task, creds->uid, creds->pid, creds->pidfd);
      return;
    }
  /* a burst of calls from a new caller asks the bus once: each question of its own took
   * vpushd's main loop long enough, with hundreds, for the last answers to time out */
  waiting = g_hash_table_lookup (cache->asking, sender);
  if (waiting != NULL)
    {
      g_ptr_array_add (waiting, g_steal_pointer (&task));
      return;
    }
  waiting = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (waiting, g_steal_pointer (&task));
  g_hash_table_insert (cache->asking, g_strdup (sender), waiting);
  g_dbus_connection_call_with_unix_fd_list (
      connection, VPUSH_DBUS_DAEMON_NAME, VPUSH_DBUS_DAEMON_PATH, VPUSH_DBUS_DAEMON_IFACE,
      VPUSH_DBUS_DAEMON_GET_CONNECTION_CREDENTIALS, g_variant_new ("(s)", sender),
      G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, CREDENTIALS_TIMEOUT_MS, NULL, NULL,
      credentials_cb, g_strdup (sender));
}

VpushCaller *
vpush_caller_lookup_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
