/* Unit tests for mapping a Verify challenge object field by field. */
#include <gio/gio.h>
#include <string.h>

#include "vpush-challenge.h"
#include "vpush-factor-record.h"
#include "vpush-log.h"
#include "vpush-time.h"

#define CHALLENGE_SID "YC0123456789abcdef0123456789ABCDEF"
#define FACTOR_SID    "YF0123456789abcdef0123456789abcdef"

/* A full challenge; each test replaces one member through a "%s" slot. */
static JsonNode *
challenge_node (const gchar *key, const gchar *value_json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *object;

  json_parser_load_from_data (parser,
                              "{"
                              "\"sid\": \"" CHALLENGE_SID "\","
                              "\"account_sid\": \"AC0123456789abcdef0123456789abcdef\","
                              "\"factor_sid\": \"" FACTOR_SID "\","
                              "\"date_created\": \"2024-01-02T03:04:05Z\","
                              "\"date_updated\": \"2024-01-02T03:04:05Z\","
                              "\"expiration_date\": \"2024-01-02T03:09:05Z\","
                              "\"status\": \"pending\","
                              "\"responded_reason\": null,"
                              "\"details\": {\"message\": \"Log in?\", \"date\": null,"
                              "  \"fields\": [{\"label\": \"Amount\", \"value\": \"5 EUR\"},"
                              "               {\"label\": \"Shop\", \"value\": \"Example\"}]},"
                              "\"hidden_details\": {\"transaction_id\": \"t-1\", \"n\": 7},"
                              "\"metadata\": null"
                              "}",
                              -1, &error);
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));

  if (key != NULL && value_json == NULL)
    json_object_remove_member (object, key);
  else if (key != NULL)
    {
      g_autoptr (JsonNode) value = json_from_string (value_json, &error);

      g_assert_no_error (error);
      json_object_set_member (object, key, g_steal_pointer (&value));
    }
  return json_node_ref (json_parser_get_root (parser));
}

static VpushChallenge *
map (const gchar *key, const gchar *value_json, GError **error)
{
  g_autoptr (JsonNode) node = challenge_node (key, value_json);

  return vpush_challenge_new_from_json (node, error);
}

static void
assert_rejected (const gchar *key, const gchar *value_json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = map (key, value_json, &error);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (challenge);
  if (key != NULL)
    g_assert_nonnull (strstr (error->message, key));
}

static void
test_good (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = challenge_node (NULL, NULL);
  g_autoptr (VpushChallenge) challenge = vpush_challenge_new_from_json (node, &error);
  g_autoptr (JsonNode) signed_body = NULL;
  g_autofree gchar *payload = NULL;
  JsonObject *signed_object;
  const gchar *label;
  const gchar *value;

  g_assert_no_error (error);
  g_assert_cmpstr (challenge->sid, ==, CHALLENGE_SID);
  g_assert_cmpstr (challenge->factor_sid, ==, FACTOR_SID);
  g_assert_cmpstr (challenge->status, ==, "pending");
  g_assert_cmpstr (challenge->message, ==, "Log in?");
  g_assert_cmpint (challenge->created_at, ==, 1704164645);
  g_assert_cmpint (challenge->expires_at, ==, 1704164645 + 300);
  g_assert_null (challenge->responded_reason);
  g_assert_null (challenge->signature_fields);

  g_assert_true (g_variant_is_of_type (challenge->fields, G_VARIANT_TYPE ("a(ss)")));
  g_assert_cmpuint (g_variant_n_children (challenge->fields), ==, 2);
  g_variant_get_child (challenge->fields, 1, "(&s&s)", &label, &value);
  g_assert_cmpstr (label, ==, "Shop");
  g_assert_cmpstr (value, ==, "Example");

  /* only the string values of hidden_details survive */
  g_assert_cmpstr (vpush_challenge_get_hidden (challenge, "transaction_id"), ==, "t-1");
  g_assert_null (vpush_challenge_get_hidden (challenge, "n"));
  g_assert_null (vpush_challenge_get_hidden (challenge, "missing"));
  g_assert_cmpuint (g_strv_length (challenge->hidden_details), ==, 2);

  /* what an answer signs: the listed members, verbatim, and a copy; a listed member the
   * body lacks makes it an error */
  vpush_challenge_set_signature_fields (challenge, node, "sid, details,status,,no_such_field");
  g_assert_cmpstr (challenge->signature_fields, ==, "sid, details,status,,no_such_field");
  g_assert_null (challenge->answer_body);
  g_assert_error (challenge->answer_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (challenge->answer_error->message, "no_such_field"));

  vpush_challenge_set_signature_fields (challenge, node, "sid, details,status,,sid");
  g_assert_no_error (challenge->answer_error);
  json_object_set_string_member (json_node_get_object (node), "status", "denied");
  payload = vpush_answer_body_payload (challenge->answer_body, "approved");
  signed_body = json_from_string (payload, &error);
  g_assert_no_error (error);
  signed_object = json_node_get_object (signed_body);
  g_assert_cmpuint (json_object_get_size (signed_object), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (signed_object, "sid"), ==, CHALLENGE_SID);
  g_assert_cmpstr (json_object_get_string_member (signed_object, "status"), ==, "approved");
  g_assert_true (json_node_equal (json_object_get_member (signed_object, "details"),
                                  json_object_get_member (json_node_get_object (node), "details")));
  /* the very text JsonGenerator writes for that object: status in its listed place */
  {
    g_autoptr (JsonObject) expected = json_object_new ();
    g_autoptr (JsonNode) root = NULL;
    g_autofree gchar *text = NULL;

    json_object_set_string_member (expected, "sid", CHALLENGE_SID);
    json_object_set_member (
        expected, "details",
        json_node_copy (json_object_get_member (json_node_get_object (node), "details")));
    json_object_set_string_member (expected, "status", "approved");
    root = json_node_init_object (json_node_alloc (), expected);
    text = json_to_string (root, FALSE);
    g_assert_cmpstr (payload, ==, text);
  }
}

