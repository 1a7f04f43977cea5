/* LD_PRELOAD shim for the integration tests: a suspend, as the clocks see it. While the
 * file named by VPUSH_TEST_SUSPENDED holds a number of seconds, CLOCK_BOOTTIME reads that
 * much later than it is; the monotonic clock of GLib's timers does not move, as in a real
 * suspend. A test writes the file, then has logind's mock announce the resume. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime (clockid_t clock, struct timespec *ts);

static long
suspended_seconds (void)
{
  const char *path = getenv ("VPUSH_TEST_SUSPENDED");
  FILE *f;
  long seconds = 0;

  if (path == NULL || (f = fopen (path, "re")) == NULL)
    return 0;
  if (fscanf (f, "%ld", &seconds) != 1)
    seconds = 0;
  fclose (f);
  return seconds;
}

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
  static int (*real) (clockid_t, struct timespec *);
  int ret;

  if (real == NULL)
    real = (int (*) (clockid_t, struct timespec *))dlsym (RTLD_NEXT, "clock_gettime");
  ret = real (clock, ts);
  if (ret == 0 && (clock == CLOCK_BOOTTIME || clock == CLOCK_BOOTTIME_ALARM))
    ts->tv_sec += suspended_seconds ();
  return ret;
}
