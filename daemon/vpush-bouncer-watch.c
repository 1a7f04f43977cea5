/* Watching the policy directories, and reading the policy again when one changes (or on
 * SIGHUP); a file still being written is waited for. Apart from vpush-bouncer.c, which
 * lets callers in or refuses them: this part decides on no call, it only replaces the
 * policy in force.
 *
 * Once the main loop runs, the policy is read in a thread: a policy directory on a network
 * file system that hangs must not stop vpushd's answers. The policy in force is replaced
 * on the main loop, and only by a whole policy read: one that can't be read leaves it.
 * One read at a time: what asks for one while a read runs (a change, SIGHUP) gets a single
 * read more once it is done, so that the last policy put in force was read after the last
 * change seen. A read that never ends (a hung file system) holds back the ones asked for
 * after it, and the policy in force stays. */
#include "vpush-bouncer.h"
#include "vpush-bouncer-private.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

/* coalesces the burst of events one edit of a policy directory makes */
#define RELOAD_DELAY_MS 200
/* a file being written is read once it is closed, or after this long if it stays open */
#define WRITING_MAX_MS 2000
/* on the monitor of a missing policy directory's parent: the path it waits for */
#define AWAITED_DATA_KEY "vpush-awaited"
/* on every monitor: the directory it watches, and whether that directory went (removed
 * or moved away); a directory made again in its place, even with the same inode, needs
 * a monitor of its own */
#define DIR_DATA_KEY  "vpush-dir"
#define GONE_DATA_KEY "vpush-gone"

/* What watches one policy directory: the directory itself, or while it is missing the
 * nearest directory on its path that exists, for the next one down (GLib's monitor of a
 * missing directory notices it only seconds after it is made: it looks every 4 s). */
typedef struct
{
  gchar *path;    /* the directory watched */
  gchar *awaited; /* NULL: path is the policy directory; else the one path waits for */
  dev_t dev;      /* path's: a directory made again under the same name is watched again */
  ino_t ino;
  GFileMonitor *monitor; /* NULL: none could be made */
} Watch;

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  g_free (watch->path);
  g_free (watch->awaited);
  g_clear_object (&watch->monitor);
  g_free (watch);
}

static gboolean
watch_equal (const Watch *a, const Watch *b)
{
  return g_str_equal (a->path, b->path) && g_strcmp0 (a->awaited, b->awaited) == 0
         && a->dev == b->dev && a->ino == b->ino;
}

static gboolean
watches_equal (GPtrArray *a, GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      if (!watch_equal (g_ptr_array_index (a, i), g_ptr_array_index (b, i)))
        return FALSE;
    }
  return TRUE;
}

static void
cancel_monitors (VpushBouncer *self, GPtrArray *watches)
{
  for (guint i = 0; i < watches->len; i++)
    {
      Watch *watch = g_ptr_array_index (watches, i);

      if (watch->monitor == NULL)
        continue;
      g_signal_handlers_disconnect_by_data (watch->monitor, self);
      g_file_monitor_cancel (watch->monitor);
    }
}

void
vpush_bouncer_log_policy (VpushBouncer *self, const gchar *what)
{
  guint n = vpush_policy_get_n_rules (self->policy);
  g_autofree gchar *sources = g_strjoinv (", ", (gchar **)vpush_policy_get_sources (self->policy));

  g_message ("policy %s: %u rule%s from %s", what, n, n == 1 ? "" : "s", sources);
}

static void reload (VpushBouncer *self, const gchar *why);
static void on_dir_changed (GFileMonitor *monitor, GFile *file, GFile *other,
                            GFileMonitorEvent event, VpushBouncer *self);
static void on_parent_changed (GFileMonitor *monitor, GFile *file, GFile *other,
                               GFileMonitorEvent event, VpushBouncer *self);

static gboolean
reload_cb (gpointer user_data)
{
  VpushBouncer *self = user_data;

  self->reload_id = 0;
  /* a file still being written: read when it is closed */
  if (g_hash_table_size (self->writing) == 0)
    reload (self, "");
  return G_SOURCE_REMOVE;
}

static void
schedule_reload (VpushBouncer *self)
{
  if (self->reload_id == 0)
    self->reload_id = g_timeout_add (RELOAD_DELAY_MS, reload_cb, self);
}

