/* One push stream's connection, from the request to its end: the headers that accept it,
 * the lines fed to the parser, the hints and polls its events ask for, the watchdog that
 * replaces a silent one, and the backoff before the next attempt. Apart from vpush-push.c,
 * which only decides which factors share a stream and what PushState says of them all. */
#include "vpush-push.h"
#include "vpush-push-private.h"

#include <string.h>

#include "vpush-log.h"
#include "vpush-poller.h"
#include "vpush-verify.h"

/* Reconnects back off exponentially, half fixed and half random, up to the cap; only a
 * connection that stayed up a while starts it again, so a flapping server is not hammered
 * (every connect polls the API). */
#define BACKOFF_BASE_MS  1000
#define BACKOFF_CAP_MS   (5 * 60 * 1000)
#define BACKOFF_RESET_US (30 * G_USEC_PER_SEC)

/* Hints followed per batch; beyond that one poll of the stream's factors is cheaper, and
 * a push server can't make vpushd fetch without bound. */
#define HINTS_MAX 8

/* A stream that ends no line for this long is dead: bytes alone are no sign of life, as a
 * stuck or hostile server may send a line without end. Until the server's keepalive period
 * has been seen the default holds; then it is a few periods, within bounds. A stream
 * replaced for its silence starts from the default again. */
#define KEEPALIVE_TIMEOUT_DEFAULT_S 120
#define KEEPALIVE_TIMEOUT_MIN_S     5
#define KEEPALIVE_TIMEOUT_MAX_S     300
#define KEEPALIVE_PERIODS           3
#define KEEPALIVE_GAP_MIN_US        (G_USEC_PER_SEC / 4)

/* the longest event id kept to resume from: ntfy's are 12 characters, SSE servers'
 * usually a number or a UUID */
#define CURSOR_MAX 256

#define ACCEPT_HEADER "Accept: text/event-stream, application/x-ndjson, application/json"

typedef struct
{
  gchar *challenge_sid;
  gchar *factor_sid; /* nullable */
} Hint;

static void
hint_free (Hint *hint)
{
  g_free (hint->challenge_sid);
  g_free (hint->factor_sid);
  g_free (hint);
}

void
vpush_push_stream_free (Stream *stream)
{
  if (stream->http != NULL)
    vpush_http_stream_cancel (stream->http);
  g_clear_handle_id (&stream->reconnect_id, g_source_remove);
  g_clear_handle_id (&stream->watchdog_id, g_source_remove);
  g_clear_handle_id (&stream->work_id, g_source_remove);
  g_clear_pointer (&stream->parser, vpush_push_parser_free);
  g_ptr_array_unref (stream->hints);
  g_hash_table_unref (stream->factors);
  g_free (stream->url);
  g_free (stream->label);
  g_free (stream->refused);
  g_free (stream->cursor);
  g_free (stream);
}

static gchar *
url_label (const gchar *url)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  if (uri == NULL)
    return g_strdup ("(unparsable URL)");
  if (g_uri_get_port (uri) < 0)
    return g_strdup_printf ("%s://%s", g_uri_get_scheme (uri), g_uri_get_host (uri));
  return g_strdup_printf ("%s://%s:%d", g_uri_get_scheme (uri), g_uri_get_host (uri),
                          g_uri_get_port (uri));
}

/* State */

static void
set_stream_state (Stream *stream, StreamState state)
{
  VpushPoller *poller = vpush_manager_get_poller (stream->push->manager);
  gboolean was_connected = stream->state == STREAM_CONNECTED;
  GHashTableIter iter;
  const gchar *sid;

  stream->state = state;
  /* the poll interval depends on it */
  if (was_connected != (state == STREAM_CONNECTED))
    {
      g_hash_table_iter_init (&iter, stream->factors);
      while (g_hash_table_iter_next (&iter, (gpointer *)&sid, NULL))
        vpush_poller_reschedule (poller, sid);
    }
  vpush_push_update_state (stream->push);
}

/* Hints */

static void
poll_stream (Stream *stream)
{
  GHashTableIter iter;
  const gchar *sid;

  g_hash_table_iter_init (&iter, stream->factors);
  while (g_hash_table_iter_next (&iter, (gpointer *)&sid, NULL))
    vpush_hint_fetcher_poll (stream->push->fetcher, sid);
}

