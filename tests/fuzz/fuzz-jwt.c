/* The challenge answer (§5C) as vpushd makes it, vpush_jwt_answer_body_new() then
 * vpush_jwt_answer_sign(), with a fixed key. The input is the Twilio-Verify-Signature-Fields
 * value, a newline, then the fetched challenge body. */
#include "fuzz-common.h"

#include <gio/gio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <string.h>

#include "vpush-crypto.h"
#include "vpush-jwt.h"
#include "test-signatures.h"

/* A P-256 test key made for this harness (PKCS#8 DER); it signs nothing real. */
static const guint8 test_key[] = {
  0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
  0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
  0x01, 0x01, 0x04, 0x20, 0xec, 0x86, 0x9f, 0x16, 0xae, 0x36, 0xf2, 0xbe, 0x3c, 0x7b, 0x6d, 0x81,
  0xf0, 0xdf, 0x85, 0x6f, 0x89, 0xb5, 0x9d, 0x63, 0x9c, 0x03, 0x7f, 0xab, 0xc4, 0x16, 0x2a, 0x58,
  0x20, 0x4f, 0xcb, 0x7f, 0xa1, 0x44, 0x03, 0x42, 0x00, 0x04, 0x8d, 0x13, 0xc4, 0x07, 0x6e, 0x0a,
  0xaf, 0xf1, 0xe1, 0xfd, 0x7a, 0xbe, 0xed, 0x20, 0x73, 0x06, 0xe9, 0x6e, 0xe4, 0x46, 0xca, 0xe5,
  0xde, 0xa3, 0x9d, 0x8d, 0xa1, 0x57, 0x17, 0x97, 0xf1, 0xe2, 0x8f, 0xc9, 0xfc, 0x0e, 0x8c, 0x4c,
  0x82, 0x08, 0x31, 0xce, 0x15, 0x1a, 0x1f, 0x18, 0x73, 0x58, 0xcb, 0x47, 0x40, 0x84, 0x46, 0x3f,
  0x2b, 0x69, 0xf4, 0x60, 0x19, 0xf9, 0xd7, 0x41, 0x64, 0xba,
};

static VpushKey *key;
static gchar *spki;

/* Whether every string in node (member names too) is UTF-8, and, with doubles, whether
 * json-glib also writes each double back as the JSON it read. json-glib 1.6 makes strings
 * that are not UTF-8 from some bad escapes ("\udc00"): nothing is signed with those. It
 * writes some doubles back differently (1e999 as "inf.0", 1e21 as "1e+21.0"): signing those
 * is out of the contract checked here (README.md, "Known issues"). */
static gboolean
writes_back (JsonNode *node, gboolean doubles)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *member;

        json_object_iter_init (&iter, json_node_get_object (node));
        while (json_object_iter_next (&iter, &name, &member))
          {
            if (!g_utf8_validate (name, -1, NULL) || !writes_back (member, doubles))
              return FALSE;
          }
        return TRUE;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);

        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            if (!writes_back (json_array_get_element (array, i), doubles))
              return FALSE;
          }
        return TRUE;
      }
    case JSON_NODE_VALUE:
      if (doubles && json_node_get_value_type (node) == G_TYPE_DOUBLE)
        {
          g_autofree gchar *text = json_to_string (node, FALSE);
          g_autoptr (JsonNode) back = json_from_string (text, NULL);

          return back != NULL && json_node_equal (node, back);
        }
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        return g_utf8_validate (json_node_get_string (node), -1, NULL);
      return TRUE;
    case JSON_NODE_NULL:
    default:
      return TRUE;
    }
}