static void
test_refcount (void)
{
  g_autoptr (GError) error = NULL;
  VpushChallenge *challenge = map (NULL, NULL, &error);
  VpushChallenge *other;

  g_assert_no_error (error);
  g_assert_cmpint (challenge->ref_count, ==, 1);
  other = vpush_challenge_ref (challenge);
  g_assert_true (other == challenge);
  g_assert_cmpint (challenge->ref_count, ==, 2);
  vpush_challenge_unref (other);
  g_assert_cmpint (challenge->ref_count, ==, 1);
  vpush_challenge_unref (challenge);
}

static void
test_statuses (void)
{
  const gchar *good[] = { "\"pending\"", "\"approved\"", "\"denied\"", "\"expired\"" };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushChallenge) challenge = map ("status", good[i], &error);

      g_assert_no_error (error);
      g_assert_nonnull (challenge);
    }
  assert_rejected ("status", "\"unknown\"");
  assert_rejected ("status", "\"Pending\"");
  assert_rejected ("status", "1");
  assert_rejected ("status", "null");
  assert_rejected ("status", NULL);
}

static void
test_sids (void)
{
  assert_rejected ("sid", NULL);
  assert_rejected ("sid", "null");
  assert_rejected ("sid", "42");
  assert_rejected ("sid", "\"" FACTOR_SID "\"");                      /* wrong prefix */
  assert_rejected ("sid", "\"YC0123456789abcdef0123456789abcde\"");   /* 31 digits */
  assert_rejected ("sid", "\"YC0123456789abcdef0123456789abcdef0\""); /* 33 digits */
  assert_rejected ("sid", "\"YC0123456789abcdef0123456789abcdeg\"");  /* not hex */
  assert_rejected ("sid", "\"yc0123456789abcdef0123456789abcdef\"");  /* lower prefix */
  assert_rejected ("sid", "\"YC0123456789abcdef0123456789abc/ef\"");
  assert_rejected ("factor_sid", NULL);
  assert_rejected ("factor_sid", "\"" CHALLENGE_SID "\"");
  assert_rejected ("factor_sid", "\"YF0123\"");
  assert_rejected ("factor_sid", "{}");
}

/* A value from the network quoted in a message is cut to VPUSH_LOG_EXCERPT_CHARS
 * characters: a server sending a megabyte where a sid or a date belongs would have each
 * poll log it again. */
