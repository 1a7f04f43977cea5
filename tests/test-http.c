/* Unit tests for the libcurl-multi HTTP client against an in-test HTTP/1.1 server. */
#include <arpa/inet.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vpush-error.h"
#include "vpush-http.h"

/* ---- a small HTTP/1.1 server on 127.0.0.1 that records requests and plays canned replies ---- */

typedef struct
{
  gchar *method;
  gchar *path;
  gchar *head; /* request line and headers */
  GBytes *body;
  guint connection; /* 1-based, in accept order */
} ServerRequest;

typedef struct
{
  GBytes *raw;
  gboolean hang; /* read and never answer */
} ServerReply;

typedef struct
{
  int fd;
  guint16 port;
  gchar *url; /* http://127.0.0.1:<port>/ */
  int wake[2];
  GThread *acceptor;
  GMutex lock;
  GQueue replies;
  GPtrArray *requests;
  GPtrArray *threads;
  guint n_connections;
} Server;

typedef struct
{
  Server *server;
  int fd;
  guint id;
} ServerConnection;

static void
server_request_free (ServerRequest *req)
{
  g_free (req->method);
  g_free (req->path);
  g_free (req->head);
  g_bytes_unref (req->body);
  g_free (req);
}

static void
server_reply_free (ServerReply *reply)
{
  g_clear_pointer (&reply->raw, g_bytes_unref);
  g_free (reply);
}

/* The value of header name in a raw header block, or NULL. */
static gchar *
head_get (const gchar *head, const gchar *name)
{
  g_auto (GStrv) lines = g_strsplit (head, "\r\n", -1);
  gsize len = strlen (name);

  for (guint i = 1; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], name, len) == 0 && lines[i][len] == ':')
      return g_strstrip (g_strdup (lines[i] + len + 1));
  return NULL;
}

/* Offset of the blank line ending a header block in buf, or -1. */
static gssize
head_end (GByteArray *buf)
{
  for (gsize i = 0; i + 4 <= buf->len; i++)
    if (memcmp (buf->data + i, "\r\n\r\n", 4) == 0)
      return i;
  return -1;
}

/* -1 when the server stops or the peer is gone */
static gssize
server_read (Server *server, int fd, guint8 *buf, gsize len)
{
  struct pollfd fds[2] = { { fd, POLLIN, 0 }, { server->wake[0], POLLIN, 0 } };

  if (poll (fds, 2, -1) < 0 || fds[1].revents != 0)
    return -1;
  return recv (fd, buf, len, 0);
}

static gpointer
server_connection_thread (gpointer data)
{
  g_autofree ServerConnection *conn = data;
  Server *server = conn->server;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[65536];
  gssize n;

  for (;;)
    {
      ServerRequest *req;
      ServerReply *reply;
      g_autofree gchar *length = NULL;
      g_auto (GStrv) request_line = NULL;
      gssize end;
      gsize head_len;
      gsize body_len;

      while ((end = head_end (buf)) < 0)
        {
          if ((n = server_read (server, conn->fd, chunk, sizeof chunk)) <= 0)
            goto out;
          g_byte_array_append (buf, chunk, n);
        }
      head_len = end + 4;
      req = g_new0 (ServerRequest, 1);
      req->head = g_strndup ((const gchar *)buf->data, head_len - 4);
      req->connection = conn->id;
      request_line = g_strsplit (req->head, " ", 3);
      req->method = g_strdup (request_line[0]);
      req->path = g_strdup (request_line[1]);
      length = head_get (req->head, "Content-Length");
      body_len = length != NULL ? g_ascii_strtoull (length, NULL, 10) : 0;
      while (buf->len < head_len + body_len)
        {
          if ((n = server_read (server, conn->fd, chunk, sizeof chunk)) <= 0)
            {
              server_request_free (req);
              goto out;
            }
          g_byte_array_append (buf, chunk, n);
        }
      req->body = g_bytes_new (buf->data + head_len, body_len);
      g_byte_array_remove_range (buf, 0, head_len + body_len);

      g_mutex_lock (&server->lock);
      g_ptr_array_add (server->requests, req);
      reply = g_queue_pop_head (&server->replies);
      g_mutex_unlock (&server->lock);

      if (reply == NULL)
        {
          static const gchar none[] = "HTTP/1.1 599 No Canned Reply\r\nContent-Length: 0\r\n\r\n";

          send (conn->fd, none, strlen (none), MSG_NOSIGNAL);
          continue;
        }
      if (reply->hang)
        {
          while (server_read (server, conn->fd, chunk, sizeof chunk) > 0)
            ;
          server_reply_free (reply);
          goto out;
        }
      {
        gsize len;
        const guint8 *raw = g_bytes_get_data (reply->raw, &len);

        while (len > 0 && (n = send (conn->fd, raw, len, MSG_NOSIGNAL)) > 0)
          {
            raw += n;
            len -= n;
          }
      }
      server_reply_free (reply);
    }

out:
  close (conn->fd);
  return NULL;
}

