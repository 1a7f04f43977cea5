/* Manager.Refresh (dbus-api.md) */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

/* Polls every factor now, for the caller the policy lets in; replies once the poll is done,
 * with the first factor's error if a poll failed. */
void vpush_refresh_handle (VpushManager *manager, GDBusMethodInvocation *invocation);

G_END_DECLS
