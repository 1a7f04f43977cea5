/* Unit tests of the policy's rules (daemon/vpush-policy.c) as vpushd reads them from a
 * policy file: each key of a rule (Actions, Callers, Factors, RequireActiveSession, Match,
 * MaxChallengeAgeSeconds) and what it allows, the rules and files refused and why, the
 * first rule that allows a call deciding, and the closest one named in a refusal. The
 * policy read from its directories, reloaded and built in: test-policy-files.c. */
#include <unistd.h>

#include "test-files.h"
#include "test-policy-common.h"

static VpushPolicy *
policy_from (const gchar *text, GError **error)
{
  g_autoptr (VpushPolicy) policy = vpush_policy_new ();

  if (!vpush_policy_add_data (policy, text, -1, "test.conf", error))
    return NULL;
  return g_steal_pointer (&policy);
}

static VpushPolicy *
policy_ok (const gchar *text)
{
  g_autoptr (GError) error = NULL;
  VpushPolicy *policy = policy_from (text, &error);

  g_assert_no_error (error);
  return policy;
}

/* Asserts the text is refused with a message holding every one of the parts. */
static void
assert_broken (const gchar *text, const gchar *const *parts)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushPolicy) policy = policy_from (text, &error);

  g_assert_null (policy);
  g_assert_nonnull (error);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (strstr (error->message, parts[i]) == NULL)
        g_error ("“%s” is not in the error “%s”", parts[i], error->message);
    }
}

#define BROKEN(text, ...) assert_broken (text, (const gchar *const[]){ __VA_ARGS__, NULL })

static void
test_policy_empty (void)
{
  g_autoptr (VpushPolicy) policy = vpush_policy_new ();
  g_autoptr (VpushCaller) shop = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (shop);

  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 0);
  assert_refused (policy, &query, "it needs a rule with Actions=approve and Callers=exe:" SHOP_EXE);
  g_assert_false (vpush_policy_needs_session (policy, &query));

  /* a path no rule can hold (" #" is a comment's start to the parser) is not suggested */
  {
    g_autoptr (VpushCaller) odd = caller_new ("/opt/Shop #2/app", NULL, NULL);
    VpushPolicyQuery odd_query = approve_query (odd);
    g_autofree gchar *reason = NULL;

    g_assert_null (check (policy, &odd_query, &reason));
    g_assert_null (strstr (reason, "exe:/opt/Shop #2"));
    g_assert_nonnull (strstr (reason, "Callers=*, which allows every program (the caller's "
                                      "executable and unit have a “ #”, which a policy value "
                                      "can't hold)"));
  }

  /* a script shows as its interpreter, and a tool may call for whatever program runs it:
   * the hint says what exe: of either would allow */
  {
#define INTERPRETER "an interpreter, though, which would allow every script it runs"
#define RELAY                                                                                      \
  "a tool that calls for whatever program runs it, though, which would allow every program"
    static const struct
    {
      const gchar *exe;
      const gchar *note;
    } wide[] = {
      { "/usr/bin/python3.11", INTERPRETER },
      { "/usr/bin/bash", INTERPRETER },
      { "/usr/bin/perl5.36.0", INTERPRETER },
      { "/usr/bin/node", INTERPRETER },
      { "/usr/bin/gjs-console", INTERPRETER },
      { "/usr/lib/qt5/bin/qmlscene", INTERPRETER },
      { "/usr/bin/vpushctl", RELAY },
      { "/usr/bin/gdbus", RELAY },
      { "/usr/bin/busctl", RELAY },
      { "/usr/bin/dbus-send", RELAY },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (wide); i++)
      {
        g_autoptr (VpushCaller) wide_caller
            = caller_new (wide[i].exe, "app-gnome-com.example.Shop-1234.scope", NULL);
        VpushPolicyQuery wide_query = approve_query (wide_caller);
        g_autofree gchar *expected
            = g_strdup_printf ("Callers=exe:%s (%s", wide[i].exe, wide[i].note);

        assert_refused (policy, &wide_query, expected);
      }
#undef INTERPRETER
#undef RELAY
    /* and only then */
    {
      g_autofree gchar *reason = NULL;

      g_assert_null (check (policy, &query, &reason));
      g_assert_null (strstr (reason, "interpreter"));
      g_assert_null (strstr (reason, "a tool that calls"));
    }
  }

  /* an empty file is a valid policy without rules */
  g_clear_object (&policy);
  policy = policy_ok ("# nothing here\n");
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 0);
  g_assert_cmpstr (vpush_policy_get_sources (policy)[0], ==, "test.conf");
  g_assert_null (vpush_policy_get_sources (policy)[1]);
}

