/* Unit tests for the device auth and challenge-answer JWTs (protocol doc §5A, §5C). */
/* memmem */
#define _GNU_SOURCE

#include <malloc.h>
#include <string.h>

#include <gio/gio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>

#include "vpush-jwt.h"
#include "test-signatures.h"

/* A fetched challenge as Verify returns it, with keys the answer must not carry. */
static const gchar challenge_json[]
    = "{"
      "\"sid\": \"YC0123456789abcdef0123456789abcdef\","
      "\"account_sid\": \"AC0123456789abcdef0123456789abcdef\","
      "\"service_sid\": \"VA0123456789abcdef0123456789abcdef\","
      "\"entity_sid\": \"YE0123456789abcdef0123456789abcdef\","
      "\"identity\": \"ff483d1ff591898a9942916050d2ca3f\","
      "\"factor_sid\": \"YF0123456789abcdef0123456789abcdef\","
      "\"date_created\": \"2024-01-02T03:04:05Z\","
      "\"date_updated\": \"2024-01-02T03:04:05Z\","
      "\"expiration_date\": \"2024-01-02T03:09:05Z\","
      "\"status\": \"pending\","
      "\"details\": {\"message\": \"Log in to https://shop.example/\", \"date\": null,"
      "  \"fields\": [{\"label\": \"Amount\", \"value\": \"\\u20ac 5\"}, {\"label\": \"n\", "
      "\"value\": 7}]},"
      "\"hidden_details\": null,"
      "\"metadata\": {\"os\": \"linux\"},"
      "\"url\": \"https://verify.twilio.com/v2/Services/VA…\""
      "}";

typedef struct
{
  VpushKey *key;
  gchar *spki;
  JsonObject *body;
} Fixture;

static void
fixture_set_up (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  fx->key = vpush_key_generate (&error);
  g_assert_no_error (error);
  fx->spki = vpush_key_get_public_spki_b64 (fx->key, &error);
  g_assert_no_error (error);

  json_parser_load_from_data (parser, challenge_json, -1, &error);
  g_assert_no_error (error);
  fx->body = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
fixture_tear_down (Fixture *fx, gconstpointer user_data)
{
  vpush_key_free (fx->key);
  g_free (fx->spki);
  json_object_unref (fx->body);
}

static JsonObject *
decode_segment (const gchar *segment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree guint8 *json = NULL;
  gsize len = 0;
  JsonNode *root;

  json = base64url_decode (segment, &len, &error);
  g_assert_no_error (error);
  /* RFC 8259 §7: a control character in a string is escaped (json-glib reads one that is
   * not, a server does not), and compact JSON has no white space */
  for (gsize i = 0; i < len; i++)
    g_assert_cmpuint (json[i], >=, 0x20);
  json_parser_load_from_data (parser, (const gchar *)json, (gssize)len, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));

  /* json-glib keeps the last of two members of one name, so a copied "status" that was
   * not replaced would pass unseen: each member name must stand once in the text (RFC
   * 7519 §4: claim names are unique). The test bodies have no nested member of these
   * names. */
  {
    g_autoptr (GList) names = json_object_get_members (json_node_get_object (root));
    g_autofree gchar *text = g_strndup ((const gchar *)json, len);

    for (GList *l = names; l != NULL; l = l->next)
      {
        g_autofree gchar *quoted = g_strdup_printf ("\"%s\":", (const gchar *)l->data);
        const gchar *first = strstr (text, quoted);

        g_assert_nonnull (first);
        g_assert_null (strstr (first + 1, quoted));
      }
  }
  return json_object_ref (json_node_get_object (root));
}

/* The member names of object, sorted and joined, to compare whole key sets at once. */
static gchar *
member_names (JsonObject *object)
{
  g_autoptr (GList) names = g_list_sort (json_object_get_members (object), (GCompareFunc)strcmp);
  g_autoptr (GString) joined = g_string_new (NULL);

  for (GList *l = names; l != NULL; l = l->next)
    g_string_append_printf (joined, "%s%s", joined->len ? "," : "", (const gchar *)l->data);
  return g_string_free (g_steal_pointer (&joined), FALSE);
}

