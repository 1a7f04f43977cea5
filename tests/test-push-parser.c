/* Unit tests for the push stream parser (SSE and ntfy JSON lines) and the hint reader:
 * input split at every byte, several events in one read, line ending variants, BOM,
 * oversized and malformed events. */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vpush-push-parser.h"

#define YC "YC0123456789abcdef0123456789abcdef"
#define YF "YF0123456789abcdef0123456789abcdef"

static const gchar *const kind_names[] = { "message", "open", "keepalive", "dropped" };

/* Each event as "kind type=… id=… data=…". */
static void
collect (const VpushPushEvent *event, gpointer user_data)
{
  GPtrArray *events = user_data;

  g_assert_cmpuint (strlen (event->data), <=, event->data_len);
  g_ptr_array_add (events, g_strdup_printf ("%s type=%s id=%s data=%.*s", kind_names[event->kind],
                                            event->type, event->id ? event->id : "-",
                                            (int)event->data_len, event->data));
}

/* Feeds input in pieces of at most chunk bytes (0: all at once). */
static GPtrArray *
parse (VpushPushFormat format, const gchar *input, gsize len, gsize chunk, gchar **out_last_id,
       gboolean *out_since, gint64 *out_retry)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (VpushPushParser) parser = vpush_push_parser_new (format, collect, events);
  gsize step = chunk ? chunk : MAX (len, 1);
  const gchar *id;

  for (gsize off = 0; off < len; off += step)
    vpush_push_parser_feed (parser, (const guint8 *)input + off, MIN (step, len - off));
  id = vpush_push_parser_get_last_id (parser, out_since);
  if (out_last_id)
    *out_last_id = g_strdup (id);
  if (out_retry)
    *out_retry = vpush_push_parser_get_retry (parser);
  return events;
}

static void
assert_events (GPtrArray *events, const gchar *const *expected)
{
  guint n = g_strv_length ((gchar **)expected);

  for (guint i = 0; i < MIN (n, events->len); i++)
    g_assert_cmpstr (g_ptr_array_index (events, i), ==, expected[i]);
  g_assert_cmpuint (events->len, ==, n);
}

/* The same events whether the input comes at once, a byte at a time, or cut anywhere in
 * two. */
static void
check_all_splits (VpushPushFormat format, const gchar *input, gsize len,
                  const gchar *const *expected)
{
  g_autoptr (GPtrArray) whole = parse (format, input, len, 0, NULL, NULL, NULL);
  g_autoptr (GPtrArray) bytes = parse (format, input, len, 1, NULL, NULL, NULL);

  assert_events (whole, expected);
  assert_events (bytes, expected);
  for (gsize cut = 1; cut < len; cut++)
    {
      GPtrArray *events = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (VpushPushParser) parser = vpush_push_parser_new (format, collect, events);

      vpush_push_parser_feed (parser, (const guint8 *)input, cut);
      vpush_push_parser_feed (parser, (const guint8 *)input + cut, len - cut);
      assert_events (events, expected);
      g_ptr_array_unref (events);
    }
}

#define CHECK_SPLITS(format, input, ...)                                                           \
  G_STMT_START                                                                                     \
  {                                                                                                \
    const gchar *const expected_[] = { __VA_ARGS__, NULL };                                        \
    check_all_splits (format, input, sizeof (input) - 1, expected_);                               \
  }                                                                                                \
  G_STMT_END

/* SSE */

static void
test_sse_basic (void)
{
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE,
                ": keepalive\n\nid: 1\ndata: {\"a\":1}\n\n"
                "event: hint\ndata: line one\ndata: line two\n\n"
                ": ping\n"
                "event: open\ndata: x\n\n",
                "keepalive type=comment id=- data=", "message type=message id=1 data={\"a\":1}",
                "message type=hint id=1 data=line one\nline two",
                "keepalive type=comment id=1 data=", "open type=open id=1 data=x");
}

static void
test_sse_line_endings (void)
{
  /* CRLF, lone CR and LF, and a CR that ends one read with its LF starting the next */
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE, "data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\rdata: e\n\n",
                "message type=message id=- data=a\nb", "message type=message id=- data=c\nd",
                "message type=message id=- data=e");
}

