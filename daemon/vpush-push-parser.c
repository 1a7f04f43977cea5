#include "vpush-push-parser.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vpush-factor-record.h"
#include "vpush-json.h"
#include "vpush-log.h"

#define BOM_LEN 3
static const guint8 bom[BOM_LEN] = { 0xEF, 0xBB, 0xBF };

struct _VpushPushParser
{
  VpushPushFormat format;
  VpushPushEventFunc func;
  gpointer user_data;

  guint bom_seen; /* bytes of a leading BOM held back so far */
  gboolean bom_done;
  gboolean after_cr; /* a CR ended the last line: an LF right after it ends nothing */
  GString *line;
  gboolean line_too_long;
  gboolean line_ended; /* in the bytes fed last */

  /* SSE event being built */
  GString *data;
  GString *type;
  gboolean event_too_long;
  gboolean saw_id_field;
  gchar *id_buffer; /* SSE "last event ID buffer": the last id only once dispatched */
  gint64 retry;

  gchar *last_id;
  gboolean last_id_since;
};

VpushPushParser *
vpush_push_parser_new (VpushPushFormat format, VpushPushEventFunc func, gpointer user_data)
{
  VpushPushParser *self = g_new0 (VpushPushParser, 1);

  self->format = format;
  self->func = func;
  self->user_data = user_data;
  self->line = g_string_new (NULL);
  self->data = g_string_new (NULL);
  self->type = g_string_new (NULL);
  self->retry = -1;
  return self;
}

void
vpush_push_parser_free (VpushPushParser *self)
{
  if (self == NULL)
    return;
  g_string_free (self->line, TRUE);
  g_string_free (self->data, TRUE);
  g_string_free (self->type, TRUE);
  g_free (self->id_buffer);
  g_free (self->last_id);
  g_free (self);
}

const gchar *
vpush_push_parser_get_last_id (VpushPushParser *self, gboolean *out_since)
{
  if (out_since != NULL)
    *out_since = self->last_id_since;
  return self->last_id;
}

void
vpush_push_parser_set_last_id (VpushPushParser *self, const gchar *id, gboolean since)
{
  g_free (self->last_id);
  self->last_id = g_strdup (id);
  self->last_id_since = since;
  /* the WHATWG last event ID buffer starts from it too */
  g_free (self->id_buffer);
  self->id_buffer = since ? NULL : g_strdup (id);
}

gint64
vpush_push_parser_get_retry (VpushPushParser *self)
{
  return self->retry;
}

static void
set_last_id (VpushPushParser *self, const gchar *id, gsize len, gboolean since)
{
  g_free (self->last_id);
  /* an empty SSE id resets it: no Last-Event-ID next time */
  self->last_id = len > 0 ? g_strndup (id, len) : NULL;
  self->last_id_since = since;
}

static void
emit (VpushPushParser *self, VpushPushEventKind kind, const gchar *type, const GString *data,
      const gchar *id)
{
  VpushPushEvent event = { kind, type, data ? data->str : "", data ? data->len : 0, id };

  self->func (&event, self->user_data);
}

static VpushPushEventKind
kind_of (const gchar *type)
{
  if (g_str_equal (type, "open"))
    return VPUSH_PUSH_EVENT_OPEN;
  if (g_str_equal (type, "keepalive"))
    return VPUSH_PUSH_EVENT_KEEPALIVE;
  /* any other type may carry a hint; one that can't be read still makes vpushd poll */
  return VPUSH_PUSH_EVENT_MESSAGE;
}

