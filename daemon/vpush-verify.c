#include "vpush-verify.h"
#include "vpush-verify-private.h"

#include <curl/curl.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-jwt.h"
#include "vpush-time.h"

struct _VpushVerify
{
  GObject parent_instance;

  VpushHttp *http;
  gchar *base_url; /* always ends with '/' */
  guint timeout_ms;
  gint64 clock_offset;
  GHashTable *auth_cache; /* credential sid → CachedAuth */
  guint retry_timeout_ms; /* 0: transient failures are not retried */
  guint backoff_base_ms;
  guint backoff_max_ms;
};

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

/* A device JWT is valid for 600 s; reusing it for a minute saves a signature here and a
 * verification at the API on every call of a busy factor, and changes no exposure (it
 * is a bearer token for those 600 s either way). */
#define AUTH_REUSE_SECONDS 60

typedef struct
{
  gchar *authorization; /* the whole "Authorization: Basic …" header */
  gint64 minted_at;     /* server-aligned unix seconds */
} CachedAuth;

enum
{
  SIGNAL_CLOCK_CORRECTED,
  SIGNAL_ATTEMPT_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (VpushVerify, vpush_verify, G_TYPE_OBJECT)

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
  VpushFactorRecord *factor; /* the factor whose key authenticates the call */
  VpushKey *key;             /* borrowed: the caller keeps it alive until the callback */
  gboolean retried;          /* the one clock-skew retry was used */
  gboolean idempotent;       /* may be sent again when the API may have acted on it */
  gboolean maybe_delivered;  /* an attempt may have reached the API, its reply lost */
  guint retries;             /* transient-failure retries so far */
  gint64 started;            /* monotonic µs of the first attempt */
  gint64 deadline;           /* monotonic µs no retry may run past; 0: from retry_timeout_ms */
  gboolean is_delete;        /* §3.4 outcome rules */
  gboolean is_fetch;         /* 404 → VPUSH_ERROR_NOT_FOUND */
  CallMapFunc map;           /* NULL: success needs no body */
  GDestroyNotify result_free;

  /* create-factor: what the record takes from the request */
  gchar *service_sid;
  gchar *identity;
  gchar *friendly_name;
};

static void wipe_free (gchar *secret);

static void
cached_auth_free (gpointer data)
{
  CachedAuth *cached = data;

  wipe_free (cached->authorization);
  g_free (cached);
}

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
  g_clear_pointer (&call->body, g_bytes_unref);
  wipe_free (call->access_token);
  g_clear_pointer (&call->factor, vpush_factor_record_free);
  g_free (call->service_sid);
  g_free (call->identity);
  g_free (call->friendly_name);
  g_free (call);
}

void
vpush_challenge_page_free (VpushChallengePage *page)
{
  if (page == NULL)
    return;
  g_clear_pointer (&page->challenges, g_ptr_array_unref);
  g_free (page->next_page_token);
  g_free (page);
}

/* Form and path encoding: every byte outside the RFC 3986 unreserved set is escaped, so
 * '+', '/' and '=' of base64 values arrive intact whatever the server's decoder. */
static void
form_add (GString *form, const gchar *key, const gchar *value)
{
  g_autofree gchar *k = g_uri_escape_string (key, NULL, FALSE);
  g_autofree gchar *v = g_uri_escape_string (value, NULL, FALSE);

  if (form->len > 0)
    g_string_append_c (form, '&');
  g_string_append_printf (form, "%s=%s", k, v);
}

/* base_url + Services/{service}/Entities/{identity}/{collection}[/{sid}] */
static gchar *
entity_url (VpushVerify *self, const gchar *service_sid, const gchar *identity,
            const gchar *collection, const gchar *sid)
{
  g_autofree gchar *service = g_uri_escape_string (service_sid, NULL, FALSE);
  g_autofree gchar *ident = g_uri_escape_string (identity, NULL, FALSE);
  g_autofree gchar *item = sid != NULL ? g_uri_escape_string (sid, NULL, FALSE) : NULL;

  return g_strconcat (self->base_url, "Services/", service, "/Entities/", ident, "/", collection,
                      item != NULL ? "/" : NULL, item, NULL);
}

