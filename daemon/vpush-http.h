/* HTTP client on libcurl multi, driven by the GLib main loop: no request blocks it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VPUSH_HTTP_BODY_CAP (1024 * 1024)
/* All the header lines of a response together, interim responses and trailers included:
 * libcurl bounds a line, and the total of one header block, but not the trailers of a
 * chunked body, which may come without end. */
#define VPUSH_HTTP_HEADERS_CAP (64 * 1024)

typedef struct
{
  guint status;            /* HTTP status code */
  GBytes *body;            /* never NULL; at most the request's cap */
  gchar *content_type;     /* nullable */
  gchar *date;             /* the Date header, nullable */
  gchar *signature_fields; /* Twilio-Verify-Signature-Fields, nullable */
  gchar *retry_after;      /* Retry-After, nullable */
} VpushHttpResponse;

void vpush_http_response_free (VpushHttpResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushHttpResponse, vpush_http_response_free)

#define VPUSH_TYPE_HTTP (vpush_http_get_type ())
G_DECLARE_FINAL_TYPE (VpushHttp, vpush_http, VPUSH, HTTP, GObject)

VpushHttp *vpush_http_new (void);
/* A PEM CA bundle to trust instead of the system's; NULL for the system store. */
void vpush_http_set_ca_file (VpushHttp *self, const gchar *ca_file);

#define VPUSH_HTTP_URL_MAX 2048

/* https:// anywhere, http:// only to a loopback host, at most VPUSH_HTTP_URL_MAX bytes;
 * anything else is an error. */
gboolean vpush_http_check_url (const gchar *url, GError **error);
/* The same check, its messages never quoting the URL: for one with a secret in its path */
gboolean vpush_http_check_url_unnamed (const gchar *url, GError **error);
/* The URL for a message: a user name and password in it replaced by "…" */
gchar *vpush_http_url_redacted (const gchar *url);
/* vpush_http_check_url, and no query or fragment: for a URL paths are appended to */
gboolean vpush_http_check_base_url (const gchar *url, GError **error);
/* "scheme://host[:port]/…" of url, for a message about a URL whose path is a secret */
gchar *vpush_http_url_origin (const gchar *url);

/* headers: NULL-terminated "Name: value" strings. body may be NULL. A request other than
 * GET is never sent twice by curl itself: when a kept-alive connection turns out to be
 * closed before any answer, it fails as VPUSH_HTTP_FAILURE_LOST instead.
 * Fails with VPUSH_ERROR_NETWORK on transport errors and timeouts, VPUSH_ERROR_FAILED on a
 * reply that can't be read; any HTTP status is a success here (the caller maps it). */
void vpush_http_request_async (VpushHttp *self, const gchar *method, const gchar *url,
                               const gchar *const *headers, GBytes *body, guint timeout_ms,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
/* The same, keeping at most body_cap bytes of the response's body (a longer one fails as
 * above) */
void vpush_http_request_capped_async (VpushHttp *self, const gchar *method, const gchar *url,
                                      const gchar *const *headers, GBytes *body, guint timeout_ms,
                                      gsize body_cap, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
VpushHttpResponse *vpush_http_request_finish (VpushHttp *self, GAsyncResult *result,
                                              GError **error);

typedef enum
{
  VPUSH_HTTP_FAILURE_PERMANENT, /* retrying can't help: a certificate that does not verify,
                                 * a body over the cap, a bad URL, cancelled */
  VPUSH_HTTP_FAILURE_NOT_SENT,  /* no connection (DNS, connect, TLS handshake): the server
                                 * never saw the request */
  VPUSH_HTTP_FAILURE_LOST,      /* sent, but the response did not come or broke off (timeout,
                                 * reset, closed early): the server may have acted on it */
} VpushHttpFailure;

/* After vpush_http_request_finish() failed: what kind of failure it was. */
VpushHttpFailure vpush_http_request_get_failure (VpushHttp *self, GAsyncResult *result);
/* After vpush_http_request_finish() failed: the HTTP status that came before the failure
 * (of a reply that can't be read), or 0 */
guint vpush_http_request_get_status (VpushHttp *self, GAsyncResult *result);
/* After vpush_http_request_finish() failed (VPUSH_ERROR_FAILED): whether the request was
 * sent and the server replied with what can't be read (headers or a body over the cap, a
 * reply curl can't parse). Not retried; the server may have acted on it. */
gboolean vpush_http_request_get_reply_unread (VpushHttp *self, GAsyncResult *result);

/* A long-lived GET whose body is handed over as it arrives (push streams). It has a
 * connect timeout but no overall one and no size cap: the caller bounds what it keeps
 * and notices a silent peer itself. */
typedef struct _VpushHttpStream VpushHttpStream;

/* The final response's status and Content-Type (nullable). FALSE ends the transfer. */
typedef gboolean (*VpushHttpStreamHeadersFunc) (guint status, const gchar *content_type,
                                                gpointer user_data);
/* A piece of the body. FALSE ends the transfer. */
typedef gboolean (*VpushHttpStreamDataFunc) (const guint8 *data, gsize len, gpointer user_data);
/* The transfer is over: error NULL when the server ended the response, VPUSH_ERROR_NETWORK
 * otherwise (also after a callback returned FALSE). The handle is gone after this. */
typedef void (*VpushHttpStreamDoneFunc) (const GError *error, gpointer user_data);

/* A stream is read this many bytes at a time (curl's least), and only with no
 * Transfer-Encoding but chunked. */
#define VPUSH_HTTP_STREAM_BUFFER 1024

/* headers: NULL-terminated "Name: value" strings. The callbacks run from the main loop,
 * inside libcurl for on_headers and on_data: those must not start or cancel requests.
 * on_done runs exactly once unless the stream is cancelled. */
VpushHttpStream *vpush_http_stream_start (VpushHttp *self, const gchar *url,
                                          const gchar *const *headers, guint connect_timeout_ms,
                                          VpushHttpStreamHeadersFunc on_headers,
                                          VpushHttpStreamDataFunc on_data,
                                          VpushHttpStreamDoneFunc on_done, gpointer user_data,
                                          GError **error);
/* Ends the transfer; no callback runs after this. */
void vpush_http_stream_cancel (VpushHttpStream *stream);
/* The final response's Retry-After and Date headers as sent, or NULL: from on_headers on. */
const gchar *vpush_http_stream_get_retry_after (VpushHttpStream *stream);
const gchar *vpush_http_stream_get_date (VpushHttpStream *stream);

G_END_DECLS
