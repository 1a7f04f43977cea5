/* The HTTP client's connections that fail: a name lookup that hangs, a port with no
 * listener, no file descriptor left, a proxy from the environment, a CA file that can't be
 * used. */
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

#include "test-http-common.h"

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

/* A proxy whose answer to CONNECT has more header lines than the cap (each under
 * libcurl's own limit for one): the request itself never went out, so its reply is not
 * one the server may have acted on, whatever the proxy's status. */
static void
test_proxy_answer_over_the_header_cap (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *proxy = server_url (fx->server, "");
  g_autofree gchar *line = g_strnfill (8 * 1024, 'a');
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autoptr (GBytes) body = g_bytes_new_static ("Status=approved", 15);
  const gchar *statuses[]
      = { "407 Proxy Authentication Required", "200 Connection established", "502 Bad Gateway" };

  for (guint i = 0; i < 10; i++)
    g_string_append_printf (lines, "X-Big-%u: %s\r\n", i, line);
  g_setenv ("https_proxy", proxy, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GAsyncResult) result = NULL;
      g_autofree gchar *raw
          = g_strdup_printf ("HTTP/1.1 %s\r\n%sContent-Length: 0\r\n\r\n", statuses[i], lines->str);

      server_reply_raw (fx->server, raw);
      vpush_http_request_async (fx->http, "POST",
                                "https://verify.example.invalid/v2/Services/VA1/Entities/e/"
                                "Challenges/YC1",
                                NULL, body, 5000, NULL, store_result, &result);
      g_assert_null (vpush_http_request_finish (fx->http, wait_for (&result), &error));
      g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
      g_assert_cmpstr (server_request (fx->server, i)->method, ==, "CONNECT");
      g_assert_false (vpush_http_request_get_reply_unread (fx->http, result));
    }
  g_assert_cmpuint (server_n_requests (fx->server), ==, G_N_ELEMENTS (statuses));
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

int
main (int argc, char **argv)
{
  unset_proxy_variables ();
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func)                                                                            \
  g_test_add ("/http/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("dns-timeout", test_dns_timeout);
  ADD ("connection-refused", test_connection_refused);
  ADD ("out-of-descriptors", test_out_of_descriptors);
  ADD ("ca-file-unusable", test_ca_file_unusable);
  ADD ("proxy-from-environment", test_proxy_from_environment);
  ADD ("proxy-refuses-tunnel", test_proxy_refuses_tunnel);
  ADD ("proxy-answer-over-the-header-cap", test_proxy_answer_over_the_header_cap);
#undef ADD

  return g_test_run ();
}
