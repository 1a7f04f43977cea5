/* Unit tests for the encodings of signatures and JWTs: DER to r‖s (protocol doc §4), and
 * base64url without padding, by fixed vectors. */
#include <string.h>

#include <gio/gio.h>

#include "vpush-crypto.h"
#include "test-signatures.h"

typedef struct
{
  const gchar *name;
  const gchar *der_hex;
  const gchar *raw_hex; /* NULL: must be rejected */
} DerVector;

/* clang-format off: one vector a line, its DER fields apart */
#define R32      "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define S32      "7a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f1001"
#define R31_TAIL "1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1"
#define R31      "7f" R31_TAIL
#define S30      "0a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f"
#define Z1       "00"
#define Z2       "0000"
/* A well-formed r (32 bytes, high bit clear) and s, to break one thing at a time. */
#define GOOD_R                                                                                     \
  "0220"                                                                                           \
  "0f" R31
#define GOOD_S "0220" S32

static const DerVector der_vectors[] = {
  /* r has its high bit set, so DER puts a 0x00 sign byte in front: 33 bytes. */
  { "sign-byte",
    "3045"
    "0221"
    "00" R32 "0220" S32,
    R32 S32 },
  /* Short r and s, each left-padded with zeros. */
  { "short-31-30",
    "3041"
    "021f" R31 "021e" S30,
    Z1 R31 Z2 S30 },
  { "short-30-31",
    "3041"
    "021e" S30 "021f" R31,
    Z2 S30 Z1 R31 },
  /* Tiny r (one byte), s with a sign byte. */
  { "tiny-r",
    "3026"
    "0201"
    "01"
    "0221"
    "00" R32,
    Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z2 Z1 "01" R32 },
  /* A high-bit 31-byte r keeps its sign byte: 32 bytes on the wire, one byte of padding. */
  { "sign-byte-short",
    "3042"
    "0220"
    "00"
    "ff" R31_TAIL "021e" S30,
    Z1 "ff" R31_TAIL Z2 S30 },
  { "well-formed", "3044" GOOD_R GOOD_S, "0f" R31 S32 },

  { "empty", "", NULL },
  { "only-tag", "30", NULL },
  { "wrong-outer-tag", "3144" GOOD_R GOOD_S, NULL },
  { "wrong-int-tag",
    "3044"
    "0320"
    "0f" R31 GOOD_S,
    NULL },
  { "wrong-second-int-tag", "3044" GOOD_R "0420" S32, NULL },
  { "seq-too-long", "3045" GOOD_R GOOD_S, NULL },
  { "seq-too-short", "3043" GOOD_R GOOD_S, NULL },
  { "trailing-byte", "3044" GOOD_R GOOD_S "00", NULL },
  { "trailing-in-seq", "3046" GOOD_R GOOD_S "0500", NULL },
  { "one-int", "3022" GOOD_R, NULL },
  { "int-overruns",
    "3022"
    "0221"
    "0f" R31,
    NULL },
  { "int-34",
    "3046"
    "0222"
    "0000" R32 GOOD_S,
    NULL },
  { "int-33-no-sign-byte",
    "3045"
    "0221"
    "01" R32 GOOD_S,
    NULL },
  { "int-empty",
    "3024"
    "0200" GOOD_S,
    NULL },
  { "negative",
    "3044"
    "0220" R32 GOOD_S,
    NULL },
  { "not-minimal",
    "3045"
    "0221"
    "00"
    "0f" R31 GOOD_S,
    NULL },
  { "zero",
    "3025"
    "0201"
    "00" GOOD_S,
    NULL },
  { "long-form-length", "308144" GOOD_R GOOD_S, NULL },
};
/* clang-format on */

static guint8 *
unhex (const gchar *hex, gsize *out_len)
{
  gsize len = strlen (hex) / 2;
  guint8 *bytes = g_malloc0 (len + 1);

  g_assert_cmpuint (strlen (hex) % 2, ==, 0);
  for (gsize i = 0; i < len; i++)
    bytes[i] = (g_ascii_xdigit_value (hex[2 * i]) << 4) | g_ascii_xdigit_value (hex[2 * i + 1]);
  *out_len = len;
  return bytes;
}