static void
follow_hint (Stream *stream, Hint *hint)
{
  const gchar *factor_sid = hint->factor_sid;

  /* without a factor sid the challenge can only be fetched when one factor is possible */
  if (factor_sid == NULL && g_hash_table_size (stream->factors) == 1)
    {
      GHashTableIter iter;

      g_hash_table_iter_init (&iter, stream->factors);
      g_hash_table_iter_next (&iter, (gpointer *)&factor_sid, NULL);
    }
  if (factor_sid == NULL || !g_hash_table_contains (stream->factors, factor_sid))
    {
      g_debug ("push hint for challenge %s names no factor of this stream: polling",
               hint->challenge_sid);
      poll_stream (stream);
      return;
    }
  vpush_hint_fetcher_follow (stream->push->fetcher, factor_sid, hint->challenge_sid);
}

static gboolean
do_work (gpointer user_data)
{
  Stream *stream = user_data;
  g_autoptr (GPtrArray) hints = g_steal_pointer (&stream->hints);

  stream->work_id = 0;
  stream->hints = g_ptr_array_new_with_free_func ((GDestroyNotify)hint_free);
  if (stream->poll_wanted)
    {
      stream->poll_wanted = FALSE;
      poll_stream (stream);
    }
  for (guint i = 0; i < hints->len; i++)
    follow_hint (stream, g_ptr_array_index (hints, i));
  return G_SOURCE_REMOVE;
}

static void
queue_work (Stream *stream)
{
  if (stream->work_id == 0)
    stream->work_id = g_idle_add_full (G_PRIORITY_DEFAULT, do_work, stream, NULL);
}

/* The connection */

static gint64
keepalive_timeout_us (Stream *stream)
{
  gint64 timeout = KEEPALIVE_PERIODS * stream->keepalive_gap;

  /* the period learnt is the stream's: a server slow to answer a new request has sent
   * no keepalive yet */
  if (stream->keepalive_gap == 0 || stream->connected_at == 0)
    return KEEPALIVE_TIMEOUT_DEFAULT_S * G_USEC_PER_SEC;
  return CLAMP (timeout, KEEPALIVE_TIMEOUT_MIN_S * G_USEC_PER_SEC,
                KEEPALIVE_TIMEOUT_MAX_S * G_USEC_PER_SEC);
}

static gboolean
reconnect_cb (gpointer user_data)
{
  Stream *stream = user_data;

  stream->reconnect_id = 0;
  vpush_push_stream_connect (stream);
  return G_SOURCE_REMOVE;
}

/* Where to resume after a reconnect. An id longer than any server's would only make the
 * next request's URL or header huge: none is kept then, not an older one, from which the
 * server would send again what came since (the reconnect's poll finds what is pending). */
static void
take_cursor (Stream *stream)
{
  gboolean since = FALSE;
  const gchar *id = vpush_push_parser_get_last_id (stream->parser, &since);

  /* an empty SSE id field cleared it: the next request sends no Last-Event-ID. One that
   * is not UTF-8 is not what the server meant (WHATWG reads the stream as UTF-8, with
   * U+FFFD for what is not), and sent back raw it could not be recognised either. */
  if (id == NULL || strlen (id) > CURSOR_MAX || !g_utf8_validate (id, -1, NULL))
    g_clear_pointer (&stream->cursor, g_free);
  else
    {
      g_free (stream->cursor);
      stream->cursor = g_strdup (id);
      stream->cursor_since = since;
    }
}

/* What a connection leaves when it ends: where to resume, the server's retry, whether it
 * lasted long enough to start the backoff afresh */
static void
connection_end (Stream *stream)
{
  g_clear_handle_id (&stream->watchdog_id, g_source_remove);
  /* an SSE id may come in an event with no data, which dispatches nothing */
  if (stream->parser != NULL)
    take_cursor (stream);
  if (stream->parser != NULL && vpush_push_parser_get_retry (stream->parser) >= 0)
    stream->retry_ms = vpush_push_parser_get_retry (stream->parser);
  g_clear_pointer (&stream->parser, vpush_push_parser_free);
  g_clear_pointer (&stream->refused, g_free);

  if (stream->connected_at != 0
      && g_get_monotonic_time () - stream->connected_at >= BACKOFF_RESET_US)
    stream->failures = 0;
  stream->connected_at = 0;
}

