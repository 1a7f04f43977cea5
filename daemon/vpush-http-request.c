/* A request, from its easy handle to its result: the options every transfer gets (streams'
 * too), the headers and body it collects, why one failed and whether it may have gone
 * through, and the asynchronous API over it. Apart from vpush-http.c, which runs the
 * transfers: the multi handle on the GLib loop. */
#include "vpush-http.h"
#include "vpush-http-private.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "vpush-error.h"
#include "vpush-log.h"

/* A request other than GET goes out on a kept-alive connection only if that one was idle
 * for less than this: the longer a connection sat idle, the likelier the server closes
 * it just as the request goes out (which fails the request, see prereq_cb). */
#define SEND_ONCE_MAX_IDLE_S 30

void
vpush_http_request_free (gpointer data)
{
  Request *req = data;

  if (req->cancel_source != NULL)
    {
      g_source_destroy (req->cancel_source);
      g_source_unref (req->cancel_source);
    }
  if (req->easy != NULL)
    curl_easy_cleanup (req->easy);
  /* the Authorization header holds a device JWT or an access token: wiped like the copies
   * the caller made of it */
  for (struct curl_slist *h = req->headers; h != NULL; h = h->next)
    explicit_bzero (h->data, strlen (h->data));
  curl_slist_free_all (req->headers);
  g_clear_pointer (&req->request_body, g_bytes_unref);
  g_clear_pointer (&req->body, g_byte_array_unref);
  g_clear_pointer (&req->response, vpush_http_response_free);
  g_free (req);
}

void
vpush_http_response_free (VpushHttpResponse *response)
{
  if (response == NULL)
    return;
  g_clear_pointer (&response->body, g_bytes_unref);
  g_free (response->content_type);
  g_free (response->date);
  g_free (response->signature_fields);
  g_free (response->retry_after);
  g_free (response);
}

void
vpush_http_set_captured (gchar **slot, const gchar *value, gsize len)
{
  g_free (*slot);
  *slot = g_strstrip (g_strndup (value, len));
}

