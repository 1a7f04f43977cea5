/* LD_PRELOAD shim for the integration tests: a file system that hangs, as a network file
 * system whose server does not answer. While the file named by VPUSH_TEST_OPEN_GATE exists,
 * each open() of a path that ends with VPUSH_TEST_OPEN_GATE_ONLY first creates
 * "<gate>.held" and then waits until the gate is removed, so that a test can hold vpushd's
 * read of a policy file for as long as it needs and release it when it chooses. Other
 * paths, and every path while the gate is missing, are opened at once. */

#define _GNU_SOURCE
/* open() and open64() are both defined here, not one renamed to the other */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*OpenFunc) (const char *path, int flags, ...);

int open (const char *path, int flags, ...);
int open64 (const char *path, int flags, ...);

static int
is_gated (const char *path)
{
  const char *only = getenv ("VPUSH_TEST_OPEN_GATE_ONLY");
  size_t len, end;

  if (path == NULL || only == NULL || *only == '\0')
    return 0;
  len = strlen (path);
  end = strlen (only);
  return len >= end && strcmp (path + len - end, only) == 0;
}

static void
wait_at_gate (OpenFunc real, const char *path)
{
  const char *gate = getenv ("VPUSH_TEST_OPEN_GATE");
  const struct timespec pause = { 0, 10 * 1000 * 1000 };
  char held[4096];
  int held_fd;

  if (gate == NULL || !is_gated (path) || access (gate, F_OK) != 0)
    return;
  snprintf (held, sizeof held, "%s.held", gate);
  held_fd = real (held, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (held_fd >= 0)
    close (held_fd);
  while (access (gate, F_OK) == 0)
    nanosleep (&pause, NULL);
}

static int
open_through (OpenFunc real, const char *path, int flags, mode_t mode)
{
  wait_at_gate (real, path);
  return real (path, flags, mode);
}

static mode_t
mode_of (int flags, va_list args)
{
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg (args, mode_t) : 0;
}

int
open (const char *path, int flags, ...)
{
  static OpenFunc real;
  va_list args;
  mode_t mode;

  if (real == NULL)
    real = (OpenFunc)dlsym (RTLD_NEXT, "open");
  va_start (args, flags);
  mode = mode_of (flags, args);
  va_end (args);
  return open_through (real, path, flags, mode);
}

int
open64 (const char *path, int flags, ...)
{
  static OpenFunc real;
  va_list args;
  mode_t mode;

  if (real == NULL)
    real = (OpenFunc)dlsym (RTLD_NEXT, "open64");
  va_start (args, flags);
  mode = mode_of (flags, args);
  va_end (args);
  return open_through (real, path, flags, mode);
}