static void
connection_lost (Stream *stream, const gchar *reason)
{
  gboolean was_connected = stream->state == STREAM_CONNECTED;
  gdouble ceiling;
  gdouble delay_ms;
  gdouble refused_ms = MIN ((gdouble)stream->retry_after_ms, (gdouble)BACKOFF_CAP_MS);

  connection_end (stream);
  ceiling = MIN ((gdouble)BACKOFF_CAP_MS,
                 (gdouble)BACKOFF_BASE_MS * (1u << MIN (stream->failures, 16)));
  delay_ms = ceiling / 2 + g_random_double_range (0, ceiling / 2);
  if (stream->retry_ms > delay_ms)
    delay_ms = MIN (stream->retry_ms, BACKOFF_CAP_MS);
  delay_ms = MAX (delay_ms, refused_ms);
  stream->server_wait_end = g_get_real_time () + (gint64)(refused_ms * 1000);
  stream->retry_after_ms = 0;
  stream->failures++;

  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_PUSH_DISCONNECTED, NULL, NULL, NULL,
                   "push stream to %s %s: %s; reconnecting in %.1f s", stream->label,
                   was_connected ? "lost" : "failed", reason, delay_ms / 1000);
  stream->reconnect_id = g_timeout_add ((guint)delay_ms, reconnect_cb, stream);
  set_stream_state (stream, STREAM_RETRYING);
}

static void arm_watchdog (Stream *stream);

static gboolean
watchdog_cb (gpointer user_data)
{
  Stream *stream = user_data;
  gint64 quiet = g_get_monotonic_time () - stream->last_activity;
  g_autofree gchar *reason = NULL;

  stream->watchdog_id = 0;
  if (quiet < keepalive_timeout_us (stream))
    {
      arm_watchdog (stream);
      return G_SOURCE_REMOVE;
    }
  vpush_http_stream_cancel (g_steal_pointer (&stream->http));
  reason = g_strdup_printf ("no line received for %" G_GINT64_FORMAT " s", quiet / G_USEC_PER_SEC);
  /* The period learnt may be what changed (the server's keepalives are sparser now): kept,
   * it would have every new connection replaced before its first keepalive, forever. */
  stream->keepalive_gap = 0;
  connection_lost (stream, reason);
  return G_SOURCE_REMOVE;
}

/* One timer per connection: it re-arms itself while lines keep coming. */
static void
arm_watchdog (Stream *stream)
{
  gint64 left = stream->last_activity + keepalive_timeout_us (stream) - g_get_monotonic_time ();

  stream->watchdog_id = g_timeout_add ((guint)(MAX (left, 0) / 1000 + 1), watchdog_cb, stream);
}