static size_t
header_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  Request *req = user_data;
  gsize len = size * nmemb;
  const gchar *colon;
  gsize name_len;
  const gchar *value;
  gsize value_len;

  if (len > VPUSH_HTTP_HEADERS_CAP - req->header_bytes)
    {
      req->headers_too_large = TRUE;
      return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
  req->header_bytes += len;
  /* a chunked body's trailers: what the API means is in its headers, where a signature's
   * fields are read before the body is */
  if (req->in_trailers)
    return len;
  /* the end of a header block, as libcurl takes it: a line that starts with CR or LF */
  if (len > 0 && (data[0] == '\r' || data[0] == '\n'))
    {
      long status = 0;

      curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
      req->in_trailers = status >= 200; /* not an interim response's */
      return len;
    }
  /* a new status line (e.g. after a 100 Continue) starts a new header block */
  if (len >= 5 && g_ascii_strncasecmp (data, "HTTP/", 5) == 0)
    {
      g_clear_pointer (&req->response->content_type, g_free);
      g_clear_pointer (&req->response->date, g_free);
      g_clear_pointer (&req->response->signature_fields, g_free);
      g_clear_pointer (&req->response->retry_after, g_free);
      return len;
    }

  colon = memchr (data, ':', len);
  if (colon == NULL)
    return len;
  name_len = colon - data;
  value = colon + 1;
  value_len = len - name_len - 1;

#define HEADER_IS(name)                                                                            \
  (name_len == strlen (name) && g_ascii_strncasecmp (data, name, name_len) == 0)
  if (HEADER_IS ("Content-Type"))
    vpush_http_set_captured (&req->response->content_type, value, value_len);
  else if (HEADER_IS ("Date"))
    vpush_http_set_captured (&req->response->date, value, value_len);
  else if (HEADER_IS ("Twilio-Verify-Signature-Fields"))
    {
      /* a comma-separated list may come as several lines, which make one list in order
       * (RFC 9110 §5.3) */
      g_autofree gchar *before = g_steal_pointer (&req->response->signature_fields);

      vpush_http_set_captured (&req->response->signature_fields, value, value_len);
      if (before != NULL)
        {
          g_autofree gchar *line = g_steal_pointer (&req->response->signature_fields);

          req->response->signature_fields = g_strconcat (before, ",", line, NULL);
        }
    }
  else if (HEADER_IS ("Retry-After"))
    vpush_http_set_captured (&req->response->retry_after, value, value_len);
#undef HEADER_IS

  return len;
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  Request *req = user_data;
  gsize len = size * nmemb;

  if (len > req->body_cap - req->body->len)
    {
      req->body_too_large = TRUE;
      return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
  g_byte_array_append (req->body, (const guint8 *)data, len);
  return len;
}

/* The host a request went to, for messages */
static gchar *
request_host (Request *req)
{
  g_autoptr (CURLU) u = curl_url ();
  gchar *host = NULL;
  char *url = NULL;

  if (curl_easy_getinfo (req->easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url != NULL
      && u != NULL && curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK)
    host = vpush_http_url_part (u, CURLUPART_HOST);
  return host != NULL ? host : g_strdup ("(unknown host)");
}

/* A failed transfer as a VPUSH_ERROR_NETWORK. TLS failures say so and name the host: a
 * certificate that is not trusted or not for that host is a setup problem, not a flaky
 * network, and the user needs to know which server and which CAs were involved. */
GError *
vpush_http_transfer_error (VpushHttp *self, Request *req, CURLcode result)
{
  const gchar *detail = req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror (result);
  g_autofree gchar *system = g_strdup_printf (
      "the system's, %s", self->default_ca_file ? self->default_ca_file : "libcurl's defaults");
  const gchar *ca = self->ca_file != NULL ? self->ca_file : system;
  g_autofree gchar *host = request_host (req);

  /* curl says no more than "Couldn't connect to server" when it got no socket at all */
  if (result == CURLE_COULDNT_CONNECT
      && (req->socket_errno == EMFILE || req->socket_errno == ENFILE))
    return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK, "cannot connect to “%s”: no socket: %s",
                        host, g_strerror (req->socket_errno));

  switch (result)
    {
    case CURLE_PEER_FAILED_VERIFICATION: /* also what CURLE_SSL_CACERT was */
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                          "TLS certificate problem with “%s”: %s (trusted CAs: %s)", host, detail,
                          ca);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
      return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                          "TLS to “%s”: cannot load the trusted CAs (%s): %s", host, ca, detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK, "TLS connection to “%s” failed: %s",
                          host, detail);
    case CURLE_OUT_OF_MEMORY:
      /* what libcurl 7.88 also reports for a response header past its 100 KB limit */
      return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                          "the answer of “%s” could not be taken in: a header over 100 KB, or "
                          "out of memory",
                          host);
    default:
      /* curl names the host in some messages ("Failed to connect to …"), not in others
       * ("Empty reply from server") */
      if (strstr (detail, host) != NULL)
        return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK, "%s", detail);
      return g_error_new (VPUSH_ERROR, VPUSH_ERROR_NETWORK, "%s (server “%s”)", detail, host);
    }
}

/* Whether the request went out. prereq_cb runs once the connection is up, proxy tunnel and
 * TLS included: a proxy that refused the tunnel (CURLE_RECV_ERROR) or broke it off passed
 * nothing on, though its CONNECT counts in CURLINFO_REQUEST_SIZE. */
static gboolean
request_sent (Request *req)
{
  long sent = 0;

  if (req->attempts == 0)
    return FALSE;
  curl_easy_getinfo (req->easy, CURLINFO_REQUEST_SIZE, &sent);
  return sent > 0;
}

/* Whether a failed transfer may go better next time, and whether the server may have
 * seen the request. */
static VpushHttpFailure
classify_failure (Request *req, CURLcode result)
{
  switch (result)
    {
    /* no connection, so no request: DNS, TCP, or a TLS handshake that broke off (a
     * certificate that does not verify is CURLE_PEER_FAILED_VERIFICATION, below) */
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      return VPUSH_HTTP_FAILURE_NOT_SENT;

    /* the request may have gone out, the response did not come (whole) */
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return request_sent (req) ? VPUSH_HTTP_FAILURE_LOST : VPUSH_HTTP_FAILURE_NOT_SENT;

    default:
      return VPUSH_HTTP_FAILURE_PERMANENT;
    }
}