static gboolean
check_factor (const VpushFactorRecord *factor, GError **error)
{
  if (factor == NULL || !vpush_sid_is_valid (factor->sid, "YF") || factor->service_sid == NULL
      || factor->identity == NULL || *factor->identity == '\0' || factor->account_sid == NULL
      || factor->credential_sid == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "factor record is incomplete");
      return FALSE;
    }
  return TRUE;
}

static JsonNode *
parse_object (VpushHttpResponse *response, const gchar *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  gsize len;
  const gchar *data = g_bytes_get_data (response->body, &len);

  if (len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: empty response body", what);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, (gssize)len, &local_error))
    {
      /* json-glib quotes the input, escapes decoded or not: the message may go out on the
       * bus, so it is kept UTF-8 */
      g_autofree gchar *why = g_utf8_make_valid (local_error->message, -1);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: response is not valid JSON: %s",
                   what, why);
      return NULL;
    }
  /* a body of only white space parses, with no root at all */
  if (json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: response is not a JSON object",
                   what);
      return NULL;
    }
  return json_parser_steal_root (parser);
}

static const gchar *
member_string (JsonObject *object, const gchar *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
set_api_error (VpushHttpResponse *response, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len;
  const gchar *data = g_bytes_get_data (response->body, &len);
  JsonNode *root;
  JsonObject *object;
  JsonNode *code;
  const gchar *message;

  if (len == 0 || !json_parser_load_from_data (parser, data, (gssize)len, NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API,
                   "HTTP %u, and the body is not a Twilio error object", response->status);
      return;
    }
  object = json_node_get_object (root);
  code = json_object_get_member (object, "code");
  message = member_string (object, "message");
  if (code == NULL || !JSON_NODE_HOLDS_VALUE (code)
      || json_node_get_value_type (code) != G_TYPE_INT64 || message == NULL)
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API,
                   "HTTP %u, and the body is not a Twilio error object", response->status);
      return;
    }
  g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API, "HTTP %u, code %" G_GINT64_FORMAT ": %s",
               response->status, json_node_get_int (code), message);
}

static void call_send (GTask *task);

static gboolean
correct_clock (VpushVerify *self, const gchar *date)
{
  time_t server;
  gint64 offset;

  if (date == NULL)
    return FALSE;
  server = curl_getdate (date, NULL);
  if (server == (time_t)-1)
    {
      g_debug ("401 with an unreadable Date header “%s”", date);
      return FALSE;
    }
  offset = (gint64)server - g_get_real_time () / G_USEC_PER_SEC;
  if (offset != self->clock_offset)
    {
      g_info ("clock offset to the Verify API is now %" G_GINT64_FORMAT " s", offset);
      self->clock_offset = offset;
      g_hash_table_remove_all (self->auth_cache);
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
  if (call->deadline != 0)
    return call->deadline;
  return call->started + (gint64)self->retry_timeout_ms * 1000;
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
    call_send (g_object_ref (task));
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

      g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0, error);
      if (failure == VPUSH_HTTP_FAILURE_LOST)
        call->maybe_delivered = TRUE;
      if (failure != VPUSH_HTTP_FAILURE_PERMANENT && call_retry (self, &task, call, error, -1))
        return;
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  status = response->status;

  if (status_is_transient (status))
    {
      guint64 retry_after_ms = 0;
      gboolean has_retry_after = vpush_verify_parse_retry_after (
          response->retry_after, response->date, vpush_verify_now (self), &retry_after_ms);

      set_api_error (response, &error);
      g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0, error);
      /* a server error may come after the work was done; a 429 comes instead of it */
      if (status != 429)
        call->maybe_delivered = TRUE;
      if (call_retry (self, &task, call, error, has_retry_after ? (gint64)retry_after_ms : -1))
        return;
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* anything else is the API answering */
  g_signal_emit (self, signals[SIGNAL_ATTEMPT_FINISHED], 0, NULL);

  /* a refused JWT is never offered again */
  if (status == 401 && call->access_token == NULL)
    g_hash_table_remove (self->auth_cache, call->factor->credential_sid);

  /* §6: create-factor never retries; everything else gets one retry with a fresh JWT */
  if (status == 401 && call->access_token == NULL && !call->retried
      && correct_clock (self, response->date))
    {
      call->retried = TRUE;
      call_send (g_steal_pointer (&task));
      return;
    }

  if (status >= 200 && status < 300)
    call_return_success (self, task, call, response);
  else if (call->is_delete && (status == 404 || (status == 401 && call->retried)))
    g_task_return_boolean (task, TRUE);
  else if (call->is_fetch && status == 404)
    g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "no such challenge");
  else
    {
      set_api_error (response, &error);
      g_task_return_error (task, g_steal_pointer (&error));
    }
}