static void
on_event (const VpushPushEvent *event, gpointer user_data)
{
  Stream *stream = user_data;
  g_autoptr (GError) error = NULL;
  gint64 gap;
  Hint *hint;

  take_cursor (stream);

  switch (event->kind)
    {
    case VPUSH_PUSH_EVENT_KEEPALIVE:
      /* a keepalive is a line ended: the stream is alive now, before the rest of the bytes
       * are read */
      stream->last_activity = g_get_monotonic_time ();
      /* The period is the time from one keepalive to the next. The silence before one is
       * not: a hint just before a keepalive made it a fraction of the period, and the
       * stream was then taken for dead between two keepalives, again and again. */
      gap = stream->last_keepalive != 0 ? stream->last_activity - stream->last_keepalive : 0;
      stream->last_keepalive = stream->last_activity;
      stream->keepalives++;
      /* Two in one burst, under a quarter second apart, say nothing about the period. Nor
       * do two with messages between them: a server that restarts its keepalive timer
       * after each message would make the period look as long as the messages lasted,
       * and the learnt period never shrinks. */
      if (stream->other_since)
        gap = 0;
      /* Nor does the one after a connection's first keepalive: a server greets a new
       * connection with one (":ok"), out of step with its period, and a second soon after
       * made the period a fraction of a second, the stream replaced at 5 s, every time. */
      if (stream->keepalives <= 2)
        gap = 0;
      stream->other_since = FALSE;
      if (gap >= KEEPALIVE_GAP_MIN_US && gap > stream->keepalive_gap)
        {
          gint64 before = keepalive_timeout_us (stream);

          stream->keepalive_gap = gap;
          g_debug ("push stream to %s: keepalives every %.1f s: a silence of %.1f s ends it",
                   stream->label, gap / (gdouble)G_USEC_PER_SEC,
                   keepalive_timeout_us (stream) / (gdouble)G_USEC_PER_SEC);
          /* the first period seen shortens the default: the timer must move closer */
          if (keepalive_timeout_us (stream) < before)
            {
              g_clear_handle_id (&stream->watchdog_id, g_source_remove);
              arm_watchdog (stream);
            }
        }
      break;
    case VPUSH_PUSH_EVENT_OPEN:
      break;
    case VPUSH_PUSH_EVENT_DROPPED:
      stream->other_since = TRUE;
      g_debug ("push stream to %s: an unreadable event was dropped: polling", stream->label);
      stream->poll_wanted = TRUE;
      queue_work (stream);
      break;
    case VPUSH_PUSH_EVENT_MESSAGE:
      stream->other_since = TRUE;
      hint = g_new0 (Hint, 1);
      if (stream->hints->len < HINTS_MAX
          && vpush_push_hint_parse (event->data, event->data_len, &hint->challenge_sid,
                                    &hint->factor_sid, &error))
        g_ptr_array_add (stream->hints, hint);
      else
        {
          g_debug ("push stream to %s: hint not followed (%s): polling", stream->label,
                   error ? error->message : "too many at once");
          hint_free (hint);
          stream->poll_wanted = TRUE;
        }
      queue_work (stream);
      break;
    }
}

static gboolean
on_headers (guint status, const gchar *content_type, gpointer user_data)
{
  Stream *stream = user_data;
  VpushPushFormat format;

  /* an event stream's "stop reconnecting" (WHATWG HTML, server-sent events) */
  if (status == 204)
    {
      stream->stop = TRUE;
      return FALSE;
    }
  if (status != 200)
    {
      stream->refused = g_strdup_printf ("HTTP status %u", status);
      /* a server that says when to come back (429, 503) is not asked sooner */
      if (!vpush_verify_parse_retry_after (vpush_http_stream_get_retry_after (stream->http),
                                           vpush_http_stream_get_date (stream->http),
                                           g_get_real_time () / G_USEC_PER_SEC,
                                           &stream->retry_after_ms))
        stream->retry_after_ms = 0;
      /* the resume point may be what the server refuses: the next connection starts
       * afresh, and its poll finds what came meanwhile */
      g_clear_pointer (&stream->cursor, g_free);
      return FALSE;
    }
  if (!vpush_push_format_for (content_type, &format))
    {
      g_autofree gchar *quoted = vpush_log_excerpt (content_type ? content_type : "(none)");

      stream->refused = g_strdup_printf ("content type “%s” is not a push stream", quoted);
      return FALSE;
    }
  stream->parser = vpush_push_parser_new (format, on_event, stream);
  vpush_push_parser_set_last_id (stream->parser, stream->cursor, stream->cursor_since);
  stream->connected_at = g_get_monotonic_time ();
  /* from here on the period learnt counts, from the headers */
  stream->last_activity = stream->connected_at;
  g_clear_handle_id (&stream->watchdog_id, g_source_remove);
  arm_watchdog (stream);
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_PUSH_CONNECTED, NULL, NULL, NULL,
                   "push stream to %s connected (%s)", stream->label,
                   format == VPUSH_PUSH_FORMAT_SSE ? "server-sent events" : "ntfy JSON");
  set_stream_state (stream, STREAM_CONNECTED);
  /* what was sent while it was down comes by resuming, or else by this poll */
  stream->poll_wanted = TRUE;
  queue_work (stream);
  return TRUE;
}

static gboolean
on_data (const guint8 *data, gsize len, gpointer user_data)
{
  Stream *stream = user_data;

  /* only a line ended is a sign of life: the watchdog replaces a stream that sends bytes
   * but never ends a line, as it does a silent one */
  if (!vpush_push_parser_feed (stream->parser, data, len))
    return TRUE;
  stream->last_activity = g_get_monotonic_time ();
  /* moved on while awake anyway: a stream that keeps talking never wakes the watchdog */
  if (stream->watchdog_id != 0)
    {
      g_clear_handle_id (&stream->watchdog_id, g_source_remove);
      arm_watchdog (stream);
    }
  return TRUE;
}

