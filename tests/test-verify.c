/* Unit tests for the Verify client: every device call against an in-test HTTP/1.1 server,
 * checked byte by byte against protocol doc §2–§3, §5 and §6. */
#include <gio/gio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-jwt.h"
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

/* ---- running async calls to completion ---- */

static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

static GAsyncResult *
wait_for (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

/* ---- request checks ---- */

/* Decodes an application/x-www-form-urlencoded body; keys in order, values by key. */
static GHashTable *
form_decode (GBytes *body, GPtrArray **out_keys)
{
  g_autofree gchar *text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  g_auto (GStrv) pairs = g_strsplit (text, "&", -1);
  GHashTable *form = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GPtrArray *keys = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; pairs[i] != NULL && *pairs[i] != '\0'; i++)
    {
      g_auto (GStrv) kv = g_strsplit (pairs[i], "=", 2);
      gchar *key;

      g_assert_nonnull (kv[1]);
      /* our encoder leaves nothing a lenient decoder could misread */
      g_assert_null (strpbrk (kv[1], "+/= "));
      key = g_uri_unescape_string (kv[0], NULL);
      g_assert_nonnull (key);
      g_ptr_array_add (keys, g_strdup (key));
      g_hash_table_insert (form, key, g_uri_unescape_string (kv[1], NULL));
    }
  *out_keys = keys;
  return form;
}

static void
assert_form_keys (GPtrArray *keys, const gchar *const *expected)
{
  g_assert_cmpuint (keys->len, ==, g_strv_length ((gchar **)expected));
  for (guint i = 0; i < keys->len; i++)
    g_assert_cmpstr (g_ptr_array_index (keys, i), ==, expected[i]);
}

static void
assert_header (ServerRequest *req, const gchar *name, const gchar *value)
{
  g_autofree gchar *actual = head_get (req->head, name);

  g_assert_cmpstr (actual, ==, value);
}

/* The Basic password after checking the user name is the literal "token". */
static gchar *
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

  data = vpush_base64url_decode (part, &len, &error);
  g_assert_no_error (error);
  text = g_strndup ((const gchar *)data, len);
  node = json_from_string (text, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

/* Checks an ES256 JWT's signature with spki; returns its header and payload. */
static void
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
  raw = vpush_base64url_decode (parts[2], &raw_len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (raw_len, ==, 64);
  sig = ECDSA_SIG_new ();
  g_assert_cmpint (ECDSA_SIG_set0 (sig, BN_bin2bn (raw, 32, NULL), BN_bin2bn (raw + 32, 32, NULL)),
                   ==, 1);
  der_len = i2d_ECDSA_SIG (sig, &der);
  g_assert_cmpint (der_len, >, 0);
  signing_input = g_strconcat (parts[0], ".", parts[1], NULL);
  vpush_ecdsa_verify_der (spki, (const guint8 *)signing_input, strlen (signing_input), der, der_len,
                          &error);
  g_assert_no_error (error);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);

  *out_header = decode_json_part (parts[0]);
  *out_payload = decode_json_part (parts[1]);
}

/* ---- fixture ---- */

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

static void
on_attempt_finished (VpushVerify *verify, const GError *failure, gpointer user_data)
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

static void
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

static void
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
static gint64
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

static void
assert_post_headers (ServerRequest *req)
{
  assert_header (req, "Accept", "application/json");
  assert_header (req, "Content-Type", "application/x-www-form-urlencoded");
}

static gchar *
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

static gchar *
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

static VpushChallenge *
fetch (Fixture *fx, const gchar *challenge_sid, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, challenge_sid, NULL,
                                      store_result, &result);
  return vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), error);
}

static gboolean delete (Fixture *fx, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_delete_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  return vpush_verify_delete_factor_finish (fx->verify, wait_for (&result), error);
}

/* ---- tests ---- */

static const gchar factor_response[]
    = "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\","
      " \"service_sid\": \"" SERVICE_SID "\", \"entity_sid\": \"" ENTITY_SID "\","
      " \"identity\": \"" IDENTITY "\", \"date_created\": \"2024-01-02T03:04:05Z\","
      " \"friendly_name\": \"Kiosk 7\", \"status\": \"unverified\", \"factor_type\": \"push\","
      " \"binding\": {\"alg\": \"ES256\"},"
      " \"config\": {\"sdk_version\": \"x\", \"app_id\": \"y\","
      "   \"notification_platform\": \"none\", \"credential_sid\": \"" CREDENTIAL_SID "\"},"
      " \"metadata\": {\"os\": \"linux\", \"n\": 1}}";

static VpushFactorRecord *
create_factor (Fixture *fx, const gchar *metadata, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_create_factor_async (fx->verify, SERVICE_SID, IDENTITY, "access/token+=", "Kiosk 7",
                                    fx->spki, metadata, NULL, store_result, &result);
  return vpush_verify_create_factor_finish (fx->verify, wait_for (&result), error);
}

static void
test_create_factor (Fixture *fx, gconstpointer user_data)
{
  const gchar *fields[] = { "FriendlyName",
                            "FactorType",
                            "Binding.PublicKey",
                            "Binding.Alg",
                            "Config.SdkVersion",
                            "Config.AppId",
                            "Config.NotificationPlatform",
                            "Metadata",
                            NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (GHashTable) form = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autofree gchar *password = NULL;
  ServerRequest *req;

  server_reply (fx->server, 201, "Content-Type: application/json\r\n", factor_response);
  record = create_factor (fx, "{\"os\": \"linux\"}", &error);
  g_assert_no_error (error);

  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "POST");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Factors");
  assert_post_headers (req);
  password = basic_password (req);
  g_assert_cmpstr (password, ==, "access/token+=");

  form = form_decode (req->body, &keys);
  assert_form_keys (keys, fields);
  g_assert_cmpstr (g_hash_table_lookup (form, "FriendlyName"), ==, "Kiosk 7");
  g_assert_cmpstr (g_hash_table_lookup (form, "FactorType"), ==, "push");
  g_assert_cmpstr (g_hash_table_lookup (form, "Binding.PublicKey"), ==, fx->spki);
  g_assert_cmpstr (g_hash_table_lookup (form, "Binding.Alg"), ==, "ES256");
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.SdkVersion"), ==, VPUSH_VERIFY_SDK_VERSION);
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.AppId"), ==, VPUSH_VERIFY_APP_ID);
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.NotificationPlatform"), ==, "none");
  g_assert_cmpstr (g_hash_table_lookup (form, "Metadata"), ==, "{\"os\": \"linux\"}");

  g_assert_cmpstr (record->sid, ==, FACTOR_SID);
  g_assert_cmpstr (record->friendly_name, ==, "Kiosk 7");
  g_assert_cmpstr (record->service_sid, ==, SERVICE_SID);
  g_assert_cmpstr (record->identity, ==, IDENTITY);
  g_assert_cmpstr (record->account_sid, ==, ACCOUNT_SID);
  g_assert_cmpstr (record->entity_sid, ==, ENTITY_SID);
  g_assert_cmpstr (record->credential_sid, ==, CREDENTIAL_SID);
  g_assert_cmpstr (record->status, ==, "unverified");
  g_assert_cmpstr (record->created_at, ==, "2024-01-02T03:04:05Z");
  g_assert_null (record->push_url);
  g_assert_cmpstr (record->metadata, ==, "{\"os\":\"linux\"}");
}