static void
test_policy_full_rule (void)
{
  g_autoptr (VpushPolicy) policy = policy_ok (
      "[Rule shop-kiosk]\n"
      "Actions=approve;deny\n"
      "Callers=flatpak:" SHOP_APP ";unit:app-com.example.Shop-*.scope;exe:" SHOP_EXE "\n"
      "Factors=*\n"
      "RequireActiveSession=true\n"
      "Match=transaction-id\n"
      "MaxChallengeAgeSeconds=120\n");
  g_autoptr (VpushCaller) by_exe = caller_new (SHOP_EXE, NULL, NULL);
  g_autoptr (VpushCaller) by_unit
      = caller_new ("/usr/bin/python3.11", "app-com.example.Shop-1234.scope", NULL);
  g_autoptr (VpushCaller) by_app = caller_new ("/app/bin/shop", NULL, SHOP_APP);
  VpushPolicyQuery query = approve_query (by_exe);

  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 1);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "shop-kiosk");
  query.caller = by_unit;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "shop-kiosk");
  query.caller = by_app;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "shop-kiosk");
  query.action = VPUSH_ACTION_DENY;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "shop-kiosk");
  query.action = VPUSH_ACTION_ENROLL;
  query.match = VPUSH_MATCH_NONE;
  query.challenge_age = -1;
  assert_refused (policy, &query, "Actions=enroll and Callers=flatpak:" SHOP_APP);
}

static void
test_policy_actions (void)
{
  static const VpushAction all[] = {
    VPUSH_ACTION_APPROVE, VPUSH_ACTION_DENY,   VPUSH_ACTION_ENROLL,
    VPUSH_ACTION_UPDATE,  VPUSH_ACTION_DELETE, VPUSH_ACTION_LIST,
  };
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    {
      const gchar *name = vpush_action_to_string (all[i]);
      g_autofree gchar *text = g_strdup_printf ("[Rule one]\nActions= %s ;\nCallers=*\n"
                                                "RequireActiveSession=false\n",
                                                name);
      g_autoptr (VpushPolicy) policy = policy_ok (text);

      for (guint j = 0; j < G_N_ELEMENTS (all); j++)
        {
          VpushPolicyQuery query = approve_query (caller);

          query.action = all[j];
          if (i == j)
            g_assert_cmpstr (check (policy, &query, NULL), ==, "one");
          else
            assert_refused (policy, &query, "no policy rule allows");
        }
    }

  BROKEN ("[Rule r]\nActions=aprove\nCallers=*\n", "test.conf", "rule “r”", "key Actions",
          "unknown action “aprove”");
  BROKEN ("[Rule r]\nActions=approve;deny # silent\nCallers=*\n", "key Actions",
          "comments go on lines of their own");
  /* values that would take a comment in as a pattern, matching nothing */
  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nFactors=Kiosk* # the till\n", "key Factors",
          "comments go on lines of their own", "“?#”");
  BROKEN ("[Rule r]\nActions=approve\nCallers=exe:/usr/bin/shop\t# the app\n", "key Callers",
          "comments go on lines of their own");
  BROKEN ("[Rule r]\nActions=approve\nCallers=unit:shop.service # the app\n", "key Callers",
          "comments go on lines of their own");
  BROKEN ("[Rule r]\nActions=\nCallers=*\n", "rule “r”, key Actions", "missing or empty");
  BROKEN ("[Rule r]\nActions= ; ;\nCallers=*\n", "key Actions", "missing or empty");
  BROKEN ("[Rule r]\nCallers=*\n", "key Actions", "missing or empty");
}