/* Sends the call once; consumes the task reference. */
static void call_send_with (VpushVerify *self, GTask *task, Call *call, const gchar *authorization);

static void
call_send (GTask *task)
{
  VpushVerify *self = g_task_get_source_object (task);
  Call *call = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *password = NULL;
  g_autofree gchar *userpass = NULL;
  g_autofree gchar *basic = NULL;
  g_autofree gchar *authorization = NULL;
  gint64 now = vpush_verify_now (self);
  CachedAuth *cached = NULL;

  if (call->access_token == NULL)
    cached = g_hash_table_lookup (self->auth_cache, call->factor->credential_sid);
  /* the clock-skew retry always signs afresh */
  if (cached != NULL && !call->retried && now >= cached->minted_at
      && now - cached->minted_at < AUTH_REUSE_SECONDS)
    {
      call_send_with (self, task, call, cached->authorization);
      return;
    }

  if (call->access_token != NULL)
    password = g_strdup (call->access_token);
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

  if (call->access_token == NULL)
    {
      cached = g_new0 (CachedAuth, 1);
      cached->authorization = g_strdup (authorization);
      cached->minted_at = now;
      g_hash_table_replace (self->auth_cache, g_strdup (call->factor->credential_sid), cached);
    }
  call_send_with (self, task, call, authorization);

  wipe_free (g_steal_pointer (&password));
  wipe_free (g_steal_pointer (&userpass));
  wipe_free (g_steal_pointer (&basic));
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
  vpush_http_request_async (self->http, call->method, call->url, headers, call->body,
                            call_timeout_ms (self, call), g_task_get_cancellable (task),
                            on_http_done, task);
}

static GTask *
call_new (VpushVerify *self, gpointer source_tag, GCancellable *cancellable,
          GAsyncReadyCallback callback, gpointer user_data, Call **out_call)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Call *call = g_new0 (Call, 1);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, call, call_free);
  *out_call = call;
  return task;
}

static void
call_fail (GTask *task, GError *error)
{
  g_task_return_error (task, error);
  g_object_unref (task);
}

/* ---- #1 create factor ---- */