static void
test_create_factor_mapping (Fixture *fx, gconstpointer user_data)
{
  const gchar *bad[] = {
    /* no config.credential_sid */
    "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
    "\"unverified\", \"date_created\": \"2024-01-02T03:04:05Z\", \"config\": {}}",
    /* no config at all */
    "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
    "\"unverified\", \"date_created\": \"2024-01-02T03:04:05Z\"}",
    /* bad sid */
    "{\"sid\": \"YF12\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": \"unverified\", "
    "\"date_created\": \"2024-01-02T03:04:05Z\", \"config\": {\"credential_sid\": \"CR1\"}}",
    /* no date */
    "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
    "\"unverified\", \"config\": {\"credential_sid\": \"CR1\"}}",
    /* unknown status */
    "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
    "\"bogus\", \"date_created\": \"2024-01-02T03:04:05Z\", \"config\": {\"credential_sid\": "
    "\"CR1\"}}",
    "[1, 2]",
    "{\"sid\": ",
    "",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) minimal = NULL;
  GBytes *body;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (VpushFactorRecord) record = NULL;

      server_reply (fx->server, 201, NULL, bad[i]);
      record = create_factor (fx, NULL, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (record);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
    }

  /* entity_sid and metadata are optional; without Metadata the form has no such field;
   * the creation time is kept in the one form the bus shows (dbus-api.md) */
  server_reply (fx->server, 201, NULL,
                "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
                "\"unverified\", \"date_created\": \"2024-01-02T05:04:05.250+02:00\", \"config\": "
                "{\"credential_sid\": \"CR1\"}, \"metadata\": null}");
  minimal = create_factor (fx, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (minimal->entity_sid);
  g_assert_null (minimal->metadata);
  g_assert_cmpstr (minimal->credential_sid, ==, "CR1");
  g_assert_cmpstr (minimal->created_at, ==, "2024-01-02T03:04:05Z");
  body = server_request (fx->server, G_N_ELEMENTS (bad))->body;
  g_assert_null (g_strstr_len (g_bytes_get_data (body, NULL), g_bytes_get_size (body), "Metadata"));
}

static void
test_create_factor_no_retry (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autofree gchar *date = rfc1123 (g_get_real_time () / G_USEC_PER_SEC + 3600);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"Authenticate\", \"more_info\": "
                "\"https://www.twilio.com/docs/errors/20003\", \"status\": 401}");
  server_reply (fx->server, 201, NULL, factor_response);
  record = create_factor (fx, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 401, code 20003: Authenticate");
  g_assert_null (record);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  g_assert_cmpuint (fx->n_corrections, ==, 0);
}

static void
test_verify_factor (Fixture *fx, gconstpointer user_data)
{
  const gchar *fields[] = { "AuthPayload", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GHashTable) form = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autofree gchar *status = NULL;
  g_autofree guchar *sig = NULL;
  gsize sig_len;
  gint64 nbf;
  ServerRequest *req;

  server_reply (fx->server, 200, NULL, "{\"sid\": \"" FACTOR_SID "\", \"status\": \"verified\"}");
  vpush_verify_verify_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  status = vpush_verify_verify_factor_finish (fx->verify, wait_for (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, ==, "verified");

  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "POST");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Factors/" FACTOR_SID);
  assert_post_headers (req);
  nbf = assert_device_auth (fx, 0);
  g_assert_cmpint (ABS (nbf - g_get_real_time () / G_USEC_PER_SEC), <=, 5);

  /* §5B: standard base64 of a DER signature over the factor sid */
  form = form_decode (req->body, &keys);
  assert_form_keys (keys, fields);
  sig = g_base64_decode (g_hash_table_lookup (form, "AuthPayload"), &sig_len);
  vpush_ecdsa_verify_der (fx->spki, (const guint8 *)FACTOR_SID, strlen (FACTOR_SID), sig, sig_len,
                          &error);
  g_assert_no_error (error);
}

static void
test_update_factor (Fixture *fx, gconstpointer user_data)
{
  const gchar *fields[] = { "FriendlyName", "Config.SdkVersion", "Config.AppId",
                            "Config.NotificationPlatform", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GHashTable) form = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  ServerRequest *req;

  server_reply (fx->server, 200, NULL, factor_response);
  vpush_verify_update_factor_async (fx->verify, fx->factor, fx->key, "New name & more", NULL,
                                    store_result, &result);
  g_assert_true (vpush_verify_update_factor_finish (fx->verify, wait_for (&result), &error));
  g_assert_no_error (error);

  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "POST");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Factors/" FACTOR_SID);
  assert_post_headers (req);
  assert_device_auth (fx, 0);
  form = form_decode (req->body, &keys);
  assert_form_keys (keys, fields);
  g_assert_cmpstr (g_hash_table_lookup (form, "FriendlyName"), ==, "New name & more");
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.SdkVersion"), ==, VPUSH_VERIFY_SDK_VERSION);
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.AppId"), ==, VPUSH_VERIFY_APP_ID);
  g_assert_cmpstr (g_hash_table_lookup (form, "Config.NotificationPlatform"), ==, "none");
}

