/* How many calls one connection may have unanswered. vpushd answers a call at once, but
 * its replies wait in one queue for the bus to take them: a connection that sends calls
 * and never reads their replies makes the bus stop taking vpushd's, and without a bound
 * every other caller's reply would wait behind a queue that grows without end. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Calls of one connection that may be unanswered (read but not yet handled, being
 * handled, or their replies not yet taken by the bus) before its next calls are dropped,
 * unanswered. Far above the ApproveChallenge/DenyChallenge calls one connection may have
 * waiting, and above what an app sends at once. */
#define VPUSH_BUS_UNANSWERED_MAX 1024

/* Adds the filter that keeps the count to connection, for as long as it lives. */
void vpush_bus_quota_install (GDBusConnection *connection);

G_END_DECLS
