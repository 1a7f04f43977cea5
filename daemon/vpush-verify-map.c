/* memmem */
#define _GNU_SOURCE

#include "vpush-verify.h"
#include "vpush-verify-private.h"

#include <curl/curl.h>
#include <string.h>

#include "vpush-error.h"
#include "vpush-json-write.h"
#include "vpush-jwt.h"
#include "vpush-json.h"
#include "vpush-log.h"
#include "vpush-time.h"

/* Twilio's own messages are one sentence */
#define API_MESSAGE_MAX_CHARS 256
/* the shortest run of a credential masked in the API's message: shorter ones are words */
#define CREDENTIAL_PIECE_MIN 12

void
vpush_challenge_page_free (VpushChallengePage *page)
{
  if (page == NULL)
    return;
  g_clear_pointer (&page->challenges, g_ptr_array_unref);
  g_free (page->next_page_token);
  g_free (page);
}

/* The root object of text that passed vpush_json_check() */
static JsonNode *
load_object (const gchar *data, gsize len, const gchar *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;

  if (!json_parser_load_from_data (parser, data, (gssize)len, &local_error))
    {
      /* json-glib quotes the input, escapes decoded or not: the message may go out on the
       * bus, so it is kept UTF-8 */
      g_autofree gchar *why = g_utf8_make_valid (local_error->message, -1);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: response is not valid JSON: %s",
                   what, why);
      return NULL;
    }
  /* a body of only white space parses, with no root at all */
  if (json_parser_get_root (parser) == NULL
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: response is not a JSON object",
                   what);
      return NULL;
    }
  return json_parser_steal_root (parser);
}

static JsonNode *
parse_object (VpushHttpResponse *response, const gchar *what, GError **error)
{
  gsize len;
  const gchar *data = g_bytes_get_data (response->body, &len);

  if (len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: empty response body", what);
      return NULL;
    }
  if (!vpush_json_check (data, len, VPUSH_JSON_MAX_DEPTH, error))
    {
      g_prefix_error (error, "%s: response: ", what);
      return NULL;
    }
  return load_object (data, len, what, error);
}

/* parse_object() of an object whose member key is a list: an item holding an escape
 * json-glib would misread is null in the root returned, and in dropped
 * (VpushJsonDropped) */
static JsonNode *
parse_list_object (VpushHttpResponse *response, const gchar *what, const gchar *key,
                   GPtrArray *dropped, GError **error)
{
  gsize len;
  const gchar *data = g_bytes_get_data (response->body, &len);
  g_autofree gchar *checked = NULL;
  gsize checked_len;

  if (len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: empty response body", what);
      return NULL;
    }
  checked
      = vpush_json_check_list (data, len, VPUSH_JSON_MAX_DEPTH, key, dropped, &checked_len, error);
  if (checked == NULL)
    {
      g_prefix_error (error, "%s: response: ", what);
      return NULL;
    }
  return load_object (checked, checked_len, what, error);
}

/* A member that is a string, as json-glib gives it: whatever bytes it holds */
static const gchar *
member_bytes (JsonObject *object, const gchar *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* A member that is a string of UTF-8 text, or NULL: a record or a D-Bus property can
 * only take text */
static const gchar *
member_string (JsonObject *object, const gchar *key)
{
  const gchar *value = member_bytes (object, key);

  return value != NULL && g_utf8_validate (value, -1, NULL) ? value : NULL;
}

/* What a JWT, base64 or an access token is made of */
static gboolean
is_token_char (gchar c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("_.=+/-", c) != NULL);
}

static gboolean
in_credential (const gchar *piece, gsize len, const gchar *const *credentials)
{
  for (guint i = 0; credentials != NULL && credentials[i] != NULL; i++)
    if (memmem (credentials[i], strlen (credentials[i]), piece, len) != NULL)
      return TRUE;
  return FALSE;
}

/* text with every run of token characters that occurs in one of credentials, and is at
 * least CREDENTIAL_PIECE_MIN long, replaced by a marker */
static gchar *
mask_credentials (const gchar *text, const gchar *const *credentials)
{
  GString *out = g_string_sized_new (strlen (text));
  const gchar *p = text;

  while (*p != '\0')
    {
      const gchar *run_end = p;
      const gchar *end;

      while (is_token_char (*run_end))
        run_end++;
      if (run_end - p < CREDENTIAL_PIECE_MIN
          || !in_credential (p, CREDENTIAL_PIECE_MIN, credentials))
        {
          g_string_append_c (out, *p++);
          continue;
        }
      /* as far as every piece of that length still occurs in one */
      end = p + CREDENTIAL_PIECE_MIN;
      while (end < run_end
             && in_credential (end + 1 - CREDENTIAL_PIECE_MIN, CREDENTIAL_PIECE_MIN, credentials))
        end++;
      g_string_append (out, "[credential]");
      p = end;
    }
  return g_string_free (out, FALSE);
}

