/* The push channel (design.md "Push channel"): one long-lived stream per distinct push
 * URL, shared by the factors that use it. A hint fetches its challenge at once; every
 * (re)connect, and any hint that can't be read, polls the stream's factors. Polling stays
 * the source of truth: push only makes challenges arrive sooner. */
#pragma once

#include "vpush-hint-fetcher.h"
#include "vpush-http.h"
#include "vpush-manager.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_PUSH (vpush_push_get_type ())
G_DECLARE_FINAL_TYPE (VpushPush, vpush_push, VPUSH, PUSH, GObject)

/* manager is not referenced (it owns the push channel). Property "state": the value of
 * Manager.PushState, the worst of the streams ("disabled" when there is none). */
VpushPush *vpush_push_new (VpushManager *manager, VpushHttp *http);
const gchar *vpush_push_get_state (VpushPush *self);

/* Opens the stream of [Push] Url, if one is configured, factors or not. */
void vpush_push_start (VpushPush *self);
/* Puts the factor on the stream of its push URL (its own, else [Push] Url), or on none,
 * leaving its previous stream; a stream nobody uses any more is closed, but for that of
 * [Push] Url. */
void vpush_push_update_factor (VpushPush *self, const gchar *factor_sid);
void vpush_push_remove_factor (VpushPush *self, const gchar *factor_sid);
/* Replaces every stream's connection at once, and ends the waits for the next attempt
 * but for those a server asked for (vpush-wake.h). */
void vpush_push_reconnect (VpushPush *self);
/* The fetcher of what hints set off (for tests). */
VpushHintFetcher *vpush_push_get_hint_fetcher (VpushPush *self);

/* Whether the factor's stream is connected now (it then polls less often). */
gboolean vpush_push_factor_connected (VpushPush *self, const gchar *factor_sid);

G_END_DECLS