static void
test_sse_bom (void)
{
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE,
                "\xEF\xBB\xBF"
                "data: x\n\n",
                "message type=message id=- data=x");
  /* only a leading BOM is dropped; bytes that merely start like one are content */
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE,
                "\xEF\xBB"
                "data: x\n\n"
                "data: \xEF\xBB\xBFy\n\n",
                "message type=message id=- data=\xEF\xBB\xBFy");
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE,
                "\xEF"
                "\n"
                "data: z\n\n",
                "message type=message id=- data=z");
}

static void
test_sse_fields (void)
{
  g_autofree gchar *last_id = NULL;
  g_autoptr (GPtrArray) events = NULL;
  gboolean since = TRUE;
  gint64 retry = 0;
  static const gchar input[] = "data:nospace\n\n"
                               "data:  two spaces\n\n"
                               "data\n\n"        /* no colon: an empty value */
                               "event: only\n\n" /* no data: nothing dispatched */
                               "id: 7\n\n"       /* no data, but the id is taken */
                               "data: after\n\n"
                               "id\ndata: reset\n\n" /* an empty id resets it */
                               "retry: 12a\n"        /* not all digits: ignored */
                               "retry: 2500\n"
                               "unknown: field\n"
                               "id: 9\n"
                               "data: last\n\n"
                               "data: partial at the end\n";

  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE, input, "message type=message id=- data=nospace",
                "message type=message id=- data= two spaces",
                "message type=message id=- data=", "message type=message id=7 data=after",
                "message type=message id=- data=reset", "message type=message id=9 data=last");
  events = parse (VPUSH_PUSH_FORMAT_SSE, input, sizeof input - 1, 0, &last_id, &since, &retry);
  g_assert_cmpstr (last_id, ==, "9");
  g_assert_false (since);
  g_assert_cmpint (retry, ==, 2500);
}

static void
test_sse_id_with_nul (void)
{
  static const gchar input[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";

  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE, input, "message type=message id=1 data=a",
                "message type=message id=1 data=b");
}

/* The last event id moves at a blank line, not at the id: line: an event the stream cuts
 * off (here after a comment) is not where to resume from; an id with no data is. */
static void
test_sse_id_at_dispatch (void)
{
  g_autofree gchar *last_id = NULL;
  g_autofree gchar *blank_id = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) blank = NULL;
  static const gchar cut[] = "id: 1\ndata: a\n\nid: 2\n: ping\ndata: cut off\n";
  static const gchar no_data[] = "id: 1\ndata: a\n\nid: 3\n\n";

  CHECK_SPLITS (VPUSH_PUSH_FORMAT_SSE, cut, "message type=message id=1 data=a",
                "keepalive type=comment id=1 data=");
  events = parse (VPUSH_PUSH_FORMAT_SSE, cut, sizeof cut - 1, 0, &last_id, NULL, NULL);
  g_assert_cmpstr (last_id, ==, "1");
  blank = parse (VPUSH_PUSH_FORMAT_SSE, no_data, sizeof no_data - 1, 0, &blank_id, NULL, NULL);
  g_assert_cmpuint (blank->len, ==, 1);
  g_assert_cmpstr (blank_id, ==, "3");
}

/* The last event id of the previous connection goes on until the stream changes it. */
static void
test_sse_id_persists (void)
{
  g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (VpushPushParser) parser
      = vpush_push_parser_new (VPUSH_PUSH_FORMAT_SSE, collect, events);
  static const gchar first[] = "data: x\n\n";
  static const gchar reset[] = "id\ndata: y\n\n";
  gboolean since = TRUE;

  vpush_push_parser_set_last_id (parser, "abc", FALSE);
  vpush_push_parser_feed (parser, (const guint8 *)first, sizeof first - 1);
  g_assert_cmpstr (vpush_push_parser_get_last_id (parser, &since), ==, "abc");
  g_assert_false (since);
  vpush_push_parser_feed (parser, (const guint8 *)reset, sizeof reset - 1);
  g_assert_null (vpush_push_parser_get_last_id (parser, NULL));
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, "message type=message id=abc data=x");
  g_assert_cmpstr (g_ptr_array_index (events, 1), ==, "message type=message id=- data=y");
}

