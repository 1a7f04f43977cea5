/* Polls each factor's pending challenges on its schedule (jittered) and on demand;
 * new ones are fetched singly (for their signature fields) and put in the pending set,
 * ones that stopped being pending are taken out. */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

VpushPoller *vpush_poller_new (VpushManager *manager);
void vpush_poller_free (VpushPoller *self);

void vpush_poller_add_factor (VpushPoller *self, const gchar *factor_sid);
void vpush_poller_remove_factor (VpushPoller *self, const gchar *factor_sid);
/* The factor's poll interval may have become shorter (its push stream went down): a
 * pending poll is moved forward to it. */
void vpush_poller_reschedule (VpushPoller *self, const gchar *factor_sid);

/* Polls now (factor_sid NULL: every factor). Completes once a poll that started after
 * this call has finished, so nothing created before the call is missed. */
void vpush_poller_poll_async (VpushPoller *self, const gchar *factor_sid, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/* The same, but no sooner than a Retry-After the API gave the factor's last poll (or
 * gives the running one) allows: for polls no caller waits on, as the push channel's. */
void vpush_poller_poll_soon_async (VpushPoller *self, const gchar *factor_sid,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
/* As vpush_poller_poll_async() for the factors named (a factor that is gone is left out;
 * none: done at once), finished with vpush_poller_poll_finish(). */
void vpush_poller_poll_some_async (VpushPoller *self, const gchar *const *factor_sids,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean vpush_poller_poll_finish (VpushPoller *self, GAsyncResult *result, GError **error);

/* The wait before a factor's next poll, before jitter, after that many polls in a row
 * failed or were refused (vpushd.conf(5)) */
guint vpush_poller_backoff_s (guint interval_s, guint failures);

G_END_DECLS