void
vpush_verify_set_api_error (VpushHttpResponse *response, const gchar *const *credentials,
                            GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len;
  const gchar *data = g_bytes_get_data (response->body, &len);
  JsonNode *root;
  JsonObject *object;
  JsonNode *code;
  const gchar *message;

  if (len == 0 || !vpush_json_check (data, len, VPUSH_JSON_MAX_DEPTH, NULL)
      || !json_parser_load_from_data (parser, data, (gssize)len, NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API,
                   "HTTP %u, and the body is not a Twilio error object", response->status);
      return;
    }
  object = json_node_get_object (root);
  code = json_object_get_member (object, "code");
  message = member_bytes (object, "message");
  if (code == NULL || !JSON_NODE_HOLDS_VALUE (code)
      || json_node_get_value_type (code) != G_TYPE_INT64 || message == NULL)
    {
      g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API,
                   "HTTP %u, and the body is not a Twilio error object", response->status);
      return;
    }
  {
    /* the server's words, made valid text for the bus; cut short, since each retry logs
     * them and a caller's error reply carries them */
    g_autofree gchar *text = g_utf8_make_valid (message, -1);
    g_autofree gchar *masked = NULL;

    if (g_utf8_strlen (text, -1) > API_MESSAGE_MAX_CHARS)
      {
        g_autofree gchar *head = g_utf8_substring (text, 0, API_MESSAGE_MAX_CHARS);

        g_free (text);
        text = g_strconcat (head, "…", NULL);
      }
    /* they may quote what the request sent (so may whatever answers in the API's place):
     * the message goes to the bus and the log, where no credential may */
    masked = mask_credentials (text, credentials);

    g_set_error (error, VPUSH_ERROR, VPUSH_ERROR_API, "HTTP %u, code %" G_GINT64_FORMAT ": %s",
                 response->status, json_node_get_int (code), masked);
  }
}

/* ---- #1 create factor ---- */