static void
test_policy_callers (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) exe = caller_new (SHOP_EXE, "app-other.scope", NULL);
  g_autoptr (VpushCaller) other_exe = caller_new ("/usr/bin/gdbus", NULL, NULL);
  g_autoptr (VpushCaller) unit = caller_new ("/usr/bin/x", "app-com.example.Shop-99.scope", NULL);
  g_autoptr (VpushCaller) app = caller_new ("/app/bin/shop", NULL, SHOP_APP);
  /* a sandboxed app may show any path or unit inside its sandbox */
  g_autoptr (VpushCaller) sandboxed_exe
      = caller_new (SHOP_EXE, "app-com.example.Shop-1.scope", "org.example.Evil");
  g_autoptr (VpushCaller) anonymous = caller_new (NULL, NULL, NULL);
  VpushPolicyQuery query;

  policy = policy_ok ("[Rule by-exe]\nActions=approve\nCallers=exe:" SHOP_EXE "\n"
                      "RequireActiveSession=false\n");
  query = approve_query (exe);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-exe");
  query.caller = other_exe;
  assert_refused (policy, &query, "Callers=exe:/usr/bin/gdbus");
  query.caller = sandboxed_exe;
  assert_refused (policy, &query, "Callers=flatpak:org.example.Evil");
  query.caller = anonymous;
  assert_refused (policy, &query,
                  "Callers=*, which allows every program (the caller has no "
                  "executable, unit or app id to name)");
  g_clear_object (&policy);

  policy = policy_ok ("[Rule by-unit]\nActions=approve\nCallers=unit:app-com.example.Shop-*\n"
                      "RequireActiveSession=false\n");
  query = approve_query (unit);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-unit");
  query.caller = exe;
  g_assert_null (check (policy, &query, NULL));
  query.caller = sandboxed_exe;
  g_assert_null (check (policy, &query, NULL));
  query.caller = anonymous;
  g_assert_null (check (policy, &query, NULL));
  g_clear_object (&policy);

  policy = policy_ok ("[Rule by-app]\nActions=approve\nCallers=flatpak:" SHOP_APP "\n"
                      "RequireActiveSession=false\n");
  query = approve_query (app);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-app");
  query.caller = exe;
  g_assert_null (check (policy, &query, NULL));
  query.caller = sandboxed_exe;
  g_assert_null (check (policy, &query, NULL));
  g_clear_object (&policy);

  policy = policy_ok ("[Rule anyone]\nActions=approve\nCallers=*\nRequireActiveSession=false\n");
  query = approve_query (anonymous);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "anyone");
  query.caller = sandboxed_exe;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "anyone");
  g_clear_object (&policy);

  /* every process of the user but the Flatpak apps, whatever path or unit they show */
  policy = policy_ok ("[Rule own]\nActions=approve\nCallers=unsandboxed\n"
                      "RequireActiveSession=false\n");
  query = approve_query (exe);
  g_assert_cmpstr (check (policy, &query, NULL), ==, "own");
  query.caller = unit;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "own");
  query.caller = sandboxed_exe;
  assert_refused (policy, &query, "Callers=flatpak:org.example.Evil");
  query.caller = app;
  assert_refused (policy, &query, "Callers=flatpak:" SHOP_APP);

  BROKEN ("[Rule r]\nActions=list\nCallers=snap:shop\n", "rule “r”, key Callers",
          "“snap:shop” is not a caller");
  BROKEN ("[Rule r]\nActions=list\nCallers=flatpak:not an id\n", "key Callers",
          "not a Flatpak application id");
  BROKEN ("[Rule r]\nActions=list\nCallers=flatpak:\n", "key Callers",
          "not a Flatpak application id");
  BROKEN ("[Rule r]\nActions=list\nCallers=unit:\n", "key Callers", "not a systemd unit");
  BROKEN ("[Rule r]\nActions=list\nCallers=unit:a/b.scope\n", "key Callers", "not a systemd unit");
  BROKEN ("[Rule r]\nActions=list\nCallers=exe:shop\n", "key Callers",
          "not an absolute, canonical path");
  BROKEN ("[Rule r]\nActions=list\nCallers=exe:/usr/bin/../bin/shop\n", "key Callers",
          "not an absolute, canonical path");
  BROKEN ("[Rule r]\nActions=list\nCallers=exe:/usr/bin/\n", "key Callers",
          "not an absolute, canonical path");
  BROKEN ("[Rule r]\nActions=list\nCallers=\n", "key Callers", "missing or empty");
  BROKEN ("[Rule r]\nActions=list\n", "key Callers", "missing or empty");
}

