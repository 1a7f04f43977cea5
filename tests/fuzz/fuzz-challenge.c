/* vpush_challenge_new_from_json(): one challenge object of a GET or list response. */
#include "fuzz-common.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-challenge.h"
#include "vpush-factor-record.h"
#include "vpush-time.h"

static const gchar *
member_string (JsonObject *object, const gchar *key)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, key) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonObject *
member_object (JsonObject *object, const gchar *key)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, key) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static void
check_time (JsonObject *object, const gchar *key, gint64 value)
{
  gint64 expected = 0;

  FUZZ_CHECK (vpush_time_parse (member_string (object, key), &expected, NULL));
  FUZZ_CHECK (value == expected);
}

/* What vpushd exports on the bus must be UTF-8, or GVariant refuses it. */
static void
check_text (const gchar *text)
{
  FUZZ_CHECK (text == NULL || g_utf8_validate (text, -1, NULL));
}

static void
check_challenge (VpushChallenge *challenge, JsonNode *root)
{
  JsonObject *object = json_node_get_object (root);
  JsonObject *details = member_object (object, "details");
  JsonObject *hidden = member_object (object, "hidden_details");
  JsonNode *fields_node = details ? json_object_get_member (details, "fields") : NULL;
  gboolean has_details;
  guint n_fields = 0;
  GVariantIter iter;
  const gchar *label;
  const gchar *value;
  guint i = 0;

  FUZZ_CHECK (challenge->ref_count == 1);
  FUZZ_CHECK (vpush_sid_is_valid (challenge->sid, "YC"));
  FUZZ_CHECK (vpush_sid_is_valid (challenge->factor_sid, "YF"));
  FUZZ_CHECK (g_str_equal (challenge->sid, member_string (object, "sid")));
  FUZZ_CHECK (g_str_equal (challenge->factor_sid, member_string (object, "factor_sid")));
  FUZZ_CHECK (
      g_str_equal (challenge->status, "pending") || g_str_equal (challenge->status, "approved")
      || g_str_equal (challenge->status, "denied") || g_str_equal (challenge->status, "expired"));
  FUZZ_CHECK (g_str_equal (challenge->status, member_string (object, "status")));
  check_time (object, "date_created", challenge->created_at);
  check_time (object, "expiration_date", challenge->expires_at);

  FUZZ_CHECK (challenge->message != NULL);
  FUZZ_CHECK (g_str_equal (challenge->message, member_string (details, "message") != NULL
                                                   ? member_string (details, "message")
                                                   : ""));
  check_text (challenge->message);
  check_text (challenge->responded_reason);
  FUZZ_CHECK (g_strcmp0 (challenge->responded_reason, member_string (object, "responded_reason"))
              == 0);
  FUZZ_CHECK (challenge->signature_fields == NULL);

  /* details.fields, in order */
  FUZZ_CHECK (challenge->fields != NULL);
  FUZZ_CHECK (g_variant_is_of_type (challenge->fields, G_VARIANT_TYPE ("a(ss)")));
  if (fields_node != NULL && JSON_NODE_HOLDS_ARRAY (fields_node))
    n_fields = json_array_get_length (json_node_get_array (fields_node));
  FUZZ_CHECK (g_variant_n_children (challenge->fields) == n_fields);
  g_variant_iter_init (&iter, challenge->fields);
  while (g_variant_iter_next (&iter, "(&s&s)", &label, &value))
    {
      JsonObject *item = json_array_get_object_element (json_node_get_array (fields_node), i++);

      FUZZ_CHECK (g_str_equal (label, member_string (item, "label")));
      FUZZ_CHECK (g_str_equal (value, member_string (item, "value")));
      check_text (label);
      check_text (value);
    }

  /* hidden_details: exactly the members that are UTF-8 strings */
  FUZZ_CHECK ((challenge->hidden_details == NULL) == (hidden == NULL));
  if (hidden != NULL)
    {
      JsonObjectIter members;
      const gchar *key;
      JsonNode *node;

      json_object_iter_init (&members, hidden);
      while (json_object_iter_next (&members, &key, &node))
        {
          const gchar *kept = vpush_challenge_get_hidden (challenge, key);

          if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
              && g_utf8_validate (json_node_get_string (node), -1, NULL))
            FUZZ_CHECK (kept != NULL && g_str_equal (kept, json_node_get_string (node)));
          else
            FUZZ_CHECK (kept == NULL);
          check_text (kept);
        }
      FUZZ_CHECK (g_strv_length (challenge->hidden_details) % 2 == 0);
      FUZZ_CHECK (g_strv_length (challenge->hidden_details) / 2 <= json_object_get_size (hidden));
    }

  /* what an answer signs: every listed member, verbatim, and a copy of it */
  has_details = json_object_has_member (object, "details");
  vpush_challenge_set_signature_fields (challenge, root, "sid,details,hidden_details,fuzz-added");
  FUZZ_CHECK (challenge->answer_body == NULL);
  FUZZ_CHECK (challenge->answer_error != NULL);
  vpush_challenge_set_signature_fields (challenge, root, "sid,details,status");
  FUZZ_CHECK ((challenge->answer_body == NULL) == (challenge->answer_error != NULL));
  if (!has_details)
    {
      FUZZ_CHECK (challenge->answer_body == NULL);
      return;
    }
  /* json-glib 1.6 takes some bad escapes ("\2…", lone surrogates) into strings that are not
   * UTF-8: nothing is signed then */
  if (challenge->answer_body == NULL)
    {
      FUZZ_CHECK (g_error_matches (challenge->answer_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
      FUZZ_CHECK (strstr (challenge->answer_error->message, "UTF-8") != NULL);
      return;
    }
  json_object_set_boolean_member (object, "fuzz-added", TRUE);
  if (details != NULL)
    json_object_set_boolean_member (details, "fuzz-added", TRUE);
  {
    g_autofree gchar *payload = vpush_answer_body_payload (challenge->answer_body, "denied");
    g_autoptr (JsonNode) kept = json_from_string (payload, NULL);
    JsonObject *members;

    FUZZ_CHECK (kept != NULL && JSON_NODE_HOLDS_OBJECT (kept));
    members = json_node_get_object (kept);
    FUZZ_CHECK (json_object_get_size (members) == 3);
    FUZZ_CHECK (json_object_has_member (members, "sid"));
    FUZZ_CHECK (g_strcmp0 (member_string (members, "status"), "denied") == 0);
    FUZZ_CHECK (!json_object_has_member (members, "fuzz-added"));
    if (details != NULL)
      FUZZ_CHECK (!json_object_has_member (member_object (members, "details"), "fuzz-added"));
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autoptr (GError) error = NULL;

  fuzz_init ();
  root = fuzz_parse_json (data, size);
  challenge = vpush_challenge_new_from_json (root, &error);
  if (challenge == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  check_challenge (challenge, root);
  /* a second reference outlives nothing */
  vpush_challenge_unref (vpush_challenge_ref (challenge));
  return 0;
}
