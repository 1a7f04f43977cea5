/* Whether only root decides what a path names. A root-owned file reached through a
 * symlink in a directory a user may write is still the user's choice: the user can point
 * the link at another root-owned file (an editor's backup of a wider policy, the shipped
 * default). So every directory a name is looked up in along the way, the directories of
 * each symlink's target included, must be root's alone. */
#include "vpush-root-path.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "vpush-file-read.h"

/* as the kernel's own limit on symlinks followed in one lookup */
#define MAX_SYMLINKS 40

/* Whether looking up a name in the directory dir_st can only find what root put there:
 * the directory is root's and writable by nobody else, or root's sticky directory (such as
 * /tmp) and the entry is root's, which no one else may then rename or remove. entry_st is
 * NULL for a missing entry, which anyone could create in a sticky directory. */
static gboolean
lookup_is_roots (const struct stat *dir_st, const struct stat *entry_st)
{
  if (vpush_file_root_only (dir_st))
    return TRUE;
  return dir_st->st_uid == 0 && (dir_st->st_mode & S_ISVTX) != 0 && entry_st != NULL
         && entry_st->st_uid == 0;
}

/* Puts the components of path in front of the ones still to look up, in order: todo is
 * a stack, the next one to look up at its end. */
static void
push_components (GPtrArray *todo, const gchar *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);

  for (guint i = g_strv_length (parts); i > 0; i--)
    {
      if (parts[i - 1][0] != '\0' && strcmp (parts[i - 1], ".") != 0)
        g_ptr_array_add (todo, g_strdup (parts[i - 1]));
    }
}

static gboolean
set_errno_error (GError **error, int saved_errno, const gchar *path, const gchar *at)
{
  if (g_strcmp0 (path, at) == 0)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                 g_strerror (saved_errno));
  else
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s: %s", path, at,
                 g_strerror (saved_errno));
  return FALSE;
}

gboolean
vpush_root_path_check (const gchar *path, struct stat *out_st, GError **error)
{
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) cur = g_string_new ("/");
  g_autofree gchar *cwd = NULL;
  struct stat cur_st;
  guint links = 0;

  if (!g_path_is_absolute (path))
    {
      cwd = g_get_current_dir ();
      push_components (todo, path);
      push_components (todo, cwd);
    }
  else
    push_components (todo, path);
  if (lstat ("/", &cur_st) < 0)
    return set_errno_error (error, errno, path, "/");

  while (todo->len > 0)
    {
      g_autofree gchar *name = g_ptr_array_steal_index (todo, todo->len - 1);
      g_autofree gchar *next = NULL;
      struct stat st;
      gboolean found;
      int saved_errno = 0;

      if (strcmp (name, "..") == 0)
        {
          /* cur holds no symlink, and every directory above it was looked up already */
          g_autofree gchar *parent = g_path_get_dirname (cur->str);

          g_string_assign (cur, parent);
          if (lstat (cur->str, &cur_st) < 0)
            return set_errno_error (error, errno, path, cur->str);
          continue;
        }
      next = g_build_filename (cur->str, name, NULL);
      found = lstat (next, &st) == 0;
      if (!found)
        saved_errno = errno;
      if (!lookup_is_roots (&cur_st, found ? &st : NULL))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                       "%s: must be reached only through directories owned by root and "
                       "writable by nobody else, and %s is not (uid %u, mode %04o)",
                       path, cur->str, (guint)cur_st.st_uid, (guint)(cur_st.st_mode & 07777));
          return FALSE;
        }
      if (!found)
        return set_errno_error (error, saved_errno, path, next);
      if (S_ISLNK (st.st_mode))
        {
          g_autofree gchar *target = NULL;
          g_autoptr (GError) local_error = NULL;

          if (++links > MAX_SYMLINKS)
            return set_errno_error (error, ELOOP, path, next);
          target = g_file_read_link (next, &local_error);
          if (target == NULL)
            {
              g_set_error (error, G_FILE_ERROR, local_error->code, "%s: %s", path,
                           local_error->message);
              return FALSE;
            }
          if (g_path_is_absolute (target))
            {
              g_string_assign (cur, "/");
              if (lstat ("/", &cur_st) < 0)
                return set_errno_error (error, errno, path, "/");
            }
          push_components (todo, target);
          continue;
        }
      if (!S_ISDIR (st.st_mode) && todo->len > 0)
        return set_errno_error (error, ENOTDIR, path, next);
      g_string_assign (cur, next);
      cur_st = st;
    }
  *out_st = cur_st;
  return TRUE;
}
