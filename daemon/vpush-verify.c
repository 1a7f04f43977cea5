#include "vpush-verify.h"
#include "vpush-verify-private.h"

#include <curl/curl.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-jwt.h"
#include "vpush-log.h"
#include "vpush-time.h"

/* Retries of transient failures (design.md "Reliability rules", README "When things
 * fail"), on top of the one 401 + Date retry of §6:
 * - transient: no connection, a timeout, a connection that broke before the whole answer,
 *   HTTP 429, 500, 502, 503, 504. Anything else (other statuses, a body over the cap, a
 *   certificate that does not verify, a 2xx that does not map) is final at once;
 * - the wait before retry n is drawn evenly from [d/2, d], d = min (BASE × 2ⁿ⁻¹, MAX), and
 *   is at least what a Retry-After asked for;
 * - a retry is only started if it leaves RETRY_MIN_LEFT_MS before the call's deadline,
 *   and its request timeout is cut to what is left (never below RETRY_MIN_LEFT_MS): the
 *   deadline is retry_timeout_ms after the first attempt, and for an answer no later than
 *   the challenge's expiry;
 * - create-factor is not idempotent: a lost reply may have created a factor that nobody
 *   could name, so it is retried only when the API can't have acted (no connection, 429). */
#define RETRY_TIMEOUT_MS_DEFAULT 20000
#define BACKOFF_BASE_MS          500
#define BACKOFF_MAX_MS           8000
#define RETRY_MIN_LEFT_MS        1000
/* a Retry-After longer than this is taken as this (it is past any deadline anyway) */
#define RETRY_AFTER_MAX_MS (3600 * 1000)

enum
{
  SIGNAL_CLOCK_CORRECTED,
  SIGNAL_ATTEMPT_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (VpushVerify, vpush_verify, G_TYPE_OBJECT)

static void
wipe_free (gchar *secret)
{
  if (secret != NULL)
    vpush_secure_free (secret, strlen (secret));
}

static void
call_free (gpointer data)
{
  Call *call = data;

  g_free (call->url);
  g_free (call->challenge_sid);
  g_clear_pointer (&call->body, g_bytes_unref);
  wipe_free (call->access_token);
  wipe_free (call->auth_payload);
  wipe_free (call->password);
  wipe_free (call->basic);
  g_clear_pointer (&call->factor, vpush_factor_record_free);
  g_free (call->service_sid);
  g_free (call->identity);
  g_free (call->friendly_name);
  g_free (call);
}

/* The API's clock reads api_now_us now, and goes on with the boot clock from here */
static void
anchor_clock (VpushVerify *self, gint64 api_now_us)
{
  self->clock_learnt = TRUE;
  self->clock_anchor = api_now_us - vpush_time_boot_us ();
}

static gboolean
correct_clock (VpushVerify *self, const gchar *date)
{
  time_t server;
  gint64 offset;
  gint64 delta;

  if (date == NULL)
    return FALSE;
  server = curl_getdate (date, NULL);
  if (server == (time_t)-1)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (date);

      g_debug ("401 with an unreadable Date header “%s”", quoted);
      return FALSE;
    }
  offset = (gint64)server - g_get_real_time () / G_USEC_PER_SEC;
  if (offset < -VPUSH_TIME_OFFSET_MAX || offset > VPUSH_TIME_OFFSET_MAX)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (date);

      g_debug ("401 with a Date header “%s” too far from the local clock to correct it", quoted);
      return FALSE;
    }
  /* §6: the API refused a JWT and says what time it is. Date has whole seconds, so the
   * same clocks measure one second apart from one 401 to the next: a second later is taken
   * only as part of a larger correction. A second earlier is always taken, since a clock a
   * second fast is refused by an API without an allowance; that way the clock settles on
   * the lower of the two and does not flip between them. */
  delta = (gint64)server - vpush_verify_now (self);
  if (delta < 0 || delta > 1)
    {
      g_info ("clock offset to the Verify API is now %" G_GINT64_FORMAT " s", offset);
      self->clock_offset = offset;
      anchor_clock (self, (gint64)server * G_USEC_PER_SEC);
      g_signal_emit (self, signals[SIGNAL_CLOCK_CORRECTED], 0, offset);
    }
  return TRUE;
}

