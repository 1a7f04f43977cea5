/* The API's list of a factor's newest challenges (one page), asked when an approval's
 * transaction id matches nothing vpushd has seen. Approvals asking about one factor share
 * its list, and only a few lists are at the API at once: 512 waiting approvals, each
 * listing every factor it may use, would otherwise hold a request and a parsed page per
 * approval and factor. */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

/* Called once per vpush_history_list() call: with the challenges listed (newest first,
 * borrowed for the call), or with NULL and the error; never from within
 * vpush_history_list(). */
typedef void (*VpushHistoryListed) (const gchar *factor_sid, GPtrArray *challenges,
                                    const GError *error, gpointer user_data);

VpushHistory *vpush_history_new (VpushManager *manager);
/* Drops the calls still waiting (their destroy runs, their callback does not). */
void vpush_history_free (VpushHistory *self);

/* Lists the factor's newest challenges, by a request sent after this call: a list not yet
 * sent is joined, one already at the API is followed by the next. */
void vpush_history_list (VpushHistory *self, const gchar *factor_sid, VpushHistoryListed callback,
                         gpointer user_data, GDestroyNotify destroy);

G_END_DECLS