static void
test_policy_factors (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);

  policy = policy_ok ("[Rule by-sid]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                      "Factors=" FACTOR "\n"
                      "[Rule by-name]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                      "Factors=Till *;Kiosk\n");
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-sid");
  query.factor_sid = FACTOR_2;
  assert_refused (policy, &query, "of factor " FACTOR_2 " to this caller");
  query.factor_name = "Till 3";
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-name");
  query.factor_name = "Kiosk";
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-name");
  /* a factor named as another's sid is not that factor */
  query.factor_name = FACTOR;
  assert_refused (policy, &query, "of factor " FACTOR_2 " to this caller");
  /* no factor yet (the first check of an approval): a rule may still cover one */
  query.factor_sid = NULL;
  query.factor_name = NULL;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-sid");
  g_clear_object (&policy);

  /* a sid is matched whole: a shortened one, or one that differs in case, covers nothing */
  policy
      = policy_ok ("[Rule short]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                   "Factors=YF0123456789abcdef0123456789abcd;YF0123456789ABCDEF0123456789ABCDEF\n");
  query.factor_sid = FACTOR;
  query.factor_name = "Till 3";
  assert_refused (policy, &query, "of factor " FACTOR " to this caller");
  g_clear_object (&policy);

  /* no Factors: every factor */
  policy = policy_ok ("[Rule all]\nActions=approve\nCallers=*\nRequireActiveSession=false\n");
  query.factor_sid = FACTOR_2;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "all");

  /* a factor to be enrolled has only its name: a rule naming factors by sid or by other
   * names does not cover it */
  g_clear_object (&policy);
  policy = policy_ok ("[Rule by-sid]\nActions=enroll\nCallers=*\nRequireActiveSession=false\n"
                      "Factors=" FACTOR "\n"
                      "[Rule by-name]\nActions=enroll\nCallers=*\nRequireActiveSession=false\n"
                      "Factors=Till *\n");
  query.action = VPUSH_ACTION_ENROLL;
  query.match = VPUSH_MATCH_NONE;
  query.factor_sid = NULL;
  query.factor_name = "Till 4";
  g_assert_cmpstr (check (policy, &query, NULL), ==, "by-name");
  query.factor_name = "Bank";
  assert_refused (policy, &query, "of a factor named “Bank” to this caller");
  query.factor_name = FACTOR;
  assert_refused (policy, &query, "of a factor named “" FACTOR "” to this caller");

  BROKEN ("[Rule r]\nActions=list\nCallers=*\nFactors=\n", "rule “r”, key Factors", "empty");
  BROKEN ("[Rule r]\nActions=list\nCallers=*\nFactors= ;\n", "key Factors", "empty");
}

