/* vpush_policy_add_data(): a policy file, then the decisions it makes. */
#include "fuzz-common.h"

#include <string.h>

#include "vpush-policy.h"

#define ORIGIN "fuzz.conf"

static const VpushAction actions[] = {
  VPUSH_ACTION_NONE,   VPUSH_ACTION_APPROVE, VPUSH_ACTION_DENY, VPUSH_ACTION_ENROLL,
  VPUSH_ACTION_UPDATE, VPUSH_ACTION_DELETE,  VPUSH_ACTION_LIST,
};

static const VpushMatch matches[] = {
  VPUSH_MATCH_NONE,
  VPUSH_MATCH_TRANSACTION_ID,
  VPUSH_MATCH_CHALLENGE_SID,
};

/* exe, unit, app id: a plain process, a user unit, a Flatpak app, one with nothing known */
static const gchar *const callers[][3] = {
  { "/usr/bin/shop-kiosk", "shop-kiosk.service", NULL },
  { "/usr/bin/bwrap", "app-flatpak-com.example.Shop-1234.scope", "com.example.Shop" },
  { "/usr/bin/python3.11", "gnome-terminal-server.service", NULL },
  { NULL, NULL, NULL },
};

static gboolean
rule_name_is_valid (const gchar *name)
{
  gsize len = strlen (name);

  return len >= 1 && len <= 64
         && strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
                == len;
}

/* The name of the rule that allows q, or NULL; either way the answer is well formed. */
static const gchar *
check (VpushPolicy *policy, const VpushPolicyQuery *q)
{
  const gchar *closest = (const gchar *)policy; /* anything but NULL: it must be set */
  g_autofree gchar *reason = NULL;
  const gchar *allowed = vpush_policy_check (policy, q, &closest, &reason);

  if (allowed != NULL)
    {
      FUZZ_CHECK (rule_name_is_valid (allowed));
      FUZZ_CHECK (reason == NULL);
      return allowed;
    }
  FUZZ_CHECK (closest == NULL || rule_name_is_valid (closest));
  FUZZ_CHECK (reason != NULL && *reason != '\0');
  FUZZ_CHECK_MSG (g_utf8_validate (reason, -1, NULL), reason);
  FUZZ_CHECK_MSG (strstr (reason, "(null)") == NULL, reason);
  /* the reason never names a factor the query did not */
  if (q->factor_sid == NULL)
    FUZZ_CHECK_MSG (strstr (reason, " of factor ") == NULL, reason);
  return NULL;
}

static void
check_decisions (VpushPolicy *policy, const VpushCaller *caller)
{
  for (guint a = 0; a < G_N_ELEMENTS (actions); a++)
    for (guint m = 0; m < G_N_ELEMENTS (matches); m++)
      {
        VpushPolicyQuery q = {
          .action = actions[a],
          .match = matches[m],
          .caller = caller,
          .session = VPUSH_SESSION_ACTIVE,
          .factor_sid = NULL,
          .factor_name = NULL,
          .challenge_age = -1,
        };
        VpushPolicyQuery narrow;
        gboolean any_factor;
        gboolean active;

        any_factor = check (policy, &q) != NULL;
        active = any_factor;

        /* unset facts don't narrow: what a fact allows, leaving it unset allows too */
        narrow = q;
        narrow.factor_sid = "YF0123456789abcdef0123456789abcdef";
        narrow.factor_name = "Shop kiosk";
        if (check (policy, &narrow) != NULL)
          FUZZ_CHECK (any_factor);
        narrow.challenge_age = 120;
        if (check (policy, &narrow) != NULL)
          FUZZ_CHECK (any_factor);
        narrow.challenge_age = 100000;
        if (check (policy, &narrow) != NULL)
          FUZZ_CHECK (any_factor);

        /* an active session allows what any other state does; needs_session says when
         * the state makes a difference */
        for (VpushSessionState s = VPUSH_SESSION_UNKNOWN; s <= VPUSH_SESSION_NONE; s++)
          {
            VpushPolicyQuery other = q;

            other.session = s;
            if (check (policy, &other) != NULL)
              FUZZ_CHECK (active);
            else if (active)
              FUZZ_CHECK (vpush_policy_needs_session (policy, &q));
          }
      }
}

/* A file that loads has no value the policy could not read: one that read as absent would
 * drop its restriction (MaxChallengeAgeSeconds) without a word. */
static void
check_every_value_readable (const uint8_t *data, size_t size)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_auto (GStrv) groups = NULL;

  /* as the loader reads it (vpush-keyfile.c): an editor's byte order mark skipped,
   * translations kept */
  if (size >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      size -= 3;
    }
  FUZZ_CHECK (g_key_file_load_from_data (keyfile, (const gchar *)data, size,
                                         G_KEY_FILE_KEEP_TRANSLATIONS, NULL));
  groups = g_key_file_get_groups (keyfile, NULL);
  for (guint g = 0; groups[g] != NULL; g++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (keyfile, groups[g], NULL, NULL);

      for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
        {
          g_autofree gchar *value = g_key_file_get_string (keyfile, groups[g], keys[k], NULL);

          FUZZ_CHECK_MSG (value != NULL, keys[k]);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (VpushPolicy) policy = vpush_policy_new ();
  g_autoptr (GError) error = NULL;
  guint n_rules;

  fuzz_init ();
  if (!vpush_policy_add_data (policy, (const gchar *)data, size, ORIGIN, &error))
    {
      FUZZ_CHECK (error != NULL && error->domain == G_KEY_FILE_ERROR);
      FUZZ_CHECK_MSG (g_str_has_prefix (error->message, ORIGIN ": "), error->message);
      /* a broken file adds nothing */
      FUZZ_CHECK (vpush_policy_get_n_rules (policy) == 0);
      FUZZ_CHECK (vpush_policy_get_sources (policy)[0] == NULL);
    }
  else
    {
      const gchar *const *sources = vpush_policy_get_sources (policy);

      FUZZ_CHECK (error == NULL);
      FUZZ_CHECK (g_strcmp0 (sources[0], ORIGIN) == 0 && sources[1] == NULL);
      check_every_value_readable (data, size);
    }
  n_rules = vpush_policy_get_n_rules (policy);

  for (guint c = 0; c < G_N_ELEMENTS (callers); c++)
    {
      VpushCaller caller = {
        .sender = (gchar *)":1.42",
        .uid = 1000,
        .pid = 4242,
        .pidfd = -1,
        .exe = (gchar *)callers[c][0],
        .unit = (gchar *)callers[c][1],
        .app_id = (gchar *)callers[c][2],
      };

      check_decisions (policy, &caller);
    }

  /* the same rule names from another file are refused, and add nothing */
  if (n_rules > 0)
    {
      g_clear_error (&error);
      FUZZ_CHECK (!vpush_policy_add_data (policy, (const gchar *)data, size, "again.conf", &error));
      FUZZ_CHECK (error != NULL && g_str_has_prefix (error->message, "again.conf: "));
      FUZZ_CHECK (vpush_policy_get_n_rules (policy) == n_rules);
    }
  return 0;
}