static void
test_der_to_raw_vectors (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (der_vectors); i++)
    {
      const DerVector *v = &der_vectors[i];
      g_autoptr (GError) error = NULL;
      g_autofree guint8 *der = NULL;
      gsize der_len = 0;
      guint8 raw[64];

      g_test_message ("vector %s", v->name);
      der = unhex (v->der_hex, &der_len);
      memset (raw, 0xaa, sizeof raw);
      if (v->raw_hex != NULL)
        {
          g_autofree guint8 *expected = NULL;
          gsize expected_len = 0;

          expected = unhex (v->raw_hex, &expected_len);
          g_assert_cmpuint (expected_len, ==, 64);
          g_assert_true (vpush_ecdsa_der_to_raw (der, der_len, raw, &error));
          g_assert_no_error (error);
          g_assert_cmpmem (raw, 64, expected, 64);
        }
      else
        {
          g_assert_false (vpush_ecdsa_der_to_raw (der, der_len, raw, &error));
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        }
    }
}

typedef struct
{
  const gchar *plain;
  const gchar *encoded;
} B64Vector;

static void
test_base64url_vectors (void)
{
  /* RFC 4648 §10 test vectors: lengths 0..6, no padding. */
  static const B64Vector vectors[] = {
    { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
    { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
  };
  static const guint8 url_bytes[] = { 0xfb, 0xff, 0xbf };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr (GError) error = NULL;
      gsize len = strlen (vectors[i].plain);
      g_autofree gchar *enc = vpush_base64url_encode ((const guint8 *)vectors[i].plain, len);
      g_autofree guint8 *dec = NULL;
      gsize dec_len = 99;

      g_assert_cmpstr (enc, ==, vectors[i].encoded);
      dec = base64url_decode (vectors[i].encoded, &dec_len, &error);
      g_assert_no_error (error);
      g_assert_nonnull (dec);
      g_assert_cmpmem (dec, dec_len, vectors[i].plain, len);
    }

  /* The two characters that differ from standard base64. */
  {
    g_autofree gchar *enc = vpush_base64url_encode (url_bytes, sizeof url_bytes);

    g_assert_cmpstr (enc, ==, "-_-_");
  }
}

static void
test_base64url_round_trip (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (4242);

  for (gsize len = 0; len <= 70; len++)
    {
      for (guint round = 0; round < 8; round++)
        {
          g_autoptr (GError) error = NULL;
          g_autofree guint8 *data = g_malloc0 (len + 1);
          g_autofree gchar *enc = NULL;
          g_autofree guint8 *dec = NULL;
          gsize dec_len = 0;

          for (gsize i = 0; i < len; i++)
            data[i] = (guint8)g_rand_int_range (rand, 0, 256);
          enc = vpush_base64url_encode (data, len);
          g_assert_null (strpbrk (enc, "+/=\n"));
          g_assert_cmpuint (strlen (enc), ==, (len * 4 + 2) / 3);

          dec = base64url_decode (enc, &dec_len, &error);
          g_assert_no_error (error);
          g_assert_cmpmem (dec, dec_len, data, len);
        }
    }
}

static void
test_base64url_invalid (void)
{
  static const gchar *invalid[] = {
    "A",            /* 1 char mod 4 cannot encode whole bytes */
    "Zm9vY",        /* idem */
    "Zg==",         /* padding is not base64url */
    "Zm8=",         /* idem */
    "Zm+v",         /* standard alphabet */
    "Zm/v",         /* idem */
    "Zm9v\n",       /* no wrapping */
    "Zm 9v",        /* no spaces */
    "Zh",           /* non-zero unused bits */
    "Zm9",          /* idem */
    "Zm9v\xc3\xa9", /* non-ASCII */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *escaped = g_strescape (invalid[i], NULL);
      gsize len = 0;

      g_test_message ("input %s", escaped);
      g_assert_null (base64url_decode (invalid[i], &len, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/der-to-raw/vectors", test_der_to_raw_vectors);
  g_test_add_func ("/crypto/base64url/vectors", test_base64url_vectors);
  g_test_add_func ("/crypto/base64url/round-trip", test_base64url_round_trip);
  g_test_add_func ("/crypto/base64url/invalid", test_base64url_invalid);

  return g_test_run ();
}