static void
test_sse_ntfy_ids (void)
{
  g_autofree gchar *last_id = NULL;
  g_autoptr (GPtrArray) events = NULL;
  gboolean since = FALSE;
  /* ntfy's own SSE endpoint: no id: lines, the id is in the JSON */
  static const gchar input[]
      = "event: open\ndata: {\"id\":\"o1\",\"event\":\"open\"}\n\n"
        "data: {\"id\":\"m1\",\"event\":\"message\",\"message\":\"hi\"}\n\n"
        "event: keepalive\ndata: {\"id\":\"k1\",\"event\":\"keepalive\"}\n\n";
  /* a poll_request is kept by ntfy as a message is: its id resumes, as on the JSON stream */
  static const gchar poll_input[]
      = "data: {\"id\":\"m1\",\"event\":\"message\",\"message\":\"hi\"}\n\n"
        "event: poll_request\ndata: {\"id\":\"p1\",\"event\":\"poll_request\"}\n\n"
        "event: keepalive\ndata: {\"id\":\"k2\",\"event\":\"keepalive\"}\n\n";

  events = parse (VPUSH_PUSH_FORMAT_SSE, input, sizeof input - 1, 0, &last_id, &since, NULL);
  g_assert_cmpuint (events->len, ==, 3);
  g_assert_cmpstr (last_id, ==, "m1");
  g_assert_true (since);

  g_clear_pointer (&events, g_ptr_array_unref);
  g_clear_pointer (&last_id, g_free);
  since = FALSE;
  events
      = parse (VPUSH_PUSH_FORMAT_SSE, poll_input, sizeof poll_input - 1, 0, &last_id, &since, NULL);
  g_assert_cmpuint (events->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (events, 1), ==,
                   "message type=poll_request id=p1 "
                   "data={\"id\":\"p1\",\"event\":\"poll_request\"}");
  g_assert_cmpstr (last_id, ==, "p1");
  g_assert_true (since);
}

static gchar *
repeat (gchar c, gsize n)
{
  gchar *s = g_malloc (n + 1);

  memset (s, c, n);
  s[n] = '\0';
  return s;
}

static void
test_sse_oversized (void)
{
  g_autofree gchar *big = repeat ('x', VPUSH_PUSH_EVENT_MAX);
  g_autofree gchar *half = repeat ('y', VPUSH_PUSH_EVENT_MAX / 2);
  g_autofree gchar *input = NULL;
  g_autofree gchar *fits = NULL;
  g_autoptr (GPtrArray) whole = NULL;
  g_autoptr (GPtrArray) pieces = NULL;

  /* one line too long; two lines together too long; a long comment; then a good one */
  input = g_strdup_printf ("id: 1\ndata: %s\n\ndata: %s\ndata: %s\n\n:%s\n"
                           "data: ok\n\n",
                           big, half, half, big);
  fits = g_strdup_printf ("data: %s\n\n", half);
  for (guint round = 0; round < 2; round++)
    {
      const gchar *const expected[]
          = { "dropped type=message id=- data=", "dropped type=message id=1 data=",
              "keepalive type=comment id=1 data=", "message type=message id=1 data=ok", NULL };

      g_clear_pointer (&whole, g_ptr_array_unref);
      g_clear_pointer (&pieces, g_ptr_array_unref);
      whole = parse (VPUSH_PUSH_FORMAT_SSE, input, strlen (input), round ? 4093 : 0, NULL, NULL,
                     NULL);
      assert_events (whole, expected);
    }
  pieces = parse (VPUSH_PUSH_FORMAT_SSE, fits, strlen (fits), 1000, NULL, NULL, NULL);
  g_assert_cmpuint (pieces->len, ==, 1);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (pieces, 0), "message"));
}

/* Feeds len bytes of c in pieces of 1000; none ends a line. */
static void
feed_filler (VpushPushParser *parser, gchar c, gsize len)
{
  g_autofree gchar *piece = repeat (c, 1000);

  for (gsize off = 0; off < len; off += 1000)
    g_assert_false (vpush_push_parser_feed (parser, (const guint8 *)piece, MIN (1000, len - off)));
}

/* A line over the cap is dropped as it passes it, once, not when it ends: a server may
 * never end it. Only a line ended counts as a sign of life. */