static void
test_policy_session (void)
{
  static const VpushSessionState refused[] = {
    VPUSH_SESSION_UNKNOWN,
    VPUSH_SESSION_INACTIVE,
    VPUSH_SESSION_LOCKED,
    VPUSH_SESSION_NONE,
  };
  g_autoptr (VpushPolicy) required = NULL;
  g_autoptr (VpushPolicy) not_required = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  g_autoptr (VpushCaller) other = caller_new ("/usr/bin/other", NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);

  /* the default is to require it */
  required = policy_ok ("[Rule kiosk]\nActions=approve\nCallers=exe:" SHOP_EXE "\n");
  not_required = policy_ok ("[Rule kiosk]\nActions=approve\nCallers=exe:" SHOP_EXE "\n"
                            "RequireActiveSession=false\n");

  g_assert_cmpstr (check (required, &query, NULL), ==, "kiosk");
  g_assert_true (vpush_policy_needs_session (required, &query));
  g_assert_false (vpush_policy_needs_session (not_required, &query));
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      query.session = refused[i];
      assert_refused (required, &query, "rule “kiosk” requires the caller's login session");
      assert_refused (required, &query, vpush_session_state_describe (refused[i]));
      g_assert_cmpstr (check (not_required, &query, NULL), ==, "kiosk");
    }
  /* only rules that could let the caller in make the session worth asking for */
  query.caller = other;
  g_assert_false (vpush_policy_needs_session (required, &query));
  query.caller = caller;
  query.action = VPUSH_ACTION_LIST;
  g_assert_false (vpush_policy_needs_session (required, &query));

  g_clear_object (&required);
  required = policy_ok ("[Rule kiosk]\nActions=approve\nCallers=*\nRequireActiveSession=true\n");
  query = approve_query (caller);
  query.session = VPUSH_SESSION_LOCKED;
  assert_refused (required, &query, "RequireActiveSession=true), and it is locked");

  BROKEN ("[Rule r]\nActions=list\nCallers=*\nRequireActiveSession=yes\n",
          "rule “r”, key RequireActiveSession", "“yes” is neither true nor false");
  BROKEN ("[Rule r]\nActions=list\nCallers=*\nRequireActiveSession=\n", "key RequireActiveSession",
          "neither true nor false");
}

static void
test_policy_match (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);

  /* default: transaction-id */
  policy = policy_ok ("[Rule r]\nActions=approve\nCallers=*\nRequireActiveSession=false\n");
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  query.match = VPUSH_MATCH_CHALLENGE_SID;
  assert_refused (policy, &query, "rule “r” allows “approve” only by transaction-id");
  g_clear_object (&policy);

  policy = policy_ok ("[Rule r]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                      "Match=challenge-sid\n");
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  query.match = VPUSH_MATCH_TRANSACTION_ID;
  assert_refused (policy, &query, "only by challenge-sid (Match=challenge-sid)");
  g_clear_object (&policy);

  policy = policy_ok ("[Rule r]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                      "Match=any\n");
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  query.match = VPUSH_MATCH_CHALLENGE_SID;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  g_clear_object (&policy);

  /* with no rule for the caller, the hint says how to allow a challenge-sid request */
  policy = vpush_policy_new ();
  assert_refused (policy, &query, "Callers=exe:" SHOP_EXE " and Match=challenge-sid");

  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMatch=transaction_id\n", "rule “r”, key Match",
          "“transaction_id” is not one of transaction-id, challenge-sid, any");
  BROKEN ("[Rule r]\nActions=list\nCallers=*\nMatch=any\n", "key Match",
          "only applies to the approve and deny actions");
}

