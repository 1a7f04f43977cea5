/* Unit tests for the libcurl-multi HTTP client against an in-test HTTP/1.1 server. */
#include <gio/gio.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-http.h"

#include "test-http-common.h"

static void
test_check_url (void)
{
  const gchar *good[] = {
    "https://verify.twilio.com/v2/",
    "HTTPS://verify.twilio.com:8443/v2/",
    "https://[2001:db8::1]/v2/",
    "http://127.0.0.1:8080/v2/",
    "http://127.45.6.7/",
    "http://localhost:1234/v2/",
    "http://LocalHost/",
    "http://[::1]:9000/v2/",
  };
  const gchar *bad[] = {
    "http://example.com/v2/",
    "http://10.0.0.1/",
    "http://128.0.0.1/",
    "http://[::2]/",
    "http://localhost.example.com/",
    "ftp://127.0.0.1/",
    "file:///etc/passwd",
    "gopher://verify.twilio.com/",
    "verify.twilio.com/v2/",
    "https://",
    "https://user:pass@verify.twilio.com/v2/",
    "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (vpush_http_check_url (good[i], &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_false (vpush_http_check_url (bad[i], &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_test_message ("%s → %s", bad[i], error->message);
    }
}

static void
test_refuses_plain_http (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;

  vpush_http_request_async (fx->http, "GET", "http://example.com/v2/", NULL, NULL, 1000, NULL,
                            store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "example.com"));
  g_assert_null (response);
}