static void
call_return_success (VpushVerify *self, GTask *task, Call *call, VpushHttpResponse *response)
{
  g_autoptr (GError) error = NULL;
  gpointer result = NULL;

  if (call->map != NULL && !call->map (self, call, response, &result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (call->result_free != NULL)
    g_task_return_pointer (task, result, call->result_free);
  else
    g_task_return_boolean (task, TRUE);
}

/* Retry-After (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date taken relative to the
 * response's Date (else to now, server-aligned unix seconds). */
gboolean
vpush_verify_parse_retry_after (const gchar *value, const gchar *date, gint64 now, guint64 *out_ms)
{
  guint64 seconds;
  time_t when;
  time_t base;

  if (value == NULL || *value == '\0')
    return FALSE;
  if (g_ascii_isdigit (*value))
    {
      /* all digits; a number too big for 64 bits is still "very long" */
      for (const gchar *p = value; *p != '\0'; p++)
        if (!g_ascii_isdigit (*p))
          return FALSE;
      if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &seconds, NULL))
        seconds = G_MAXUINT64;
      *out_ms = seconds > RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS : seconds * 1000;
      return TRUE;
    }
  when = curl_getdate (value, NULL);
  if (when == (time_t)-1)
    return FALSE;
  base = date != NULL ? curl_getdate (date, NULL) : (time_t)-1;
  if (base == (time_t)-1)
    base = (time_t)now;
  if (when <= base)
    *out_ms = 0;
  else
    *out_ms = MIN ((guint64)(when - base), RETRY_AFTER_MAX_MS / 1000) * 1000;
  return TRUE;
}

guint
vpush_verify_backoff_ms (guint base_ms, guint max_ms, guint retry, guint32 random)
{
  guint64 ceiling = base_ms;

  g_return_val_if_fail (retry >= 1, 0);

  for (guint i = 1; i < retry && ceiling < max_ms; i++)
    ceiling *= 2;
  ceiling = MIN (ceiling, max_ms);
  /* "equal jitter": never less than half, so a burst of clients still spreads out */
  return (guint)(ceiling / 2 + random % (ceiling - ceiling / 2 + 1));
}

static gint64
call_deadline (VpushVerify *self, Call *call)
{
  gint64 deadline = call->deadline != 0 ? call->deadline
                                        : call->started + (gint64)self->retry_timeout_ms * 1000;

  /* an answer: never past its challenge's expiry by the clock as corrected now (a 401
   * with a Date, of this call or another, may have moved it since the call began) */
  if (call->expires_at != 0)
    {
      gint64 expiry
          = g_get_monotonic_time () + (call->expires_at - vpush_verify_now (self)) * G_USEC_PER_SEC;

      deadline = MIN (deadline, expiry);
    }
  return deadline;
}

/* The request timeout of the next attempt: a retry never runs far past the deadline. */
static guint
call_timeout_ms (VpushVerify *self, Call *call)
{
  gint64 left_ms;

  if (call->retries == 0)
    return self->timeout_ms;
  left_ms = (call_deadline (self, call) - g_get_monotonic_time ()) / 1000;
  return (guint)CLAMP (left_ms, RETRY_MIN_LEFT_MS, (gint64)self->timeout_ms);
}

/* The path of the call, for messages */
static const gchar *
call_what (VpushVerify *self, Call *call)
{
  return g_str_has_prefix (call->url, self->base_url) ? call->url + strlen (self->base_url)
                                                      : call->url;
}

static gboolean
on_backoff_done (gpointer user_data)
{
  GTask *task = user_data;

  if (!g_task_return_error_if_cancelled (task))
    vpush_verify_call_send (g_object_ref (task));
  return G_SOURCE_REMOVE;
}

/* Schedules the next attempt after a transient failure, taking *task; FALSE (and *task left
 * alone) when the call must give up with failure instead. retry_after_ms < 0: none asked. */
