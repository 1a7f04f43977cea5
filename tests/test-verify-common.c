/* The fixture and helpers of test-verify-common.h. */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <string.h>

#include "test-verify-common.h"
#include "test-signatures.h"

/* ---- running async calls to completion ---- */

void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

/* ---- request checks ---- */

/* The Basic password after checking the user name is the literal "token". */
gchar *
basic_password (ServerRequest *req)
{
  g_autofree gchar *auth = head_get (req->head, "Authorization");
  g_autofree guchar *decoded = NULL;
  g_autofree gchar *text = NULL;
  gsize len;

  g_assert_nonnull (auth);
  g_assert_true (g_str_has_prefix (auth, "Basic "));
  decoded = g_base64_decode (auth + 6, &len);
  text = g_strndup ((const gchar *)decoded, len);
  g_assert_true (g_str_has_prefix (text, "token:"));
  return g_strdup (text + 6);
}

static JsonObject *
decode_json_part (const gchar *part)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *data = NULL;
  g_autofree gchar *text = NULL;
  g_autoptr (JsonNode) node = NULL;
  gsize len;

  data = base64url_decode (part, &len, &error);
  g_assert_no_error (error);
  text = g_strndup ((const gchar *)data, len);
  node = json_from_string (text, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* Checks an ES256 JWT's signature with spki; returns its header and payload. */
void
jwt_verify (const gchar *jwt, const gchar *spki, JsonObject **out_header, JsonObject **out_payload)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) parts = g_strsplit (jwt, ".", -1);
  g_autofree guint8 *raw = NULL;
  g_autofree gchar *signing_input = NULL;
  unsigned char *der = NULL;
  ECDSA_SIG *sig;
  gsize raw_len;
  int der_len;

  g_assert_cmpuint (g_strv_length (parts), ==, 3);
  raw = base64url_decode (parts[2], &raw_len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (raw_len, ==, 64);
  sig = ECDSA_SIG_new ();
  g_assert_cmpint (ECDSA_SIG_set0 (sig, BN_bin2bn (raw, 32, NULL), BN_bin2bn (raw + 32, 32, NULL)),
                   ==, 1);
  der_len = i2d_ECDSA_SIG (sig, &der);
  g_assert_cmpint (der_len, >, 0);
  signing_input = g_strconcat (parts[0], ".", parts[1], NULL);
  ecdsa_verify_der (spki, (const guint8 *)signing_input, strlen (signing_input), der, der_len,
                    &error);
  g_assert_no_error (error);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);

  *out_header = decode_json_part (parts[0]);
  *out_payload = decode_json_part (parts[1]);
}

/* ---- fixture ---- */

void
on_attempt_finished (VpushVerify *verify, const GError *failure, const gchar *factor_sid,
                     gpointer user_data)
{
  Fixture *fx = user_data;

  fx->n_attempts++;
  if (failure != NULL)
    fx->n_failed_attempts++;
}

static void
on_clock_corrected (VpushVerify *verify, gint64 offset, gpointer user_data)
{
  Fixture *fx = user_data;

  fx->last_correction = offset;
  fx->n_corrections++;
}

void
fixture_set_up (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *base_url = NULL;

  fx->server = server_new ();
  fx->http = vpush_http_new ();
  base_url = server_url (fx->server, "v2/");
  fx->verify = vpush_verify_new (fx->http, base_url, 2000, &error);
  g_assert_no_error (error);
  g_signal_connect (fx->verify, "clock-corrected", G_CALLBACK (on_clock_corrected), fx);
  g_signal_connect (fx->verify, "attempt-finished", G_CALLBACK (on_attempt_finished), fx);
  /* retries of transient failures have tests of their own (/verify/retry-*) */
  vpush_verify_set_retry_timeout (fx->verify, 0);
  fx->key = vpush_key_generate (&error);
  g_assert_no_error (error);
  fx->spki = vpush_key_get_public_spki_b64 (fx->key, &error);
  g_assert_no_error (error);

  fx->factor = vpush_factor_record_new ();
  fx->factor->sid = g_strdup (FACTOR_SID);
  fx->factor->friendly_name = g_strdup ("Kiosk 7");
  fx->factor->service_sid = g_strdup (SERVICE_SID);
  fx->factor->identity = g_strdup (IDENTITY);
  fx->factor->account_sid = g_strdup (ACCOUNT_SID);
  fx->factor->credential_sid = g_strdup (CREDENTIAL_SID);
  fx->factor->status = g_strdup ("verified");
  fx->factor->created_at = g_strdup ("2024-01-02T03:04:05Z");
}

void
fixture_tear_down (Fixture *fx, gconstpointer user_data)
{
  g_clear_object (&fx->verify);
  g_clear_object (&fx->http);
  server_free (fx->server);
  vpush_key_free (fx->key);
  g_free (fx->spki);
  vpush_factor_record_free (fx->factor);
}