static void
test_delete_factor (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  ServerRequest *req;

  server_reply (fx->server, 204, NULL, NULL);
  g_assert_true (delete (fx, &error));
  g_assert_no_error (error);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "DELETE");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Factors/" FACTOR_SID);
  assert_post_headers (req);
  g_assert_cmpuint (g_bytes_get_size (req->body), ==, 0);
  assert_device_auth (fx, 0);

  /* §3.4: already gone counts as done */
  server_reply (fx->server, 404, NULL,
                "{\"code\": 60390, \"message\": \"Factor not found\", \"status\": 404}");
  g_assert_true (delete (fx, &error));
  g_assert_no_error (error);

  server_reply (fx->server, 500, NULL, "oops");
  g_assert_false (delete (fx, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);

  /* a 401 without Date is not retried and is an error */
  server_reply (fx->server, 401, NULL, "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  g_assert_false (delete (fx, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
}

/* §5A: a device JWT is minted for every request, never sent twice. */
static void
test_device_auth_fresh (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 3; i++)
    server_reply (fx->server, 204, NULL, NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (delete (fx, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (server_n_requests (fx->server), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      gchar *authorization = head_get (server_request (fx->server, i)->head, "Authorization");

      g_assert_nonnull (authorization);
      g_assert_false (g_hash_table_contains (seen, authorization));
      g_hash_table_add (seen, authorization);
      assert_device_auth (fx, i);
    }
}

static void
test_delete_factor_double_401 (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *date = rfc1123 (g_get_real_time () / G_USEC_PER_SEC - 120);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 204, NULL, NULL);
  g_assert_true (delete (fx, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (ABS (fx->last_correction + 120), <=, 2);
}

static void
test_clock_skew_retry (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autoptr (VpushChallenge) again = NULL;
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  gint64 first_nbf;
  gint64 second_nbf;

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_nonnull (challenge);

  /* exactly one retry, with a JWT minted on the server's clock */
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (ABS (fx->last_correction - 3600), <=, 2);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, fx->last_correction);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - server_now), <=, 2);
  first_nbf = assert_device_auth (fx, 0);
  second_nbf = assert_device_auth (fx, 1);
  g_assert_cmpint (ABS (first_nbf + 3600 - second_nbf), <=, 2);
  g_assert_cmpstr (server_request (fx->server, 0)->path, ==, server_request (fx->server, 1)->path);

  /* a second 401 after the retry is final */
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 401, headers, "{\"code\": 20003, \"message\": \"still no\"}");
  server_reply (fx->server, 200, NULL, body);
  again = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 401, code 20003: still no");
  g_assert_null (again);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
  /* the offset did not change, so no second signal */
  g_assert_cmpuint (fx->n_corrections, ==, 1);
}

static void
test_api_errors (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;

  server_reply (fx->server, 400, "Content-Type: application/json\r\n",
                "{\"code\": 60306, \"message\": \"Invalid parameter\", \"more_info\": "
                "\"https://www.twilio.com/docs/errors/60306\", \"status\": 400}");
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 400, code 60306: Invalid parameter");
  g_assert_null (a);
  g_clear_error (&error);

  server_reply (fx->server, 502, "Content-Type: text/html\r\n", "<html>Bad gateway</html>");
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_nonnull (strstr (error->message, "HTTP 502"));
  g_assert_nonnull (strstr (error->message, "not a Twilio error"));
  g_clear_error (&error);

  /* JSON, but not the error shape */
  server_reply (fx->server, 429, "Retry-After: 5\r\n", "{\"message\": \"slow down\"}");
  c = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_nonnull (strstr (error->message, "HTTP 429"));
  g_clear_error (&error);

  server_reply (fx->server, 404, NULL,
                "{\"code\": 60391, \"message\": \"Challenge not found\", \"status\": 404}");
  d = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
  g_assert_null (d);
}

static void
test_network_errors (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autoptr (VpushVerify) quick = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree gchar *base_url = server_url (fx->server, "v2/");
  gint64 start;

  quick = vpush_verify_new (fx->http, base_url, 300, &error);
  g_assert_no_error (error);
  vpush_verify_set_retry_timeout (quick, 0);
  server_hang (fx->server);
  start = g_get_monotonic_time ();
  vpush_verify_fetch_challenge_async (quick, fx->factor, fx->key, CHALLENGE_SID, NULL, store_result,
                                      &result);
  challenge = vpush_verify_fetch_challenge_finish (quick, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (challenge);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
}

static void
test_new_checks_url (void)
{
  g_autoptr (VpushHttp) http = vpush_http_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushVerify) verify = vpush_verify_new (http, "http://example.com/v2/", 1000, &error);

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (verify);
}

static void
test_fetch_challenge (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) approved = NULL;
  g_autoptr (JsonNode) expected = NULL;
  g_autoptr (JsonNode) kept = NULL;
  g_autofree gchar *payload = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *approved_json = challenge_json (FACTOR_SID, "approved");
  ServerRequest *req;

  server_reply (fx->server, 200, "twilio-verify-signature-fields: sid,status,details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "GET");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Challenges/" CHALLENGE_SID);
  assert_header (req, "Accept", "application/x-www-form-urlencoded");
  assert_header (req, "Content-Type", "application/x-www-form-urlencoded");
  assert_device_auth (fx, 0);

  g_assert_cmpstr (pending->sid, ==, CHALLENGE_SID);
  g_assert_cmpstr (pending->status, ==, "pending");
  g_assert_cmpstr (pending->signature_fields, ==, "sid,status,details");
  g_assert_cmpstr (vpush_challenge_get_hidden (pending, "transaction_id"), ==, "t-1");
  /* what the answer signs: the listed members of the body, nothing else */
  expected = json_from_string (pending_json, &error);
  g_assert_no_error (error);
  g_assert_no_error (pending->answer_error);
  payload = vpush_answer_body_payload (pending->answer_body, "denied");
  kept = json_from_string (payload, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_object_get_size (json_node_get_object (kept)), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (kept), "status"), ==,
                   "denied");
  g_assert_true (
      json_node_equal (json_object_get_member (json_node_get_object (kept), "details"),
                       json_object_get_member (json_node_get_object (expected), "details")));

  /* the header of an answered challenge is of no use and is dropped */
  server_reply (fx->server, 200, "Twilio-Verify-Signature-Fields: sid,status\r\n", approved_json);
  approved = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (approved->status, ==, "approved");
  g_assert_null (approved->signature_fields);
}

