/* The two JWTs a push factor mints (protocol doc §5A and §5C). */
#pragma once

#include <json-glib/json-glib.h>

#include "vpush-crypto.h"

G_BEGIN_DECLS

/* How long a device auth JWT is valid, in seconds (protocol doc §5A) */
#define VPUSH_JWT_DEVICE_LIFETIME_S 600

/* Device auth JWT: header {cty, kid, typ, alg}, payload {sub, nbf = now, exp = now + 600}.
 * now is local time plus the clock correction, in unix seconds. */
gchar *vpush_jwt_device_auth (VpushKey *key, const gchar *credential_sid, const gchar *account_sid,
                              gint64 now, GError **error);

/* What a challenge answer signs, made when the challenge is fetched: the payload's text
 * with the place of its status. */
typedef struct _VpushAnswerBody VpushAnswerBody;

/* The payload of the challenge-answer JWT: the keys named in signature_fields (comma
 * separated, as the Twilio-Verify-Signature-Fields header gives them) copied verbatim from
 * the fetched challenge body, in that order, and status (in the place of a copied status,
 * else last). A named key missing from the body, or no name at all, is an error. */
VpushAnswerBody *vpush_jwt_answer_body_new (JsonObject *challenge_body,
                                            const gchar *signature_fields, GError **error);
void vpush_answer_body_free (VpushAnswerBody *body);
/* The length of the payload's text, in bytes. */
gsize vpush_answer_body_get_length (const VpushAnswerBody *body);
/* The payload's JSON text for status (lower-case letters: "approved", "denied"). */
gchar *vpush_answer_body_payload (const VpushAnswerBody *body, const gchar *status);
/* Challenge-answer JWT: header {typ, alg}, that payload. */
gchar *vpush_jwt_answer_sign (VpushKey *key, const VpushAnswerBody *body, const gchar *status,
                              GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushAnswerBody, vpush_answer_body_free)

G_END_DECLS
