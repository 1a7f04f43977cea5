/* Unit tests for the Verify client: answers that are refused or mapped to an error (§3, §6):
 * replies that do not map, API errors (and the credentials they quote), JSON nested too deep,
 * a challenge of another factor, list items left out (an escape json-glib misreads included),
 * arguments refused before anything is sent. */
#include <string.h>

#include "vpush-error.h"

#include "test-verify-common.h"

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

/* A string that is not UTF-8 never reaches a record or the bus. json-glib refuses raw
 * bytes that are not UTF-8, but turned a lone surrogate escape into such a string: a
 * friendly name of that kind aborted vpushd in g_variant_new_string() (or, without fatal
 * criticals, went into the record, which could not be read at the next start). Such
 * escapes are refused with the document now. */
static void
test_create_factor_not_utf8 (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;

  server_reply (fx->server, 201, NULL,
                "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
                "\"unverified\", \"date_created\": \"2024-01-02T03:04:05Z\", \"config\": "
                "{\"credential_sid\": \"CR1\"}, \"friendly_name\": \"bad\\udcf2name\"}");
  record = create_factor (fx, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "\\u escape"));
  g_assert_null (record);
}

/* A malformed entity_sid (nullable, only kept) is left out: the store refuses a record
 * with one, so the factor just enrolled could not be read at the next start. */
static void
test_create_factor_bad_entity_sid (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (VpushFactorRecord) stored = NULL;
  g_autoptr (JsonNode) node = NULL;

  server_reply (fx->server, 201, NULL,
                "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID "\", \"status\": "
                "\"unverified\", \"date_created\": \"2024-01-02T03:04:05Z\", \"config\": "
                "{\"credential_sid\": \"CR1\"}, \"entity_sid\": \"YE-not-a-sid\"}");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "*entity_sid*not a YE*");
  record = create_factor (fx, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_null (record->entity_sid);
  node = vpush_factor_record_to_json (record);
  stored = vpush_factor_record_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (stored->sid, ==, FACTOR_SID);
}

/* The API documents a factor's friendly name as at most 64 characters and its metadata
 * as at most 1024: a longer one in the reply to create is not kept (the name asked for
 * is, and no metadata), nor is a credential sid longer than any sid (the reply does not
 * map). Kept, they went into the record: a reply within its 1 MiB cap made a record over
 * the 1 MiB the store reads back, and the factor was gone from vpushd at the next start. */
static void
test_create_factor_oversized (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (VpushFactorRecord) refused = NULL;
  g_autoptr (GString) reply = g_string_new (NULL);
  g_autofree gchar *name = g_strnfill (65, 'n');
  g_autofree gchar *value = g_strnfill (1020, 'v');
  g_autofree gchar *credential = g_strnfill (300, 'C');

  g_string_printf (reply,
                   "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID
                   "\", \"status\": \"unverified\", \"date_created\": "
                   "\"2024-01-02T03:04:05Z\", \"config\": {\"credential_sid\": \"CR1\"}, "
                   "\"friendly_name\": \"%s\", \"metadata\": {\"os\": \"%s\"}}",
                   name, value);
  server_reply (fx->server, 201, NULL, reply->str);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "*friendly_name*not kept*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "*metadata*not kept*");
  record = create_factor (fx, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpstr (record->friendly_name, ==, "Kiosk 7");
  g_assert_null (record->enrolled_name);
  g_assert_null (record->metadata);

  /* at the limits, they are kept */
  g_clear_pointer (&record, vpush_factor_record_free);
  name[64] = '\0';
  value[1024 - strlen ("{\"os\":\"\"}")] = '\0';
  g_string_printf (reply,
                   "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID
                   "\", \"status\": \"unverified\", \"date_created\": "
                   "\"2024-01-02T03:04:05Z\", \"config\": {\"credential_sid\": \"CR1\"}, "
                   "\"friendly_name\": \"%s\", \"metadata\": {\"os\": \"%s\"}}",
                   name, value);
  server_reply (fx->server, 201, NULL, reply->str);
  record = create_factor (fx, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (record->friendly_name, ==, name);
  /* the policy allowed the name asked for: its rules go on matching that one */
  g_assert_cmpstr (vpush_factor_record_get_policy_name (record), ==, "Kiosk 7");
  g_assert_cmpuint (g_utf8_strlen (record->metadata, -1), ==, 1024);

  g_string_printf (reply,
                   "{\"sid\": \"" FACTOR_SID "\", \"account_sid\": \"" ACCOUNT_SID
                   "\", \"status\": \"unverified\", \"date_created\": "
                   "\"2024-01-02T03:04:05Z\", \"config\": {\"credential_sid\": \"%s\"}}",
                   credential);
  server_reply (fx->server, 201, NULL, reply->str);
  refused = create_factor (fx, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "config.credential_sid"));
  g_assert_null (refused);
}

static void
test_api_errors (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushChallenge) d = NULL;
  g_autoptr (VpushChallenge) e = NULL;

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
  g_clear_error (&error);

  /* the server's message goes to the bus, so it must be text */
  server_reply (fx->server, 400, NULL, "{\"code\": 60001, \"message\": \"bad \\udcf2\"}");
  e = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 400, and the body is not a Twilio error object");
  g_clear_error (&error);

  /* a long message is cut short, on a character */
  {
    g_autoptr (GString) body = g_string_new ("{\"code\": 60001, \"message\": \"");
    g_autoptr (VpushChallenge) f = NULL;
    g_autoptr (GString) head = g_string_new ("HTTP 400, code 60001: ");

    for (guint i = 0; i < 100000; i++)
      g_string_append (body, "\u00e9");
    g_string_append (body, "\"}");
    for (guint i = 0; i < 256; i++)
      g_string_append (head, "\u00e9");
    g_string_append (head, "\u2026");
    server_reply (fx->server, 400, NULL, body->str);
    f = fetch (fx, CHALLENGE_SID, &error);
    g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
    g_assert_cmpstr (error->message, ==, head->str);
  }
}

