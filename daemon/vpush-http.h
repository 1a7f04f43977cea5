/* HTTP client on libcurl multi, driven by the GLib main loop: no request blocks it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VPUSH_HTTP_BODY_CAP (1024 * 1024)

typedef struct {
  guint status;            /* HTTP status code */
  GBytes *body;            /* never NULL; at most VPUSH_HTTP_BODY_CAP bytes */
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

/* https:// anywhere, http:// only to a loopback host; anything else is an error. */
gboolean vpush_http_check_url (const gchar *url, GError **error);

/* headers: NULL-terminated "Name: value" strings. body may be NULL.
 * Fails with VPUSH_ERROR_NETWORK on transport errors, timeout or an oversized body;
 * any HTTP status is a success here (the caller maps it). */
void vpush_http_request_async (VpushHttp *self, const gchar *method, const gchar *url,
                               const gchar *const *headers, GBytes *body, guint timeout_ms,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
VpushHttpResponse *vpush_http_request_finish (VpushHttp *self, GAsyncResult *result,
                                              GError **error);

G_END_DECLS
