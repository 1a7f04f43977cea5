/* The baseline of "daemon CPU per approval" in bench/run: one ECDSA P-256 signature made
 * the way vpushd makes its signatures (bench/p256-sign.h), over a message as long as an
 * answer's JWS signing input. bench/run counts the instructions of sign_n() with callgrind
 * (--toggle-collect=sign_n) and divides by N; one signature before it warms OpenSSL's
 * caches, as in a running vpushd.
 *
 * Usage: ecdsa-sign [N]     (default 20) */
#include <stdio.h>
#include <string.h>

#include "p256-sign.h"

#define MESSAGE_LEN 900

int sign_n (P256Signer *s, int n, const unsigned char *msg, size_t len);

__attribute__ ((noinline)) int
sign_n (P256Signer *s, int n, const unsigned char *msg, size_t len)
{
  int ok = 0;

  for (int i = 0; i < n; i++)
    ok += p256_sign (s, msg, len);
  return ok;
}

int
main (int argc, char **argv)
{
  int n = argc > 1 ? atoi (argv[1]) : 20;
  unsigned char msg[MESSAGE_LEN];
  P256Signer s = { 0 };

  if (!p256_signer_init (&s) || n < 1)
    {
      fprintf (stderr, "ecdsa-sign: no P-256 key, or a bad N\n");
      return 1;
    }
  memset (msg, 'e', sizeof msg);
  if (!p256_sign (&s, msg, sizeof msg) || sign_n (&s, n, msg, sizeof msg) != n)
    {
      fprintf (stderr, "ecdsa-sign: signing failed\n");
      return 1;
    }
  printf ("%d signatures\n", n);
  p256_signer_clear (&s);
  return 0;
}
