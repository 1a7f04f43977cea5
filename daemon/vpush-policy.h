/* Who may do what: key-file rules from the policy directories (the design document's
 * "Policy"; docs/man/vpush-policy.5.scd). Rules only allow; what no rule allows is refused. */
#pragma once

#include <gio/gio.h>

#include "vpush-caller.h"
#include "vpush-session.h"

G_BEGIN_DECLS

/* The system policy directories, searched in this order; a file name in the first masks
 * the same name in the second. */
#define VPUSH_POLICY_SYSCONF_DIR "/etc/vpush/policy.d"

typedef enum
{
  VPUSH_ACTION_NONE = 0, /* methods any process of the user may call, e.g. Refresh */
  VPUSH_ACTION_APPROVE = 1 << 0,
  VPUSH_ACTION_DENY = 1 << 1,
  VPUSH_ACTION_ENROLL = 1 << 2,
  VPUSH_ACTION_UPDATE = 1 << 3,
  VPUSH_ACTION_DELETE = 1 << 4,
  VPUSH_ACTION_LIST = 1 << 5,
} VpushAction;

/* "approve", … as the Actions key spells them; "none" */
const gchar *vpush_action_to_string (VpushAction action);

/* How an ApproveChallenge or DenyChallenge request names its challenge */
typedef enum
{
  VPUSH_MATCH_NONE, /* not an approve or deny request */
  VPUSH_MATCH_TRANSACTION_ID,
  VPUSH_MATCH_CHALLENGE_SID,
} VpushMatch;

/* One decision's facts. Unset facts don't narrow: factor_sid and factor_name NULL ask
 * whether some factor may be allowed, challenge_age < 0 whether some challenge may be.
 * factor_sid NULL with factor_name set is a factor not created yet (enroll): only its
 * name can match Factors. */
typedef struct
{
  VpushAction action;
  VpushMatch match;
  const VpushCaller *caller;
  VpushSessionState session; /* VPUSH_SESSION_UNKNOWN when not asked */
  const gchar *factor_sid;   /* nullable */
  const gchar *factor_name;  /* nullable */
  gint64 challenge_age;      /* seconds since the challenge was created; < 0: none */
} VpushPolicyQuery;

#define VPUSH_TYPE_POLICY (vpush_policy_get_type ())
G_DECLARE_FINAL_TYPE (VpushPolicy, vpush_policy, VPUSH, POLICY, GObject)

/* A policy without rules: it refuses everything. */
VpushPolicy *vpush_policy_new (void);

/* Adds the rules of one file's text (length -1: nul-terminated); origin names the file in
 * errors. A broken file adds nothing and fails with a message naming file, rule, key and
 * what is wrong. */
gboolean vpush_policy_add_data (VpushPolicy *self, const gchar *data, gsize length,
                                const gchar *origin, GError **error);

/* Every *.conf in dirs, by file name; a name found in an earlier directory masks it in
 * later ones (an empty file masks a shipped one). require_root: files and directories
 * must be owned by root and writable by nobody else. With no file at all, the built-in
 * default applies (the shipped policy/default.conf). */
VpushPolicy *vpush_policy_load_dirs (const gchar *const *dirs, gboolean require_root,
                                     GError **error);

guint vpush_policy_get_n_rules (VpushPolicy *self);
/* Whether a file of that name in a policy directory is read: "*.conf", not hidden */
gboolean vpush_policy_is_file_name (const gchar *name);

/* The files the rules came from, in order, for the log */
const gchar *const *vpush_policy_get_sources (VpushPolicy *self);

/* Whether a rule that could allow the query asks for the caller's session state. */
gboolean vpush_policy_needs_session (VpushPolicy *self, const VpushPolicyQuery *query);

/* The name of the first rule that allows the query. Or NULL, with *out_closest the rule
 * that came closest (NULL when none has the action for this caller) and *out_reason
 * saying which rule would be needed; the reason never names a factor or challenge the
 * query did not. */
const gchar *vpush_policy_check (VpushPolicy *self, const VpushPolicyQuery *query,
                                 const gchar **out_closest, gchar **out_reason);

G_END_DECLS
