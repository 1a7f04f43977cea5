/* Internal parts of vpush-verify.c exposed for tests and fuzzing; not API. */
#pragma once

#include "vpush-verify.h"

G_BEGIN_DECLS

/* Maps the body of a list-challenges response (#6): every item must be a challenge of
 * factor, and meta.next_page_url (resolved against base_url) gives the next page token.
 * Fails with G_IO_ERROR_INVALID_DATA. */
VpushChallengePage *vpush_verify_parse_challenge_page (const gchar *base_url,
                                                       const VpushFactorRecord *factor,
                                                       VpushHttpResponse *response, GError **error);

/* Retry-After (delay-seconds or an HTTP-date, relative to date, the response's Date
 * header, or else to now, in server-aligned unix seconds) in milliseconds; FALSE when it
 * can't be read. */
gboolean vpush_verify_parse_retry_after (const gchar *value, const gchar *date, gint64 now,
                                         guint64 *out_ms);
/* The wait before transient-failure retry number retry (1-based): evenly in [d/2, d] with
 * d = min (base_ms × 2^(retry-1), max_ms), random picking the point. */
guint vpush_verify_backoff_ms (guint base_ms, guint max_ms, guint retry, guint32 random);
/* For tests: the backoff's base and ceiling (default 500 and 8000 ms). */
void vpush_verify_set_backoff (VpushVerify *self, guint base_ms, guint max_ms);

G_END_DECLS
