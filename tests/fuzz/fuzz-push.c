/* The push stream parser (SSE or ntfy JSON lines, FUZZ_PUSH_FORMAT) and the hints it
 * carries. The input is fed whole, in pseudo-random chunks and (up to 4 KiB) byte by byte:
 * the events, the resume id and the retry must not depend on how the stream was split.
 *
 * An input that starts with 0xff stands for the rest repeated up to REPEAT_TO bytes, so
 * that the fuzzer reaches the VPUSH_PUSH_EVENT_MAX limits with small inputs. */
/* for memmem() */
#define _GNU_SOURCE

#include "fuzz-common.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-factor-record.h"
#include "vpush-push-parser.h"

#define REPEAT_MARK 0xff
#define REPEAT_TO   (VPUSH_PUSH_EVENT_MAX + 4096)

#ifndef FUZZ_PUSH_FORMAT
#error "FUZZ_PUSH_FORMAT must be VPUSH_PUSH_FORMAT_SSE or VPUSH_PUSH_FORMAT_NTFY"
#endif

typedef struct
{
  VpushPushEventKind kind;
  gchar *type;
  GBytes *data;
  gchar *id;
} Event;

typedef struct
{
  VpushPushParser *parser;
  GArray *events;    /* Event */
  gboolean thorough; /* parse what events carry: once is enough, the runs must agree */
} Run;

static void
event_clear (gpointer data)
{
  Event *event = data;

  g_free (event->type);
  g_bytes_unref (event->data);
  g_free (event->id);
}

/* An ntfy message object with a text body, given instead with its body in base64 (what
 * ntfy does with a body that is not UTF-8): the same hint, or NULL when data is not such an
 * object. */
static gchar *
as_base64_message (const gchar *data, gsize len)
{
  g_autoptr (JsonNode) root = fuzz_parse_json ((const uint8_t *)data, len);
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) built = NULL;
  g_autofree gchar *encoded = NULL;
  JsonObject *object;
  JsonNode *message;

  /* what json-glib reads but vpushd does not (bytes that are not UTF-8) stays out */
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) || memchr (data, '\0', len) != NULL
      || !g_utf8_validate (data, (gssize)len, NULL))
    return NULL;
  object = json_node_get_object (root);
  message = json_object_get_member (object, "message");
  if (json_object_has_member (object, "challenge_sid")
      || json_object_has_member (object, "encoding") || message == NULL
      || !JSON_NODE_HOLDS_VALUE (message) || json_node_get_value_type (message) != G_TYPE_STRING)
    return NULL;
  encoded = g_base64_encode ((const guchar *)json_node_get_string (message),
                             strlen (json_node_get_string (message)));
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "encoding");
  json_builder_add_string_value (builder, "base64");
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, encoded);
  json_builder_end_object (builder);
  built = json_builder_get_root (builder);
  json_generator_set_root (generator, built);
  return json_generator_to_data (generator, NULL);
}

static void
check_hint (const gchar *data, gsize len)
{
  g_autofree gchar *challenge_sid = NULL;
  g_autofree gchar *factor_sid = NULL;
  g_autofree gchar *challenge_sid_2 = NULL;
  g_autofree gchar *base64 = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok = vpush_push_hint_parse (data, len, &challenge_sid, &factor_sid, &error);

  if (ok)
    {
      FUZZ_CHECK (error == NULL);
      FUZZ_CHECK (vpush_sid_is_valid (challenge_sid, "YC"));
      FUZZ_CHECK (factor_sid == NULL || vpush_sid_is_valid (factor_sid, "YF"));
    }
  else
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      FUZZ_CHECK (challenge_sid == NULL && factor_sid == NULL);
    }
  /* not asking for the factor changes nothing else */
  FUZZ_CHECK (vpush_push_hint_parse (data, len, &challenge_sid_2, NULL, NULL) == ok);
  FUZZ_CHECK (g_strcmp0 (challenge_sid, challenge_sid_2) == 0);

  /* a body in base64 is the same body */
  base64 = as_base64_message (data, len);
  if (base64 != NULL)
    {
      g_autofree gchar *challenge_sid_3 = NULL;
      g_autofree gchar *factor_sid_3 = NULL;

      FUZZ_CHECK_MSG (
          vpush_push_hint_parse (base64, strlen (base64), &challenge_sid_3, &factor_sid_3, NULL)
              == ok,
          base64);
      FUZZ_CHECK (g_strcmp0 (challenge_sid, challenge_sid_3) == 0);
      FUZZ_CHECK (g_strcmp0 (factor_sid, factor_sid_3) == 0);
    }
}