/* The request's AuthPayload, or "" */
static gchar *
form_auth_payload (ServerRequest *req)
{
  gsize len;
  const gchar *data = g_bytes_get_data (req->body, &len);
  g_autofree gchar *body = g_strndup (data != NULL ? data : "", len);

  if (!g_str_has_prefix (body, "AuthPayload="))
    return g_strdup ("");
  return g_uri_unescape_string (body + strlen ("AuthPayload="), NULL);
}

/* A Twilio error whose message is user_data with what the request sent put in for
 * @PASSWORD@ (the token or JWT), @SIG@ (the last 20 characters of the JWT's signature),
 * @BASIC@ (the Authorization value) and @PAYLOAD@, as a server or proxy that quotes the
 * request does */
static gchar *
quote_credentials (ServerRequest *req, gconstpointer user_data)
{
  g_autoptr (GString) message = g_string_new (user_data);
  g_autofree gchar *password = basic_password (req);
  g_autofree gchar *authorization = head_get (req->head, "Authorization");
  g_autofree gchar *payload = form_auth_payload (req);
  const gchar *sig = strrchr (password, '.');

  g_string_replace (message, "@PASSWORD@", password, 0);
  if (sig != NULL && strlen (sig) > 20)
    g_string_replace (message, "@SIG@", sig + strlen (sig) - 20, 0);
  g_string_replace (message, "@BASIC@", authorization + strlen ("Basic "), 0);
  g_string_replace (message, "@PAYLOAD@", payload, 0);
  return g_strdup_printf ("{\"code\": 20003, \"message\": \"%s\"}", message->str);
}

/* The API's message goes to the bus and the log: a credential the request sent that it
 * quotes (or a proxy in its place), whole or in part, is masked, and the rest kept. Each
 * went out as the server wrote it: the device JWT, its signature, the Basic value, an
 * AuthPayload and the enrollment's access token. */
static void
test_api_error_credentials (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) a = NULL;
  g_autoptr (VpushChallenge) b = NULL;
  g_autoptr (VpushChallenge) listed = NULL;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree gchar *status = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");

  /* the whole JWT, past the cut */
  server_reply_func (fx->server, 401, NULL, quote_credentials, "JWT is expired: @PASSWORD@");
  a = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 401, code 20003: JWT is expired: [credential]…");
  g_clear_error (&error);

  server_reply_func (fx->server, 401, NULL, quote_credentials,
                     "Signature ...@SIG@ does not verify; see "
                     "https://www.twilio.com/docs/errors/20003.");
  b = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 401, code 20003: Signature ...[credential] does not verify; see "
                   "https://www.twilio.com/docs/errors/20003.");
  g_clear_error (&error);

  server_reply_func (fx->server, 400, NULL, quote_credentials,
                     "AuthPayload @PAYLOAD@ rejected, sent with Basic @BASIC@");
  status = verify_factor (fx, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 400, code 20003: AuthPayload [credential] rejected, sent with Basic "
                   "[credential]…");
  g_clear_error (&error);

  /* an answer's AuthPayload is a JWT of its own */
  node = json_from_string (pending_json, &error);
  g_assert_no_error (error);
  listed = vpush_challenge_new_from_json (node, &error);
  g_assert_no_error (error);
  vpush_challenge_set_signature_fields (listed, node, "sid,status");
  server_reply_func (fx->server, 400, NULL, quote_credentials, "AuthPayload @PAYLOAD@ rejected");
  c = answer (fx, listed, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 400, code 20003: AuthPayload [credential] rejected");
  g_clear_error (&error);

  server_reply_func (fx->server, 401, NULL, quote_credentials,
                     "Access token @PASSWORD@ is not valid");
  record = create_factor (fx, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==,
                   "HTTP 401, code 20003: Access token [credential] is not valid");
  g_assert_cmpuint (server_n_requests (fx->server), ==, 5);
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
                         "list challenges of factor " FACTOR_SID
                         ": item 1 (challenge " CHALLENGE_SID ") left out: *belongs to "
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

/* A page holds at most the items asked for: a server that sends more would fill the
 * pending set without end; and a page of bad items warns about the first three, then
 * counts the rest in one line. */
static void
test_list_challenges_page_bounds (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GString) body = g_string_new ("{\"challenges\": [");
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 21; i++)
    g_string_append (body, i == 0 ? "{}" : ", {}");
  g_string_append (body, "]}");
  server_reply (fx->server, 200, NULL, body->str);
  page = list (fx, NULL, NULL, 20, NULL, &error);
  g_assert_null (page);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "a page of 21 items, more than the 20 asked for"));
  g_clear_error (&error);

  server_reply (fx->server, 200, NULL, body->str);
  for (guint i = 0; i < 3; i++)
    g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                           "list challenges of factor " FACTOR_SID ": item ? left out: *");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID ": 18 more items left out");
  page = list (fx, NULL, NULL, 21, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (page->challenges->len, ==, 0);
  g_assert_true (page->incomplete);
}