static void
test_quoted_values_are_cut (void)
{
  static const gchar *const keys[] = { "sid", "status", "date_created" };
  g_autofree gchar *long_text = g_strnfill (100000, 'Z');
  g_autofree gchar *json = g_strdup_printf ("\"%s\"", long_text);
  g_autofree gchar *kept = g_strnfill (VPUSH_LOG_EXCERPT_CHARS, 'Z');
  g_autofree gchar *cut = g_strconcat ("“", kept, "…”", NULL);
  g_autofree gchar *wide = NULL;
  g_autofree gchar *wide_cut = NULL;
  g_autofree gchar *short_one = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushChallenge) challenge = map (keys[i], json, &error);

      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (challenge);
      g_assert_true (g_str_has_suffix (error->message, cut));
      g_assert_cmpuint (strlen (error->message), <, 200);
    }

  /* whole characters, valid UTF-8, however many bytes each has; short ones whole */
  wide = g_strnfill (1000, 'x');
  for (guint i = 0; i < 200; i++)
    memcpy (wide + i * 4, "\xf0\x9f\x94\x91", 4); /* U+1F511, 4 bytes */
  wide[800] = '\0';
  wide_cut = vpush_log_excerpt (wide);
  g_assert_true (g_utf8_validate (wide_cut, -1, NULL));
  g_assert_cmpuint (g_utf8_strlen (wide_cut, -1), ==, VPUSH_LOG_EXCERPT_CHARS + 1);
  g_assert_true (g_str_has_suffix (wide_cut, "\xf0\x9f\x94\x91…"));
  short_one = vpush_log_excerpt ("2024-01-02 \xff");
  g_assert_cmpstr (short_one, ==, "2024-01-02 \xef\xbf\xbd");
}

static void
test_dates (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;

  assert_rejected ("date_created", NULL);
  assert_rejected ("date_created", "null");
  assert_rejected ("date_created", "1704164645");
  assert_rejected ("date_created", "\"yesterday\"");
  assert_rejected ("date_created", "\"2024-01-02\"");
  assert_rejected ("expiration_date", NULL);
  assert_rejected ("expiration_date", "\"2024-13-02T03:04:05Z\"");
  /* the SDKs require date_updated (protocol doc §3.5), though nothing uses it */
  assert_rejected ("date_updated", NULL);
  assert_rejected ("date_updated", "null");
  assert_rejected ("date_updated", "\"2024-01-02 03:04:05\"");

  /* an offset is RFC 3339 too */
  challenge = map ("expiration_date", "\"2024-01-02T04:09:05+01:00\"", &error);
  g_assert_no_error (error);
  g_assert_cmpint (challenge->expires_at, ==, 1704164645 + 300);
}