static void
test_fetch_challenge_refused (Fixture *fx, gconstpointer user_data)
{
  const gchar *bad_bodies[] = { "{\"sid\": \"" CHALLENGE_SID "\"", "[]", "\"str\"", "",
                                "{\"sid\": \"" CHALLENGE_SID "\"}" };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) other = NULL;
  g_autoptr (VpushChallenge) bad_sid = NULL;
  g_autofree gchar *other_json = challenge_json (OTHER_FACTOR, "pending");

  server_reply (fx->server, 200, "Twilio-Verify-Signature-Fields: sid\r\n", other_json);
  other = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, OTHER_FACTOR));
  g_assert_null (other);
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++)
    {
      g_autoptr (VpushChallenge) challenge = NULL;

      server_reply (fx->server, 200, NULL, bad_bodies[i]);
      challenge = fetch (fx, CHALLENGE_SID, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (challenge);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
    }

  /* a sid from an untrusted push hint never reaches the path */
  bad_sid = fetch (fx, "YC../../Factors", &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (bad_sid);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1 + G_N_ELEMENTS (bad_bodies));
}

static VpushChallengePage *
list (Fixture *fx, const gchar *status, const gchar *order, guint page_size,
      const gchar *page_token, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_list_challenges_async (fx->verify, fx->factor, fx->key, status, order, page_size,
                                      page_token, NULL, store_result, &result);
  return vpush_verify_list_challenges_finish (fx->verify, wait_for (&result), error);
}

