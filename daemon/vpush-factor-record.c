#include "vpush-factor-record.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-time.h"

VpushFactorRecord *
vpush_factor_record_new (void)
{
  return g_new0 (VpushFactorRecord, 1);
}

VpushFactorRecord *
vpush_factor_record_copy (const VpushFactorRecord *record)
{
  VpushFactorRecord *copy;

  g_return_val_if_fail (record != NULL, NULL);

  copy = vpush_factor_record_new ();
  copy->sid = g_strdup (record->sid);
  copy->friendly_name = g_strdup (record->friendly_name);
  copy->service_sid = g_strdup (record->service_sid);
  copy->identity = g_strdup (record->identity);
  copy->account_sid = g_strdup (record->account_sid);
  copy->entity_sid = g_strdup (record->entity_sid);
  copy->credential_sid = g_strdup (record->credential_sid);
  copy->status = g_strdup (record->status);
  copy->created_at = g_strdup (record->created_at);
  copy->enrolled_name = g_strdup (record->enrolled_name);
  copy->push_url = g_strdup (record->push_url);
  copy->metadata = g_strdup (record->metadata);
  return copy;
}

void
vpush_factor_record_free (VpushFactorRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->sid);
  g_free (record->friendly_name);
  g_free (record->enrolled_name);
  g_free (record->service_sid);
  g_free (record->identity);
  g_free (record->account_sid);
  g_free (record->entity_sid);
  g_free (record->credential_sid);
  g_free (record->status);
  g_free (record->created_at);
  g_free (record->push_url);
  g_free (record->metadata);
  g_free (record);
}

const gchar *
vpush_factor_record_get_policy_name (const VpushFactorRecord *record)
{
  /* a record from before the first rename (or before this field) still has it as its name */
  return record->enrolled_name != NULL ? record->enrolled_name : record->friendly_name;
}

void
vpush_factor_record_rename (VpushFactorRecord *record, const gchar *friendly_name)
{
  if (record->enrolled_name == NULL)
    record->enrolled_name = g_strdup (record->friendly_name);
  g_free (record->friendly_name);
  record->friendly_name = g_strdup (friendly_name);
}

gboolean
vpush_sid_is_valid (const gchar *sid, const gchar *prefix)
{
  gsize prefix_len;

  if (sid == NULL || prefix == NULL)
    return FALSE;
  prefix_len = strlen (prefix);
  if (strlen (sid) != prefix_len + 32 || strncmp (sid, prefix, prefix_len) != 0)
    return FALSE;
  for (const gchar *p = sid + prefix_len; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

JsonNode *
vpush_factor_record_to_json (const VpushFactorRecord *record)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (record != NULL, NULL);

#define ADD(key, value)                                                                            \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if ((value) != NULL)                                                                           \
      {                                                                                            \
        json_builder_set_member_name (builder, key);                                               \
        json_builder_add_string_value (builder, value);                                            \
      }                                                                                            \
  }                                                                                                \
  G_STMT_END

  json_builder_begin_object (builder);
  ADD ("sid", record->sid);
  ADD ("friendly_name", record->friendly_name);
  ADD ("service_sid", record->service_sid);
  ADD ("identity", record->identity);
  ADD ("account_sid", record->account_sid);
  ADD ("entity_sid", record->entity_sid);
  ADD ("credential_sid", record->credential_sid);
  ADD ("status", record->status);
  ADD ("created_at", record->created_at);
  ADD ("push_url", record->push_url);
  ADD ("metadata", record->metadata);
  ADD ("enrolled_name", record->enrolled_name);
  json_builder_end_object (builder);
#undef ADD

  return json_builder_get_root (builder);
}

/* Reads object[key] into *out: a string, or NULL when nullable and absent or null. */
static gboolean
get_string (JsonObject *object, const gchar *key, gboolean nullable, gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (nullable)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "factor record: “%s” is missing",
                   key);
      return FALSE;
    }
  /* json-glib lets escapes such as \udc00 through as bytes that are not UTF-8 */
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING
      || !g_utf8_validate (json_node_get_string (node), -1, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "factor record: “%s” is not a string", key);
      return FALSE;
    }
  *out = json_node_dup_string (node);
  return TRUE;
}

static gboolean
check_sid (const gchar *key, const gchar *sid, const gchar *prefix, GError **error)
{
  if (sid == NULL || vpush_sid_is_valid (sid, prefix))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "factor record: “%s” is not a %s… sid: “%s”", key, prefix, sid);
  return FALSE;
}

VpushFactorRecord *
vpush_factor_record_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (VpushFactorRecord) record = vpush_factor_record_new ();
  JsonObject *object;
  gint64 created;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "factor record is not a JSON object");
      return NULL;
    }
  object = json_node_get_object (node);

  if (!get_string (object, "sid", FALSE, &record->sid, error)
      || !get_string (object, "friendly_name", FALSE, &record->friendly_name, error)
      || !get_string (object, "service_sid", FALSE, &record->service_sid, error)
      || !get_string (object, "identity", FALSE, &record->identity, error)
      || !get_string (object, "account_sid", FALSE, &record->account_sid, error)
      || !get_string (object, "entity_sid", TRUE, &record->entity_sid, error)
      || !get_string (object, "credential_sid", FALSE, &record->credential_sid, error)
      || !get_string (object, "status", FALSE, &record->status, error)
      || !get_string (object, "created_at", FALSE, &record->created_at, error)
      || !get_string (object, "push_url", TRUE, &record->push_url, error)
      || !get_string (object, "metadata", TRUE, &record->metadata, error)
      || !get_string (object, "enrolled_name", TRUE, &record->enrolled_name, error))
    return NULL;

  if (!check_sid ("sid", record->sid, "YF", error)
      || !check_sid ("service_sid", record->service_sid, "VA", error)
      || !check_sid ("account_sid", record->account_sid, "AC", error)
      || !check_sid ("entity_sid", record->entity_sid, "YE", error))
    return NULL;
  if (*record->identity == '\0' || *record->credential_sid == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "factor record: identity and credential_sid must not be empty");
      return NULL;
    }
  if (g_strcmp0 (record->status, "unverified") != 0 && g_strcmp0 (record->status, "verified") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "factor record: unknown status “%s”",
                   record->status);
      return NULL;
    }
  if (!vpush_time_parse (record->created_at, &created, error))
    {
      g_prefix_error (error, "factor record: created_at: ");
      return NULL;
    }
  /* records written before enrollment normalised it keep the API's form */
  g_free (record->created_at);
  record->created_at = vpush_time_format (created);

  return g_steal_pointer (&record);
}
