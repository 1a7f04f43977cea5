#include "vpush-http.h"
#include "vpush-http-private.h"

#include <curl/curl.h>
#include <glib-unix.h>

G_DEFINE_TYPE (VpushHttp, vpush_http, G_TYPE_OBJECT)

/* libcurl keeps a connection whose transfer ended for the next request to its host, by
 * default up to 4 per transfer running at the time: a burst of 32 requests left 26 idle
 * TLS connections, each a socket and its TLS state, until a later request found them too
 * old. 8 keep the one to the Verify API that makes an answer a single round trip, and
 * room for a poll's 6 requests at once. */
#define IDLE_CONNECTIONS_MAX 8

/* Takes the easy handle out of the multi and drops the multi's reference on the task. */
void
vpush_http_request_detach (VpushHttp *self, GTask *task)
{
  Request *req = g_task_get_task_data (task);

  curl_multi_remove_handle (self->multi, req->easy);
  if (req->cancel_source != NULL)
    {
      g_source_destroy (req->cancel_source);
      g_clear_pointer (&req->cancel_source, g_source_unref);
    }
  g_object_unref (task);
}

static void
process_done (VpushHttp *self)
{
  g_autoptr (GPtrArray) finished = g_ptr_array_new ();
  g_autoptr (GArray) results = g_array_new (FALSE, FALSE, sizeof (CURLcode));
  g_autoptr (GPtrArray) streams = g_ptr_array_new ();
  g_autoptr (GArray) stream_results = g_array_new (FALSE, FALSE, sizeof (CURLcode));
  CURLMsg *msg;
  int left;

  /* collect first: completing a task runs user code that may start new requests */
  while ((msg = curl_multi_info_read (self->multi, &left)) != NULL)
    {
      GTask *task = NULL;

      if (msg->msg != CURLMSG_DONE)
        continue;
      if (g_hash_table_contains (self->streams, msg->easy_handle))
        {
          vpush_http_streams_collect (self, streams, stream_results, msg->easy_handle,
                                      msg->data.result);
          continue;
        }
      curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **)&task);
      g_ptr_array_add (finished, g_object_ref (task));
      g_array_append_val (results, msg->data.result);
    }

  for (guint i = 0; i < finished->len; i++)
    {
      g_autoptr (GTask) task = g_ptr_array_index (finished, i);

      vpush_http_request_detach (self, task);
      vpush_http_request_complete (self, task, g_array_index (results, CURLcode, i));
    }
  vpush_http_streams_complete (streams, stream_results);
}

static void
socket_action (VpushHttp *self, curl_socket_t fd, int ev_bitmask)
{
  int running = 0;
  CURLMcode rc;

  self->in_curl = TRUE;
  rc = curl_multi_socket_action (self->multi, fd, ev_bitmask, &running);
  self->in_curl = FALSE;
  if (rc != CURLM_OK)
    g_warning ("curl_multi_socket_action: %s", curl_multi_strerror (rc));
  process_done (self);
  vpush_http_streams_reap_cancelled (self);
}

static gboolean
on_socket_ready (gint fd, GIOCondition condition, gpointer user_data)
{
  g_autoptr (VpushHttp) self = g_object_ref (user_data);
  int ev = 0;

  if (condition & (G_IO_IN | G_IO_HUP))
    ev |= CURL_CSELECT_IN;
  if (condition & G_IO_OUT)
    ev |= CURL_CSELECT_OUT;
  if (condition & G_IO_ERR)
    ev |= CURL_CSELECT_ERR;
  /* may destroy this very source through socket_cb(); the context keeps it alive */
  socket_action (self, fd, ev);
  return G_SOURCE_CONTINUE;
}

static int
socket_cb (CURL *easy, curl_socket_t fd, int what, void *user_data, void *socket_data)
{
  VpushHttp *self = user_data;
  GIOCondition condition = 0;
  GSource *source;

  g_hash_table_remove (self->sockets, GINT_TO_POINTER (fd));
  if (what == CURL_POLL_REMOVE)
    return 0;

  if (what & CURL_POLL_IN)
    condition |= G_IO_IN;
  if (what & CURL_POLL_OUT)
    condition |= G_IO_OUT;
  source = g_unix_fd_source_new (fd, condition);
  g_source_set_callback (source, G_SOURCE_FUNC (on_socket_ready), self, NULL);
  g_source_set_name (source, "[vpush] curl socket");
  g_source_attach (source, self->context);
  g_hash_table_insert (self->sockets, GINT_TO_POINTER (fd), source);
  return 0;
}

