/* What a push hint sets off: the challenge it names fetched at once, or, when that fails,
 * a poll of its factor (design.md "Push channel"). */
#pragma once

#include "vpush-manager.h"

G_BEGIN_DECLS

typedef struct _VpushHintFetcher VpushHintFetcher;

/* manager is not referenced (it owns the push channel, which owns this). */
VpushHintFetcher *vpush_hint_fetcher_new (VpushManager *manager);
/* Cancels the fetches in flight: their results are dropped. */
void vpush_hint_fetcher_free (VpushHintFetcher *self);

/* Fetches the challenge and puts it in the pending set if it is pending, unless it is
 * known already (a resumed stream replays hints) or being fetched. */
void vpush_hint_fetcher_follow (VpushHintFetcher *self, const gchar *factor_sid,
                                const gchar *challenge_sid);
/* Polls the factor: for a hint that could not be followed, or a (re)connect. */
void vpush_hint_fetcher_poll (VpushHintFetcher *self, const gchar *factor_sid);
/* Forgets the factor's polls, at its removal: those of a factor that had one and was then
 * deleted would otherwise be kept for as long as vpushd runs. */
void vpush_hint_fetcher_remove_factor (VpushHintFetcher *self, const gchar *factor_sid);
/* Whether it keeps anything about polls of the factor, and whether one runs (for tests). */
gboolean vpush_hint_fetcher_has_poll (VpushHintFetcher *self, const gchar *factor_sid,
                                      gboolean *out_running);

G_END_DECLS