static void
test_details (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) no_fields = NULL;
  g_autoptr (VpushChallenge) empty_message = NULL;

  no_fields = map ("details", "{\"message\": \"m\", \"fields\": null}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (no_fields->message, ==, "m");
  g_assert_cmpuint (g_variant_n_children (no_fields->fields), ==, 0);

  empty_message = map ("details", "{\"message\": \"\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (empty_message->message, ==, "");
  g_assert_cmpuint (g_variant_n_children (empty_message->fields), ==, 0);

  /* the SDKs require details and its message (protocol doc §3.5) */
  assert_rejected ("details", NULL);
  assert_rejected ("details", "null");
  assert_rejected ("details", "{}");
  assert_rejected ("details", "{\"message\": null, \"fields\": []}");
  assert_rejected ("details", "\"a string\"");
  assert_rejected ("details", "[]");
  assert_rejected ("details", "{\"message\": 5}");
  assert_rejected ("details", "{\"message\": \"m\", \"fields\": {}}");
  assert_rejected ("details", "{\"message\": \"m\", \"fields\": [\"x\"]}");
  assert_rejected ("details", "{\"message\": \"m\", \"fields\": [{\"label\": \"a\"}]}");
  assert_rejected ("details",
                   "{\"message\": \"m\", \"fields\": [{\"label\": \"a\", \"value\": 7}]}");
  assert_rejected ("details",
                   "{\"message\": \"m\", \"fields\": [{\"label\": null, \"value\": \"v\"}]}");
}

/* A challenge larger than the API lets a backend make (protocol doc §12, with twice the
 * room) is not the API's: refused, so that a server can't fill vpushd with such. */
static void
test_size_bounds (void)
{
  g_autofree gchar *message_512 = g_strnfill (512, 'm');
  g_autofree gchar *label_72 = g_strnfill (72, 'l');
  g_autofree gchar *value_256 = g_strnfill (256, 'v');
  g_autofree gchar *hidden_2048 = g_strnfill (2048 - strlen ("transaction_id"), 't');
  g_autoptr (GString) fields_40 = g_string_new ("[");
  g_autofree gchar *text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) at_bounds = NULL;

  for (guint i = 0; i < 40; i++)
    g_string_append_printf (fields_40, "%s{\"label\": \"%s\", \"value\": \"%s\"}",
                            i == 0 ? "" : ", ", label_72, value_256);
  g_string_append (fields_40, "]");

  /* at each bound (characters, not bytes: "é" is two) */
  text = g_strdup_printf ("{\"message\": \"%s\", \"fields\": %s}", message_512, fields_40->str);
  at_bounds = map ("details", text, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (at_bounds->fields), ==, 40);
  g_clear_pointer (&at_bounds, vpush_challenge_unref);
  g_free (text);
  text = g_strdup_printf ("{\"transaction_id\": \"%s\", \"n\": 7}", hidden_2048);
  at_bounds = map ("hidden_details", text, &error);
  g_assert_no_error (error);
  g_clear_pointer (&at_bounds, vpush_challenge_unref);
  g_free (text);
  {
    g_autoptr (GString) wide = g_string_new (NULL);

    for (guint i = 0; i < 512; i++)
      g_string_append (wide, "é");
    text = g_strdup_printf ("{\"message\": \"%s\"}", wide->str);
  }
  at_bounds = map ("details", text, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_utf8_strlen (at_bounds->message, -1), ==, 512);

  /* one beyond each */
  g_free (text);
  text = g_strdup_printf ("{\"message\": \"%sm\"}", message_512);
  assert_rejected ("details", text);
  g_free (text);
  g_string_truncate (fields_40, fields_40->len - 1);
  text = g_strdup_printf ("{\"message\": \"m\", \"fields\": %s, {\"label\": \"a\", "
                          "\"value\": \"b\"}]}",
                          fields_40->str);
  assert_rejected ("details", text);
  g_free (text);
  text = g_strdup_printf ("{\"message\": \"m\", \"fields\": [{\"label\": \"%sl\", "
                          "\"value\": \"v\"}]}",
                          label_72);
  assert_rejected ("details", text);
  g_free (text);
  text = g_strdup_printf ("{\"message\": \"m\", \"fields\": [{\"label\": \"l\", "
                          "\"value\": \"%sv\"}]}",
                          value_256);
  assert_rejected ("details", text);
  g_free (text);
  text = g_strdup_printf ("{\"transaction_id\": \"%st\"}", hidden_2048);
  assert_rejected ("hidden_details", text);
  g_free (text);
  text = g_strdup_printf ("\"%sm\"", message_512);
  assert_rejected ("responded_reason", text);

  /* the fields to sign may name a member nothing else bounds: such a text is not kept */
  {
    g_autofree gchar *big = g_strnfill (70 * 1024, 'x');
    g_autofree gchar *metadata = g_strdup_printf ("{\"os\": \"%s\"}", big);
    g_autoptr (JsonNode) node = challenge_node ("metadata", metadata);
    g_autoptr (VpushChallenge) c = vpush_challenge_new_from_json (node, &error);

    g_assert_no_error (error);
    vpush_challenge_set_signature_fields (c, node, "sid,status");
    g_assert_nonnull (c->answer_body);
    g_assert_null (c->answer_error);
    vpush_challenge_set_signature_fields (c, node, "sid,metadata,status");
    g_assert_null (c->answer_body);
    g_assert_error (c->answer_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  }
}

static void
test_hidden_details (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) null_hidden = map ("hidden_details", "null", &error);
  g_autoptr (VpushChallenge) no_hidden = NULL;
  g_autoptr (VpushChallenge) several = NULL;

  g_assert_no_error (error);
  g_assert_null (null_hidden->hidden_details);
  g_assert_null (vpush_challenge_get_hidden (null_hidden, "transaction_id"));

  no_hidden = map ("hidden_details", NULL, &error);
  g_assert_no_error (error);
  g_assert_null (no_hidden->hidden_details);

  /* any member, not only the first; a value is no key */
  several = map ("hidden_details", "{\"a\": \"1\", \"n\": 2, \"transaction_id\": \"t-9\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (vpush_challenge_get_hidden (several, "transaction_id"), ==, "t-9");
  g_assert_cmpstr (vpush_challenge_get_hidden (several, "a"), ==, "1");
  g_assert_null (vpush_challenge_get_hidden (several, "n"));
  g_assert_null (vpush_challenge_get_hidden (several, "1"));
  g_assert_null (vpush_challenge_get_hidden (several, "t-9"));

  /* the API documents "stringified JSON", but returns an object: a string is refused */
  assert_rejected ("hidden_details", "\"{\\\"transaction_id\\\": \\\"t-1\\\"}\"");
  assert_rejected ("hidden_details", "[]");
  assert_rejected ("hidden_details", "3");
}

static void
test_other_members (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) with_metadata = map ("metadata", "{\"os\": \"linux\"}", &error);
  g_autoptr (VpushChallenge) responded = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (with_metadata);
  /* never looked at: whatever its type, it does not make the challenge unreadable */
  for (guint i = 0; i < 3; i++)
    {
      const gchar *odd[] = { "\"os\"", "[1]", "7" };
      g_autoptr (VpushChallenge) c = map ("metadata", odd[i], &error);

      g_assert_no_error (error);
      g_assert_nonnull (c);
    }

  responded = map ("responded_reason", "\"not_needed\"", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (responded->responded_reason, ==, "not_needed");
  assert_rejected ("responded_reason", "1");
}

static void
test_not_an_object (void)
{
  const gchar *bad[] = { "[]", "\"YC\"", "null", "12" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = json_from_string (bad[i], &error);
      g_autoptr (VpushChallenge) challenge = NULL;

      g_assert_no_error (error);
      challenge = vpush_challenge_new_from_json (node, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (challenge);
    }
}

/* ---- factor records ---- */

static void
test_sid_is_valid (void)
{
  g_assert_true (vpush_sid_is_valid (FACTOR_SID, "YF"));
  g_assert_true (vpush_sid_is_valid ("YFABCDEF0123456789abcdef0123456789", "YF"));
  g_assert_false (vpush_sid_is_valid (FACTOR_SID, "YC"));
  g_assert_false (vpush_sid_is_valid ("YF0123456789abcdef0123456789abcde", "YF"));
  g_assert_false (vpush_sid_is_valid ("YF0123456789abcdef0123456789abcdef0", "YF"));
  g_assert_false (vpush_sid_is_valid ("YF0123456789abcdef0123456789abcdeZ", "YF"));
  g_assert_false (vpush_sid_is_valid ("YF 123456789abcdef0123456789abcdef", "YF"));
  g_assert_false (vpush_sid_is_valid ("yf0123456789abcdef0123456789abcdef", "YF"));
  g_assert_false (vpush_sid_is_valid ("", "YF"));
  g_assert_false (vpush_sid_is_valid (NULL, "YF"));
}

static VpushFactorRecord *
full_record (void)
{
  VpushFactorRecord *record = vpush_factor_record_new ();

  record->sid = g_strdup (FACTOR_SID);
  record->friendly_name = g_strdup ("Kiosk \"7\"");
  record->service_sid = g_strdup ("VA0123456789abcdef0123456789abcdef");
  record->identity = g_strdup ("ff483d1ff591898a9942916050d2ca3f");
  record->account_sid = g_strdup ("AC0123456789abcdef0123456789abcdef");
  record->entity_sid = g_strdup ("YE0123456789abcdef0123456789abcdef");
  record->credential_sid = g_strdup ("CR0123456789abcdef0123456789abcdef");
  record->status = g_strdup ("verified");
  record->created_at = g_strdup ("2024-01-02T03:04:05Z");
  record->push_url = g_strdup ("https://ntfy.example/topic/json");
  record->metadata = g_strdup ("{\"os\":\"linux\"}");
  return record;
}

static void
assert_records_equal (const VpushFactorRecord *a, const VpushFactorRecord *b)
{
  g_assert_cmpstr (a->sid, ==, b->sid);
  g_assert_cmpstr (a->friendly_name, ==, b->friendly_name);
  g_assert_cmpstr (a->service_sid, ==, b->service_sid);
  g_assert_cmpstr (a->identity, ==, b->identity);
  g_assert_cmpstr (a->account_sid, ==, b->account_sid);
  g_assert_cmpstr (a->entity_sid, ==, b->entity_sid);
  g_assert_cmpstr (a->credential_sid, ==, b->credential_sid);
  g_assert_cmpstr (a->status, ==, b->status);
  g_assert_cmpstr (a->created_at, ==, b->created_at);
  g_assert_cmpstr (a->push_url, ==, b->push_url);
  g_assert_cmpstr (a->metadata, ==, b->metadata);
}

static void
test_record_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = full_record ();
  g_autoptr (VpushFactorRecord) copy = vpush_factor_record_copy (record);
  g_autoptr (VpushFactorRecord) back = NULL;
  g_autoptr (VpushFactorRecord) minimal_back = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonNode) minimal = NULL;
  g_autofree gchar *text = NULL;

  assert_records_equal (record, copy);
  g_assert_true (record->sid != copy->sid);

  node = vpush_factor_record_to_json (record);
  back = vpush_factor_record_new_from_json (node, &error);
  g_assert_no_error (error);
  assert_records_equal (record, back);

  /* nullable members are left out, and read back as NULL */
  g_clear_pointer (&copy->entity_sid, g_free);
  g_clear_pointer (&copy->push_url, g_free);
  g_clear_pointer (&copy->metadata, g_free);
  minimal = vpush_factor_record_to_json (copy);
  text = json_to_string (minimal, FALSE);
  g_assert_null (strstr (text, "entity_sid"));
  g_assert_null (strstr (text, "push_url"));
  g_assert_null (strstr (text, "metadata"));
  minimal_back = vpush_factor_record_new_from_json (minimal, &error);
  g_assert_no_error (error);
  assert_records_equal (copy, minimal_back);
}