static void
on_event (const VpushPushEvent *event, gpointer user_data)
{
  Run *run = user_data;
  Event copy = { 0 };
  gboolean since = FALSE;
  const gchar *last_id = vpush_push_parser_get_last_id (run->parser, &since);

  FUZZ_CHECK (event->type != NULL);
  FUZZ_CHECK (event->data != NULL && event->data[event->data_len] == '\0');
  switch (event->kind)
    {
    case VPUSH_PUSH_EVENT_MESSAGE:
      FUZZ_CHECK (!g_str_equal (event->type, "open") && !g_str_equal (event->type, "keepalive"));
      if (run->thorough)
        check_hint (event->data, event->data_len);
      break;
    case VPUSH_PUSH_EVENT_OPEN:
      FUZZ_CHECK (g_str_equal (event->type, "open"));
      break;
    case VPUSH_PUSH_EVENT_KEEPALIVE:
      FUZZ_CHECK (g_str_equal (event->type, "keepalive") || g_str_equal (event->type, "comment"));
      break;
    case VPUSH_PUSH_EVENT_DROPPED:
      FUZZ_CHECK (event->data_len == 0);
      break;
    default:
      FUZZ_CHECK (!"a known event kind");
    }

  if (FUZZ_PUSH_FORMAT == VPUSH_PUSH_FORMAT_SSE)
    {
      FUZZ_CHECK (event->data_len < VPUSH_PUSH_EVENT_MAX);
      FUZZ_CHECK (g_strcmp0 (event->id, last_id) == 0);
    }
  else
    {
      FUZZ_CHECK (event->data_len <= VPUSH_PUSH_EVENT_MAX);
      /* a line that made it through is one JSON object */
      if (event->kind != VPUSH_PUSH_EVENT_DROPPED && run->thorough)
        {
          g_autoptr (JsonNode) node
              = fuzz_parse_json ((const uint8_t *)event->data, event->data_len);

          FUZZ_CHECK (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
          FUZZ_CHECK (memchr (event->data, '\n', event->data_len) == NULL);
          FUZZ_CHECK (memchr (event->data, '\r', event->data_len) == NULL);
        }
    }

  copy.kind = event->kind;
  copy.type = g_strdup (event->type);
  copy.data = g_bytes_new (event->data, event->data_len);
  copy.id = g_strdup (event->id);
  g_array_append_val (run->events, copy);
}

/* Feeds data in pieces of fixed_chunk bytes (0: of random sizes) and returns what came
 * out. */
static Run *
run_new (const uint8_t *data, size_t size, GRand *rand, gsize fixed_chunk, gboolean thorough)
{
  Run *run = g_new0 (Run, 1);
  gsize offset = 0;

  run->thorough = thorough;
  run->events = g_array_new (FALSE, TRUE, sizeof (Event));
  g_array_set_clear_func (run->events, event_clear);
  run->parser = vpush_push_parser_new (FUZZ_PUSH_FORMAT, on_event, run);
  while (offset < size)
    {
      gsize n = fixed_chunk;

      if (n == 0)
        n = g_rand_int_range (rand, 0, 8) == 0 ? (gsize)g_rand_int_range (rand, 1, 4096)
                                               : (gsize)g_rand_int_range (rand, 1, 9);
      n = MIN (n, size - offset);
      vpush_push_parser_feed (run->parser, data + offset, n);
      offset += n;
    }
  /* an empty feed is no event */
  vpush_push_parser_feed (run->parser, data, 0);
  return run;
}

static void
run_free (Run *run)
{
  vpush_push_parser_free (run->parser);
  g_array_unref (run->events);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Run, run_free)

static void
check_same (Run *a, Run *b)
{
  gboolean since_a = FALSE;
  gboolean since_b = FALSE;
  const gchar *id_a = vpush_push_parser_get_last_id (a->parser, &since_a);
  const gchar *id_b = vpush_push_parser_get_last_id (b->parser, &since_b);

  FUZZ_CHECK (a->events->len == b->events->len);
  for (guint i = 0; i < a->events->len; i++)
    {
      Event *x = &g_array_index (a->events, Event, i);
      Event *y = &g_array_index (b->events, Event, i);

      FUZZ_CHECK (x->kind == y->kind);
      FUZZ_CHECK (g_str_equal (x->type, y->type));
      FUZZ_CHECK (g_bytes_equal (x->data, y->data));
      FUZZ_CHECK (g_strcmp0 (x->id, y->id) == 0);
    }
  FUZZ_CHECK (g_strcmp0 (id_a, id_b) == 0);
  FUZZ_CHECK (since_a == since_b);
  FUZZ_CHECK (vpush_push_parser_get_retry (a->parser) == vpush_push_parser_get_retry (b->parser));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GRand) rand = NULL;
  g_autoptr (Run) whole = NULL;
  g_autoptr (Run) chunked = NULL;
  g_autoptr (Run) bytes = NULL;
  g_autoptr (GByteArray) repeated = NULL;
  guint32 seed = 2166136261u;
  gboolean since = FALSE;
  const gchar *last_id;

  fuzz_init ();
  if (size > 1 && data[0] == REPEAT_MARK)
    {
      repeated = g_byte_array_sized_new (REPEAT_TO + size);
      while (repeated->len < REPEAT_TO)
        g_byte_array_append (repeated, data + 1, (guint)(size - 1));
      data = repeated->data;
      size = repeated->len;
    }

  /* the split depends on the input only, so that a crash replays */
  for (size_t i = 0; i < size; i++)
    seed = (seed ^ data[i]) * 16777619u;
  rand = g_rand_new_with_seed (seed);

  whole = run_new (data, size, rand, size > 0 ? size : 1, TRUE);
  chunked = run_new (data, size, rand, 0, FALSE);
  check_same (whole, chunked);
  /* byte by byte too, unless that is slow (a repeated input) */
  if (size <= 4096)
    {
      bytes = run_new (data, size, rand, 1, FALSE);
      check_same (whole, bytes);
    }

  FUZZ_CHECK (vpush_push_parser_get_retry (whole->parser) >= -1);
  /* only an SSE retry field sets it: never an ntfy line, nor a retry inside data */
  if (FUZZ_PUSH_FORMAT == VPUSH_PUSH_FORMAT_NTFY || memmem (data, size, "retry:", 6) == NULL)
    FUZZ_CHECK (vpush_push_parser_get_retry (whole->parser) == -1);
  last_id = vpush_push_parser_get_last_id (whole->parser, &since);
  if (last_id != NULL)
    {
      FUZZ_CHECK (*last_id != '\0');
      /* Last-Event-ID goes into a request header */
      if (!since)
        FUZZ_CHECK (strpbrk (last_id, "\r\n") == NULL);
    }

  /* the hint reader on its own, on the whole input */
  check_hint ((const gchar *)data, size);
  return 0;
}
