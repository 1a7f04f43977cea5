#define _GNU_SOURCE
#include "test-syscall-faults.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static gint fail_dir_syncs;
static gint fail_threads;
static gint interrupt_syncs;
static gint interrupted_fd = -1; /* the fd whose sync failed with EINTR last */

void
test_faults_fail_dir_syncs (int errsv)
{
  g_atomic_int_set (&fail_dir_syncs, errsv);
}

void
test_faults_interrupt_syncs (gboolean interrupt)
{
  g_atomic_int_set (&interrupted_fd, -1);
  g_atomic_int_set (&interrupt_syncs, interrupt ? 1 : 0);
}

/* the directories synced, each as often as it was */
static GMutex synced_lock;
static GHashTable *synced;

guint
test_faults_dir_syncs (const gchar *path)
{
  g_autofree gchar *real = realpath (path, NULL);
  guint n;

  g_mutex_lock (&synced_lock);
  n = synced != NULL && real != NULL ? GPOINTER_TO_UINT (g_hash_table_lookup (synced, real)) : 0;
  g_mutex_unlock (&synced_lock);
  return n;
}

static void
count_dir_sync (int fd)
{
  g_autofree gchar *link = g_strdup_printf ("/proc/self/fd/%d", fd);
  gchar *path = g_file_read_link (link, NULL);

  if (path == NULL)
    return;
  g_mutex_lock (&synced_lock);
  if (synced == NULL)
    synced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_replace (
      synced, path, GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (synced, path)) + 1));
  g_mutex_unlock (&synced_lock);
}

static GMutex hold_lock;
static GCond hold_cond;
static gboolean hold_syncs;
static guint syncs_held;

void
test_faults_hold_syncs (gboolean hold)
{
  g_mutex_lock (&hold_lock);
  hold_syncs = hold;
  g_cond_broadcast (&hold_cond);
  g_mutex_unlock (&hold_lock);
}

guint
test_faults_syncs_held (void)
{
  guint n;

  g_mutex_lock (&hold_lock);
  n = syncs_held;
  g_mutex_unlock (&hold_lock);
  return n;
}

int fsync (int fd);

int
fsync (int fd)
{
  static int (*real) (int);
  struct stat st;

  g_mutex_lock (&hold_lock);
  syncs_held++;
  while (hold_syncs)
    g_cond_wait (&hold_cond, &hold_lock);
  syncs_held--;
  g_mutex_unlock (&hold_lock);

  /* one EINTR for each sync: the retry of the fd just interrupted goes through (the same
   * number may come back for the next file, which is interrupted again) */
  if (g_atomic_int_get (&interrupt_syncs)
      && !g_atomic_int_compare_and_exchange (&interrupted_fd, fd, -1))
    {
      g_atomic_int_set (&interrupted_fd, fd);
      errno = EINTR;
      return -1;
    }
  if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode))
    {
      int errsv = g_atomic_int_get (&fail_dir_syncs);

      count_dir_sync (fd);
      if (errsv != 0)
        {
          errno = errsv;
          return -1;
        }
    }
  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fsync");
  return real (fd);
}

static gint fail_unlinks;

void
test_faults_fail_unlinks (int errsv)
{
  g_atomic_int_set (&fail_unlinks, errsv);
}

int unlink (const char *path);

int
unlink (const char *path)
{
  static int (*real) (const char *);
  int errsv = g_atomic_int_get (&fail_unlinks);

  if (errsv != 0)
    {
      errno = errsv;
      return -1;
    }
  if (real == NULL)
    real = (int (*) (const char *))dlsym (RTLD_NEXT, "unlink");
  return real (path);
}

static gint interrupt_closes;
static gint bad_closes;

void
test_faults_interrupt_closes (gboolean interrupt)
{
  g_atomic_int_set (&bad_closes, 0);
  g_atomic_int_set (&interrupt_closes, interrupt ? 1 : 0);
}

guint
test_faults_bad_closes (void)
{
  return (guint)g_atomic_int_get (&bad_closes);
}

int
close (int fd)
{
  static int (*real) (int);
  struct stat st;
  gboolean interrupt;
  int r;

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "close");
  if (!g_atomic_int_get (&interrupt_closes))
    return real (fd);
  interrupt = fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
  r = real (fd);
  if (r != 0 && errno == EBADF)
    g_atomic_int_inc (&bad_closes);
  if (r == 0 && interrupt)
    {
      errno = EINTR;
      return -1;
    }
  return r;
}

static int fail_locks;

void
test_faults_fail_locks (int errsv)
{
  g_atomic_int_set (&fail_locks, errsv);
}

int
fcntl (int fd, int cmd, ...)
{
  static int (*real) (int, int, ...);
  int errsv = g_atomic_int_get (&fail_locks);
  va_list ap;
  void *arg;

  /* every fcntl() command takes one argument at most, an int or a pointer, passed alike */
  va_start (ap, cmd);
  arg = va_arg (ap, void *);
  va_end (ap);
  if (errsv != 0 && (cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK))
    {
      errno = errsv;
      return -1;
    }
  if (real == NULL)
    real = (int (*) (int, int, ...))dlsym (RTLD_NEXT, "fcntl");
  return real (fd, cmd, arg);
}

void
test_faults_fail_threads (gboolean fail)
{
  g_atomic_int_set (&fail_threads, fail ? 1 : 0);
}

int
pthread_create (pthread_t *thread, const pthread_attr_t *attr, void *(*start) (void *), void *arg)
{
  static int (*real) (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

  if (g_atomic_int_get (&fail_threads))
    return EAGAIN;
  if (real == NULL)
    real = (int (*) (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym (
        RTLD_NEXT, "pthread_create");
  return real (thread, attr, start, arg);
}

/* set while unarmed, never freed: a thread in read() may still be comparing with it */
static char truncate_path[PATH_MAX];
static gint truncate_armed;

void
test_faults_truncate_on_access (const gchar *path)
{
  g_assert_false (g_atomic_int_get (&truncate_armed));
  g_strlcpy (truncate_path, path, sizeof truncate_path);
  g_atomic_int_set (&truncate_armed, 1);
}

/* no allocation here: read() is called in every corner of the process */
static void
truncate_if_armed (int fd)
{
  char link[64], target[PATH_MAX];
  ssize_t n;

  if (!g_atomic_int_get (&truncate_armed) || fd < 0)
    return;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, target, sizeof target - 1);
  if (n < 0)
    return;
  target[n] = '\0';
  if (strcmp (target, truncate_path) == 0
      && g_atomic_int_compare_and_exchange (&truncate_armed, 1, 0))
    g_assert_cmpint (truncate (target, 0), ==, 0);
}

void *
mmap (void *addr, size_t length, int prot, int flags, int fd, off_t offset)
{
  static void *(*real) (void *, size_t, int, int, int, off_t);
  void *mapped;

  if (real == NULL)
    real = (void *(*)(void *, size_t, int, int, int, off_t))dlsym (RTLD_NEXT, "mmap");
  mapped = real (addr, length, prot, flags, fd, offset);
  if (mapped != MAP_FAILED)
    truncate_if_armed (fd);
  return mapped;
}

ssize_t
read (int fd, void *buf, size_t count)
{
  static ssize_t (*real) (int, void *, size_t);

  if (real == NULL)
    real = (ssize_t (*) (int, void *, size_t))dlsym (RTLD_NEXT, "read");
  truncate_if_armed (fd);
  return real (fd, buf, count);
}
