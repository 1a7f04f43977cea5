/* The Verify API device calls (protocol doc §3), JSON in and out, error mapping and the
 * 401 + Date clock-skew retry (§6). */
#pragma once

#include "vpush-challenge.h"
#include "vpush-crypto.h"
#include "vpush-factor-record.h"
#include "vpush-http.h"

G_BEGIN_DECLS

#define VPUSH_VERIFY_SDK_VERSION "vpush-" VPUSH_VERSION
#define VPUSH_VERIFY_APP_ID      "io.github.vpush"

typedef struct
{
  GPtrArray *challenges;  /* VpushChallenge */
  gchar *next_page_token; /* nullable */
  gboolean incomplete;    /* an item was left out: a challenge's absence says nothing */
} VpushChallengePage;

void vpush_challenge_page_free (VpushChallengePage *page);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushChallengePage, vpush_challenge_page_free)

#define VPUSH_TYPE_VERIFY (vpush_verify_get_type ())
G_DECLARE_FINAL_TYPE (VpushVerify, vpush_verify, VPUSH, VERIFY, GObject)

/* base_url ends with "/v2/"; it is checked with vpush_http_check_url(). Signal
 * "clock-corrected" (gint64 offset) is emitted when a 401 + Date changed the offset;
 * "attempt-finished" (GError *failure, const gchar *factor_sid) after every request: NULL
 * when the API answered, else why it did not (a transport failure, 429 or 5xx), retried or
 * not; factor_sid is the factor the request is of, NULL for one of none (a create). */
VpushVerify *vpush_verify_new (VpushHttp *http, const gchar *base_url, guint timeout_ms,
                               GError **error);
/* The base URL its calls go to, ending with "/" */
const gchar *vpush_verify_get_base_url (VpushVerify *self);
/* How long a call other than an answer keeps retrying transient failures (network,
 * timeouts, 429, 5xx), in all; 0 turns those retries off. An answer retries until the
 * challenge expires. Default 20000. */
void vpush_verify_set_retry_timeout (VpushVerify *self, guint retry_timeout_ms);
/* Asked before each attempt of an answer to a challenge (retries included): FALSE, with
 * error set, fails the call there, unsent. An approval holds its key from its start, and
 * vpushd answers nothing while the keyring is locked. Other calls go on: a GET reveals
 * nothing, and a DELETE or an update whose reply was lost finishes what the user asked for
 * before the lock. NULL: no guard. */
typedef gboolean (*VpushVerifyKeyGuard) (gpointer user_data, GError **error);
void vpush_verify_set_key_guard (VpushVerify *self, VpushVerifyKeyGuard guard, gpointer user_data);
/* After a call failed: TRUE when one of its attempts may have reached the API and its
 * reply was lost (a timeout, a broken connection, a 5xx). For an answer refused after that,
 * fetch the challenge to learn whether that first attempt went through. */
gboolean vpush_verify_call_maybe_delivered (VpushVerify *self, GAsyncResult *result);
/* After a call failed: TRUE when the API took it (a 2xx) and only its reply's body could not
 * be mapped. */
gboolean vpush_verify_call_accepted (VpushVerify *self, GAsyncResult *result);
/* After a call failed: how long its last attempt's Retry-After (a 429 or 5xx) asked to
 * wait, in milliseconds (at most an hour); 0 when it asked for nothing. */
guint64 vpush_verify_call_get_retry_after (VpushVerify *self, GAsyncResult *result);
/* The HTTP status of the reply to a finished call's last attempt; 0 if it had none. */
guint vpush_verify_call_get_status (VpushVerify *self, GAsyncResult *result);
/* The clock offset last learnt from a 401 or set: the API's clock minus the wall clock
 * then, in seconds (what clock.json keeps). Setting one takes the wall clock + offset for
 * the API's clock now; 0 is none. */
gint64 vpush_verify_get_clock_offset (VpushVerify *self);
void vpush_verify_set_clock_offset (VpushVerify *self, gint64 offset_seconds);
/* The API's clock, unix seconds: with an offset, its time when the offset was learnt or
 * set plus the time since on the boot clock, so that the wall clock stepped since (by NTP,
 * say) does not move it; else the wall clock. */