gboolean
vpush_verify_map_create_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                gpointer *out, GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "create factor", error);
  g_autoptr (VpushFactorRecord) record = NULL;
  JsonObject *object;
  JsonNode *config;
  JsonNode *metadata;
  const gchar *sid;
  const gchar *account_sid;
  const gchar *status;
  const gchar *created;
  const gchar *credential_sid = NULL;
  const gchar *friendly_name;
  const gchar *entity_sid;
  gint64 created_at;

  if (root == NULL)
    return FALSE;
  object = json_node_get_object (root);
  sid = member_string (object, "sid");
  account_sid = member_string (object, "account_sid");
  status = member_string (object, "status");
  created = member_string (object, "date_created");
  config = json_object_get_member (object, "config");
  if (config != NULL && JSON_NODE_HOLDS_OBJECT (config))
    credential_sid = member_string (json_node_get_object (config), "credential_sid");

  if (!vpush_sid_is_valid (sid, "YF"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “sid” is missing or not a YF… sid");
      return FALSE;
    }
  if (!vpush_sid_is_valid (account_sid, "AC"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “account_sid” is missing or not an AC… sid");
      return FALSE;
    }
  if (g_strcmp0 (status, "unverified") != 0 && g_strcmp0 (status, "verified") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “status” is missing or unknown");
      return FALSE;
    }
  if (created == NULL || !vpush_time_parse (created, &created_at, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “date_created” is missing or not an RFC 3339 time");
      return FALSE;
    }
  if (credential_sid == NULL || *credential_sid == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "create factor: “config.credential_sid” is missing");
      return FALSE;
    }
  /* it goes into every device JWT, and the record */
  if (strlen (credential_sid) > VPUSH_CREDENTIAL_SID_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "create factor: “config.credential_sid” is longer than %d bytes",
                   VPUSH_CREDENTIAL_SID_MAX);
      return FALSE;
    }

  /* What the API can't have sent (longer than its bounds) is not kept: the record must
   * stay small enough for the store to read it back. The name asked for stands in. */
  friendly_name = member_string (object, "friendly_name");
  if (friendly_name != NULL
      && (*friendly_name == '\0' || g_utf8_strlen (friendly_name, -1) > VPUSH_FRIENDLY_NAME_MAX))
    {
      g_warning ("create factor: “friendly_name” is empty or longer than %d characters, not "
                 "kept",
                 VPUSH_FRIENDLY_NAME_MAX);
      friendly_name = NULL;
    }

  record = vpush_factor_record_new ();
  record->sid = g_strdup (sid);
  record->friendly_name = g_strdup (friendly_name ?: call->friendly_name);
  /* the policy let the enrollment happen for the name asked for: that is the name its
   * rules match from now on, whatever name the API gave the factor */
  if (g_strcmp0 (record->friendly_name, call->friendly_name) != 0)
    record->enrolled_name = g_strdup (call->friendly_name);
  record->service_sid = g_strdup (call->service_sid);
  record->identity = g_strdup (call->identity);
  record->account_sid = g_strdup (account_sid);
  /* nullable and only kept, but the store refuses a record with a malformed one: it would
   * make the factor unreadable at the next start */
  entity_sid = member_string (object, "entity_sid");
  if (vpush_sid_is_valid (entity_sid, "YE"))
    record->entity_sid = g_strdup (entity_sid);
  else if (json_object_has_member (object, "entity_sid"))
    g_warning ("create factor: “entity_sid” is not a YE… sid, not kept");
  record->credential_sid = g_strdup (credential_sid);
  record->status = g_strdup (status);
  /* the bus shows times one way (dbus-api.md): "…T16:30:00Z", whatever the API's form */
  record->created_at = vpush_time_format (created_at);

  metadata = json_object_get_member (object, "metadata");
  if (metadata != NULL && JSON_NODE_HOLDS_OBJECT (metadata))
    {
      /* the record keeps metadata as an object of strings, so other values are dropped */
      g_autoptr (JsonObject) strings = json_object_new ();
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      JsonObjectIter iter;
      const gchar *key;
      JsonNode *value;

      json_object_iter_init (&iter, json_node_get_object (metadata));
      while (json_object_iter_next (&iter, &key, &value))
        if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING
            && g_utf8_validate (key, -1, NULL)
            && g_utf8_validate (json_node_get_string (value), -1, NULL))
          json_object_set_string_member (strings, key, json_node_get_string (value));
      json_node_set_object (node, strings);
      record->metadata = vpush_json_to_string (node, FALSE, NULL);
      if (g_utf8_strlen (record->metadata, -1) > VPUSH_METADATA_MAX)
        {
          g_warning ("create factor: “metadata” is longer than %d characters as JSON, not kept",
                     VPUSH_METADATA_MAX);
          g_clear_pointer (&record->metadata, g_free);
        }
    }

  *out = g_steal_pointer (&record);
  return TRUE;
}

/* The factor a reply is of must be the one asked about: a reply of another (a cache or a
 * proxy in between that mixed them up) would mark this one verified, or renamed. */
static gboolean
check_factor_sid (JsonNode *root, const Call *call, const gchar *what, GError **error)
{
  const gchar *sid = member_string (json_node_get_object (root), "sid");

  if (g_strcmp0 (sid, call->factor->sid) != 0)
    {
      g_autofree gchar *quoted = sid != NULL ? vpush_log_excerpt (sid) : NULL;

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: the response is of factor %s, not %s", what,
                   quoted != NULL ? quoted : "(none: “sid” is missing)", call->factor->sid);
      return FALSE;
    }
  return TRUE;
}

/* ---- #2 verify factor ---- */

gboolean
vpush_verify_map_verify_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                gpointer *out, GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "verify factor", error);
  const gchar *status;

  if (root == NULL || !check_factor_sid (root, call, "verify factor", error))
    return FALSE;
  status = member_string (json_node_get_object (root), "status");
  if (g_strcmp0 (status, "unverified") != 0 && g_strcmp0 (status, "verified") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "verify factor: “status” is missing or unknown");
      return FALSE;
    }
  *out = g_strdup (status);
  return TRUE;
}

/* ---- #3 update factor ---- */

gboolean
vpush_verify_map_update_factor (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                gpointer *out, GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "update factor", error);

  return root != NULL && check_factor_sid (root, call, "update factor", error);
}

/* ---- challenges ---- */