static gboolean
call_retry (VpushVerify *self, GTask **task, Call *call, const GError *failure,
            gint64 retry_after_ms)
{
  GCancellable *cancellable = g_task_get_cancellable (*task);
  GMainContext *context = g_task_get_context (*task);
  gint64 now = g_get_monotonic_time ();
  gint64 left_ms = (call_deadline (self, call) - now) / 1000;
  guint64 wait_ms;
  GSource *source;

  if (self->retry_timeout_ms == 0 || g_cancellable_is_cancelled (cancellable))
    return FALSE;
  if (!call->idempotent && call->maybe_delivered)
    {
      g_message ("%s %s: %s; not sent again, the API may have acted on it", call->method,
                 call_what (self, call), failure->message);
      return FALSE;
    }
  wait_ms = vpush_verify_backoff_ms (self->backoff_base_ms, self->backoff_max_ms, call->retries + 1,
                                     g_random_int ());
  if (retry_after_ms > 0)
    wait_ms = MAX (wait_ms, (guint64)retry_after_ms);
  if ((gint64)wait_ms + RETRY_MIN_LEFT_MS > left_ms)
    {
      g_message ("%s %s: %s; giving up after %u attempt(s)%s", call->method, call_what (self, call),
                 failure->message, call->retries + 1,
                 retry_after_ms > left_ms ? ": Retry-After is past the deadline" : "");
      return FALSE;
    }

  call->retries++;
  g_info ("%s %s: %s; retry %u in %" G_GUINT64_FORMAT " ms", call->method, call_what (self, call),
          failure->message, call->retries, wait_ms);
  source = g_timeout_source_new ((guint)wait_ms);
  if (cancellable != NULL)
    {
      /* a cancel ends the wait at once */
      GSource *cancel = g_cancellable_source_new (cancellable);

      g_source_set_dummy_callback (cancel);
      g_source_add_child_source (source, cancel);
      g_source_unref (cancel);
    }
  g_source_set_callback (source, on_backoff_done, g_steal_pointer (task), g_object_unref);
  g_source_set_name (source, "[vpush] verify backoff");
  g_source_attach (source, context);
  g_source_unref (source);
  return TRUE;
}

/* the factor a request is of, for "attempt-finished"; NULL for one of no factor's */
static const gchar *
call_factor_sid (const Call *call)
{
  return call->factor != NULL ? call->factor->sid : NULL;
}

/* The API error of a response, quoting none of the call's credentials */
static void
call_set_api_error (Call *call, VpushHttpResponse *response, GError **error)
{
  /* the password and its Basic value are set before any attempt is sent */
  const gchar *credentials[] = { call->password, call->basic, call->auth_payload, NULL };

  vpush_verify_set_api_error (response, credentials, error);
}

static gboolean
status_is_transient (guint status)
{
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void
on_http_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  VpushVerify *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autoptr (GError) error = NULL;
  guint status;

  response = vpush_http_request_finish (VPUSH_HTTP (source), result, &error);
  if (response == NULL)
    {
      VpushHttpFailure failure = vpush_http_request_get_failure (VPUSH_HTTP (source), result);

      call->retry_after_ms = 0;
      /* only a network failure says the API could not be reached; a reply over the body
       * cap is the API answering */
      g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0,
                     g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK) ? error : NULL,
                     call_factor_sid (call));
      /* a reply that can't be read (over a cap, one curl can't parse) leaves the outcome as
       * unknown as a lost one, unless it was a refusal; a 2xx says the API took the call */
      status = vpush_http_request_get_status (VPUSH_HTTP (source), result);
      call->status = status;
      if (failure == VPUSH_HTTP_FAILURE_LOST
          || (vpush_http_request_get_reply_unread (VPUSH_HTTP (source), result)
              && (status < 400 || status >= 500)))
        call->maybe_delivered = TRUE;
      if (status >= 200 && status < 300)
        call->accepted = TRUE;
      if (failure != VPUSH_HTTP_FAILURE_PERMANENT && call_retry (self, &task, call, error, -1))
        return;
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  status = response->status;
  call->status = status;

  if (status_is_transient (status))
    {
      guint64 retry_after_ms = 0;
      gboolean has_retry_after = vpush_verify_parse_retry_after (
          response->retry_after, response->date, vpush_verify_now (self), &retry_after_ms);

      call->retry_after_ms = has_retry_after ? retry_after_ms : 0;
      call_set_api_error (call, response, &error);
      g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0, error, call_factor_sid (call));
      /* a server error may come after the work was done; a 429 comes instead of it */
      if (status != 429)
        call->maybe_delivered = TRUE;
      if (call_retry (self, &task, call, error, has_retry_after ? (gint64)retry_after_ms : -1))
        return;
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* anything else is the API answering */
  call->retry_after_ms = 0;
  g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0, NULL, call_factor_sid (call));

  /* §6: create-factor never retries; everything else gets one retry with a fresh JWT */
  if (status == 401 && call->access_token == NULL && !call->retried
      && correct_clock (self, response->date))
    {
      call->retried = TRUE;
      /* by the corrected clock an answer's challenge may have expired: no answer is sent
       * for one (dbus-api.md) */
      if (call->expires_at != 0 && vpush_verify_now (self) >= call->expires_at)
        {
          g_autofree gchar *expiry = vpush_time_format (call->expires_at);

          g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_EXPIRED,
                                   "the challenge expired at %s by the Verify API's clock", expiry);
          return;
        }
      vpush_verify_call_send (g_steal_pointer (&task));
      return;
    }

  if (status >= 200 && status < 300)
    {
      call->accepted = TRUE;
      call_return_success (self, task, call, response);
    }
  else if (call->is_delete && (status == 404 || (status == 401 && call->retried)))
    g_task_return_boolean (task, TRUE);
  else if (call->is_fetch && status == 404)
    g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "no such challenge");
  else
    {
      call_set_api_error (call, response, &error);
      g_task_return_error (task, g_steal_pointer (&error));
    }
}

