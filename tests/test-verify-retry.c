/* Unit tests for the Verify client: request timeouts and the retries of transient failures
 * (backoff, Retry-After, the retry timeout, what is sent again and what not, cancellation). */
#include <string.h>

#include "vpush-error.h"

#include "test-verify-common.h"

/* Replaces the fixture's client by one with a short request timeout. */
static void
use_timeout (Fixture *fx, guint timeout_ms, guint retry_timeout_ms)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *base_url = server_url (fx->server, "v2/");

  g_clear_object (&fx->verify);
  fx->verify = vpush_verify_new (fx->http, base_url, timeout_ms, &error);
  g_assert_no_error (error);
  g_signal_connect (fx->verify, "attempt-finished", G_CALLBACK (on_attempt_finished), fx);
  enable_retries (fx, retry_timeout_ms);
}

/* A pending challenge of the fixture's factor expiring in_seconds from now, as fetched. */
static VpushChallenge *
fetch_live_challenge (Fixture *fx, gint64 in_seconds)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) expiry = g_date_time_add_seconds (now, (gdouble)in_seconds);
  g_autofree gchar *when = g_date_time_format (expiry, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree gchar *json = challenge_json (FACTOR_SID, "pending");
  g_autoptr (GString) body = g_string_new (json);
  VpushChallenge *challenge;
  guint n = server_n_requests (fx->server);

  g_string_replace (body, "2024-01-02T03:09:05Z", when, 1);
  server_reply (fx->server, 200, "Twilio-Verify-Signature-Fields: sid,factor_sid,status\r\n",
                body->str);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, n + 1);
  return challenge;
}

static void
test_backoff (void)
{
  guint lowest = G_MAXUINT;
  guint highest = 0;

  /* retry 1 waits between half the base and the base */
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 0), ==, 250);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 250), ==, 500);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 251), ==, 250);
  /* and the ceiling doubles per retry */
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 2, 0), ==, 500);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 3, 1000), ==, 2000);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 4, 2000), ==, 4000);
  /* up to the maximum, however many retries (no overflow) */
  for (guint retry = 5; retry < 1000; retry += 7)
    {
      g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, retry, 0), ==, 4000);
      g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, retry, G_MAXUINT32), <=, 8000);
    }
  g_assert_cmpuint (vpush_verify_backoff_ms (1, 1, 1, G_MAXUINT32), <=, 1);

  /* jittered: draws spread over the whole range */
  for (guint i = 0; i < 1000; i++)
    {
      guint ms = vpush_verify_backoff_ms (500, 8000, 2, g_random_int ());

      g_assert_cmpuint (ms, >=, 500);
      g_assert_cmpuint (ms, <=, 1000);
      lowest = MIN (lowest, ms);
      highest = MAX (highest, ms);
    }
  g_assert_cmpuint (lowest, <, 550);
  g_assert_cmpuint (highest, >, 950);
}