static void
test_get (Fixture *fx, gconstpointer user_data)
{
  const gchar *headers[] = { "Accept: application/x-www-form-urlencoded", "X-Test: 1", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autofree gchar *accept = NULL;
  g_autofree gchar *test = NULL;
  ServerRequest *req;

  /* header names are matched without regard to case */
  server_reply (fx->server, 200,
                "content-type: application/json; charset=utf-8\r\n"
                "DATE: Tue, 14 Apr 2026 09:26:42 GMT\r\n"
                "twilio-verify-signature-fields: sid,status,details\r\n"
                "Retry-After:   7  \r\n",
                "{\"ok\": true}");
  response = request (fx, "GET", "v2/Things?A=1", headers, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (response->status, ==, 200);
  g_assert_cmpmem (g_bytes_get_data (response->body, NULL), g_bytes_get_size (response->body),
                   "{\"ok\": true}", 12);
  g_assert_cmpstr (response->content_type, ==, "application/json; charset=utf-8");
  g_assert_cmpstr (response->date, ==, "Tue, 14 Apr 2026 09:26:42 GMT");
  g_assert_cmpstr (response->signature_fields, ==, "sid,status,details");
  g_assert_cmpstr (response->retry_after, ==, "7");

  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "GET");
  g_assert_cmpstr (req->path, ==, "/v2/Things?A=1");
  accept = head_get (req->head, "Accept");
  test = head_get (req->head, "X-Test");
  g_assert_cmpstr (accept, ==, "application/x-www-form-urlencoded");
  g_assert_cmpstr (test, ==, "1");
  g_assert_cmpuint (g_bytes_get_size (req->body), ==, 0);
}

static void
test_post (Fixture *fx, gconstpointer user_data)
{
  const gchar *headers[]
      = { "Accept: application/json", "Content-Type: application/x-www-form-urlencoded", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autofree gchar *content_type = NULL;
  g_autofree gchar *expect = NULL;
  g_autofree gchar *body = g_strnfill (4000, 'x');
  ServerRequest *req;

  server_reply (fx->server, 201, NULL, "{}");
  response = request (fx, "POST", "v2/Post", headers, body, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (response->status, ==, 201);
  g_assert_null (response->content_type);
  g_assert_null (response->date);
  g_assert_null (response->signature_fields);
  g_assert_null (response->retry_after);

  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "POST");
  g_assert_cmpstr (req->path, ==, "/v2/Post");
  content_type = head_get (req->head, "Content-Type");
  g_assert_cmpstr (content_type, ==, "application/x-www-form-urlencoded");
  /* no 100-continue round trip */
  expect = head_get (req->head, "Expect");
  g_assert_null (expect);
  g_assert_cmpmem (g_bytes_get_data (req->body, NULL), g_bytes_get_size (req->body), body,
                   strlen (body));
}

static void
test_delete (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  ServerRequest *req;

  server_reply (fx->server, 204, NULL, NULL);
  response = request (fx, "DELETE", "v2/Thing", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (response->status, ==, 204);
  g_assert_nonnull (response->body);
  g_assert_cmpuint (g_bytes_get_size (response->body), ==, 0);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "DELETE");
  g_assert_cmpuint (g_bytes_get_size (req->body), ==, 0);
}

static void
test_any_status_is_returned (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autoptr (VpushHttpResponse) redirect = NULL;

  server_reply (fx->server, 503, "Retry-After: 30\r\n", "busy");
  response = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (response->status, ==, 503);
  g_assert_cmpstr (response->retry_after, ==, "30");

  /* redirects are not followed */
  server_reply (fx->server, 302, "Location: /v2/elsewhere\r\n", NULL);
  redirect = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (redirect->status, ==, 302);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
}

static void
test_keep_alive (Fixture *fx, gconstpointer user_data)
{
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushHttpResponse) response = NULL;

      server_reply (fx->server, 200, NULL, "{}");
      response = request (fx, i == 1 ? "POST" : "GET", "v2/", NULL, i == 1 ? "a=b" : NULL, 2000,
                          NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (response->status, ==, 200);
    }
  g_assert_cmpuint (server_n_requests (fx->server), ==, 3);
  /* a POST goes out on the kept-alive connection too (test_send_once) */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (server_request (fx->server, i)->connection, ==, 1);
}

/* The server closes a kept-alive connection as a POST comes in, without an answer: curl
 * would send the POST again on a new connection. It is sent once, and fails as one that
 * may have gone through. A GET is sent again. */
static void
test_send_once (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GBytes) body = g_bytes_new_static ("a=b", 3);
  g_autofree gchar *url = server_url (fx->server, "v2/");
  g_autoptr (VpushHttpResponse) first = NULL;
  g_autoptr (VpushHttpResponse) second = NULL;
  g_autoptr (VpushHttpResponse) post = NULL;
  g_autoptr (VpushHttpResponse) get = NULL;

  server_reply (fx->server, 200, NULL, "{}");
  first = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);

  server_drop (fx->server);
  vpush_http_request_async (fx->http, "POST", url, NULL, body, 2000, NULL, store_result, &result);
  post = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_assert_null (post);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_test_message ("%s", error->message);
  /* which server failed is named, also where curl's own words do not */
  g_assert_nonnull (strstr (error->message, "127.0.0.1"));
  g_assert_cmpint (vpush_http_request_get_failure (fx->http, result), ==, VPUSH_HTTP_FAILURE_LOST);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpstr (server_request (fx->server, 1)->method, ==, "POST");
  g_assert_cmpuint (server_request (fx->server, 1)->connection, ==, 1);
  g_clear_error (&error);

  /* a GET that meets the same fate is simply sent again */
  server_reply (fx->server, 200, NULL, "{}");
  second = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  server_drop (fx->server);
  server_reply (fx->server, 200, NULL, "{}");
  get = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (get->status, ==, 200);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
}