/* A JWT segment: canonical base64url of a JSON object. */
static JsonObject *
decode_segment (const gchar *segment)
{
  g_autofree guint8 *bytes = NULL;
  g_autoptr (JsonNode) node = NULL;
  gsize len = 0;

  bytes = base64url_decode (segment, &len, NULL);
  FUZZ_CHECK (bytes != NULL);
  FUZZ_CHECK (g_utf8_validate ((const gchar *)bytes, (gssize)len, NULL));
  node = fuzz_parse_json (bytes, len);
  FUZZ_CHECK (node != NULL && JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* The ES256 signature r‖s of the first two segments, checked with the public key. */
static void
check_signature (const gchar *jwt, const gchar *sig_b64)
{
  g_autofree guint8 *raw = NULL;
  g_autofree gchar *signing_input = g_strndup (jwt, (gsize)(sig_b64 - 1 - jwt));
  g_autoptr (GError) error = NULL;
  ECDSA_SIG *sig = ECDSA_SIG_new ();
  unsigned char *der = NULL;
  gsize len = 0;
  int der_len;

  raw = base64url_decode (sig_b64, &len, NULL);
  FUZZ_CHECK (raw != NULL && len == 64);
  FUZZ_CHECK (ECDSA_SIG_set0 (sig, BN_bin2bn (raw, 32, NULL), BN_bin2bn (raw + 32, 32, NULL)));
  der_len = i2d_ECDSA_SIG (sig, &der);
  FUZZ_CHECK (der_len > 0);
  FUZZ_CHECK_MSG (ecdsa_verify_der (spki, (const guint8 *)signing_input, strlen (signing_input),
                                    der, (gsize)der_len, &error),
                  error->message);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);
}

static void
check_jwt (const gchar *jwt, JsonNode *root, gchar **names, const gchar *status)
{
  JsonObject *body = json_node_get_object (root);
  g_auto (GStrv) parts = g_strsplit (jwt, ".", -1);
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  guint n_names = 0;

  FUZZ_CHECK (g_strv_length (parts) == 3);
  header = decode_segment (parts[0]);
  FUZZ_CHECK (json_object_get_size (header) == 2);
  FUZZ_CHECK (g_strcmp0 (json_object_get_string_member_with_default (header, "typ", NULL), "JWT")
              == 0);
  FUZZ_CHECK (g_strcmp0 (json_object_get_string_member_with_default (header, "alg", NULL), "ES256")
              == 0);

  check_signature (jwt, strrchr (jwt, '.') + 1);

  /* exactly the named fields, verbatim, and the status, which wins over a copied one */
  if (!writes_back (root, TRUE))
    return;
  payload = decode_segment (parts[1]);
  FUZZ_CHECK (
      g_strcmp0 (json_object_get_string_member_with_default (payload, "status", NULL), status)
      == 0);
  for (guint i = 0; names[i] != NULL; i++)
    {
      if (*names[i] == '\0')
        continue;
      FUZZ_CHECK_MSG (json_object_has_member (payload, names[i]), names[i]);
      if (!g_str_equal (names[i], "status"))
        FUZZ_CHECK_MSG (json_node_equal (json_object_get_member (payload, names[i]),
                                         json_object_get_member (body, names[i])),
                        names[i]);
    }
  for (guint i = 0; names[i] != NULL; i++)
    {
      gboolean first = *names[i] != '\0';

      for (guint j = 0; j < i && first; j++)
        first = !g_str_equal (names[i], names[j]);
      n_names += first && !g_str_equal (names[i], "status");
    }
  FUZZ_CHECK (json_object_get_size (payload) == n_names + 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const guint8 *newline = memchr (data, '\n', size);
  const gchar *status = size % 2 == 0 ? "approved" : "denied";
  g_autofree gchar *fields = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushAnswerBody) answer = NULL;
  g_autofree gchar *jwt = NULL;
  g_auto (GStrv) names = NULL;
  JsonObject *body;
  gboolean expected;
  gboolean any = FALSE;
  gboolean utf8 = TRUE;

  fuzz_init ();
  if (key == NULL)
    {
      key = vpush_key_new_from_pkcs8 (test_key, sizeof test_key, NULL);
      spki = vpush_key_get_public_spki_b64 (key, NULL);
      FUZZ_CHECK (key != NULL && spki != NULL);
    }
  if (newline == NULL)
    return 0;
  fields = fuzz_strndup (data, (size_t)(newline - data));
  root = fuzz_parse_json (newline + 1, size - (size_t)(newline + 1 - data));
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  body = json_node_get_object (root);

  /* signed only when every named field is there, and there is at least one */
  names = g_strsplit (fields, ",", -1);
  expected = TRUE;
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_strstrip (names[i]);
      if (*names[i] == '\0')
        continue;
      any = TRUE;
      expected = expected && json_object_has_member (body, names[i]);
      utf8 = utf8
             && (!json_object_has_member (body, names[i])
                 || (g_utf8_validate (names[i], -1, NULL)
                     && writes_back (json_object_get_member (body, names[i]), FALSE)));
    }
  expected = expected && any && utf8;

  answer = vpush_jwt_answer_body_new (body, fields, &error);
  if (answer != NULL)
    jwt = vpush_jwt_answer_sign (key, answer, status, &error);
  FUZZ_CHECK ((jwt != NULL) == expected);
  if (jwt == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  check_jwt (jwt, root, names, status);
  return 0;
}
