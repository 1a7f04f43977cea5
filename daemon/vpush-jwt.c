/* The two JWTs a push factor mints (protocol doc §5A and §5C). */
#include "vpush-jwt.h"

#include <gio/gio.h>

/* Device auth JWT lifetime (§5A). */
#define DEVICE_JWT_LIFETIME_S 600

static gchar *
encode_segment (JsonObject *object)
{
  g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), object);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree gchar *text = NULL;
  gsize len = 0;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, &len);
  return vpush_base64url_encode ((const guint8 *)text, len);
}

/* Compact JWS: b64url(header) "." b64url(payload) "." b64url(r‖s). */
static gchar *
sign_compact (VpushKey *key, JsonObject *header, JsonObject *payload, GError **error)
{
  g_autofree gchar *header_b64 = encode_segment (header);
  g_autofree gchar *payload_b64 = encode_segment (payload);
  g_autofree gchar *signing_input = g_strconcat (header_b64, ".", payload_b64, NULL);
  g_autofree gchar *sig_b64 = vpush_key_sign_jws (key, signing_input, error);

  if (sig_b64 == NULL)
    return NULL;
  return g_strconcat (signing_input, ".", sig_b64, NULL);
}

gchar *
vpush_jwt_device_auth (VpushKey *key, const gchar *credential_sid, const gchar *account_sid,
                       gint64 now, GError **error)
{
  g_autoptr (JsonObject) header = json_object_new ();
  g_autoptr (JsonObject) payload = json_object_new ();

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (credential_sid != NULL, NULL);
  g_return_val_if_fail (account_sid != NULL, NULL);

  if (*credential_sid == '\0' || *account_sid == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Device auth JWT needs a credential sid and an account sid");
      return NULL;
    }

  json_object_set_string_member (header, "cty", "twilio-pba;v=1");
  json_object_set_string_member (header, "kid", credential_sid);
  json_object_set_string_member (header, "typ", "JWT");
  json_object_set_string_member (header, "alg", "ES256");

  json_object_set_string_member (payload, "sub", account_sid);
  json_object_set_int_member (payload, "nbf", now);
  json_object_set_int_member (payload, "exp", now + DEVICE_JWT_LIFETIME_S);

  return sign_compact (key, header, payload, error);
}

gchar *
vpush_jwt_challenge_answer (VpushKey *key, JsonObject *challenge_body,
                            const gchar *signature_fields, const gchar *status, GError **error)
{
  g_autoptr (JsonObject) header = json_object_new ();
  g_autoptr (JsonObject) payload = json_object_new ();
  g_auto (GStrv) fields = NULL;
  guint n_copied = 0;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (challenge_body != NULL, NULL);
  g_return_val_if_fail (signature_fields != NULL, NULL);
  g_return_val_if_fail (status != NULL, NULL);

  fields = g_strsplit (signature_fields, ",", -1);
  for (guint i = 0; fields[i] != NULL; i++)
    {
      const gchar *name = g_strstrip (fields[i]);

      if (*name == '\0')
        continue;
      if (!json_object_has_member (challenge_body, name))
        {
          /* the name comes from a response header, the message may go out on the bus */
          g_autofree gchar *valid = g_utf8_make_valid (name, -1);

          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Signature field “%s” is missing from the challenge", valid);
          return NULL;
        }
      json_object_set_member (payload, name,
                              json_node_copy (json_object_get_member (challenge_body, name)));
      n_copied++;
    }
  if (n_copied == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Challenge signature fields list is empty");
      return NULL;
    }

  /* Set last so that it wins over a copied "status" (§5C step 4). */
  json_object_set_string_member (payload, "status", status);

  json_object_set_string_member (header, "typ", "JWT");
  json_object_set_string_member (header, "alg", "ES256");

  return sign_compact (key, header, payload, error);
}
