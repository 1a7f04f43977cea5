#include "vpush-bouncer.h"
#include "vpush-bouncer-private.h"

#include "vpush-error.h"
#include "vpush-log.h"
#include "vpush-names.h"

/* the caller's identity, looked up once per method call */
#define CALLER_DATA_KEY "vpush-caller"
#define BUILTIN_RULE    "built-in: any process of the user"

G_DEFINE_TYPE (VpushBouncer, vpush_bouncer, G_TYPE_OBJECT)

static void
vpush_bouncer_finalize (GObject *object)
{
  VpushBouncer *self = VPUSH_BOUNCER (object);

  g_clear_handle_id (&self->reload_id, g_source_remove);
  g_clear_handle_id (&self->writing_id, g_source_remove);
  g_hash_table_unref (self->writing);
  vpush_bouncer_unwatch (self);
  g_clear_object (&self->session);
  g_clear_object (&self->policy);
  g_strfreev (self->dirs);
  G_OBJECT_CLASS (vpush_bouncer_parent_class)->finalize (object);
}

static void
vpush_bouncer_class_init (VpushBouncerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_bouncer_finalize;
}

static void
vpush_bouncer_init (VpushBouncer *self)
{
  self->writing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

VpushBouncer *
vpush_bouncer_new_for_dirs (const gchar *const *dirs, gboolean require_root, GError **error)
{
  g_autoptr (VpushBouncer) self = g_object_new (VPUSH_TYPE_BOUNCER, NULL);

  self->dirs = g_strdupv ((gchar **)dirs);
  self->require_root = require_root;
  /* watched first, so that a change while the policy is read is not missed */
  vpush_bouncer_watch (self);
  self->policy
      = vpush_policy_load_dirs ((const gchar *const *)self->dirs, self->require_root, error);
  if (self->policy == NULL)
    return NULL;
  vpush_bouncer_log_policy (self, "loaded");
  self->session = vpush_session_new ();
  return g_steal_pointer (&self);
}

VpushBouncer *
vpush_bouncer_new (const gchar *policy_dir, GError **error)
{
  if (policy_dir != NULL)
    {
      /* logged and watched as the absolute path it named at start */
      g_autofree gchar *absolute = g_canonicalize_filename (policy_dir, NULL);
      const gchar *dirs[] = { absolute, NULL };

      /* the system directories may be missing; one named on the command line is a typo */
      if (!g_file_test (absolute, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                       "--policy-dir %s: no such directory", policy_dir);
          return NULL;
        }
      /* only root may widen who approves; --policy-dir is for tests */
      return vpush_bouncer_new_for_dirs (dirs, FALSE, error);
    }
  else
    {
      const gchar *dirs[] = { VPUSH_POLICY_SYSCONF_DIR, VPUSH_POLICY_DATADIR, NULL };

      return vpush_bouncer_new_for_dirs (dirs, TRUE, error);
    }
}

VpushPolicy *
vpush_bouncer_get_policy (VpushBouncer *self)
{
  g_return_val_if_fail (VPUSH_IS_BOUNCER (self), NULL);

  return self->policy;
}

/* Access */

struct _VpushAccess
{
  VpushBouncer *bouncer;
  GDBusMethodInvocation *invocation; /* holds the caller */
  const VpushCaller *caller;
  VpushAction action;
  VpushMatch match;
  VpushSessionState session;
  gchar *session_id;
  gchar *rule;
};

static void
access_clear (gpointer data)
{
  VpushAccess *access = data;

  g_clear_object (&access->bouncer);
  g_clear_object (&access->invocation);
  g_free (access->session_id);
  g_free (access->rule);
}

void
vpush_access_unref (VpushAccess *access)
{
  g_rc_box_release_full (access, access_clear);
}

const VpushCaller *
vpush_access_get_caller (VpushAccess *access)
{
  return access->caller;
}

const gchar *
vpush_access_get_rule (VpushAccess *access)
{
  return access->rule;
}

const gchar *
vpush_access_get_session_id (VpushAccess *access)
{
  return access->session_id;
}

gboolean
vpush_access_allows_factor (VpushAccess *access, const VpushFactorRecord *factor)
{
  VpushPolicyQuery query = {
    .action = access->action,
    .match = access->match,
    .caller = access->caller,
    .session = access->session,
    .factor_sid = factor->sid,
    .factor_name = vpush_factor_record_get_policy_name (factor),
    .challenge_age = -1,
  };

  if (access->action == VPUSH_ACTION_NONE)
    return TRUE;
  return access->bouncer != NULL
         && vpush_policy_check (access->bouncer->policy, &query, NULL, NULL) != NULL;
}

/* Authorization */

typedef struct
{
  VpushManager *manager;
  VpushBouncer *bouncer; /* nullable: no policy, nothing but NONE is allowed */
  GDBusMethodInvocation *invocation;
  VpushAction action;
  VpushMatch match;
  VpushFactorRecord *factor; /* nullable */
  VpushChallenge *challenge; /* nullable */
  const VpushCaller *caller; /* the invocation's */
  VpushSessionState session;
  gchar *session_id;
} Auth;

static void
auth_free (Auth *auth)
{
  g_clear_object (&auth->manager);
  g_clear_object (&auth->bouncer);
  g_clear_object (&auth->invocation);
  g_clear_pointer (&auth->factor, vpush_factor_record_free);
  g_clear_pointer (&auth->challenge, vpush_challenge_unref);
  g_free (auth->session_id);
  g_free (auth);
}

static void
fill_query (Auth *auth, VpushPolicyQuery *query)
{
  *query = (VpushPolicyQuery){
    .action = auth->action,
    .match = auth->match,
    .caller = auth->caller,
    .session = auth->session,
    .factor_sid = auth->factor ? auth->factor->sid : NULL,
    .factor_name = auth->factor ? vpush_factor_record_get_policy_name (auth->factor) : NULL,
    .challenge_age = -1,
  };
  if (auth->challenge != NULL)
    {
      gint64 now = vpush_verify_now (vpush_manager_get_verify (auth->manager));

      /* by the API's clock, if ours runs behind it */
      now = vpush_challenge_now (auth->challenge, now);
      query->challenge_age = MAX (0, now - auth->challenge->created_at);
    }
}

/* how much of a transaction id an audit message quotes */
#define TXN_SHOWN_MAX 64

/* What an ApproveChallenge or DenyChallenge asked for, for a decision taken before its
 * challenge is known: the match was checked before the policy was asked. */
static void
requested (Auth *auth, const gchar **txn, const gchar **challenge, const gchar **factor)
{
  g_autoptr (GVariant) match = NULL;

  *txn = *challenge = *factor = NULL;
  if (!(auth->action & (VPUSH_ACTION_APPROVE | VPUSH_ACTION_DENY)))
    return;
  match = g_variant_get_child_value (g_dbus_method_invocation_get_parameters (auth->invocation), 0);
  g_variant_lookup (match, VPUSH_DBUS_MATCH_TRANSACTION_ID, "&s", txn);
  g_variant_lookup (match, VPUSH_DBUS_MATCH_CHALLENGE_SID, "&s", challenge);
  g_variant_lookup (match, VPUSH_DBUS_MATCH_FACTOR_SID, "&s", factor);
}

static void
audit (Auth *auth, const gchar *decision, const gchar *rule, const gchar *reason)
{
  const VpushCaller *c = auth->caller;
  const gchar *action = vpush_action_to_string (auth->action);
  g_autofree gchar *who = NULL;
  g_autofree gchar *pid = NULL;
  g_autofree gchar *target = NULL;
  const gchar *req_txn, *req_challenge, *req_factor;
  g_autofree gchar *txn_shown = NULL;

  if (c != NULL)
    {
      who = vpush_caller_describe (c);
      pid = g_strdup_printf ("%u", c->pid);
    }
  else
    who = g_strdup_printf ("unidentified caller %s",
                           g_dbus_method_invocation_get_sender (auth->invocation));
  requested (auth, &req_txn, &req_challenge, &req_factor);
  /* a call by challenge sid decides on a challenge whose transaction id is known: with it,
   * VPUSH_TRANSACTION finds every decision on the transaction */
  if (req_txn == NULL && auth->challenge != NULL)
    req_txn = vpush_challenge_get_hidden (
        auth->challenge, vpush_manager_get_config (auth->manager)->transaction_id_key);
  /* a refused caller's own text: shortened in the message (the field keeps it whole) */
  if (req_txn != NULL && g_utf8_strlen (req_txn, -1) > TXN_SHOWN_MAX)
    {
      g_autofree gchar *head = g_utf8_substring (req_txn, 0, TXN_SHOWN_MAX);

      txn_shown = g_strconcat (head, "…", NULL);
    }
  if (auth->challenge != NULL)
    target = g_strdup_printf (" of challenge %s of factor %s", auth->challenge->sid,
                              auth->challenge->factor_sid);
  else if (auth->factor != NULL && auth->factor->sid == NULL)
    target = g_strdup_printf (" of a factor named “%s”", auth->factor->friendly_name);
  else if (auth->factor != NULL)
    target = g_strdup_printf (" of factor %s", auth->factor->sid);
  else if (req_txn != NULL || req_challenge != NULL)
    target = g_strdup_printf (req_txn ? " of transaction id “%s”%s%s" : " of challenge %s%s%s",
                              req_txn ? (txn_shown ? txn_shown : req_txn) : req_challenge,
                              req_factor ? " of factor " : "", req_factor ? req_factor : "");

  {
    const GLogField fields[] = {
      { VPUSH_LOG_FIELD_ACTION, action, -1 },
      { VPUSH_LOG_FIELD_DECISION, decision, -1 },
      { VPUSH_LOG_FIELD_RULE, rule, -1 },
      { VPUSH_LOG_FIELD_FACTOR,
        auth->challenge ? auth->challenge->factor_sid
        : auth->factor  ? auth->factor->sid
                        : req_factor,
        -1 },
      { VPUSH_LOG_FIELD_CHALLENGE, auth->challenge ? auth->challenge->sid : req_challenge, -1 },
      { VPUSH_LOG_FIELD_TRANSACTION, req_txn, -1 },
      { VPUSH_LOG_FIELD_CALLER, who, -1 },
      { VPUSH_LOG_FIELD_CALLER_EXE, c ? c->exe : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_UNIT, c ? c->unit : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_APP, c ? c->app_id : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_PID, pid, -1 },
      { VPUSH_LOG_FIELD_CALLER_SESSION,
        auth->session_id ? auth->session_id
        : c              ? c->session
                         : NULL,
        -1 },
    };

    g_autofree gchar *key = vpush_caller_key (c);

    /* A caller's flood of calls is counted, not written: only an approval or denial
     * allowed on its challenge always is (vpush-log-ration.c) */
    if ((reason != NULL || auth->challenge == NULL)
        && !vpush_log_ration_take (key, fields, G_N_ELEMENTS (fields)))
      return;
    if (reason != NULL)
      vpush_log_fields (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_DECISION, fields, G_N_ELEMENTS (fields),
                        "%s%s %s for %s: %s", action, target ? target : "",
                        g_str_equal (decision, VPUSH_DECISION_FAILED) ? "not decided" : "refused",
                        who, reason);
    else
      vpush_log_fields (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_DECISION, fields, G_N_ELEMENTS (fields),
                        "%s%s allowed for %s by rule “%s”", action, target ? target : "", who,
                        rule);
  }
}

static void
refuse (GTask *task, const gchar *closest_rule, const gchar *reason)
{
  Auth *auth = g_task_get_task_data (task);

  audit (auth, VPUSH_DECISION_REFUSED, closest_rule, reason);
  g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, "%s", reason);
}

