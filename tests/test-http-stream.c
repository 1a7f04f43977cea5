/* Unit tests for the streaming GET of the HTTP client (vpush_http_stream_*), the transport of
 * the push channel: callbacks in order, ending it from its headers or data, cancelling it
 * anywhere, and what may not be done from inside libcurl. */
#include <gio/gio.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-http.h"

#include "test-http-server.h"

typedef struct
{
  Server *server;
  VpushHttp *http;
  VpushHttpStream *stream;

  /* what the callbacks saw */
  guint status;
  gchar *content_type;
  GByteArray *data;
  gsize largest_piece; /* of the data callbacks */
  gboolean done;
  GError *error;

  /* what they do */
  gboolean refuse_headers;
  gboolean cancel_in_data;
  gboolean start_in_data;
  GError *start_error;
} Fixture;

static void
fixture_set_up (Fixture *fx, gconstpointer user_data)
{
  fx->server = server_new ();
  fx->http = vpush_http_new ();
  fx->data = g_byte_array_new ();
}

static void
fixture_tear_down (Fixture *fx, gconstpointer user_data)
{
  g_clear_object (&fx->http);
  server_free (fx->server);
  g_free (fx->content_type);
  g_byte_array_unref (fx->data);
  g_clear_error (&fx->error);
  g_clear_error (&fx->start_error);
}

static gboolean
on_headers (guint status, const gchar *content_type, gpointer user_data)
{
  Fixture *fx = user_data;

  g_assert_false (fx->done);
  fx->status = status;
  g_free (fx->content_type);
  fx->content_type = g_strdup (content_type);
  return !fx->refuse_headers;
}

static void on_done (const GError *error, gpointer user_data);

static gboolean
on_data (const guint8 *data, gsize len, gpointer user_data)
{
  Fixture *fx = user_data;

  g_assert_cmpuint (fx->status, !=, 0); /* the headers came first */
  g_byte_array_append (fx->data, data, len);
  fx->largest_piece = MAX (fx->largest_piece, len);
  if (fx->start_in_data)
    {
      g_autofree gchar *url = server_url (fx->server, "again");

      /* libcurl can't be re-entered: refused, and this stream goes on */
      g_assert_null (vpush_http_stream_start (fx->http, url, NULL, 1000, on_headers, on_data,
                                              on_done, fx, &fx->start_error));
    }
  if (fx->cancel_in_data)
    {
      vpush_http_stream_cancel (fx->stream);
      fx->stream = NULL;
    }
  return TRUE;
}

static void
on_done (const GError *error, gpointer user_data)
{
  Fixture *fx = user_data;

  g_assert_false (fx->done);
  fx->done = TRUE;
  fx->stream = NULL;
  if (error != NULL)
    fx->error = g_error_copy (error);
}

static void
start (Fixture *fx, const gchar *path)
{
  static const gchar *const headers[] = { "Accept: text/event-stream", NULL };
  g_autofree gchar *url = server_url (fx->server, path);
  g_autoptr (GError) error = NULL;

  fx->stream = vpush_http_stream_start (fx->http, url, headers, 2000, on_headers, on_data, on_done,
                                        fx, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->stream);
}