/* Sends the call once; consumes the task reference. */
static void call_send_with (VpushVerify *self, GTask *task, Call *call, const gchar *authorization);

void
vpush_verify_call_send (GTask *task)
{
  VpushVerify *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *password = NULL;
  g_autofree gchar *userpass = NULL;
  g_autofree gchar *basic = NULL;
  g_autofree gchar *authorization = NULL;
  gint64 now = vpush_verify_now (self);

  /* §5A: a device JWT is minted for every request, retries included */
  if (call->access_token != NULL)
    password = g_strdup (call->access_token);
  else if (call->expires_at != 0 && self->key_guard != NULL
           && !self->key_guard (self->key_guard_data, &error))
    password = NULL;
  else
    password = vpush_jwt_device_auth (call->key, call->factor->credential_sid,
                                      call->factor->account_sid, now, &error);
  if (password == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  userpass = g_strconcat ("token:", password, NULL);
  basic = g_base64_encode ((const guchar *)userpass, strlen (userpass));
  authorization = g_strconcat ("Authorization: Basic ", basic, NULL);

  /* kept until the next attempt, for the reply's error to mask them */
  wipe_free (call->password);
  call->password = g_steal_pointer (&password);
  wipe_free (call->basic);
  call->basic = g_steal_pointer (&basic);

  call_send_with (self, task, call, authorization);

  wipe_free (g_steal_pointer (&userpass));
  wipe_free (g_steal_pointer (&authorization));
}

static void
call_send_with (VpushVerify *self, GTask *task, Call *call, const gchar *authorization)
{
  gboolean is_get = g_str_equal (call->method, "GET");
  const gchar *headers[4];

  headers[0] = authorization;
  /* §2: the SDKs send this Accept on GET, odd as it is */
  headers[1] = is_get ? "Accept: application/x-www-form-urlencoded" : "Accept: application/json";
  headers[2] = "Content-Type: application/x-www-form-urlencoded";
  headers[3] = NULL;

  if (call->started == 0)
    call->started = g_get_monotonic_time ();
  /* a list's page is as large as the challenges asked for may make it */
  vpush_http_request_capped_async (
      self->http, call->method, call->url, headers, call->body, call_timeout_ms (self, call),
      MAX ((gsize)VPUSH_HTTP_BODY_CAP, (gsize)call->page_size * VPUSH_VERIFY_CHALLENGE_JSON_MAX),
      g_task_get_cancellable (task), on_http_done, task);
}

GTask *
vpush_verify_call_new (VpushVerify *self, gpointer source_tag, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data, Call **out_call)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Call *call = g_new0 (Call, 1);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, call, call_free);
  *out_call = call;
  return task;
}

void
vpush_verify_call_fail (GTask *task, GError *error)
{
  g_task_return_error (task, error);
  g_object_unref (task);
}

/* ---- object ---- */

void
vpush_verify_set_retry_timeout (VpushVerify *self, guint retry_timeout_ms)
{
  g_return_if_fail (VPUSH_IS_VERIFY (self));

  self->retry_timeout_ms = retry_timeout_ms;
}

void
vpush_verify_set_key_guard (VpushVerify *self, VpushVerifyKeyGuard guard, gpointer user_data)
{
  g_return_if_fail (VPUSH_IS_VERIFY (self));

  self->key_guard = guard;
  self->key_guard_data = user_data;
}

void
vpush_verify_set_backoff (VpushVerify *self, guint base_ms, guint max_ms)
{
  g_return_if_fail (VPUSH_IS_VERIFY (self));
  g_return_if_fail (base_ms > 0 && max_ms >= base_ms);

  self->backoff_base_ms = base_ms;
  self->backoff_max_ms = max_ms;
}