static void
test_list_challenges (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallengePage) first = NULL;
  g_autoptr (VpushChallengePage) last = NULL;
  g_autoptr (VpushChallengePage) no_meta = NULL;
  g_autofree gchar *one = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *two = challenge_json (FACTOR_SID, "expired");
  g_autofree gchar *first_body = NULL;
  g_autofree gchar *last_body = NULL;
  ServerRequest *req;

  first_body = g_strdup_printf (
      "{\"challenges\": [%s, %s], \"meta\": {\"page\": 0, \"page_size\": 2,"
      " \"first_page_url\": \"https://verify.twilio.com/v2/Services/" SERVICE_SID
      "/Entities/x/Challenges?PageSize=2&Page=0\", \"previous_page_url\": null,"
      " \"next_page_url\": \"https://verify.twilio.com/v2/Services/" SERVICE_SID
      "/Entities/x/Challenges?Status=pending&PageSize=2&Page=1&PageToken=DNYC03%%2Bab%%3D\","
      " \"key\": \"challenges\"}}",
      one, two);
  server_reply (fx->server, 200, NULL, first_body);
  first = list (fx, "pending", "desc", 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (first->challenges->len, ==, 2);
  g_assert_cmpstr (((VpushChallenge *)g_ptr_array_index (first->challenges, 1))->status, ==,
                   "expired");
  /* list items never carry signature fields */
  g_assert_null (((VpushChallenge *)g_ptr_array_index (first->challenges, 0))->signature_fields);
  g_assert_cmpstr (first->next_page_token, ==, "DNYC03+ab=");
  g_assert_false (first->incomplete);

  req = server_request (fx->server, 0);
  g_assert_cmpstr (req->method, ==, "GET");
  g_assert_cmpstr (req->path, ==,
                   ENTITY_PATH "/Challenges?FactorSid=" FACTOR_SID
                               "&PageSize=2&Order=desc&Status=pending");
  assert_header (req, "Accept", "application/x-www-form-urlencoded");
  assert_device_auth (fx, 0);

  /* the token goes back percent-encoded; no next page gives no token */
  last_body = g_strdup_printf ("{\"challenges\": [%s], \"meta\": {\"next_page_url\": null}}", one);
  server_reply (fx->server, 200, NULL, last_body);
  last = list (fx, NULL, "asc", 1000, first->next_page_token, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (last->challenges->len, ==, 1);
  g_assert_null (last->next_page_token);
  g_assert_cmpstr (server_request (fx->server, 1)->path, ==,
                   ENTITY_PATH "/Challenges?FactorSid=" FACTOR_SID
                               "&PageSize=1000&Order=asc&PageToken=DNYC03%2Bab%3D");

  server_reply (fx->server, 200, NULL, "{\"challenges\": []}");
  no_meta = list (fx, NULL, NULL, 50, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (no_meta->challenges->len, ==, 0);
  g_assert_null (no_meta->next_page_token);
  g_assert_cmpstr (server_request (fx->server, 2)->path, ==,
                   ENTITY_PATH "/Challenges?FactorSid=" FACTOR_SID "&PageSize=50&Order=asc");
}

/* An item the API got wrong is left out, with a warning; the page's others are kept. */
static void
test_list_challenges_bad_items (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *good = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *other = challenge_json (OTHER_FACTOR, "pending");
  g_autofree gchar *body
      = g_strdup_printf ("{\"challenges\": [1, %s, %s, {\"sid\": 3}]}", other, good);
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (GError) error = NULL;

  server_reply (fx->server, 200, NULL, body);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID ": item 0 left out: *");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID ": item 1 left out: *belongs to "
                         "factor " OTHER_FACTOR "*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID ": item 3 left out: *");
  page = list (fx, NULL, NULL, 20, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (page->challenges->len, ==, 1);
  g_assert_cmpstr (((VpushChallenge *)g_ptr_array_index (page->challenges, 0))->factor_sid, ==,
                   FACTOR_SID);
  /* a poller must not take the absence of a challenge from this page as its answer */
  g_assert_true (page->incomplete);
}

static void
test_list_challenges_refused (Fixture *fx, gconstpointer user_data)
{
  const gchar *bodies[] = {
    "{}",
    "{\"challenges\": {}}",
    "{\"challenges\": [], \"meta\": []}",
    "{\"challenges\": [], \"meta\": {\"next_page_url\": 5}}",
    "{\"challenges\": [], \"meta\": {\"next_page_url\": \"https://[::1/v2/?PageToken=a\"}}",
    "not json",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallengePage) too_big = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr (VpushChallengePage) page = NULL;

      server_reply (fx->server, 200, NULL, bodies[i]);
      page = list (fx, NULL, NULL, 20, NULL, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_null (page);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
    }

  too_big = list (fx, NULL, NULL, 1001, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (server_n_requests (fx->server), ==, G_N_ELEMENTS (bodies));
}

static VpushChallenge *
answer (Fixture *fx, VpushChallenge *challenge, const gchar *status, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, challenge, status, NULL,
                                       store_result, &result);
  return vpush_verify_answer_challenge_finish (fx->verify, wait_for (&result), error);
}

static void
test_answer_challenge (Fixture *fx, gconstpointer user_data)
{
  const gchar *fields[] = { "AuthPayload", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) answered = NULL;
  g_autoptr (GHashTable) form = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *approved_json = challenge_json (FACTOR_SID, "approved");
  JsonObject *details;
  ServerRequest *req;

  server_reply (fx->server, 200,
                "Twilio-Verify-Signature-Fields: sid,factor_sid,status,details,hidden_details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);

  server_reply (fx->server, 200, NULL, approved_json);
  answered = answer (fx, pending, "approved", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (answered->status, ==, "approved");
  g_assert_null (answered->signature_fields);

  req = server_request (fx->server, 1);
  g_assert_cmpstr (req->method, ==, "POST");
  g_assert_cmpstr (req->path, ==, ENTITY_PATH "/Challenges/" CHALLENGE_SID);
  assert_post_headers (req);
  assert_device_auth (fx, 1);
  form = form_decode (req->body, &keys);
  assert_form_keys (keys, fields);

  /* §5C: the listed fields verbatim from the fetched body, then the new status */
  jwt_verify (g_hash_table_lookup (form, "AuthPayload"), fx->spki, &header, &payload);
  g_assert_cmpuint (json_object_get_size (header), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (header, "alg"), ==, "ES256");
  g_assert_cmpuint (json_object_get_size (payload), ==, 5);
  g_assert_cmpstr (json_object_get_string_member (payload, "sid"), ==, CHALLENGE_SID);
  g_assert_cmpstr (json_object_get_string_member (payload, "factor_sid"), ==, FACTOR_SID);
  g_assert_cmpstr (json_object_get_string_member (payload, "status"), ==, "approved");
  details = json_object_get_object_member (payload, "details");
  g_assert_cmpstr (json_object_get_string_member (details, "message"), ==, "Pay 5 EUR?");
  g_assert_cmpstr (json_object_get_string_member (
                       json_object_get_object_member (payload, "hidden_details"), "transaction_id"),
                   ==, "t-1");
}

/* A response that is another challenge than the one fetched is no answer to the fetch */
static void
test_fetch_other_challenge (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) fetched = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  g_autoptr (GString) other = g_string_new (body);

  g_string_replace (other, CHALLENGE_SID, "YCffffffffffffffffffffffffffffffff", 0);
  server_reply (fx->server, 200, NULL, other->str);
  fetched = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (
      error->message, ==,
      "the response is challenge YCffffffffffffffffffffffffffffffff, not " CHALLENGE_SID);
  g_assert_null (fetched);
}

static void
test_answer_challenge_refused (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) listed = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autoptr (VpushChallenge) e = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *other_json = challenge_json (OTHER_FACTOR, "approved");

  /* a challenge from a list has no signature fields: nothing is sent */
  node = json_from_string (pending_json, &error);
  g_assert_no_error (error);
  listed = vpush_challenge_new_from_json (node, &error);
  g_assert_no_error (error);
  a = answer (fx, listed, "approved", &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (a);
  g_clear_error (&error);

  /* a listed field missing from the body: the JWT is refused, nothing is sent */
  vpush_challenge_set_signature_fields (listed, node, "sid,no_such_field");
  b = answer (fx, listed, "denied", &error);
  g_assert_nonnull (error);
  g_assert_null (b);
  g_clear_error (&error);

  vpush_challenge_set_signature_fields (listed, node, "sid,status");
  c = answer (fx, listed, "pending", &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (c);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 0);

  /* the answer's response is mapped, and must be the same factor's */
  server_reply (fx->server, 200, NULL, other_json);
  d = answer (fx, listed, "denied", &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (d);
  g_clear_error (&error);

  server_reply (fx->server, 403, NULL,
                "{\"code\": 60323, \"message\": \"Challenge expired\", \"status\": 403}");
  e = answer (fx, listed, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 403, code 60323: Challenge expired");
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
}

/* ---- retries of transient failures ---- */

static void
enable_retries (Fixture *fx, guint retry_timeout_ms)
{
  vpush_verify_set_retry_timeout (fx->verify, retry_timeout_ms);
  vpush_verify_set_backoff (fx->verify, 10, 40);
}

/* Replaces the fixture's client by one with a short request timeout. */
static void
use_timeout (Fixture *fx, guint timeout_ms, guint retry_timeout_ms)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *base_url = server_url (fx->server, "v2/");

  g_clear_object (&fx->verify);
  fx->verify = vpush_verify_new (fx->http, base_url, timeout_ms, &error);
  g_assert_no_error (error);
  g_signal_connect (fx->verify, "attempt-finished", G_CALLBACK (on_attempt_finished), fx);
  enable_retries (fx, retry_timeout_ms);
}

/* A pending challenge of the fixture's factor expiring in_seconds from now, as fetched. */
static VpushChallenge *
fetch_live_challenge (Fixture *fx, gint64 in_seconds)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GDateTime) expiry = g_date_time_add_seconds (now, (gdouble)in_seconds);
  g_autofree gchar *when = g_date_time_format (expiry, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree gchar *json = challenge_json (FACTOR_SID, "pending");
  g_autoptr (GString) body = g_string_new (json);
  VpushChallenge *challenge;
  guint n = server_n_requests (fx->server);

  g_string_replace (body, "2024-01-02T03:09:05Z", when, 1);
  server_reply (fx->server, 200, "Twilio-Verify-Signature-Fields: sid,factor_sid,status\r\n",
                body->str);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, n + 1);
  return challenge;
}

static void
test_backoff (void)
{
  guint lowest = G_MAXUINT;
  guint highest = 0;

  /* retry 1 waits between half the base and the base */
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 0), ==, 250);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 250), ==, 500);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 1, 251), ==, 250);
  /* and the ceiling doubles per retry */
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 2, 0), ==, 500);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 3, 1000), ==, 2000);
  g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, 4, 2000), ==, 4000);
  /* up to the maximum, however many retries (no overflow) */
  for (guint retry = 5; retry < 1000; retry += 7)
    {
      g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, retry, 0), ==, 4000);
      g_assert_cmpuint (vpush_verify_backoff_ms (500, 8000, retry, G_MAXUINT32), <=, 8000);
    }
  g_assert_cmpuint (vpush_verify_backoff_ms (1, 1, 1, G_MAXUINT32), <=, 1);

  /* jittered: draws spread over the whole range */
  for (guint i = 0; i < 1000; i++)
    {
      guint ms = vpush_verify_backoff_ms (500, 8000, 2, g_random_int ());

      g_assert_cmpuint (ms, >=, 500);
      g_assert_cmpuint (ms, <=, 1000);
      lowest = MIN (lowest, ms);
      highest = MAX (highest, ms);
    }
  g_assert_cmpuint (lowest, <, 550);
  g_assert_cmpuint (highest, >, 950);
}