static void
test_endless_line (gconstpointer user_data)
{
  VpushPushFormat format = GPOINTER_TO_INT (user_data);
  gboolean sse = format == VPUSH_PUSH_FORMAT_SSE;
  const gchar *start = sse ? "data: " : "{\"message\":\"";
  const gchar *good = sse ? "data: ok\n\n" : "{\"event\":\"message\",\"id\":\"ok\"}\n";
  g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (VpushPushParser) parser = vpush_push_parser_new (format, collect, events);

  g_assert_false (vpush_push_parser_feed (parser, (const guint8 *)start, strlen (start)));
  feed_filler (parser, 'x', VPUSH_PUSH_EVENT_MAX - strlen (start));
  g_assert_cmpuint (events->len, ==, 0);
  feed_filler (parser, 'x', 1);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, "dropped type=message id=- data=");
  feed_filler (parser, 'x', 3 * VPUSH_PUSH_EVENT_MAX);
  g_assert_cmpuint (events->len, ==, 1);

  /* the end of the line is a sign of life, and no second drop */
  g_assert_true (vpush_push_parser_feed (parser, (const guint8 *)"\n", 1));
  g_assert_cmpuint (events->len, ==, 1);
  if (sse)
    {
      /* another such line in the same event is dropped as it passes the cap too */
      g_assert_false (vpush_push_parser_feed (parser, (const guint8 *)start, strlen (start)));
      feed_filler (parser, 'x', VPUSH_PUSH_EVENT_MAX);
      g_assert_cmpuint (events->len, ==, 2);
      /* a comment that long holds no hint: a keepalive once it ends */
      g_assert_true (vpush_push_parser_feed (parser, (const guint8 *)"\n:", 2));
      feed_filler (parser, 'x', VPUSH_PUSH_EVENT_MAX + 1);
      g_assert_cmpuint (events->len, ==, 2);
      g_assert_true (vpush_push_parser_feed (parser, (const guint8 *)"\n\n", 2));
      g_assert_cmpuint (events->len, ==, 3);
      g_assert_cmpstr (g_ptr_array_index (events, 2), ==, "keepalive type=comment id=- data=");
    }
  g_assert_true (vpush_push_parser_feed (parser, (const guint8 *)good, strlen (good)));
  g_assert_cmpuint (events->len, ==, sse ? 4 : 2);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (events, events->len - 1), "message"));
}

/* ntfy JSON lines */

static void
test_ntfy_basic (void)
{
  g_autofree gchar *last_id = NULL;
  g_autoptr (GPtrArray) events = NULL;
  gboolean since = FALSE;
  static const gchar input[]
      = "{\"id\":\"o1\",\"time\":1,\"event\":\"open\",\"topic\":\"t\"}\n"
        "{\"id\":\"m1\",\"time\":2,\"event\":\"message\",\"topic\":\"t\",\"message\":\"hi\"}\r\n"
        "\n   \n"
        "{\"id\":\"k1\",\"time\":3,\"event\":\"keepalive\",\"topic\":\"t\"}\r"
        "{\"challenge_sid\":\"" YC "\"}\n";

  CHECK_SPLITS (
      VPUSH_PUSH_FORMAT_NTFY, input,
      "open type=open id=o1 data={\"id\":\"o1\",\"time\":1,\"event\":\"open\",\"topic\":\"t\"}",
      "message type=message id=m1 "
      "data={\"id\":\"m1\",\"time\":2,\"event\":\"message\",\"topic\":\"t\",\"message\":"
      "\"hi\"}",
      "keepalive type=keepalive id=k1 "
      "data={\"id\":\"k1\",\"time\":3,\"event\":\"keepalive\",\"topic\":\"t\"}",
      "message type=message id=- data={\"challenge_sid\":\"" YC "\"}");
  events = parse (VPUSH_PUSH_FORMAT_NTFY, input, sizeof input - 1, 0, &last_id, &since, NULL);
  /* open and keepalive ids are not resumable */
  g_assert_cmpstr (last_id, ==, "m1");
  g_assert_true (since);
}

static void
test_ntfy_bom_and_partial (void)
{
  CHECK_SPLITS (VPUSH_PUSH_FORMAT_NTFY,
                "\xEF\xBB\xBF{\"event\":\"keepalive\"}\n{\"event\":\"message\",\"id\":\"partial\"",
                "keepalive type=keepalive id=- data={\"event\":\"keepalive\"}");
}

