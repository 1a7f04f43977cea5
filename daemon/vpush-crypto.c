/* P-256 keys, their wire encodings and ECDSA signatures (protocol doc §4). */
#include "vpush-crypto.h"

#include <string.h>

#include <gio/gio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

struct _VpushKey
{
  EVP_PKEY *pkey;
  /* Set up for ECDSA at the first signature and kept: setting one up per signature
   * (provider fetches, a new context) cost a tenth of the signature. One signature at a
   * time uses it. */
  GMutex sign_lock;
  EVP_PKEY_CTX *sign_ctx;
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OSSL_ENCODER_CTX, OSSL_ENCODER_CTX_free)

#define P256_COORD_LEN 32
#define P256_SPKI_LEN  91
#define P256_PKCS8_MAX 1024

/* The fixed DER header of a P-256 SPKI with an uncompressed point (§4). */
static const guint8 p256_spki_prefix[] = {
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
  0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

/* Sets error from the oldest queued OpenSSL error and empties the queue, so that a later
 * failure does not report a stale reason. */
static void
set_openssl_error (GError **error, gint code, const gchar *what)
{
  unsigned long err = ERR_get_error ();
  gchar reason[256];

  if (err == 0)
    {
      g_set_error (error, G_IO_ERROR, code, "%s", what);
      return;
    }
  ERR_error_string_n (err, reason, sizeof reason);
  ERR_clear_error ();
  g_set_error (error, G_IO_ERROR, code, "%s: %s", what, reason);
}

static gboolean
pkey_is_p256 (EVP_PKEY *pkey)
{
  gchar group[64];
  size_t group_len = 0;

  if (!EVP_PKEY_is_a (pkey, "EC"))
    return FALSE;
  if (!EVP_PKEY_get_group_name (pkey, group, sizeof group, &group_len))
    return FALSE;
  return OBJ_txt2nid (group) == NID_X9_62_prime256v1;
}

/* The private scalar is in range and the public point is the one it gives. */
static gboolean
key_pair_matches (EVP_PKEY *pkey)
{
  g_autoptr (EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL);
  return ctx != NULL && EVP_PKEY_pairwise_check (ctx) == 1;
}

static VpushKey *
vpush_key_new_take (EVP_PKEY *pkey)
{
  VpushKey *key = g_new0 (VpushKey, 1);

  key->pkey = pkey;
  g_mutex_init (&key->sign_lock);
  return key;
}

/* SHA-256 fetched once: an implicit fetch by name on every signature costs a lookup in
 * the provider store each time. NULL when no provider has it. */
static const EVP_MD *
sha256 (void)
{
  static gsize md = 0;

  if (g_once_init_enter (&md))
    {
      EVP_MD *fetched = EVP_MD_fetch (NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);

      ERR_clear_error ();
      /* 1 stands for "none": g_once_init_leave() takes no 0 */
      g_once_init_leave (&md, fetched != NULL ? (gsize)fetched : 1);
    }
  return md != 1 ? (const EVP_MD *)md : NULL;
}

VpushKey *
vpush_key_generate (GError **error)
{
  g_autoptr (EVP_PKEY_CTX) ctx = NULL;
  EVP_PKEY *pkey = NULL;

  ctx = EVP_PKEY_CTX_new_from_name (NULL, "EC", NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init (ctx) <= 0
      || EVP_PKEY_CTX_set_group_name (ctx, SN_X9_62_prime256v1) <= 0
      || EVP_PKEY_generate (ctx, &pkey) <= 0)
    {
      set_openssl_error (error, G_IO_ERROR_FAILED, "Could not generate a P-256 key");
      return NULL;
    }
  return vpush_key_new_take (pkey);
}

/* Whether OpenSSL's queued errors say it ran out of memory (also of its secure heap): the
 * input may be fine. Empties the queue. */
static gboolean
openssl_out_of_memory (void)
{
  gboolean out = FALSE;
  unsigned long err;

  while ((err = ERR_get_error ()) != 0)
    out = out || ERR_GET_REASON (err) == ERR_R_MALLOC_FAILURE
          || (ERR_GET_LIB (err) == ERR_LIB_CRYPTO
              && ERR_GET_REASON (err) == CRYPTO_R_SECURE_MALLOC_FAILURE);
  return out;
}

/* A key that can't be read: for lack of memory (the input may be fine; a key store must
 * not take it for a broken key), or the input's fault. Empties OpenSSL's error queue. */
static void set_decode_error (GError **error, const gchar *what, const gchar *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
set_decode_error (GError **error, const gchar *what, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  if (openssl_out_of_memory ())
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "Out of memory to read the %s", what);
      return;
    }
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, message);
}

