/* What the HTTP client's unit tests share: a client and an in-test server per test, and
 * async calls run to completion. */
#include <string.h>

#include "test-http-common.h"

void
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
GAsyncResult *
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

void
fixture_set_up (Fixture *fx, gconstpointer user_data)
{
  fx->server = server_new ();
  fx->http = vpush_http_new ();
}

void
fixture_tear_down (Fixture *fx, gconstpointer user_data)
{
  g_clear_object (&fx->http);
  server_free (fx->server);
}

/* One request to completion. */
VpushHttpResponse *
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

/* The requests to names that are not loopback must go where the tests send them: a proxy
 * from the caller's environment (a desktop behind one) would take the hanging lookup's
 * name, or the proxy test's, out of their hands. The proxy tests set their own. */
void
unset_proxy_variables (void)
{
  const gchar *const proxy_variables[] = { "https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy",
                                           "ALL_PROXY",   "no_proxy",    "NO_PROXY" };

  for (gsize i = 0; i < G_N_ELEMENTS (proxy_variables); i++)
    g_unsetenv (proxy_variables[i]);
}