void
vpush_http_request_complete (VpushHttp *self, GTask *task, CURLcode result)
{
  Request *req = g_task_get_task_data (task);
  g_autoptr (VpushHttpResponse) response = NULL;
  long status = 0;

  if (req->headers_too_large)
    {
      /* as a body too large: the server was reached, and would send them again */
      curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
      req->failure = VPUSH_HTTP_FAILURE_PERMANENT;
      req->status = (guint)status;
      /* the headers of a proxy's answer to CONNECT count too, and then the request itself
       * never went out */
      req->reply_unread = request_sent (req);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                               "response headers larger than %u KiB (HTTP status %ld)",
                               VPUSH_HTTP_HEADERS_CAP / 1024, status);
      return;
    }
  if (req->body_too_large)
    {
      gboolean mib = req->body_cap % (1024 * 1024) == 0;

      /* a server that sends that much would do it again; it was reached, so this is no
       * network failure (nor a reason to call vpushd offline) */
      curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
      req->failure = VPUSH_HTTP_FAILURE_PERMANENT;
      req->status = (guint)status;
      req->reply_unread = request_sent (req);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                               "response body larger than %" G_GSIZE_FORMAT " %s (HTTP status %ld)",
                               req->body_cap / (mib ? 1024 * 1024 : 1024), mib ? "MiB" : "KiB",
                               status);
      return;
    }
  if (result != CURLE_OK && req->attempts > 1 && result == CURLE_ABORTED_BY_CALLBACK)
    {
      /* prereq_cb refused to send it again */
      g_autofree gchar *host = request_host (req);

      req->failure = VPUSH_HTTP_FAILURE_LOST;
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                               "the connection to “%s” closed before any answer; the request "
                               "may have gone through and was not sent again",
                               host);
      return;
    }
  if (result != CURLE_OK)
    {
      req->failure = classify_failure (req, result);
      if (req->failure == VPUSH_HTTP_FAILURE_PERMANENT && request_sent (req))
        {
          /* The server answered, with something curl can't read (no status line, a header
           * over its limit): it was reached, so this is no network failure, and it may
           * have acted on the request. */
          g_autofree gchar *host = request_host (req);
          const gchar *detail = req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror (result);

          curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
          req->status = (guint)status;
          req->reply_unread = TRUE;
          /* libcurl 7.88 says "Out of memory" for a header past its 100 KB limit */
          if (result == CURLE_OUT_OF_MEMORY)
            detail = "a header over 100 KB, or out of memory";
          g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                                   "the reply of “%s” could not be read: %s", host, detail);
          return;
        }
      g_task_return_error (task, vpush_http_transfer_error (self, req, result));
      return;
    }

  curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
  response = g_steal_pointer (&req->response);
  response->status = (guint)status;
  response->body = g_byte_array_free_to_bytes (g_steal_pointer (&req->body));
  if (vpush_log_debug_enabled ())
    g_debug ("HTTP response %u, %" G_GSIZE_FORMAT " bytes", response->status,
             g_bytes_get_size (response->body));
  g_task_return_pointer (task, g_steal_pointer (&response),
                         (GDestroyNotify)vpush_http_response_free);
}

static gboolean
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = user_data;
  VpushHttp *self = g_task_get_source_object (task);

  g_object_ref (task);
  vpush_http_request_detach (self, task);
  g_task_return_error_if_cancelled (task);
  g_object_unref (task);
  return G_SOURCE_REMOVE;
}

/* curl calls this right before it sends the request, on every attempt. It sends a request
 * again by itself when a reused connection turns out to be closed before any answer; for
 * a POST or a DELETE that may be a second factor or answer that the caller never learns
 * of. So they are sent once only: the second attempt is refused, the request fails as
 * VPUSH_HTTP_FAILURE_LOST, and whoever retries knows the first may have gone through.
 * (Opening a new connection for each of them would avoid that too, at the price of a TCP
 * and TLS handshake, two round trips, on every answer.) */
static int
prereq_cb (void *user_data, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
           int conn_local_port)
{
  Request *req = user_data;

  if (++req->attempts > 1 && req->send_once)
    return CURL_PREREQFUNC_ABORT;
  return CURL_PREREQFUNC_OK;
}

