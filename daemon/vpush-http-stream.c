#include "vpush-http.h"
#include "vpush-http-private.h"

#include <curl/curl.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-log.h"

/* Streaming GETs */

struct _VpushHttpStream
{
  VpushHttp *http; /* a reference, dropped with the stream */
  Request *req;    /* the easy handle, its header list and error buffer */
  gchar *content_type;
  gchar *retry_after;
  gchar *date;
  gchar *refused_coding; /* a Transfer-Encoding other than chunked, which ended it */
  gboolean in_body;      /* past the final response's headers: what comes is trailers */
  VpushHttpStreamHeadersFunc on_headers;
  VpushHttpStreamDataFunc on_data;
  VpushHttpStreamDoneFunc on_done;
  gpointer user_data;
  gboolean cancelled;
  gboolean finished; /* taken out of the multi handle, on_done not called yet */
};

static void
stream_free (VpushHttpStream *stream)
{
  vpush_http_request_free (stream->req);
  g_free (stream->content_type);
  g_free (stream->retry_after);
  g_free (stream->date);
  g_free (stream->refused_coding);
  g_object_unref (stream->http);
  g_free (stream);
}

static void
stream_detach (VpushHttp *self, VpushHttpStream *stream)
{
  curl_multi_remove_handle (self->multi, stream->req->easy);
  g_hash_table_remove (self->streams, stream->req->easy);
  vpush_http_update_max_connects (self);
}

void
vpush_http_streams_collect (VpushHttp *self, GPtrArray *streams, GArray *results, CURL *easy,
                            CURLcode result)
{
  VpushHttpStream *stream = g_hash_table_lookup (self->streams, easy);

  /* out of the multi handle now, so a cancel from user code meanwhile only marks it */
  stream_detach (self, stream);
  stream->finished = TRUE;
  g_ptr_array_add (streams, stream);
  g_array_append_val (results, result);
}

void
vpush_http_streams_complete (GPtrArray *streams, GArray *results)
{
  for (guint i = 0; i < streams->len; i++)
    {
      VpushHttpStream *stream = g_ptr_array_index (streams, i);
      CURLcode result = g_array_index (results, CURLcode, i);
      g_autoptr (GError) error = NULL;

      if (!stream->cancelled)
        {
          if (stream->refused_coding != NULL)
            error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                                 "the server sent the stream with Transfer-Encoding “%s”: only "
                                 "chunked is read",
                                 stream->refused_coding);
          else if (stream->req->headers_too_large)
            error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                                 "the stream's headers and trailers are larger than %u KiB",
                                 VPUSH_HTTP_HEADERS_CAP / 1024);
          else if (result != CURLE_OK)
            error = vpush_http_transfer_error (stream->http, stream->req, result);
          g_debug ("HTTP stream ended: %s", error ? error->message : "closed by the server");
          stream->on_done (error, stream->user_data);
        }
      stream_free (stream);
    }
}

void
vpush_http_streams_reap_cancelled (VpushHttp *self)
{
  g_autoptr (GPtrArray) cancelled = g_ptr_array_new ();
  GHashTableIter iter;
  VpushHttpStream *stream;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&stream))
    if (stream->cancelled)
      g_ptr_array_add (cancelled, stream);
  for (guint i = 0; i < cancelled->len; i++)
    {
      stream = g_ptr_array_index (cancelled, i);
      stream_detach (self, stream);
      stream_free (stream);
    }
}

/* Transfer-Encoding: curl would decode gzip or deflate on the fly, and a stream has no
 * size cap: a few kilobytes that inflate to gigabytes would keep the main loop busy for
 * minutes. No push server needs more than chunked. */
