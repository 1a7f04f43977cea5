#include "vpush-policy.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "vpush-factor-record.h"
#include "vpush-keyfile.h"

#define RULE_PREFIX   "Rule "
#define RULE_NAME_MAX 64
#define AGE_LIMIT     86400

static const struct
{
  VpushAction action;
  const gchar *name;
} action_names[] = {
  { VPUSH_ACTION_APPROVE, "approve" }, { VPUSH_ACTION_DENY, "deny" },
  { VPUSH_ACTION_ENROLL, "enroll" },   { VPUSH_ACTION_UPDATE, "update" },
  { VPUSH_ACTION_DELETE, "delete" },   { VPUSH_ACTION_LIST, "list" },
};

static const gchar *const known_keys[] = {
  "Actions", "Callers", "Factors", "RequireActiveSession", "Match", "MaxChallengeAgeSeconds", NULL,
};

typedef enum
{
  CALLER_ANY,
  CALLER_UNSANDBOXED,
  CALLER_FLATPAK,
  CALLER_UNIT,
  CALLER_EXE,
} CallerKind;

typedef struct
{
  CallerKind kind;
  gchar *value;
} CallerSpec;

typedef enum
{
  RULE_MATCH_TRANSACTION_ID,
  RULE_MATCH_CHALLENGE_SID,
  RULE_MATCH_ANY,
} RuleMatch;

static const gchar *const rule_match_names[] = { "transaction-id", "challenge-sid", "any", NULL };

typedef struct
{
  gchar *name;
  gchar *origin;
  guint actions;
  GArray *callers; /* CallerSpec */
  GStrv factors;   /* globs */
  gboolean require_session;
  RuleMatch match;
  guint max_age; /* seconds; 0: no limit */
} Rule;

/* How far a query gets through a rule; the order of the checks */
typedef enum
{
  STAGE_ACTION,
  STAGE_CALLER,
  STAGE_MATCH,
  STAGE_FACTOR,
  STAGE_SESSION,
  STAGE_AGE,
  STAGE_ALLOWED,
} Stage;

struct _VpushPolicy
{
  GObject parent_instance;
  GPtrArray *rules;   /* Rule */
  GPtrArray *sources; /* gchar*, NULL-terminated */
};

G_DEFINE_TYPE (VpushPolicy, vpush_policy, G_TYPE_OBJECT)

const gchar *
vpush_action_to_string (VpushAction action)
{
  for (guint i = 0; i < G_N_ELEMENTS (action_names); i++)
    {
      if (action_names[i].action == action)
        return action_names[i].name;
    }
  return "none";
}

static void
caller_spec_clear (gpointer data)
{
  CallerSpec *spec = data;

  g_free (spec->value);
}

static void
rule_free (Rule *rule)
{
  g_free (rule->name);
  g_free (rule->origin);
  g_clear_pointer (&rule->callers, g_array_unref);
  g_strfreev (rule->factors);
  g_free (rule);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Rule, rule_free)

static void
vpush_policy_finalize (GObject *object)
{
  VpushPolicy *self = VPUSH_POLICY (object);

  g_ptr_array_unref (self->rules);
  g_ptr_array_unref (self->sources);
  G_OBJECT_CLASS (vpush_policy_parent_class)->finalize (object);
}

static void
vpush_policy_class_init (VpushPolicyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_policy_finalize;
}

static void
vpush_policy_init (VpushPolicy *self)
{
  self->rules = g_ptr_array_new_with_free_func ((GDestroyNotify)rule_free);
  self->sources = g_ptr_array_new_null_terminated (1, g_free, TRUE);
}

VpushPolicy *
vpush_policy_new (void)
{
  return g_object_new (VPUSH_TYPE_POLICY, NULL);
}

guint
vpush_policy_get_n_rules (VpushPolicy *self)
{
  return self->rules->len;
}

const gchar *const *
vpush_policy_get_sources (VpushPolicy *self)
{
  return (const gchar *const *)self->sources->pdata;
}

/* Parsing */

static gboolean rule_error (GError **error, const gchar *origin, const gchar *rule,
                            const gchar *key, const gchar *format, ...) G_GNUC_PRINTF (5, 6);