static void
test_record_rejected (void)
{
  const gchar *const cases[][2] = {
    { "sid", NULL },
    { "sid", "\"YC0123456789abcdef0123456789abcdef\"" },
    { "service_sid", "\"VA12\"" },
    { "account_sid", "7" },
    { "entity_sid", "\"nope\"" },
    { "identity", "\"\"" },
    { "credential_sid", NULL },
    { "friendly_name", "null" },
    { "status", "\"pending\"" },
    { "created_at", "\"last week\"" },
    { "push_url", "[]" },
    { "metadata", "{}" },
    /* each member a record must have, missing */
    { "friendly_name", NULL },
    { "service_sid", NULL },
    { "identity", NULL },
    { "account_sid", NULL },
    { "status", NULL },
    { "created_at", NULL },
  };
  g_autoptr (VpushFactorRecord) record = full_record ();
  g_autoptr (JsonNode) array = json_from_string ("[]", NULL);
  g_autoptr (GError) array_error = NULL;
  g_autoptr (VpushFactorRecord) from_array = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonNode) node = vpush_factor_record_to_json (record);
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushFactorRecord) back = NULL;
      JsonObject *object = json_node_get_object (node);

      if (cases[i][1] == NULL)
        json_object_remove_member (object, cases[i][0]);
      else
        json_object_set_member (object, cases[i][0], json_from_string (cases[i][1], NULL));
      back = vpush_factor_record_new_from_json (node, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (back);
      g_test_message ("%s: %s", cases[i][0], error->message);
      g_assert_nonnull (strstr (error->message, cases[i][0]));
    }

  from_array = vpush_factor_record_new_from_json (array, &array_error);
  g_assert_error (array_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (from_array);
}

