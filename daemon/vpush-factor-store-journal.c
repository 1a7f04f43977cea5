/* The enrollment journal in the state directory (docs/crash-safety.md): an entry written
 * before an enrollment or a deletion starts and removed once it has ended, the entries read
 * back at start, and which keys neither an entry nor a factor record owns. Apart from
 * vpush-factor-store.c (the store, its writer thread and the factor records): it is what
 * Enroll and Delete leave for the next start to finish or undo (vpush-recovery.c). */
#include "vpush-factor-store.h"
#include "vpush-factor-store-private.h"

#include <string.h>

#include "vpush-time.h"

/* The id is the only name part, and it must be one of ours: never a '/' or "..". */
static gchar *
enrollment_path (VpushFactorStore *self, const gchar *id, GError **error)
{
  g_autofree gchar *name = NULL;

  if (!vpush_enrollment_id_is_valid (id))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not an enrollment id: “%s”",
                   id ? id : "(null)");
      return NULL;
    }
  name = g_strconcat (id, RECORD_SUFFIX, NULL);
  return g_build_filename (self->enrolling_dir, name, NULL);
}

void
vpush_factor_store_save_enrollment_async (VpushFactorStore *self, const VpushEnrollment *enrollment,
                                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (JsonNode) node = NULL;
  GError *error = NULL;
  StoreWrite *w;
  gchar *path;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));
  g_return_if_fail (enrollment != NULL);
  g_return_if_fail (enrollment->service_sid != NULL && enrollment->identity != NULL
                    && enrollment->friendly_name != NULL && enrollment->started_at != NULL);

  path = enrollment_path (self, enrollment->id, &error);
  if (path == NULL)
    {
      vpush_factor_store_report_error (self, callback, user_data, error);
      return;
    }
  node = vpush_enrollment_to_json (enrollment);
  w = vpush_factor_store_write_new_json (path, node);
  w->dir = g_strdup (self->enrolling_dir);
  vpush_factor_store_queue_write (self, w, callback, user_data);
}

void
vpush_factor_store_remove_enrollment_async (VpushFactorStore *self, const gchar *id,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;
  gchar *path;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  path = enrollment_path (self, id, &error);
  if (path == NULL)
    {
      vpush_factor_store_report_error (self, callback, user_data, error);
      return;
    }
  vpush_factor_store_queue_write (self, vpush_factor_store_write_new_removal (path), callback,
                                  user_data);
}

static gint
compare_enrollments (gconstpointer a, gconstpointer b)
{
  const VpushEnrollment *ea = *(const VpushEnrollment *const *)a;
  const VpushEnrollment *eb = *(const VpushEnrollment *const *)b;
  gint64 ta = 0;
  gint64 tb = 0;

  vpush_time_parse (ea->started_at, &ta, NULL);
  vpush_time_parse (eb->started_at, &tb, NULL);
  if (ta != tb)
    return ta < tb ? -1 : 1;
  return strcmp (ea->id, eb->id);
}

GPtrArray *
vpush_factor_store_load_enrollments (VpushFactorStore *self, guint *n_unreadable, GError **error)
{
  g_autoptr (GPtrArray) entries = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) local_error = NULL;
  const gchar *name;
  guint unreadable = 0;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), NULL);

  if (n_unreadable != NULL)
    *n_unreadable = 0;

  entries = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_enrollment_free);
  dir = g_dir_open (self->enrolling_dir, 0, &local_error);
  if (dir == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&entries);
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot list %s: ", self->enrolling_dir);
      return NULL;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *id = NULL;
      g_autofree gchar *path = NULL;
      g_autoptr (JsonParser) parser = json_parser_new_immutable ();
      g_autoptr (GError) entry_error = NULL;
      VpushEnrollment *enrollment = NULL;

      if (!g_str_has_suffix (name, RECORD_SUFFIX))
        continue;
      id = g_strndup (name, strlen (name) - strlen (RECORD_SUFFIX));
      if (!vpush_enrollment_id_is_valid (id))
        {
          g_debug ("ignoring %s in %s: not an enrollment journal name", name, self->enrolling_dir);
          continue;
        }

      path = g_build_filename (self->enrolling_dir, name, NULL);
      if (vpush_factor_store_load_json (parser, path, &entry_error))
        enrollment = vpush_enrollment_new_from_json (json_parser_get_root (parser), &entry_error);
      if (enrollment != NULL && g_strcmp0 (enrollment->id, id) != 0)
        {
          g_set_error (&entry_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "holds enrollment “%s”, not the one its name says", enrollment->id);
          g_clear_pointer (&enrollment, vpush_enrollment_free);
        }
      if (enrollment == NULL)
        {
          g_warning ("skipping enrollment journal entry %s: %s", path, entry_error->message);
          unreadable++;
          continue;
        }
      g_ptr_array_add (entries, enrollment);
    }
  g_ptr_array_sort (entries, compare_enrollments);
  if (n_unreadable != NULL)
    *n_unreadable = unreadable;
  return g_steal_pointer (&entries);
}

/* In the writer's thread: after every write asked for before, and before any asked for
 * after, so that no step of an enrollment comes between the journal read and the records'
 * checks */
GPtrArray *
vpush_factor_store_find_unowned (VpushFactorStore *self, GPtrArray *names, GError **error)
{
  g_autoptr (GPtrArray) journal = NULL;
  g_autoptr (GHashTable) owned = NULL;
  GPtrArray *unowned;
  guint n_unreadable = 0;

  journal = vpush_factor_store_load_enrollments (self, &n_unreadable, error);
  if (journal == NULL)
    return NULL;
  if (n_unreadable > 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%u entries of the enrollment journal can't be read", n_unreadable);
      return NULL;
    }
  owned = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < journal->len; i++)
    {
      VpushEnrollment *entry = g_ptr_array_index (journal, i);

      g_hash_table_add (owned, entry->id);
      if (entry->factor != NULL)
        g_hash_table_add (owned, entry->factor->sid);
    }
  unowned = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < names->len; i++)
    {
      const gchar *name = g_ptr_array_index (names, i);

      if (!g_hash_table_contains (owned, name) && !vpush_factor_store_has_record (self, name))
        g_ptr_array_add (unowned, g_strdup (name));
    }
  return unowned;
}

void
vpush_factor_store_find_unowned_async (VpushFactorStore *self, GPtrArray *names,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  StoreWrite *w = g_new0 (StoreWrite, 1);
  GTask *task;

  g_return_if_fail (VPUSH_IS_FACTOR_STORE (self));

  w->names = g_ptr_array_ref (names);
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, vpush_factor_store_find_unowned_async);
  vpush_factor_store_queue_task (self, w, task);
}

GPtrArray *
vpush_factor_store_find_unowned_finish (VpushFactorStore *self, GAsyncResult *result,
                                        GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
