/* Unit tests for P-256 keys, encodings and signatures (protocol doc §4). */
#include <string.h>

#include <gio/gio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "vpush-config.h"
#include "test-secure-heap.h"
#include "vpush-crypto.h"
#include "test-signatures.h"

#define SPKI_B64_PREFIX "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"

static const guint8 spki_der_prefix[] = {
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
  0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

/* Independent of vpush_ecdsa_der_to_raw(): OpenSSL builds the DER back from r‖s. */
static guint8 *
raw_to_der (const guint8 raw[64], gsize *out_len)
{
  ECDSA_SIG *sig = ECDSA_SIG_new ();
  unsigned char *der = NULL;
  guint8 *copy;
  int len;

  g_assert_nonnull (sig);
  g_assert_true (ECDSA_SIG_set0 (sig, BN_bin2bn (raw, 32, NULL), BN_bin2bn (raw + 32, 32, NULL)));
  len = i2d_ECDSA_SIG (sig, &der);
  g_assert_cmpint (len, >, 0);
  copy = g_memdup2 (der, len);
  *out_len = len;
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);
  return copy;
}

static void
test_spki_layout (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autofree gchar *b64 = NULL;
  g_autofree guint8 *der = NULL;
  gsize der_len = 0;

  g_assert_no_error (error);
  g_assert_nonnull (key);

  b64 = vpush_key_get_public_spki_b64 (key, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (b64), ==, 124);
  g_assert_true (g_str_has_prefix (b64, SPKI_B64_PREFIX));
  g_assert_null (strchr (b64, '\n'));

  der = g_base64_decode (b64, &der_len);
  g_assert_cmpuint (der_len, ==, 91);
  g_assert_cmpmem (der, sizeof spki_der_prefix, spki_der_prefix, sizeof spki_der_prefix);
}

static void
test_keys_differ (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) a = vpush_key_generate (&error);
  g_autoptr (VpushKey) b = vpush_key_generate (&error);
  g_autofree gchar *a_b64 = vpush_key_get_public_spki_b64 (a, &error);
  g_autofree gchar *b_b64 = vpush_key_get_public_spki_b64 (b, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (a_b64, !=, b_b64);
}

static void
test_pkcs8_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autoptr (VpushKey) again = NULL;
  g_autofree gchar *spki = NULL;
  g_autofree gchar *spki_again = NULL;
  g_autofree guint8 *sig = NULL;
  guint8 *pkcs8 = NULL;
  gsize pkcs8_len = 0;
  gsize sig_len = 0;
  const gchar *msg = "YF0123456789abcdef0123456789abcdef";

  g_assert_no_error (error);
  g_assert_true (vpush_key_export_pkcs8 (key, &pkcs8, &pkcs8_len, &error));
  g_assert_no_error (error);
  /* PrivateKeyInfo: a SEQUENCE with version 0 first. */
  g_assert_cmpuint (pkcs8_len, >, 60);
  g_assert_cmphex (pkcs8[0], ==, 0x30);

  again = vpush_key_new_from_pkcs8 (pkcs8, pkcs8_len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  vpush_secure_free (pkcs8, pkcs8_len);

  spki = vpush_key_get_public_spki_b64 (key, &error);
  g_assert_no_error (error);
  spki_again = vpush_key_get_public_spki_b64 (again, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (spki, ==, spki_again);

  g_assert_true (
      vpush_key_sign_der (again, (const guint8 *)msg, strlen (msg), &sig, &sig_len, &error));
  g_assert_no_error (error);
  g_assert_true (ecdsa_verify_der (spki, (const guint8 *)msg, strlen (msg), sig, sig_len, &error));
  g_assert_no_error (error);
}

/* A private key DER-encoded by OpenSSL directly, in the given structure. */
static GBytes *
encode_private_key (const gchar *curve, const gchar *structure)
{
  EVP_PKEY *pkey = EVP_PKEY_Q_keygen (NULL, NULL, "EC", curve);
  OSSL_ENCODER_CTX *ectx;
  unsigned char *der = NULL;
  size_t len = 0;
  GBytes *bytes;

  g_assert_nonnull (pkey);
  ectx = OSSL_ENCODER_CTX_new_for_pkey (pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "DER", structure, NULL);
  g_assert_true (OSSL_ENCODER_to_data (ectx, &der, &len));
  bytes = g_bytes_new (der, len);
  OPENSSL_clear_free (der, len);
  OSSL_ENCODER_CTX_free (ectx);
  EVP_PKEY_free (pkey);
  return bytes;
}

static void
assert_pkcs8_rejected (const guint8 *der, gsize len, const gchar *message_part)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (vpush_key_new_from_pkcs8 (der, len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, message_part));
}

