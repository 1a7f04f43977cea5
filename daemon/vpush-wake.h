/* Wake-ups from outside vpushd: the machine resumed from suspend (logind's
 * PrepareForSleep(false) on the system bus) or its network came back or changed
 * (GNetworkMonitor). A connection made before may then be dead without a word, and
 * challenges may have come or expired meanwhile: the push streams reconnect at once,
 * every factor is polled, and the expiries are looked at again. */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_WAKE (vpush_wake_get_type ())
G_DECLARE_FINAL_TYPE (VpushWake, vpush_wake, VPUSH, WAKE, GObject)

/* Starts watching (the system bus and the network monitor are set up off the main loop);
 * manager is not referenced: vpush_wake_stop() before it goes. */
VpushWake *vpush_wake_new (VpushManager *manager);
void vpush_wake_stop (VpushWake *self);

G_END_DECLS
