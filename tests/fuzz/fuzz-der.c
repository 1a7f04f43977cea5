/* vpush_ecdsa_der_to_raw(): DER SEQUENCE{r,s} → 64-byte r‖s. */
#include "fuzz-common.h"

#include <gio/gio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <string.h>

#include "vpush-crypto.h"

/* DER of one positive INTEGER from 32 big-endian bytes, minimally encoded. */
static void
append_integer (GByteArray *der, const guint8 coord[32])
{
  gsize skip = 0;
  guint8 header[3] = { 0x02, 0, 0 };

  while (skip < 31 && coord[skip] == 0)
    skip++;
  header[1] = (guint8)(32 - skip + ((coord[skip] & 0x80) ? 1 : 0));
  g_byte_array_append (der, header, (coord[skip] & 0x80) ? 3 : 2);
  g_byte_array_append (der, coord + skip, 32 - skip);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 raw[64];
  guint8 sentinel[64];
  g_autoptr (GError) error = NULL;
  g_autoptr (GByteArray) der = NULL;
  guint8 seq[2] = { 0x30, 0 };
  ECDSA_SIG *sig;
  const unsigned char *p = data;
  const BIGNUM *r;
  const BIGNUM *s;
  guint8 r_bytes[32];
  guint8 s_bytes[32];

  fuzz_init ();
  memset (sentinel, 0xa5, sizeof sentinel);
  memcpy (raw, sentinel, sizeof raw);
  if (!vpush_ecdsa_der_to_raw (data, size, raw, &error))
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      /* nothing is written on failure */
      FUZZ_CHECK (memcmp (raw, sentinel, sizeof raw) == 0);
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  /* neither half is zero */
  FUZZ_CHECK (memcmp (raw, (guint8[32]){ 0 }, 32) != 0);
  FUZZ_CHECK (memcmp (raw + 32, (guint8[32]){ 0 }, 32) != 0);

  /* strict DER: encoding r‖s again gives back exactly the input */
  der = g_byte_array_new ();
  append_integer (der, raw);
  append_integer (der, raw + 32);
  seq[1] = (guint8)der->len;
  g_byte_array_prepend (der, seq, 2);
  FUZZ_CHECK (der->len == size && memcmp (der->data, data, size) == 0);

  /* and OpenSSL reads the same two numbers from it */
  sig = d2i_ECDSA_SIG (NULL, &p, (long)size);
  FUZZ_CHECK (sig != NULL && p == data + size);
  ECDSA_SIG_get0 (sig, &r, &s);
  FUZZ_CHECK (BN_bn2binpad (r, r_bytes, 32) == 32 && BN_bn2binpad (s, s_bytes, 32) == 32);
  FUZZ_CHECK (memcmp (r_bytes, raw, 32) == 0 && memcmp (s_bytes, raw + 32, 32) == 0);
  ECDSA_SIG_free (sig);
  return 0;
}