static gpointer
server_accept_thread (gpointer data)
{
  Server *server = data;

  for (;;)
    {
      struct pollfd fds[2] = { { server->fd, POLLIN, 0 }, { server->wake[0], POLLIN, 0 } };
      ServerConnection *conn;
      int fd;

      if (poll (fds, 2, -1) < 0 || fds[1].revents != 0)
        return NULL;
      fd = accept (server->fd, NULL, NULL);
      if (fd < 0)
        continue;
      conn = g_new0 (ServerConnection, 1);
      conn->server = server;
      conn->fd = fd;
      g_mutex_lock (&server->lock);
      conn->id = ++server->n_connections;
      g_ptr_array_add (server->threads,
                       g_thread_new ("test-http-conn", server_connection_thread, conn));
      g_mutex_unlock (&server->lock);
    }
}

static Server *
server_new (void)
{
  Server *server = g_new0 (Server, 1);
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t addr_len = sizeof addr;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  server->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (server->fd, >=, 0);
  g_assert_cmpint (bind (server->fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (server->fd, 16), ==, 0);
  g_assert_cmpint (getsockname (server->fd, (struct sockaddr *)&addr, &addr_len), ==, 0);
  server->port = ntohs (addr.sin_port);
  server->url = g_strdup_printf ("http://127.0.0.1:%u/", server->port);
  g_assert_true (g_unix_open_pipe (server->wake, FD_CLOEXEC, NULL));
  g_mutex_init (&server->lock);
  g_queue_init (&server->replies);
  server->requests = g_ptr_array_new_with_free_func ((GDestroyNotify)server_request_free);
  server->threads = g_ptr_array_new ();
  server->acceptor = g_thread_new ("test-http-accept", server_accept_thread, server);
  return server;
}

static void
server_free (Server *server)
{
  g_assert_cmpint (write (server->wake[1], "x", 1), ==, 1);
  g_thread_join (server->acceptor);
  for (guint i = 0; i < server->threads->len; i++)
    g_thread_join (g_ptr_array_index (server->threads, i));
  g_ptr_array_unref (server->threads);
  g_ptr_array_unref (server->requests);
  g_queue_clear_full (&server->replies, (GDestroyNotify)server_reply_free);
  g_mutex_clear (&server->lock);
  close (server->wake[0]);
  close (server->wake[1]);
  close (server->fd);
  g_free (server->url);
  g_free (server);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Server, server_free)

/* Queues one reply; headers are "Name: value" lines each ending in \r\n, or NULL. */
static void
server_reply_bytes (Server *server, guint status, const gchar *headers, const void *body,
                    gsize body_len)
{
  ServerReply *reply = g_new0 (ServerReply, 1);
  g_autoptr (GByteArray) raw = g_byte_array_new ();
  g_autofree gchar *head
      = g_strdup_printf ("HTTP/1.1 %u Canned\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n%s\r\n",
                         status, body_len, headers != NULL ? headers : "");

  g_byte_array_append (raw, (const guint8 *)head, strlen (head));
  g_byte_array_append (raw, body, body_len);
  reply->raw = g_byte_array_free_to_bytes (g_steal_pointer (&raw));
  g_mutex_lock (&server->lock);
  g_queue_push_tail (&server->replies, reply);
  g_mutex_unlock (&server->lock);
}

static void
server_reply (Server *server, guint status, const gchar *headers, const gchar *body)
{
  server_reply_bytes (server, status, headers, body, body != NULL ? strlen (body) : 0);
}

static void
server_hang (Server *server)
{
  ServerReply *reply = g_new0 (ServerReply, 1);

  reply->hang = TRUE;
  g_mutex_lock (&server->lock);
  g_queue_push_tail (&server->replies, reply);
  g_mutex_unlock (&server->lock);
}

static guint
server_n_requests (Server *server)
{
  guint n;

  g_mutex_lock (&server->lock);
  n = server->requests->len;
  g_mutex_unlock (&server->lock);
  return n;
}

/* The i-th request; the server never drops one, so the pointer stays valid. */
static ServerRequest *
server_request (Server *server, guint i)
{
  ServerRequest *req;

  g_mutex_lock (&server->lock);
  g_assert_cmpuint (i, <, server->requests->len);
  req = g_ptr_array_index (server->requests, i);
  g_mutex_unlock (&server->lock);
  return req;
}

static gchar *
server_url (Server *server, const gchar *path)
{
  return g_strconcat (server->url, path, NULL);
}

/* ---- running async calls to completion ---- */

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
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
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (server_request (fx->server, i)->connection, ==, 1);
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
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpstr (error->message, ==, "response body larger than 1 MiB");
  g_assert_null (over);
  g_clear_error (&error);

  /* the client is still usable */
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
  ADD ("connection-refused", test_connection_refused);
  ADD ("cancel", test_cancel);
#undef ADD

  return g_test_run ();
}