static VpushChallenge *
challenge_of_factor (JsonNode *node, const VpushFactorRecord *factor, GError **error)
{
  g_autoptr (VpushChallenge) challenge = vpush_challenge_new_from_json (node, error);

  if (challenge == NULL)
    return NULL;
  if (g_strcmp0 (challenge->factor_sid, factor->sid) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "challenge %s belongs to factor %s, not %s", challenge->sid,
                   challenge->factor_sid, factor->sid);
      return NULL;
    }
  return g_steal_pointer (&challenge);
}

gboolean
vpush_verify_map_challenge (VpushVerify *self, Call *call, VpushHttpResponse *response,
                            gpointer *out, GError **error)
{
  g_autoptr (JsonNode) root = parse_object (response, "challenge", error);
  g_autoptr (VpushChallenge) challenge = NULL;

  if (root == NULL)
    return FALSE;
  challenge = challenge_of_factor (root, call->factor, error);
  if (challenge == NULL)
    return FALSE;
  if (call->challenge_sid != NULL && !g_str_equal (challenge->sid, call->challenge_sid))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the response is challenge %s, not %s", challenge->sid, call->challenge_sid);
      return FALSE;
    }
  /* §3.5: only a single GET of a pending challenge carries what an answer must sign */
  if (call->is_fetch && g_str_equal (challenge->status, "pending")
      && response->signature_fields != NULL && *response->signature_fields != '\0')
    vpush_challenge_set_signature_fields (challenge, root, response->signature_fields);
  /* the API's clock, for the challenge's age and expiry (vpush_challenge_now): ours, even
   * as corrected, may run behind it by nearly a JWT's lifetime without a 401 to tell. A
   * Date further ahead than that (and a minute for the request) is of no clock that took
   * the JWT: taken, it would have every challenge expired. */
  if (response->date != NULL)
    {
      time_t date = curl_getdate (response->date, NULL);

      if (date != (time_t)-1
          && (gint64)date <= vpush_verify_now (self) + VPUSH_JWT_DEVICE_LIFETIME_S + 60)
        {
          challenge->api_date = (gint64)date;
          challenge->api_date_boot = vpush_time_boot_us ();
        }
    }
  *out = g_steal_pointer (&challenge);
  return TRUE;
}

/* The PageToken query parameter of meta.next_page_url, if there is one. */
static gboolean
next_page_token (const gchar *base_url, JsonObject *object, gchar **out, GError **error)
{
  g_autoptr (GUri) base = NULL;
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GHashTable) params = NULL;
  JsonNode *meta = json_object_get_member (object, "meta");
  JsonNode *next;
  const gchar *query;
  const gchar *token;

  *out = NULL;
  if (meta == NULL || JSON_NODE_HOLDS_NULL (meta))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (meta))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “meta” is not an object");
      return FALSE;
    }
  next = json_object_get_member (json_node_get_object (meta), "next_page_url");
  if (next == NULL || JSON_NODE_HOLDS_NULL (next))
    return TRUE;
  /* json-glib lets escapes such as \udc00 through as bytes that are not UTF-8 */
  if (!JSON_NODE_HOLDS_VALUE (next) || json_node_get_value_type (next) != G_TYPE_STRING
      || !g_utf8_validate (json_node_get_string (next), -1, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “meta.next_page_url” is not a string");
      return FALSE;
    }

  base = g_uri_parse (base_url, G_URI_FLAGS_ENCODED, NULL);
  uri = g_uri_parse_relative (base, json_node_get_string (next), G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (json_node_get_string (next));

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "list challenges: “meta.next_page_url” is not a URL: “%s”", quoted);
      return FALSE;
    }
  query = g_uri_get_query (uri);
  if (query == NULL)
    return TRUE;
  /* iOS spells it pageToken, Android PageToken (§3.6); the query is form-encoded, as the
   * API writes one (Android reads it so too): "+" is a space */
  params = g_uri_parse_params (query, -1, "&",
                               G_URI_PARAMS_CASE_INSENSITIVE | G_URI_PARAMS_WWW_FORM, NULL);
  if (params == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: the query of “meta.next_page_url” is malformed");
      return FALSE;
    }
  token = g_hash_table_lookup (params, "PageToken");
  /* an empty token names no page (and on the bus "" means there is no next page) */
  *out = token != NULL && *token != '\0' ? g_strdup (token) : NULL;
  return TRUE;
}

/* " (challenge YC…)" when node is an object with a readable sid, else "" */
static gchar *
item_label (JsonNode *node)
{
  const gchar *sid = NULL;

  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    sid = member_string (json_node_get_object (node), "sid");
  return vpush_sid_is_valid (sid, "YC") ? g_strdup_printf (" (challenge %s)", sid) : g_strdup ("");
}

