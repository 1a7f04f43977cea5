#include "test-signatures.h"

#include <gio/gio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)

/* g_base64_decode() skips bad characters silently; a key must be refused instead */
static guint8 *
base64_decode_strict (const gchar *text, gsize *out_len, GError **error)
{
  gsize len = strlen (text);
  gsize pad = 0;

  if (len == 0 || len % 4 != 0)
    goto invalid;
  if (text[len - 1] == '=')
    pad = text[len - 2] == '=' ? 2 : 1;
  for (gsize i = 0; i < len - pad; i++)
    {
      if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/')
        goto invalid;
    }
  return g_base64_decode (text, out_len);

invalid:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Invalid base64");
  return NULL;
}

static EVP_PKEY *
decode_spki_p256 (const guint8 *der, gsize len, GError **error)
{
  g_autoptr (EVP_PKEY) pkey = NULL;
  const guint8 *p = der;
  gchar group[64];
  size_t group_len = 0;

  if (len > 0 && len <= G_MAXINT32)
    pkey = d2i_PUBKEY (NULL, &p, (long)len);
  ERR_clear_error ();
  if (pkey == NULL || p != der + len)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Not a DER SubjectPublicKeyInfo");
      return NULL;
    }
  if (!EVP_PKEY_is_a (pkey, "EC")
      || !EVP_PKEY_get_group_name (pkey, group, sizeof group, &group_len)
      || OBJ_txt2nid (group) != NID_X9_62_prime256v1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The SubjectPublicKeyInfo is not on curve P-256");
      return NULL;
    }
  return g_steal_pointer (&pkey);
}

gboolean
ecdsa_verify_der (const gchar *spki_b64, const guint8 *msg, gsize msg_len, const guint8 *sig,
                  gsize sig_len, GError **error)
{
  g_autoptr (EVP_PKEY) pkey = NULL;
  g_autoptr (EVP_MD_CTX) mdctx = NULL;
  g_autofree guint8 *spki = NULL;
  gsize spki_len = 0;
  int rc;

  g_return_val_if_fail (spki_b64 != NULL, FALSE);
  g_return_val_if_fail (msg != NULL || msg_len == 0, FALSE);
  g_return_val_if_fail (sig != NULL || sig_len == 0, FALSE);

  spki = base64_decode_strict (spki_b64, &spki_len, error);
  if (spki == NULL)
    {
      g_prefix_error (error, "Public key: ");
      return FALSE;
    }
  pkey = decode_spki_p256 (spki, spki_len, error);
  if (pkey == NULL)
    return FALSE;

  mdctx = EVP_MD_CTX_new ();
  if (mdctx == NULL
      || EVP_DigestVerifyInit_ex (mdctx, NULL, OSSL_DIGEST_NAME_SHA2_256, NULL, NULL, pkey, NULL)
             <= 0)
    {
      ERR_clear_error ();
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "Could not set up ECDSA verification");
      return FALSE;
    }
  rc = EVP_DigestVerify (mdctx, sig, sig_len, msg, msg_len);
  /* a malformed signature is queued as an OpenSSL error; it is still just a mismatch */
  ERR_clear_error ();
  if (rc != 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "ECDSA signature does not verify");
      return FALSE;
    }
  return TRUE;
}

static gint
base64url_value (gchar c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

guint8 *
base64url_decode (const gchar *text, gsize *out_len, GError **error)
{
  g_autofree gchar *std = NULL;
  gsize len;
  gint last;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (out_len != NULL, NULL);

  len = strlen (text);
  if (len % 4 == 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Invalid base64url: impossible length %" G_GSIZE_FORMAT, len);
      return NULL;
    }
  for (gsize i = 0; i < len; i++)
    {
      if (base64url_value (text[i]) < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Invalid base64url: bad character at offset %" G_GSIZE_FORMAT, i);
          return NULL;
        }
    }
  if (len == 0)
    {
      *out_len = 0;
      return g_new0 (guint8, 1);
    }

  /* unused low bits of the last character must be zero */
  last = base64url_value (text[len - 1]);
  if ((len % 4 == 2 && (last & 0x0f) != 0) || (len % 4 == 3 && (last & 0x03) != 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Invalid base64url: non-zero trailing bits");
      return NULL;
    }

  std = g_malloc (len + 3);
  for (gsize i = 0; i < len; i++)
    std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
  while (len % 4 != 0)
    std[len++] = '=';
  std[len] = '\0';
  return g_base64_decode (std, out_len);
}