/* A JSON object from network bytes, or NULL: no NULs, valid UTF-8. */
static JsonObject *
parse_object (const gchar *text, gsize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root;

  if (len == 0 || memchr (text, '\0', len) != NULL || !g_utf8_validate (text, (gssize)len, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not UTF-8 text");
      return NULL;
    }
  if (!vpush_json_check (text, len, VPUSH_JSON_MAX_DEPTH, error))
    return NULL;
  if (!json_parser_load_from_data (parser, text, (gssize)len, &local_error))
    {
      /* json-glib quotes the input, cut anywhere: keep the message UTF-8 */
      g_autofree gchar *why = g_utf8_make_valid (local_error->message, -1);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not JSON: %s", why);
      return NULL;
    }
  root = json_parser_get_root (parser);
  /* white space alone parses, with no root */
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object");
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* A member that is a string, or NULL. */
static const gchar *
get_string (JsonObject *object, const gchar *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static void
ntfy_line (VpushPushParser *self)
{
  g_autoptr (JsonObject) object = NULL;
  const gchar *type;
  const gchar *id;
  VpushPushEventKind kind;
  gboolean blank = TRUE;

  /* dropped as it passed the cap */
  if (self->line_too_long)
    return;
  for (gsize i = 0; i < self->line->len && blank; i++)
    blank = g_ascii_isspace (self->line->str[i]);
  if (blank)
    return;

  object = parse_object (self->line->str, self->line->len, NULL);
  if (object == NULL)
    {
      emit (self, VPUSH_PUSH_EVENT_DROPPED, "message", NULL, NULL);
      return;
    }
  type = get_string (object, "event");
  if (type == NULL)
    type = "message";
  kind = kind_of (type);
  id = get_string (object, "id");
  /* open and keepalive ids are not kept by the server: only messages resume */
  if (kind == VPUSH_PUSH_EVENT_MESSAGE && id != NULL)
    set_last_id (self, id, strlen (id), TRUE);
  emit (self, kind, type, self->line, id);
}

/* The event can't be read whole: the rest of it is skipped, and that is said now, not at
 * its end, which a server may never send (a hint in it would wait for the next poll). */
static void
sse_drop_event (VpushPushParser *self)
{
  self->event_too_long = TRUE;
  g_string_truncate (self->data, 0);
  emit (self, VPUSH_PUSH_EVENT_DROPPED, self->type->len > 0 ? self->type->str : "message", NULL,
        self->last_id);
}

static void
sse_reset_event (VpushPushParser *self)
{
  g_string_truncate (self->data, 0);
  g_string_truncate (self->type, 0);
  self->event_too_long = FALSE;
}

/* ntfy's own SSE endpoint writes no id: lines; its objects carry the id. As on the JSON
 * stream, every event but open and keepalive (poll_request too) is one ntfy keeps. */
static void
sse_take_ntfy_id (VpushPushParser *self)
{
  g_autoptr (JsonObject) object = parse_object (self->data->str, self->data->len, NULL);
  const gchar *event;
  const gchar *id;

  if (object == NULL)
    return;
  event = get_string (object, "event");
  if (event == NULL || kind_of (event) != VPUSH_PUSH_EVENT_MESSAGE)
    return;
  id = get_string (object, "id");
  if (id != NULL)
    set_last_id (self, id, strlen (id), TRUE);
}

static void
sse_dispatch (VpushPushParser *self)
{
  const gchar *type = self->type->len > 0 ? self->type->str : "message";
  VpushPushEventKind kind = kind_of (type);

  /* WHATWG: the id is taken at every blank line, even one that dispatches nothing, and
   * only then: an event cut off by the end of the stream must not become the resume point */
  if (self->saw_id_field)
    set_last_id (self, self->id_buffer, self->id_buffer ? strlen (self->id_buffer) : 0, FALSE);
  /* a dropped event was reported as it passed the cap */
  if (self->event_too_long || self->data->len == 0)
    {
      sse_reset_event (self);
      return;
    }
  g_string_truncate (self->data, self->data->len - 1); /* the LF after the last data line */
  if (!self->saw_id_field && kind == VPUSH_PUSH_EVENT_MESSAGE)
    sse_take_ntfy_id (self);
  emit (self, kind, type, self->data, self->last_id);
  sse_reset_event (self);
}

static gboolean
field_is (const gchar *name, gsize len, const gchar *field)
{
  return len == strlen (field) && memcmp (name, field, len) == 0;
}

static void
sse_line (VpushPushParser *self)
{
  const gchar *line = self->line->str;
  gsize len = self->line->len;
  const gchar *colon;
  const gchar *value;
  gsize name_len;
  gsize value_len;

  if (len == 0)
    {
      sse_dispatch (self);
      return;
    }
  if (line[0] == ':')
    {
      emit (self, VPUSH_PUSH_EVENT_KEEPALIVE, "comment", NULL, self->last_id);
      return;
    }
  /* the event was dropped as the line passed the cap */
  if (self->line_too_long)
    return;

  colon = memchr (line, ':', len);
  name_len = colon ? (gsize)(colon - line) : len;
  value = colon ? colon + 1 : line + len;
  value_len = len - (value - line);
  if (value_len > 0 && value[0] == ' ')
    {
      value++;
      value_len--;
    }

  if (field_is (line, name_len, "event"))
    {
      g_string_truncate (self->type, 0);
      g_string_append_len (self->type, value, (gssize)value_len);
    }
  else if (field_is (line, name_len, "data"))
    {
      if (self->event_too_long)
        return;
      if (self->data->len + value_len + 1 > VPUSH_PUSH_EVENT_MAX)
        {
          sse_drop_event (self);
          return;
        }
      g_string_append_len (self->data, value, (gssize)value_len);
      g_string_append_c (self->data, '\n');
    }
  else if (field_is (line, name_len, "id"))
    {
      if (memchr (value, '\0', value_len) != NULL)
        return;
      self->saw_id_field = TRUE;
      g_free (self->id_buffer);
      self->id_buffer = value_len > 0 ? g_strndup (value, value_len) : NULL;
    }
  else if (field_is (line, name_len, "retry"))
    {
      gint64 retry = 0;

      if (value_len == 0)
        return;
      for (gsize i = 0; i < value_len; i++)
        {
          if (!g_ascii_isdigit (value[i]))
            return;
          retry = retry > (G_MAXINT64 - 9) / 10 ? G_MAXINT64 : retry * 10 + (value[i] - '0');
        }
      self->retry = retry;
    }
}

static void
end_line (VpushPushParser *self)
{
  if (self->format == VPUSH_PUSH_FORMAT_NTFY)
    ntfy_line (self);
  else
    sse_line (self);
  g_string_truncate (self->line, 0);
  self->line_too_long = FALSE;
  self->line_ended = TRUE;
}

/* Said as the line passes the cap, once: a server may stream one line without end. */
static void
line_overflow (VpushPushParser *self)
{
  if (self->format == VPUSH_PUSH_FORMAT_NTFY)
    emit (self, VPUSH_PUSH_EVENT_DROPPED, "message", NULL, NULL);
  /* a comment holds no hint: it is still a keepalive once it ends */
  else if (self->line->str[0] != ':')
    sse_drop_event (self);
}

static void
append_line (VpushPushParser *self, const gchar *data, gsize len)
{
  gsize room = VPUSH_PUSH_EVENT_MAX - self->line->len;

  if (self->line_too_long)
    return;
  /* keep the start (it tells a comment), drop the rest of an oversized line */
  if (len > room)
    {
      g_string_append_len (self->line, data, (gssize)room);
      self->line_too_long = TRUE;
      line_overflow (self);
      return;
    }
  g_string_append_len (self->line, data, (gssize)len);
}

static void
process (VpushPushParser *self, const gchar *data, gsize len)
{
  while (len > 0)
    {
      gsize n = 0;

      if (self->after_cr)
        {
          self->after_cr = FALSE;
          if (data[0] == '\n')
            {
              data++;
              len--;
              continue;
            }
        }
      while (n < len && data[n] != '\r' && data[n] != '\n')
        n++;
      append_line (self, data, n);
      if (n == len)
        return;
      self->after_cr = data[n] == '\r';
      end_line (self);
      data += n + 1;
      len -= n + 1;
    }
}

gboolean
vpush_push_parser_feed (VpushPushParser *self, const guint8 *data, gsize len)
{
  gsize i = 0;

  self->line_ended = FALSE;
  while (!self->bom_done && i < len)
    {
      if (data[i] == bom[self->bom_seen])
        {
          i++;
          self->bom_done = ++self->bom_seen == BOM_LEN;
          continue;
        }
      /* no BOM after all: what was held back is content */
      self->bom_done = TRUE;
      process (self, (const gchar *)bom, self->bom_seen);
    }
  process (self, (const gchar *)data + i, len - i);
  return self->line_ended;
}

static gboolean
read_hint (JsonObject *object, gchar **out_challenge_sid, gchar **out_factor_sid, GError **error)
{
  const gchar *type = get_string (object, "type");
  const gchar *challenge_sid = get_string (object, "challenge_sid");
  const gchar *factor_sid = get_string (object, "factor_sid");

  if (json_object_has_member (object, "type") && g_strcmp0 (type, "verify_push_challenge") != 0)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (type ? type : "(not a string)");

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "hint type “%s” is not known",
                   quoted);
      return FALSE;
    }
  if (!vpush_sid_is_valid (challenge_sid, "YC"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "hint has no valid challenge_sid");
      return FALSE;
    }
  if (json_object_has_member (object, "factor_sid") && !vpush_sid_is_valid (factor_sid, "YF"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "hint has a malformed factor_sid");
      return FALSE;
    }
  *out_challenge_sid = g_strdup (challenge_sid);
  if (out_factor_sid != NULL)
    *out_factor_sid = g_strdup (factor_sid);
  return TRUE;
}

/* Base64 as ntfy writes it (Go's StdEncoding: + and /, padded): g_base64_decode() skips
 * whatever else it meets, so the text is checked first */
static gboolean
is_base64 (const gchar *text, gsize len)
{
  gsize pad = 0;

  if (len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (text[i] == '=' && i + 2 >= len)
        pad++;
      else if (pad > 0 || !(g_ascii_isalnum (text[i]) || text[i] == '+' || text[i] == '/'))
        return FALSE;
    }
  return TRUE;
}

/* The publisher's body in an ntfy message object: its "message", base64-decoded when its
 * "encoding" says so (ntfy's way with a body that is not UTF-8 text). NULL and error when
 * there is none, or it can't be decoded. */
static gchar *
ntfy_body (JsonObject *object, gsize *out_len, GError **error)
{
  const gchar *message = get_string (object, "message");
  JsonNode *encoding_node = json_object_get_member (object, "encoding");
  const gchar *encoding = get_string (object, "encoding");

  if (message == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "hint has neither challenge_sid nor an ntfy message");
      return NULL;
    }
  /* ntfy leaves "encoding" out for text; "" is text too */
  if (encoding_node == NULL || JSON_NODE_HOLDS_NULL (encoding_node)
      || g_strcmp0 (encoding, "") == 0)
    {
      *out_len = strlen (message);
      return g_strdup (message);
    }
  if (g_strcmp0 (encoding, "base64") != 0)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (encoding != NULL ? encoding : "(not a string)");

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ntfy message: encoding “%s” is not known", quoted);
      return NULL;
    }
  if (!is_base64 (message, strlen (message)))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "ntfy message: not base64, though its encoding says so");
      return NULL;
    }
  return (gchar *)g_base64_decode (message, out_len);
}

