/* LD_PRELOAD shim for the integration tests: a disk that is slow to write. While the file
 * named by VPUSH_TEST_FSYNC_GATE exists, each fsync() and fdatasync() first creates
 * "<gate>.held" and then waits until the gate is removed, so that a test can hold vpushd's
 * durable writes for as long as it needs and release them when it chooses. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fsync (int fd);
int fdatasync (int fd);

static void
wait_at_gate (void)
{
  const char *gate = getenv ("VPUSH_TEST_FSYNC_GATE");
  const struct timespec pause = { 0, 10 * 1000 * 1000 };
  char held[4096];
  int fd;

  if (gate == NULL || access (gate, F_OK) != 0)
    return;
  snprintf (held, sizeof held, "%s.held", gate);
  fd = open (held, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0)
    close (fd);
  while (access (gate, F_OK) == 0)
    nanosleep (&pause, NULL);
}

int
fsync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fsync");
  wait_at_gate ();
  return real (fd);
}

int
fdatasync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fdatasync");
  wait_at_gate ();
  return real (fd);
}
