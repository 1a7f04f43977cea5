/* Unit tests for the memory of answers whose outcome is not known (vpush-answer-memory.c):
 * kept until the challenge expires, at most VPUSH_ANSWER_MEMORY_MAX, the oldest going
 * first. */
#include "vpush-answer-memory.h"

static void
test_answer_memory_expiry (void)
{
  g_autoptr (VpushAnswerMemory) memory = vpush_answer_memory_new ();

  vpush_answer_memory_remember (memory, "YC1", "approved", 1000, 900);
  vpush_answer_memory_remember (memory, "YC2", "denied", 2000, 900);
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC1", 999), ==, "approved");
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC2", 999), ==, "denied");
  g_assert_null (vpush_answer_memory_lookup (memory, "YC3", 999));
  /* the challenge expired: whatever it shows was not the answer's doing any more */
  g_assert_null (vpush_answer_memory_lookup (memory, "YC1", 1000));
  vpush_answer_memory_forget (memory, "YC2");
  g_assert_null (vpush_answer_memory_lookup (memory, "YC2", 999));
}

static void
test_answer_memory_bound (void)
{
  g_autoptr (VpushAnswerMemory) memory = vpush_answer_memory_new ();
  g_autofree gchar *last = g_strdup_printf ("YC%u", VPUSH_ANSWER_MEMORY_MAX);

  for (guint i = 0; i <= VPUSH_ANSWER_MEMORY_MAX; i++)
    {
      g_autofree gchar *sid = g_strdup_printf ("YC%u", i);

      vpush_answer_memory_remember (memory, sid, "approved", 1000, 0);
    }
  /* one too many: the first remembered is the one forgotten */
  g_assert_null (vpush_answer_memory_lookup (memory, "YC0", 0));
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, "YC1", 0), ==, "approved");
  g_assert_cmpstr (vpush_answer_memory_lookup (memory, last, 0), ==, "approved");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/answer-memory/expiry", test_answer_memory_expiry);
  g_test_add_func ("/answer-memory/bound", test_answer_memory_bound);
  return g_test_run ();
}
