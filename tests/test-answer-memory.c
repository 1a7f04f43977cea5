/* Unit tests for the memory of answers whose outcome is not known (vpush-answer-memory.c):
 * kept until the challenge expires, at most VPUSH_ANSWER_MEMORY_MAX, the oldest going
 * first, each for the caller that sent it. */
#include "vpush-answer-memory.h"

static void
test_answer_memory_expiry (void)
{
  g_autoptr (VpushAnswerMemory) memory = vpush_answer_memory_new ();

  vpush_answer_memory_remember (memory, "YC1", "approved", "exe:/usr/bin/kiosk", 1000, 900);
  vpush_answer_memory_remember (memory, "YC2", "denied", "exe:/usr/bin/kiosk", 2000, 900);
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC1", "exe:/usr/bin/kiosk", 999), ==,
                   "approved");
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC2", "exe:/usr/bin/kiosk", 999), ==,
                   "denied");
  g_assert_null (vpush_answer_memory_lookup (memory, "YC3", "exe:/usr/bin/kiosk", 999));
  /* another caller's answer is not this one's to claim, nor one of no known caller */
  g_assert_null (vpush_answer_memory_lookup (memory, "YC1", "exe:/usr/bin/other", 999));
  g_assert_null (vpush_answer_memory_lookup (memory, "YC1", NULL, 999));
  /* the challenge expired: whatever it shows was not the answer's doing any more */
  g_assert_null (vpush_answer_memory_lookup (memory, "YC1", "exe:/usr/bin/kiosk", 1000));
  vpush_answer_memory_forget (memory, "YC2");
  g_assert_null (vpush_answer_memory_lookup (memory, "YC2", "exe:/usr/bin/kiosk", 999));
}

static void
test_answer_memory_bound (void)
{
  g_autoptr (VpushAnswerMemory) memory = vpush_answer_memory_new ();
  g_autofree gchar *last = g_strdup_printf ("YC%u", VPUSH_ANSWER_MEMORY_MAX);

  for (guint i = 0; i <= VPUSH_ANSWER_MEMORY_MAX; i++)
    {
      g_autofree gchar *sid = g_strdup_printf ("YC%u", i);

      vpush_answer_memory_remember (memory, sid, "approved", "exe:/usr/bin/kiosk", 1000, 0);
    }
  /* one too many: the first remembered is the one forgotten */
  g_assert_null (vpush_answer_memory_lookup (memory, "YC0", "exe:/usr/bin/kiosk", 0));
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC1", "exe:/usr/bin/kiosk", 0), ==,
                   "approved");
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, last, "exe:/usr/bin/kiosk", 0), ==,
                   "approved");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/answer-memory/expiry", test_answer_memory_expiry);
  g_test_add_func ("/answer-memory/bound", test_answer_memory_bound);
  return g_test_run ();
}
