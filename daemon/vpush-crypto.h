/* P-256 keys, their wire encodings and ECDSA signatures (protocol doc §4). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* An EC P-256 key pair; the private half never leaves this process. */
typedef struct _VpushKey VpushKey;

VpushKey *vpush_key_generate (GError **error);
/* From PKCS#8 DER (as kept in the Secret Service). */
VpushKey *vpush_key_new_from_pkcs8 (const guint8 *der, gsize len, GError **error);
void vpush_key_free (VpushKey *key);

/* PKCS#8 DER of the private key, for the key store. Free with vpush_secure_free(). */
gboolean vpush_key_export_pkcs8 (VpushKey *key, guint8 **out_der, gsize *out_len, GError **error);

/* Binding.PublicKey: standard base64 (padded) of the 91-byte SPKI DER. */
gchar *vpush_key_get_public_spki_b64 (VpushKey *key, GError **error);

/* ECDSA-SHA256 over msg, DER encoded. Free with g_free(). */
gboolean vpush_key_sign_der (VpushKey *key, const guint8 *msg, gsize msg_len, guint8 **out_sig,
                             gsize *out_len, GError **error);

/* Verify-factor AuthPayload (§5B): standard base64 of the DER signature over text. */
gchar *vpush_key_sign_b64 (VpushKey *key, const gchar *text, GError **error);

/* ES256 JWS signature (§4): base64url (no padding) of r‖s over text. */
gchar *vpush_key_sign_jws (VpushKey *key, const gchar *text, GError **error);

/* DER SEQUENCE{r,s} → 64-byte r‖s, each integer left-padded to 32 bytes. */
gboolean vpush_ecdsa_der_to_raw (const guint8 *der, gsize der_len, guint8 out_raw[64],
                                 GError **error);

gchar *vpush_base64url_encode (const guint8 *data, gsize len);

/* Wipes then frees a buffer that held secret material. NULL is fine. */
void vpush_secure_free (gpointer data, gsize len);

/* Puts what OpenSSL allocates for private keys (the private scalars, a signature's nonce) in
 * its secure heap: pages left out of core dumps (MADV_DONTDUMP) and locked in memory
 * (mlock) where that is allowed. Before any other thread exists. NULL when all of that
 * holds, or what does not. */
const gchar *vpush_crypto_init_secure_heap (void);

/* Whether path can be read and holds a PEM certificate (also OpenSSL's TRUSTED one), as a
 * CA bundle does */
gboolean vpush_crypto_check_ca_file (const gchar *path, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushKey, vpush_key_free)

G_END_DECLS