static void
test_policy_max_age (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);

  policy = policy_ok ("[Rule r]\nActions=deny\nCallers=*\nRequireActiveSession=false\n"
                      "MaxChallengeAgeSeconds=60\n");
  query.action = VPUSH_ACTION_DENY;
  query.challenge_age = 60;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  query.challenge_age = 61;
  assert_refused (policy, &query,
                  "rule “r” allows only challenges up to 60 s old (MaxChallengeAgeSeconds=60); "
                  "this one is 61 s old");
  /* no challenge yet: the limit can't refuse */
  query.challenge_age = -1;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");
  g_clear_object (&policy);

  /* without the key any age passes */
  policy = policy_ok ("[Rule r]\nActions=deny\nCallers=*\nRequireActiveSession=false\n");
  query.challenge_age = 86400 * 7;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "r");

  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMaxChallengeAgeSeconds=0\n",
          "rule “r”, key MaxChallengeAgeSeconds", "“0” is not a number of seconds from 1 to 86400");
  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMaxChallengeAgeSeconds=-5\n",
          "key MaxChallengeAgeSeconds", "not a number of seconds");
  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMaxChallengeAgeSeconds=86401\n",
          "key MaxChallengeAgeSeconds", "not a number of seconds");
  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMaxChallengeAgeSeconds=2m\n",
          "key MaxChallengeAgeSeconds", "not a number of seconds");
  BROKEN ("[Rule r]\nActions=approve\nCallers=*\nMaxChallengeAgeSeconds=120 # two minutes\n",
          "key MaxChallengeAgeSeconds", "comments go on lines of their own");
  BROKEN ("[Rule r]\nActions=update\nCallers=*\nMaxChallengeAgeSeconds=60\n",
          "key MaxChallengeAgeSeconds", "only applies to the approve and deny actions");
}

static void
test_policy_structure (void)
{
  g_autoptr (VpushPolicy) policy = NULL;

  BROKEN ("[Policy]\nActions=list\n", "test.conf", "unknown group [Policy]",
          "rules are groups named [Rule NAME]");
  BROKEN ("[Rule]\nActions=list\nCallers=*\n", "test.conf", "unknown group [Rule]");
  BROKEN ("[Rule has space]\nActions=list\nCallers=*\n", "test.conf: [Rule has space]",
          "a rule name is 1 to 64 letters");
  BROKEN ("[Rule r]\nActions=list\nCallers=*\nFactor=*\n", "rule “r”, key Factor", "unknown key");
  BROKEN ("Actions=list\n", "test.conf: ");
  BROKEN ("[Rule r\nActions=list\n", "test.conf: ");

  /* a translated key is an unknown key, in any locale */
  BROKEN ("[Rule r]\nActions=list\nCallers=*\nCallers[en]=exe:/usr/bin/x\n",
          "rule “r”, key Callers[en]", "unknown key");

  /* GKeyFile would merge the two groups into one rule for every caller */
  BROKEN ("[Rule kiosk]\nActions=approve;deny\nCallers=exe:" SHOP_EXE "\n"
          "RequireActiveSession=false\n\n[Rule other]\nActions=list\nCallers=*\n\n"
          "[Rule kiosk]\nCallers=*\n",
          "test.conf: group [Rule kiosk] appears twice");
  /* and keep the last of two values */
  BROKEN ("[Rule kiosk]\nActions=approve\nCallers=exe:" SHOP_EXE "\n  Callers = *\n",
          "test.conf: [Rule kiosk] key Callers appears twice");
  /* the same key in two rules, a localised key beside its plain one, comments: all fine */
  g_clear_object (&policy);
  policy = policy_ok ("# [Rule a]\n[Rule a]\nActions=list\nCallers=*\n#Callers=*\n"
                      "[Rule b]\nActions=list\nCallers=*\n");
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 2);
}

static void
test_policy_first_rule_wins (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  g_autoptr (GError) error = NULL;
  VpushPolicyQuery query = approve_query (caller);
  g_autofree gchar *reason = NULL;
  const gchar *closest = NULL;

  policy = policy_ok ("[Rule narrow]\nActions=approve\nCallers=exe:" SHOP_EXE "\n"
                      "RequireActiveSession=false\nMaxChallengeAgeSeconds=10\n"
                      "[Rule wide]\nActions=approve\nCallers=*\nRequireActiveSession=false\n");
  g_assert_cmpstr (check (policy, &query, NULL), ==, "narrow");
  query.challenge_age = 11;
  g_assert_cmpstr (check (policy, &query, NULL), ==, "wide");

  /* rules add up across files, and a name is taken once */
  g_assert_true (vpush_policy_add_data (policy,
                                        "[Rule more]\nActions=list\nCallers=*\n"
                                        "RequireActiveSession=false\n",
                                        -1, "more.conf", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 3);
  g_assert_false (vpush_policy_add_data (policy, "[Rule wide]\nActions=list\nCallers=*\n", -1,
                                         "again.conf", &error));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "again.conf: rule “wide”: defined again; the first "
                                            "is in test.conf"));
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 3);

  /* the refusal names the rule that came closest */
  query.challenge_age = 5;
  query.session = VPUSH_SESSION_LOCKED;
  query.action = VPUSH_ACTION_DENY;
  g_assert_null (vpush_policy_check (policy, &query, &closest, &reason));
  g_assert_null (closest);
  g_assert_nonnull (strstr (reason, "Actions=deny"));
}

