/* Unit tests for the Verify client: every device call against an in-test HTTP/1.1 server,
 * checked byte by byte against protocol doc §2–§3, §5 and §6. */
#define _GNU_SOURCE

#include <malloc.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-jwt.h"

#include "test-verify-common.h"
#include "test-signatures.h"

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

static void
assert_post_headers (ServerRequest *req)
{
  assert_header (req, "Accept", "application/json");
  assert_header (req, "Content-Type", "application/x-www-form-urlencoded");
}

/* ---- tests ---- */

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
test_verify_factor (Fixture *fx, gconstpointer user_data)
{
  const gchar *fields[] = { "AuthPayload", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) form = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autofree gchar *status = NULL;
  g_autofree guchar *sig = NULL;
  gsize sig_len;
  gint64 nbf;
  ServerRequest *req;

  server_reply (fx->server, 200, NULL, "{\"sid\": \"" FACTOR_SID "\", \"status\": \"verified\"}");
  status = verify_factor (fx, &error);
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
  ecdsa_verify_der (fx->spki, (const guint8 *)FACTOR_SID, strlen (FACTOR_SID), sig, sig_len,
                    &error);
  g_assert_no_error (error);
}

/* A reply of another factor, or of none, is no answer about this one: it would mark it
 * verified, or renamed. */
static void
test_reply_of_another_factor (Fixture *fx, gconstpointer user_data)
{
  static const gchar *const replies[] = {
    "{\"sid\": \"YF00000000000000000000000000000000\", \"status\": \"verified\"}",
    "{\"status\": \"verified\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (replies); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GAsyncResult) renamed = NULL;
      g_autofree gchar *status = NULL;

      server_reply (fx->server, 200, NULL, replies[i]);
      status = verify_factor (fx, &error);
      g_assert_null (status);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "verify factor: the response is of factor "));
      g_assert_nonnull (strstr (error->message, ", not " FACTOR_SID));
      g_clear_error (&error);

      server_reply (fx->server, 200, NULL, replies[i]);
      vpush_verify_update_factor_async (fx->verify, fx->factor, fx->key, "Other", NULL,
                                        store_result, &renamed);
      g_assert_false (vpush_verify_update_factor_finish (fx->verify, wait_for (&renamed), &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "update factor: the response is of factor "));
    }
}

static gboolean
refuse_keys (gpointer user_data, GError **error)
{
  guint *asked = user_data;

  (*asked)++;
  g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "locked");
  return FALSE;
}

/* The key guard is asked before each attempt of an answer, and a refusal fails it unsent;
 * other calls, a fetch here, don't ask it. */
static void
test_key_guard (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) refused = NULL;
  g_autoptr (VpushChallenge) answered = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *approved_json = challenge_json (FACTOR_SID, "approved");
  guint asked = 0;

  vpush_verify_set_key_guard (fx->verify, refuse_keys, &asked);
  server_reply (fx->server, 200, "Twilio-Verify-Signature-Fields: sid,status\r\n", pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (asked, ==, 0);

  refused = answer (fx, pending, "approved", &error);
  g_assert_null (refused);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpuint (asked, ==, 1);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);

  g_clear_error (&error);
  vpush_verify_set_key_guard (fx->verify, NULL, NULL);
  server_reply (fx->server, 200, NULL, approved_json);
  answered = answer (fx, pending, "approved", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (answered->status, ==, "approved");
}

