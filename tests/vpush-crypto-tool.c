/* Test helper: exposes the daemon's crypto and JWT code on the command line so that
 * test_crypto_crosscheck.py can check it against Python's cryptography package.
 * Exit status: 0 success, 1 signature does not verify, 2 usage or other error. */
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include "vpush-jwt.h"
#include "test-signatures.h"

static const gchar usage[]
    = "usage: vpush-crypto-tool gen\n"
      "       vpush-crypto-tool sign-der PKCS8_B64 MESSAGE...\n"
      "       vpush-crypto-tool der-to-raw SIG_B64...\n"
      "       vpush-crypto-tool jwt-device PKCS8_B64 KID SUB NOW\n"
      "       vpush-crypto-tool jwt-answer PKCS8_B64 FIELDS STATUS < challenge.json\n"
      "       vpush-crypto-tool verify-der SPKI_B64 MESSAGE SIG_B64\n";

static VpushKey *
load_key (const gchar *pkcs8_b64, GError **error)
{
  guint8 *der;
  gsize len = 0;
  VpushKey *key;

  der = g_base64_decode (pkcs8_b64, &len);
  key = vpush_key_new_from_pkcs8 (der, len, error);
  vpush_secure_free (der, len);
  return key;
}

static gboolean
cmd_gen (GError **error)
{
  g_autoptr (VpushKey) key = vpush_key_generate (error);
  g_autofree gchar *spki = NULL;
  gchar *pkcs8_b64;
  guint8 *der = NULL;
  gsize len = 0;

  if (key == NULL || !vpush_key_export_pkcs8 (key, &der, &len, error))
    return FALSE;
  spki = vpush_key_get_public_spki_b64 (key, error);
  if (spki == NULL)
    {
      vpush_secure_free (der, len);
      return FALSE;
    }
  pkcs8_b64 = g_base64_encode (der, len);
  g_print ("%s\n%s\n", pkcs8_b64, spki);
  vpush_secure_free (pkcs8_b64, strlen (pkcs8_b64));
  vpush_secure_free (der, len);
  return TRUE;
}

static gboolean
cmd_sign_der (const gchar *pkcs8_b64, gchar **messages, GError **error)
{
  g_autoptr (VpushKey) key = load_key (pkcs8_b64, error);

  if (key == NULL)
    return FALSE;
  for (guint i = 0; messages[i] != NULL; i++)
    {
      g_autofree gchar *sig = vpush_key_sign_b64 (key, messages[i], error);

      if (sig == NULL)
        return FALSE;
      g_print ("%s\n", sig);
    }
  return TRUE;
}

static gboolean
cmd_der_to_raw (gchar **sigs, GError **error)
{
  for (guint i = 0; sigs[i] != NULL; i++)
    {
      g_autofree guint8 *der = NULL;
      g_autofree gchar *raw_b64 = NULL;
      gsize len = 0;
      guint8 raw[64];

      der = g_base64_decode (sigs[i], &len);
      if (!vpush_ecdsa_der_to_raw (der, len, raw, error))
        return FALSE;
      raw_b64 = vpush_base64url_encode (raw, sizeof raw);
      g_print ("%s\n", raw_b64);
    }
  return TRUE;
}

static gboolean
cmd_jwt_device (const gchar *pkcs8_b64, const gchar *kid, const gchar *sub, const gchar *now_str,
                GError **error)
{
  g_autoptr (VpushKey) key = NULL;
  g_autofree gchar *jwt = NULL;
  gint64 now = 0;

  if (!g_ascii_string_to_signed (now_str, 10, G_MININT64, G_MAXINT64 - 600, &now, error))
    return FALSE;
  key = load_key (pkcs8_b64, error);
  if (key == NULL)
    return FALSE;
  jwt = vpush_jwt_device_auth (key, kid, sub, now, error);
  if (jwt == NULL)
    return FALSE;
  g_print ("%s\n", jwt);
  return TRUE;
}

static gboolean
cmd_jwt_answer (const gchar *pkcs8_b64, const gchar *fields, const gchar *status, GError **error)
{
  g_autoptr (GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (VpushKey) key = NULL;
  g_autoptr (VpushAnswerBody) body = NULL;
  g_autofree gchar *jwt = NULL;
  JsonNode *root;

  if (!json_parser_load_from_stream (parser, in, NULL, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Challenge is not a JSON object");
      return FALSE;
    }
  key = load_key (pkcs8_b64, error);
  if (key == NULL)
    return FALSE;
  body = vpush_jwt_answer_body_new (json_node_get_object (root), fields, error);
  if (body == NULL)
    return FALSE;
  jwt = vpush_jwt_answer_sign (key, body, status, error);
  if (jwt == NULL)
    return FALSE;
  g_print ("%s\n", jwt);
  return TRUE;
}

static int
cmd_verify_der (const gchar *spki_b64, const gchar *message, const gchar *sig_b64)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;

  sig = g_base64_decode (sig_b64, &sig_len);
  if (!ecdsa_verify_der (spki_b64, (const guint8 *)message, strlen (message), sig, sig_len, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const gchar *cmd = argc > 1 ? argv[1] : "";
  gboolean ok;

  if (g_str_equal (cmd, "gen") && argc == 2)
    ok = cmd_gen (&error);
  else if (g_str_equal (cmd, "sign-der") && argc >= 4)
    ok = cmd_sign_der (argv[2], argv + 3, &error);
  else if (g_str_equal (cmd, "der-to-raw") && argc >= 3)
    ok = cmd_der_to_raw (argv + 2, &error);
  else if (g_str_equal (cmd, "jwt-device") && argc == 6)
    ok = cmd_jwt_device (argv[2], argv[3], argv[4], argv[5], &error);
  else if (g_str_equal (cmd, "jwt-answer") && argc == 5)
    ok = cmd_jwt_answer (argv[2], argv[3], argv[4], &error);
  else if (g_str_equal (cmd, "verify-der") && argc == 5)
    return cmd_verify_der (argv[2], argv[3], argv[4]);
  else
    {
      g_printerr ("%s", usage);
      return 2;
    }

  if (!ok)
    {
      g_printerr ("vpush-crypto-tool %s: %s\n", cmd, error->message);
      return 2;
    }
  return 0;
}
