/* The helpers of test-policy-common.h. */
#include "test-policy-common.h"

VpushCaller *
caller_new (const gchar *exe, const gchar *unit, const gchar *app_id)
{
  VpushCaller *caller = vpush_caller_new ();

  caller->sender = g_strdup (":1.42");
  caller->pid = 4242;
  caller->exe = g_strdup (exe);
  caller->unit = g_strdup (unit);
  caller->app_id = g_strdup (app_id);
  return caller;
}

VpushPolicyQuery
approve_query (const VpushCaller *caller)
{
  return (VpushPolicyQuery){
    .action = VPUSH_ACTION_APPROVE,
    .match = VPUSH_MATCH_TRANSACTION_ID,
    .caller = caller,
    .session = VPUSH_SESSION_ACTIVE,
    .factor_sid = FACTOR,
    .factor_name = "Shop kiosk",
    .challenge_age = 5,
  };
}

const gchar *
check (VpushPolicy *policy, const VpushPolicyQuery *query, gchar **reason)
{
  const gchar *closest = NULL;

  return vpush_policy_check (policy, query, &closest, reason);
}

void
assert_refused (VpushPolicy *policy, const VpushPolicyQuery *query, const gchar *in_reason)
{
  g_autofree gchar *reason = NULL;
  const gchar *rule = check (policy, query, &reason);

  g_assert_null (rule);
  g_assert_nonnull (reason);
  if (strstr (reason, in_reason) == NULL)
    g_error ("“%s” is not in the reason “%s”", in_reason, reason);
}

void
policy_test_init (int *argc, char ***argv)
{
  /* GKeyFile keeps the translations of the locale it runs in: the C locale keeps none, so
   * a Callers[en]= that vpushd did not refuse would go unseen here, not pass as refused */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (argc, argv, NULL);
}
