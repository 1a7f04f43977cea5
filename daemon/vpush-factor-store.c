#include "vpush-factor-store.h"
#include "vpush-factor-store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "vpush-durable.h"
#include "vpush-enrollment.h"
#include "vpush-http.h"
#include "vpush-json-write.h"
#include "vpush-json.h"
#include "vpush-time.h"
#include "vpush-file-read.h"

#define FACTORS_SUBDIR   "factors"
#define ENROLLING_SUBDIR "enrolling"
#define CLOCK_FILE       "clock.json"
/* a write puts "<name>.vpush-tmp-XXXXXX" first and renames it to "<name>" (vpush-durable.c) */
#define TEMP_SUFFIX_LEN 6

/* One state directory serves one vpushd: another would take its writes under way for a
 * crash's leftovers, and finish or undo its enrollments under way. */
#define LOCK_FILE "lock"

G_DEFINE_TYPE (VpushFactorStore, vpush_factor_store, G_TYPE_OBJECT)

static void
vpush_factor_store_finalize (GObject *object)
{
  VpushFactorStore *self = VPUSH_FACTOR_STORE (object);

  /* Every queued write holds a reference to the store: none is left by now, so there is
   * nothing to wait for. Waiting could not end anyway when the writer's thread dropped the
   * last reference (its write's task outlived the caller's callback): the pool would wait
   * for the thread that is waiting. */
  if (self->writer != NULL)
    g_thread_pool_free (self->writer, FALSE, FALSE);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->idle);
  g_free (self->dir);
  g_free (self->factors_dir);
  g_free (self->enrolling_dir);
  g_free (self->clock_path);
  if (self->lock_fd >= 0)
    close (self->lock_fd);
  G_OBJECT_CLASS (vpush_factor_store_parent_class)->finalize (object);
}

static void
vpush_factor_store_class_init (VpushFactorStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vpush_factor_store_finalize;
}

static void
vpush_factor_store_init (VpushFactorStore *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->idle);
  self->lock_fd = -1;
}

/* ---- the writer: a queue, so that the main loop never waits on the disk ---- */

static void
store_write_free (StoreWrite *w)
{
  g_free (w->path);
  g_free (w->text);
  g_free (w->dir);
  g_clear_pointer (&w->names, g_ptr_array_unref);
  g_free (w);
}

static gboolean record_exists (const gchar *path);

/* In the writer's thread */
static void
writer_run (gpointer data, gpointer user_data)
{
  g_autoptr (GTask) task = data;
  VpushFactorStore *self = g_task_get_source_object (task);
  StoreWrite *w = g_task_get_task_data (task);
  GError *error = NULL;
  gboolean ok;

  if (w->names != NULL)
    {
      GPtrArray *unowned = vpush_factor_store_find_unowned (self, w->names, &error);

      if (unowned == NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, unowned, (GDestroyNotify)g_ptr_array_unref);
      goto done;
    }
  if (w->check)
    {
      g_task_return_boolean (task, w->path != NULL && record_exists (w->path));
      goto done;
    }
  ok = (w->dir == NULL || vpush_durable_ensure_dir (w->dir, &error))
       && (w->text != NULL ? vpush_durable_write (w->path, w->text, w->length, &error)
                           : vpush_durable_remove (w->path, &error));
  if (!ok)
    {
      if (w->warn)
        g_warning ("%s", error->message);
      g_task_return_error (task, error);
    }
  else
    g_task_return_boolean (task, TRUE);

done:
  /* the task's reference keeps the store until this returns */
  g_mutex_lock (&self->lock);
  if (--self->queued == 0)
    g_cond_broadcast (&self->idle);
  g_mutex_unlock (&self->lock);
}

void
vpush_factor_store_queue_task (VpushFactorStore *self, StoreWrite *w, GTask *task)
{
  g_task_set_task_data (task, w, (GDestroyNotify)store_write_free);
  g_mutex_lock (&self->lock);
  self->queued++;
  g_mutex_unlock (&self->lock);
  /* the pool's thread runs from the store's start: a push starts none, and can't fail */
  g_thread_pool_push (self->writer, task, NULL);
}

void
vpush_factor_store_queue_write (VpushFactorStore *self, StoreWrite *w, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, vpush_factor_store_queue_write);
  w->warn = callback == NULL;
  vpush_factor_store_queue_task (self, w, task);
}

/* A request that can't be written: told the way a failed write is */
void
vpush_factor_store_report_error (VpushFactorStore *self, GAsyncReadyCallback callback,
                                 gpointer user_data, GError *error)
{
  if (callback == NULL)
    {
      g_warning ("%s", error->message);
      g_error_free (error);
      return;
    }
  g_task_report_error (self, callback, user_data, vpush_factor_store_queue_write, error);
}