/* Splits a compact JWS, checks its ES256 signature with spki and returns header, payload. */
static void
check_jws (const gchar *jwt, const gchar *spki, JsonObject **out_header, JsonObject **out_payload)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) parts = g_strsplit (jwt, ".", -1);
  g_autofree gchar *signing_input = NULL;
  g_autofree guint8 *raw = NULL;
  unsigned char *der = NULL;
  ECDSA_SIG *sig;
  gsize raw_len = 0;
  int der_len;

  g_assert_null (strpbrk (jwt, "=+/ \n"));
  g_assert_cmpuint (g_strv_length (parts), ==, 3);

  raw = base64url_decode (parts[2], &raw_len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (raw_len, ==, 64);

  /* OpenSSL re-encodes r‖s independently of the code under test. */
  sig = ECDSA_SIG_new ();
  g_assert_true (ECDSA_SIG_set0 (sig, BN_bin2bn (raw, 32, NULL), BN_bin2bn (raw + 32, 32, NULL)));
  der_len = i2d_ECDSA_SIG (sig, &der);
  g_assert_cmpint (der_len, >, 0);
  signing_input = g_strconcat (parts[0], ".", parts[1], NULL);
  g_assert_true (ecdsa_verify_der (spki, (const guint8 *)signing_input, strlen (signing_input), der,
                                   der_len, &error));
  g_assert_no_error (error);
  OPENSSL_free (der);
  ECDSA_SIG_free (sig);

  *out_header = decode_segment (parts[0]);
  *out_payload = decode_segment (parts[1]);
}

static void
assert_int_member (JsonObject *object, const gchar *name, gint64 expected)
{
  JsonNode *node = json_object_get_member (object, name);

  g_assert_nonnull (node);
  g_assert_cmpint (json_node_get_node_type (node), ==, JSON_NODE_VALUE);
  g_assert_cmpuint (json_node_get_value_type (node), ==, G_TYPE_INT64);
  g_assert_cmpint (json_node_get_int (node), ==, expected);
}

static void
assert_string_member (JsonObject *object, const gchar *name, const gchar *expected)
{
  JsonNode *node = json_object_get_member (object, name);

  g_assert_nonnull (node);
  g_assert_cmpuint (json_node_get_value_type (node), ==, G_TYPE_STRING);
  g_assert_cmpstr (json_node_get_string (node), ==, expected);
}

static void
test_device_auth (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  g_autofree gchar *jwt = NULL;
  g_autofree gchar *header_keys = NULL;
  g_autofree gchar *payload_keys = NULL;
  const gint64 now = 1700000000;

  jwt = vpush_jwt_device_auth (fx->key, "CR0123456789abcdef0123456789abcdef",
                               "AC0123456789abcdef0123456789abcdef", now, &error);
  g_assert_no_error (error);
  g_assert_nonnull (jwt);
  check_jws (jwt, fx->spki, &header, &payload);

  header_keys = member_names (header);
  g_assert_cmpstr (header_keys, ==, "alg,cty,kid,typ");
  assert_string_member (header, "cty", "twilio-pba;v=1");
  assert_string_member (header, "kid", "CR0123456789abcdef0123456789abcdef");
  assert_string_member (header, "typ", "JWT");
  assert_string_member (header, "alg", "ES256");

  payload_keys = member_names (payload);
  g_assert_cmpstr (payload_keys, ==, "exp,nbf,sub");
  assert_string_member (payload, "sub", "AC0123456789abcdef0123456789abcdef");
  assert_int_member (payload, "nbf", now);
  assert_int_member (payload, "exp", now + 600);
}

/* Fresh signatures each time: ECDSA is randomized, and short r or s must still verify. */
static void
test_device_auth_many (Fixture *fx, gconstpointer user_data)
{
  for (gint64 now = 1700000000; now < 1700000000 + 100; now++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonObject) header = NULL;
      g_autoptr (JsonObject) payload = NULL;
      g_autofree gchar *jwt = vpush_jwt_device_auth (fx->key, "CRx", "ACx", now, &error);

      g_assert_no_error (error);
      check_jws (jwt, fx->spki, &header, &payload);
      assert_int_member (payload, "nbf", now);
      assert_int_member (payload, "exp", now + 600);
    }
}

