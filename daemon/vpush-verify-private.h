/* Internal parts of the Verify API client, shared by vpush-verify.c (the object and how a
 * call is sent: auth, transport, retries), vpush-verify-calls.c (the seven calls) and
 * vpush-verify-map.c (response mapping), and exposed for tests and fuzzing; not API. */
#pragma once

#include "vpush-verify.h"

G_BEGIN_DECLS

struct _VpushVerify
{
  GObject parent_instance;

  VpushHttp *http;
  gchar *base_url; /* always ends with '/' */
  guint timeout_ms;
  gint64 clock_offset;    /* last learnt or set: the API's clock - the wall clock then, s */
  gboolean clock_learnt;  /* else the wall clock is taken for the API's */
  gint64 clock_anchor;    /* the API's clock - CLOCK_BOOTTIME, µs: NTP stepping the wall
                           * clock later does not move it */
  guint retry_timeout_ms; /* 0: transient failures are not retried */
  guint backoff_base_ms;
  guint backoff_max_ms;
  VpushVerifyKeyGuard key_guard; /* nullable */
  gpointer key_guard_data;
};

typedef struct _Call Call;

/* Turns a 2xx response into the call's result; *out is left alone for boolean calls. */
typedef gboolean (*CallMapFunc) (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                 gpointer *out, GError **error);

struct _Call
{
  const gchar *method;
  gchar *url;
  GBytes *body;              /* form body, NULL for GET and DELETE */
  gchar *access_token;       /* create-factor only; every other call signs a device JWT */
  gchar *auth_payload;       /* verify and answer: the body's AuthPayload */
  gchar *password;           /* the last attempt's Basic password: the token or a JWT */
  gchar *basic;              /* and its Basic value; these three are masked in API errors */
  VpushFactorRecord *factor; /* the factor whose key authenticates the call */
  VpushKey *key;             /* borrowed: the caller keeps it alive until the callback */
  gboolean retried;          /* the one clock-skew retry was used */
  gboolean idempotent;       /* may be sent again when the API may have acted on it */
  gboolean maybe_delivered;  /* an attempt may have reached the API, its reply lost or unread */
  gboolean accepted;         /* the API answered 2xx, whether or not its body maps */
  guint64 retry_after_ms;    /* the Retry-After of the last attempt, 0: none */
  guint status;              /* the HTTP status of the last attempt's reply, 0: none */
  guint retries;             /* transient-failure retries so far */
  gint64 started;            /* monotonic µs of the first attempt */
  gint64 deadline;           /* monotonic µs no retry may run past; 0: from retry_timeout_ms */
  gint64 expires_at;         /* an answer: its challenge's expiry (server time, unix s); else 0 */
  gchar *challenge_sid;      /* a fetch or an answer: the challenge the response must be */
  gboolean is_delete;        /* §3.4 outcome rules */
  guint page_size;           /* a list: the most items a page may hold */
  gboolean is_fetch;         /* 404 → VPUSH_ERROR_NOT_FOUND */
  CallMapFunc map;           /* NULL: success needs no body */
  GDestroyNotify result_free;

  /* create-factor: what the record takes from the request */
  gchar *service_sid;
  gchar *identity;
  gchar *friendly_name;
};

/* vpush-verify.c: a task for a call, filled in by the caller; failing it before it is sent */
GTask *vpush_verify_call_new (VpushVerify *self, gpointer source_tag, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data, Call **out_call);
void vpush_verify_call_fail (GTask *task, GError *error);
/* Sends the call, with retries; consumes the task reference. */
void vpush_verify_call_send (GTask *task);

/* vpush-verify-map.c: an API error from a non-2xx response, and the CallMapFunc of each call.
 * credentials (NULL-terminated, nullable): what the request sent; a piece of one the
 * response's message quotes is masked. */
void vpush_verify_set_api_error (VpushHttpResponse *response, const gchar *const *credentials,
                                 GError **error);
gboolean vpush_verify_map_create_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                         gpointer *out, GError **error);
gboolean vpush_verify_map_verify_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                         gpointer *out, GError **error);
gboolean vpush_verify_map_update_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                         gpointer *out, GError **error);
gboolean vpush_verify_map_challenge (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                     gpointer *out, GError **error);
gboolean vpush_verify_map_challenge_page (VpushVerify *self, Call *call,
                                          VpushHttpResponse *response, gpointer *out,
                                          GError **error);

/* Maps the body of a list-challenges response (#6): every item must be a challenge of
 * factor, and meta.next_page_url (resolved against base_url) gives the next page token.
 * A page of more than page_size items (what was asked for) is refused whole. Fails with
 * G_IO_ERROR_INVALID_DATA. */
VpushChallengePage *vpush_verify_parse_challenge_page (const gchar *base_url,
                                                       const VpushFactorRecord *factor,
                                                       guint page_size, VpushHttpResponse *response,
                                                       GError **error);

/* The wait before transient-failure retry number retry (1-based): evenly in [d/2, d] with
 * d = min (base_ms × 2^(retry-1), max_ms), random picking the point. */
guint vpush_verify_backoff_ms (guint base_ms, guint max_ms, guint retry, guint32 random);
/* For tests: the backoff's base and ceiling (default 500 and 8000 ms). */
void vpush_verify_set_backoff (VpushVerify *self, guint base_ms, guint max_ms);

G_END_DECLS
