/* What the Verify API does with vpushd's signatures, for the tests: checks a DER ECDSA
 * signature against the public key vpushd registered, and decodes the base64url of a
 * JWT's segments. vpushd itself only signs and encodes. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Verifies a DER ECDSA-SHA256 signature with a base64 SubjectPublicKeyInfo of a P-256 key
 * (nothing before or after it). */
gboolean ecdsa_verify_der (const gchar *spki_b64, const guint8 *msg, gsize msg_len,
                           const guint8 *sig, gsize sig_len, GError **error);

/* base64url without padding, strict: a bad character, an impossible length or non-zero
 * unused bits are refused, so that each text has one decoding. */
guint8 *base64url_decode (const gchar *text, gsize *out_len, GError **error);

G_END_DECLS
