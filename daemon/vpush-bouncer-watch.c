/* Watching the policy directories, and reading the policy again when one changes (or on
 * SIGHUP); a file still being written is waited for. Apart from vpush-bouncer.c, which
 * lets callers in or refuses them: this part decides on no call, it only replaces the
 * policy in force. */
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

void
vpush_bouncer_cancel_monitors (VpushBouncer *self, GPtrArray *monitors)
{
  for (guint i = 0; i < monitors->len; i++)
    {
      GFileMonitor *monitor = g_ptr_array_index (monitors, i);

      g_signal_handlers_disconnect_by_data (monitor, self);
      g_file_monitor_cancel (monitor);
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

static GFileMonitor *
monitor_dir (const gchar *path, GError **error)
{
  g_autoptr (GFile) dir = g_file_new_for_path (path);

  return g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, error);
}

/* A monitor of a missing directory notices it only seconds after it is made (GLib looks
 * for missing files every 4 s): the nearest directory that exists on its path is watched
 * instead, for the next one down. Once that appears, the watches are set up again. */
static void
watch_parent (VpushBouncer *self, const gchar *path)
{
  g_autofree gchar *child = g_strdup (path);
  g_autofree gchar *parent = g_path_get_dirname (child);
  g_autoptr (GError) error = NULL;
  GFileMonitor *monitor;

  while (!g_file_test (parent, G_FILE_TEST_IS_DIR))
    {
      gchar *up = g_path_get_dirname (parent);

      if (g_strcmp0 (up, parent) == 0)
        {
          g_free (up);
          return;
        }
      g_free (child);
      child = g_steal_pointer (&parent);
      parent = up;
    }
  monitor = monitor_dir (parent, &error);
  if (monitor == NULL)
    {
      g_debug ("%s: not watched for %s: %s", parent, child, error->message);
      return;
    }
  g_object_set_data_full (G_OBJECT (monitor), AWAITED_DATA_KEY, g_strdup (child), g_free);
  g_signal_connect (monitor, "changed", G_CALLBACK (on_parent_changed), self);
  g_ptr_array_add (self->monitors, monitor);
  /* made while the monitor was set up (a file in the way is only waited on) */
  if (g_file_test (child, G_FILE_TEST_IS_DIR))
    schedule_reload (self);
}

/* Watches the policy directories again: one that was missing may exist now, one that
 * existed may be gone. Done before each read, so that no change falls in between. */
void
vpush_bouncer_watch (VpushBouncer *self)
{
  g_autoptr (GPtrArray) old = g_steal_pointer (&self->monitors);

  self->monitors = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; self->dirs[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      GFileMonitor *monitor;

      if (!g_file_test (self->dirs[i], G_FILE_TEST_IS_DIR))
        {
          watch_parent (self, self->dirs[i]);
          continue;
        }
      monitor = monitor_dir (self->dirs[i], &error);
      if (monitor == NULL)
        {
          g_warning ("%s: policy changes there need a restart: %s", self->dirs[i], error->message);
          continue;
        }
      g_signal_connect (monitor, "changed", G_CALLBACK (on_dir_changed), self);
      g_ptr_array_add (self->monitors, monitor);
    }
  /* cancelled once the new ones are in place, so that a directory watched by both is
   * never left unwatched */
  vpush_bouncer_cancel_monitors (self, old);
}

static void
reload (VpushBouncer *self, const gchar *why)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *what = NULL;

  vpush_bouncer_watch (self);
  policy = vpush_policy_load_dirs ((const gchar *const *)self->dirs, self->require_root, &error);
  if (policy == NULL)
    {
      g_warning ("policy not reloaded%s, the previous one stays in force: %s", why, error->message);
      return;
    }
  g_set_object (&self->policy, policy);
  what = g_strconcat ("reloaded", why, NULL);
  vpush_bouncer_log_policy (self, what);
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
static void
on_dir_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                VpushBouncer *self)
{
  g_autofree gchar *path = file != NULL ? g_file_get_path (file) : NULL;
  g_autofree gchar *other_path = other != NULL ? g_file_get_path (other) : NULL;

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

  if (is_path (file, awaited) || is_path (other, awaited))
    schedule_reload (self);
}
