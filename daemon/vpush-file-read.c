/* Reading the files vpushd is given (configuration, policy) and keeps (state): bounded,
 * whole, never waiting on a FIFO or a device, and for the policy only root's. */
#include "vpush-file-read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vpush-root-path.h"

gboolean
vpush_file_root_only (const struct stat *st)
{
  return st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* What keeps st from being read as a configuration, policy or state file, NULL if nothing */
static gchar *
unfit_reason (const struct stat *st, gboolean require_root)
{
  if (S_ISDIR (st->st_mode))
    return g_strdup ("is a directory");
  if (!S_ISREG (st->st_mode))
    return g_strdup ("is not a regular file");
  if (st->st_size > VPUSH_FILE_READ_MAX)
    return g_strdup_printf ("has %" G_GINT64_FORMAT " bytes", (gint64)st->st_size);
  if (require_root && st->st_uid != 0)
    return g_strdup_printf ("is owned by uid %u", (guint)st->st_uid);
  if (require_root && !vpush_file_root_only (st))
    return g_strdup_printf ("is writable by %s (mode %04o)",
                            (st->st_mode & S_IWOTH) ? "everyone" : "its group",
                            (guint)(st->st_mode & 07777));
  return NULL;
}

gboolean
vpush_file_read (const gchar *path, gboolean require_root, gchar **out_data, gsize *out_length,
                 GError **error)
{
  g_autofree gchar *unfit = NULL;
  g_autofree gchar *buffer = NULL;
  gsize length = 0, size;
  struct stat st;
  int fd;

  /* O_NONBLOCK: opening a FIFO would wait for a writer */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int saved_errno = errno;
      g_autofree gchar *target = NULL;

      if (fd >= 0)
        close (fd);
      /* "No such file" of a file that is there, a symlink to nothing, says too little */
      if (saved_errno == ENOENT && (target = g_file_read_link (path, NULL)) != NULL)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                       "%s: a symlink to “%s”, which does not exist", path, target);
          return FALSE;
        }
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                   g_strerror (saved_errno));
      return FALSE;
    }
  unfit = unfit_reason (&st, require_root);
  if (unfit == NULL && require_root)
    {
      struct stat chased;

      /* what the path names must be root's choice too, not only root's file */
      if (!vpush_root_path_check (path, &chased, error))
        {
          close (fd);
          return FALSE;
        }
      if (chased.st_dev != st.st_dev || chased.st_ino != st.st_ino)
        unfit = g_strdup ("was replaced as it was opened");
    }
  if (unfit != NULL)
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                   "%s: must be a regular file of at most %d bytes%s, and it %s", path,
                   VPUSH_FILE_READ_MAX,
                   require_root ? ", owned by root and writable by nobody else" : "", unfit);
      return FALSE;
    }
  /* read, not mapped: a file cut short meanwhile would end a mapping's reader with SIGBUS */
  size = (gsize)st.st_size + 1; /* one more, to see the end or a file that grew */
  buffer = g_malloc (size + 1);
  while (length <= VPUSH_FILE_READ_MAX)
    {
      gssize n;

      if (length == size)
        {
          size = MIN (size * 2, (gsize)VPUSH_FILE_READ_MAX + 1);
          buffer = g_realloc (buffer, size + 1);
        }
      n = read (fd, buffer + length, size - length);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          close (fd);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                       g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        break;
      length += (gsize)n;
    }
  close (fd);
  /* it grew past the limit since fstat() */
  if (length > VPUSH_FILE_READ_MAX)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                   "%s: must be a regular file of at most %d bytes, and it grew past that as it "
                   "was read",
                   path, VPUSH_FILE_READ_MAX);
      return FALSE;
    }
  /* not text: what follows a NUL would be read by one reader and not by another */
  if (memchr (buffer, '\0', length) != NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: holds a NUL byte: not a text file",
                   path);
      return FALSE;
    }
  buffer[length] = '\0';
  *out_length = length;
  *out_data = g_steal_pointer (&buffer);
  return TRUE;
}