gboolean
vpush_factor_store_write_finish (VpushFactorStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
vpush_factor_store_flush (VpushFactorStore *self)
{
  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  g_mutex_lock (&self->lock);
  while (self->queued > 0)
    g_cond_wait (&self->idle, &self->lock);
  g_mutex_unlock (&self->lock);
}

/* Before anything in the directory is touched. The lock file holds the pid of the
 * vpushd that has it, for the message of the next one. */
static gboolean
take_lock (VpushFactorStore *self, GError **error)
{
  g_autofree gchar *path = g_build_filename (self->dir, LOCK_FILE, NULL);
  g_autofree gchar *pid = NULL;
  struct flock whole = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int saved_errno;

  self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (self->lock_fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "cannot open %s: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  /* a POSIX record lock, the process's: a test's second store of one directory shares it */
  if (fcntl (self->lock_fd, F_SETLK, &whole) < 0)
    {
      gchar text[32] = "";
      gssize n;

      saved_errno = errno;
      /* a file system without POSIX locks (NFS without its lock daemon, some FUSE ones):
       * vpushd ran there before it took the lock, and runs there still, unguarded */
      if (saved_errno == ENOLCK || saved_errno == ENOSYS || saved_errno == EOPNOTSUPP)
        {
          g_warning ("cannot lock %s (%s): a second vpushd of this state directory would "
                     "not be kept out",
                     path, g_strerror (saved_errno));
          return TRUE;
        }
      if (saved_errno != EACCES && saved_errno != EAGAIN)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "cannot lock %s: %s",
                       path, g_strerror (saved_errno));
          return FALSE;
        }
      n = pread (self->lock_fd, text, sizeof text - 1, 0);
      text[MAX (n, 0)] = '\0';
      g_strstrip (text);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   "the state directory %s is in use by another vpushd%s%s%s: one state "
                   "directory serves one vpushd (--replace, too, takes over only from one "
                   "with a state directory of its own)",
                   self->dir, *text != '\0' ? " (pid " : "", text, *text != '\0' ? ")" : "");
      return FALSE;
    }
  pid = g_strdup_printf ("%d\n", (int)getpid ());
  /* only for a message: a failure to write it changes nothing */
  if (ftruncate (self->lock_fd, 0) < 0 || pwrite (self->lock_fd, pid, strlen (pid), 0) < 0)
    g_debug ("could not write the pid into %s: %s", path, g_strerror (errno));
  return TRUE;
}

