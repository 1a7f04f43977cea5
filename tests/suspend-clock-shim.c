/* LD_PRELOAD shim for the integration tests, also linked into test-verify-clock: the
 * clocks of a suspend, and of the wall clock stepped (by NTP, say). While the file named by
 * VPUSH_TEST_SUSPENDED holds a number of seconds, CLOCK_BOOTTIME reads that much later
 * than it is; the monotonic clock of GLib's timers does not move, as in a real suspend. A
 * test writes the file, then has logind's mock announce the resume. While the file named
 * by VPUSH_TEST_CLOCK_STEP holds a number of seconds, the wall clock (CLOCK_REALTIME,
 * gettimeofday(), time()) reads that much later, and no other clock moves. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

int clock_gettime (clockid_t clock, struct timespec *ts);
int gettimeofday (struct timeval *restrict tv, void *restrict tz);
time_t time (time_t *out);

static long
seconds_in (const char *variable)
{
  const char *path = getenv (variable);
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
    ts->tv_sec += seconds_in ("VPUSH_TEST_SUSPENDED");
  else if (ret == 0
           && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE
               || clock == CLOCK_REALTIME_ALARM))
    ts->tv_sec += seconds_in ("VPUSH_TEST_CLOCK_STEP");
  return ret;
}

int
gettimeofday (struct timeval *restrict tv, void *restrict tz)
{
  static int (*real) (struct timeval *restrict, void *restrict);
  int ret;

  if (real == NULL)
    real = (int (*) (struct timeval *restrict, void *restrict))dlsym (RTLD_NEXT, "gettimeofday");
  ret = real (tv, tz);
  if (ret == 0)
    tv->tv_sec += seconds_in ("VPUSH_TEST_CLOCK_STEP");
  return ret;
}

time_t
time (time_t *out)
{
  struct timespec ts;

  if (clock_gettime (CLOCK_REALTIME, &ts) != 0)
    return (time_t)-1;
  if (out != NULL)
    *out = ts.tv_sec;
  return ts.tv_sec;
}
