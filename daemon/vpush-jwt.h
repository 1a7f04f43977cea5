/* The two JWTs a push factor mints (protocol doc §5A and §5C). */
#pragma once

#include <json-glib/json-glib.h>

#include "vpush-crypto.h"

G_BEGIN_DECLS

/* Device auth JWT: header {cty, kid, typ, alg}, payload {sub, nbf = now, exp = now + 600}.
 * now is local time plus the clock correction, in unix seconds. */
gchar *vpush_jwt_device_auth (VpushKey *key, const gchar *credential_sid,
                              const gchar *account_sid, gint64 now, GError **error);

/* Challenge-answer JWT: header {typ, alg}; payload = the keys named in signature_fields
 * (comma separated, as the Twilio-Verify-Signature-Fields header gives them) copied
 * verbatim from the fetched challenge body, then status. A named key missing from the
 * body is an error and nothing is signed. */
gchar *vpush_jwt_challenge_answer (VpushKey *key, JsonObject *challenge_body,
                                   const gchar *signature_fields, const gchar *status,
                                   GError **error);

G_END_DECLS