static void
test_concurrent (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GAsyncResult) slow_result = NULL;
  g_autoptr (GAsyncResult) fast_result = NULL;
  g_autoptr (VpushHttpResponse) slow = NULL;
  g_autoptr (VpushHttpResponse) fast = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *url = server_url (fx->server, "v2/");

  /* the first request hangs until its timeout while the second completes */
  server_hang (fx->server);
  vpush_http_request_async (fx->http, "GET", url, NULL, NULL, 1500, NULL, store_result,
                            &slow_result);
  while (server_n_requests (fx->server) < 1)
    g_main_context_iteration (NULL, FALSE);
  server_reply (fx->server, 200, NULL, "fast");
  vpush_http_request_async (fx->http, "GET", url, NULL, NULL, 1500, NULL, store_result,
                            &fast_result);
  fast = vpush_http_request_finish (fx->http, wait_for (&fast_result), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fast->status, ==, 200);
  g_assert_null (slow_result);

  slow = vpush_http_request_finish (fx->http, wait_for (&slow_result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (slow);
}

static void
test_timeout (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  server_hang (fx->server);
  response = request (fx, "GET", "v2/", NULL, NULL, 300, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("timed out after %" G_GINT64_FORMAT " ms: %s", elapsed_ms, error->message);
  g_assert_nonnull (strstr (error->message, "127.0.0.1"));
  g_assert_cmpint (elapsed_ms, >=, 250);
  g_assert_cmpint (elapsed_ms, <, 2000);
}

static void
test_body_cap (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) exact = NULL;
  g_autoptr (VpushHttpResponse) over = NULL;
  g_autoptr (VpushHttpResponse) after = NULL;
  g_autofree gchar *big = g_malloc (VPUSH_HTTP_BODY_CAP + 1);

  memset (big, 'a', VPUSH_HTTP_BODY_CAP + 1);
  server_reply_bytes (fx->server, 200, NULL, big, VPUSH_HTTP_BODY_CAP);
  exact = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (exact->body), ==, VPUSH_HTTP_BODY_CAP);

  server_reply_bytes (fx->server, 200, NULL, big, VPUSH_HTTP_BODY_CAP + 1);
  over = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "response body larger than 1 MiB (HTTP status 200)");
  g_assert_null (over);
  g_clear_error (&error);

  /* the client is still usable */
  server_reply (fx->server, 200, NULL, "{}");
  after = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (after->status, ==, 200);
}

/* A request's own cap (a list's page): what it allows is read, one byte more is refused,
 * named in KiB when it is no whole number of MiB */
static void
test_body_cap_own (Fixture *fx, gconstpointer user_data)
{
  const gsize cap = 1600 * 1024;
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) first = NULL;
  g_autoptr (GAsyncResult) second = NULL;
  g_autoptr (VpushHttpResponse) exact = NULL;
  g_autoptr (VpushHttpResponse) over = NULL;
  g_autofree gchar *url = server_url (fx->server, "v2/");
  g_autofree gchar *big = g_malloc (cap + 1);

  memset (big, 'a', cap + 1);
  server_reply_bytes (fx->server, 200, NULL, big, cap);
  vpush_http_request_capped_async (fx->http, "GET", url, NULL, NULL, 5000, cap, NULL, store_result,
                                   &first);
  exact = vpush_http_request_finish (fx->http, wait_for (&first), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (exact->body), ==, cap);

  server_reply_bytes (fx->server, 200, NULL, big, cap + 1);
  vpush_http_request_capped_async (fx->http, "GET", url, NULL, NULL, 5000, cap, NULL, store_result,
                                   &second);
  over = vpush_http_request_finish (fx->http, wait_for (&second), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "response body larger than 1600 KiB (HTTP status 200)");
  g_assert_null (over);
}

/* A reply that can't be read, once the request was sent, is the server answering: it fails
 * with VPUSH_ERROR_FAILED (not NETWORK, which would call the API unreachable) and tells
 * that the server may have acted on the request, with the status read, if any. */
static void
test_unreadable_reply (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *big = g_strnfill (150 * 1024, 'a');
  g_autofree gchar *big_header = g_strdup_printf ("HTTP/1.1 200 OK\r\nX-Big: %s\r\n\r\n", big);
  g_autoptr (GString) interim = g_string_new (NULL);
  struct
  {
    const gchar *raw;
    guint status;
    const gchar *message; /* a part of it */
  } replies[] = {
    /* libcurl itself says "Out of memory" */
    { big_header, 200, "“127.0.0.1” could not be read: a header over 100 KB" },
    { "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", 0, "“127.0.0.1” could not be read" },
    { "HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n", 0, "“127.0.0.1” could not be read" },
    { "{}", 0, "“127.0.0.1” could not be read" }, /* HTTP/0.9 */
    /* endless interim responses, to the cap */
    { NULL, 100, "response headers larger than 64 KiB (HTTP status 100)" },
  };

  while (interim->len <= VPUSH_HTTP_HEADERS_CAP)
    g_string_append (interim, "HTTP/1.1 100 Continue\r\n\r\n");
  replies[G_N_ELEMENTS (replies) - 1].raw = interim->str;

  for (guint i = 0; i < G_N_ELEMENTS (replies); i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) body = g_bytes_new_static ("status=approved", 15);
      g_autofree gchar *url = server_url (fx->server, "v2/");

      server_reply_raw (fx->server, replies[i].raw);
      vpush_http_request_async (fx->http, "POST", url, NULL, body, 5000, NULL, store_result,
                                &result);
      g_assert_null (vpush_http_request_finish (fx->http, wait_for (&result), &error));
      g_test_message ("%s", error->message);
      g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
      g_assert_nonnull (strstr (error->message, replies[i].message));
      g_assert_true (vpush_http_request_get_reply_unread (fx->http, result));
      g_assert_cmpuint (vpush_http_request_get_status (fx->http, result), ==, replies[i].status);
      g_assert_cmpint (vpush_http_request_get_failure (fx->http, result), ==,
                       VPUSH_HTTP_FAILURE_PERMANENT);
    }
  /* sent once each: no second attempt of a POST */
  g_assert_cmpuint (server_n_requests (fx->server), ==, G_N_ELEMENTS (replies));
}

