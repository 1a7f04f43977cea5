/* A challenge as the Verify API returns it, validated field by field. */
#pragma once

#include <json-glib/json-glib.h>

#include "vpush-jwt.h"

G_BEGIN_DECLS

typedef struct
{
  gint ref_count;
  gchar *sid;                   /* YC… */
  gchar *factor_sid;            /* YF… */
  gchar *status;                /* pending, approved, denied, expired */
  gchar *message;               /* details.message */
  GVariant *fields;             /* a(ss) from details.fields, never NULL */
  gint64 created_at;            /* unix seconds */
  gint64 expires_at;            /* unix seconds */
  gchar *responded_reason;      /* nullable */
  gchar **hidden_details;       /* nullable; key, value, … of its string members */
  gchar *signature_fields;      /* from a single GET of a pending challenge, else NULL */
  VpushAnswerBody *answer_body; /* with signature_fields: what the answer signs, or NULL and */
  GError *answer_error;         /* why no answer can be signed (a listed field is missing) */
  gint64 api_date;              /* single GET: the API's Date when this copy came, else 0 */
  gint64 api_date_boot;         /* and when it came, CLOCK_BOOTTIME µs (vpush_time_boot_us) */
} VpushChallenge;

/* Maps one challenge object of a GET or list response. Requires what the SDKs do (protocol
 * doc §3.5): sid, factor_sid, status, date_created, date_updated, expiration_date, details
 * and its message; rejects wrong types and bad sid shapes. */
VpushChallenge *vpush_challenge_new_from_json (JsonNode *node, GError **error);
VpushChallenge *vpush_challenge_ref (VpushChallenge *challenge);
void vpush_challenge_unref (VpushChallenge *challenge);

/* Keeps what an answer signs (§5C): the members of node (the GET response the challenge
 * was mapped from) that signature_fields lists, verbatim, as the payload's JSON text (a
 * tree of the whole response costs several times as much per pending challenge), or the
 * error that signing it would give. */
void vpush_challenge_set_signature_fields (VpushChallenge *challenge, JsonNode *node,
                                           const gchar *signature_fields);

/* hidden_details[key] when it is a string, else NULL. */
const gchar *vpush_challenge_get_hidden (VpushChallenge *challenge, const gchar *key);
/* Now, unix seconds: the latest the API's clock can read by the Date this copy came with
 * (a fetch's or a list's) and the time since, or
 * local_now (the machine's clock, as corrected) when that is later or there was none. */
gint64 vpush_challenge_now (VpushChallenge *challenge, gint64 local_now);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushChallenge, vpush_challenge_unref)

G_END_DECLS
