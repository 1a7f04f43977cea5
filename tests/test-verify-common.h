/* What the tests of the Verify client (test-verify-calls.c, -map.c, -clock.c, -retry.c) share:
 * the sids of one factor, a fixture with a client and an in-test HTTP/1.1 server, and the
 * request checks and calls run to completion that more than one of them uses. */
#pragma once

#include <gio/gio.h>

#include "vpush-verify.h"
#include "vpush-verify-private.h"

#include "test-http-server.h"

#define SERVICE_SID    "VA0123456789abcdef0123456789abcdef"
#define FACTOR_SID     "YF0123456789abcdef0123456789abcdef"
#define OTHER_FACTOR   "YFffffffffffffffffffffffffffffffff"
#define ACCOUNT_SID    "AC0123456789abcdef0123456789abcdef"
#define ENTITY_SID     "YE0123456789abcdef0123456789abcdef"
#define CREDENTIAL_SID "CR0123456789abcdef0123456789abcdef"
#define CHALLENGE_SID  "YC0123456789abcdef0123456789abcdef"
/* every byte of it that is not unreserved must be percent-encoded in the path */
#define IDENTITY         "user 1/ä+x"
#define IDENTITY_ENCODED "user%201%2F%C3%A4%2Bx"
#define ENTITY_PATH      "/v2/Services/" SERVICE_SID "/Entities/" IDENTITY_ENCODED

typedef struct
{
  Server *server;
  VpushHttp *http;
  VpushVerify *verify;
  VpushKey *key;
  gchar *spki;
  VpushFactorRecord *factor;
  gint64 last_correction;
  guint n_corrections;
  guint n_attempts;
  guint n_failed_attempts;
} Fixture;

/* A test of path /verify/<path> with the fixture */
#define ADD(path, func)                                                                            \
  g_test_add ("/verify/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

/* running async calls to completion */
void store_result (GObject *source, GAsyncResult *result, gpointer user_data);
GAsyncResult *wait_for (GAsyncResult **slot);

/* request checks */
gchar *basic_password (ServerRequest *req);
void jwt_verify (const gchar *jwt, const gchar *spki, JsonObject **out_header,
                 JsonObject **out_payload);

/* fixture */
void on_attempt_finished (VpushVerify *verify, const GError *failure, const gchar *factor_sid,
                          gpointer user_data);
void fixture_set_up (Fixture *fx, gconstpointer user_data);
void fixture_tear_down (Fixture *fx, gconstpointer user_data);
gint64 assert_device_auth (Fixture *fx, guint i);
gchar *challenge_json (const gchar *factor_sid, const gchar *status);
gchar *rfc1123 (gint64 unix_seconds);

/* running calls */
VpushChallenge *fetch (Fixture *fx, const gchar *challenge_sid, GError **error);
gboolean delete (Fixture *fx, GError **error);
extern const gchar factor_response[];
VpushFactorRecord *create_factor (Fixture *fx, const gchar *metadata, GError **error);
VpushChallengePage *list (Fixture *fx, const gchar *status, const gchar *order, guint page_size,
                          const gchar *page_token, GError **error);
/* the factor's proof (§5B): the status the API gives it */
gchar *verify_factor (Fixture *fx, GError **error);
VpushChallenge *answer (Fixture *fx, VpushChallenge *challenge, const gchar *status,
                        GError **error);
void enable_retries (Fixture *fx, guint retry_timeout_ms);