static gboolean
rule_error (GError **error, const gchar *origin, const gchar *rule, const gchar *key,
            const gchar *format, ...)
{
  g_autofree gchar *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  if (key != NULL)
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 "%s: rule “%s”, key %s: %s", origin, rule, key, what);
  else
    g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s: rule “%s”: %s",
                 origin, rule, what);
  return FALSE;
}

/* The key's list with blank items dropped and items stripped; NULL when the key is absent. */
static GStrv
get_list (GKeyFile *keyfile, const gchar *group, const gchar *key)
{
  g_auto (GStrv) items = g_key_file_get_string_list (keyfile, group, key, NULL, NULL);
  g_autoptr (GStrvBuilder) builder = NULL;

  if (items == NULL)
    return NULL;
  builder = g_strv_builder_new ();
  for (guint i = 0; items[i] != NULL; i++)
    {
      g_strstrip (items[i]);
      if (*items[i] != '\0')
        g_strv_builder_add (builder, items[i]);
    }
  return g_strv_builder_end (builder);
}

static const gchar *
comment_hint (const gchar *value)
{
  return strchr (value, '#') != NULL ? " (comments go on lines of their own)" : "";
}

static gboolean
name_is_valid (const gchar *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > RULE_NAME_MAX)
    return FALSE;
  for (const gchar *p = name; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
        return FALSE;
    }
  return TRUE;
}

static gboolean
parse_actions (Rule *rule, GKeyFile *keyfile, const gchar *group, GError **error)
{
  g_auto (GStrv) items = get_list (keyfile, group, "Actions");

  if (items == NULL || items[0] == NULL)
    return rule_error (error, rule->origin, rule->name, "Actions",
                       "missing or empty; a rule needs at least one action");
  for (guint i = 0; items[i] != NULL; i++)
    {
      guint action = 0;

      for (guint j = 0; j < G_N_ELEMENTS (action_names); j++)
        {
          if (g_str_equal (items[i], action_names[j].name))
            action = action_names[j].action;
        }
      if (action == 0)
        return rule_error (error, rule->origin, rule->name, "Actions",
                           "unknown action “%s”%s; known: approve, deny, enroll, update, delete, "
                           "list",
                           items[i], comment_hint (items[i]));
      rule->actions |= action;
    }
  return TRUE;
}

static gboolean
parse_caller (Rule *rule, const gchar *item, CallerSpec *spec, GError **error)
{
  const gchar *value;

  if (g_str_equal (item, "*"))
    {
      spec->kind = CALLER_ANY;
      return TRUE;
    }
  if (g_str_equal (item, "unsandboxed"))
    {
      spec->kind = CALLER_UNSANDBOXED;
      return TRUE;
    }
  if (g_str_has_prefix (item, "flatpak:"))
    {
      value = item + strlen ("flatpak:");
      if (!g_application_id_is_valid (value))
        return rule_error (error, rule->origin, rule->name, "Callers",
                           "“%s” is not a Flatpak application id", value);
      spec->kind = CALLER_FLATPAK;
    }
  else if (g_str_has_prefix (item, "unit:"))
    {
      value = item + strlen ("unit:");
      if (*value == '\0' || strchr (value, '/') != NULL)
        return rule_error (error, rule->origin, rule->name, "Callers",
                           "“%s” is not a systemd unit name or glob", item);
      spec->kind = CALLER_UNIT;
    }
  else if (g_str_has_prefix (item, "exe:"))
    {
      g_autofree gchar *canonical = NULL;

      value = item + strlen ("exe:");
      /* /proc/<pid>/exe is always absolute and canonical: anything else can't match */
      if (g_path_is_absolute (value))
        canonical = g_canonicalize_filename (value, NULL);
      if (canonical == NULL || !g_str_equal (canonical, value))
        return rule_error (error, rule->origin, rule->name, "Callers",
                           "“%s” is not an absolute, canonical path", value);
      /* Not an error: the file may change or come later. But /proc/PID/exe never shows a
       * symlink (/usr/bin/python3, a merged-usr /bin/…), and nothing else tells. */
      {
        g_autofree gchar *real = realpath (value, NULL);

        if (real != NULL && !g_str_equal (real, value))
          g_warning ("%s: rule “%s”, key Callers: exe:%s matches no process: it is a symlink "
                     "to %s, the path /proc/PID/exe shows",
                     rule->origin, rule->name, value, real);
      }
      spec->kind = CALLER_EXE;
    }
  else
    return rule_error (error, rule->origin, rule->name, "Callers",
                       "“%s”%s is not a caller; callers are flatpak:APP-ID, unit:GLOB, "
                       "exe:/PATH, unsandboxed or *",
                       item, comment_hint (item));

  spec->value = g_strdup (value);
  return TRUE;
}