static void
allow (GTask *task, const gchar *rule)
{
  Auth *auth = g_task_get_task_data (task);
  VpushAccess *access = g_rc_box_new0 (VpushAccess);

  /* every decision is in the audit trail (design.md), but for calls open to all and the
   * first look at an answer, whose decision is the one on its challenge */
  if (auth->action != VPUSH_ACTION_NONE
      && (!(auth->action & (VPUSH_ACTION_APPROVE | VPUSH_ACTION_DENY)) || auth->challenge != NULL))
    audit (auth, VPUSH_DECISION_ALLOWED, rule, NULL);
  else if (vpush_log_debug_enabled ())
    g_debug ("%s allowed for %s (pid %u) by rule “%s”", vpush_action_to_string (auth->action),
             auth->caller->exe ? auth->caller->exe : "unknown executable", auth->caller->pid, rule);

  access->bouncer = auth->bouncer ? g_object_ref (auth->bouncer) : NULL;
  access->invocation = g_object_ref (auth->invocation);
  access->caller = auth->caller;
  access->action = auth->action;
  access->match = auth->match;
  access->session = auth->session;
  access->session_id = g_strdup (auth->session_id ? auth->session_id : auth->caller->session);
  access->rule = g_strdup (rule);
  g_task_return_pointer (task, access, (GDestroyNotify)vpush_access_unref);
}