gboolean
vpush_verify_call_maybe_delivered (VpushVerify *self, GAsyncResult *result)
{
  Call *call;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  call = g_task_get_task_data (G_TASK (result));
  return call != NULL && call->maybe_delivered;
}

gboolean
vpush_verify_call_accepted (VpushVerify *self, GAsyncResult *result)
{
  Call *call;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  call = g_task_get_task_data (G_TASK (result));
  return call != NULL && call->accepted;
}

guint64
vpush_verify_call_get_retry_after (VpushVerify *self, GAsyncResult *result)
{
  Call *call;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);

  call = g_task_get_task_data (G_TASK (result));
  return call != NULL ? call->retry_after_ms : 0;
}

guint
vpush_verify_call_get_status (VpushVerify *self, GAsyncResult *result)
{
  Call *call;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);

  call = g_task_get_task_data (G_TASK (result));
  return call != NULL ? call->status : 0;
}

const gchar *
vpush_verify_get_base_url (VpushVerify *self)
{
  g_return_val_if_fail (VPUSH_IS_VERIFY (self), NULL);

  return self->base_url;
}

gint64
vpush_verify_get_clock_offset (VpushVerify *self)
{
  g_return_val_if_fail (VPUSH_IS_VERIFY (self), 0);

  return self->clock_offset;
}

void
vpush_verify_set_clock_offset (VpushVerify *self, gint64 offset_seconds)
{
  g_return_if_fail (VPUSH_IS_VERIFY (self));
  g_return_if_fail (offset_seconds >= -VPUSH_TIME_OFFSET_MAX
                    && offset_seconds <= VPUSH_TIME_OFFSET_MAX);

  self->clock_offset = offset_seconds;
  /* no correction: the wall clock, NTP's steps included */
  self->clock_learnt = offset_seconds != 0;
  if (self->clock_learnt)
    anchor_clock (self, g_get_real_time () + offset_seconds * G_USEC_PER_SEC);
}

gint64
vpush_verify_now (VpushVerify *self)
{
  g_return_val_if_fail (VPUSH_IS_VERIFY (self), 0);

  if (!self->clock_learnt)
    return g_get_real_time () / G_USEC_PER_SEC;
  return (vpush_time_boot_us () + self->clock_anchor) / G_USEC_PER_SEC;
}

static void
vpush_verify_finalize (GObject *object)
{
  VpushVerify *self = VPUSH_VERIFY (object);

  g_clear_object (&self->http);
  g_free (self->base_url);

  G_OBJECT_CLASS (vpush_verify_parent_class)->finalize (object);
}

static void
vpush_verify_class_init (VpushVerifyClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vpush_verify_finalize;

  /* the new offset, for the factor store to persist (§6) */
  signals[SIGNAL_CLOCK_CORRECTED]
      = g_signal_new ("clock-corrected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /* after every request: NULL when the API answered, else the transient or transport
   * failure (retried or not), for the manager's State; and the factor it is of, if any */
  signals[SIGNAL_ATTEMPT_FINISHED]
      = g_signal_new ("attempt-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_ERROR, G_TYPE_STRING);
}

static void
vpush_verify_init (VpushVerify *self)
{
  self->retry_timeout_ms = RETRY_TIMEOUT_MS_DEFAULT;
  self->backoff_base_ms = BACKOFF_BASE_MS;
  self->backoff_max_ms = BACKOFF_MAX_MS;
}

VpushVerify *
vpush_verify_new (VpushHttp *http, const gchar *base_url, guint timeout_ms, GError **error)
{
  g_autoptr (VpushVerify) self = NULL;

  g_return_val_if_fail (VPUSH_IS_HTTP (http), NULL);
  g_return_val_if_fail (base_url != NULL, NULL);

  if (!vpush_http_check_url (base_url, error))
    return NULL;
  if (timeout_ms == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "the request timeout must be positive");
      return NULL;
    }

  self = g_object_new (VPUSH_TYPE_VERIFY, NULL);
  self->http = g_object_ref (http);
  self->base_url
      = g_str_has_suffix (base_url, "/") ? g_strdup (base_url) : g_strconcat (base_url, "/", NULL);
  self->timeout_ms = timeout_ms;
  return g_steal_pointer (&self);
}
