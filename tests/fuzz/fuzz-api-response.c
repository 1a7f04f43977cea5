/* A Verify API response (vpush-verify-map.c, vpush-verify.c): line 1 is its Date header,
 * line 2 its Retry-After and Twilio-Verify-Signature-Fields header, the rest its body. The
 * body goes through every mapping of a single object (create factor, verify and update
 * factor, fetch a challenge) and the error mapping, the headers through the Retry-After and
 * Date readers. */
#include "fuzz-common.h"

#include <curl/curl.h>
#include <gio/gio.h>
#include <string.h>

#include "vpush-challenge.h"
#include "vpush-error.h"
#include "vpush-factor-record.h"
#include "vpush-http.h"
#include "vpush-jwt.h"
#include "vpush-time.h"
#include "vpush-verify-private.h"

#define FACTOR_SID    "YF0123456789abcdef0123456789abcdef"
#define CHALLENGE_SID "YC49a95b07624f218480c5a35ed1b98afc"
#define SERVICE_SID   "VA27d271931911412df4b142f3c5977ab8"
#define IDENTITY      "desk-0123456789"
#define FRIENDLY_NAME "Desk"
#define RETRY_MAX_MS  (3600 * 1000)
/* server-aligned unix seconds "now" for Retry-After: 2026-11-25 */
#define NOW 1795629503

/* A header value as vpushd keeps it (vpush_http_set_captured()), NULL when empty */
static gchar *
header_value (const gchar *line, gsize len)
{
  gchar *value = g_strstrip (g_strndup (line, len));

  if (*value == '\0')
    g_clear_pointer (&value, g_free);
  return value;
}

static void
check_create_factor (VpushHttpResponse *response)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (VpushFactorRecord) again = NULL;
  g_autoptr (JsonNode) node = NULL;
  gpointer out = NULL;
  Call call = { 0 };
  gint64 created;

  call.service_sid = (gchar *)SERVICE_SID;
  call.identity = (gchar *)IDENTITY;
  call.friendly_name = (gchar *)FRIENDLY_NAME;
  if (!vpush_verify_map_create_factor (NULL, &call, response, &out, &error))
    {
      FUZZ_CHECK (out == NULL);
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return;
    }
  record = out;
  FUZZ_CHECK (vpush_sid_is_valid (record->sid, "YF"));
  FUZZ_CHECK (vpush_sid_is_valid (record->account_sid, "AC"));
  FUZZ_CHECK (g_str_equal (record->service_sid, SERVICE_SID));
  FUZZ_CHECK (g_str_equal (record->identity, IDENTITY));
  FUZZ_CHECK (record->friendly_name != NULL && g_utf8_validate (record->friendly_name, -1, NULL));
  /* within the API's bounds, so that the record stays small enough to be read back */
  FUZZ_CHECK (g_utf8_strlen (record->friendly_name, -1) <= VPUSH_FRIENDLY_NAME_MAX);
  FUZZ_CHECK (record->credential_sid != NULL && *record->credential_sid != '\0');
  FUZZ_CHECK (strlen (record->credential_sid) <= VPUSH_CREDENTIAL_SID_MAX);
  FUZZ_CHECK (g_utf8_validate (record->credential_sid, -1, NULL));
  FUZZ_CHECK (g_str_equal (record->status, "unverified")
              || g_str_equal (record->status, "verified"));
  /* the bus's one form of a time: it reads back as itself */
  FUZZ_CHECK (vpush_time_parse (record->created_at, &created, NULL));
  {
    g_autofree gchar *normal = vpush_time_format (created);

    FUZZ_CHECK_MSG (g_str_equal (normal, record->created_at), record->created_at);
  }
  if (record->metadata != NULL)
    {
      g_autoptr (JsonNode) metadata
          = fuzz_parse_json ((const uint8_t *)record->metadata, strlen (record->metadata));

      FUZZ_CHECK_MSG (metadata != NULL && JSON_NODE_HOLDS_OBJECT (metadata), record->metadata);
      FUZZ_CHECK (g_utf8_strlen (record->metadata, -1) <= VPUSH_METADATA_MAX);
    }
  /* a factor just enrolled is stored: the store must read it back as it was */
  node = vpush_factor_record_to_json (record);
  again = vpush_factor_record_new_from_json (node, &error);
  FUZZ_CHECK_MSG (again != NULL, error->message);
  FUZZ_CHECK (g_str_equal (again->sid, record->sid));
  FUZZ_CHECK (g_str_equal (again->credential_sid, record->credential_sid));
  FUZZ_CHECK (g_str_equal (again->friendly_name, record->friendly_name));
  FUZZ_CHECK (g_strcmp0 (again->entity_sid, record->entity_sid) == 0);
  FUZZ_CHECK (g_strcmp0 (again->metadata, record->metadata) == 0);
  FUZZ_CHECK (g_str_equal (again->created_at, record->created_at));
}