/* vpush_time_format() writes the text itself: what GDateTime's "%Y-%m-%dT%H:%M:%SZ" gives with
 * the year in four digits (RFC 3339), over the whole range GDateTime takes, and
 * vpush_time_parse() reads it back to the second */
/* The API's clock as a copy knows it: Date has whole seconds, so the API's clock may read
 * up to a second more than it said, and the time since counts in full seconds up */
static void
test_api_clock (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = map (NULL, NULL, &error);
  const gint64 date = 1800000000;

  g_assert_no_error (error);
  /* no Date: the machine's clock */
  g_assert_cmpint (vpush_challenge_now (challenge, date - 300), ==, date - 300);

  /* Date said D half a second ago: the API's clock reads less than D + 2 */
  challenge->api_date = date;
  challenge->api_date_boot = vpush_time_boot_us () - G_USEC_PER_SEC / 2;
  g_assert_cmpint (vpush_challenge_now (challenge, date - 300), >=, date + 2);
  g_assert_cmpint (vpush_challenge_now (challenge, date - 300), <=, date + 3);
  /* a machine clock ahead of it wins */
  g_assert_cmpint (vpush_challenge_now (challenge, date + 60), ==, date + 60);
}

static void
test_time_format (void)
{
  static const gint64 samples[]
      = { -62135596800, -1, 0, 59, 86399, 951782400, 1700000000, 253402300799 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);

  for (guint i = 0; i < G_N_ELEMENTS (samples) + 2000; i++)
    {
      gint64 t = i < G_N_ELEMENTS (samples)
                     ? samples[i]
                     : (gint64)g_rand_double_range (rand, -62135596800.0, 253402300799.0);
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
      g_autofree gchar *rest = g_date_time_format (dt, "-%m-%dT%H:%M:%SZ");
      g_autofree gchar *expected = g_strdup_printf ("%04d%s", g_date_time_get_year (dt), rest);
      g_autofree gchar *text = vpush_time_format (t);
      gint64 back = 0;

      g_assert_cmpstr (text, ==, expected);
      g_assert_true (vpush_time_parse (text, &back, NULL));
      g_assert_cmpint (back, ==, t);
    }
  /* outside GDateTime's range: the epoch, rather than nothing */
  {
    g_autofree gchar *text = vpush_time_format (G_MAXINT64);

    g_assert_cmpstr (text, ==, "1970-01-01T00:00:00Z");
  }
}