gint64 vpush_verify_now (VpushVerify *self);

/* Errors of every call: VPUSH_ERROR_NETWORK (transport), VPUSH_ERROR_API (message
 * "HTTP <status>, code <code>: <message>"), VPUSH_ERROR_NOT_FOUND for 404 on fetch,
 * G_IO_ERROR_INVALID_DATA for a response that does not map. */

/* #1 POST Factors with the access token. metadata_json nullable. Returns a new record
 * (status unverified; service sid and identity from the request). */
void vpush_verify_create_factor_async (VpushVerify *self, const gchar *service_sid,
                                       const gchar *identity, const gchar *access_token,
                                       const gchar *friendly_name, const gchar *public_key_b64,
                                       const gchar *metadata_json, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
VpushFactorRecord *vpush_verify_create_factor_finish (VpushVerify *self, GAsyncResult *result,
                                                      GError **error);

/* #2 POST AuthPayload = base64 DER signature over the factor sid. Returns the new status. */
void vpush_verify_verify_factor_async (VpushVerify *self, const VpushFactorRecord *factor,
                                       VpushKey *key, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
gchar *vpush_verify_verify_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error);

/* #3 POST FriendlyName + Config.*. */
void vpush_verify_update_factor_async (VpushVerify *self, const VpushFactorRecord *factor,
                                       VpushKey *key, const gchar *friendly_name,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
gboolean vpush_verify_update_factor_finish (VpushVerify *self, GAsyncResult *result,
                                            GError **error);

/* #4 DELETE; 404, and 401 again after the clock retry, count as done (§3.4). */
void vpush_verify_delete_factor_async (VpushVerify *self, const VpushFactorRecord *factor,
                                       VpushKey *key, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_verify_delete_factor_finish (VpushVerify *self, GAsyncResult *result,
                                            GError **error);

/* #5 GET one challenge; keeps Twilio-Verify-Signature-Fields when pending. A challenge
 * of another factor is an error. */
void vpush_verify_fetch_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                         VpushKey *key, const gchar *challenge_sid,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
VpushChallenge *vpush_verify_fetch_challenge_finish (VpushVerify *self, GAsyncResult *result,
                                                     GError **error);

/* The most one challenge of the API takes as JSON: a 256-character message, 20 fields of
 * 36 and 128 characters, 1024 characters of hidden details (protocol doc §12), each
 * character a \u escape of 6 bytes, and the rest of it (sids, dates, links). A list's
 * reply may be this much a challenge asked for, when that is more than VPUSH_HTTP_BODY_CAP. */
#define VPUSH_VERIFY_CHALLENGE_JSON_MAX (32 * 1024)

/* #6 GET one page. status, order and page_token nullable; page_size 1–1000. */
void vpush_verify_list_challenges_async (VpushVerify *self, const VpushFactorRecord *factor,
                                         VpushKey *key, const gchar *status, const gchar *order,
                                         guint page_size, const gchar *page_token,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
VpushChallengePage *vpush_verify_list_challenges_finish (VpushVerify *self, GAsyncResult *result,
                                                         GError **error);

/* #7 POST AuthPayload = answer JWT over the challenge's signature fields + status
 * ("approved" or "denied"). The challenge must come from a fetch (signature fields set).
 * Returns the challenge as the API answered it. */
void vpush_verify_answer_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                          VpushKey *key, VpushChallenge *challenge,
                                          const gchar *status, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
VpushChallenge *vpush_verify_answer_challenge_finish (VpushVerify *self, GAsyncResult *result,
                                                      GError **error);

/* Retry-After (delay-seconds or an HTTP-date, relative to date, the response's Date
 * header, or else to now, in unix seconds (the server's clock)) in milliseconds; FALSE when it
 * can't be read. */
gboolean vpush_verify_parse_retry_after (const gchar *value, const gchar *date, gint64 now,
                                         guint64 *out_ms);

G_END_DECLS
