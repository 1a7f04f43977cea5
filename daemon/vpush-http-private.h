/* Internal parts of the libcurl client, shared by vpush-http.c (the multi handle on the GLib
 * loop, its sockets and timer), vpush-http-request.c (requests), vpush-http-stream.c
 * (streaming GETs) and vpush-http-url.c (URLs); not API. */
#pragma once

#include <curl/curl.h>

#include "vpush-http.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CURLU, curl_url_cleanup)

/* Sets options on `easy` until one fails; the first failure stays in `rc`. */
#define SETOPT(opt, val)                                                                           \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (rc == CURLE_OK)                                                                            \
      rc = curl_easy_setopt (easy, opt, val);                                                      \
  }                                                                                                \
  G_STMT_END

struct _VpushHttp
{
  GObject parent_instance;

  GMainContext *context;
  CURLM *multi;
  GSource *timer;
  GHashTable *sockets; /* curl_socket_t → GSource (owned) */
  gchar *ca_file;
  gchar *default_ca_file; /* nullable: the CA file libcurl was built with */
  GHashTable *streams;    /* CURL * → VpushHttpStream, the running ones */
  gboolean in_curl;       /* inside curl_multi_socket_action(), so inside its callbacks */
};

typedef struct
{
  CURL *easy;
  struct curl_slist *headers;
  GBytes *request_body; /* kept alive: curl reads CURLOPT_POSTFIELDS in place */
  GByteArray *body;
  gboolean body_too_large;
  gsize body_cap;     /* the most body bytes kept */
  gsize header_bytes; /* of every header line so far (VPUSH_HTTP_HEADERS_CAP) */
  gboolean headers_too_large;
  gboolean in_trailers;        /* the final response's headers have ended */
  VpushHttpResponse *response; /* the headers collected so far */
  GSource *cancel_source;
  VpushHttpFailure failure; /* of a request that failed */
  guint status;             /* of a request that failed after its status line, else 0 */
  gboolean reply_unread;    /* failed as the server replied with what can't be read */
  gboolean send_once;       /* not a GET: curl must never send it a second time */
  guint attempts;           /* times curl was about to send it */
  int socket_errno;         /* why curl could not open a socket for it, while it had none */
  gboolean socket_opened;   /* curl opened a socket for it */
  gchar errbuf[CURL_ERROR_SIZE];
} Request;

/* vpush-http-url.c */
/* A part of a parsed URL as a GLib string (curl's own must go back to curl_free()). */
gchar *vpush_http_url_part (CURLU *u, CURLUPart what);
/* named: its messages may quote the URL (not a push URL's: its topic is a secret) */
gboolean vpush_http_check_url_full (const gchar *url, gboolean named, gboolean *out_loopback,
                                    GError **error);

/* vpush-http.c */
/* Sets the cap on the connections curl keeps, for the streams running now. */
void vpush_http_update_max_connects (VpushHttp *self);
/* Takes the easy handle out of the multi and drops the multi's reference on the task. */
void vpush_http_request_detach (VpushHttp *self, GTask *task);

/* vpush-http-request.c */
void vpush_http_request_free (gpointer data);
void vpush_http_set_captured (gchar **slot, const gchar *value, gsize len);
/* A failed transfer as a VPUSH_ERROR_NETWORK. */
GError *vpush_http_transfer_error (VpushHttp *self, Request *req, CURLcode result);
gboolean vpush_http_setup_easy (VpushHttp *self, Request *req, const gchar *method,
                                const gchar *url, gboolean loopback, const gchar *const *headers,
                                GBytes *body, guint timeout_ms, GError **error);
/* Returns the result of a finished transfer (detached already) on its task. */
void vpush_http_request_complete (VpushHttp *self, GTask *task, CURLcode result);

/* vpush-http-stream.c: the streams among the finished transfers */
void vpush_http_streams_collect (VpushHttp *self, GPtrArray *streams, GArray *results, CURL *easy,
                                 CURLcode result);
void vpush_http_streams_complete (GPtrArray *streams, GArray *results);
void vpush_http_streams_reap_cancelled (VpushHttp *self);

G_END_DECLS