static void
test_retry_after_parse (void)
{
  const gint64 now = 1700000000;
  g_autofree gchar *now_date = rfc1123 (now);
  g_autofree gchar *in_30 = rfc1123 (now + 30);
  g_autofree gchar *in_10 = rfc1123 (now + 10);
  g_autofree gchar *ago = rfc1123 (now - 30);
  g_autofree gchar *far = rfc1123 (now + 86400);
  const gchar *bad[] = { "", "-1", "5.5", "5s", "abc", " ", "1 2", "0x10", "+5" };
  guint64 ms = 1;

  g_assert_true (vpush_verify_parse_retry_after ("5", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 5000);
  g_assert_true (vpush_verify_parse_retry_after ("0", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 0);
  g_assert_true (vpush_verify_parse_retry_after ("120", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 120000);
  /* very long waits are one hour: past every deadline */
  g_assert_true (vpush_verify_parse_retry_after ("3601", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);
  g_assert_true (vpush_verify_parse_retry_after ("99999999999999999999999", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);

  /* an HTTP-date counts from the response's Date, not from a clock that may be off */
  g_assert_true (vpush_verify_parse_retry_after (in_30, now_date, now + 5000, &ms));
  g_assert_cmpuint (ms, ==, 30000);
  g_assert_true (vpush_verify_parse_retry_after (in_10, NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 10000);
  g_assert_true (vpush_verify_parse_retry_after (in_10, "not a date", now, &ms));
  g_assert_cmpuint (ms, ==, 10000);
  g_assert_true (vpush_verify_parse_retry_after (ago, now_date, now, &ms));
  g_assert_cmpuint (ms, ==, 0);
  g_assert_true (vpush_verify_parse_retry_after (far, now_date, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);
  g_assert_true (vpush_verify_parse_retry_after ("Wed, 21 Oct 2015 07:28:00 GMT",
                                                 "Wed, 21 Oct 2015 07:27:00 GMT", now, &ms));
  g_assert_cmpuint (ms, ==, 60000);

  /* unreadable: ignored (the backoff alone applies) */
  g_assert_false (vpush_verify_parse_retry_after (NULL, NULL, now, &ms));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (vpush_verify_parse_retry_after (bad[i], now_date, now, &ms));
}

static void
test_network_errors (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autoptr (VpushVerify) quick = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree gchar *base_url = server_url (fx->server, "v2/");
  gint64 start;

  quick = vpush_verify_new (fx->http, base_url, 300, &error);
  g_assert_no_error (error);
  vpush_verify_set_retry_timeout (quick, 0);
  server_hang (fx->server);
  start = g_get_monotonic_time ();
  vpush_verify_fetch_challenge_async (quick, fx->factor, fx->key, CHALLENGE_SID, NULL, store_result,
                                      &result);
  challenge = vpush_verify_fetch_challenge_finish (quick, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (challenge);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
}

static void
test_retry_transient (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  enable_retries (fx, 5000);
  server_reply (fx->server, 503, NULL,
                "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  server_reply (fx->server, 500, NULL, "oops");
  server_reply (fx->server, 502, "Content-Type: text/html\r\n", "<html>Bad gateway</html>");
  server_reply (fx->server, 504, NULL, "");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (challenge->sid, ==, CHALLENGE_SID);

  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_assert_cmpstr (server_request (fx->server, i)->path, ==,
                       ENTITY_PATH "/Challenges/" CHALLENGE_SID);
      assert_device_auth (fx, i);
    }
  g_assert_cmpuint (fx->n_attempts, ==, 5);
  g_assert_cmpuint (fx->n_failed_attempts, ==, 4);
}

static void
test_retry_after (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  /* the server's clock is an hour ahead: the date form counts from its Date */
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *retry_at = rfc1123 (server_now + 1);
  g_autofree gchar *dated = g_strdup_printf ("Date: %s\r\nRetry-After: %s\r\n", date, retry_at);
  gint64 start;

  enable_retries (fx, 10000);
  server_reply (fx->server, 429, "Retry-After: 1\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  server_reply (fx->server, 200, NULL, body);
  start = g_get_monotonic_time ();
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);

  server_reply (fx->server, 503, dated,
                "{\"code\": 20503, \"message\": \"later\", \"status\": 503}");
  server_reply (fx->server, 200, NULL, body);
  start = g_get_monotonic_time ();
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  /* the Date second may tick between the two: at least most of a second */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
}

/* A Retry-After that ends past the deadline: no point in waiting for it. The caller learns
 * what it asked for, to wait before it asks again. */
static void
test_retry_after_past_deadline (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GAsyncResult) other = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 start = g_get_monotonic_time ();

  enable_retries (fx, 3000);
  server_reply (fx->server, 429, "Retry-After: 30\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, NULL,
                                      store_result, &result);
  challenge = vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 429, code 20429: Too many requests");
  g_assert_null (challenge);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpuint (vpush_verify_call_get_retry_after (fx->verify, result), ==, 30000);

  /* a refusal that asks for nothing */
  g_clear_error (&error);
  server_reply (fx->server, 400, NULL,
                "{\"code\": 60200, \"message\": \"Invalid parameter\", \"status\": 400}");
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, NULL,
                                      store_result, &other);
  g_assert_null (vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&other), &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpuint (vpush_verify_call_get_retry_after (fx->verify, other), ==, 0);
}

static void
test_retry_gives_up (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 took;

  enable_retries (fx, 1500);
  for (guint i = 0; i < 200; i++)
    server_reply (fx->server, 503, NULL,
                  "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  g_assert_false (delete (fx, &error));
  took = g_get_monotonic_time () - start;
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 503, code 20503: Service unavailable");
  /* no retry starts within a second of the deadline: the last starts about 0.5 s in (the
   * waits are 10-40 ms), not by the deadline (1.5 s). The bound leaves a slow machine
   * 0.7 s, so it holds only that none starts in the last 0.3 s. */
  g_assert_cmpint (took, >=, 400 * 1000);
  g_assert_cmpint (took, <, 1200 * 1000);
  g_assert_cmpuint (server_n_requests (fx->server), >=, 3);
  g_assert_cmpuint (fx->n_failed_attempts, ==, server_n_requests (fx->server));
}

static void
test_retry_timeout (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 200, NULL, body);
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, NULL,
                                      store_result, &result);
  challenge = vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (challenge);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  /* the first one may have been seen */
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, result));
}

static void
test_retry_connection_refused (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) any = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree gchar *base_url = NULL;
  gint64 start;

  /* a port that was free a moment ago, and nobody listens on */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  any = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  base_url = g_strdup_printf ("http://127.0.0.1:%u/v2/",
                              g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);

  g_clear_object (&fx->verify);
  fx->verify = vpush_verify_new (fx->http, base_url, 1000, &error);
  g_assert_no_error (error);
  g_signal_connect (fx->verify, "attempt-finished", G_CALLBACK (on_attempt_finished), fx);
  enable_retries (fx, 1500);

  start = g_get_monotonic_time ();
  vpush_verify_delete_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  g_assert_false (vpush_verify_delete_factor_finish (fx->verify, wait_for (&result), &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (fx->n_failed_attempts, >=, 2);
  g_assert_cmpuint (fx->n_failed_attempts, ==, fx->n_attempts);
  /* nothing was sent */
  g_assert_false (vpush_verify_call_maybe_delivered (fx->verify, result));
}

/* Final at once: refusals, replies that do not map, a body over the cap. */
static void
test_retry_not_transient (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autoptr (VpushChallenge) e = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  gsize huge_len = VPUSH_HTTP_BODY_CAP + 1;
  g_autofree gchar *huge = g_malloc (huge_len);

  enable_retries (fx, 5000);
  server_reply (fx->server, 400, NULL,
                "{\"code\": 60306, \"message\": \"Invalid parameter\", \"status\": 400}");
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);

  server_reply (fx->server, 599, NULL, "");
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);

  /* malformed JSON in a 2xx is a reply that does not map, not a transient failure */
  server_reply (fx->server, 200, "Content-Type: application/json\r\n", "{\"sid\": \"YC01");
  c = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "not valid JSON"));
  g_clear_error (&error);

  memset (huge, ' ', huge_len);
  huge[0] = '{';
  huge[huge_len - 1] = '}';
  server_reply_bytes (fx->server, 200, "Content-Type: application/json\r\n", huge, huge_len);
  d = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "response body larger than 1 MiB (HTTP status 200)");
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);

  /* the Content-Type of a 2xx is not checked: its body is, field by field */
  server_reply (fx->server, 200, "Content-Type: text/html\r\n", body);
  e = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_nonnull (e);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
  /* each was the API answering, the reply over the cap too: none says it can't be reached */
  g_assert_cmpuint (fx->n_failed_attempts, ==, 0);
}

