/* Internal parts of the push channel, shared by vpush-push.c (the object: which factor is on
 * which stream, and PushState) and vpush-push-stream.c (one stream's connection, from the
 * request to the reconnect); not API. */
#pragma once

#include "vpush-push-parser.h"
#include "vpush-push.h"

G_BEGIN_DECLS

typedef enum
{
  STREAM_CONNECTED, /* ordered best to worst: PushState is the worst */
  STREAM_CONNECTING,
  STREAM_RETRYING,
  STREAM_STOPPED, /* the server answered 204: never asked again, nor counted in PushState */
} StreamState;

typedef struct
{
  VpushPush *push;
  gchar *url;
  gchar *label;        /* scheme://host:port for the log: the path may hold a secret topic */
  GHashTable *factors; /* sids */
  StreamState state;

  VpushHttpStream *http; /* the current connection, nullable */
  VpushPushParser *parser;
  gchar *refused; /* why the response was not taken */
  gboolean stop;  /* the server answered 204 */
  gchar *cursor;  /* where to resume */
  gboolean cursor_since;
  gint64 retry_ms;        /* the server's SSE retry, -1 for none */
  guint64 retry_after_ms; /* a refusal's Retry-After, for the next attempt only */
  guint failures;         /* attempts in a row that failed or did not last */
  guint reconnect_id;
  gint64 server_wait_end; /* real µs: a refusal's Retry-After runs until then */

  guint watchdog_id;
  gint64 last_activity;  /* monotonic µs of the last line ended (or of the connect) */
  gint64 last_keepalive; /* monotonic µs of this connection's last keepalive; 0 = none yet */
  gboolean other_since;  /* something else came since that keepalive */
  guint keepalives;      /* of this connection */
  gint64 keepalive_gap;  /* the longest time seen between two keepalives; 0 = unknown */
  gint64 connected_at;   /* monotonic µs; 0 while not connected */

  /* found inside curl's callbacks, which must not start requests: acted on from an idle */
  GPtrArray *hints;
  gboolean poll_wanted;
  guint work_id;
} Stream;

struct _VpushPush
{
  GObject parent_instance;

  VpushManager *manager;
  VpushHttp *http;
  VpushHintFetcher *fetcher;
  GHashTable *streams;     /* url → Stream */
  GHashTable *factor_urls; /* factor sid → url */
  const gchar *state;
};

/* vpush-push.c */
/* Makes PushState the worst of the streams' states, and notifies when it changed. */
void vpush_push_update_state (VpushPush *self);

/* vpush-push-stream.c */
/* A stream not connected yet: vpush_push_stream_connect() starts it. */
Stream *vpush_push_stream_new (VpushPush *self, const gchar *url);
void vpush_push_stream_free (Stream *stream);
void vpush_push_stream_connect (Stream *stream);
void vpush_push_stream_reconnect_now (Stream *stream);

G_END_DECLS