static gboolean
parse_callers (Rule *rule, GKeyFile *keyfile, const gchar *group, GError **error)
{
  g_auto (GStrv) items = get_list (keyfile, group, "Callers");

  if (items == NULL || items[0] == NULL)
    return rule_error (error, rule->origin, rule->name, "Callers",
                       "missing or empty; “*” allows any process of the user");
  rule->callers = g_array_new (FALSE, TRUE, sizeof (CallerSpec));
  g_array_set_clear_func (rule->callers, caller_spec_clear);
  for (guint i = 0; items[i] != NULL; i++)
    {
      CallerSpec spec = { 0 };

      if (!parse_caller (rule, items[i], &spec, error))
        return FALSE;
      g_array_append_val (rule->callers, spec);
    }
  return TRUE;
}

static gboolean
parse_optional (Rule *rule, GKeyFile *keyfile, const gchar *group, GError **error)
{
  g_autofree gchar *value = NULL;
  gboolean for_answers = (rule->actions & (VPUSH_ACTION_APPROVE | VPUSH_ACTION_DENY)) != 0;

  if (g_key_file_has_key (keyfile, group, "Factors", NULL))
    {
      rule->factors = get_list (keyfile, group, "Factors");
      /* NULL: the value is there but can't be read (a bad escape, not UTF-8) */
      if (rule->factors == NULL)
        return rule_error (error, rule->origin, rule->name, "Factors",
                           "not a list of strings (a bad escape, or not UTF-8)");
      if (rule->factors[0] == NULL)
        return rule_error (error, rule->origin, rule->name, "Factors",
                           "empty; “*” covers every factor");
    }
  else
    {
      rule->factors = g_new0 (gchar *, 2);
      rule->factors[0] = g_strdup ("*");
    }

  rule->require_session = TRUE;
  value = g_key_file_get_string (keyfile, group, "RequireActiveSession", NULL);
  if (value != NULL)
    {
      g_strstrip (value);
      if (g_str_equal (value, "true"))
        rule->require_session = TRUE;
      else if (g_str_equal (value, "false"))
        rule->require_session = FALSE;
      else
        return rule_error (error, rule->origin, rule->name, "RequireActiveSession",
                           "“%s” is neither true nor false%s", value, comment_hint (value));
    }

  g_clear_pointer (&value, g_free);
  rule->match = RULE_MATCH_TRANSACTION_ID;
  value = g_key_file_get_string (keyfile, group, "Match", NULL);
  if (value != NULL)
    {
      gboolean found = FALSE;

      g_strstrip (value);
      if (!for_answers)
        return rule_error (error, rule->origin, rule->name, "Match",
                           "only applies to the approve and deny actions");
      for (guint i = 0; rule_match_names[i] != NULL; i++)
        {
          if (g_str_equal (value, rule_match_names[i]))
            {
              rule->match = (RuleMatch)i;
              found = TRUE;
            }
        }
      if (!found)
        return rule_error (error, rule->origin, rule->name, "Match",
                           "“%s”%s is not one of transaction-id, challenge-sid, any", value,
                           comment_hint (value));
    }

  g_clear_pointer (&value, g_free);
  value = g_key_file_get_string (keyfile, group, "MaxChallengeAgeSeconds", NULL);
  if (value != NULL)
    {
      guint64 age;

      g_strstrip (value);
      if (!for_answers)
        return rule_error (error, rule->origin, rule->name, "MaxChallengeAgeSeconds",
                           "only applies to the approve and deny actions");
      if (!g_ascii_string_to_unsigned (value, 10, 1, AGE_LIMIT, &age, NULL))
        return rule_error (error, rule->origin, rule->name, "MaxChallengeAgeSeconds",
                           "“%s” is not a number of seconds from 1 to %d%s", value, AGE_LIMIT,
                           comment_hint (value));
      rule->max_age = (guint)age;
    }
  return TRUE;
}

