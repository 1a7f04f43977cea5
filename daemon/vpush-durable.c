#include "vpush-durable.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

/* A sync that a signal interrupted (SIGHUP's reload, on a network or FUSE file system) did
 * nothing: made again, not taken for failed, as write() is */
static int
fsync_restarted (int fd)
{
  int r;

  do
    r = fsync (fd);
  while (r != 0 && errno == EINTR);
  return r;
}

/* A directory's entries reach the disk with the directory: after a file in it is created,
 * renamed or removed, a power cut could otherwise undo that. A file system that can't sync
 * a directory (EINVAL: some network and FUSE ones) has nothing more to do for it. */
static gboolean
sync_dir (const gchar *dir, const gchar *what, GError **error)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  int errsv;

  if (fd < 0 || (fsync_restarted (fd) != 0 && errno != EINVAL))
    {
      errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot sync %s after %s: %s",
                   dir, what, g_strerror (errsv));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* Makes path and whatever of its parents is missing (0700), each new directory synced into
 * its parent, as the files in it will be into it: all of them, not only the last, or a
 * power cut could lose the chain above what is written (a first run makes several). An
 * error names asked, the directory wanted. */
static gboolean
make_dirs (const gchar *path, const gchar *asked, GError **error)
{
  g_autofree gchar *parent = NULL;
  g_autofree gchar *what = NULL;
  int errsv;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    return TRUE;
  parent = g_path_get_dirname (path);
  if (strcmp (parent, path) != 0 && !make_dirs (parent, asked, error))
    return FALSE;
  if (g_mkdir (path, 0700) != 0)
    {
      errsv = errno;
      /* made by someone else meanwhile: theirs to sync */
      if (errsv == EEXIST && g_file_test (path, G_FILE_TEST_IS_DIR))
        return TRUE;
      /* a file where a directory should be */
      if (errsv == EEXIST)
        errsv = ENOTDIR;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot create %s: %s", asked,
                   g_strerror (errsv));
      return FALSE;
    }
  what = g_strdup_printf ("creating %s", path);
  /* Gone again, so that the next write makes it anew and syncs it: kept, it would be
   * taken for one that is on disk, and a power cut could still lose it. */
  if (!sync_dir (parent, what, error))
    {
      g_rmdir (path);
      return FALSE;
    }
  return TRUE;
}

/* An existing directory keeps its mode: one open to others is closed, since the names of
 * its files tell which factors the user has. */
gboolean
vpush_durable_ensure_dir (const gchar *path, GError **error)
{
  GStatBuf st;

  if (!make_dirs (path, path, error))
    return FALSE;
  if (g_stat (path, &st) == 0 && (st.st_mode & 077) != 0)
    {
      if (g_chmod (path, 0700) != 0)
        g_warning ("%s is open to other users (mode %04o), and can't be closed: %s", path,
                   (guint)(st.st_mode & 07777), g_strerror (errno));
      else
        g_message ("%s was open to other users (mode %04o); it is 0700 now", path,
                   (guint)(st.st_mode & 07777));
    }
  return TRUE;
}

/* An absent file is not an error (nor one whose directory is not a directory: it can't
 * exist): removing is idempotent. Durable as a write is: the directory is synced, or a power
 * cut could bring the file back after the step that waited for its removal (a record back,
 * its factor deleted at the API). */
gboolean
vpush_durable_remove (const gchar *path, GError **error)
{
  g_autofree gchar *dir = NULL;
  g_autofree gchar *what = NULL;
  int errsv;

  if (g_unlink (path) != 0)
    {
      GStatBuf st;

      errsv = errno;
      if (errsv == ENOENT || errsv == ENOTDIR)
        return TRUE;
      /* a read-only mount refuses the unlink (EROFS) before it looks the name up: what is
       * not there was removed all the same, and nothing can bring it there meanwhile */
      if (g_lstat (path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
        return TRUE;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot remove %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  dir = g_path_get_dirname (path);
  what = g_strdup_printf ("removing %s", path);
  return sync_dir (dir, what, error);
}

static gboolean
write_failed (const gchar *path, const gchar *tmp, int fd, GError **error)
{
  int errsv = errno;

  if (fd >= 0)
    close (fd);
  if (tmp != NULL)
    g_unlink (tmp);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot write %s: %s", path,
               g_strerror (errsv));
  return FALSE;
}

/* Atomic (a temp file "<path>.vpush-tmp-XXXXXX" renamed over the old) and durable (the file synced,
 * then its directory), every step's failure reported. g_file_set_contents_full() syncs the
 * directory too, but says nothing when that fails: the write would be taken for durable. */
gboolean
vpush_durable_write (const gchar *path, const gchar *text, gsize length, GError **error)
{
  g_autofree gchar *tmp = g_strconcat (path, VPUSH_DURABLE_TEMP_MARK "XXXXXX", NULL);
  g_autofree gchar *dir = NULL;
  g_autofree gchar *what = NULL;
  gsize done = 0;
  int fd;

  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return write_failed (path, NULL, -1, error);
  while (done < length)
    {
      gssize n = write (fd, text + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = ENOSPC;
          return write_failed (path, tmp, fd, error);
        }
      done += (gsize)n;
    }
  if (fsync_restarted (fd) != 0)
    return write_failed (path, tmp, fd, error);
  /* Linux releases the fd even when close() fails with EINTR, and the data is synced
   * already: done, and never closed again (the number may be another thread's by now) */
  if (close (fd) != 0 && errno != EINTR)
    return write_failed (path, tmp, -1, error);
  if (g_rename (tmp, path) != 0)
    return write_failed (path, tmp, -1, error);
  dir = g_path_get_dirname (path);
  what = g_strdup_printf ("writing %s", path);
  return sync_dir (dir, what, error);
}