static void
test_policy_closest (void)
{
  g_autoptr (VpushPolicy) policy = NULL;
  g_autoptr (VpushCaller) caller = caller_new (SHOP_EXE, NULL, NULL);
  VpushPolicyQuery query = approve_query (caller);
  g_autofree gchar *reason = NULL;
  const gchar *closest = NULL;

  policy = policy_ok ("[Rule others]\nActions=approve\nCallers=exe:/usr/bin/other\n"
                      "[Rule by-sid]\nActions=approve\nCallers=exe:" SHOP_EXE "\nMatch=any\n"
                      "[Rule session]\nActions=approve\nCallers=*\nFactors=" FACTOR "\n");
  query.match = VPUSH_MATCH_CHALLENGE_SID;
  query.factor_sid = FACTOR;
  query.session = VPUSH_SESSION_INACTIVE;
  g_assert_null (vpush_policy_check (policy, &query, &closest, &reason));
  /* the one that got furthest is named: caller and Match fit, the session does not */
  g_assert_cmpstr (closest, ==, "by-sid");
  g_assert_nonnull (strstr (reason, "rule “by-sid” requires"));
}

/* exe: of a symlink matches nothing, since /proc/PID/exe shows the file: said at load */
static void
test_policy_exe_symlink (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *tmp = g_dir_make_tmp ("vpush-policy-XXXXXX", &error);
  g_autofree gchar *real = g_build_filename (tmp, "shop-kiosk-1.2", NULL);
  g_autofree gchar *link = g_build_filename (tmp, "shop-kiosk", NULL);
  g_autofree gchar *text = NULL;
  g_autoptr (VpushPolicy) policy = NULL;

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (real, "", 0, NULL));
  g_assert_cmpint (symlink ("shop-kiosk-1.2", link), ==, 0);

  text = g_strdup_printf ("[Rule shop]\nActions=approve\nCallers=exe:%s\n", link);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "*rule “shop”, key Callers: exe:*/shop-kiosk matches no process: it is "
                         "a symlink to */shop-kiosk-1.2, the path /proc/PID/exe shows");
  policy = policy_ok (text);
  g_test_assert_expected_messages ();
  g_clear_object (&policy);

  /* the real file, or one not there yet, is taken without a word */
  g_free (text);
  text = g_strdup_printf ("[Rule shop]\nActions=approve\nCallers=exe:%s;exe:%s/later\n", real, tmp);
  policy = policy_ok (text);
  g_assert_cmpuint (vpush_policy_get_n_rules (policy), ==, 1);

  rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  policy_test_init (&argc, &argv);

  g_test_add_func ("/policy/empty", test_policy_empty);
  g_test_add_func ("/policy/full-rule", test_policy_full_rule);
  g_test_add_func ("/policy/actions", test_policy_actions);
  g_test_add_func ("/policy/callers", test_policy_callers);
  g_test_add_func ("/policy/factors", test_policy_factors);
  g_test_add_func ("/policy/session", test_policy_session);
  g_test_add_func ("/policy/match", test_policy_match);
  g_test_add_func ("/policy/max-age", test_policy_max_age);
  g_test_add_func ("/policy/structure", test_policy_structure);
  g_test_add_func ("/policy/first-rule-wins", test_policy_first_rule_wins);
  g_test_add_func ("/policy/closest", test_policy_closest);
  g_test_add_func ("/policy/exe-symlink", test_policy_exe_symlink);
  return g_test_run ();
}