static Rule *
parse_rule (GKeyFile *keyfile, const gchar *group, const gchar *origin, GError **error)
{
  g_autoptr (Rule) rule = g_new0 (Rule, 1);
  g_auto (GStrv) keys = NULL;

  rule->name = g_strdup (group + strlen (RULE_PREFIX));
  rule->origin = g_strdup (origin);
  if (!name_is_valid (rule->name))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [%s]: a rule name is 1 to %d letters, digits, “-”, “_” or “.”", origin,
                   group, RULE_NAME_MAX);
      return NULL;
    }

  keys = g_key_file_get_keys (keyfile, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      g_autofree gchar *raw = NULL;

      if (!g_strv_contains (known_keys, keys[i]))
        {
          rule_error (error, origin, rule->name, keys[i],
                      "unknown key; known: Actions, Callers, Factors, RequireActiveSession, "
                      "Match, MaxChallengeAgeSeconds");
          return NULL;
        }
      /* g_key_file_get_string() gives NULL for a value that is not UTF-8, which would
       * read as no value at all: MaxChallengeAgeSeconds would silently not apply */
      raw = g_key_file_get_value (keyfile, group, keys[i], NULL);
      if (raw == NULL || !g_utf8_validate (raw, -1, NULL))
        {
          rule_error (error, origin, rule->name, keys[i], "the value is not UTF-8 text");
          return NULL;
        }
      /* GKeyFile takes a trailing "# …" into the value: a glob or a path would then match
       * nothing, silently */
      if (strstr (raw, " #") != NULL || strstr (raw, "\t#") != NULL)
        {
          rule_error (error, origin, rule->name, keys[i],
                      "“%s”: comments go on lines of their own (in a Factors glob, “?#” "
                      "matches a “ #” of a factor name)",
                      raw);
          return NULL;
        }
    }

  if (!parse_actions (rule, keyfile, group, error) || !parse_callers (rule, keyfile, group, error)
      || !parse_optional (rule, keyfile, group, error))
    return NULL;
  return g_steal_pointer (&rule);
}

static const Rule *
find_rule (GPtrArray *rules, const gchar *name)
{
  for (guint i = 0; i < rules->len; i++)
    {
      const Rule *rule = g_ptr_array_index (rules, i);

      if (g_str_equal (rule->name, name))
        return rule;
    }
  return NULL;
}

gboolean
vpush_policy_add_data (VpushPolicy *self, const gchar *data, gsize length, const gchar *origin,
                       GError **error)
{
  g_autoptr (GKeyFile) keyfile = vpush_keyfile_load (data, length, origin, error);
  g_autoptr (GPtrArray) rules = g_ptr_array_new_with_free_func ((GDestroyNotify)rule_free);
  g_auto (GStrv) groups = NULL;

  if (keyfile == NULL)
    return FALSE;

  groups = g_key_file_get_groups (keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const Rule *earlier;
      Rule *rule;

      if (!g_str_has_prefix (groups[i], RULE_PREFIX))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                       "%s: unknown group [%s]; rules are groups named [Rule NAME]", origin,
                       groups[i]);
          return FALSE;
        }
      rule = parse_rule (keyfile, groups[i], origin, error);
      if (rule == NULL)
        return FALSE;
      g_ptr_array_add (rules, rule);

      /* a name repeated within this file is refused when it is loaded */
      earlier = find_rule (self->rules, rule->name);
      if (earlier != NULL)
        return rule_error (error, origin, rule->name, NULL, "defined again; the first is in %s",
                           earlier->origin);
    }

  g_ptr_array_extend_and_steal (self->rules, g_steal_pointer (&rules));
  g_ptr_array_add (self->sources, g_strdup (origin));
  return TRUE;
}

/* Evaluation */

static gboolean
caller_matches (const CallerSpec *spec, const VpushCaller *caller)
{
  switch (spec->kind)
    {
    case CALLER_ANY:
      return TRUE;
    /* so that a rule open to the user's own programs need not open to every Flatpak app
     * that may talk to vpushd */
    case CALLER_UNSANDBOXED:
      return caller->app_id == NULL;
    case CALLER_FLATPAK:
      return g_strcmp0 (caller->app_id, spec->value) == 0;
    /* a sandboxed app can show any path or unit it likes inside its sandbox: only its
     * app id identifies it */
    case CALLER_UNIT:
      return caller->app_id == NULL && caller->unit != NULL
             && g_pattern_match_simple (spec->value, caller->unit);
    case CALLER_EXE:
      return caller->app_id == NULL && g_strcmp0 (caller->exe, spec->value) == 0;
    default:
      g_return_val_if_reached (FALSE);
    }
}

