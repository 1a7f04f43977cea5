/* Unit tests for the libcurl-multi HTTP client against an in-test HTTP/1.1 server. */
/* RTLD_NEXT */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dlfcn.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vpush-error.h"
#include "vpush-http.h"

#include "test-http-server.h"

/* ---- running async calls to completion ---- */

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

static gboolean
set_flag (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Every request here ends within seconds, by its own timeout at the latest: one that does
 * not fails the test, rather than hanging until the test runner kills it. */
static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (20, set_flag, &expired);

  while (*slot == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (expired)
    g_error ("no result after 20 s: the request's timeout did not end it");
  g_source_remove (id);
  return *slot;
}

typedef struct
{
  Server *server;
  VpushHttp *http;
} Fixture;

static void
fixture_set_up (Fixture *fx, gconstpointer user_data)
{
  fx->server = server_new ();
  fx->http = vpush_http_new ();
}

static void
fixture_tear_down (Fixture *fx, gconstpointer user_data)
{
  g_clear_object (&fx->http);
  server_free (fx->server);
}

/* One request to completion. */
static VpushHttpResponse *
request (Fixture *fx, const gchar *method, const gchar *path, const gchar *const *headers,
         const gchar *body, guint timeout_ms, GCancellable *cancellable, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GBytes) bytes = body != NULL ? g_bytes_new (body, strlen (body)) : NULL;
  g_autofree gchar *url = server_url (fx->server, path);

  vpush_http_request_async (fx->http, method, url, headers, bytes, timeout_ms, cancellable,
                            store_result, &result);
  return vpush_http_request_finish (fx->http, wait_for (&result), error);
}

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

/* A name server that does not answer: getaddrinfo() for HANGING_HOST waits until the test
 * lets it go (or a long while, so that a test that fails still ends). libcurl resolves in
 * a thread of its own; this stands in for the C library's, for every caller. */
#define HANGING_HOST "dns-hangs.test"

static struct
{
  GMutex lock;
  GCond cond;
  gboolean released;
  gboolean entered;
  gboolean returned;
} dns;

int
getaddrinfo (const char *node, const char *service, const struct addrinfo *hints,
             struct addrinfo **res)
{
  static int (*real) (const char *, const char *, const struct addrinfo *, struct addrinfo **);
  gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;

  if (node == NULL || strcmp (node, HANGING_HOST) != 0)
    {
      if (real == NULL)
        real = (int (*) (const char *, const char *, const struct addrinfo *,
                         struct addrinfo **))dlsym (RTLD_NEXT, "getaddrinfo");
      return real (node, service, hints, res);
    }
  g_mutex_lock (&dns.lock);
  dns.entered = TRUE;
  g_cond_broadcast (&dns.cond);
  while (!dns.released)
    if (!g_cond_wait_until (&dns.cond, &dns.lock, deadline))
      break;
  dns.returned = TRUE;
  g_cond_broadcast (&dns.cond);
  g_mutex_unlock (&dns.lock);
  return EAI_AGAIN;
}

/* A request whose name lookup hangs ends at its timeout, and the main loop goes on: the
 * lookup's thread is left to end by itself, not waited for (libcurl joins it when the
 * transfer ends, for as long as the name server takes: half a minute and more). */
static void
test_dns_timeout (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  gboolean lookup_returned;
  const curl_version_info_data *curl = curl_version_info (CURLVERSION_NOW);

  /* the lookup this test holds is getaddrinfo() on libcurl's resolver thread */
  if (!(curl->features & CURL_VERSION_ASYNCHDNS) || curl->ares != NULL)
    {
      g_test_skip ("libcurl does not resolve names with getaddrinfo() on a thread");
      return;
    }
  vpush_http_request_async (fx->http, "GET", "https://" HANGING_HOST "/v2/", NULL, NULL, 300, NULL,
                            store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_mutex_lock (&dns.lock);
  lookup_returned = dns.returned;
  g_assert_true (dns.entered);
  dns.released = TRUE;
  g_cond_broadcast (&dns.cond);
  while (!dns.returned)
    g_cond_wait (&dns.cond, &dns.lock);
  g_mutex_unlock (&dns.lock);

  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("%s", error->message);
  g_assert_false (lookup_returned);
  g_assert_cmpint (vpush_http_request_get_failure (fx->http, result), ==,
                   VPUSH_HTTP_FAILURE_NOT_SENT);
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

/* A response header past libcurl's 100 KB limit fails the request with a message that
 * says so (libcurl itself says "Out of memory") */
static void
test_header_cap (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autofree gchar *value = g_strnfill (150 * 1024, 'a');
  g_autofree gchar *header = g_strdup_printf ("X-Big: %s\r\n", value);

  server_reply (fx->server, 200, header, "{}");
  response = request (fx, "GET", "v2/", NULL, NULL, 5000, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "a header over 100 KB"));
  g_assert_nonnull (strstr (error->message, "127.0.0.1"));
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

static void
test_connection_refused (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t addr_len = sizeof addr;
  g_autofree gchar *url = NULL;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  /* a port that was free a moment ago and has no listener */
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *)&addr, &addr_len), ==, 0);
  close (fd);
  url = g_strdup_printf ("http://127.0.0.1:%u/v2/", ntohs (addr.sin_port));

  vpush_http_request_async (fx->http, "GET", url, NULL, NULL, 2000, NULL, store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "127.0.0.1"));
}

