/* vpush_factor_record_new_from_json(): the factor record kept on disk (protocol doc §9). */
#include "fuzz-common.h"

#include <gio/gio.h>

#include "vpush-factor-record.h"
#include "vpush-time.h"

#define N_FIELDS 11

static void
fields_of (const VpushFactorRecord *record, const gchar *out[N_FIELDS])
{
  out[0] = record->sid;
  out[1] = record->friendly_name;
  out[2] = record->service_sid;
  out[3] = record->identity;
  out[4] = record->account_sid;
  out[5] = record->entity_sid;
  out[6] = record->credential_sid;
  out[7] = record->status;
  out[8] = record->created_at;
  out[9] = record->push_url;
  out[10] = record->metadata;
}

static const gchar *const keys[N_FIELDS] = {
  "sid",         "friendly_name", "service_sid",    "identity",
  "account_sid", "entity_sid",    "credential_sid", "status",
  "created_at",  "push_url",      "metadata",
};

static void
check_equal (const VpushFactorRecord *a, const VpushFactorRecord *b)
{
  const gchar *fa[N_FIELDS];
  const gchar *fb[N_FIELDS];

  fields_of (a, fa);
  fields_of (b, fb);
  for (guint i = 0; i < N_FIELDS; i++)
    FUZZ_CHECK_MSG (g_strcmp0 (fa[i], fb[i]) == 0, keys[i]);
}

static void
check_record (const VpushFactorRecord *record, JsonObject *object)
{
  const gchar *fields[N_FIELDS];
  g_autoptr (VpushFactorRecord) copy = NULL;
  g_autoptr (VpushFactorRecord) again = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonNode) node_of_copy = NULL;
  g_autoptr (GError) error = NULL;
  gint64 created;

  FUZZ_CHECK (vpush_sid_is_valid (record->sid, "YF"));
  FUZZ_CHECK (vpush_sid_is_valid (record->service_sid, "VA"));
  FUZZ_CHECK (vpush_sid_is_valid (record->account_sid, "AC"));
  FUZZ_CHECK (record->entity_sid == NULL || vpush_sid_is_valid (record->entity_sid, "YE"));
  FUZZ_CHECK (record->friendly_name != NULL);
  FUZZ_CHECK (record->identity != NULL && *record->identity != '\0');
  FUZZ_CHECK (record->credential_sid != NULL && *record->credential_sid != '\0');
  FUZZ_CHECK (g_str_equal (record->status, "unverified")
              || g_str_equal (record->status, "verified"));
  FUZZ_CHECK (vpush_time_parse (record->created_at, &created, NULL));

  /* every field is the input's string (the creation time in the bus's one form of it), and
   * what the bus shows of it is UTF-8 */
  fields_of (record, fields);
  for (guint i = 0; i < N_FIELDS; i++)
    {
      JsonNode *member = json_object_get_member (object, keys[i]);
      g_autofree gchar *normal = NULL;
      gint64 input_created;

      if (fields[i] == NULL)
        FUZZ_CHECK_MSG (member == NULL || JSON_NODE_HOLDS_NULL (member), keys[i]);
      else if (fields[i] == record->created_at)
        {
          FUZZ_CHECK (vpush_time_parse (json_node_get_string (member), &input_created, NULL));
          normal = vpush_time_format (input_created);
          FUZZ_CHECK_MSG (g_str_equal (fields[i], normal), keys[i]);
          FUZZ_CHECK (created == input_created);
        }
      else
        FUZZ_CHECK_MSG (g_str_equal (fields[i], json_node_get_string (member)), keys[i]);
      FUZZ_CHECK_MSG (fields[i] == NULL || g_utf8_validate (fields[i], -1, NULL), keys[i]);
    }

  /* the on-disk form reads back as the same record */
  node = vpush_factor_record_to_json (record);
  again = vpush_factor_record_new_from_json (node, &error);
  FUZZ_CHECK_MSG (again != NULL, error->message);
  check_equal (record, again);

  copy = vpush_factor_record_copy (record);
  check_equal (record, copy);
  node_of_copy = vpush_factor_record_to_json (copy);
  FUZZ_CHECK (json_node_equal (node, node_of_copy));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autoptr (GError) error = NULL;

  fuzz_init ();
  root = fuzz_parse_json (data, size);
  record = vpush_factor_record_new_from_json (root, &error);
  if (record == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  check_record (record, json_node_get_object (root));
  return 0;
}
