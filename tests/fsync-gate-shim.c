/* LD_PRELOAD shim for the integration tests: a disk that is slow to write. While the file
 * named by VPUSH_TEST_FSYNC_GATE exists, each fsync() and fdatasync() first creates
 * "<gate>.held" and then waits until the gate is removed, so that a test can hold vpushd's
 * durable writes for as long as it needs and release them when it chooses. With
 * VPUSH_TEST_FSYNC_GATE_ONLY set, only an fsync of a file or directory whose path ends with
 * that text waits.
 *
 * A disk that fails: with VPUSH_TEST_FSYNC_FAIL set, an fsync() or fdatasync() of a path
 * ending with that text fails with EIO, the first VPUSH_TEST_FSYNC_FAIL_COUNT times (once if
 * unset), after its work is done, as a sync whose writeback failed. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int fsync (int fd);
int fdatasync (int fd);

static int
path_ends_with (int fd, const char *end)
{
  char link[64];
  char path[4096];
  ssize_t n;
  size_t len;

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n < 0)
    return 0;
  path[n] = '\0';
  len = strlen (end);
  return (size_t)n >= len && strcmp (path + n - len, end) == 0;
}

/* Whether fd is one whose fsync the test wants held */
static int
is_gated (int fd)
{
  const char *only = getenv ("VPUSH_TEST_FSYNC_GATE_ONLY");

  return only == NULL || *only == '\0' || path_ends_with (fd, only);
}

/* Whether this sync of fd is one the test wants failed */
static int
fails (int fd)
{
  static int failed;
  const char *end = getenv ("VPUSH_TEST_FSYNC_FAIL");
  const char *count = getenv ("VPUSH_TEST_FSYNC_FAIL_COUNT");

  if (end == NULL || *end == '\0' || !path_ends_with (fd, end))
    return 0;
  return __atomic_fetch_add (&failed, 1, __ATOMIC_SEQ_CST) < (count ? atoi (count) : 1);
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

static int
sync_through (int (*real) (int), int fd)
{
  wait_at_gate (fd);
  if (real (fd) != 0)
    return -1;
  if (fails (fd))
    {
      errno = EIO;
      return -1;
    }
  return 0;
}

int
fsync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fsync");
  return sync_through (real, fd);
}

int
fdatasync (int fd)
{
  static int (*real) (int);

  if (real == NULL)
    real = (int (*) (int))dlsym (RTLD_NEXT, "fdatasync");
  return sync_through (real, fd);
}