static void
test_retry_after_parse (void)
{
  const gint64 now = 1700000000;
  g_autofree gchar *now_date = rfc1123 (now);
  g_autofree gchar *in_30 = rfc1123 (now + 30);
  g_autofree gchar *in_10 = rfc1123 (now + 10);
  g_autofree gchar *ago = rfc1123 (now - 30);
  g_autofree gchar *far = rfc1123 (now + 86400);
  const gchar *bad[] = { "", "-1", "5.5", "5s", "abc", " ", "1 2", "0x10", "+5" };
  guint64 ms = 1;

  g_assert_true (vpush_verify_parse_retry_after ("5", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 5000);
  g_assert_true (vpush_verify_parse_retry_after ("0", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 0);
  g_assert_true (vpush_verify_parse_retry_after ("120", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 120000);
  /* very long waits are one hour: past every deadline */
  g_assert_true (vpush_verify_parse_retry_after ("3601", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);
  g_assert_true (vpush_verify_parse_retry_after ("99999999999999999999999", NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);

  /* an HTTP-date counts from the response's Date, not from a clock that may be off */
  g_assert_true (vpush_verify_parse_retry_after (in_30, now_date, now + 5000, &ms));
  g_assert_cmpuint (ms, ==, 30000);
  g_assert_true (vpush_verify_parse_retry_after (in_10, NULL, now, &ms));
  g_assert_cmpuint (ms, ==, 10000);
  g_assert_true (vpush_verify_parse_retry_after (in_10, "not a date", now, &ms));
  g_assert_cmpuint (ms, ==, 10000);
  g_assert_true (vpush_verify_parse_retry_after (ago, now_date, now, &ms));
  g_assert_cmpuint (ms, ==, 0);
  g_assert_true (vpush_verify_parse_retry_after (far, now_date, now, &ms));
  g_assert_cmpuint (ms, ==, 3600 * 1000);
  g_assert_true (vpush_verify_parse_retry_after ("Wed, 21 Oct 2015 07:28:00 GMT",
                                                 "Wed, 21 Oct 2015 07:27:00 GMT", now, &ms));
  g_assert_cmpuint (ms, ==, 60000);

  /* unreadable: ignored (the backoff alone applies) */
  g_assert_false (vpush_verify_parse_retry_after (NULL, NULL, now, &ms));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (vpush_verify_parse_retry_after (bad[i], now_date, now, &ms));
}

static void
test_retry_transient (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  enable_retries (fx, 5000);
  server_reply (fx->server, 503, NULL,
                "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  server_reply (fx->server, 500, NULL, "oops");
  server_reply (fx->server, 502, "Content-Type: text/html\r\n", "<html>Bad gateway</html>");
  server_reply (fx->server, 504, NULL, "");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (challenge->sid, ==, CHALLENGE_SID);

  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_assert_cmpstr (server_request (fx->server, i)->path, ==,
                       ENTITY_PATH "/Challenges/" CHALLENGE_SID);
      assert_device_auth (fx, i);
    }
  g_assert_cmpuint (fx->n_attempts, ==, 5);
  g_assert_cmpuint (fx->n_failed_attempts, ==, 4);
}

static void
test_retry_after (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  /* the server's clock is an hour ahead: the date form counts from its Date */
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *retry_at = rfc1123 (server_now + 1);
  g_autofree gchar *dated = g_strdup_printf ("Date: %s\r\nRetry-After: %s\r\n", date, retry_at);
  gint64 start;

  enable_retries (fx, 10000);
  server_reply (fx->server, 429, "Retry-After: 1\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  server_reply (fx->server, 200, NULL, body);
  start = g_get_monotonic_time ();
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);

  server_reply (fx->server, 503, dated,
                "{\"code\": 20503, \"message\": \"later\", \"status\": 503}");
  server_reply (fx->server, 200, NULL, body);
  start = g_get_monotonic_time ();
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  /* the Date second may tick between the two: at least most of a second */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
}

/* A Retry-After that ends past the deadline: no point in waiting for it. */
static void
test_retry_after_past_deadline (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 start = g_get_monotonic_time ();

  enable_retries (fx, 3000);
  server_reply (fx->server, 429, "Retry-After: 30\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 429, code 20429: Too many requests");
  g_assert_null (challenge);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
}

static void
test_retry_gives_up (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 took;

  enable_retries (fx, 1500);
  for (guint i = 0; i < 200; i++)
    server_reply (fx->server, 503, NULL,
                  "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  g_assert_false (delete (fx, &error));
  took = g_get_monotonic_time () - start;
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 503, code 20503: Service unavailable");
  /* no retry starts within a second of the deadline */
  g_assert_cmpint (took, >=, 400 * 1000);
  g_assert_cmpint (took, <, 1500 * 1000);
  g_assert_cmpuint (server_n_requests (fx->server), >=, 3);
  g_assert_cmpuint (fx->n_failed_attempts, ==, server_n_requests (fx->server));
}

static void
test_retry_timeout (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 200, NULL, body);
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, NULL,
                                      store_result, &result);
  challenge = vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (challenge);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  /* the first one may have been seen */
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, result));
}

static void
test_retry_connection_refused (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) any = NULL;
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree gchar *base_url = NULL;
  gint64 start;

  /* a port that was free a moment ago, and nobody listens on */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  any = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  base_url = g_strdup_printf ("http://127.0.0.1:%u/v2/",
                              g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);

  g_clear_object (&fx->verify);
  fx->verify = vpush_verify_new (fx->http, base_url, 1000, &error);
  g_assert_no_error (error);
  g_signal_connect (fx->verify, "attempt-finished", G_CALLBACK (on_attempt_finished), fx);
  enable_retries (fx, 1500);

  start = g_get_monotonic_time ();
  vpush_verify_delete_factor_async (fx->verify, fx->factor, fx->key, NULL, store_result, &result);
  g_assert_false (vpush_verify_delete_factor_finish (fx->verify, wait_for (&result), &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (fx->n_failed_attempts, >=, 2);
  g_assert_cmpuint (fx->n_failed_attempts, ==, fx->n_attempts);
  /* nothing was sent */
  g_assert_false (vpush_verify_call_maybe_delivered (fx->verify, result));
}

/* Final at once: refusals, replies that do not map, a body over the cap. */
static void
test_retry_not_transient (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autoptr (VpushChallenge) e = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  gsize huge_len = VPUSH_HTTP_BODY_CAP + 1;
  g_autofree gchar *huge = g_malloc (huge_len);

  enable_retries (fx, 5000);
  server_reply (fx->server, 400, NULL,
                "{\"code\": 60306, \"message\": \"Invalid parameter\", \"status\": 400}");
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);

  server_reply (fx->server, 599, NULL, "");
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);

  /* malformed JSON in a 2xx is a reply that does not map, not a transient failure */
  server_reply (fx->server, 200, "Content-Type: application/json\r\n", "{\"sid\": \"YC01");
  c = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "not valid JSON"));
  g_clear_error (&error);

  memset (huge, ' ', huge_len);
  huge[0] = '{';
  huge[huge_len - 1] = '}';
  server_reply_bytes (fx->server, 200, "Content-Type: application/json\r\n", huge, huge_len);
  d = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_cmpstr (error->message, ==, "response body larger than 1 MiB");
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);

  /* the Content-Type of a 2xx is not checked: its body is, field by field */
  server_reply (fx->server, 200, "Content-Type: text/html\r\n", body);
  e = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_nonnull (e);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
  g_assert_cmpuint (fx->n_failed_attempts, ==, 1);
}