static gboolean
rule_has_caller (const Rule *rule, const VpushCaller *caller)
{
  for (guint i = 0; i < rule->callers->len; i++)
    {
      if (caller_matches (&g_array_index (rule->callers, CallerSpec, i), caller))
        return TRUE;
    }
  return FALSE;
}

static gboolean
rule_has_factor (const Rule *rule, const gchar *sid, const gchar *name)
{
  for (guint i = 0; rule->factors[i] != NULL; i++)
    {
      const gchar *glob = rule->factors[i];

      if (sid != NULL && g_pattern_match_simple (glob, sid))
        return TRUE;
      /* a sid names one factor, never the names of others: whoever may enroll or rename a
       * factor can call it anything, that sid included */
      if (name != NULL && !vpush_sid_is_valid (glob, "YF") && g_pattern_match_simple (glob, name))
        return TRUE;
    }
  return FALSE;
}

static gboolean
rule_has_match (const Rule *rule, VpushMatch match)
{
  switch (match)
    {
    case VPUSH_MATCH_TRANSACTION_ID:
      return rule->match != RULE_MATCH_CHALLENGE_SID;
    case VPUSH_MATCH_CHALLENGE_SID:
      return rule->match != RULE_MATCH_TRANSACTION_ID;
    case VPUSH_MATCH_NONE:
    default:
      return TRUE;
    }
}

static Stage
rule_stage (const Rule *rule, const VpushPolicyQuery *query)
{
  if ((rule->actions & query->action) == 0)
    return STAGE_ACTION;
  if (!rule_has_caller (rule, query->caller))
    return STAGE_CALLER;
  if (!rule_has_match (rule, query->match))
    return STAGE_MATCH;
  if ((query->factor_sid != NULL || query->factor_name != NULL)
      && !rule_has_factor (rule, query->factor_sid, query->factor_name))
    return STAGE_FACTOR;
  if (rule->require_session && query->session != VPUSH_SESSION_ACTIVE)
    return STAGE_SESSION;
  if (query->challenge_age >= 0 && rule->max_age > 0 && query->challenge_age > rule->max_age)
    return STAGE_AGE;
  return STAGE_ALLOWED;
}

gboolean
vpush_policy_needs_session (VpushPolicy *self, const VpushPolicyQuery *query)
{
  VpushPolicyQuery q = *query;

  q.session = VPUSH_SESSION_ACTIVE;
  q.challenge_age = -1;
  for (guint i = 0; i < self->rules->len; i++)
    {
      const Rule *rule = g_ptr_array_index (self->rules, i);

      if (rule->require_session && rule_stage (rule, &q) == STAGE_ALLOWED)
        return TRUE;
    }
  return FALSE;
}

/* A value a rule can hold: a policy file refuses " #" in any (a trailing comment) */
static gboolean
can_be_named (const gchar *value)
{
  return strstr (value, " #") == NULL && strstr (value, "\t#") == NULL;
}

/* A script's /proc/PID/exe is its interpreter: exe: of it would allow every script */
static gboolean
is_interpreter (const gchar *exe)
{
  static const gchar *const names[] = {
    "sh",     "bash",        "dash",   "zsh",  "ksh",      "mksh",   "fish", "busybox",
    "python", "pypy",        "perl",   "ruby", "node",     "nodejs", "deno", "bun",
    "gjs",    "gjs-console", "php",    "lua",  "luajit",   "tclsh",  "wish", "java",
    "guile",  "mono",        "dotnet", "qml",  "qmlscene", NULL,
  };
  g_autofree gchar *name = g_path_get_basename (exe);
  gsize len = strlen (name);

  /* python3.11, perl5.36.0, lua5.4 */
  while (len > 0 && (g_ascii_isdigit (name[len - 1]) || name[len - 1] == '.'))
    name[--len] = '\0';
  return g_strv_contains (names, name);
}

/* A tool that makes D-Bus calls for whatever program runs it: exe: of it would allow
 * every program (vpushctl(1) says so of vpushctl) */
static gboolean
is_relay (const gchar *exe)
{
  static const gchar *const names[] = {
    "vpushctl", "gdbus", "busctl", "dbus-send", "qdbus", "qdbus6", NULL,
  };
  g_autofree gchar *name = g_path_get_basename (exe);

  return g_strv_contains (names, name);
}