static gboolean
check_transfer_encoding (VpushHttpStream *stream, const gchar *value, gsize len)
{
  g_autofree gchar *text = g_strndup (value, len);
  g_auto (GStrv) codings = g_strsplit (text, ",", -1);

  for (guint i = 0; codings[i] != NULL; i++)
    {
      const gchar *coding = g_strstrip (codings[i]);

      if (g_ascii_strcasecmp (coding, "chunked") != 0)
        {
          g_free (stream->refused_coding);
          stream->refused_coding = g_utf8_make_valid (g_strstrip (text), -1);
          return FALSE;
        }
    }
  return TRUE;
}

/* The final response's headers are in: FALSE (which makes curl end the transfer with
 * CURLE_WRITE_ERROR) if the stream's owner refuses them. */
static gboolean
headers_end (VpushHttpStream *stream)
{
  long status = 0;

  curl_easy_getinfo (stream->req->easy, CURLINFO_RESPONSE_CODE, &status);
  stream->in_body = TRUE;
  return stream->on_headers ((guint)CLAMP (status, 0, G_MAXUINT16), stream->content_type,
                             stream->user_data)
         && !stream->cancelled;
}

static size_t
stream_header_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  VpushHttpStream *stream = user_data;
  gsize len = size * nmemb;
  const struct
  {
    const gchar *name;
    gchar **slot;
  } captured[] = {
    { "Content-Type:", &stream->content_type },
    { "Retry-After:", &stream->retry_after },
    { "Date:", &stream->date },
  };
  long status = 0;

  if (stream->cancelled)
    return 0;
  /* libcurl keeps every header line for its header API, and caps a chunked body's
   * trailers nowhere: a server that sent them without end would take all memory */
  if (len > VPUSH_HTTP_HEADERS_CAP - stream->req->header_bytes)
    {
      stream->req->headers_too_large = TRUE;
      return 0;
    }
  stream->req->header_bytes += len;
  if (len >= 5 && g_ascii_strncasecmp (data, "HTTP/", 5) == 0)
    {
      for (guint i = 0; i < G_N_ELEMENTS (captured); i++)
        g_clear_pointer (captured[i].slot, g_free);
      return len;
    }
  for (guint i = 0; i < G_N_ELEMENTS (captured); i++)
    {
      gsize name_len = strlen (captured[i].name);

      if (len > name_len && g_ascii_strncasecmp (data, captured[i].name, name_len) == 0)
        {
          vpush_http_set_captured (captured[i].slot, data + name_len, len - name_len);
          return len;
        }
    }
  curl_easy_getinfo (stream->req->easy, CURLINFO_RESPONSE_CODE, &status);
  /* of a stream being sent, not of a refusal (whose status and Retry-After tell more), nor
   * a trailer */
  if (len > 18 && g_ascii_strncasecmp (data, "Transfer-Encoding:", 18) == 0 && status < 300
      && !stream->in_body)
    return check_transfer_encoding (stream, data + 18, len - 18) ? len : 0;
  /* only the blank line that ends a header block is of interest here */
  if (!(len == 2 && data[0] == '\r') && !(len == 1 && data[0] == '\n'))
    return len;
  if (status < 200)
    return len; /* an interim response: the final one follows */
  return headers_end (stream) ? len : 0;
}

static size_t
stream_write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  VpushHttpStream *stream = user_data;
  gsize len = size * nmemb;

  if (stream->cancelled)
    return 0;
  /* curl also ends a header block at a line that merely starts with CR ("\r\r\n"), and
   * takes what follows an interim response nobody asked for (101) for the body: the
   * headers are over when the body starts, and a status under 200 is a refusal then */
  if (!stream->in_body && !headers_end (stream))
    return 0;
  if (!stream->on_data ((const guint8 *)data, len, stream->user_data) || stream->cancelled)
    return 0;
  return len;
}