/* Decodes a DER PKCS#8 PrivateKeyInfo (unencrypted: the key store keeps nothing else)
 * holding a P-256 key, and nothing before or after it. */
static EVP_PKEY *
decode_pkcs8_p256 (const guint8 *der, gsize len, GError **error)
{
  const gchar *what = "PKCS#8 private key";
  g_autoptr (EVP_PKEY) pkey = NULL;
  const guint8 *p = der;

  /* A P-256 PKCS#8 key is some 140 bytes. OpenSSL puts the private key's bytes in its
   * secure heap before it looks at their size: a huge one would be taken for a lack of
   * memory (set_decode_error()), which a key store must not take for a broken key. */
  if (len > P256_PKCS8_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Not a DER %s", what);
      return NULL;
    }
  /* d2i stops at the end of the first structure */
  if (len > 0)
    {
      PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO (NULL, &p, (long)len);

      if (p8 != NULL && p == der + len)
        pkey = EVP_PKCS82PKEY (p8);
      PKCS8_PRIV_KEY_INFO_free (p8);
    }
  if (pkey == NULL || p != der + len)
    {
      set_decode_error (error, what, "Not a DER %s", what);
      return NULL;
    }
  if (!pkey_is_p256 (pkey))
    {
      set_decode_error (error, what, "The %s is not on curve P-256", what);
      return NULL;
    }
  /* PKCS#8 may carry a public key of its own, taken as it comes: one that is not the
   * private key's would be registered while every signature fails to verify */
  if (!key_pair_matches (pkey))
    {
      set_decode_error (error, what, "The %s does not match its public key", what);
      return NULL;
    }
  ERR_clear_error ();
  return g_steal_pointer (&pkey);
}

VpushKey *
vpush_key_new_from_pkcs8 (const guint8 *der, gsize len, GError **error)
{
  EVP_PKEY *pkey;

  g_return_val_if_fail (der != NULL || len == 0, NULL);

  pkey = decode_pkcs8_p256 (der, len, error);
  if (pkey == NULL)
    return NULL;
  return vpush_key_new_take (pkey);
}

void
vpush_key_free (VpushKey *key)
{
  if (key == NULL)
    return;
  EVP_PKEY_CTX_free (key->sign_ctx);
  g_mutex_clear (&key->sign_lock);
  EVP_PKEY_free (key->pkey);
  g_free (key);
}

/* Encodes with an OpenSSL encoder and hands back a GLib buffer; OpenSSL's own copy is wiped
 * because it may hold the private key. */
static gboolean
encode_pkey (EVP_PKEY *pkey, int selection, const gchar *structure, guint8 **out_der,
             gsize *out_len, GError **error)
{
  g_autoptr (OSSL_ENCODER_CTX) ectx = NULL;
  unsigned char *data = NULL;
  size_t data_len = 0;

  ectx = OSSL_ENCODER_CTX_new_for_pkey (pkey, selection, "DER", structure, NULL);
  if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders (ectx) == 0
      || !OSSL_ENCODER_to_data (ectx, &data, &data_len))
    {
      set_openssl_error (error, G_IO_ERROR_FAILED, "Could not encode the key");
      return FALSE;
    }
  *out_der = g_memdup2 (data, data_len);
  *out_len = data_len;
  OPENSSL_clear_free (data, data_len);
  return TRUE;
}

gboolean
vpush_key_export_pkcs8 (VpushKey *key, guint8 **out_der, gsize *out_len, GError **error)
{
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (out_der != NULL && out_len != NULL, FALSE);

  return encode_pkey (key->pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PrivateKeyInfo", out_der, out_len,
                      error);
}

gchar *
vpush_key_get_public_spki_b64 (VpushKey *key, GError **error)
{
  g_autofree guint8 *der = NULL;
  gsize der_len = 0;

  g_return_val_if_fail (key != NULL, NULL);

  if (!encode_pkey (key->pkey, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "SubjectPublicKeyInfo", &der,
                    &der_len, error))
    return NULL;

  /* Verify expects exactly this layout; an explicit-parameters or compressed-point key
   * imported from elsewhere would encode differently. */
  if (der_len != P256_SPKI_LEN || memcmp (der, p256_spki_prefix, sizeof p256_spki_prefix) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The public key does not encode as a named-curve P-256 SPKI");
      return NULL;
    }
  return g_base64_encode (der, der_len);
}