/* the replies of a factor's verify and update: of that factor, or refused */
static void
check_verify_and_update_factor (VpushHttpResponse *response)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) update_error = NULL;
  g_autoptr (VpushFactorRecord) factor = vpush_factor_record_new ();
  gpointer out = NULL;
  Call call = { 0 };

  factor->sid = g_strdup (FACTOR_SID);
  call.factor = factor;
  if (!vpush_verify_map_update_factor (NULL, &call, response, &out, &update_error))
    fuzz_check_error (update_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  FUZZ_CHECK (out == NULL);
  if (!vpush_verify_map_verify_factor (NULL, &call, response, &out, &error))
    {
      FUZZ_CHECK (out == NULL);
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return;
    }
  FUZZ_CHECK (update_error == NULL);
  FUZZ_CHECK (g_str_equal (out, "verified") || g_str_equal (out, "unverified"));
  g_free (out);
}

/* A Verify client for the mappings that read its clock; made once, never sends */
static VpushVerify *
verify (void)
{
  static VpushVerify *client;

  if (client == NULL)
    {
      g_autoptr (VpushHttp) http = vpush_http_new ();
      g_autoptr (GError) error = NULL;

      client = vpush_verify_new (http, "https://verify.example.com/v2/", 10000, &error);
      FUZZ_CHECK (client != NULL);
    }
  return client;
}

static void
check_challenge (VpushHttpResponse *response)
{
  g_autoptr (VpushFactorRecord) factor = vpush_factor_record_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gpointer out = NULL;
  Call call = { 0 };
  gint64 now = vpush_verify_now (verify ());
  time_t date;

  factor->sid = g_strdup (FACTOR_SID);
  call.factor = factor;
  call.challenge_sid = (gchar *)CHALLENGE_SID;
  call.is_fetch = TRUE;
  if (!vpush_verify_map_challenge (verify (), &call, response, &out, &error))
    {
      FUZZ_CHECK (out == NULL);
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return;
    }
  challenge = out;
  FUZZ_CHECK (g_str_equal (challenge->sid, CHALLENGE_SID));
  FUZZ_CHECK (g_str_equal (challenge->factor_sid, FACTOR_SID));
  /* the API's clock is taken from a Date that reads as a time no further ahead than a
   * clock that took the device JWT could be, and only then */
  date = response->date != NULL ? curl_getdate (response->date, NULL) : (time_t)-1;
  FUZZ_CHECK ((challenge->api_date_boot != 0)
              == (date != (time_t)-1 && (gint64)date <= now + VPUSH_JWT_DEVICE_LIFETIME_S + 60));
}

static void
check_api_error (VpushHttpResponse *response)
{
  g_autoptr (GError) error = NULL;

  vpush_verify_set_api_error (response, NULL, &error);
  fuzz_check_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  FUZZ_CHECK_MSG (g_str_has_prefix (error->message, "HTTP 429, "), error->message);
}

static void
check_retry_after (const gchar *value, const gchar *date)
{
  guint64 ms = G_MAXUINT64;
  guint64 again = G_MAXUINT64;
  gboolean digits = value != NULL && *value != '\0';

  if (!vpush_verify_parse_retry_after (value, date, NOW, &ms))
    {
      FUZZ_CHECK (ms == G_MAXUINT64);
      FUZZ_CHECK (!digits || !g_ascii_isdigit (*value)
                  || strspn (value, "0123456789") < strlen (value));
      return;
    }
  FUZZ_CHECK (ms <= RETRY_MAX_MS && ms % 1000 == 0);
  for (const gchar *p = value; digits && *p != '\0'; p++)
    digits = g_ascii_isdigit (*p);
  if (digits)
    {
      /* delay-seconds: that many seconds, up to the cap */
      gsize n = strspn (value, "0");
      const gchar *rest = value + n;
      guint64 seconds = 0;

      if (strlen (rest) > 7)
        FUZZ_CHECK (ms == RETRY_MAX_MS);
      else
        {
          seconds = g_ascii_strtoull (rest, NULL, 10);
          FUZZ_CHECK (ms == MIN (seconds, RETRY_MAX_MS / 1000) * 1000);
        }
      return;
    }
  /* an HTTP-date: relative to the response's own Date, so the same date is no wait */
  FUZZ_CHECK (vpush_verify_parse_retry_after (value, value, NOW, &again));
  FUZZ_CHECK (again == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const gchar *text = (const gchar *)data;
  const gchar *end = text + size;
  const gchar *line2;
  const gchar *body;
  g_autofree gchar *date = NULL;
  g_autofree gchar *second = NULL;
  VpushHttpResponse response = { 0 };

  fuzz_init ();
  line2 = memchr (text, '\n', size);
  if (line2 == NULL)
    return 0;
  line2++;
  body = memchr (line2, '\n', (gsize)(end - line2));
  if (body == NULL)
    return 0;
  body++;
  date = header_value (text, (gsize)(line2 - 1 - text));
  second = header_value (line2, (gsize)(body - 1 - line2));

  check_retry_after (second, date);

  response.body = g_bytes_new_static (body, (gsize)(end - body));
  response.date = date;
  response.signature_fields = second;
  response.status = 200;
  check_create_factor (&response);
  check_verify_and_update_factor (&response);
  check_challenge (&response);
  response.status = 429;
  check_api_error (&response);
  g_bytes_unref (response.body);
  return 0;
}
