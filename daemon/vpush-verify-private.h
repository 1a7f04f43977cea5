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

G_END_DECLS