static gboolean
map_create_factor (VpushVerify *self, Call *call, VpushHttpResponse *response, gpointer *out,
                   GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "create factor", error);
  g_autoptr (VpushFactorRecord) record = NULL;
  JsonObject *object;
  JsonNode *config;
  JsonNode *metadata;
  const gchar *sid;
  const gchar *account_sid;
  const gchar *status;
  const gchar *created;
  const gchar *credential_sid = NULL;
  gint64 unused;

  if (root == NULL)
    return FALSE;
  object = json_node_get_object (root);
  sid = member_string (object, "sid");
  account_sid = member_string (object, "account_sid");
  status = member_string (object, "status");
  created = member_string (object, "date_created");
  config = json_object_get_member (object, "config");
  if (config != NULL && JSON_NODE_HOLDS_OBJECT (config))
    credential_sid = member_string (json_node_get_object (config), "credential_sid");

  if (!vpush_sid_is_valid (sid, "YF"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “sid” is missing or not a YF… sid");
      return FALSE;
    }
  if (!vpush_sid_is_valid (account_sid, "AC"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “account_sid” is missing or not an AC… sid");
      return FALSE;
    }
  if (g_strcmp0 (status, "unverified") != 0 && g_strcmp0 (status, "verified") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “status” is missing or unknown");
      return FALSE;
    }
  if (created == NULL || !vpush_time_parse (created, &unused, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “date_created” is missing or not an RFC 3339 time");
      return FALSE;
    }
  if (credential_sid == NULL || *credential_sid == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “config.credential_sid” is missing");
      return FALSE;
    }

  record = vpush_factor_record_new ();
  record->sid = g_strdup (sid);
  record->friendly_name = g_strdup (member_string (object, "friendly_name") ?: call->friendly_name);
  record->service_sid = g_strdup (call->service_sid);
  record->identity = g_strdup (call->identity);
  record->account_sid = g_strdup (account_sid);
  record->entity_sid = g_strdup (member_string (object, "entity_sid"));
  record->credential_sid = g_strdup (credential_sid);
  record->status = g_strdup (status);
  record->created_at = g_strdup (created);

  metadata = json_object_get_member (object, "metadata");
  if (metadata != NULL && JSON_NODE_HOLDS_OBJECT (metadata))
    {
      /* the record keeps metadata as an object of strings, so other values are dropped */
      g_autoptr (JsonObject) strings = json_object_new ();
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      JsonObjectIter iter;
      const gchar *key;
      JsonNode *value;

      json_object_iter_init (&iter, json_node_get_object (metadata));
      while (json_object_iter_next (&iter, &key, &value))
        if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
          json_object_set_string_member (strings, key, json_node_get_string (value));
      json_node_set_object (node, strings);
      record->metadata = json_to_string (node, FALSE);
    }

  *out = g_steal_pointer (&record);
  return TRUE;
}

void
vpush_verify_create_factor_async (VpushVerify *self, const gchar *service_sid,
                                  const gchar *identity, const gchar *access_token,
                                  const gchar *friendly_name, const gchar *public_key_b64,
                                  const gchar *metadata_json, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  Call *call;
  GTask *task;
  GString *form;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = call_new (self, vpush_verify_create_factor_async, cancellable, callback, user_data, &call);
  if (!vpush_sid_is_valid (service_sid, "VA") || identity == NULL || *identity == '\0'
      || access_token == NULL || *access_token == '\0' || friendly_name == NULL
      || public_key_b64 == NULL)
    {
      call_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                            "create factor: service sid, identity, access "
                                            "token, name and public key are required"));
      return;
    }

  call->method = "POST";
  call->url = entity_url (self, service_sid, identity, "Factors", NULL);
  call->access_token = g_strdup (access_token);
  call->service_sid = g_strdup (service_sid);
  call->identity = g_strdup (identity);
  call->friendly_name = g_strdup (friendly_name);
  call->map = map_create_factor;
  call->result_free = (GDestroyNotify)vpush_factor_record_free;

  /* §3.1 order; platform none means no NotificationToken */
  form = g_string_new (NULL);
  form_add (form, "FriendlyName", friendly_name);
  form_add (form, "FactorType", "push");
  form_add (form, "Binding.PublicKey", public_key_b64);
  form_add (form, "Binding.Alg", "ES256");
  form_add (form, "Config.SdkVersion", VPUSH_VERIFY_SDK_VERSION);
  form_add (form, "Config.AppId", VPUSH_VERIFY_APP_ID);
  form_add (form, "Config.NotificationPlatform", "none");
  if (metadata_json != NULL)
    form_add (form, "Metadata", metadata_json);
  call->body = g_string_free_to_bytes (form);

  call_send (task);
}

VpushFactorRecord *
vpush_verify_create_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_create_factor_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- #2 verify factor ---- */

static gboolean
map_verify_factor (VpushVerify *self, Call *call, VpushHttpResponse *response, gpointer *out,
                   GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "verify factor", error);
  const gchar *status;

  if (root == NULL)
    return FALSE;
  status = member_string (json_node_get_object (root), "status");
  if (g_strcmp0 (status, "unverified") != 0 && g_strcmp0 (status, "verified") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "verify factor: “status” is missing or unknown");
      return FALSE;
    }
  *out = g_strdup (status);
  return TRUE;
}

