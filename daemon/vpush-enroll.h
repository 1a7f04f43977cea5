/* Manager.EnrollFactor: key, remote create, key store, verify, record, object — and no
 * orphan on either side when a step fails. */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

void vpush_enroll_handle (VpushManager *manager, GDBusMethodInvocation *invocation,
                          GVariant *request);

G_END_DECLS