/* Create-factor is sent again only when the API can't have acted on it. */
static void
test_retry_create_factor (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) a = NULL;
  g_autoptr (VpushFactorRecord) b = NULL;
  g_autoptr (VpushFactorRecord) c = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  enable_retries (fx, 5000);
  server_reply (fx->server, 503, NULL,
                "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  a = create_factor (fx, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_null (a);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);

  /* a 429 comes instead of the work: no factor was made */
  server_reply (fx->server, 429, "Retry-After: 0\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  server_reply (fx->server, 201, NULL, factor_response);
  b = create_factor (fx, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->sid, ==, FACTOR_SID);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 3);

  /* a lost reply: the factor may exist */
  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 201, NULL, factor_response);
  vpush_verify_create_factor_async (fx->verify, SERVICE_SID, IDENTITY, "access/token+=", "Kiosk 7",
                                    fx->spki, NULL, NULL, store_result, &result);
  c = vpush_verify_create_factor_finish (fx->verify, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (c);
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, result));
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
}

/* An answer is retried within the retry timeout and never past the challenge's expiry; a
 * refusal after a lost reply is flagged, for the approval to look at the challenge. */
static void
test_retry_answer (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) lost = NULL;
  g_autoptr (GAsyncResult) refused = NULL;
  g_autoptr (GAsyncResult) retried = NULL;
  g_autoptr (GAsyncResult) late = NULL;
  g_autoptr (VpushChallenge) live = NULL;
  g_autoptr (VpushChallenge) expired = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autofree gchar *approved = challenge_json (FACTOR_SID, "approved");
  static const gchar answered[]
      = "{\"code\": 60325, \"message\": \"Challenge already responded\", \"status\": 409}";

  /* retry timeout 0 turns the answer's retries off too */
  use_timeout (fx, 300, 0);
  live = fetch_live_challenge (fx, 60);
  server_reply (fx->server, 503, NULL, "{}");
  a = answer (fx, live, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);

  /* an answer is retried within the retry timeout (and the expiry, below) */
  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 409, NULL, answered);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &lost);
  b = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&lost), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 409, code 60325: Challenge already responded");
  g_clear_error (&error);
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, lost));
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
  g_assert_cmpstr (server_request (fx->server, 2)->method, ==, "POST");
  g_assert_cmpstr (server_request (fx->server, 3)->method, ==, "POST");

  /* a refusal without a lost reply before it is just that */
  server_reply (fx->server, 409, NULL, answered);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &refused);
  c = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&refused), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);
  g_assert_false (vpush_verify_call_maybe_delivered (fx->verify, refused));

  server_reply (fx->server, 502, NULL, "");
  server_reply (fx->server, 200, NULL, approved);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &retried);
  d = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&retried), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (d->status, ==, "approved");
  g_assert_cmpuint (server_n_requests (fx->server), ==, 7);

  /* no retry past the expiry */
  expired = fetch_live_challenge (fx, 0);
  server_reply (fx->server, 503, NULL, "{}");
  server_reply (fx->server, 200, NULL, approved);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, expired, "approved", NULL,
                                       store_result, &late);
  g_clear_pointer (&d, vpush_challenge_unref);
  d = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&late), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_null (d);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 9);
}