/* A chunked body's trailers are not its headers: none is read as one (a signature's fields
 * come before the body), and they count, with the headers, against
 * VPUSH_HTTP_HEADERS_CAP: libcurl takes trailers without end. */
static void
test_trailers (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autoptr (VpushHttpResponse) flood = NULL;
  g_autoptr (VpushHttpResponse) after = NULL;
  g_autoptr (GString) raw = g_string_new (NULL);
  g_autofree gchar *value = g_strnfill (3000, 'a');

  server_reply_raw (fx->server, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                "Twilio-Verify-Signature-Fields: sid,status\r\n\r\n"
                                "2\r\n{}\r\n0\r\n"
                                "Twilio-Verify-Signature-Fields: details\r\n"
                                "Date: Tue, 14 Apr 2026 09:26:42 GMT\r\n\r\n");
  response = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->signature_fields, ==, "sid,status");
  g_assert_null (response->date);

  /* trailers of 3000 bytes a line, more of them than the cap */
  g_string_append (raw, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n");
  for (guint i = 0; i < 2 * VPUSH_HTTP_HEADERS_CAP / 3000; i++)
    g_string_append_printf (raw, "Twilio-Verify-Signature-Fields: %s\r\n", value);
  g_string_append (raw, "\r\n");
  server_reply_raw (fx->server, raw->str);
  flood = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "response headers larger than 64 KiB (HTTP status 200)");
  g_assert_null (flood);
  g_clear_error (&error);

  server_reply (fx->server, 200, NULL, "{}");
  after = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (after->status, ==, 200);
}

static gboolean
cancel_later (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autoptr (VpushHttpResponse) early = NULL;
  g_autoptr (VpushHttpResponse) after = NULL;
  gint64 start = g_get_monotonic_time ();

  server_hang (fx->server);
  g_timeout_add (100, cancel_later, cancellable);
  response = request (fx, "GET", "v2/", NULL, NULL, 10000, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (response);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&error);

  /* already cancelled: nothing is sent */
  g_cancellable_cancel (cancelled);
  early = request (fx, "GET", "v2/", NULL, NULL, 2000, cancelled, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (early);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);

  /* the cancelled transfer left nothing behind */
  server_reply (fx->server, 200, NULL, "{}");
  after = request (fx, "GET", "v2/", NULL, NULL, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (after->status, ==, 200);
}

int
main (int argc, char **argv)
{
  unset_proxy_variables ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/http/check-url", test_check_url);
#define ADD(path, func)                                                                            \
  g_test_add ("/http/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("refuses-plain-http", test_refuses_plain_http);
  ADD ("get", test_get);
  ADD ("post", test_post);
  ADD ("delete", test_delete);
  ADD ("any-status", test_any_status_is_returned);
  ADD ("keep-alive", test_keep_alive);
  ADD ("concurrent", test_concurrent);
  ADD ("timeout", test_timeout);
  ADD ("body-cap", test_body_cap);
  ADD ("body-cap-own", test_body_cap_own);
  ADD ("unreadable-reply", test_unreadable_reply);
  ADD ("trailers", test_trailers);
  ADD ("cancel", test_cancel);
  ADD ("send-once", test_send_once);
#undef ADD

  return g_test_run ();
}
