#define _GNU_SOURCE
#include "test-syscall-faults.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static gint fail_dir_syncs;
static gint fail_threads;

void
test_faults_fail_dir_syncs (gboolean fail)
{
  g_atomic_int_set (&fail_dir_syncs, fail ? 1 : 0);
}

int fsync (int fd);

int
fsync (int fd)
{
  static int (*real) (int);
  struct stat st;

  if (g_atomic_int_get (&fail_dir_syncs) && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode))
    {
      errno = EIO;
      return -1;
    }
  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fsync");
  return real (fd);
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
