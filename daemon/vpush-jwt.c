/* The two JWTs a push factor mints (protocol doc §5A and §5C). */
#include "vpush-jwt.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-json-write.h"

/* The text of segment, base64url-encoded */
static gchar *
encode_text (GString *segment)
{
  return vpush_base64url_encode ((const guint8 *)segment->str, segment->len);
}

/* A string member's value as JsonGenerator writes it. A sid needs no escape and is written
 * as it is: a generator per value was most of the work of a device JWT but its signature. */
static void
append_string (GString *out, const gchar *value)
{
  g_autoptr (JsonNode) node = NULL;

  for (const guchar *p = (const guchar *)value; *p != '\0'; p++)
    {
      if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
        {
          node = json_node_init_string (json_node_alloc (), value);
          vpush_json_write (out, node, FALSE);
          return;
        }
    }
  g_string_append_c (out, '"');
  g_string_append (out, value);
  g_string_append_c (out, '"');
}

/* Compact JWS: b64url(header) "." b64url(payload) "." b64url(r‖s). The signature is the
 * one part of a device JWT that can't be guessed, and that JWT is a bearer credential for
 * minutes: the copy of it here is wiped as the caller's of the whole JWT are. */
static gchar *
sign_encoded (VpushKey *key, const gchar *header_b64, const gchar *payload_b64, GError **error)
{
  g_autofree gchar *signing_input = g_strconcat (header_b64, ".", payload_b64, NULL);
  gchar *sig_b64 = vpush_key_sign_jws (key, signing_input, error);
  gchar *jwt;

  if (sig_b64 == NULL)
    return NULL;
  jwt = g_strconcat (signing_input, ".", sig_b64, NULL);
  vpush_secure_free (sig_b64, strlen (sig_b64));
  return jwt;
}

static gboolean
status_is_plain (const gchar *status)
{
  if (*status == '\0')
    return FALSE;
  for (const gchar *p = status; *p != '\0'; p++)
    if (!g_ascii_islower (*p))
      return FALSE;
  return TRUE;
}

gchar *
vpush_jwt_device_auth (VpushKey *key, const gchar *credential_sid, const gchar *account_sid,
                       gint64 now, GError **error)
{
  g_autoptr (GString) header = NULL;
  g_autoptr (GString) payload = NULL;
  g_autofree gchar *header_b64 = NULL;
  g_autofree gchar *payload_b64 = NULL;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (credential_sid != NULL, NULL);
  g_return_val_if_fail (account_sid != NULL, NULL);

  if (*credential_sid == '\0' || *account_sid == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Device auth JWT needs a credential sid and an account sid");
      return NULL;
    }

  /* the objects as JsonGenerator writes them, members in this order and no spaces */
  header = g_string_new ("{\"cty\":\"twilio-pba;v=1\",\"kid\":");
  append_string (header, credential_sid);
  g_string_append (header, ",\"typ\":\"JWT\",\"alg\":\"ES256\"}");
  payload = g_string_new ("{\"sub\":");
  append_string (payload, account_sid);
  g_string_append_printf (payload, ",\"nbf\":%" G_GINT64_FORMAT ",\"exp\":%" G_GINT64_FORMAT "}",
                          now, now + VPUSH_JWT_DEVICE_LIFETIME_S);

  header_b64 = encode_text (header);
  payload_b64 = encode_text (payload);
  return sign_encoded (key, header_b64, payload_b64, error);
}

struct _VpushAnswerBody
{
  gchar *text;      /* the payload object's JSON text, status as fetched if it was listed */
  gsize status_at;  /* where the listed status member's value is in text, else 0 */
  gsize status_end; /* and where it ends */
};

gsize
vpush_answer_body_get_length (const VpushAnswerBody *body)
{
  g_return_val_if_fail (body != NULL, 0);

  return strlen (body->text);
}

void
vpush_answer_body_free (VpushAnswerBody *body)
{
  if (body == NULL)
    return;
  g_free (body->text);
  g_free (body);
}

/* The members of `part` as json-glib writes them inside an object, appended to text after a
 * comma if text holds members already. */
static void
append_members (GString *text, JsonObject *part)
{
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GString) written = NULL;

  if (json_object_get_size (part) == 0)
    return;
  node = json_node_init_object (json_node_alloc (), part);
  written = g_string_new (NULL);
  vpush_json_write (written, node, FALSE);
  if (text->len > 1)
    g_string_append_c (text, ',');
  /* without its braces */
  g_string_append_len (text, written->str + 1, (gssize)written->len - 2);
}

