/* ECDSA P-256 signatures made as vpushd makes them (daemon/vpush-crypto.c,
 * vpush_key_sign_der): SHA-256 fetched once, the digest, then EVP_PKEY_sign() with a
 * signing context kept per key. Shared by bench/ecdsa-sign and bench/push-work. */
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>

typedef struct
{
  EVP_PKEY *key;
  EVP_PKEY_CTX *ctx;
  EVP_MD *md;
} P256Signer;

static inline void
p256_signer_clear (P256Signer *s)
{
  EVP_PKEY_CTX_free (s->ctx);
  EVP_MD_free (s->md);
  EVP_PKEY_free (s->key);
}

/* A new key; 0 on failure */
static inline int
p256_signer_init (P256Signer *s)
{
  s->key = EVP_PKEY_Q_keygen (NULL, NULL, "EC", "P-256");
  s->md = EVP_MD_fetch (NULL, OSSL_DIGEST_NAME_SHA2_256, NULL);
  s->ctx = s->key != NULL ? EVP_PKEY_CTX_new_from_pkey (NULL, s->key, NULL) : NULL;
  return s->md != NULL && s->ctx != NULL && EVP_PKEY_sign_init (s->ctx) > 0
         && EVP_PKEY_CTX_set_signature_md (s->ctx, s->md) > 0;
}

static inline int
p256_sign (P256Signer *s, const unsigned char *msg, size_t len)
{
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  size_t sig_len = (size_t)EVP_PKEY_get_size (s->key);
  unsigned char *sig = malloc (sig_len);
  int ok = sig != NULL && EVP_Digest (msg, len, digest, &digest_len, s->md, NULL) > 0
           && EVP_PKEY_sign (s->ctx, sig, &sig_len, digest, digest_len) > 0;

  free (sig);
  return ok;
}