static void
decide (GTask *task)
{
  Auth *auth = g_task_get_task_data (task);
  VpushPolicyQuery query;
  g_autofree gchar *reason = NULL;
  const gchar *closest = NULL;
  const gchar *rule;

  fill_query (auth, &query);
  rule = vpush_policy_check (auth->bouncer->policy, &query, &closest, &reason);
  if (rule != NULL)
    allow (task, rule);
  else
    refuse (task, closest, reason);
}

static void
session_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Auth *auth = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  auth->session
      = vpush_session_query_finish (VPUSH_SESSION (source), result, &auth->session_id, &error);
  if (error != NULL)
    g_message ("the login session of pid %u is unknown: %s", auth->caller->pid, error->message);
  /* logind was asked about a pid: it must still be the pinned process */
  if (!vpush_caller_is_alive (auth->caller))
    {
      refuse (task, NULL, "the caller exited while its login session was looked up");
      return;
    }
  decide (task);
}

static void
check_session (GTask *task)
{
  Auth *auth = g_task_get_task_data (task);
  VpushPolicyQuery query;

  if (auth->action == VPUSH_ACTION_NONE)
    {
      allow (task, BUILTIN_RULE);
      return;
    }
  if (auth->bouncer == NULL)
    {
      refuse (task, NULL, "no policy is loaded");
      return;
    }
  fill_query (auth, &query);
  if (vpush_policy_needs_session (auth->bouncer->policy, &query))
    {
      vpush_session_query_async (auth->bouncer->session, auth->caller->pid, auth->caller->uid,
                                 auth->caller->user_manager_uid == (gint64)auth->caller->uid,
                                 session_cb, g_object_ref (task));
      return;
    }
  decide (task);
}