static void
test_ntfy_malformed (void)
{
  static const gchar input[] = "not json\n"
                               "[1,2]\n"
                               "{\"event\":\n"
                               "{\"event\":\"message\",\"id\":\"a\0b\"}\n"
                               "{\"event\":\"message\",\"id\":\"\xff\"}\n"
                               "{\"event\":5,\"id\":7}\n"
                               "{\"event\":\"poll_request\",\"id\":\"p1\"}\n";

  CHECK_SPLITS (VPUSH_PUSH_FORMAT_NTFY, input, "dropped type=message id=- data=",
                "dropped type=message id=- data=", "dropped type=message id=- data=",
                "dropped type=message id=- data=", "dropped type=message id=- data=",
                "message type=message id=- data={\"event\":5,\"id\":7}",
                "message type=poll_request id=p1 data={\"event\":\"poll_request\",\"id\":\"p1\"}");
}

/* A line nested past any push server's JSON is dropped without json-glib's recursion
 * (60000 levels fit in a line, and nearly took vpushd's stack); one at the limit is read. */
static void
test_ntfy_deep (void)
{
  g_autofree gchar *deep = repeat ('[', 60000);
  g_autofree gchar *line = g_strconcat (deep, "\n", NULL);
  g_autoptr (GString) at_limit = g_string_new ("{\"event\":\"message\",\"id\":\"d1\",\"x\":");
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) read = NULL;

  events = parse (VPUSH_PUSH_FORMAT_NTFY, line, strlen (line), 0, NULL, NULL, NULL);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, "dropped type=message id=- data=");
  g_clear_pointer (&events, g_ptr_array_unref);
  /* nor behind json-glib's own extensions */
  g_free (line);
  line = g_strconcat ("['\"', ", deep, "\n/*\"*/", deep, "\n", NULL);
  events = parse (VPUSH_PUSH_FORMAT_NTFY, line, strlen (line), 0, NULL, NULL, NULL);
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (events, 1), ==, "dropped type=message id=- data=");

  /* the object is one level, 31 more below it */
  for (guint i = 0; i < 31; i++)
    g_string_append_c (at_limit, '[');
  for (guint i = 0; i < 31; i++)
    g_string_append_c (at_limit, ']');
  g_string_append (at_limit, "}\n");
  read = parse (VPUSH_PUSH_FORMAT_NTFY, at_limit->str, at_limit->len, 0, NULL, NULL, NULL);
  g_assert_cmpuint (read->len, ==, 1);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (read, 0), "message type=message id=d1"));
}

static void
test_ntfy_oversized (void)
{
  g_autofree gchar *big = repeat ('z', VPUSH_PUSH_EVENT_MAX + 10);
  g_autofree gchar *input = g_strdup_printf (
      "{\"event\":\"message\",\"message\":\"%s\"}\n{\"event\":\"keepalive\"}\n", big);

  for (gsize chunk = 0; chunk < 3; chunk++)
    {
      const gchar *const expected[]
          = { "dropped type=message id=- data=",
              "keepalive type=keepalive id=- data={\"event\":\"keepalive\"}", NULL };
      g_autoptr (GPtrArray) events
          = parse (VPUSH_PUSH_FORMAT_NTFY, input, strlen (input), chunk * 777, NULL, NULL, NULL);

      assert_events (events, expected);
    }
}

/* Hints */

