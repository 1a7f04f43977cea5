/* LD_PRELOAD shim for the integration tests: a disk that is slow to write. While the file
 * named by VPUSH_TEST_FSYNC_GATE exists, each fsync() and fdatasync() first creates
 * "<gate>.held" and then waits until the gate is removed, so that a test can hold vpushd's
 * durable writes for as long as it needs and release them when it chooses. With
 * VPUSH_TEST_FSYNC_GATE_ONLY set, only an fsync of a file or directory whose path ends with
 * that text waits. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int fsync (int fd);
int fdatasync (int fd);

/* Whether fd is one whose fsync the test wants held */
static int
is_gated (int fd)
{
  const char *only = getenv ("VPUSH_TEST_FSYNC_GATE_ONLY");
  char link[64];
  char path[4096];
  ssize_t n;
  size_t len;

  if (only == NULL || *only == '\0')
    return 1;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n < 0)
    return 0;
  path[n] = '\0';
  len = strlen (only);
  return (size_t)n >= len && strcmp (path + n - len, only) == 0;
}

static void
wait_at_gate (int fd)
{
  const char *gate = getenv ("VPUSH_TEST_FSYNC_GATE");
  const struct timespec pause = { 0, 10 * 1000 * 1000 };
  char held[4096];
  int held_fd;

  if (gate == NULL || access (gate, F_OK) != 0 || !is_gated (fd))
    return;
  snprintf (held, sizeof held, "%s.held", gate);
  held_fd = open (held, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (held_fd >= 0)
    close (held_fd);
  while (access (gate, F_OK) == 0)
    nanosleep (&pause, NULL);
}

int
fsync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fsync");
  wait_at_gate (fd);
  return real (fd);
}

int
fdatasync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fdatasync");
  wait_at_gate (fd);
  return real (fd);
}