static void
test_update_factor (Fixture *fx, gconstpointer user_data)
{
  /* only the OpenAPI UpdateFactor schema's fields: Config.AppId is not one (the SDKs send
   * it, §3.3, and the API ignores it) */
  const gchar *fields[]
      = { "FriendlyName", "Config.SdkVersion", "Config.NotificationPlatform", NULL };
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

/* The header is a comma-separated list, so it may come as several lines (RFC 9110 §5.3):
 * the list is all of them, in order, not the last one. */
static void
test_fetch_challenge_fields_in_lines (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (JsonNode) kept = NULL;
  g_autofree gchar *payload = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");

  server_reply (fx->server, 200,
                "Twilio-Verify-Signature-Fields: sid,status\r\n"
                "X-Other: 1\r\n"
                "twilio-verify-signature-fields: details, hidden_details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pending->signature_fields, ==, "sid,status,details, hidden_details");
  g_assert_no_error (pending->answer_error);
  payload = vpush_answer_body_payload (pending->answer_body, "approved");
  kept = json_from_string (payload, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_object_get_size (json_node_get_object (kept)), ==, 4);
  g_assert_true (json_object_has_member (json_node_get_object (kept), "sid"));
  g_assert_true (json_object_has_member (json_node_get_object (kept), "hidden_details"));
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

/* What buffers held when they were freed, the libraries' frees included (GLib frees a
 * GBytes' data itself): free() is this program's, in front of the C library's. Only a
 * buffer that starts as a signed body does ("AuthPayload="; libcurl's and the in-test
 * server's copies of a request start with its request line) is kept, with the C
 * library's malloc(); the in-test server's thread frees too, hence the lock. Not under
 * AddressSanitizer, whose free() this would take the place of. */
#ifndef __SANITIZE_ADDRESS__
#define SIGNED_BODY_START "AuthPayload="

void __libc_free (void *mem);
void *__libc_malloc (size_t size);

static struct
{
  GMutex lock;
  gint on;
  guint8 *data[64];
  gsize len[64];
  guint n;
} freed;

void
free (void *mem)
{
  gsize len = mem != NULL ? malloc_usable_size (mem) : 0;

  if (g_atomic_int_get (&freed.on) && len >= strlen (SIGNED_BODY_START)
      && memcmp (mem, SIGNED_BODY_START, strlen (SIGNED_BODY_START)) == 0)
    {
      g_mutex_lock (&freed.lock);
      if (freed.n < G_N_ELEMENTS (freed.data))
        {
          freed.data[freed.n] = __libc_malloc (len);
          g_assert_nonnull (freed.data[freed.n]);
          memcpy (freed.data[freed.n], mem, len);
          freed.len[freed.n++] = len;
        }
      g_mutex_unlock (&freed.lock);
    }
  __libc_free (mem);
}

/* Whether a buffer freed while recording held the request's body; the record is cleared */
static gboolean
freed_holds_body (ServerRequest *req)
{
  gsize len;
  gconstpointer body = g_bytes_get_data (req->body, &len);
  gboolean found = FALSE;

  g_assert_cmpuint (len, >, 64);
  g_assert_cmpuint (freed.n, <, G_N_ELEMENTS (freed.data));
  for (guint i = 0; i < freed.n; i++)
    {
      found = found || memmem (freed.data[i], freed.len[i], body, len) != NULL;
      __libc_free (freed.data[i]);
    }
  freed.n = 0;
  return found;
}

/* A factor's proof and a challenge's answer are signatures by its key (§5B, §5C), an
 * answer one that approves: the bodies that carry them are wiped, as every other copy
 * of a signature vpushd makes is, and left in no freed buffer */
static void
test_signed_bodies_wiped (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) answered = NULL;
  g_autofree gchar *status = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *approved_json = challenge_json (FACTOR_SID, "approved");

  server_reply (fx->server, 200, NULL, "{\"sid\": \"" FACTOR_SID "\", \"status\": \"verified\"}");
  g_atomic_int_set (&freed.on, TRUE);
  status = verify_factor (fx, &error);
  g_atomic_int_set (&freed.on, FALSE);
  g_assert_no_error (error);
  g_assert_false (freed_holds_body (server_request (fx->server, 0)));

  server_reply (fx->server, 200,
                "Twilio-Verify-Signature-Fields: sid,factor_sid,status,details,hidden_details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  server_reply (fx->server, 200, NULL, approved_json);
  g_atomic_int_set (&freed.on, TRUE);
  answered = answer (fx, pending, "approved", &error);
  g_atomic_int_set (&freed.on, FALSE);
  g_assert_no_error (error);
  g_assert_false (freed_holds_body (server_request (fx->server, 2)));

  /* the record sees a body freed unwiped */
  g_atomic_int_set (&freed.on, TRUE);
  g_bytes_unref (g_bytes_new (g_bytes_get_data (server_request (fx->server, 2)->body, NULL),
                              g_bytes_get_size (server_request (fx->server, 2)->body)));
  g_atomic_int_set (&freed.on, FALSE);
  g_assert_true (freed_holds_body (server_request (fx->server, 2)));
}

#else
static void
test_signed_bodies_wiped (Fixture *fx, gconstpointer user_data)
{
  g_test_skip ("free() is AddressSanitizer's in this build");
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/verify/new-checks-url", test_new_checks_url);
  ADD ("create-factor", test_create_factor);
  ADD ("device-auth-fresh", test_device_auth_fresh);
  ADD ("verify-factor", test_verify_factor);
  ADD ("update-factor", test_update_factor);
  ADD ("reply-of-another-factor", test_reply_of_another_factor);
  ADD ("key-guard", test_key_guard);
  ADD ("delete-factor", test_delete_factor);
  ADD ("fetch-challenge", test_fetch_challenge);
  ADD ("fetch-challenge-fields-in-lines", test_fetch_challenge_fields_in_lines);
  ADD ("list-challenges", test_list_challenges);
  ADD ("answer-challenge", test_answer_challenge);
  ADD ("signed-bodies-wiped", test_signed_bodies_wiped);

  return g_test_run ();
}