/* vpush_time_parse() takes RFC 3339 date-times (§5.6), what the OpenAPI document's
 * date-time format means, and nothing else */
static void
test_time_parse (void)
{
  static const struct
  {
    const gchar *text;
    gint64 unix_seconds;
  } good[] = {
    { "2024-01-02T03:04:05Z", 1704164645 },
    { "2024-01-02t03:04:05z", 1704164645 },
    { "2024-01-02T05:04:05.250+02:00", 1704164645 },
    { "2024-01-02T00:04:05.123456789-03:00", 1704164645 },
    /* time-secfrac has no bound */
    { "2024-01-02T03:04:05.99999999999999999999999999999Z", 1704164645 },
    { "2024-01-02T03:04:05.00000000000000000000000000001Z", 1704164645 },
  };
  static const gchar *const bad[] = {
    "2024-01-02 03:04:05Z",  /* ISO 8601's space */
    "2024-01-02T03:04Z",     /* no seconds */
    "2024-01-02T03:04:05",   /* no offset */
    "2024-01-02T03:04:05.Z", /* a point without digits */
    "2024-01-02T03:04:05+0200",  "20240102T030405Z",          "2024-W01-2T03:04:05Z",
    "2024-01-02T03:04:05Z ",     "2024-13-02T03:04:05Z", /* ranges are still checked */
    "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+01:60", "",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      gint64 t = 0;

      g_test_message ("%s", good[i].text);
      g_assert_true (vpush_time_parse (good[i].text, &t, NULL));
      g_assert_cmpint (t, ==, good[i].unix_seconds);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      gint64 t = 0;

      g_test_message ("%s", bad[i]);
      g_assert_false (vpush_time_parse (bad[i], &t, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/challenge/good", test_good);
  g_test_add_func ("/challenge/refcount", test_refcount);
  g_test_add_func ("/challenge/statuses", test_statuses);
  g_test_add_func ("/challenge/sids", test_sids);
  g_test_add_func ("/challenge/dates", test_dates);
  g_test_add_func ("/challenge/quoted-values-are-cut", test_quoted_values_are_cut);
  g_test_add_func ("/challenge/details", test_details);
  g_test_add_func ("/challenge/hidden-details", test_hidden_details);
  g_test_add_func ("/challenge/size-bounds", test_size_bounds);
  g_test_add_func ("/challenge/other-members", test_other_members);
  g_test_add_func ("/challenge/not-an-object", test_not_an_object);
  g_test_add_func ("/challenge/api-clock", test_api_clock);
  g_test_add_func ("/challenge/time-format", test_time_format);
  g_test_add_func ("/challenge/time-parse", test_time_parse);
  g_test_add_func ("/factor-record/sid-is-valid", test_sid_is_valid);
  g_test_add_func ("/factor-record/round-trip", test_record_round_trip);
  g_test_add_func ("/factor-record/rejected", test_record_rejected);

  return g_test_run ();
}
