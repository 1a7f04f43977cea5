/* vpush_key_new_from_pkcs8(): a P-256 private key as the key store keeps it. */
#include "fuzz-common.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-crypto.h"
#include "test-signatures.h"

static const gchar message[] = "YF0123456789abcdef0123456789abcdef";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (VpushKey) key = NULL;
  g_autoptr (VpushKey) reloaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *spki = NULL;
  g_autofree gchar *spki_again = NULL;
  g_autofree guint8 *spki_der = NULL;
  g_autofree guint8 *sig = NULL;
  guint8 *der = NULL;
  guint8 *der_again = NULL;
  gsize der_len = 0;
  gsize der_again_len = 0;
  gsize spki_der_len = 0;
  gsize sig_len = 0;

  fuzz_init ();
  key = vpush_key_new_from_pkcs8 (data, size, &error);
  if (key == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  /* what the key store would write back reads as the same key */
  FUZZ_CHECK_MSG (vpush_key_export_pkcs8 (key, &der, &der_len, &error), error->message);
  reloaded = vpush_key_new_from_pkcs8 (der, der_len, &error);
  FUZZ_CHECK_MSG (reloaded != NULL, error->message);
  FUZZ_CHECK (vpush_key_export_pkcs8 (reloaded, &der_again, &der_again_len, NULL));
  FUZZ_CHECK (der_len == der_again_len && memcmp (der, der_again, der_len) == 0);
  vpush_secure_free (der, der_len);
  vpush_secure_free (der_again, der_again_len);

  /* A key whose public half does not encode as Verify wants is refused with an error;
   * one that does signs what its public half verifies. */
  spki = vpush_key_get_public_spki_b64 (key, &error);
  if (spki == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, -1);
      return 0;
    }
  spki_again = vpush_key_get_public_spki_b64 (reloaded, NULL);
  FUZZ_CHECK (g_strcmp0 (spki, spki_again) == 0);
  spki_der = g_base64_decode (spki, &spki_der_len);
  FUZZ_CHECK (spki_der_len == 91 && spki_der[26] == 0x04);

  if (!vpush_key_sign_der (key, (const guint8 *)message, strlen (message), &sig, &sig_len, &error))
    {
      /* OpenSSL may refuse to sign with a degenerate private scalar */
      fuzz_check_error (error, G_IO_ERROR, -1);
      return 0;
    }
  FUZZ_CHECK_MSG (
      ecdsa_verify_der (spki, (const guint8 *)message, strlen (message), sig, sig_len, &error),
      error->message);
  return 0;
}