/* An item with an escape json-glib misreads (it cuts "T\u0000other" to "T") is left out,
 * named by its sid where that can be read, and never read: the page's other challenges
 * and its next page are kept. */
static void
test_list_challenges_misread_items (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *good = challenge_json (FACTOR_SID, "pending");
  g_autofree gchar *json = challenge_json (FACTOR_SID, "pending");
  g_auto (GStrv) parts = g_strsplit (json, "t-1", 2);
  g_autofree gchar *nul = g_strjoinv ("T\\u0000other", parts);
  g_autofree gchar *body = g_strdup_printf (
      "{\"challenges\": [%s, %s, {\"sid\": \"\\ud800\"}], \"meta\": {\"next_page_url\": "
      "\"https://verify.example/v2/x?PageSize=20&PageToken=NEXT\"}}",
      nul, good);
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (VpushChallengePage) refused = NULL;
  g_autoptr (GError) error = NULL;

  server_reply (fx->server, 200, NULL, body);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID
                         ": item 0 (challenge " CHALLENGE_SID ") left out: *\\u0000 escape*");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "list challenges of factor " FACTOR_SID ": item 2 left out: *surrogate*");
  page = list (fx, NULL, NULL, 20, NULL, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (page->challenges->len, ==, 1);
  g_assert_cmpstr (
      vpush_challenge_get_hidden (g_ptr_array_index (page->challenges, 0), "transaction_id"), ==,
      "t-1");
  g_assert_true (page->incomplete);
  g_assert_cmpstr (page->next_page_token, ==, "NEXT");

  /* outside the items such an escape still refuses the page */
  server_reply (fx->server, 200, NULL,
                "{\"challenges\": [], \"meta\": {\"next_page_url\": \"x\\u0000\"}}");
  refused = list (fx, NULL, NULL, 20, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "\\u0000"));
  g_assert_null (refused);
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

/* meta.next_page_url's query is form-encoded, as the API writes a query and as Android
 * reads it back (a space is "+", a "+" is "%2B"): the token sent back must be the one the
 * API put there. */
static void
test_list_challenges_token_form_encoded (Fixture *fx, gconstpointer user_data)
{
  const gchar *urls[] = {
    "https://verify.twilio.com/v2/x?PageSize=2&PageToken=DN+a%2Bb%3D&Page=1",
    "https://verify.twilio.com/v2/x?PageSize=2&pageToken=DN%20a%2Bb%3D",
  };

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      g_autoptr (VpushChallengePage) page = NULL;
      g_autoptr (VpushChallengePage) next = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree gchar *body = g_strdup_printf (
          "{\"challenges\": [], \"meta\": {\"next_page_url\": \"%s\"}}", urls[i]);

      server_reply (fx->server, 200, NULL, body);
      page = list (fx, NULL, NULL, 2, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (page->next_page_token, ==, "DN a+b=");

      server_reply (fx->server, 200, NULL, "{\"challenges\": []}");
      next = list (fx, NULL, NULL, 2, page->next_page_token, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (server_request (fx->server, 2 * i + 1)->path, ==,
                       ENTITY_PATH "/Challenges?FactorSid=" FACTOR_SID
                                   "&PageSize=2&Order=asc&PageToken=DN%20a%2Bb%3D");
    }
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  ADD ("create-factor-mapping", test_create_factor_mapping);
  ADD ("create-factor-not-utf8", test_create_factor_not_utf8);
  ADD ("create-factor-bad-entity-sid", test_create_factor_bad_entity_sid);
  ADD ("create-factor-oversized", test_create_factor_oversized);
  ADD ("api-errors", test_api_errors);
  ADD ("api-error-credentials", test_api_error_credentials);
  ADD ("fetch-challenge-refused", test_fetch_challenge_refused);
  ADD ("list-challenges-refused", test_list_challenges_refused);
  ADD ("list-challenges-bad-items", test_list_challenges_bad_items);
  ADD ("list-challenges-page-bounds", test_list_challenges_page_bounds);
  ADD ("list-challenges-misread-items", test_list_challenges_misread_items);
  ADD ("list-challenges-token-form-encoded", test_list_challenges_token_form_encoded);
  ADD ("answer-challenge-refused", test_answer_challenge_refused);
  ADD ("deep-json", test_deep_json);
  ADD ("fetch-other-challenge", test_fetch_other_challenge);

  return g_test_run ();
}