VpushHttpStream *
vpush_http_stream_start (VpushHttp *self, const gchar *url, const gchar *const *headers,
                         guint connect_timeout_ms, VpushHttpStreamHeadersFunc on_headers,
                         VpushHttpStreamDataFunc on_data, VpushHttpStreamDoneFunc on_done,
                         gpointer user_data, GError **error)
{
  VpushHttpStream *stream;
  gboolean loopback = FALSE;
  CURLcode rc = CURLE_OK;
  CURLMcode mrc;
  CURL *easy;

  g_return_val_if_fail (VPUSH_IS_HTTP (self), NULL);
  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (connect_timeout_ms > 0, NULL);
  g_return_val_if_fail (on_headers != NULL && on_data != NULL && on_done != NULL, NULL);

  /* a push URL: its path (an ntfy topic) is a secret of sorts, never logged */
  if (!vpush_http_check_url_full (url, FALSE, &loopback, error))
    return NULL;
  if (self->in_curl)
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                           "a stream can't be started from inside a transfer's callback");
      return NULL;
    }

  stream = g_new0 (VpushHttpStream, 1);
  stream->http = g_object_ref (self);
  stream->req = g_new0 (Request, 1);
  stream->on_headers = on_headers;
  stream->on_data = on_data;
  stream->on_done = on_done;
  stream->user_data = user_data;
  easy = stream->req->easy = curl_easy_init ();
  if (easy == NULL)
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK, "cannot create a curl handle");
      stream_free (stream);
      return NULL;
    }
  if (!vpush_http_setup_easy (self, stream->req, "GET", url, loopback, headers, NULL,
                              connect_timeout_ms, error))
    {
      stream_free (stream);
      return NULL;
    }

  SETOPT (CURLOPT_TIMEOUT_MS, 0L); /* the caller's keepalive timeout finds a dead peer */
  SETOPT (CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT (CURLOPT_TCP_KEEPIDLE, 60L);
  SETOPT (CURLOPT_TCP_KEEPINTVL, 30L);
  SETOPT (CURLOPT_HEADERFUNCTION, stream_header_cb);
  SETOPT (CURLOPT_HEADERDATA, stream);
  /* A hint is a hundred bytes. curl reads up to 100 buffers in one go, then lets the
   * main loop run before it reads on: with a small buffer a server sending as fast as it
   * can has at most 100 KiB parsed per wake-up, and the bus is answered in between. (Not
   * CURLOPT_MAX_RECV_SPEED_LARGE: over TLS, data already decrypted when its pause ends
   * waits for the server's next bytes.) */
  SETOPT (CURLOPT_BUFFERSIZE, (long)VPUSH_HTTP_STREAM_BUFFER);
  SETOPT (CURLOPT_WRITEFUNCTION, stream_write_cb);
  SETOPT (CURLOPT_WRITEDATA, stream);
  if (rc != CURLE_OK)
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK, "cannot set up the stream: %s",
                   curl_easy_strerror (rc));
      stream_free (stream);
      return NULL;
    }

  mrc = curl_multi_add_handle (self->multi, easy);
  if (mrc != CURLM_OK)
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK, "cannot start the stream: %s",
                   curl_multi_strerror (mrc));
      stream_free (stream);
      return NULL;
    }
  g_hash_table_insert (self->streams, easy, stream);
  vpush_http_update_max_connects (self);
  if (vpush_log_debug_enabled ())
    {
      /* a push topic's name is its secret: the host only */
      g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

      g_debug ("HTTP stream GET to %s", uri ? g_uri_get_host (uri) : "(unparsable URL)");
    }
  return stream;
}

void
vpush_http_stream_cancel (VpushHttpStream *stream)
{
  VpushHttp *self;

  g_return_if_fail (stream != NULL);

  self = stream->http;
  stream->cancelled = TRUE;
  /* curl can't drop a transfer from inside its own callbacks: socket_action() reaps it
   * once curl has returned; a finished one is freed where it was collected */
  if (self->in_curl || stream->finished)
    return;
  stream_detach (self, stream);
  stream_free (stream);
}

const gchar *
vpush_http_stream_get_retry_after (VpushHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, NULL);

  return stream->retry_after;
}

const gchar *
vpush_http_stream_get_date (VpushHttpStream *stream)
{
  g_return_val_if_fail (stream != NULL, NULL);

  return stream->date;
}