/* curl's own way to open a socket, closed on exec, which also keeps why none could be
 * opened (see vpush_http_transfer_error()): of several addresses tried, one that got a
 * socket failed for another reason */
static curl_socket_t
opensocket_cb (void *user_data, curlsocktype purpose, struct curl_sockaddr *address)
{
  Request *req = user_data;
  curl_socket_t fd = socket (address->family, address->socktype | SOCK_CLOEXEC, address->protocol);

  if (fd != CURL_SOCKET_BAD)
    {
      req->socket_opened = TRUE;
      req->socket_errno = 0;
    }
  else if (!req->socket_opened)
    req->socket_errno = errno;
  return fd;
}

gboolean
vpush_http_setup_easy (VpushHttp *self, Request *req, const gchar *method, const gchar *url,
                       gboolean loopback, const gchar *const *headers, GBytes *body,
                       guint timeout_ms, GError **error)
{
  CURL *easy = req->easy;
  CURLcode rc = CURLE_OK;

  SETOPT (CURLOPT_URL, url);
  SETOPT (CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT (CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT (CURLOPT_NOSIGNAL, 1L);
  /* A transfer that ends while its name lookup still runs (its timeout, a cancel) leaves
   * the lookup's thread to end by itself. Without this, libcurl waits for that thread
   * there and then, on the main loop, for as long as the name server takes to not answer:
   * half a minute and more, with the bus and the watchdog stalled. */
  SETOPT (CURLOPT_QUICK_EXIT, 1L);
  SETOPT (CURLOPT_ERRORBUFFER, req->errbuf);
  SETOPT (CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  SETOPT (CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
  SETOPT (CURLOPT_SSL_VERIFYPEER, 1L);
  /* 2 is the documented "verify the name" value; 1 means the same since curl 7.66 */
  SETOPT (CURLOPT_SSL_VERIFYHOST, 2L);
  if (self->ca_file != NULL)
    SETOPT (CURLOPT_CAINFO, self->ca_file);
  /* curl keeps the CAs it parsed for the next connection (its CA cache) only when they
   * come from a file alone. With a CA directory as well, which Debian's libcurl sets by
   * default, every new connection reads and parses the whole file again: for the
   * system's bundle 0.8 MiB of heap each. The system's bundle holds the directory's CAs
   * when they come through update-ca-certificates (one only hashed into the directory is
   * not trusted: vpushd.conf(5)); an hour's cache picks up a change without a restart. */
  if (self->ca_file != NULL || self->default_ca_file != NULL)
    {
      SETOPT (CURLOPT_CAPATH, NULL);
      SETOPT (CURLOPT_CA_CACHE_TIMEOUT, 3600L);
    }
  /* Proxies from the environment are honoured so a desktop behind a corporate proxy can
   * reach Verify, but a loopback server (emulator, tests) is always talked to directly. */
  if (loopback)
    SETOPT (CURLOPT_PROXY, "");
  SETOPT (CURLOPT_USERAGENT, "vpushd/" VPUSH_VERSION);
  SETOPT (CURLOPT_HEADERFUNCTION, header_cb);
  SETOPT (CURLOPT_HEADERDATA, req);
  SETOPT (CURLOPT_WRITEFUNCTION, write_cb);
  SETOPT (CURLOPT_WRITEDATA, req);

  if (g_strcmp0 (method, "GET") == 0)
    SETOPT (CURLOPT_HTTPGET, 1L);
  else if (g_strcmp0 (method, "POST") == 0)
    SETOPT (CURLOPT_POST, 1L);
  else
    SETOPT (CURLOPT_CUSTOMREQUEST, method);
  /* never sent twice by curl itself: prereq_cb */
  req->send_once = g_strcmp0 (method, "GET") != 0;
  if (req->send_once)
    SETOPT (CURLOPT_MAXAGE_CONN, (long)SEND_ONCE_MAX_IDLE_S);
  SETOPT (CURLOPT_PREREQFUNCTION, prereq_cb);
  SETOPT (CURLOPT_PREREQDATA, req);
  SETOPT (CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
  SETOPT (CURLOPT_OPENSOCKETDATA, req);
  if (body != NULL)
    {
      req->request_body = g_bytes_ref (body);
      SETOPT (CURLOPT_POSTFIELDS, g_bytes_get_data (body, NULL));
      SETOPT (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)g_bytes_get_size (body));
    }
  else if (g_strcmp0 (method, "POST") == 0)
    SETOPT (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);

  for (guint i = 0; headers != NULL && headers[i] != NULL; i++)
    req->headers = curl_slist_append (req->headers, headers[i]);
  /* no 100-continue round trip: the bodies are small and the server answers anyway */
  req->headers = curl_slist_append (req->headers, "Expect:");
  SETOPT (CURLOPT_HTTPHEADER, req->headers);

  if (rc != CURLE_OK)
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK, "cannot set up the request: %s",
                   curl_easy_strerror (rc));
      return FALSE;
    }
  return TRUE;
}

void
vpush_http_request_async (VpushHttp *self, const gchar *method, const gchar *url,
                          const gchar *const *headers, GBytes *body, guint timeout_ms,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  vpush_http_request_capped_async (self, method, url, headers, body, timeout_ms,
                                   VPUSH_HTTP_BODY_CAP, cancellable, callback, user_data);
}

void
vpush_http_request_capped_async (VpushHttp *self, const gchar *method, const gchar *url,
                                 const gchar *const *headers, GBytes *body, guint timeout_ms,
                                 gsize body_cap, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  Request *req;
  gboolean loopback = FALSE;
  CURLMcode rc;

  g_return_if_fail (VPUSH_IS_HTTP (self));
  g_return_if_fail (method != NULL);
  g_return_if_fail (url != NULL);
  g_return_if_fail (timeout_ms > 0);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, vpush_http_request_async);

  if (!vpush_http_check_url_full (url, TRUE, &loopback, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;

  req = g_new0 (Request, 1);
  g_task_set_task_data (task, req, vpush_http_request_free);
  req->body = g_byte_array_new ();
  req->body_cap = body_cap;
  req->response = g_new0 (VpushHttpResponse, 1);
  req->easy = curl_easy_init ();
  if (req->easy == NULL)
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                               "cannot create a curl handle");
      return;
    }
  if (!vpush_http_setup_easy (self, req, method, url, loopback, headers, body, timeout_ms, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  curl_easy_setopt (req->easy, CURLOPT_PRIVATE, (char *)task);

  if (vpush_log_debug_enabled ())
    g_debug ("HTTP %s %s", method, url);
  rc = curl_multi_add_handle (self->multi, req->easy);
  if (rc != CURLM_OK)
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NETWORK,
                               "cannot start the request: %s", curl_multi_strerror (rc));
      return;
    }
  /* the multi handle owns one reference until the transfer is detached */
  g_object_ref (task);

  if (cancellable != NULL)
    {
      req->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (req->cancel_source, G_SOURCE_FUNC (on_cancelled), task, NULL);
      g_source_set_name (req->cancel_source, "[vpush] http cancel");
      g_source_attach (req->cancel_source, self->context);
    }
}

VpushHttpResponse *
vpush_http_request_finish (VpushHttp *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == vpush_http_request_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

VpushHttpFailure
vpush_http_request_get_failure (VpushHttp *self, GAsyncResult *result)
{
  Request *req;

  g_return_val_if_fail (g_task_is_valid (result, self), VPUSH_HTTP_FAILURE_PERMANENT);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == vpush_http_request_async,
                        VPUSH_HTTP_FAILURE_PERMANENT);

  /* a request refused before it started (bad URL, cancelled) has no data */
  req = g_task_get_task_data (G_TASK (result));
  if (req == NULL || !g_task_had_error (G_TASK (result)))
    return VPUSH_HTTP_FAILURE_PERMANENT;
  return req->failure;
}

gboolean
vpush_http_request_get_reply_unread (VpushHttp *self, GAsyncResult *result)
{
  Request *req;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  req = g_task_get_task_data (G_TASK (result));
  return req != NULL && g_task_had_error (G_TASK (result)) && req->reply_unread;
}

guint
vpush_http_request_get_status (VpushHttp *self, GAsyncResult *result)
{
  Request *req;

  g_return_val_if_fail (g_task_is_valid (result, self), 0);

  req = g_task_get_task_data (G_TASK (result));
  return req != NULL && g_task_had_error (G_TASK (result)) ? req->status : 0;
}