static void
test_device_auth_empty (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (vpush_jwt_device_auth (fx->key, "", "ACx", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_null (vpush_jwt_device_auth (fx->key, "CRx", "", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

/* This binary links with -Wl,--wrap=g_free (tests/meson.build): every g_free() in it, the
 * daemon library's included, comes here first. While a JWT is made, what each freed buffer
 * held is kept (with malloc(), not GLib), to look for the JWT's signature in it afterwards. */
void __real_g_free (gpointer mem);
void __wrap_g_free (gpointer mem);

static struct
{
  gboolean on;
  guint8 *data[4096];
  gsize len[4096];
  guint n;
} freed;

void
__wrap_g_free (gpointer mem)
{
  if (freed.on && mem != NULL && freed.n < G_N_ELEMENTS (freed.data))
    {
      gsize len = malloc_usable_size (mem);
      guint8 *copy = malloc (len);

      g_assert_nonnull (copy);
      memcpy (copy, mem, len);
      freed.data[freed.n] = copy;
      freed.len[freed.n++] = len;
    }
  __real_g_free (mem);
}

static void
freed_clear (void)
{
  for (guint i = 0; i < freed.n; i++)
    free (freed.data[i]);
  freed.n = 0;
}

/* Whether a buffer freed while recording held the needle. */
static gboolean
freed_holds (gconstpointer needle, gsize len)
{
  for (guint i = 0; i < freed.n; i++)
    if (memmem (freed.data[i], freed.len[i], needle, len) != NULL)
      return TRUE;
  return FALSE;
}

/* The device JWT is a bearer credential for ten minutes (vpushd wipes its copies of it):
 * its signature, the one part of it not known beforehand, is left in no freed buffer, as
 * base64url or as the raw r and s. */
static void
test_device_auth_wiped (Fixture *fx, gconstpointer user_data)
{
  for (guint round = 0; round < 10; round++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *jwt = NULL;
      g_autofree guint8 *raw = NULL;
      g_auto (GStrv) parts = NULL;
      gsize raw_len = 0;

      freed.on = TRUE;
      jwt = vpush_jwt_device_auth (fx->key, "CR0123456789abcdef0123456789abcdef",
                                   "AC0123456789abcdef0123456789abcdef", 1700000000, &error);
      freed.on = FALSE;
      g_assert_no_error (error);
      g_assert_cmpuint (freed.n, <, G_N_ELEMENTS (freed.data));

      parts = g_strsplit (jwt, ".", -1);
      g_assert_cmpuint (g_strv_length (parts), ==, 3);
      raw = base64url_decode (parts[2], &raw_len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (raw_len, ==, 64);

      g_assert_false (freed_holds (parts[2], strlen (parts[2])));
      g_assert_false (freed_holds (raw + 1, 31));  /* r, but for a byte DER may leave out */
      g_assert_false (freed_holds (raw + 33, 31)); /* s */
      freed_clear ();
    }
}

static void
assert_copied (JsonObject *payload, JsonObject *body, const gchar *name)
{
  JsonNode *copied = json_object_get_member (payload, name);

  g_assert_nonnull (copied);
  g_assert_true (json_node_equal (copied, json_object_get_member (body, name)));
}

/* A challenge answer as the daemon makes it: the payload's text, then its signature. */
static gchar *
answer_jwt (Fixture *fx, const gchar *signature_fields, const gchar *status, GError **error)
{
  g_autoptr (VpushAnswerBody) body = vpush_jwt_answer_body_new (fx->body, signature_fields, error);

  if (body == NULL)
    return NULL;
  return vpush_jwt_answer_sign (fx->key, body, status, error);
}

static void
test_answer (Fixture *fx, gconstpointer user_data)
{
  static const gchar *copied_fields[] = {
    "account_sid", "date_created", "details", "expiration_date", "factor_sid", "hidden_details",
    "identity",    "service_sid",  "sid",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  g_autofree gchar *jwt = NULL;
  g_autofree gchar *header_keys = NULL;
  g_autofree gchar *payload_keys = NULL;
  JsonObject *details;
  JsonArray *fields;

  /* The production field list (§5C), with stray spaces and an empty entry. */
  jwt = answer_jwt (fx,
                    " hidden_details,account_sid ,sid,expiration_date,,"
                    "date_created,status,factor_sid,details,service_sid,identity ",
                    "approved", &error);
  g_assert_no_error (error);
  g_assert_nonnull (jwt);
  check_jws (jwt, fx->spki, &header, &payload);

  header_keys = member_names (header);
  g_assert_cmpstr (header_keys, ==, "alg,typ");
  assert_string_member (header, "typ", "JWT");
  assert_string_member (header, "alg", "ES256");

  payload_keys = member_names (payload);
  g_assert_cmpstr (payload_keys, ==,
                   "account_sid,date_created,details,expiration_date,factor_sid,hidden_details,"
                   "identity,service_sid,sid,status");
  for (gsize i = 0; i < G_N_ELEMENTS (copied_fields); i++)
    assert_copied (payload, fx->body, copied_fields[i]);

  /* Verbatim means types too: null stays null, objects and arrays keep their shape. */
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (payload, "hidden_details")));
  details = json_object_get_object_member (payload, "details");
  g_assert_nonnull (details);
  assert_string_member (details, "message", "Log in to https://shop.example/");
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (details, "date")));
  fields = json_object_get_array_member (details, "fields");
  g_assert_cmpuint (json_array_get_length (fields), ==, 2);
  assert_string_member (json_array_get_object_element (fields, 0), "value", "€ 5");
  assert_int_member (json_array_get_object_element (fields, 1), "value", 7);

  /* The copied "pending" is overwritten. */
  assert_string_member (payload, "status", "approved");
}

static void
test_answer_hidden_details_object (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  g_autoptr (JsonObject) hidden = json_object_new ();
  g_autofree gchar *jwt = NULL;
  g_autofree gchar *payload_keys = NULL;
  JsonObject *copied;

  json_object_set_string_member (hidden, "transaction_id", "tx-42");
  json_object_set_object_member (fx->body, "hidden_details", json_object_ref (hidden));

  jwt = answer_jwt (fx, "sid,hidden_details", "denied", &error);
  g_assert_no_error (error);
  check_jws (jwt, fx->spki, &header, &payload);

  payload_keys = member_names (payload);
  g_assert_cmpstr (payload_keys, ==, "hidden_details,sid,status");
  copied = json_object_get_object_member (payload, "hidden_details");
  g_assert_nonnull (copied);
  assert_string_member (copied, "transaction_id", "tx-42");
  g_assert_cmpuint (json_object_get_size (copied), ==, 1);
  /* status is added even when the list does not name it. */
  assert_string_member (payload, "status", "denied");
}

/* Every control character of a copied string is sent escaped: json-glib 1.6 wrote U+001F
 * as it is, which the API refuses as no JSON. */
static void
test_answer_control_characters (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autoptr (JsonObject) payload = NULL;
  g_autoptr (JsonObject) hidden = json_object_new ();
  g_autoptr (GString) all = g_string_new (NULL);
  g_autofree gchar *jwt = NULL;

  for (gchar c = 0x01; c < 0x20; c++)
    g_string_append_c (all, c);
  json_object_set_string_member (hidden, "transaction_id",
                                 "tx\x1f"
                                 "42");
  json_object_set_string_member (hidden, "all", all->str);
  json_object_set_object_member (fx->body, "hidden_details", json_object_ref (hidden));
  json_object_set_string_member (json_object_get_object_member (fx->body, "details"), "message",
                                 "a\x1f"
                                 "b");

  jwt = answer_jwt (fx, "sid,details,hidden_details", "approved", &error);
  g_assert_no_error (error);
  check_jws (jwt, fx->spki, &header, &payload);
  assert_copied (payload, fx->body, "details");
  assert_copied (payload, fx->body, "hidden_details");
  assert_string_member (json_object_get_object_member (payload, "hidden_details"), "all", all->str);
}

static void
test_answer_missing_field (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *jwt = NULL;

  jwt = answer_jwt (fx, "sid, responded_reason ,status", "approved", &error);
  g_assert_null (jwt);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“responded_reason”"));
}

static void
test_answer_empty_fields (Fixture *fx, gconstpointer user_data)
{
  static const gchar *empty[] = { "", " ", ",", " , ,, " };

  for (gsize i = 0; i < G_N_ELEMENTS (empty); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_null (answer_jwt (fx, empty[i], "approved", &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/jwt/device-auth/claims", Fixture, NULL, fixture_set_up, test_device_auth,
              fixture_tear_down);
  g_test_add ("/jwt/device-auth/many", Fixture, NULL, fixture_set_up, test_device_auth_many,
              fixture_tear_down);
  g_test_add ("/jwt/device-auth/empty", Fixture, NULL, fixture_set_up, test_device_auth_empty,
              fixture_tear_down);
  g_test_add ("/jwt/device-auth/wiped", Fixture, NULL, fixture_set_up, test_device_auth_wiped,
              fixture_tear_down);
  g_test_add ("/jwt/answer/claims", Fixture, NULL, fixture_set_up, test_answer, fixture_tear_down);
  g_test_add ("/jwt/answer/hidden-details-object", Fixture, NULL, fixture_set_up,
              test_answer_hidden_details_object, fixture_tear_down);
  g_test_add ("/jwt/answer/control-characters", Fixture, NULL, fixture_set_up,
              test_answer_control_characters, fixture_tear_down);
  g_test_add ("/jwt/answer/missing-field", Fixture, NULL, fixture_set_up, test_answer_missing_field,
              fixture_tear_down);
  g_test_add ("/jwt/answer/empty-fields", Fixture, NULL, fixture_set_up, test_answer_empty_fields,
              fixture_tear_down);

  return g_test_run ();
}
