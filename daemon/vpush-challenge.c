#include "vpush-challenge.h"

#include <gio/gio.h>

#include "vpush-factor-record.h"
#include "vpush-log.h"
#include "vpush-time.h"

static void
challenge_free (VpushChallenge *challenge)
{
  g_free (challenge->sid);
  g_free (challenge->factor_sid);
  g_free (challenge->status);
  g_free (challenge->message);
  g_clear_pointer (&challenge->fields, g_variant_unref);
  g_free (challenge->responded_reason);
  g_strfreev (challenge->hidden_details);
  g_free (challenge->signature_fields);
  g_clear_pointer (&challenge->answer_body, vpush_answer_body_free);
  g_clear_error (&challenge->answer_error);
  g_free (challenge);
}

VpushChallenge *
vpush_challenge_ref (VpushChallenge *challenge)
{
  g_return_val_if_fail (challenge != NULL, NULL);
  g_return_val_if_fail (challenge->ref_count > 0, NULL);

  g_atomic_int_inc (&challenge->ref_count);
  return challenge;
}

void
vpush_challenge_unref (VpushChallenge *challenge)
{
  g_return_if_fail (challenge != NULL);
  g_return_if_fail (challenge->ref_count > 0);

  if (g_atomic_int_dec_and_test (&challenge->ref_count))
    challenge_free (challenge);
}

/* json-glib lets escapes such as \udc00 through as bytes that are not UTF-8: what can't go
 * out on the bus does not count as a string. */
static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         && g_utf8_validate (json_node_get_string (node), -1, NULL);
}

/* object[key] as a string; absent or null is an error when required, else NULL. */
static gboolean
get_string (JsonObject *object, const gchar *what, const gchar *key, gboolean required,
            const gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: “%s” is missing", what, key);
      return FALSE;
    }
  if (!node_is_string (node))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: “%s” is not a string", what,
                   key);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

/* object[key] as an object; absent and null give NULL, or an error when required. */
static gboolean
get_object (JsonObject *object, const gchar *key, gboolean required, JsonObject **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "challenge: “%s” is missing", key);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "challenge: “%s” is not an object",
                   key);
      return FALSE;
    }
  *out = json_node_get_object (node);
  return TRUE;
}

static gboolean
get_sid (JsonObject *object, const gchar *key, const gchar *prefix, const gchar **out,
         GError **error)
{
  if (!get_string (object, "challenge", key, TRUE, out, error))
    return FALSE;
  if (!vpush_sid_is_valid (*out, prefix))
    {
      g_autofree gchar *quoted = vpush_log_excerpt (*out);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "challenge: “%s” is not a %s… sid: “%s”", key, prefix, quoted);
      return FALSE;
    }
  return TRUE;
}

static gboolean
get_time (JsonObject *object, const gchar *key, gint64 *out, GError **error)
{
  const gchar *text;

  if (!get_string (object, "challenge", key, TRUE, &text, error))
    return FALSE;
  if (!vpush_time_parse (text, out, error))
    {
      g_prefix_error (error, "challenge: “%s”: ", key);
      return FALSE;
    }
  return TRUE;
}

/* What the API lets a backend put in a challenge (protocol doc §12: a message of up to 256
 * characters, up to 20 fields of a label up to 36 and a value up to 128, hidden details up
 * to 1024), with twice the room for the API's own way of counting: a challenge beyond it
 * is not the API's, and a server sending such challenges would fill vpushd's memory and
 * the bus's replies with them. */
#define MESSAGE_MAX_CHARS 512
#define FIELDS_MAX        40
#define LABEL_MAX_CHARS   72
#define VALUE_MAX_CHARS   256
#define HIDDEN_MAX_CHARS  2048
/* the text an answer signs: the members above as JSON, and the API's own, with room */
#define ANSWER_BODY_MAX (64 * 1024)

static gboolean
check_length (const gchar *what, const gchar *text, glong max, GError **error)
{
  glong n = text != NULL ? g_utf8_strlen (text, -1) : 0;

  if (n <= max)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "challenge: %s of %ld characters, more than the API allows", what, n);
  return FALSE;
}

/* details.fields → a(ss); absent or null is an empty list. */
static GVariant *
parse_fields (JsonObject *details, GError **error)
{
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(ss)"));
  JsonNode *node = json_object_get_member (details, "fields");
  JsonArray *array;

  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_ARRAY (node))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "challenge: details.fields is not an array");
          return NULL;
        }
      array = json_node_get_array (node);
      if (json_array_get_length (array) > FIELDS_MAX)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "challenge: details.fields has %u items, more than the API allows",
                       json_array_get_length (array));
          return NULL;
        }
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);
          const gchar *label;
          const gchar *value;

          if (!JSON_NODE_HOLDS_OBJECT (item))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "challenge: details.fields[%u] is not an object", i);
              return NULL;
            }
          if (!get_string (json_node_get_object (item), "challenge details.fields[]", "label", TRUE,
                           &label, error)
              || !get_string (json_node_get_object (item), "challenge details.fields[]", "value",
                              TRUE, &value, error)
              || !check_length ("a details.fields label", label, LABEL_MAX_CHARS, error)
              || !check_length ("a details.fields value", value, VALUE_MAX_CHARS, error))
            return NULL;
          g_variant_builder_add (&builder, "(ss)", label, value);
        }
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* Only string values of hidden_details are meaningful (the API defines it so); the rest is
 * dropped rather than guessed at. Kept as key, value, key, value…: a JsonObject of one
 * member costs half a kilobyte, for each of possibly a thousand pending challenges. */
