#define _GNU_SOURCE
#include "test-syscall-faults.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static gint fail_dir_syncs;

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
