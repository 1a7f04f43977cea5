/* base64url_decode() and vpush_base64url_encode() (JWT segments, §4). */
#include "fuzz-common.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-crypto.h"
#include "test-signatures.h"

static gint
value_of (gchar c)
{
  const gchar *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const gchar *p = c != '\0' ? strchr (alphabet, c) : NULL;

  return p != NULL ? (gint)(p - alphabet) : -1;
}

/* Unpadded base64url whose unused trailing bits are zero: one text per byte string. */
static gboolean
is_canonical (const gchar *text)
{
  gsize len = strlen (text);

  if (len % 4 == 1)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (value_of (text[i]) < 0)
        return FALSE;
    }
  if (len % 4 == 2)
    return (value_of (text[len - 1]) & 0x0f) == 0;
  if (len % 4 == 3)
    return (value_of (text[len - 1]) & 0x03) == 0;
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree gchar *text = NULL;
  g_autofree guint8 *decoded = NULL;
  g_autofree gchar *encoded = NULL;
  g_autofree gchar *again = NULL;
  g_autofree guint8 *back = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = G_MAXSIZE;
  gsize back_len = 0;

  fuzz_init ();

  /* decoding: accepted exactly when canonical, and then it encodes back to the text */
  text = fuzz_strndup (data, size);
  decoded = base64url_decode (text, &len, &error);
  FUZZ_CHECK ((decoded != NULL) == is_canonical (text));
  if (decoded == NULL)
    fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  else
    {
      FUZZ_CHECK (error == NULL);
      FUZZ_CHECK (len == strlen (text) * 3 / 4);
      again = vpush_base64url_encode (decoded, len);
      FUZZ_CHECK (g_str_equal (again, text));
    }

  /* encoding: any bytes, no padding, URL-safe, and decoding gives them back */
  encoded = vpush_base64url_encode (data, size);
  FUZZ_CHECK (encoded != NULL && strpbrk (encoded, "=+/") == NULL);
  FUZZ_CHECK (strlen (encoded) == (size * 4 + 2) / 3);
  back = base64url_decode (encoded, &back_len, NULL);
  FUZZ_CHECK (back != NULL && back_len == size);
  FUZZ_CHECK (size == 0 || memcmp (back, data, size) == 0);
  return 0;
}