static void
assert_hint (const gchar *data, const gchar *challenge_sid, const gchar *factor_sid)
{
  g_autofree gchar *c = NULL;
  g_autofree gchar *f = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (vpush_push_hint_parse (data, strlen (data), &c, &f, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c, ==, challenge_sid);
  g_assert_cmpstr (f, ==, factor_sid);
}

/* len -1: data is a string */
static void
assert_no_hint (const gchar *data, gssize len)
{
  g_autofree gchar *c = NULL;
  g_autoptr (GError) error = NULL;

  if (len < 0)
    len = strlen (data);
  g_assert_false (vpush_push_hint_parse (data, len, &c, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  /* it may end up in a log or a D-Bus error */
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_null (c);
}

/* A whole ntfy message as ntfy sends it, with the extras a publisher may add, and a
 * poll_request (no hint in it: the caller polls). */
static void
test_ntfy_full_message (void)
{
  g_autofree gchar *challenge_sid = NULL;
  g_autofree gchar *factor_sid = NULL;
  g_autoptr (GError) error = NULL;
  static const gchar line[]
      = "{\"id\":\"sPs71M8A2T\",\"time\":1643935928,\"expires\":1643936928,"
        "\"event\":\"message\",\"topic\":\"t\",\"priority\":5,\"tags\":[\"warning\"],"
        "\"click\":\"https://example.com\",\"title\":\"Sign in\","
        "\"attachment\":{\"name\":\"a.jpg\",\"type\":\"image/jpeg\",\"size\":1,"
        "\"expires\":1643946728,\"url\":\"https://ntfy.sh/file/a.jpg\"},"
        "\"message\":\"{\\\"type\\\":\\\"verify_push_challenge\\\","
        "\\\"challenge_sid\\\":\\\"" YC "\\\",\\\"factor_sid\\\":\\\"" YF "\\\"}\"}";
  static const gchar poll_request[] = "{\"id\":\"p1\",\"time\":1,\"event\":\"poll_request\","
                                      "\"topic\":\"t\",\"message\":\"New message\","
                                      "\"poll_id\":\"m1\"}";

  g_assert_true (
      vpush_push_hint_parse (line, sizeof line - 1, &challenge_sid, &factor_sid, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (challenge_sid, ==, YC);
  g_assert_cmpstr (factor_sid, ==, YF);
  g_clear_pointer (&challenge_sid, g_free);
  g_assert_false (
      vpush_push_hint_parse (poll_request, sizeof poll_request - 1, &challenge_sid, NULL, NULL));
}

static void
test_hint (void)
{
  static const gchar nul[] = "{\"challenge_sid\":\"" YC "\"}\0";

  assert_hint ("{\"type\":\"verify_push_challenge\",\"challenge_sid\":\"" YC
               "\",\"factor_sid\":\"" YF "\",\"message\":\"ignored\"}",
               YC, YF);
  assert_hint ("{\"challenge_sid\":\"" YC "\"}", YC, NULL);
  /* inside an ntfy message (the JSON line or ntfy's SSE data) */
  assert_hint ("{\"id\":\"m1\",\"event\":\"message\",\"message\":\"{\\\"challenge_sid\\\":\\\"" YC
               "\\\",\\\"factor_sid\\\":\\\"" YF "\\\"}\"}",
               YC, YF);

  assert_no_hint ("", 0);
  assert_no_hint ("hello", -1);
  assert_no_hint ("[]", -1);
  assert_no_hint ("{}", -1);
  assert_no_hint (nul, sizeof nul - 1);
  assert_no_hint ("{\"challenge_sid\":\"\xff\"}", -1);
  assert_no_hint ("{\"challenge_sid\":\"YC123\"}", -1);
  assert_no_hint ("{\"challenge_sid\":\"" YF "\"}", -1);
  assert_no_hint ("{\"challenge_sid\":7}", -1);
  assert_no_hint ("{\"type\":\"other\",\"challenge_sid\":\"" YC "\"}", -1);
  assert_no_hint ("{\"challenge_sid\":\"" YC "\",\"factor_sid\":\"YFxyz\"}", -1);
  /* a factor_sid that is no string is as malformed as a bad one, not an absent one */
  assert_no_hint ("{\"challenge_sid\":\"" YC "\",\"factor_sid\":123}", -1);
  assert_no_hint ("{\"challenge_sid\":\"" YC "\",\"factor_sid\":null}", -1);
  assert_no_hint ("{\"challenge_sid\":\"" YC "\",\"factor_sid\":[\"" YF "\"]}", -1);
  assert_no_hint ("{\"event\":\"message\",\"message\":\"hello\"}", -1);
  assert_no_hint ("{\"event\":\"message\",\"message\":\"{}\"}", -1);
  /* valid UTF-8 that json-glib's error message cuts in the middle of a character */
  assert_no_hint (
      "{\"type\": \"verify_pu0123456789abcdef01\xef\xbb\xbfid: 8i1sJVzpLby6\n{\"t\": \"x\"}", -1);
}

/* An ntfy message object whose message is text and encoding is encoding (NULL: none) */
static gchar *
ntfy_message (const gchar *text, const gchar *encoding)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, "m1");
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, "message");
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, text);
  if (encoding != NULL)
    {
      json_builder_set_member_name (builder, "encoding");
      json_builder_add_string_value (builder, encoding);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* A message ntfy sent base64-encoded (a body that was not UTF-8 text) is decoded and read
 * as the plain message is; what does not decode, or decodes to no hint, is no hint. */
static void
test_ntfy_base64 (void)
{
  static const gchar hint[] = "{\"challenge_sid\":\"" YC "\",\"factor_sid\":\"" YF "\"}";
  static const gchar with_nul[] = "{\"challenge_sid\":\"" YC "\"}\0";
  static const gchar not_utf8[] = "{\"challenge_sid\":\"\xff\"}";
  g_autofree gchar *b64 = g_base64_encode ((const guchar *)hint, strlen (hint));
  g_autofree gchar *b64_nul = g_base64_encode ((const guchar *)with_nul, sizeof with_nul - 1);
  g_autofree gchar *b64_not_utf8 = g_base64_encode ((const guchar *)not_utf8, strlen (not_utf8));
  g_autofree gchar *b64_empty = g_base64_encode ((const guchar *)"{}", 2);
  g_autofree gchar *unpadded = g_strndup (b64, strlen (b64) - 1);
  g_autofree gchar *inner_junk = g_strdup (b64);
  g_autofree gchar *good = ntfy_message (b64, "base64");
  g_autofree gchar *text = ntfy_message (hint, "");
  const gchar *bad_messages[]
      = { unpadded, inner_junk, "", "=", "QQ=A", b64_nul, b64_not_utf8, b64_empty, hint };

  g_assert_true (g_str_has_suffix (b64, "="));
  inner_junk[4] = '*';
  assert_hint (good, YC, YF);
  assert_hint (text, YC, YF);
  for (guint i = 0; i < G_N_ELEMENTS (bad_messages); i++)
    {
      g_autofree gchar *bad = ntfy_message (bad_messages[i], "base64");

      g_test_message ("%s", bad);
      assert_no_hint (bad, -1);
    }
  /* an encoding vpushd does not know, or base64 text that does not say so */
  {
    g_autofree gchar *gzip = ntfy_message (b64, "gzip");
    g_autofree gchar *unsaid = ntfy_message (b64, NULL);
    g_autofree gchar *number
        = g_strdup_printf ("{\"event\":\"message\",\"message\":\"%s\",\"encoding\":5}", b64);

    assert_no_hint (gzip, -1);
    assert_no_hint (unsaid, -1);
    assert_no_hint (number, -1);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/push-parser/sse/basic", test_sse_basic);
  g_test_add_func ("/push-parser/sse/line-endings", test_sse_line_endings);
  g_test_add_func ("/push-parser/sse/bom", test_sse_bom);
  g_test_add_func ("/push-parser/sse/fields", test_sse_fields);
  g_test_add_func ("/push-parser/sse/id-with-nul", test_sse_id_with_nul);
  g_test_add_func ("/push-parser/sse/id-at-dispatch", test_sse_id_at_dispatch);
  g_test_add_func ("/push-parser/sse/id-persists", test_sse_id_persists);
  g_test_add_func ("/push-parser/sse/ntfy-ids", test_sse_ntfy_ids);
  g_test_add_func ("/push-parser/sse/oversized", test_sse_oversized);
  g_test_add_data_func ("/push-parser/sse/endless-line", GINT_TO_POINTER (VPUSH_PUSH_FORMAT_SSE),
                        test_endless_line);
  g_test_add_func ("/push-parser/ntfy/basic", test_ntfy_basic);
  g_test_add_func ("/push-parser/ntfy/bom-and-partial", test_ntfy_bom_and_partial);
  g_test_add_func ("/push-parser/ntfy/malformed", test_ntfy_malformed);
  g_test_add_func ("/push-parser/ntfy/deep", test_ntfy_deep);
  g_test_add_func ("/push-parser/ntfy/oversized", test_ntfy_oversized);
  g_test_add_data_func ("/push-parser/ntfy/endless-line", GINT_TO_POINTER (VPUSH_PUSH_FORMAT_NTFY),
                        test_endless_line);
  g_test_add_func ("/push-parser/hint", test_hint);
  g_test_add_func ("/push-parser/ntfy/full-message", test_ntfy_full_message);
  g_test_add_func ("/push-parser/ntfy/base64", test_ntfy_base64);
  return g_test_run ();
}