/* Checks request i carries a valid device auth JWT; returns its nbf. */
gint64
assert_device_auth (Fixture *fx, guint i)
{
  g_autofree gchar *jwt = basic_password (server_request (fx->server, i));
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  gint64 nbf;

  jwt_verify (jwt, fx->spki, &header, &payload);
  g_assert_cmpstr (json_object_get_string_member (header, "alg"), ==, "ES256");
  g_assert_cmpstr (json_object_get_string_member (header, "typ"), ==, "JWT");
  g_assert_cmpstr (json_object_get_string_member (header, "cty"), ==, "twilio-pba;v=1");
  g_assert_cmpstr (json_object_get_string_member (header, "kid"), ==, CREDENTIAL_SID);
  g_assert_cmpstr (json_object_get_string_member (payload, "sub"), ==, ACCOUNT_SID);
  nbf = json_object_get_int_member (payload, "nbf");
  g_assert_cmpint (json_object_get_int_member (payload, "exp"), ==, nbf + 600);
  return nbf;
}

gchar *
challenge_json (const gchar *factor_sid, const gchar *status)
{
  return g_strdup_printf ("{"
                          "\"sid\": \"" CHALLENGE_SID "\","
                          "\"account_sid\": \"" ACCOUNT_SID "\","
                          "\"service_sid\": \"" SERVICE_SID "\","
                          "\"entity_sid\": \"" ENTITY_SID "\","
                          "\"identity\": \"" IDENTITY "\","
                          "\"factor_sid\": \"%s\","
                          "\"date_created\": \"2024-01-02T03:04:05Z\","
                          "\"date_updated\": \"2024-01-02T03:04:05Z\","
                          "\"date_responded\": null,"
                          "\"expiration_date\": \"2024-01-02T03:09:05Z\","
                          "\"status\": \"%s\","
                          "\"responded_reason\": null,"
                          "\"details\": {\"message\": \"Pay 5 EUR?\", \"date\": null,"
                          "  \"fields\": [{\"label\": \"Shop\", \"value\": \"Example\"}]},"
                          "\"hidden_details\": {\"transaction_id\": \"t-1\"},"
                          "\"metadata\": null,"
                          "\"factor_type\": \"push\""
                          "}",
                          factor_sid, status);
}

gchar *
rfc1123 (gint64 unix_seconds)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (unix_seconds);
  static const gchar *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
  static const gchar *const months[]
      = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

  return g_strdup_printf ("%s, %02d %s %04d %02d:%02d:%02d GMT",
                          days[g_date_time_get_day_of_week (dt) - 1],
                          g_date_time_get_day_of_month (dt), months[g_date_time_get_month (dt) - 1],
                          g_date_time_get_year (dt), g_date_time_get_hour (dt),
                          g_date_time_get_minute (dt), g_date_time_get_second (dt));
}

/* ---- running calls ---- */

VpushChallenge *
fetch (Fixture *fx, const gchar *challenge_sid, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, challenge_sid, NULL,
                                      store_result, &result);
  return vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), error);
}

gboolean delete (Fixture *fx, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_delete_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  return vpush_verify_delete_factor_finish (fx->verify, wait_for (&result), error);
}

const gchar factor_response[]
    = "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\","
      " \"service_sid\": \"" SERVICE_SID "\", \"entity_sid\": \"" ENTITY_SID "\","
      " \"identity\": \"" IDENTITY "\", \"date_created\": \"2024-01-02T03:04:05Z\","
      " \"friendly_name\": \"Kiosk 7\", \"status\": \"unverified\", \"factor_type\": \"push\","
      " \"binding\": {\"alg\": \"ES256\"},"
      " \"config\": {\"sdk_version\": \"x\", \"app_id\": \"y\","
      "   \"notification_platform\": \"none\", \"credential_sid\": \"" CREDENTIAL_SID "\"},"
      " \"metadata\": {\"os\": \"linux\", \"n\": 1}}";

VpushFactorRecord *
create_factor (Fixture *fx, const gchar *metadata, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_create_factor_async (fx->verify, SERVICE_SID, IDENTITY, "access/token+=", "Kiosk 7",
                                    fx->spki, metadata, NULL, store_result, &result);
  return vpush_verify_create_factor_finish (fx->verify, wait_for (&result), error);
}

VpushChallengePage *
list (Fixture *fx, const gchar *status, const gchar *order, guint page_size,
      const gchar *page_token, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_list_challenges_async (fx->verify, fx->factor, fx->key, status, order, page_size,
                                      page_token, NULL, store_result, &result);
  return vpush_verify_list_challenges_finish (fx->verify, wait_for (&result), error);
}

gchar *
verify_factor (Fixture *fx, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_verify_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  return vpush_verify_verify_factor_finish (fx->verify, wait_for (&result), error);
}

VpushChallenge *
answer (Fixture *fx, VpushChallenge *challenge, const gchar *status, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, challenge, status, NULL,
                                       store_result, &result);
  return vpush_verify_answer_challenge_finish (fx->verify, wait_for (&result), error);
}

void
enable_retries (Fixture *fx, guint retry_timeout_ms)
{
  vpush_verify_set_retry_timeout (fx->verify, retry_timeout_ms);
  vpush_verify_set_backoff (fx->verify, 10, 40);
}