/* The clock-skew retry of an answer: by the corrected clock the challenge has expired, so
 * the answer is not sent again (dbus-api.md: never an answer for an expired challenge). */
static void
test_answer_expired_by_corrected_clock (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) answered = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 200,
                "Twilio-Verify-Signature-Fields: sid,factor_sid,status,details,hidden_details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  pending->expires_at = vpush_verify_now (fx->verify) + 60;

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  answered = answer (fx, pending, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_EXPIRED);
  g_assert_null (answered);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_clear_error (&error);

  /* nor are retries of a transient failure sent past the expiry by a clock corrected
   * during the call: an hour and 2 s left, then (by the API's Date) 2 s */
  enable_retries (fx, 20000);
  pending->expires_at = vpush_verify_now (fx->verify) + 3602;
  g_free (headers);
  g_free (date);
  date = rfc1123 (server_now + 3600);
  headers = g_strdup_printf ("Date: %s\r\n", date);
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  for (guint i = 0; i < 1000; i++)
    server_reply (fx->server, 503, NULL, "{\"code\": 20503, \"message\": \"busy\"}");
  {
    gint64 started = g_get_monotonic_time ();
    g_autoptr (VpushChallenge) retried = answer (fx, pending, "approved", &error);

    g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
    g_assert_null (retried);
    /* the 20 s of retrying it would otherwise have had */
    g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);
  }
}

/* JSON nested past any the API sends is refused before json-glib, which would recurse
 * off the end of the stack: 300 KB of "[" crashed vpushd. Brackets in strings don't
 * count. */
static void
test_deep_json (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  gsize deep_len = 300000;
  g_autofree gchar *deep = g_malloc (deep_len + 1);
  g_autoptr (GString) quoted = g_string_new ("{\"sid\": \"");

  memset (deep, '[', deep_len);
  deep[deep_len] = '\0';
  server_reply_bytes (fx->server, 200, "Content-Type: application/json\r\n", deep, deep_len);
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "JSON nested deeper than 32 levels"));
  g_clear_error (&error);

  /* json-glib's own extensions ('…' strings, comments) can't hide the depth from the scan */
  {
    static const gchar *const prefixes[] = { "['\"', ", "/*\"*/", "#\"\n", "//\"\n" };

    for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
      {
        g_autoptr (VpushChallenge) sneaky = NULL;
        g_autofree gchar *body = g_strconcat (prefixes[i], deep, NULL);

        server_reply_bytes (fx->server, 200, "Content-Type: application/json\r\n", body,
                            strlen (prefixes[i]) + deep_len);
        sneaky = fetch (fx, CHALLENGE_SID, &error);
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        g_assert_nonnull (strstr (error->message, "is outside a string"));
        g_clear_error (&error);
      }
  }

  /* an error body too */
  server_reply_bytes (fx->server, 400, "Content-Type: application/json\r\n", deep, deep_len);
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_nonnull (strstr (error->message, "HTTP 400, and the body is not a Twilio error"));
  g_clear_error (&error);

  /* brackets and escaped quotes inside a string are text */
  for (guint i = 0; i < 100; i++)
    g_string_append (quoted, "[{\\\"");
  g_string_append (quoted, "\"}");
  server_reply (fx->server, 200, "Content-Type: application/json\r\n", quoted->str);
  c = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null (strstr (error->message, "nested"));
  g_assert_nonnull (strstr (error->message, "“sid” is not a YC… sid"));
}

