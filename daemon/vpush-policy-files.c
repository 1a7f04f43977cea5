/* The policy's files: which of the policy directories' files apply, and reading them
 * safely. The rules' syntax is vpush-policy.c's. */
#include "vpush-policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vpush-policy-resources.h"
#include "vpush-root-path.h"
#include "vpush-file-read.h"

#define BUILTIN_RESOURCE "/io/github/vpush/policy/default.conf"
#define BUILTIN_ORIGIN   "built-in default policy"

/* Adds dir's *.conf names not seen yet; a missing directory has none. */
gboolean
vpush_policy_is_file_name (const gchar *name)
{
  return name[0] != '.' && g_str_has_suffix (name, ".conf");
}

static gboolean
scan_dir (const gchar *dir, gboolean require_root, GHashTable *paths, GError **error)
{
  g_autoptr (GDir) listing = NULL;
  g_autoptr (GError) local_error = NULL;
  struct stat st;
  const gchar *name;

  if (require_root)
    {
      /* a missing directory has no files only if no one but root could make it */
      if (!vpush_root_path_check (dir, &st, &local_error))
        {
          if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  else if (stat (dir, &st) < 0)
    {
      int saved = errno;

      if (saved == ENOENT)
        return TRUE;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (require_root && !vpush_file_root_only (&st))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s: a policy directory must be owned by root and writable by nobody else", dir);
      return FALSE;
    }
  listing = g_dir_open (dir, 0, &local_error);
  if (listing == NULL)
    {
      /* removed since it was looked at: as a missing one */
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      if (vpush_policy_is_file_name (name) && !g_hash_table_contains (paths, name))
        g_hash_table_insert (paths, g_strdup (name), g_build_filename (dir, name, NULL));
    }
  return TRUE;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *)a, *(const gchar *const *)b);
}

/* A file listed but removed before it was opened is one removed just after the listing:
 * its removal is read again anyway (the monitor saw it), and in the meantime the policy
 * is the one without it rather than the previous one. A symlink to nothing stays an
 * error. */
static gboolean
was_removed (const gchar *path, const GError *error)
{
  struct stat st;

  return g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) && lstat (path, &st) < 0
         && errno == ENOENT;
}

static gboolean
add_builtin (VpushPolicy *self, GError **error)
{
  g_autoptr (GBytes) builtin
      = g_resource_lookup_data (vpush_policy_resources_get_resource (), BUILTIN_RESOURCE, 0, error);
  gsize length;
  const gchar *data;

  if (builtin == NULL)
    return FALSE;
  data = g_bytes_get_data (builtin, &length);
  return vpush_policy_add_data (self, data, length, BUILTIN_ORIGIN, error);
}

VpushPolicy *
vpush_policy_load_dirs (const gchar *const *dirs, gboolean require_root, GError **error)
{
  g_autoptr (VpushPolicy) self = vpush_policy_new ();
  g_autoptr (GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree gpointer *names = NULL;
  guint n_names, n_read = 0;

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      if (!scan_dir (dirs[i], require_root, paths, error))
        return NULL;
    }

  names = g_hash_table_get_keys_as_array (paths, &n_names);
  qsort (names, n_names, sizeof (gpointer), compare_names);
  for (guint i = 0; i < n_names; i++)
    {
      const gchar *path = g_hash_table_lookup (paths, names[i]);
      g_autoptr (GError) local_error = NULL;
      g_autofree gchar *data = NULL;
      gsize length;

      if (!vpush_file_read (path, require_root, &data, &length, &local_error))
        {
          if (was_removed (path, local_error))
            {
              g_debug ("policy file removed as the policy was read: %s", path);
              continue;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      if (!vpush_policy_add_data (self, data, length, path, error))
        return NULL;
      n_read++;
    }
  /* the built-in policy applies when there are no policy files */
  if (n_read == 0 && !add_builtin (self, error))
    return NULL;
  return g_steal_pointer (&self);
}