/* A task for a device call on factor (copied); NULL and an error when factor is incomplete. */
static GTask *
factor_call_new (VpushVerify *self, gpointer source_tag, const VpushFactorRecord *factor,
                 VpushKey *key, GCancellable *cancellable, GAsyncReadyCallback callback,
                 gpointer user_data, Call **out_call)
{
  g_autoptr (GError) error = NULL;
  GTask *task = call_new (self, source_tag, cancellable, callback, user_data, out_call);

  if (!check_factor (factor, &error))
    {
      call_fail (task, g_steal_pointer (&error));
      return NULL;
    }
  if (key == NULL)
    {
      call_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                            "no key for the factor"));
      return NULL;
    }
  (*out_call)->factor = vpush_factor_record_copy (factor);
  (*out_call)->key = key;
  /* every device call but create may be sent twice: the API applies it once, or refuses
   * the second (an answer: 409, which the approval sorts out) */
  (*out_call)->idempotent = TRUE;
  return task;
}

void
vpush_verify_verify_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *payload = NULL;
  GString *form;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_verify_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;

  /* §5B: a DER signature over the factor sid, not a JWT */
  payload = vpush_key_sign_b64 (key, factor->sid, &error);
  if (payload == NULL)
    {
      call_fail (task, g_steal_pointer (&error));
      return;
    }
  call->method = "POST";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->map = map_verify_factor;
  call->result_free = g_free;
  form = g_string_new (NULL);
  form_add (form, "AuthPayload", payload);
  call->body = g_string_free_to_bytes (form);

  call_send (task);
}

gchar *
vpush_verify_verify_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_verify_factor_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- #3 update factor ---- */

static gboolean
map_update_factor (VpushVerify *self, Call *call, VpushHttpResponse *response, gpointer *out,
                   GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "update factor", error);

  return root != NULL;
}

void
vpush_verify_update_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  const gchar *friendly_name, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  GString *form;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_update_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (friendly_name == NULL)
    friendly_name = factor->friendly_name;
  if (friendly_name == NULL)
    {
      call_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                            "update factor: no friendly name"));
      return;
    }

  call->method = "POST";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->map = map_update_factor;
  /* §3.3 with platform none: no token, no binding, no metadata */
  form = g_string_new (NULL);
  form_add (form, "FriendlyName", friendly_name);
  form_add (form, "Config.SdkVersion", VPUSH_VERIFY_SDK_VERSION);
  form_add (form, "Config.AppId", VPUSH_VERIFY_APP_ID);
  form_add (form, "Config.NotificationPlatform", "none");
  call->body = g_string_free_to_bytes (form);

  call_send (task);
}

gboolean
vpush_verify_update_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_update_factor_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- #4 delete factor ---- */

void
vpush_verify_delete_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_delete_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  call->method = "DELETE";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->is_delete = TRUE;

  call_send (task);
}

gboolean
vpush_verify_delete_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_delete_factor_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- challenges ---- */

static VpushChallenge *
challenge_of_factor (JsonNode *node, const VpushFactorRecord *factor, GError **error)
{
  g_autoptr (VpushChallenge) challenge = vpush_challenge_new_from_json (node, error);

  if (challenge == NULL)
    return NULL;
  if (g_strcmp0 (challenge->factor_sid, factor->sid) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "challenge %s belongs to factor %s, not %s", challenge->sid,
                   challenge->factor_sid, factor->sid);
      return NULL;
    }
  return g_steal_pointer (&challenge);
}

static gboolean
map_challenge (VpushVerify *self, Call *call, VpushHttpResponse *response, gpointer *out,
               GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "challenge", error);
  g_autoptr (VpushChallenge) challenge = NULL;

  if (root == NULL)
    return FALSE;
  challenge = challenge_of_factor (root, call->factor, error);
  if (challenge == NULL)
    return FALSE;
  /* §3.5: only a single GET of a pending challenge carries what an answer must sign */
  if (call->is_fetch && g_str_equal (challenge->status, "pending")
      && response->signature_fields != NULL && *response->signature_fields != '\0')
    challenge->signature_fields = g_strdup (response->signature_fields);
  *out = g_steal_pointer (&challenge);
  return TRUE;
}

