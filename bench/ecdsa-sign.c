/* The baseline of "daemon CPU per approval" in bench/run: one ECDSA P-256 signature made
 * the way vpushd makes its signatures (daemon/vpush-crypto.c: OpenSSL 3 EVP,
 * EVP_DigestSignInit_ex with SHA-256, a size query, then the DER signature), over a
 * message as long as an answer's JWS signing input. bench/run counts the instructions of
 * sign_n() with callgrind (--toggle-collect=sign_n) and divides by N; one signature before
 * it warms OpenSSL's caches, as in a running vpushd.
 *
 * Usage: ecdsa-sign [N]     (default 20) */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGE_LEN 900

int sign_n (EVP_PKEY *key, int n, const unsigned char *msg, size_t len);

static int
sign_one (EVP_PKEY *key, const unsigned char *msg, size_t len)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  int ok
      = ctx != NULL
        && EVP_DigestSignInit_ex (ctx, NULL, OSSL_DIGEST_NAME_SHA2_256, NULL, NULL, key, NULL) > 0
        && EVP_DigestSign (ctx, NULL, &sig_len, msg, len) > 0 && (sig = malloc (sig_len)) != NULL
        && EVP_DigestSign (ctx, sig, &sig_len, msg, len) > 0;

  free (sig);
  EVP_MD_CTX_free (ctx);
  return ok;
}

__attribute__ ((noinline)) int
sign_n (EVP_PKEY *key, int n, const unsigned char *msg, size_t len)
{
  int ok = 0;

  for (int i = 0; i < n; i++)
    ok += sign_one (key, msg, len);
  return ok;
}

int
main (int argc, char **argv)
{
  int n = argc > 1 ? atoi (argv[1]) : 20;
  unsigned char msg[MESSAGE_LEN];
  EVP_PKEY *key = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");

  if (key == NULL || n < 1)
    {
      fprintf (stderr, "ecdsa-sign: no P-256 key, or a bad N\n");
      return 1;
    }
  memset (msg, 'e', sizeof msg);
  if (!sign_one (key, msg, sizeof msg) || sign_n (key, n, msg, sizeof msg) != n)
    {
      fprintf (stderr, "ecdsa-sign: signing failed\n");
      return 1;
    }
  printf ("%d signatures\n", n);
  EVP_PKEY_free (key);
  return 0;
}