static gchar **
copy_string_members (JsonObject *object)
{
  GPtrArray *copy = g_ptr_array_new ();
  JsonObjectIter iter;
  const gchar *key;
  JsonNode *value;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, &value))
    if (node_is_string (value))
      {
        g_ptr_array_add (copy, g_strdup (key));
        g_ptr_array_add (copy, g_strdup (json_node_get_string (value)));
      }
  g_ptr_array_add (copy, NULL);
  return (gchar **)g_ptr_array_free (copy, FALSE);
}

VpushChallenge *
vpush_challenge_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (VpushChallenge) challenge = NULL;
  JsonObject *object;
  JsonObject *details;
  JsonObject *hidden;
  const gchar *sid;
  const gchar *factor_sid;
  const gchar *status;
  const gchar *message = NULL;
  const gchar *reason;
  gint64 created_at;
  gint64 updated_at;
  gint64 expires_at;
  g_autoptr (GVariant) fields = NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "challenge is not a JSON object");
      return NULL;
    }
  object = json_node_get_object (node);

  if (!get_sid (object, "sid", "YC", &sid, error)
      || !get_sid (object, "factor_sid", "YF", &factor_sid, error)
      || !get_string (object, "challenge", "status", TRUE, &status, error))
    return NULL;
  if (!g_str_equal (status, "pending") && !g_str_equal (status, "approved")
      && !g_str_equal (status, "denied") && !g_str_equal (status, "expired"))
    {
      g_autofree gchar *quoted = vpush_log_excerpt (status);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "challenge: unknown status “%s”",
                   quoted);
      return NULL;
    }
  /* what the SDKs require of a challenge (protocol doc §3.5), date_updated and
   * details.message included, though vpushd uses neither for its decisions: a challenge the
   * SDKs would refuse is not one vpushd answers */
  if (!get_time (object, "date_created", &created_at, error)
      || !get_time (object, "date_updated", &updated_at, error)
      || !get_time (object, "expiration_date", &expires_at, error)
      || !get_string (object, "challenge", "responded_reason", FALSE, &reason, error)
      || !check_length ("a responded_reason", reason, MESSAGE_MAX_CHARS, error)
      || !get_object (object, "details", TRUE, &details, error)
      || !get_string (details, "challenge details", "message", TRUE, &message, error)
      || !check_length ("a details.message", message, MESSAGE_MAX_CHARS, error)
      || !get_object (object, "hidden_details", FALSE, &hidden, error))
    return NULL;
  /* metadata (set by a device SDK) is not looked at, so any type of it is let through */
  fields = parse_fields (details, error);
  if (fields == NULL)
    return NULL;

  challenge = g_new0 (VpushChallenge, 1);
  challenge->ref_count = 1;
  challenge->sid = g_strdup (sid);
  challenge->factor_sid = g_strdup (factor_sid);
  challenge->status = g_strdup (status);
  challenge->message = g_strdup (message);
  challenge->fields = g_steal_pointer (&fields);
  challenge->created_at = created_at;
  challenge->expires_at = expires_at;
  challenge->responded_reason = g_strdup (reason);
  challenge->hidden_details = hidden != NULL ? copy_string_members (hidden) : NULL;
  if (challenge->hidden_details != NULL)
    {
      glong n = 0;

      for (gchar **text = challenge->hidden_details; *text != NULL; text++)
        n += g_utf8_strlen (*text, -1);
      if (n > HIDDEN_MAX_CHARS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "challenge: hidden_details of %ld characters, more than the API allows", n);
          return NULL;
        }
    }
  return g_steal_pointer (&challenge);
}

void
vpush_challenge_set_signature_fields (VpushChallenge *challenge, JsonNode *node,
                                      const gchar *signature_fields)
{
  g_return_if_fail (challenge != NULL);
  g_return_if_fail (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
  g_return_if_fail (signature_fields != NULL);

  g_free (challenge->signature_fields);
  challenge->signature_fields = g_strdup (signature_fields);
  g_clear_pointer (&challenge->answer_body, vpush_answer_body_free);
  g_clear_error (&challenge->answer_error);
  challenge->answer_body = vpush_jwt_answer_body_new (json_node_get_object (node), signature_fields,
                                                      &challenge->answer_error);
  /* the fields to sign may name members nothing else bounds (metadata): a text beyond what
   * the API's bounded members make is not kept for each pending challenge */
  if (challenge->answer_body != NULL
      && vpush_answer_body_get_length (challenge->answer_body) > ANSWER_BODY_MAX)
    {
      g_clear_pointer (&challenge->answer_body, vpush_answer_body_free);
      challenge->answer_error = g_error_new (
          G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
          "challenge %s: the fields to sign are larger than the API makes them", challenge->sid);
    }
}

const gchar *
vpush_challenge_get_hidden (VpushChallenge *challenge, const gchar *key)
{
  g_return_val_if_fail (challenge != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  if (challenge->hidden_details == NULL)
    return NULL;
  /* JSON object keys are unique once parsed: the first match is the one */
  for (gchar **pair = challenge->hidden_details; pair[0] != NULL; pair += 2)
    if (g_str_equal (pair[0], key))
      return pair[1];
  return NULL;
}

gint64
vpush_challenge_now (VpushChallenge *challenge, gint64 local_now)
{
  gint64 since;

  g_return_val_if_fail (challenge != NULL, local_now);

  /* Only a 401 corrects the machine's clock, and one behind the API's by less than a
   * JWT's lifetime gets none: by it alone a challenge looks younger than it is, and
   * still live after it expired. */
  if (challenge->api_date <= 0)
    return local_now;
  /* the latest the API's clock can read now: Date drops the fraction of its second, and
   * the time since is rounded up, so a challenge is never taken for younger or still live
   * when the API has it older or expired */
  /* on the boot clock: a suspend since is time the API's clock went on through */
  since = (vpush_time_boot_us () - challenge->api_date_boot + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  return MAX (local_now, challenge->api_date + 1 + since);
}