VpushFactorStore *
vpush_factor_store_new (const gchar *dir, GError **error)
{
  g_autoptr (VpushFactorStore) self = NULL;
  g_autoptr (GError) local_error = NULL;
  struct stat st;

  g_return_val_if_fail (dir != NULL, NULL);

  self = g_object_new (VPUSH_TYPE_FACTOR_STORE, NULL);
  self->dir = g_strdup (dir);
  self->factors_dir = g_build_filename (dir, FACTORS_SUBDIR, NULL);
  self->enrolling_dir = g_build_filename (dir, ENROLLING_SUBDIR, NULL);
  self->clock_path = g_build_filename (dir, CLOCK_FILE, NULL);
  /* Exclusive: its thread is made now, and a store that can't have one is refused. A
   * shared pool makes it at the first push, and when that fails the write waits in the
   * queue, for ever if nothing else is written (the exit's flush with it). */
  self->writer = g_thread_pool_new (writer_run, NULL, 1, TRUE, &local_error);
  if (local_error != NULL)
    {
      /* the pool is returned even so, with no thread */
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot start the thread that writes to %s: ", dir);
      return NULL;
    }
  if (!vpush_durable_ensure_dir (self->dir, error) || !take_lock (self, error)
      || !vpush_durable_ensure_dir (self->factors_dir, error))
    return NULL;
  /* the journal's directory is made by the first enrollment; one found open to others is
   * tightened now, not at the next enrollment */
  if (lstat (self->enrolling_dir, &st) == 0 && S_ISDIR (st.st_mode)
      && !vpush_durable_ensure_dir (self->enrolling_dir, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* A factor sid is the only name part taken from outside, so it must be a plain YF sid and can
 * never hold a '/' or "..". */
static gchar *
record_path (VpushFactorStore *self, const gchar *factor_sid, GError **error)
{
  g_autofree gchar *name = NULL;

  if (factor_sid == NULL || !vpush_sid_is_valid (factor_sid, "YF"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a factor sid: “%s”",
                   factor_sid ? factor_sid : "(null)");
      return NULL;
    }
  name = g_strconcat (factor_sid, RECORD_SUFFIX, NULL);
  return g_build_filename (self->factors_dir, name, NULL);
}

StoreWrite *
vpush_factor_store_write_new_json (gchar *path, JsonNode *node)
{
  StoreWrite *w = g_new0 (StoreWrite, 1);

  w->path = path;
  w->text = vpush_json_to_string (node, TRUE, &w->length);
  return w;
}

StoreWrite *
vpush_factor_store_write_new_removal (gchar *path)
{
  StoreWrite *w = g_new0 (StoreWrite, 1);

  w->path = path;
  return w;
}

/* A state file's JSON: checked as JSON from the network is, since a damaged or planted
 * file must not crash vpushd at its start */
gboolean
vpush_factor_store_load_json (JsonParser *parser, const gchar *path, GError **error)
{
  g_autofree gchar *data = NULL;
  gsize length;

  if (!vpush_file_read (path, FALSE, &data, &length, error))
    return FALSE;
  if (!vpush_json_check (data, length, VPUSH_JSON_MAX_DEPTH, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return json_parser_load_from_data (parser, data, (gssize)length, error);
}

static VpushFactorRecord *
read_record (const gchar *path, const gchar *expected_sid, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (VpushFactorRecord) record = NULL;

  if (!vpush_factor_store_load_json (parser, path, error))
    return NULL;
  record = vpush_factor_record_new_from_json (json_parser_get_root (parser), error);
  if (record == NULL)
    return NULL;
  if (g_strcmp0 (record->sid, expected_sid) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "holds factor “%s”, not the one its name says",
                   record->sid ? record->sid : "(null)");
      return NULL;
    }
  /* Enroll and Update take no other; a hand-edited one would fail and be retried for ever.
   * The factor stays, as one with no push URL, and its topic (a secret) stays out of the log. */
  if (record->push_url != NULL && *record->push_url != '\0')
    {
      g_autoptr (GError) url_error = NULL;

      if (!vpush_http_check_url_unnamed (record->push_url, &url_error))
        {
          g_warning ("factor %s: ignoring its push URL: %s", record->sid, url_error->message);
          g_clear_pointer (&record->push_url, g_free);
        }
    }
  return g_steal_pointer (&record);
}

GPtrArray *
vpush_factor_store_load_all (VpushFactorStore *self, GError **error)
{
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) local_error = NULL;
  const gchar *name;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), NULL);

  records = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_factor_record_free);
  dir = g_dir_open (self->factors_dir, 0, &local_error);
  if (dir == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&records);
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot list %s: ", self->factors_dir);
      return NULL;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *sid = NULL;
      g_autofree gchar *path = NULL;
      g_autoptr (GError) record_error = NULL;
      VpushFactorRecord *record;

      /* Temp files of an interrupted atomic write ("<sid>.json.vpush-tmp-XXXXXX") and anything else
       * not named "<sid>.json" are not ours to read. */
      if (!g_str_has_suffix (name, RECORD_SUFFIX))
        continue;
      sid = g_strndup (name, strlen (name) - strlen (RECORD_SUFFIX));
      if (!vpush_sid_is_valid (sid, "YF"))
        {
          g_debug ("ignoring %s in %s: not a factor record name", name, self->factors_dir);
          continue;
        }

      path = g_build_filename (self->factors_dir, name, NULL);
      record = read_record (path, sid, &record_error);
      if (record == NULL)
        {
          g_warning ("skipping factor record %s: %s", path, record_error->message);
          continue;
        }
      g_ptr_array_add (records, record);
    }
  return g_steal_pointer (&records);
}

void
vpush_factor_store_save_async (VpushFactorStore *self, const VpushFactorRecord *record,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (JsonNode) node = NULL;
  GError *error = NULL;
  gchar *path;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));
  g_return_if_fail (record != NULL);

  path = record_path (self, record->sid, &error);
  if (path == NULL)
    {
      vpush_factor_store_report_error (self, callback, user_data, error);
      return;
    }
  node = vpush_factor_record_to_json (record);
  vpush_factor_store_queue_write (self, vpush_factor_store_write_new_json (path, node), callback,
                                  user_data);
}

void
vpush_factor_store_remove_async (VpushFactorStore *self, const gchar *factor_sid,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;
  gchar *path;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  path = record_path (self, factor_sid, &error);
  if (path == NULL)
    {
      vpush_factor_store_report_error (self, callback, user_data, error);
      return;
    }
  vpush_factor_store_queue_write (self, vpush_factor_store_write_new_removal (path), callback,
                                  user_data);
}