static void
caller_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Auth *auth = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  VpushCaller *caller;

  caller = vpush_caller_lookup_finish (result, &error);
  /* vpushd short of descriptors or memory: no decision, a failure of its own (still in
   * the audit trail, as a refusal would be) */
  if (caller == NULL && g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_FAILED))
    {
      audit (auth, VPUSH_DECISION_FAILED, NULL, error->message);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (caller == NULL)
    {
      refuse (task, NULL, error->message);
      return;
    }
  g_object_set_data_full (G_OBJECT (auth->invocation), CALLER_DATA_KEY, caller,
                          (GDestroyNotify)vpush_caller_free);
  auth->caller = caller;
  check_session (task);
}

void
vpush_bouncer_authorize_async (VpushManager *manager, GDBusMethodInvocation *invocation,
                               VpushAction action, VpushMatch match,
                               const VpushFactorRecord *factor, VpushChallenge *challenge,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, callback, user_data);
  VpushBouncer *bouncer = vpush_manager_get_bouncer (manager);
  Auth *auth = g_new0 (Auth, 1);

  auth->manager = g_object_ref (manager);
  auth->bouncer = bouncer ? g_object_ref (bouncer) : NULL;
  auth->invocation = g_object_ref (invocation);
  auth->action = action;
  auth->match = match;
  auth->factor = factor ? vpush_factor_record_copy (factor) : NULL;
  auth->challenge = challenge ? vpush_challenge_ref (challenge) : NULL;
  auth->session = VPUSH_SESSION_UNKNOWN;
  g_task_set_task_data (task, auth, (GDestroyNotify)auth_free);

  auth->caller = g_object_get_data (G_OBJECT (invocation), CALLER_DATA_KEY);
  if (auth->caller != NULL)
    {
      check_session (task);
      return;
    }
  vpush_caller_lookup_async (g_dbus_method_invocation_get_connection (invocation),
                             g_dbus_method_invocation_get_sender (invocation), caller_cb,
                             g_steal_pointer (&task));
}

gchar *
vpush_bouncer_describe_caller (GDBusMethodInvocation *invocation)
{
  const VpushCaller *caller = g_object_get_data (G_OBJECT (invocation), CALLER_DATA_KEY);

  return caller != NULL ? vpush_caller_describe (caller) : NULL;
}

gchar *
vpush_bouncer_caller_key (GDBusMethodInvocation *invocation)
{
  return vpush_caller_key (g_object_get_data (G_OBJECT (invocation), CALLER_DATA_KEY));
}

VpushAccess *
vpush_bouncer_authorize_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Gate */

typedef struct
{
  GDBusMethodInvocation *invocation;
  VpushAllowedFunc allowed;
  gpointer data;
  GDestroyNotify destroy;
} Gate;

static void
gate_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Gate *gate = user_data;
  g_autoptr (VpushAccess) access = NULL;
  g_autoptr (GError) error = NULL;

  access = vpush_bouncer_authorize_finish (result, &error);
  if (access != NULL)
    gate->allowed (gate->data);
  else
    {
      vpush_error_return (gate->invocation, error);
      if (gate->destroy != NULL)
        gate->destroy (gate->data);
    }
  g_object_unref (gate->invocation);
  g_free (gate);
}

void
vpush_bouncer_gate (VpushManager *manager, GDBusMethodInvocation *invocation, VpushAction action,
                    const VpushFactorRecord *factor, VpushAllowedFunc allowed, gpointer data,
                    GDestroyNotify destroy)
{
  Gate *gate = g_new0 (Gate, 1);

  gate->invocation = g_object_ref (invocation);
  gate->allowed = allowed;
  gate->data = data;
  gate->destroy = destroy;
  vpush_bouncer_authorize_async (manager, invocation, action, VPUSH_MATCH_NONE, factor, NULL,
                                 gate_cb, gate);
}