/* item_label() of an item vpush_json_check_list() dropped: read with its bad escapes
 * defused, for the warning only */
static gchar *
dropped_label (const VpushJsonDropped *item)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree gchar *text = vpush_json_defuse (item->text, strlen (item->text));

  if (!vpush_json_check (text, strlen (text), VPUSH_JSON_MAX_DEPTH, NULL)
      || !json_parser_load_from_data (parser, text, -1, NULL))
    return g_strdup ("");
  return item_label (json_parser_get_root (parser));
}

static gboolean
was_dropped (GPtrArray *dropped, guint index)
{
  for (guint i = 0; i < dropped->len; i++)
    if (((VpushJsonDropped *)g_ptr_array_index (dropped, i))->index == index)
      return TRUE;
  return FALSE;
}

/* Warnings about one page's items: the first few name them, one line counts the rest (a
 * page of bad items would otherwise flood the journal, and its rate limit would then drop
 * the audit records too). */
#define ITEM_WARNINGS_MAX 3

/* Counts an item left out; TRUE when it is to be named in the log. */
static gboolean
warn_item (guint *n_warned)
{
  return ++*n_warned <= ITEM_WARNINGS_MAX;
}

VpushChallengePage *
vpush_verify_parse_challenge_page (const gchar *base_url, const VpushFactorRecord *factor,
                                   guint page_size, VpushHttpResponse *response, GError **error)
{
  guint n_warned = 0;
  g_autoptr (GPtrArray) dropped
      = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_json_dropped_free);
  g_autoptr (JsonNode) root
      = parse_list_object (response, "list challenges", "challenges", dropped, error);
  g_autoptr (VpushChallengePage) page = NULL;
  JsonObject *object;
  JsonNode *list;
  JsonArray *array;

  if (root == NULL)
    return NULL;
  object = json_node_get_object (root);
  list = json_object_get_member (object, "challenges");
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "list challenges: “challenges” is missing or not an array");
      return NULL;
    }

  array = json_node_get_array (list);
  /* the API gives at most what was asked for: more is a server that would fill the
   * pending set without end */
  if (json_array_get_length (array) > page_size)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "list challenges: a page of %u items, more than the %u asked for",
                   json_array_get_length (array), page_size);
      return NULL;
    }

  page = g_new0 (VpushChallengePage, 1);
  page->challenges = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_challenge_unref);
  /* an item json-glib would misread is not read at all (it is null now), so it can never
   * be taken, or answered */
  for (guint i = 0; i < dropped->len; i++)
    {
      VpushJsonDropped *item = g_ptr_array_index (dropped, i);

      if (warn_item (&n_warned))
        {
          g_autofree gchar *label = dropped_label (item);

          g_warning ("list challenges of factor %s: item %u%s left out: %s", factor->sid,
                     item->index, label, item->why);
        }
      page->incomplete = TRUE;
    }
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autoptr (GError) local_error = NULL;
      JsonNode *node = json_array_get_element (array, i);
      VpushChallenge *challenge;

      if (JSON_NODE_HOLDS_NULL (node) && was_dropped (dropped, i))
        continue;
      challenge = challenge_of_factor (node, factor, &local_error);
      /* one challenge the API got wrong must not hide the others on its page */
      if (challenge == NULL)
        {
          if (warn_item (&n_warned))
            {
              g_autofree gchar *label = item_label (node);

              g_warning ("list challenges of factor %s: item %u%s left out: %s", factor->sid, i,
                         label, local_error->message);
            }
          page->incomplete = TRUE;
          continue;
        }
      g_ptr_array_add (page->challenges, challenge);
    }
  if (n_warned > ITEM_WARNINGS_MAX)
    g_warning ("list challenges of factor %s: %u more items left out", factor->sid,
               n_warned - ITEM_WARNINGS_MAX);
  if (!next_page_token (base_url, object, &page->next_page_token, error))
    return NULL;
  return g_steal_pointer (&page);
}

gboolean
vpush_verify_map_challenge_page (VpushVerify *self, Call *call, VpushHttpResponse *response,
                                 gpointer *out, GError **error)
{
  VpushChallengePage *page = vpush_verify_parse_challenge_page (self->base_url, call->factor,
                                                                call->page_size, response, error);

  if (page == NULL)
    return FALSE;
  *out = page;
  return TRUE;
}