void
vpush_verify_fetch_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                    VpushKey *key, const gchar *challenge_sid,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_fetch_challenge_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  /* challenge sids may come from a push hint: never splice an unchecked one into a path */
  if (!vpush_sid_is_valid (challenge_sid, "YC"))
    {
      call_fail (task,
                 g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a challenge sid: “%s”",
                              challenge_sid != NULL ? challenge_sid : "(null)"));
      return;
    }
  call->method = "GET";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Challenges", challenge_sid);
  call->is_fetch = TRUE;
  call->map = map_challenge;
  call->result_free = (GDestroyNotify)vpush_challenge_unref;

  call_send (task);
}

VpushChallenge *
vpush_verify_fetch_challenge_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_fetch_challenge_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The PageToken query parameter of meta.next_page_url, if there is one. */
static gboolean
next_page_token (const gchar *base_url, JsonObject *object, gchar **out, GError **error)
{
  g_autoptr (GUri) base = NULL;
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GHashTable) params = NULL;
  JsonNode *meta = json_object_get_member (object, "meta");
  JsonNode *next;
  const gchar *query;
  const gchar *token;

  *out = NULL;
  if (meta == NULL || JSON_NODE_HOLDS_NULL (meta))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (meta))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “meta” is not an object");
      return FALSE;
    }
  next = json_object_get_member (json_node_get_object (meta), "next_page_url");
  if (next == NULL || JSON_NODE_HOLDS_NULL (next))
    return TRUE;
  /* json-glib lets escapes such as \udc00 through as bytes that are not UTF-8 */
  if (!JSON_NODE_HOLDS_VALUE (next) || json_node_get_value_type (next) != G_TYPE_STRING
      || !g_utf8_validate (json_node_get_string (next), -1, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “meta.next_page_url” is not a string");
      return FALSE;
    }

  base = g_uri_parse (base_url, G_URI_FLAGS_ENCODED, NULL);
  uri = g_uri_parse_relative (base, json_node_get_string (next), G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "list challenges: “meta.next_page_url” is not a URL: “%s”",
                   json_node_get_string (next));
      return FALSE;
    }
  query = g_uri_get_query (uri);
  if (query == NULL)
    return TRUE;
  /* iOS spells it pageToken, Android PageToken (§3.6) */
  params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_CASE_INSENSITIVE, NULL);
  if (params == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: the query of “meta.next_page_url” is malformed");
      return FALSE;
    }
  token = g_hash_table_lookup (params, "PageToken");
  /* an empty token names no page (and on the bus "" means there is no next page) */
  *out = token != NULL && *token != '\0' ? g_strdup (token) : NULL;
  return TRUE;
}

VpushChallengePage *
vpush_verify_parse_challenge_page (const gchar *base_url, const VpushFactorRecord *factor,
                                   VpushHttpResponse *response, GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "list challenges", error);
  g_autoptr (VpushChallengePage) page = NULL;
  JsonObject *object;
  JsonNode *list;
  JsonArray *array;

  if (root == NULL)
    return NULL;
  object = json_node_get_object (root);
  list = json_object_get_member (object, "challenges");
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “challenges” is missing or not an array");
      return NULL;
    }

  page = g_new0 (VpushChallengePage, 1);
  page->challenges = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_challenge_unref);
  array = json_node_get_array (list);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      VpushChallenge *challenge
          = challenge_of_factor (json_array_get_element (array, i), factor, error);

      if (challenge == NULL)
        {
          g_prefix_error (error, "list challenges: item %u: ", i);
          return NULL;
        }
      g_ptr_array_add (page->challenges, challenge);
    }
  if (!next_page_token (base_url, object, &page->next_page_token, error))
    return NULL;
  return g_steal_pointer (&page);
}

static gboolean
map_challenge_page (VpushVerify *self, Call *call, VpushHttpResponse *response, gpointer *out,
                    GError **error)
{
  VpushChallengePage *page
      = vpush_verify_parse_challenge_page (self->base_url, call->factor, response, error);

  if (page == NULL)
    return FALSE;
  *out = page;
  return TRUE;
}

