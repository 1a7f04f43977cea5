/* Unit tests for the ration of a caller's audit records (vpush-log-ration.c), on a clock
 * of the test's own: clock_gettime() is defined again here, and GLib's calls of it (its
 * monotonic time, its main loop's) resolve to it as well. */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vpush-log.h"
#include "vpush-names.h"

#define WINDOW_USEC (10 * G_USEC_PER_SEC)
#define CALLER_KEY  "exe:/usr/bin/flood"

/* The monotonic clock while fake_now >= 0: fake_now, which moves on by fake_stride at each
 * reading */
static gint64 fake_now = -1;
static gint64 fake_stride;

int clock_gettime (clockid_t clock, struct timespec *ts);

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
  if (clock != CLOCK_MONOTONIC || fake_now < 0)
    return (int)syscall (SYS_clock_gettime, clock, ts);
  ts->tv_sec = fake_now / G_USEC_PER_SEC;
  ts->tv_nsec = (fake_now % G_USEC_PER_SEC) * 1000;
  fake_now += fake_stride;
  return 0;
}

/* The VPUSH_LEFT_OUT of each count record written */
static GPtrArray *counts;

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const gchar *message_id = NULL;
  const gchar *left_out = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE_ID"))
        message_id = fields[i].value;
      else if (g_str_equal (fields[i].key, VPUSH_LOG_FIELD_LEFT_OUT))
        left_out = fields[i].value;
    }
  if (g_strcmp0 (message_id, VPUSH_MSGID_LEFT_OUT) == 0)
    g_ptr_array_add (counts, g_strdup (left_out));
  return G_LOG_WRITER_HANDLED;
}

static const GLogField caller_fields[] = {
  { VPUSH_LOG_FIELD_CALLER, "/usr/bin/flood (pid 42, :1.7)", -1 },
  { VPUSH_LOG_FIELD_CALLER_EXE, "/usr/bin/flood", -1 },
};

/* A fresh start: no ration open, no count written, the clock at now, still */
static void
reset (gint64 now)
{
  fake_stride = 0;
  fake_now = now;
  vpush_log_ration_flush (TRUE);
  g_ptr_array_set_size (counts, 0);
}

/* n records of the caller; how many of them may be written */
static guint
take (guint n)
{
  guint taken = 0;

  for (guint i = 0; i < n; i++)
    taken += vpush_log_ration_take (CALLER_KEY, caller_fields, G_N_ELEMENTS (caller_fields));
  return taken;
}

/* The sources due by the fake clock run; nothing waits on the real one */
static void
run_due (void)
{
  for (guint i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
}

static void
test_ration_counts (void)
{
  const gint64 start = 1000 * G_USEC_PER_SEC;

  reset (start);
  g_assert_cmpuint (take (VPUSH_LOG_RATION_DEFAULT + 5), ==, VPUSH_LOG_RATION_DEFAULT);
  /* counted, and not told before the window is over */
  fake_now = start + WINDOW_USEC - 1000;
  run_due ();
  g_assert_cmpuint (counts->len, ==, 0);
  fake_now = start + WINDOW_USEC + 2000;
  run_due ();
  g_assert_cmpuint (counts->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (counts, 0), ==, "5");
  /* a new window, a new ration */
  g_assert_cmpuint (take (VPUSH_LOG_RATION_DEFAULT + 1), ==, VPUSH_LOG_RATION_DEFAULT);
  /* what is counted at exit is told then */
  vpush_log_ration_flush (TRUE);
  g_assert_cmpuint (counts->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (counts, 1), ==, "1");
}

/* The wait for the end of a window is read from the clock once: read again for each bound
 * of its clamp, a clock that moved on past the window's end between two readings made it
 * negative, a wait of 49 days for the unsigned timeout, and the count was not told. */
static void
test_ration_flush_wait_read_once (void)
{
  /* wherever the window's end falls among the readings */
  for (gint64 offset = -8000; offset <= 1000; offset += 250)
    {
      const gint64 start = 1000 * G_USEC_PER_SEC;

      g_test_message ("flush %" G_GINT64_FORMAT " us from the window's end", offset);
      reset (start);
      g_assert_cmpuint (take (VPUSH_LOG_RATION_DEFAULT + 1), ==, VPUSH_LOG_RATION_DEFAULT);
      /* a clock 2 ms further on at each reading, as one preempted between them */
      fake_now = start + WINDOW_USEC + offset;
      fake_stride = 2000;
      vpush_log_ration_flush (FALSE);
      fake_stride = 0;
      /* by a minute later the window is over, whenever the flush was set for */
      fake_now = start + WINDOW_USEC + 60 * G_USEC_PER_SEC;
      run_due ();
      g_assert_cmpuint (counts->len, ==, 1);
      g_assert_cmpstr (g_ptr_array_index (counts, 0), ==, "1");
    }
  fake_now = -1;
}

/* [Audit] RecordsPerCaller: the ration set at start; 0 writes every record */
static void
test_ration_limit (void)
{
  reset (1000 * G_USEC_PER_SEC);
  vpush_log_ration_set_limit (3);
  g_assert_cmpuint (take (10), ==, 3);
  vpush_log_ration_flush (TRUE);
  g_assert_cmpuint (counts->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (counts, 0), ==, "7");
  vpush_log_ration_set_limit (0);
  g_assert_cmpuint (take (VPUSH_LOG_RATION_DEFAULT + 10), ==, VPUSH_LOG_RATION_DEFAULT + 10);
  vpush_log_ration_flush (TRUE);
  g_assert_cmpuint (counts->len, ==, 1);
  vpush_log_ration_set_limit (VPUSH_LOG_RATION_DEFAULT);
}

/* A reservation (a change, refused past its ration) takes from the ration as a record does,
 * and past it counts nothing: no record says it was left out, since it was refused */
static void
test_ration_reserve (void)
{
  const gint64 start = 1000 * G_USEC_PER_SEC;
  guint reserved = 0;

  reset (start);
  vpush_log_ration_set_limit (3);
  for (guint i = 0; i < 5; i++)
    reserved += vpush_log_ration_reserve (CALLER_KEY);
  g_assert_cmpuint (reserved, ==, 3);
  g_assert_cmpuint (take (1), ==, 0);
  vpush_log_ration_flush (TRUE);
  g_assert_cmpuint (counts->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (counts, 0), ==, "1");
  /* the next window has room again */
  reset (start + WINDOW_USEC + 1);
  g_assert_true (vpush_log_ration_reserve (CALLER_KEY));
  vpush_log_ration_set_limit (0);
  for (guint i = 0; i < 10; i++)
    g_assert_true (vpush_log_ration_reserve (CALLER_KEY));
  vpush_log_ration_set_limit (VPUSH_LOG_RATION_DEFAULT);
  vpush_log_ration_flush (TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  counts = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (writer, NULL, NULL);
  g_test_add_func ("/log-ration/counts", test_ration_counts);
  g_test_add_func ("/log-ration/flush-wait-read-once", test_ration_flush_wait_read_once);
  g_test_add_func ("/log-ration/limit", test_ration_limit);
  g_test_add_func ("/log-ration/reserve", test_ration_reserve);
  return g_test_run ();
}