gboolean
vpush_push_hint_parse (const gchar *data, gsize len, gchar **out_challenge_sid,
                       gchar **out_factor_sid, GError **error)
{
  g_autoptr (JsonObject) object = NULL;
  g_autoptr (JsonObject) inner = NULL;
  g_autofree gchar *body = NULL;
  gsize body_len = 0;

  g_return_val_if_fail (out_challenge_sid != NULL, FALSE);

  object = parse_object (data, len, error);
  if (object == NULL)
    return FALSE;
  if (json_object_has_member (object, "challenge_sid"))
    return read_hint (object, out_challenge_sid, out_factor_sid, error);

  /* an ntfy message object: the publisher's body is the "message" string */
  body = ntfy_body (object, &body_len, error);
  if (body == NULL)
    return FALSE;
  /* decoded bytes are read as the text would be: no NULs, UTF-8, JSON */
  inner = parse_object (body, body_len, error);
  if (inner == NULL)
    {
      g_prefix_error (error, "ntfy message: ");
      return FALSE;
    }
  return read_hint (inner, out_challenge_sid, out_factor_sid, error);
}

gchar *
vpush_push_url_with_since (const gchar *url, const gchar *cursor)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr (GUri) resumed = NULL;
  g_autoptr (GString) query = g_string_new (NULL);
  g_autofree gchar *escaped = g_uri_escape_string (cursor, NULL, FALSE);

  if (uri == NULL)
    return g_strdup (url);
  if (g_uri_get_query (uri) != NULL)
    {
      g_auto (GStrv) params = g_strsplit (g_uri_get_query (uri), "&", -1);

      for (guint i = 0; params[i] != NULL; i++)
        if (*params[i] != '\0' && !g_str_has_prefix (params[i], "since="))
          g_string_append_printf (query, "%s&", params[i]);
    }
  g_string_append_printf (query, "since=%s", escaped);
  resumed = g_uri_build (G_URI_FLAGS_ENCODED, g_uri_get_scheme (uri), g_uri_get_userinfo (uri),
                         g_uri_get_host (uri), g_uri_get_port (uri), g_uri_get_path (uri),
                         query->str, g_uri_get_fragment (uri));
  return g_uri_to_string (resumed);
}

gboolean
vpush_push_format_for (const gchar *content_type, VpushPushFormat *out_format)
{
  g_autofree gchar *media = NULL;

  if (content_type == NULL)
    return FALSE;
  media = g_ascii_strdown (content_type, (gssize)strcspn (content_type, ";"));
  g_strstrip (media);
  if (g_str_equal (media, "text/event-stream"))
    *out_format = VPUSH_PUSH_FORMAT_SSE;
  else if (g_str_equal (media, "application/x-ndjson") || g_str_equal (media, "application/json")
           || g_str_equal (media, "application/jsonl"))
    *out_format = VPUSH_PUSH_FORMAT_NTFY;
  else
    return FALSE;
  return TRUE;
}