static void
run_until_done (Fixture *fx)
{
  while (!fx->done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
set_flag (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
run_for (guint ms)
{
  gboolean over = FALSE;

  g_timeout_add (ms, set_flag, &over);
  while (!over)
    g_main_context_iteration (NULL, TRUE);
}

/* The client still works: no transfer was left behind in the multi handle. */
static void
assert_still_usable (Fixture *fx)
{
  fx->done = FALSE;
  fx->cancel_in_data = FALSE;
  fx->start_in_data = FALSE;
  g_byte_array_set_size (fx->data, 0);
  server_reply (fx->server, 200, "Content-Type: application/x-ndjson\r\n", "{}\n");
  start (fx, "next");
  run_until_done (fx);
  g_assert_no_error (fx->error);
  g_assert_cmpstr (fx->content_type, ==, "application/x-ndjson");
}

static void
test_complete (Fixture *fx, gconstpointer user_data)
{
  static const gchar body[] = "id: 1\ndata: hello\n\n";
  g_autofree gchar *accept = NULL;

  server_reply (fx->server, 200, "Content-Type: text/event-stream; charset=utf-8\r\n", body);
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_no_error (fx->error);
  g_assert_cmpuint (fx->status, ==, 200);
  g_assert_cmpstr (fx->content_type, ==, "text/event-stream; charset=utf-8");
  g_assert_cmpmem (fx->data->data, fx->data->len, body, strlen (body));
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  g_assert_cmpstr (server_request (fx->server, 0)->method, ==, "GET");
  accept = head_get (server_request (fx->server, 0)->head, "Accept");
  g_assert_cmpstr (accept, ==, "text/event-stream");
}

static void
test_any_status (Fixture *fx, gconstpointer user_data)
{
  server_reply (fx->server, 503, NULL, "down");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_cmpuint (fx->status, ==, 503);
  g_assert_no_error (fx->error);
}

static void
test_refused_by_headers (Fixture *fx, gconstpointer user_data)
{
  fx->refuse_headers = TRUE;
  server_reply (fx->server, 200, "Content-Type: text/html\r\n", "<html></html>");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_cmpstr (fx->content_type, ==, "text/html");
  g_assert_cmpuint (fx->data->len, ==, 0);
  g_assert_error (fx->error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
}

/* A stream is read as it comes, with no size cap: one sent gzip- or deflate-coded could
 * inflate to gigabytes on the main loop, so any coding but chunked ends it, named. */
static void
test_transfer_coding_refused (Fixture *fx, gconstpointer user_data)
{
  static const gchar *const refused[] = { "gzip, chunked", "deflate", "Chunked, GZIP", "br" };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree gchar *headers = g_strdup_printf (
          "Content-Type: text/event-stream\r\nTransfer-Encoding: %s\r\n", refused[i]);

      server_reply (fx->server, 200, headers, "data: {}\n\n");
      start (fx, "push/t/sse");
      run_until_done (fx);
      g_assert_error (fx->error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
      g_assert_nonnull (strstr (fx->error->message, refused[i]));
      g_assert_nonnull (strstr (fx->error->message, "only chunked is read"));
      g_assert_null (fx->content_type);
      g_assert_cmpuint (fx->data->len, ==, 0);
      g_clear_error (&fx->error);
      g_clear_pointer (&fx->content_type, g_free);
      fx->done = FALSE;
      fx->stream = NULL;
    }
  /* chunked alone is read; a trailer is not the stream's coding */
  server_reply_raw (fx->server, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Transfer-Encoding: chunked\r\nTrailer: Transfer-Encoding\r\n\r\n"
                                "a\r\ndata: {}\n\n\r\n0\r\nTransfer-Encoding: gzip\r\n\r\n");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_no_error (fx->error);
  g_assert_cmpuint (fx->data->len, ==, 10);
  g_assert_cmpmem (fx->data->data, fx->data->len, "data: {}\n\n", 10);
  assert_still_usable (fx);
}

/* A chunked stream's trailers count with its headers (VPUSH_HTTP_HEADERS_CAP): libcurl
 * keeps them all and caps them nowhere, so a server sending them without end would take
 * all memory. Past the cap the stream ends with an error that says so. */
static void
test_trailers_capped (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GString) response
      = g_string_new ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      "Transfer-Encoding: chunked\r\n\r\na\r\ndata: {}\n\n\r\n0\r\n");
  g_autofree gchar *line = g_strnfill (1000, 'a');

  /* 2 MiB of trailers: far past the cap, far below libcurl's lines of 100 KB */
  for (guint i = 0; i < 2048; i++)
    g_string_append_printf (response, "X-Trailer-%u: %s\r\n", i, line);
  g_string_append (response, "\r\n");
  server_reply_raw (fx->server, response->str);
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_cmpmem (fx->data->data, fx->data->len, "data: {}\n\n", 10);
  g_assert_error (fx->error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpstr (fx->error->message, ==,
                   "the stream's headers and trailers are larger than 64 KiB");
  g_clear_error (&fx->error);
  assert_still_usable (fx);
}

/* Where curl's idea of the end of the headers is not a blank line, the body still comes
 * after them: a header block ended by a line that only starts with CR, and an interim
 * response nobody asked for (101), which curl follows with what comes as the body. The
 * fixture's data callback fails if it runs before the headers callback. */
static void
test_headers_before_any_data (Fixture *fx, gconstpointer user_data)
{
  server_reply_raw (fx->server, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Transfer-Encoding: chunked\r\n\r\r\n"
                                "a\r\ndata: {}\n\n\r\n0\r\n\r\n");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_cmpuint (fx->status, ==, 200);
  g_assert_cmpstr (fx->content_type, ==, "text/event-stream");
  g_assert_cmpmem (fx->data->data, fx->data->len, "data: {}\n\n", 10);

  g_clear_error (&fx->error);
  g_clear_pointer (&fx->content_type, g_free);
  g_byte_array_set_size (fx->data, 0);
  fx->status = 0;
  fx->done = FALSE;
  fx->refuse_headers = TRUE; /* as the push channel refuses any status but 200 */
  server_reply_raw (fx->server, "HTTP/1.1 101 Switching Protocols\r\n\r\ndata: {}\n\n");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_cmpuint (fx->status, ==, 101);
  g_assert_cmpuint (fx->data->len, ==, 0);
  g_assert_error (fx->error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_clear_error (&fx->error);
  fx->refuse_headers = FALSE;
  assert_still_usable (fx);
}

/* A stream is read VPUSH_HTTP_STREAM_BUFFER bytes at a time: curl reads up to 100 buffers
 * before the main loop runs again, so a server sending as fast as it can has at most
 * 100 KiB parsed per wake-up. */
static void
test_read_in_small_pieces (Fixture *fx, gconstpointer user_data)
{
  gsize len = 256 * 1024;
  g_autofree gchar *body = g_strnfill (len, ':');

  server_reply_bytes (fx->server, 200, "Content-Type: text/event-stream\r\n", body, len);
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_no_error (fx->error);
  g_assert_cmpuint (fx->data->len, ==, len);
  g_assert_cmpuint (fx->largest_piece, >, 0);
  g_assert_cmpuint (fx->largest_piece, <=, VPUSH_HTTP_STREAM_BUFFER);
}

static void
test_cancel_in_callback (Fixture *fx, gconstpointer user_data)
{
  fx->cancel_in_data = TRUE;
  server_reply (fx->server, 200, "Content-Type: text/event-stream\r\n", ": hi\n\n");
  start (fx, "push/t/sse");
  while (fx->data->len == 0)
    g_main_context_iteration (NULL, TRUE);
  run_for (100);
  g_assert_false (fx->done);
  assert_still_usable (fx);
}

static void
test_cancel_silent (Fixture *fx, gconstpointer user_data)
{
  server_hang (fx->server);
  start (fx, "push/t/sse");
  run_for (100);
  g_assert_false (fx->done);
  vpush_http_stream_cancel (fx->stream);
  fx->stream = NULL;
  run_for (50);
  g_assert_false (fx->done);
  assert_still_usable (fx);
}

static void
test_no_start_inside_callback (Fixture *fx, gconstpointer user_data)
{
  fx->start_in_data = TRUE;
  server_reply (fx->server, 200, "Content-Type: text/event-stream\r\n", "data: x\n\n");
  start (fx, "push/t/sse");
  run_until_done (fx);
  g_assert_no_error (fx->error);
  g_assert_error (fx->start_error, VPUSH_ERROR, VPUSH_ERROR_FAILED);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
}

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

/* curl's cap on the connections it keeps counts the ones in use too: streams that run
 * for hours must not take the place of the idle connection the next request goes out on
 * (an answer to a challenge in one round trip) */
static void
test_streams_leave_room_for_idle (Fixture *fx, gconstpointer user_data)
{
  static const gchar *const headers[] = { "Accept: text/event-stream", NULL };
  g_autofree gchar *url = server_url (fx->server, "push/t/sse");
  g_autofree gchar *api = server_url (fx->server, "v2/");
  VpushHttpStream *streams[12];

  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      g_autoptr (GError) error = NULL;

      server_hang (fx->server);
      streams[i] = vpush_http_stream_start (fx->http, url, headers, 2000, on_headers, on_data,
                                            on_done, fx, &error);
      g_assert_no_error (error);
    }
  while (server_n_requests (fx->server) < G_N_ELEMENTS (streams))
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (VpushHttpResponse) response = NULL;
      g_autoptr (GError) error = NULL;

      server_reply (fx->server, 200, NULL, "{}");
      vpush_http_request_async (fx->http, "GET", api, NULL, NULL, 2000, NULL, store_result,
                                &result);
      while (result == NULL)
        g_main_context_iteration (NULL, TRUE);
      response = vpush_http_request_finish (fx->http, result, &error);
      g_assert_no_error (error);
    }
  g_assert_cmpuint (server_request (fx->server, G_N_ELEMENTS (streams) + 1)->connection, ==,
                    server_request (fx->server, G_N_ELEMENTS (streams))->connection);
  g_assert_false (fx->done);

  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    vpush_http_stream_cancel (streams[i]);
}

static void
test_bad_url (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (vpush_http_stream_start (fx->http, "http://push.example.com/t0p1c/sse", NULL, 1000,
                                          on_headers, on_data, on_done, fx, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  /* a push URL's path is a secret: the message, which is logged, names the host at most */
  g_assert_nonnull (strstr (error->message, "push.example.com"));
  g_assert_null (strstr (error->message, "t0p1c"));
  g_assert_false (fx->done);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func)                                                                            \
  g_test_add ("/http-stream/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("complete", test_complete);
  ADD ("any-status", test_any_status);
  ADD ("refused-by-headers", test_refused_by_headers);
  ADD ("transfer-coding-refused", test_transfer_coding_refused);
  ADD ("headers-before-any-data", test_headers_before_any_data);
  ADD ("trailers-capped", test_trailers_capped);
  ADD ("read-in-small-pieces", test_read_in_small_pieces);
  ADD ("cancel-in-callback", test_cancel_in_callback);
  ADD ("cancel-silent", test_cancel_silent);
  ADD ("no-start-inside-callback", test_no_start_inside_callback);
  ADD ("bad-url", test_bad_url);
  ADD ("streams-leave-room-for-idle", test_streams_leave_room_for_idle);
#undef ADD

  return g_test_run ();
}
