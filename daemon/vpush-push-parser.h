/* Incremental, bounded parser of the two push stream formats (design.md "Push channel";
 * linux-anchors.md §3.2-3.3): Server-Sent Events and ntfy's JSON lines. Input may be
 * split anywhere, lines end in CRLF, LF or a lone CR, a leading UTF-8 BOM is dropped.
 * Also which format a response's Content-Type names, and ntfy's resume URL. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* An event (SSE) or line (ntfy) longer than this is dropped as it passes it, not at its
 * end; the stream goes on. */
#define VPUSH_PUSH_EVENT_MAX (64 * 1024)

typedef enum
{
  VPUSH_PUSH_FORMAT_SSE,  /* text/event-stream */
  VPUSH_PUSH_FORMAT_NTFY, /* one JSON object a line */
} VpushPushFormat;

/* The format of a stream by its Content-Type; FALSE for one that is not a push stream. */
gboolean vpush_push_format_for (const gchar *content_type, VpushPushFormat *out_format);

/* The URL with since=<cursor> in place of any since= it had (ntfy resume). */
gchar *vpush_push_url_with_since (const gchar *url, const gchar *cursor);

typedef enum
{
  VPUSH_PUSH_EVENT_MESSAGE,   /* a possible hint: data is set */
  VPUSH_PUSH_EVENT_OPEN,      /* ntfy "open" */
  VPUSH_PUSH_EVENT_KEEPALIVE, /* ntfy "keepalive", an SSE comment or "keepalive" event */
  VPUSH_PUSH_EVENT_DROPPED,   /* over VPUSH_PUSH_EVENT_MAX, or a line that is not a JSON object */
} VpushPushEventKind;

typedef struct
{
  VpushPushEventKind kind;
  const gchar *type; /* SSE event type ("message" by default), ntfy "event"; never NULL */
  const gchar *data; /* NUL-terminated; SSE: the data lines, ntfy: the whole line */
  gsize data_len;
  const gchar *id; /* SSE: the last event id; ntfy: the message's id. Nullable */
} VpushPushEvent;

typedef void (*VpushPushEventFunc) (const VpushPushEvent *event, gpointer user_data);

typedef struct _VpushPushParser VpushPushParser;

VpushPushParser *vpush_push_parser_new (VpushPushFormat format, VpushPushEventFunc func,
                                        gpointer user_data);
void vpush_push_parser_free (VpushPushParser *self);
/* Calls func for each complete event in the bytes so far, and for each dropped as it
 * passes the cap. TRUE when the bytes ended a line: a sign of life that bytes alone are
 * not (a line may never end). */
gboolean vpush_push_parser_feed (VpushPushParser *self, const guint8 *data, gsize len);
/* Where to resume: SSE's last event id (send as Last-Event-ID), or the id of the last ntfy
 * message, in either format (send as since=; *out_since is set). Nullable. */
const gchar *vpush_push_parser_get_last_id (VpushPushParser *self, gboolean *out_since);
/* Resumes where an earlier connection left off: SSE's last event id persists across
 * reconnects (an empty id field then clears it). Nullable. */
void vpush_push_parser_set_last_id (VpushPushParser *self, const gchar *id, gboolean since);
/* SSE "retry" in ms, or -1 when the stream sent none. */
gint64 vpush_push_parser_get_retry (VpushPushParser *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushPushParser, vpush_push_parser_free)

/* Reads a hint from an event's data: a JSON object with "challenge_sid" (and optionally
 * "factor_sid"), at the top level or inside an ntfy "message" string (base64-decoded
 * first when its "encoding" is "base64"). A "type" other than
 * "verify_push_challenge" or a malformed sid is an error. *out_factor_sid may be NULL. */
gboolean vpush_push_hint_parse (const gchar *data, gsize len, gchar **out_challenge_sid,
                                gchar **out_factor_sid, GError **error);

G_END_DECLS