/* A connection that fails for want of a file descriptor says so, where curl says only
 * "Couldn't connect to server" */
static void
test_out_of_descriptors (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autofree gchar *url = server_url (fx->server, "v2/");
  g_autofree gchar *expected
      = g_strdup_printf ("cannot connect to “127.0.0.1”: no socket: %s", g_strerror (EMFILE));
  struct rlimit saved;
  struct rlimit low;
  int lowest_free;

  /* GTask's class set-up opens a pipe for its thread pool's context */
  g_type_ensure (G_TYPE_TASK);
  lowest_free = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  /* every descriptor below the lowest free one is taken: with that as the limit, curl's
   * socket fails with EMFILE */
  g_assert_cmpint (lowest_free, >=, 0);
  close (lowest_free);
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = (rlim_t)lowest_free;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);
  vpush_http_request_async (fx->http, "GET", url, NULL, NULL, 2000, NULL, store_result, &result);
  wait_for (&result);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);

  response = vpush_http_request_finish (fx->http, result, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("%s", error->message);
  g_assert_cmpstr (error->message, ==, expected);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 0);
}

/* vpushd(8), ENVIRONMENT: the proxy variables libcurl reads are honoured for a host that
 * is not loopback, and a loopback server is always reached directly. */
static void
test_proxy_from_environment (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autoptr (VpushHttpResponse) direct = NULL;
  g_autofree gchar *proxy = server_url (fx->server, "");
  ServerRequest *req;

  /* the test server stands for the proxy, and refuses the tunnel */
  g_setenv ("https_proxy", proxy, TRUE);
  server_reply (fx->server, 403, NULL, "");
  vpush_http_request_async (fx->http, "GET", "https://verify.example.invalid/v2/Services", NULL,
                            NULL, 5000, NULL, store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_assert_null (response);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "CONNECT");
  g_assert_cmpstr (req->path, ==, "verify.example.invalid:443");

  /* a proxy with no listener: used, it would fail the request */
  g_setenv ("http_proxy", "http://127.0.0.1:1", TRUE);
  g_setenv ("ALL_PROXY", "http://127.0.0.1:1", TRUE);
  server_reply (fx->server, 200, NULL, "direct");
  g_clear_error (&error);
  direct = request (fx, "GET", "v2/Services", NULL, NULL, 5000, NULL, &error);
  g_unsetenv ("https_proxy");
  g_unsetenv ("http_proxy");
  g_unsetenv ("ALL_PROXY");
  g_assert_no_error (error);
  g_assert_cmpuint (direct->status, ==, 200);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpstr (server_request (fx->server, 1)->path, ==, "/v2/Services");

  /* http_proxy is for http URLs, which go only to loopback: an https request does not
   * take it (vpushd(8) does not list it) */
  g_setenv ("http_proxy", proxy, TRUE);
  g_clear_object (&result);
  g_clear_pointer (&response, vpush_http_response_free);
  g_clear_error (&error);
  vpush_http_request_async (fx->http, "GET", "https://verify.example.invalid/v2/Services", NULL,
                            NULL, 2000, NULL, store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_unsetenv ("http_proxy");
  g_assert_null (response);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
}

/* A proxy that refuses the tunnel, or closes the connection while it is asked for one,
 * passed nothing on: an enrollment's create-factor is sent again after that. */
static void
test_proxy_refuses_tunnel (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *proxy = server_url (fx->server, "");
  g_autoptr (GBytes) body = g_bytes_new_static ("a=b", 3);

  g_setenv ("https_proxy", proxy, TRUE);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (VpushHttpResponse) response = NULL;

      if (i == 0)
        server_reply (fx->server, 403, NULL, "");
      else
        server_drop (fx->server);
      vpush_http_request_async (fx->http, "POST", "https://verify.example.invalid/v2/Services",
                                NULL, body, 5000, NULL, store_result, &result);
      response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
      g_assert_null (response);
      g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
      g_test_message ("%s", error->message);
      g_assert_cmpuint (server_n_requests (fx->server), ==, i + 1);
      g_assert_cmpstr (server_request (fx->server, i)->method, ==, "CONNECT");
      g_assert_cmpint (vpush_http_request_get_failure (fx->http, result), ==,
                       VPUSH_HTTP_FAILURE_NOT_SENT);
    }
  g_unsetenv ("https_proxy");
}