/* Anything there owns the factor's key, also a record that can't be read now (a symlink
 * to a volume not mounted yet, an I/O error): only "no such file" says there is none. */
static gboolean
record_exists (const gchar *path)
{
  GStatBuf st;

  return g_lstat (path, &st) == 0 || errno != ENOENT;
}

gboolean
vpush_factor_store_has_record (VpushFactorStore *self, const gchar *factor_sid)
{
  g_autofree gchar *path = NULL;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), FALSE);

  path = record_path (self, factor_sid, NULL);
  return path != NULL && record_exists (path);
}

void
vpush_factor_store_has_record_async (VpushFactorStore *self, const gchar *factor_sid,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  StoreWrite *w = g_new0 (StoreWrite, 1);
  GTask *task;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  w->check = TRUE;
  w->path = record_path (self, factor_sid, NULL);
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, vpush_factor_store_has_record_async);
  vpush_factor_store_queue_task (self, w, task);
}

gboolean
vpush_factor_store_has_record_finish (VpushFactorStore *self, GAsyncResult *result)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), NULL);
}

/* "<name>.json.vpush-tmp-XXXXXX" where <name>.json is one of our file names: nothing else,
 * though a "YF….json.backup" looks like "<name>.json.XXXXXX", is provably ours to remove */
static gboolean
is_temp_file (const gchar *name)
{
  g_autofree gchar *base = NULL;
  const gchar *dot;
  const gchar *suffix;

  dot = g_strrstr (name, VPUSH_DURABLE_TEMP_MARK);
  if (dot == NULL)
    return FALSE;
  suffix = dot + strlen (VPUSH_DURABLE_TEMP_MARK);
  if (strlen (suffix) != TEMP_SUFFIX_LEN)
    return FALSE;
  for (const gchar *p = suffix; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p))
      return FALSE;
  base = g_strndup (name, dot - name);
  if (!g_str_has_suffix (base, RECORD_SUFFIX))
    return FALSE;
  base[strlen (base) - strlen (RECORD_SUFFIX)] = '\0';
  return vpush_sid_is_valid (base, "YF") || vpush_enrollment_id_is_valid (base)
         || g_str_equal (base, "clock");
}

static guint
remove_temp_files_in (const gchar *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const gchar *name;
  guint removed = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *file = NULL;

      if (!is_temp_file (name))
        continue;
      file = g_build_filename (path, name, NULL);
      if (g_unlink (file) == 0)
        {
          g_message ("removed %s, left by a write that a crash interrupted", file);
          removed++;
        }
      else
        g_warning ("cannot remove %s: %s", file, g_strerror (errno));
    }
  return removed;
}

guint
vpush_factor_store_remove_temp_files (VpushFactorStore *self)
{
  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), 0);

  return remove_temp_files_in (self->dir) + remove_temp_files_in (self->factors_dir)
         + remove_temp_files_in (self->enrolling_dir);
}

/* Missing or unreadable means no correction, as on a fresh install (protocol doc §6). */
gint64
vpush_factor_store_load_clock_offset (VpushFactorStore *self)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  JsonNode *root;
  JsonObject *object;
  JsonNode *offset;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), 0);

  if (!vpush_factor_store_load_json (parser, self->clock_path, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("ignoring clock correction in %s: %s", self->clock_path, error->message);
      return 0;
    }
  root = json_parser_get_root (parser);
  object = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  offset = object ? json_object_get_member (object, "offset_seconds") : NULL;
  if (offset == NULL || json_node_get_value_type (offset) != G_TYPE_INT64)
    {
      g_warning ("ignoring clock correction in %s: no integer offset_seconds", self->clock_path);
      return 0;
    }
  if (json_node_get_int (offset) < -VPUSH_TIME_OFFSET_MAX
      || json_node_get_int (offset) > VPUSH_TIME_OFFSET_MAX)
    {
      g_warning ("ignoring clock correction in %s: offset_seconds %" G_GINT64_FORMAT
                 " is out of range",
                 self->clock_path, json_node_get_int (offset));
      return 0;
    }
  return json_node_get_int (offset);
}

void
vpush_factor_store_save_clock_offset (VpushFactorStore *self, gint64 offset)
{
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr (JsonNode) node = NULL;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "offset_seconds");
  json_builder_add_int_value (builder, offset);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);
  vpush_factor_store_queue_write (
      self, vpush_factor_store_write_new_json (g_strdup (self->clock_path), node), NULL, NULL);
}