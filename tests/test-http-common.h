#pragma once

#include <gio/gio.h>

#include "vpush-http.h"

#include "test-http-server.h"

typedef struct
{
  Server *server;
  VpushHttp *http;
} Fixture;

void fixture_set_up (Fixture *fx, gconstpointer user_data);
void fixture_tear_down (Fixture *fx, gconstpointer user_data);
/* a GAsyncReadyCallback that keeps the result in *(GAsyncResult **)user_data */
void store_result (GObject *source, GAsyncResult *result, gpointer user_data);
/* the main loop run until *slot is set; a test fails after 20 s without it */
GAsyncResult *wait_for (GAsyncResult **slot);
/* one request to fx's server, to completion */
VpushHttpResponse *request (Fixture *fx, const gchar *method, const gchar *path,
                            const gchar *const *headers, const gchar *body, guint timeout_ms,
                            GCancellable *cancellable, GError **error);
void unset_proxy_variables (void);