gboolean
vpush_key_sign_der (VpushKey *key, const guint8 *msg, gsize msg_len, guint8 **out_sig,
                    gsize *out_len, GError **error)
{
  g_autoptr (GMutexLocker) locker = NULL;
  const EVP_MD *md = sha256 ();
  guint8 digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  g_autofree guint8 *sig = NULL;
  size_t sig_len;

  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (msg != NULL || msg_len == 0, FALSE);
  g_return_val_if_fail (out_sig != NULL && out_len != NULL, FALSE);

  /* what EVP_DigestSign() does, with the digest and the signing context kept */
  locker = g_mutex_locker_new (&key->sign_lock);
  if (md == NULL || EVP_Digest (msg, msg_len, digest, &digest_len, md, NULL) <= 0)
    {
      set_openssl_error (error, G_IO_ERROR_FAILED, "Could not set up ECDSA signing");
      return FALSE;
    }
  if (key->sign_ctx == NULL)
    {
      g_autoptr (EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_pkey (NULL, key->pkey, NULL);

      if (ctx == NULL || EVP_PKEY_sign_init (ctx) <= 0
          || EVP_PKEY_CTX_set_signature_md (ctx, md) <= 0)
        {
          set_openssl_error (error, G_IO_ERROR_FAILED, "Could not set up ECDSA signing");
          return FALSE;
        }
      key->sign_ctx = g_steal_pointer (&ctx);
    }
  sig_len = (size_t)EVP_PKEY_get_size (key->pkey);
  sig = g_malloc (sig_len);
  if (EVP_PKEY_sign (key->sign_ctx, sig, &sig_len, digest, digest_len) <= 0)
    {
      set_openssl_error (error, G_IO_ERROR_FAILED, "Could not sign");
      return FALSE;
    }
  *out_sig = g_steal_pointer (&sig);
  *out_len = sig_len;
  return TRUE;
}

gchar *
vpush_key_sign_b64 (VpushKey *key, const gchar *text, GError **error)
{
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;

  g_return_val_if_fail (text != NULL, NULL);

  if (!vpush_key_sign_der (key, (const guint8 *)text, strlen (text), &sig, &sig_len, error))
    return NULL;
  return g_base64_encode (sig, sig_len);
}

/* A JWS signs device JWTs, bearer credentials: no copy of the signature is left behind. */
gchar *
vpush_key_sign_jws (VpushKey *key, const gchar *text, GError **error)
{
  guint8 *sig = NULL;
  gsize sig_len = 0;
  guint8 raw[2 * P256_COORD_LEN];
  gchar *jws = NULL;

  g_return_val_if_fail (text != NULL, NULL);

  if (!vpush_key_sign_der (key, (const guint8 *)text, strlen (text), &sig, &sig_len, error))
    return NULL;
  if (vpush_ecdsa_der_to_raw (sig, sig_len, raw, error))
    jws = vpush_base64url_encode (raw, sizeof raw);
  vpush_secure_free (sig, sig_len);
  OPENSSL_cleanse (raw, sizeof raw);
  return jws;
}

/* Reads one DER INTEGER holding a positive value of at most 32 bytes and writes it
 * left-padded to 32 bytes. Short-form lengths only: a P-256 signature never needs more. */
static gboolean
der_read_coord (const guint8 **p, const guint8 *end, guint8 out[P256_COORD_LEN], GError **error)
{
  const guint8 *v;
  gsize len;

  if (end - *p < 2 || (*p)[0] != 0x02)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: expected an INTEGER");
      return FALSE;
    }
  len = (*p)[1];
  v = *p + 2;
  if (len == 0 || len > P256_COORD_LEN + 1 || len > (gsize)(end - v))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: bad INTEGER length %" G_GSIZE_FORMAT, len);
      return FALSE;
    }
  if (v[0] & 0x80)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "ECDSA signature: negative INTEGER");
      return FALSE;
    }
  /* DER allows a leading zero only as the sign byte in front of a high bit. */
  if (v[0] == 0x00 && len > 1 && !(v[1] & 0x80))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: INTEGER not minimally encoded");
      return FALSE;
    }
  *p = v + len;
  if (v[0] == 0x00)
    {
      v++;
      len--;
    }
  if (len > P256_COORD_LEN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: INTEGER wider than 256 bits");
      return FALSE;
    }
  if (len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "ECDSA signature: zero INTEGER");
      return FALSE;
    }
  memset (out, 0, P256_COORD_LEN - len);
  memcpy (out + P256_COORD_LEN - len, v, len);
  return TRUE;
}