static gboolean
writing_cb (gpointer user_data)
{
  VpushBouncer *self = user_data;

  self->writing_id = 0;
  /* it may be half a rule, wider than the whole one: say so, for whoever wrote it */
  {
    g_autofree const gchar **paths
        = (const gchar **)g_hash_table_get_keys_as_array (self->writing, NULL);
    g_autofree gchar *list = g_strjoinv (", ", (gchar **)paths);

    g_warning ("policy files still being written %d s after the first of them began, read as "
               "they are now: %s; write policy files elsewhere and rename them into place",
               WRITING_MAX_MS / 1000, list);
  }
  g_hash_table_remove_all (self->writing);
  /* read now: waiting for a quiet moment again could wait for ever in a directory where
   * something is always being written */
  g_clear_handle_id (&self->reload_id, g_source_remove);
  reload (self, "");
  return G_SOURCE_REMOVE;
}

/* What watches each of dirs now. It stats them and their parents, which may block: in the
 * reading thread, or at start-up. */
static GPtrArray *
look (const gchar *const *dirs)
{
  GPtrArray *watches = g_ptr_array_new_with_free_func (watch_free);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree gchar *path = g_strdup (dirs[i]);
      g_autofree gchar *awaited = NULL;
      GStatBuf st;
      gboolean found;
      Watch *watch;

      while (!(found = g_stat (path, &st) == 0 && S_ISDIR (st.st_mode)))
        {
          gchar *up = g_path_get_dirname (path);

          if (g_str_equal (up, path))
            {
              g_free (up);
              break;
            }
          g_free (awaited);
          awaited = g_steal_pointer (&path);
          path = up;
        }
      if (!found)
        continue;
      watch = g_new0 (Watch, 1);
      watch->path = g_steal_pointer (&path);
      watch->awaited = g_steal_pointer (&awaited);
      watch->dev = st.st_dev;
      watch->ino = st.st_ino;
      g_ptr_array_add (watches, watch);
    }
  return watches;
}

static GFileMonitor *
monitor_dir (const gchar *path, GError **error)
{
  g_autoptr (GFile) dir = g_file_new_for_path (path);

  return g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, error);
}

/* The monitor of an old watch equal to watch, if its directory is still the one watched */
static GFileMonitor *
take_monitor (GPtrArray *old, Watch *watch)
{
  Watch *same;
  guint i;

  if (old == NULL || !g_ptr_array_find_with_equal_func (old, watch, (GEqualFunc)watch_equal, &i))
    return NULL;
  same = g_ptr_array_index (old, i);
  if (same->monitor == NULL || g_object_get_data (G_OBJECT (same->monitor), GONE_DATA_KEY))
    return NULL;
  return g_steal_pointer (&same->monitor);
}

/* Puts the watches look() found in place (taking them over), on the main loop: a
 * GFileMonitor tells its changes in the main context it was made in. A directory watched
 * as before keeps its monitor; a new one is watched from now on (a monitor is made with
 * a lookup of its path, which could block too, but only when a directory comes or goes).
 * Returns whether a monitor was made: a change there since look() went unseen. */
static gboolean
watch (VpushBouncer *self, GPtrArray *watches)
{
  g_autoptr (GPtrArray) old = g_steal_pointer (&self->watches);
  gboolean made = FALSE;

  self->watches = watches;
  for (guint i = 0; i < watches->len; i++)
    {
      Watch *watch = g_ptr_array_index (watches, i);

      watch->monitor = take_monitor (old, watch);
    }
  /* the monitors not kept are cancelled before new ones are made: GLib watches a path
   * once for all its monitors, so a new monitor of a path that now names another
   * directory (a symlink pointed elsewhere) would share the old one's watch. What changes
   * in between is read by the read that follows a monitor made. */
  if (old != NULL)
    cancel_monitors (self, old);
  for (guint i = 0; i < watches->len; i++)
    {
      Watch *watch = g_ptr_array_index (watches, i);
      g_autoptr (GError) error = NULL;

      if (watch->monitor != NULL)
        continue;
      watch->monitor = monitor_dir (watch->path, &error);
      if (watch->monitor == NULL && watch->awaited != NULL)
        g_debug ("%s: not watched for %s: %s", watch->path, watch->awaited, error->message);
      else if (watch->monitor == NULL)
        g_warning ("%s: policy changes there need a restart: %s", watch->path, error->message);
      else if (watch->awaited != NULL)
        {
          g_object_set_data_full (G_OBJECT (watch->monitor), AWAITED_DATA_KEY,
                                  g_strdup (watch->awaited), g_free);
          g_signal_connect (watch->monitor, "changed", G_CALLBACK (on_parent_changed), self);
        }
      else
        g_signal_connect (watch->monitor, "changed", G_CALLBACK (on_dir_changed), self);
      if (watch->monitor != NULL)
        g_object_set_data_full (G_OBJECT (watch->monitor), DIR_DATA_KEY,
                                g_file_new_for_path (watch->path), g_object_unref);
      made = made || watch->monitor != NULL;
    }
  return made;
}