void
vpush_verify_list_challenges_async (VpushVerify *self, const VpushFactorRecord *factor,
                                    VpushKey *key, const gchar *status, const gchar *order,
                                    guint page_size, const gchar *page_token,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_autofree gchar *url = NULL;
  g_autofree gchar *size = NULL;
  GString *query;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_list_challenges_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (page_size < 1 || page_size > 1000)
    {
      call_fail (task,
                 g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                              "list challenges: page size %u is not within 1–1000", page_size));
      return;
    }

  size = g_strdup_printf ("%u", page_size);
  query = g_string_new (NULL);
  form_add (query, "FactorSid", factor->sid);
  form_add (query, "PageSize", size);
  form_add (query, "Order", order != NULL ? order : "asc");
  if (status != NULL)
    form_add (query, "Status", status);
  if (page_token != NULL)
    form_add (query, "PageToken", page_token);
  url = entity_url (self, factor->service_sid, factor->identity, "Challenges", NULL);

  call->method = "GET";
  call->url = g_strconcat (url, "?", query->str, NULL);
  call->map = map_challenge_page;
  call->result_free = (GDestroyNotify)vpush_challenge_page_free;
  g_string_free (query, TRUE);

  call_send (task);
}

VpushChallengePage *
vpush_verify_list_challenges_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_list_challenges_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
vpush_verify_answer_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                     VpushKey *key, VpushChallenge *challenge, const gchar *status,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *payload = NULL;
  GString *form;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));
  g_return_if_fail (challenge != NULL);

  task = factor_call_new (self, vpush_verify_answer_challenge_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (g_strcmp0 (status, "approved") != 0 && g_strcmp0 (status, "denied") != 0)
    {
      call_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "a challenge is answered approved or denied, not “%s”",
                                    status != NULL ? status : "(null)"));
      return;
    }
  if (g_strcmp0 (challenge->factor_sid, factor->sid) != 0)
    {
      call_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "challenge %s belongs to factor %s, not %s", challenge->sid,
                                    challenge->factor_sid, factor->sid));
      return;
    }
  /* §5C: without the header's field list there is nothing the server would accept */
  if (challenge->signature_fields == NULL || *challenge->signature_fields == '\0'
      || challenge->raw == NULL || !JSON_NODE_HOLDS_OBJECT (challenge->raw))
    {
      call_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "challenge %s has no signature fields: fetch it first",
                                    challenge->sid));
      return;
    }
  payload = vpush_jwt_challenge_answer (key, json_node_get_object (challenge->raw),
                                        challenge->signature_fields, status, &error);
  if (payload == NULL)
    {
      call_fail (task, g_steal_pointer (&error));
      return;
    }

  call->method = "POST";
  call->url
      = entity_url (self, factor->service_sid, factor->identity, "Challenges", challenge->sid);
  /* an answer is retried while the challenge can still take it, but no longer than any
   * other call: the app is waiting on the bus for the reply */
  call->deadline = g_get_monotonic_time ()
                   + MIN (MAX (challenge->expires_at - vpush_verify_now (self), 0) * G_USEC_PER_SEC,
                          (gint64)self->retry_timeout_ms * 1000);
  call->map = map_challenge;
  call->result_free = (GDestroyNotify)vpush_challenge_unref;
  form = g_string_new (NULL);
  form_add (form, "AuthPayload", payload);
  call->body = g_string_free_to_bytes (form);

  call_send (task);
}

VpushChallenge *
vpush_verify_answer_challenge_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_answer_challenge_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- object ---- */

void
vpush_verify_set_retry_timeout (VpushVerify *self, guint retry_timeout_ms)
{
  g_return_if_fail (VPUSH_IS_VERIFY (self));

  self->retry_timeout_ms = retry_timeout_ms;
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

  self->clock_offset = offset_seconds;
  g_hash_table_remove_all (self->auth_cache);
}

gint64
vpush_verify_now (VpushVerify *self)
{
  g_return_val_if_fail (VPUSH_IS_VERIFY (self), 0);

  return g_get_real_time () / G_USEC_PER_SEC + self->clock_offset;
}

static void
vpush_verify_finalize (GObject *object)
{
  VpushVerify *self = VPUSH_VERIFY (object);

  g_clear_object (&self->http);
  g_free (self->base_url);
  g_hash_table_unref (self->auth_cache);

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
   * failure (retried or not), for the manager's State */
  signals[SIGNAL_ATTEMPT_FINISHED]
      = g_signal_new ("attempt-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
vpush_verify_init (VpushVerify *self)
{
  self->auth_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cached_auth_free);
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