gboolean
vpush_ecdsa_der_to_raw (const guint8 *der, gsize der_len, guint8 out_raw[64], GError **error)
{
  guint8 raw[2 * P256_COORD_LEN];
  const guint8 *p;
  const guint8 *end;

  g_return_val_if_fail (der != NULL || der_len == 0, FALSE);
  g_return_val_if_fail (out_raw != NULL, FALSE);

  /* The content is at most 2 × (2 + 33) = 70 bytes, so the length is always short form. */
  if (der_len < 2 || der[0] != 0x30 || (der[1] & 0x80) || der[1] != der_len - 2)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: not a single DER SEQUENCE");
      return FALSE;
    }
  p = der + 2;
  end = der + der_len;
  if (!der_read_coord (&p, end, raw, error)
      || !der_read_coord (&p, end, raw + P256_COORD_LEN, error))
    return FALSE;
  if (p != end)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "ECDSA signature: extra data after s");
      return FALSE;
    }
  memcpy (out_raw, raw, sizeof raw);
  return TRUE;
}

gchar *
vpush_base64url_encode (const guint8 *data, gsize len)
{
  /* written out rather than g_base64_encode() and a pass to swap the characters: a JWT is
   * encoded on every answer */
  static const gchar alphabet[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  gchar *text;
  gchar *p;
  gsize i = 0;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (len <= (G_MAXSIZE - 1) / 4 * 3, NULL);

  p = text = g_malloc ((len + 2) / 3 * 4 + 1);
  for (; i + 3 <= len; i += 3)
    {
      guint32 v = (guint32)data[i] << 16 | (guint32)data[i + 1] << 8 | data[i + 2];

      *p++ = alphabet[v >> 18];
      *p++ = alphabet[(v >> 12) & 0x3f];
      *p++ = alphabet[(v >> 6) & 0x3f];
      *p++ = alphabet[v & 0x3f];
    }
  /* no padding */
  if (len - i == 1)
    {
      *p++ = alphabet[data[i] >> 2];
      *p++ = alphabet[(data[i] & 0x03) << 4];
    }
  else if (len - i == 2)
    {
      *p++ = alphabet[data[i] >> 2];
      *p++ = alphabet[(data[i] & 0x03) << 4 | data[i + 1] >> 4];
      *p++ = alphabet[(data[i + 1] & 0x0f) << 2];
    }
  *p = '\0';
  return text;
}

/* OpenSSL's secure heap, in blocks of at least 32 bytes. Once it is set up OpenSSL puts
 * there every private key it holds, and a full heap is no fallback to malloc() but a
 * failure: a P-256 private scalar takes 32 bytes, and each open TLS connection 96 (its key
 * exchange's; a block of 128). vpushd holds at most VPUSH_MAX_FACTORS_LIMIT factor keys,
 * a few more for enrollments and signatures under way, and a push stream per push URL
 * (at most one per factor) beside its pooled API connections: some 700 KB at the most.
 * 2 MiB leaves room (test-crypto /crypto/secure-heap); its pages are touched only as
 * they are used. */
#define SECURE_HEAP_SIZE      (2 * 1024 * 1024)
#define SECURE_HEAP_BLOCK_MIN 32

const gchar *
vpush_crypto_init_secure_heap (void)
{
  switch (CRYPTO_secure_malloc_init (SECURE_HEAP_SIZE, SECURE_HEAP_BLOCK_MIN))
    {
    case 1:
      return NULL;
    case 2:
      return "the keys are left out of core dumps, but not locked in memory (RLIMIT_MEMLOCK, "
             "or the system call filter): they may be swapped out";
    default:
      return "no secure heap: the keys are neither left out of core dumps nor locked in "
             "memory";
    }
}

void
vpush_secure_free (gpointer data, gsize len)
{
  if (data == NULL)
    return;
  OPENSSL_cleanse (data, len);
  g_free (data);
}

gboolean
vpush_crypto_check_ca_file (const gchar *path, GError **error)
{
  g_autofree gchar *data = NULL;
  gsize length = 0;
  BIO *bio;
  X509 *cert;

  if (!g_file_get_contents (path, &data, &length, error))
    return FALSE;
  if (length > G_MAXINT)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "too large");
      return FALSE;
    }
  /* the first one is enough to tell a CA bundle from another file: libcurl reads the rest */
  bio = BIO_new_mem_buf (data, (int)length);
  /* _AUX: OpenSSL's TRUSTED CERTIFICATE too, as in some distributions' bundles */
  cert = bio != NULL ? PEM_read_bio_X509_AUX (bio, NULL, NULL, NULL) : NULL;
  BIO_free (bio);
  ERR_clear_error ();
  if (cert == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "it holds no PEM certificate");
      return FALSE;
    }
  X509_free (cert);
  return TRUE;
}