void
vpush_bouncer_watch (VpushBouncer *self)
{
  g_autoptr (GPtrArray) now = NULL;

  watch (self, look ((const gchar *const *)self->dirs));
  /* a directory made or gone while the monitors were set up */
  now = look ((const gchar *const *)self->dirs);
  if (!watches_equal (self->watches, now))
    schedule_reload (self);
}

void
vpush_bouncer_unwatch (VpushBouncer *self)
{
  /* the read's task holds all it needs; its end is left unseen */
  if (self->reading != NULL)
    g_cancellable_cancel (self->reading);
  g_clear_object (&self->reading);
  if (self->watches != NULL)
    cancel_monitors (self, self->watches);
  g_clear_pointer (&self->watches, g_ptr_array_unref);
}

/* A read of the policy in a thread: a copy of what it reads, and what it found */
typedef struct
{
  GStrv dirs;
  gboolean require_root;
  const gchar *why;
  GPtrArray *watches; /* what watches the directories, as seen before the read */
} Read;

static void
read_free (gpointer data)
{
  Read *read = data;

  g_strfreev (read->dirs);
  g_clear_pointer (&read->watches, g_ptr_array_unref);
  g_free (read);
}

static void
read_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Read *read = task_data;
  GError *error = NULL;
  VpushPolicy *policy;

  /* looked at first, so that a change while the policy is read is not missed */
  read->watches = look ((const gchar *const *)read->dirs);
  policy = vpush_policy_load_dirs ((const gchar *const *)read->dirs, read->require_root, &error);
  if (policy == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, policy, g_object_unref);
}

static void start_read (VpushBouncer *self, const gchar *why);

static void
read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = G_TASK (result);
  Read *read = g_task_get_task_data (task);
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *what = NULL;
  VpushBouncer *self;
  const gchar *again;

  /* the bouncer is gone: vpushd stops */
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    return;
  self = user_data;
  g_clear_object (&self->reading);
  /* a directory watched from now on may have changed since it was read */
  if (watch (self, g_steal_pointer (&read->watches)) && self->again == NULL)
    self->again = "";
  policy = g_task_propagate_pointer (task, &error);
  if (policy == NULL)
    g_warning ("policy not reloaded%s, the previous one stays in force: %s", read->why,
               error->message);
  else
    {
      g_set_object (&self->policy, policy);
      what = g_strconcat ("reloaded", read->why, NULL);
      vpush_bouncer_log_policy (self, what);
    }
  again = self->again;
  self->again = NULL;
  /* a change's read waits for the files being written, as in reload_cb(): their writer's
   * close, or writing_cb(), asks for it; a SIGHUP's is made at once */
  if (again != NULL && (*again != '\0' || g_hash_table_size (self->writing) == 0))
    start_read (self, again);
}

static void
start_read (VpushBouncer *self, const gchar *why)
{
  g_autoptr (GTask) task = NULL;
  Read *read = g_new0 (Read, 1);

  read->dirs = g_strdupv (self->dirs);
  read->require_root = self->require_root;
  read->why = why;
  self->reading = g_cancellable_new ();
  /* not the bouncer's: a read that never ends must not keep it */
  task = g_task_new (NULL, self->reading, read_done, self);
  g_task_set_task_data (task, read, read_free);
  g_task_run_in_thread (task, read_thread);
}

