/* The poll schedule's backoff (vpushd.conf(5), README "When things fail"): after failed
 * polls the interval doubles, up to 8 times, and at most to 10 minutes unless the
 * interval itself is longer. */
#include "vpush-poller.h"

static void
test_backoff (void)
{
  /* interval 60 s: 60, 120, 240, 480, then 480 for good */
  static const guint minute[] = { 60, 120, 240, 480, 480, 480 };
  /* interval 300 s (with push): 8x would be 40 minutes, the cap is 10 */
  static const guint with_push[] = { 300, 600, 600, 600 };

  for (guint i = 0; i < G_N_ELEMENTS (minute); i++)
    g_assert_cmpuint (vpush_poller_backoff_s (60, i), ==, minute[i]);
  for (guint i = 0; i < G_N_ELEMENTS (with_push); i++)
    g_assert_cmpuint (vpush_poller_backoff_s (300, i), ==, with_push[i]);
  /* an interval longer than the cap is not shortened, nor lengthened */
  g_assert_cmpuint (vpush_poller_backoff_s (3600, 0), ==, 3600);
  g_assert_cmpuint (vpush_poller_backoff_s (3600, 5), ==, 3600);
  /* many failures do not overflow the shift */
  g_assert_cmpuint (vpush_poller_backoff_s (1, G_MAXUINT), ==, 8);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/poller/backoff", test_backoff);
  return g_test_run ();
}