static void
on_done (const GError *error, gpointer user_data)
{
  Stream *stream = user_data;
  g_autofree gchar *reason = g_strdup (stream->refused ? stream->refused
                                       : error         ? error->message
                                                       : "closed by the server");

  stream->http = NULL;
  if (stream->stop)
    {
      connection_end (stream);
      vpush_log_event (G_LOG_LEVEL_WARNING, VPUSH_MSGID_PUSH_DISCONNECTED, NULL, NULL, NULL,
                       "push stream to %s stopped: the server answered HTTP status 204, which "
                       "asks not to be reconnected; its factors are polled without push until "
                       "their push URL changes or vpushd restarts",
                       stream->label);
      set_stream_state (stream, STREAM_STOPPED);
      return;
    }
  connection_lost (stream, reason);
}

void
vpush_push_stream_connect (Stream *stream)
{
  VpushPush *self = stream->push;
  guint timeout_ms = vpush_manager_get_config (self->manager)->http_timeout_ms;
  g_autoptr (GPtrArray) headers = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *url = NULL;
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (headers, g_strdup (ACCEPT_HEADER));
  g_ptr_array_add (headers, g_strdup ("Cache-Control: no-store"));
  if (stream->cursor != NULL && !stream->cursor_since)
    g_ptr_array_add (headers, g_strdup_printf ("Last-Event-ID: %s", stream->cursor));
  g_ptr_array_add (headers, NULL);
  if (stream->cursor != NULL && stream->cursor_since)
    url = vpush_push_url_with_since (stream->url, stream->cursor);
  else
    url = g_strdup (stream->url);

  stream->last_keepalive = 0;
  stream->other_since = FALSE;
  stream->keepalives = 0;
  stream->last_activity = g_get_monotonic_time ();
  stream->http = vpush_http_stream_start (self->http, url, (const gchar *const *)headers->pdata,
                                          timeout_ms, on_headers, on_data, on_done, stream, &error);
  if (stream->http == NULL)
    {
      connection_lost (stream, error->message);
      return;
    }
  arm_watchdog (stream);
}

Stream *
vpush_push_stream_new (VpushPush *self, const gchar *url)
{
  Stream *stream = g_new0 (Stream, 1);

  stream->push = self;
  stream->url = g_strdup (url);
  stream->label = url_label (url);
  stream->factors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  stream->state = STREAM_CONNECTING;
  stream->retry_ms = -1;
  stream->hints = g_ptr_array_new_with_free_func ((GDestroyNotify)hint_free);
  return stream;
}

/* The machine woke up (vpush-wake.h): a connection may be dead without a word, and a wait
 * for the next attempt was for a network that may be back. Only a refusal's Retry-After
 * is kept (SSE retry is the server's general reconnection time, not an answer to this
 * client), by the real clock: the monotonic one of its timer stood still in a suspend. */
void
vpush_push_stream_reconnect_now (Stream *stream)
{
  gint64 left_us = stream->server_wait_end - g_get_real_time ();

  if (stream->http != NULL)
    {
      vpush_http_stream_cancel (g_steal_pointer (&stream->http));
      connection_end (stream);
    }
  else if (stream->reconnect_id == 0)
    return;
  else if (left_us > 0)
    {
      g_source_remove (stream->reconnect_id);
      stream->reconnect_id
          = g_timeout_add ((guint)(MIN (left_us / 1000, BACKOFF_CAP_MS) + 1), reconnect_cb, stream);
      return;
    }
  g_clear_handle_id (&stream->reconnect_id, g_source_remove);
  /* the failures counted were the network's that is back: if this attempt fails too, the
   * backoff starts again from its first step, not from where the outage left it */
  stream->failures = 0;
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_PUSH_DISCONNECTED, NULL, NULL, NULL,
                   "push stream to %s: reconnecting at once", stream->label);
  set_stream_state (stream, STREAM_CONNECTING);
  vpush_push_stream_connect (stream);
}