/* The Callers= entry a refused caller needs; *note: why another would be wrong, or "" */
static gchar *
callers_hint (const VpushCaller *caller, const gchar **note)
{
  *note = "";
  if (caller->app_id != NULL)
    return g_strdup_printf ("Callers=flatpak:%s", caller->app_id);
  /* said, not chosen for the caller: a unit's name may be as wide (session-2.scope) or
   * made anew at each start (a launcher's app-…-1234.scope) */
  if (caller->exe != NULL && can_be_named (caller->exe) && is_interpreter (caller->exe))
    *note = " (an interpreter, though, which would allow every script it runs: better start "
            "the app in a systemd unit of its own and name that with unit:)";
  else if (caller->exe != NULL && can_be_named (caller->exe) && is_relay (caller->exe))
    *note = " (a tool that calls for whatever program runs it, though, which would allow every "
            "program: better run it from a systemd unit of its own and name that with unit:)";
  if (caller->exe != NULL && can_be_named (caller->exe))
    return g_strdup_printf ("Callers=exe:%s", caller->exe);
  if (caller->unit != NULL && can_be_named (caller->unit))
    return g_strdup_printf ("Callers=unit:%s", caller->unit);
  if (caller->exe != NULL || caller->unit != NULL)
    return g_strdup ("Callers=*, which allows every program (the caller's executable and "
                     "unit have a “ #”, which a policy value can't hold)");
  return g_strdup ("Callers=*, which allows every program (the caller has no executable, unit or "
                   "app id to name)");
}

static gchar *
explain (const Rule *rule, Stage stage, const VpushPolicyQuery *query)
{
  const gchar *action = vpush_action_to_string (query->action);

  switch (stage)
    {
    case STAGE_MATCH:
      return g_strdup_printf ("rule “%s” allows “%s” only by %s (Match=%s)", rule->name, action,
                              rule_match_names[rule->match], rule_match_names[rule->match]);
    case STAGE_FACTOR:
      if (query->factor_sid == NULL)
        return g_strdup_printf ("no policy rule allows “%s” of a factor named “%s” to this "
                                "caller; rule “%s” would need that name in Factors",
                                action, query->factor_name, rule->name);
      return g_strdup_printf ("no policy rule allows “%s” of factor %s to this caller; rule “%s” "
                              "would need it in Factors",
                              action, query->factor_sid, rule->name);
    case STAGE_SESSION:
      return g_strdup_printf ("rule “%s” requires the caller's login session to be active and "
                              "unlocked (RequireActiveSession=true), and it is %s",
                              rule->name, vpush_session_state_describe (query->session));
    case STAGE_AGE:
      return g_strdup_printf ("rule “%s” allows only challenges up to %u s old "
                              "(MaxChallengeAgeSeconds=%u); this one is %" G_GINT64_FORMAT " s old",
                              rule->name, rule->max_age, rule->max_age, query->challenge_age);
    case STAGE_ACTION:
    case STAGE_CALLER:
    case STAGE_ALLOWED:
    default:
      {
        const gchar *note = NULL;
        g_autofree gchar *callers = callers_hint (query->caller, &note);

        return g_strdup_printf (
            "no policy rule allows “%s” to this caller; it needs a rule "
            "with Actions=%s and %s%s%s",
            action, action, callers,
            query->match == VPUSH_MATCH_CHALLENGE_SID ? " and Match=challenge-sid" : "", note);
      }
    }
}

const gchar *
vpush_policy_check (VpushPolicy *self, const VpushPolicyQuery *query, const gchar **out_closest,
                    gchar **out_reason)
{
  const Rule *closest = NULL;
  Stage closest_stage = STAGE_ACTION;

  for (guint i = 0; i < self->rules->len; i++)
    {
      const Rule *rule = g_ptr_array_index (self->rules, i);
      Stage stage = rule_stage (rule, query);

      if (stage == STAGE_ALLOWED)
        return rule->name;
      if (closest == NULL || stage > closest_stage)
        {
          closest = rule;
          closest_stage = stage;
        }
    }
  if (out_closest != NULL)
    *out_closest = closest_stage > STAGE_CALLER ? closest->name : NULL;
  if (out_reason != NULL)
    *out_reason = explain (closest, closest_stage, query);
  return NULL;
}