/* The payload is written as two objects, the members before the status and those after it,
 * with the status between them: its place is then known, and an answer only puts its
 * status there, without parsing the kept members again or building a tree for them.
 * json-glib writes an object as {"name":value,...}, without spaces, so the text is what
 * vpush_json_write() writes for the whole object. Two writes, not one per member: each
 * write makes a generator and copies the tree it writes. */
VpushAnswerBody *
vpush_jwt_answer_body_new (JsonObject *challenge_body, const gchar *signature_fields,
                           GError **error)
{
  g_autoptr (JsonObject) before = json_object_new ();
  g_autoptr (JsonObject) after = json_object_new ();
  g_auto (GStrv) fields = NULL;
  JsonNode *status = NULL;
  VpushAnswerBody *body;
  GString *text;

  g_return_val_if_fail (challenge_body != NULL, NULL);
  g_return_val_if_fail (signature_fields != NULL, NULL);

  fields = g_strsplit (signature_fields, ",", -1);
  for (guint i = 0; fields[i] != NULL; i++)
    {
      const gchar *name = g_strstrip (fields[i]);
      JsonNode *member;

      if (*name == '\0')
        continue;
      member = json_object_get_member (challenge_body, name);
      if (member == NULL)
        {
          /* the name comes from a response header, the message may go out on the bus */
          g_autofree gchar *valid = g_utf8_make_valid (name, -1);

          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Signature field “%s” is missing from the challenge", valid);
          return NULL;
        }
      /* a name listed twice is one member, where it first came */
      if (g_str_equal (name, "status"))
        status = status != NULL ? status : member;
      else if (!json_object_has_member (before, name) && !json_object_has_member (after, name))
        json_object_set_member (status != NULL ? after : before, name, json_node_copy (member));
    }
  if (status == NULL && json_object_get_size (before) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Challenge signature fields list is empty");
      return NULL;
    }

  body = g_new0 (VpushAnswerBody, 1);
  text = g_string_new ("{");
  append_members (text, before);
  if (status != NULL)
    {
      g_string_append (text, text->len > 1 ? ",\"status\":" : "\"status\":");
      body->status_at = text->len;
      vpush_json_write (text, status, FALSE);
      body->status_end = text->len;
    }
  append_members (text, after);
  g_string_append_c (text, '}');
  body->text = g_string_free (text, FALSE);
  /* json-glib 1.6 reads some bad escapes ("\\2", lone surrogates) into strings that are not
   * UTF-8 and writes them back so: that is no JSON a server takes */
  if (!g_utf8_validate (body->text, -1, NULL))
    {
      vpush_answer_body_free (body);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The challenge's signature fields hold text that is not UTF-8");
      return NULL;
    }
  return body;
}

gchar *
vpush_answer_body_payload (const VpushAnswerBody *body, const gchar *status)
{
  g_return_val_if_fail (body != NULL, NULL);
  g_return_val_if_fail (status != NULL, NULL);

  /* §5C step 4: status overwrites a copied status, in its place, or comes last */
  if (body->status_end > 0)
    return g_strdup_printf ("%.*s\"%s\"%s", (int)body->status_at, body->text, status,
                            body->text + body->status_end);
  return g_strdup_printf ("%.*s,\"status\":\"%s\"}", (int)(strlen (body->text) - 1), body->text,
                          status);
}

gchar *
vpush_jwt_answer_sign (VpushKey *key, const VpushAnswerBody *body, const gchar *status,
                       GError **error)
{
  /* the header JsonGenerator writes for {typ, alg}, always the same */
  static const gchar header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
  g_autofree gchar *payload = NULL;
  g_autofree gchar *header_b64 = NULL;
  g_autofree gchar *payload_b64 = NULL;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (body != NULL, NULL);
  g_return_val_if_fail (status != NULL, NULL);
  /* written into the JSON text as it is */
  g_return_val_if_fail (status_is_plain (status), NULL);

  payload = vpush_answer_body_payload (body, status);
  header_b64 = vpush_base64url_encode ((const guint8 *)header, sizeof header - 1);
  payload_b64 = vpush_base64url_encode ((const guint8 *)payload, strlen (payload));
  return sign_encoded (key, header_b64, payload_b64, error);
}