static gboolean
on_timer (gpointer user_data)
{
  g_autoptr (VpushHttp) self = g_object_ref (user_data);

  /* curl may ask for a new timer from inside the call below */
  g_clear_pointer (&self->timer, g_source_unref);
  socket_action (self, CURL_SOCKET_TIMEOUT, 0);
  return G_SOURCE_REMOVE;
}

static int
timer_cb (CURLM *multi, long timeout_ms, void *user_data)
{
  VpushHttp *self = user_data;

  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
  if (timeout_ms < 0)
    return 0;

  /* curl must not be re-entered from here, so even "now" goes through the loop */
  self->timer = g_timeout_source_new ((guint)MIN (timeout_ms, G_MAXUINT));
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_set_name (self->timer, "[vpush] curl timer");
  g_source_attach (self->timer, self->context);
  return 0;
}

static void
socket_source_free (gpointer data)
{
  g_source_destroy (data);
  g_source_unref (data);
}

static void
vpush_http_finalize (GObject *object)
{
  VpushHttp *self = VPUSH_HTTP (object);

  /* no request can be in flight: each holds a reference on us through its task */
  curl_multi_cleanup (self->multi);
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_source_unref (self->timer);
    }
  g_hash_table_destroy (self->sockets);
  g_hash_table_destroy (self->streams);
  g_main_context_unref (self->context);
  g_free (self->ca_file);
  g_free (self->default_ca_file);

  G_OBJECT_CLASS (vpush_http_parent_class)->finalize (object);
}

static void
vpush_http_class_init (VpushHttpClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vpush_http_finalize;
  /* thread-safe since curl 7.84; type registration runs it once */
  curl_global_init (CURL_GLOBAL_DEFAULT);
  {
    const curl_version_info_data *info = curl_version_info (CURLVERSION_NOW);

    /* Debian's resolves names in a thread of its own (or with c-ares); a build that does
     * not looks each host up inside curl_multi_socket_action(), on the main loop */
    if (!(info->features & CURL_VERSION_ASYNCHDNS))
      g_warning ("libcurl %s resolves host names synchronously: each lookup holds up the "
                 "bus until it ends (up to its DNS timeout); use a libcurl built with the "
                 "threaded resolver or c-ares",
                 info->version);
  }
}

static gchar *
default_ca_file (void)
{
  CURL *easy = curl_easy_init ();
  char *path = NULL;
  gchar *found = NULL;

  if (easy != NULL && curl_easy_getinfo (easy, CURLINFO_CAINFO, &path) == CURLE_OK && path != NULL
      && *path != '\0')
    found = g_strdup (path);
  curl_easy_cleanup (easy);
  return found;
}

static void
vpush_http_init (VpushHttp *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->sockets = g_hash_table_new_full (NULL, NULL, NULL, socket_source_free);
  self->streams = g_hash_table_new (NULL, NULL);
  self->multi = curl_multi_init ();
  g_assert (self->multi != NULL);
  self->default_ca_file = default_ca_file ();
  curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
  curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
  vpush_http_update_max_connects (self);
}

void
vpush_http_update_max_connects (VpushHttp *self)
{
  /* curl counts the connections in use against the cap too, when one is given back: a
   * push stream holds its own for as long as it runs */
  curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS,
                     (long)(IDLE_CONNECTIONS_MAX + g_hash_table_size (self->streams)));
}

VpushHttp *
vpush_http_new (void)
{
  return g_object_new (VPUSH_TYPE_HTTP, NULL);
}

void
vpush_http_set_ca_file (VpushHttp *self, const gchar *ca_file)
{
  g_return_if_fail (VPUSH_IS_HTTP (self));

  g_free (self->ca_file);
  self->ca_file = g_strdup (ca_file);
}
