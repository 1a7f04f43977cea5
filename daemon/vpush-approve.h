/* Manager.ApproveChallenge / DenyChallenge: find exactly one pending challenge that
 * matches, re-check it, sign and post the answer. */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

/* status: "approved" or "denied" */
void vpush_approve_handle (VpushManager *manager, GDBusMethodInvocation *invocation,
                           GVariant *match, const gchar *status);

G_END_DECLS