static gboolean
stream_ignore_headers (guint status, const gchar *content_type, gpointer user_data)
{
  return TRUE;
}

static gboolean
stream_ignore_data (const guint8 *data, gsize len, gpointer user_data)
{
  return TRUE;
}

static void
stream_store_error (const GError *error, gpointer user_data)
{
  GError **slot = user_data;

  g_assert_nonnull (error);
  *slot = g_error_copy (error);
}

/* The configured CA file is used for requests and streams alike: one that holds no
 * certificate fails both before a byte of TLS is sent, with an error naming the file and
 * the host. (Refused certificates are tested against the emulator's HTTPS listener in
 * tests/integration/test_tls.py.) */
static void
test_ca_file_unusable (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) stream_error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushHttpResponse) response = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-test-http-XXXXXX", NULL);
  g_autofree gchar *ca_file = g_build_filename (dir, "ca.pem", NULL);
  g_autofree gchar *http_url = server_url (fx->server, "v2/");
  g_autofree gchar *url = NULL;
  g_autofree gchar *expected = NULL;
  VpushHttpStream *stream;

  g_assert_true (g_str_has_prefix (http_url, "http://127.0.0.1:"));
  url = g_strconcat ("https", http_url + strlen ("http"), NULL);
  g_assert_true (g_file_set_contents (
      ca_file, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", -1, NULL));
  vpush_http_set_ca_file (fx->http, ca_file);
  expected = g_strdup_printf ("TLS to “127.0.0.1”: cannot load the trusted CAs (%s): ", ca_file);

  vpush_http_request_async (fx->http, "GET", url, NULL, NULL, 5000, NULL, store_result, &result);
  response = vpush_http_request_finish (fx->http, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (response);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, expected));

  stream = vpush_http_stream_start (fx->http, url, NULL, 5000, stream_ignore_headers,
                                    stream_ignore_data, stream_store_error, &stream_error, &error);
  g_assert_nonnull (stream);
  while (stream_error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (stream_error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_true (g_str_has_prefix (stream_error->message, expected));

  g_assert_cmpint (g_remove (ca_file), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
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
  /* The requests to names that are not loopback must go where the tests send them: a
   * proxy from the caller's environment (a desktop behind one) would take the hanging
   * lookup's name, or the proxy test's, out of their hands. The proxy test sets its own. */
  const gchar *const proxy_variables[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy",
                                           "ALL_PROXY",   "no_proxy",    "NO_PROXY" };

  for (gsize i = 0; i < G_N_ELEMENTS (proxy_variables); i++)
    g_unsetenv (proxy_variables[i]);
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
  ADD ("dns-timeout", test_dns_timeout);
  ADD ("body-cap", test_body_cap);
  ADD ("body-cap-own", test_body_cap_own);
  ADD ("header-cap", test_header_cap);
  ADD ("trailers", test_trailers);
  ADD ("connection-refused", test_connection_refused);
  ADD ("out-of-descriptors", test_out_of_descriptors);
  ADD ("cancel", test_cancel);
  ADD ("ca-file-unusable", test_ca_file_unusable);
  ADD ("send-once", test_send_once);
  ADD ("proxy-from-environment", test_proxy_from_environment);
  ADD ("proxy-refuses-tunnel", test_proxy_refuses_tunnel);
#undef ADD

  return g_test_run ();
}