static void
test_pkcs8_invalid (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autoptr (GBytes) p384 = encode_private_key ("P-384", "PrivateKeyInfo");
  g_autoptr (GBytes) p256 = encode_private_key ("P-256", "PrivateKeyInfo");
  g_autoptr (GBytes) sec1 = encode_private_key ("P-256", "type-specific");
  g_autoptr (VpushKey) from_openssl = NULL;
  g_autofree guint8 *padded = NULL;
  guint8 *pkcs8 = NULL;
  gsize pkcs8_len = 0;
  gsize len = 0;
  const guint8 junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
  const guint8 *der;

  g_assert_no_error (error);
  g_assert_true (vpush_key_export_pkcs8 (key, &pkcs8, &pkcs8_len, &error));

  assert_pkcs8_rejected (junk, sizeof junk, "PKCS#8");
  assert_pkcs8_rejected (pkcs8, 0, "PKCS#8");
  assert_pkcs8_rejected (pkcs8, pkcs8_len - 1, "PKCS#8");

  padded = g_malloc0 (pkcs8_len + 1);
  memcpy (padded, pkcs8, pkcs8_len);
  assert_pkcs8_rejected (padded, pkcs8_len + 1, "PKCS#8");
  vpush_secure_free (pkcs8, pkcs8_len);

  /* The same curve from OpenSSL's own encoder is fine, other formats and curves are not. */
  der = g_bytes_get_data (p256, &len);
  from_openssl = vpush_key_new_from_pkcs8 (der, len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (from_openssl);

  der = g_bytes_get_data (sec1, &len);
  assert_pkcs8_rejected (der, len, "PKCS#8");

  der = g_bytes_get_data (p384, &len);
  assert_pkcs8_rejected (der, len, "P-256");
}

static void
test_sign_der (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autoptr (VpushKey) other = vpush_key_generate (&error);
  g_autofree gchar *spki = vpush_key_get_public_spki_b64 (key, &error);
  g_autofree gchar *other_spki = vpush_key_get_public_spki_b64 (other, &error);
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;
  guint8 raw[64];
  const guint8 msg[] = "message";

  g_assert_no_error (error);
  g_assert_true (vpush_key_sign_der (key, msg, sizeof msg - 1, &sig, &sig_len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sig_len, <=, 72);
  g_assert_true (vpush_ecdsa_der_to_raw (sig, sig_len, raw, &error));
  g_assert_no_error (error);

  g_assert_true (ecdsa_verify_der (spki, msg, sizeof msg - 1, sig, sig_len, &error));
  g_assert_no_error (error);

  g_assert_false (ecdsa_verify_der (spki, msg, sizeof msg - 2, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  g_assert_false (ecdsa_verify_der (other_spki, msg, sizeof msg - 1, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  sig[sig_len - 1] ^= 0x01;
  g_assert_false (ecdsa_verify_der (spki, msg, sizeof msg - 1, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  g_assert_false (ecdsa_verify_der (spki, msg, sizeof msg - 1, sig, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_verify_bad_spki (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autofree gchar *spki = vpush_key_get_public_spki_b64 (key, &error);
  g_autofree gchar *truncated = NULL;
  g_autofree gchar *with_space = NULL;
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;
  const guint8 msg[] = "m";

  g_assert_no_error (error);
  g_assert_true (vpush_key_sign_der (key, msg, 1, &sig, &sig_len, &error));

  g_assert_false (ecdsa_verify_der ("", msg, 1, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* Still valid base64, but the DER is cut short. */
  truncated = g_strndup (spki, 120);
  g_assert_false (ecdsa_verify_der (truncated, msg, 1, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  with_space = g_strdup (spki);
  with_space[40] = ' ';
  g_assert_false (ecdsa_verify_der (with_space, msg, 1, sig, sig_len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void
test_sign_b64 (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autofree gchar *spki = vpush_key_get_public_spki_b64 (key, &error);
  g_autofree gchar *b64 = NULL;
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;
  const gchar *sid = "YF0123456789abcdef0123456789abcdef";

  g_assert_no_error (error);
  b64 = vpush_key_sign_b64 (key, sid, &error);
  g_assert_no_error (error);
  /* Standard alphabet, padded, one line. */
  g_assert_cmpuint (strlen (b64) % 4, ==, 0);
  g_assert_null (strpbrk (b64, "-_\n"));

  sig = g_base64_decode (b64, &sig_len);
  g_assert_cmphex (sig[0], ==, 0x30);
  g_assert_true (ecdsa_verify_der (spki, (const guint8 *)sid, strlen (sid), sig, sig_len, &error));
  g_assert_no_error (error);
}

static void
test_sign_jws (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autofree gchar *spki = vpush_key_get_public_spki_b64 (key, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree gchar *text = g_strdup_printf ("header.payload%u", i);
      g_autofree gchar *jws = vpush_key_sign_jws (key, text, &error);
      g_autofree guint8 *raw = NULL;
      g_autofree guint8 *der = NULL;
      gsize raw_len = 0;
      gsize der_len = 0;

      g_assert_no_error (error);
      g_assert_cmpuint (strlen (jws), ==, 86);
      raw = base64url_decode (jws, &raw_len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (raw_len, ==, 64);

      der = raw_to_der (raw, &der_len);
      g_assert_true (
          ecdsa_verify_der (spki, (const guint8 *)text, strlen (text), der, der_len, &error));
      g_assert_no_error (error);
    }
}

/* Real signatures through OpenSSL's own encoder, including short r and s. */
static void
test_der_to_raw_openssl (void)
{
  static const gsize widths[] = { 32, 31, 30, 20, 1 };

  for (gsize i = 0; i < G_N_ELEMENTS (widths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree guint8 *der = NULL;
      guint8 raw[64];
      guint8 out[64];
      gsize der_len = 0;

      /* r and s with `widths[i]` significant bytes, high bit set to force a sign byte. */
      memset (raw, 0, sizeof raw);
      for (gsize j = 32 - widths[i]; j < 32; j++)
        {
          raw[j] = (guint8)(0x11 * (j + 1));
          raw[32 + j] = (guint8)(0x0d * (j + 3));
        }
      raw[32 - widths[i]] |= 0x80;
      raw[64 - widths[i]] |= 0x01;

      der = raw_to_der (raw, &der_len);
      g_assert_true (vpush_ecdsa_der_to_raw (der, der_len, out, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (out, 64, raw, 64);
    }
}

/* This binary links with -Wl,--wrap=g_free (tests/meson.build): every g_free() in it, the
 * daemon library's included, comes here first. So the buffer vpush_secure_free() hands to
 * g_free() can be looked at just before it is freed, while it is still allocated. */
void __real_g_free (gpointer mem);
void __wrap_g_free (gpointer mem);

#define WATCH_MAX 64

static struct
{
  gconstpointer buffer; /* the buffer to look at when it is freed, or NULL */
  gsize len;
  guint8 seen[WATCH_MAX]; /* its first len bytes when it was freed */
  guint frees;            /* how many times it was freed */
} watch;

void
__wrap_g_free (gpointer mem)
{
  if (mem != NULL && mem == watch.buffer)
    {
      watch.frees++;
      memcpy (watch.seen, mem, watch.len);
    }
  __real_g_free (mem);
}

static guint8
secret_byte (gsize i)
{
  return (guint8)(0x80 | (i * 37 + 11)); /* never 0 */
}

/* The header's promise: "Wipes then frees a buffer that held secret material." */
static void
test_secure_free_wipes_then_frees (void)
{
  static const gsize sizes[] = { 1, 16, 32, WATCH_MAX };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      gsize len = sizes[s];
      guint8 *secret = g_malloc (len);

      g_test_message ("%" G_GSIZE_FORMAT " bytes", len);
      for (gsize i = 0; i < len; i++)
        secret[i] = watch.seen[i] = secret_byte (i);
      watch.buffer = secret;
      watch.len = len;
      watch.frees = 0;

      vpush_secure_free (secret, len);
      watch.buffer = NULL;

      g_assert_cmpuint (watch.frees, ==, 1);
      for (gsize i = 0; i < len; i++)
        g_assert_cmpuint (watch.seen[i], !=, secret_byte (i));
    }
}

/* "NULL is fine", whatever the length. */
static void
test_secure_free_null (void)
{
  vpush_secure_free (NULL, 0);
  vpush_secure_free (NULL, 16);
}

/* set up in main(), as vpushd does before any thread */
static const gchar *secure_heap_missing;

/* The keys go to OpenSSL's secure heap (left out of core dumps), and it has room for as
 * many as vpushd may hold: every factor's, each with a TLS connection of its own (a push
 * stream per push URL; each keeps 96 bytes there, a block of 128, with OpenSSL 3.0 and
 * TLS 1.3), with room to spare for enrollments, signatures and pooled connections */
static void
test_secure_heap (void)
{
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_key_free);
  g_autoptr (GPtrArray) connections = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *sig = NULL;
  gsize sig_len = 0;
  gsize before;
  VpushKey *key;

  /* as root mlock() always works; a user's RLIMIT_MEMLOCK may be too low for it */
  g_assert_true (secure_heap_missing == NULL || strstr (secure_heap_missing, "not locked"));
  g_assert_true (CRYPTO_secure_malloc_initialized ());
  /* the first also sets up OpenSSL's random generator, whose state stays there */
  vpush_key_free (vpush_key_generate (&error));
  g_assert_no_error (error);
  before = CRYPTO_secure_used ();
  key = vpush_key_generate (&error);
  g_assert_no_error (error);
  g_assert_cmpuint (CRYPTO_secure_used (), >, before);
  vpush_key_free (key);
  g_assert_cmpuint (CRYPTO_secure_used (), ==, before);

  for (guint i = 0; i < VPUSH_MAX_FACTORS_LIMIT + 64; i++)
    {
      gpointer connection = OPENSSL_secure_malloc (96);

      g_assert_nonnull (connection);
      g_ptr_array_add (connections, connection);
      key = vpush_key_generate (&error);
      g_assert_no_error (error);
      g_ptr_array_add (keys, key);
    }
  g_assert_true (vpush_key_sign_der (key, (const guint8 *)"m", 1, &sig, &sig_len, &error));
  g_assert_no_error (error);
  /* more than half of its 2 MiB is still free */
  g_assert_cmpuint (CRYPTO_secure_used (), <, 1024 * 1024);
  for (guint i = 0; i < connections->len; i++)
    OPENSSL_secure_free (connections->pdata[i]);
}

/* DER: tag, length (long form as needed), contents */
static void
der_append (GByteArray *out, guint8 tag, const guint8 *contents, gsize len)
{
  guint8 head[6] = { tag };
  guint n = 1;

  if (len < 0x80)
    head[n++] = (guint8)len;
  else
    {
      guint bytes = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;

      head[n++] = 0x80 | bytes;
      for (guint i = bytes; i > 0; i--)
        head[n++] = (guint8)(len >> (8 * (i - 1)));
    }
  g_byte_array_append (out, head, n);
  g_byte_array_append (out, contents, (guint)len);
}

/* A PKCS#8 P-256 key whose private key is scalar_len bytes (a P-256 one has 32) */
static GByteArray *
pkcs8_with_scalar (gsize scalar_len)
{
  static const guint8 version[] = { 0x02, 0x01, 0x00 };
  static const guint8 algorithm[]
      = { 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
          0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
  static const guint8 ec_version[] = { 0x02, 0x01, 0x01 };
  g_autofree guint8 *scalar = g_malloc (scalar_len);
  g_autoptr (GByteArray) ec = g_byte_array_new ();
  g_autoptr (GByteArray) ec_seq = g_byte_array_new ();
  g_autoptr (GByteArray) info = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();

  memset (scalar, 0x42, scalar_len);
  g_byte_array_append (ec, ec_version, sizeof ec_version);
  der_append (ec, 0x04, scalar, scalar_len);
  der_append (ec_seq, 0x30, ec->data, ec->len);
  g_byte_array_append (info, version, sizeof version);
  g_byte_array_append (info, algorithm, sizeof algorithm);
  der_append (info, 0x04, ec_seq->data, ec_seq->len);
  der_append (out, 0x30, info->data, info->len);
  return out;
}

/* A key that can't be read because the secure heap is full is not a broken key: the key
 * store would take that for a key to drop. Nor is a broken key one that can't be read
 * for lack of memory: OpenSSL puts a private key in the heap before it looks at its size,
 * and one larger than the heap was taken for that. */
static void
test_secure_heap_full (void)
{
  GPtrArray *blocks;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = vpush_key_generate (&error);
  g_autoptr (VpushKey) again = NULL;
  g_autoptr (GByteArray) huge = pkcs8_with_scalar (3 * 1024 * 1024);
  g_autoptr (GByteArray) small = pkcs8_with_scalar (32);
  guint8 *pkcs8 = NULL;
  gsize pkcs8_len = 0;

  g_assert_no_error (error);
  g_assert_true (vpush_key_export_pkcs8 (key, &pkcs8, &pkcs8_len, &error));
  g_assert_no_error (error);
  /* the DER is made right: with a scalar of 32 bytes it is a key */
  again = vpush_key_new_from_pkcs8 (small->data, small->len, &error);
  g_assert_no_error (error);
  g_clear_pointer (&again, vpush_key_free);
  g_assert_null (vpush_key_new_from_pkcs8 (huge->data, huge->len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  blocks = secure_heap_fill ();
  again = vpush_key_new_from_pkcs8 (pkcs8, pkcs8_len, &error);
  g_assert_null (again);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  secure_heap_release (blocks);
  again = vpush_key_new_from_pkcs8 (pkcs8, pkcs8_len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  vpush_secure_free (pkcs8, pkcs8_len);
}

int
main (int argc, char **argv)
{
  secure_heap_missing = vpush_crypto_init_secure_heap ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/spki/layout", test_spki_layout);
  g_test_add_func ("/crypto/spki/keys-differ", test_keys_differ);
  g_test_add_func ("/crypto/pkcs8/round-trip", test_pkcs8_round_trip);
  g_test_add_func ("/crypto/pkcs8/invalid", test_pkcs8_invalid);
  g_test_add_func ("/crypto/sign/der", test_sign_der);
  g_test_add_func ("/crypto/sign/b64", test_sign_b64);
  g_test_add_func ("/crypto/sign/jws", test_sign_jws);
  g_test_add_func ("/crypto/verify/bad-spki", test_verify_bad_spki);
  g_test_add_func ("/crypto/der-to-raw/openssl", test_der_to_raw_openssl);
  g_test_add_func ("/crypto/secure-free/wipes-then-frees", test_secure_free_wipes_then_frees);
  g_test_add_func ("/crypto/secure-free/null", test_secure_free_null);
  g_test_add_func ("/crypto/secure-heap", test_secure_heap);
  g_test_add_func ("/crypto/secure-heap-full", test_secure_heap_full);

  return g_test_run ();
}
