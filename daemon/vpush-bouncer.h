/* The one place where every method call is let in or refused, as bolt's bouncer does:
 * the caller's identity and login session against the policy. It writes the audit trail
 * of approve and deny decisions, and of every refusal. */
#pragma once

#include "vpush-challenge.h"
#include "vpush-factor-record.h"
#include "vpush-manager.h"
#include "vpush-policy.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_BOUNCER (vpush_bouncer_get_type ())
G_DECLARE_FINAL_TYPE (VpushBouncer, vpush_bouncer, VPUSH, BOUNCER, GObject)

/* policy_dir NULL: /etc/vpush/policy.d and $datadir/vpush/policy.d, whose files must be
 * root's; else policy_dir alone (tests). Fails when the policy is broken. A change in a
 * policy directory is loaded while running; a broken change leaves the old policy. */
VpushBouncer *vpush_bouncer_new (const gchar *policy_dir, GError **error);
/* The same over dirs, in that order; require_root as for the system directories. A
 * directory missing now is read once it is made. */
VpushBouncer *vpush_bouncer_new_for_dirs (const gchar *const *dirs, gboolean require_root,
                                          GError **error);
/* The policy in force: it changes on a reload. */
VpushPolicy *vpush_bouncer_get_policy (VpushBouncer *self);

/* Reads the policy again now (SIGHUP): for directories a monitor can't watch, such as on
 * some network file systems. A broken policy leaves the old one, as a change does. */
void vpush_bouncer_reload (VpushBouncer *self);

/* What a caller was let in with: the caller, and the rules that could cover a factor. */
typedef struct _VpushAccess VpushAccess;

void vpush_access_unref (VpushAccess *access);
const VpushCaller *vpush_access_get_caller (VpushAccess *access);
const gchar *vpush_access_get_rule (VpushAccess *access);
/* the login session the decision was taken with (logind's, else the caller's own) */
const gchar *vpush_access_get_session_id (VpushAccess *access);
/* Whether the current policy lets this caller do the same action on this factor. */
gboolean vpush_access_allows_factor (VpushAccess *access, const VpushFactorRecord *factor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushAccess, vpush_access_unref)

/* Whether the caller of invocation may do action (VPUSH_ACTION_NONE: any process of the
 * user may), on factor and challenge when given (NULL: on some factor or challenge).
 * match says how an approve or deny request names its challenge. A refusal is
 * G_DBUS_ERROR_ACCESS_DENIED saying which rule would be needed. */
void vpush_bouncer_authorize_async (VpushManager *manager, GDBusMethodInvocation *invocation,
                                    VpushAction action, VpushMatch match,
                                    const VpushFactorRecord *factor, VpushChallenge *challenge,
                                    GAsyncReadyCallback callback, gpointer user_data);
VpushAccess *vpush_bouncer_authorize_finish (GAsyncResult *result, GError **error);
/* The caller an authorization on invocation identified, for a log record; NULL if none. */
gchar *vpush_bouncer_describe_caller (GDBusMethodInvocation *invocation);
/* The caller's key for its ration of audit records (vpush_caller_key()) */
gchar *vpush_bouncer_caller_key (GDBusMethodInvocation *invocation);

typedef void (*VpushAllowedFunc) (gpointer data);

/* For methods that only need a yes: calls allowed (data), which takes data over, once
 * the caller may do action on factor (nullable; a record without a sid is a factor to be
 * enrolled under its friendly name); else replies AccessDenied to invocation and destroys
 * data. */
void vpush_bouncer_gate (VpushManager *manager, GDBusMethodInvocation *invocation,
                         VpushAction action, const VpushFactorRecord *factor,
                         VpushAllowedFunc allowed, gpointer data, GDestroyNotify destroy);

G_END_DECLS
