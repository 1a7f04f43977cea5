/* What the policy's unit tests (test-policy.c, test-policy-files.c) share: the callers and
 * the query they ask the policy about, and the checks of its answer. */
#pragma once

#include "vpush-policy.h"

#define SHOP_EXE "/usr/bin/shop-kiosk"
#define SHOP_APP "com.example.Shop"
#define FACTOR   "YF0123456789abcdef0123456789abcdef"
#define FACTOR_2 "YFfedcba9876543210fedcba9876543210"

VpushCaller *caller_new (const gchar *exe, const gchar *unit, const gchar *app_id);
/* An approve by transaction id of FACTOR, from an active session, of a fresh challenge */
VpushPolicyQuery approve_query (const VpushCaller *caller);
const gchar *check (VpushPolicy *policy, const VpushPolicyQuery *query, gchar **reason);
void assert_refused (VpushPolicy *policy, const VpushPolicyQuery *query, const gchar *in_reason);
/* g_test_init() in the C locale */
void policy_test_init (int *argc, char ***argv);