/* why: "" for a change, " on SIGHUP"; a string that lasts */
static void
reload (VpushBouncer *self, const gchar *why)
{
  if (self->reading == NULL)
    {
      start_read (self, why);
      return;
    }
  /* read again once, after it: the read under way may have come before the change; a
   * SIGHUP is the one said in the log */
  if (self->again == NULL || *why != '\0')
    self->again = why;
  g_debug ("policy to be read again%s once the read under way is done", why);
}

void
vpush_bouncer_reload (VpushBouncer *self)
{
  g_return_if_fail (VPUSH_IS_BOUNCER (self));

  /* a change the monitor has seen is read now as well */
  g_clear_handle_id (&self->reload_id, g_source_remove);
  reload (self, " on SIGHUP");
}

static gboolean
is_regular_file (const gchar *path)
{
  struct stat st;

  return path != NULL && g_lstat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static gboolean
is_policy_file (GFile *file)
{
  g_autofree gchar *name = g_file_get_basename (file);

  return name != NULL && vpush_policy_is_file_name (name);
}

/* A file read while it is being written would be half a rule: one whose Factors= or
 * MaxChallengeAgeSeconds= line is not there yet grants more than the whole one. A file
 * created or changed is read once it is closed (CHANGES_DONE_HINT) or gone; one moved
 * into place is whole. */
/* Whether the directory monitor watches went: its monitor is then not kept for one made
 * again there */
static gboolean
note_gone (GFileMonitor *monitor, GFile *file, GFileMonitorEvent event)
{
  GFile *dir = g_object_get_data (G_OBJECT (monitor), DIR_DATA_KEY);

  if ((event != G_FILE_MONITOR_EVENT_DELETED && event != G_FILE_MONITOR_EVENT_MOVED_OUT
       && event != G_FILE_MONITOR_EVENT_RENAMED && event != G_FILE_MONITOR_EVENT_UNMOUNTED)
      || file == NULL || dir == NULL || !g_file_equal (file, dir))
    return FALSE;
  g_object_set_data (G_OBJECT (monitor), GONE_DATA_KEY, GINT_TO_POINTER (TRUE));
  return TRUE;
}

static void
on_dir_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                VpushBouncer *self)
{
  g_autofree gchar *path = file != NULL ? g_file_get_path (file) : NULL;
  g_autofree gchar *other_path = other != NULL ? g_file_get_path (other) : NULL;

  note_gone (monitor, file, event);
  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_CHANGED:
      /* a directory, a link or a fifo made there is never closed after a write, and a
       * file vpushd does not read (an editor's swap file) holds nothing back */
      if (file != NULL && is_regular_file (path) && is_policy_file (file))
        g_hash_table_add (self->writing, g_steal_pointer (&path));
      break;
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      if (path != NULL)
        g_hash_table_remove (self->writing, path);
      break;
    case G_FILE_MONITOR_EVENT_RENAMED:
      if (path != NULL)
        g_hash_table_remove (self->writing, path);
      if (other_path != NULL)
        g_hash_table_remove (self->writing, other_path);
      break;
    default:
      break;
    }

  if (g_hash_table_size (self->writing) > 0)
    {
      if (self->writing_id == 0)
        self->writing_id = g_timeout_add (WRITING_MAX_MS, writing_cb, self);
      return;
    }
  g_clear_handle_id (&self->writing_id, g_source_remove);
  schedule_reload (self);
}

static gboolean
is_path (GFile *file, const gchar *path)
{
  g_autofree gchar *file_path = file != NULL ? g_file_get_path (file) : NULL;

  return g_strcmp0 (file_path, path) == 0;
}

/* Only the next directory down to a missing policy directory matters: /etc sees many
 * other changes. */
static void
on_parent_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                   VpushBouncer *self)
{
  const gchar *awaited = g_object_get_data (G_OBJECT (monitor), AWAITED_DATA_KEY);

  /* the directory watched in its place went too: what is there now is looked at again */
  if (note_gone (monitor, file, event) || is_path (file, awaited) || is_path (other, awaited))
    schedule_reload (self);
}