/* A reply to an answer that can't be read (a status line that is not one, headers over the
 * cap) leaves unknown whether the API took it, unless it was a refusal (4xx): the approval
 * reads the challenge back. It is not sent again, and the API was reached. */
static void
test_answer_reply_unreadable (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (VpushChallenge) live = NULL;
  g_autofree gchar *big = g_strnfill (80 * 1024, 'a');
  g_autofree gchar *server_error = g_strdup_printf ("HTTP/1.1 500 Oops\r\nX: %s\r\n\r\n", big);
  g_autofree gchar *refusal = g_strdup_printf ("HTTP/1.1 400 Bad\r\nX: %s\r\n\r\n", big);
  const gchar *replies[]
      = { "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", server_error, refusal };

  use_timeout (fx, 1000, 5000);
  live = fetch_live_challenge (fx, 60);
  for (guint i = 0; i < G_N_ELEMENTS (replies); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GAsyncResult) result = NULL;
      guint n = server_n_requests (fx->server);

      server_reply_raw (fx->server, replies[i]);
      vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                           store_result, &result);
      g_assert_null (vpush_verify_answer_challenge_finish (fx->verify, wait_for (&result), &error));
      g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
      g_assert_cmpint (vpush_verify_call_maybe_delivered (fx->verify, result), ==, i < 2);
      g_assert_false (vpush_verify_call_accepted (fx->verify, result));
      g_assert_cmpuint (server_n_requests (fx->server), ==, n + 1);
    }
  g_assert_cmpuint (fx->n_failed_attempts, ==, 0);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_retry_cancelled (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 start = g_get_monotonic_time ();

  enable_retries (fx, 60000);
  server_reply (fx->server, 429, "Retry-After: 20\r\n", "{}");
  g_timeout_add (200, cancel_cb, cancellable);
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, cancellable,
                                      store_result, &result);
  challenge = vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (challenge);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/verify/backoff", test_backoff);
  g_test_add_func ("/verify/retry-after-parse", test_retry_after_parse);
  ADD ("network-errors", test_network_errors);
  ADD ("retry-transient", test_retry_transient);
  ADD ("retry-after", test_retry_after);
  ADD ("retry-after-past-deadline", test_retry_after_past_deadline);
  ADD ("retry-gives-up", test_retry_gives_up);
  ADD ("retry-timeout", test_retry_timeout);
  ADD ("retry-connection-refused", test_retry_connection_refused);
  ADD ("retry-not-transient", test_retry_not_transient);
  ADD ("retry-create-factor", test_retry_create_factor);
  ADD ("retry-answer", test_retry_answer);
  ADD ("answer-reply-unreadable", test_answer_reply_unreadable);
  ADD ("retry-cancelled", test_retry_cancelled);

  return g_test_run ();
}