/* Create-factor is sent again only when the API can't have acted on it. */
static void
test_retry_create_factor (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) a = NULL;
  g_autoptr (VpushFactorRecord) b = NULL;
  g_autoptr (VpushFactorRecord) c = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  enable_retries (fx, 5000);
  server_reply (fx->server, 503, NULL,
                "{\"code\": 20503, \"message\": \"Service unavailable\", \"status\": 503}");
  a = create_factor (fx, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_null (a);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);

  /* a 429 comes instead of the work: no factor was made */
  server_reply (fx->server, 429, "Retry-After: 0\r\n",
                "{\"code\": 20429, \"message\": \"Too many requests\", \"status\": 429}");
  server_reply (fx->server, 201, NULL, factor_response);
  b = create_factor (fx, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->sid, ==, FACTOR_SID);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 3);

  /* a lost reply: the factor may exist */
  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 201, NULL, factor_response);
  vpush_verify_create_factor_async (fx->verify, SERVICE_SID, IDENTITY, "access/token+=", "Kiosk 7",
                                    fx->spki, NULL, NULL, store_result, &result);
  c = vpush_verify_create_factor_finish (fx->verify, wait_for (&result), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);
  g_assert_null (c);
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, result));
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
}

/* An answer is retried within the retry timeout and never past the challenge's expiry; a
 * refusal after a lost reply is flagged, for the approval to look at the challenge. */
static void
test_retry_answer (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) lost = NULL;
  g_autoptr (GAsyncResult) refused = NULL;
  g_autoptr (GAsyncResult) retried = NULL;
  g_autoptr (GAsyncResult) late = NULL;
  g_autoptr (VpushChallenge) live = NULL;
  g_autoptr (VpushChallenge) expired = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autofree gchar *approved = challenge_json (FACTOR_SID, "approved");
  static const gchar answered[]
      = "{\"code\": 60325, \"message\": \"Challenge already responded\", \"status\": 409}";

  /* retry timeout 0 turns the answer's retries off too */
  use_timeout (fx, 300, 0);
  live = fetch_live_challenge (fx, 60);
  server_reply (fx->server, 503, NULL, "{}");
  a = answer (fx, live, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);

  /* an answer is retried within the retry timeout (and the expiry, below) */
  use_timeout (fx, 300, 5000);
  server_hang (fx->server);
  server_reply (fx->server, 409, NULL, answered);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &lost);
  b = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&lost), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 409, code 60325: Challenge already responded");
  g_clear_error (&error);
  g_assert_true (vpush_verify_call_maybe_delivered (fx->verify, lost));
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
  g_assert_cmpstr (server_request (fx->server, 2)->method, ==, "POST");
  g_assert_cmpstr (server_request (fx->server, 3)->method, ==, "POST");

  /* a refusal without a lost reply before it is just that */
  server_reply (fx->server, 409, NULL, answered);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &refused);
  c = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&refused), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_clear_error (&error);
  g_assert_false (vpush_verify_call_maybe_delivered (fx->verify, refused));

  server_reply (fx->server, 502, NULL, "");
  server_reply (fx->server, 200, NULL, approved);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, live, "approved", NULL,
                                       store_result, &retried);
  d = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&retried), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (d->status, ==, "approved");
  g_assert_cmpuint (server_n_requests (fx->server), ==, 7);

  /* no retry past the expiry */
  expired = fetch_live_challenge (fx, 0);
  server_reply (fx->server, 503, NULL, "{}");
  server_reply (fx->server, 200, NULL, approved);
  vpush_verify_answer_challenge_async (fx->verify, fx->factor, fx->key, expired, "approved", NULL,
                                       store_result, &late);
  g_clear_pointer (&d, vpush_challenge_unref);
  d = vpush_verify_answer_challenge_finish (fx->verify, wait_for (&late), &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_null (d);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 9);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_retry_cancelled (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 start = g_get_monotonic_time ();

  enable_retries (fx, 60000);
  server_reply (fx->server, 429, "Retry-After: 20\r\n", "{}");
  g_timeout_add (200, cancel_cb, cancellable);
  vpush_verify_fetch_challenge_async (fx->verify, fx->factor, fx->key, CHALLENGE_SID, cancellable,
                                      store_result, &result);
  challenge = vpush_verify_fetch_challenge_finish (fx->verify, wait_for (&result), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (challenge);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/verify/new-checks-url", test_new_checks_url);
  g_test_add_func ("/verify/backoff", test_backoff);
  g_test_add_func ("/verify/retry-after-parse", test_retry_after_parse);
#define ADD(path, func)                                                                            \
  g_test_add ("/verify/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("create-factor", test_create_factor);
  ADD ("device-auth-fresh", test_device_auth_fresh);
  ADD ("create-factor-mapping", test_create_factor_mapping);
  ADD ("create-factor-no-retry", test_create_factor_no_retry);
  ADD ("verify-factor", test_verify_factor);
  ADD ("update-factor", test_update_factor);
  ADD ("delete-factor", test_delete_factor);
  ADD ("delete-factor-double-401", test_delete_factor_double_401);
  ADD ("clock-skew-retry", test_clock_skew_retry);
  ADD ("api-errors", test_api_errors);
  ADD ("network-errors", test_network_errors);
  ADD ("fetch-challenge", test_fetch_challenge);
  ADD ("fetch-challenge-refused", test_fetch_challenge_refused);
  ADD ("list-challenges", test_list_challenges);
  ADD ("list-challenges-refused", test_list_challenges_refused);
  ADD ("list-challenges-bad-items", test_list_challenges_bad_items);
  ADD ("answer-challenge", test_answer_challenge);
  ADD ("answer-challenge-refused", test_answer_challenge_refused);
  ADD ("retry-transient", test_retry_transient);
  ADD ("retry-after", test_retry_after);
  ADD ("retry-after-past-deadline", test_retry_after_past_deadline);
  ADD ("retry-gives-up", test_retry_gives_up);
  ADD ("retry-timeout", test_retry_timeout);
  ADD ("retry-connection-refused", test_retry_connection_refused);
  ADD ("retry-not-transient", test_retry_not_transient);
  ADD ("deep-json", test_deep_json);
  ADD ("fetch-other-challenge", test_fetch_other_challenge);
  ADD ("answer-expired-by-corrected-clock", test_answer_expired_by_corrected_clock);
  ADD ("retry-create-factor", test_retry_create_factor);
  ADD ("retry-answer", test_retry_answer);
  ADD ("retry-cancelled", test_retry_cancelled);
#undef ADD

  return g_test_run ();
}
