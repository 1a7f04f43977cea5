#include "vpush-enrollment.h"

#include <string.h>

#include "vpush-http.h"
#include "vpush-time.h"

VpushEnrollment *
vpush_enrollment_new (const gchar *service_sid, const gchar *identity, const gchar *friendly_name,
                      const gchar *base_url)
{
  VpushEnrollment *enrollment = g_new0 (VpushEnrollment, 1);
  g_autofree gchar *uuid = g_uuid_string_random ();
  GString *id = g_string_new (VPUSH_ENROLLMENT_ID_PREFIX);

  for (const gchar *p = uuid; *p != '\0'; p++)
    if (*p != '-')
      g_string_append_c (id, *p);
  enrollment->id = g_string_free (id, FALSE);
  enrollment->service_sid = g_strdup (service_sid);
  enrollment->identity = g_strdup (identity);
  enrollment->friendly_name = g_strdup (friendly_name);
  enrollment->started_at = vpush_time_format (g_get_real_time () / G_USEC_PER_SEC);
  enrollment->base_url = g_strdup (base_url);
  return enrollment;
}

VpushEnrollment *
vpush_enrollment_new_deletion (const VpushFactorRecord *factor, const gchar *base_url)
{
  VpushEnrollment *entry = vpush_enrollment_new (factor->service_sid, factor->identity,
                                                 factor->friendly_name, base_url);

  entry->factor = vpush_factor_record_copy (factor);
  entry->deleting = TRUE;
  return entry;
}

void
vpush_enrollment_free (VpushEnrollment *enrollment)
{
  if (enrollment == NULL)
    return;
  g_free (enrollment->id);
  g_free (enrollment->service_sid);
  g_free (enrollment->identity);
  g_free (enrollment->friendly_name);
  g_free (enrollment->started_at);
  g_free (enrollment->base_url);
  g_clear_pointer (&enrollment->factor, vpush_factor_record_free);
  g_free (enrollment);
}

gboolean
vpush_enrollment_id_is_valid (const gchar *id)
{
  const gsize prefix_len = strlen (VPUSH_ENROLLMENT_ID_PREFIX);

  if (id == NULL || !g_str_has_prefix (id, VPUSH_ENROLLMENT_ID_PREFIX)
      || strlen (id) != prefix_len + 32)
    return FALSE;
  for (const gchar *p = id + prefix_len; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

JsonNode *
vpush_enrollment_to_json (const VpushEnrollment *enrollment)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, enrollment->id);
  json_builder_set_member_name (builder, "service_sid");
  json_builder_add_string_value (builder, enrollment->service_sid);
  json_builder_set_member_name (builder, "identity");
  json_builder_add_string_value (builder, enrollment->identity);
  json_builder_set_member_name (builder, "friendly_name");
  json_builder_add_string_value (builder, enrollment->friendly_name);
  json_builder_set_member_name (builder, "started_at");
  json_builder_add_string_value (builder, enrollment->started_at);
  if (enrollment->factor != NULL)
    {
      json_builder_set_member_name (builder, "factor");
      json_builder_add_value (builder, vpush_factor_record_to_json (enrollment->factor));
    }
  if (enrollment->deleting)
    {
      json_builder_set_member_name (builder, "deleting");
      json_builder_add_boolean_value (builder, TRUE);
    }
  if (enrollment->base_url != NULL)
    {
      json_builder_set_member_name (builder, "base_url");
      json_builder_add_string_value (builder, enrollment->base_url);
    }
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static gboolean
get_journal_string (JsonObject *object, const gchar *key, gchar **out, GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING
      || !g_utf8_validate (json_node_get_string (node), -1, NULL)
      || *json_node_get_string (node) == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "enrollment journal: “%s” is missing or not a non-empty string", key);
      return FALSE;
    }
  *out = json_node_dup_string (node);
  return TRUE;
}

VpushEnrollment *
vpush_enrollment_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr (VpushEnrollment) enrollment = g_new0 (VpushEnrollment, 1);
  JsonObject *object;
  JsonNode *factor;
  JsonNode *deleting;
  gint64 started;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "enrollment journal entry is not a JSON object");
      return NULL;
    }
  object = json_node_get_object (node);
  if (!get_journal_string (object, "id", &enrollment->id, error)
      || !get_journal_string (object, "service_sid", &enrollment->service_sid, error)
      || !get_journal_string (object, "identity", &enrollment->identity, error)
      || !get_journal_string (object, "friendly_name", &enrollment->friendly_name, error)
      || !get_journal_string (object, "started_at", &enrollment->started_at, error))
    return NULL;
  if (!vpush_enrollment_id_is_valid (enrollment->id)
      || !vpush_sid_is_valid (enrollment->service_sid, "VA"))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "enrollment journal: bad “id” or “service_sid”");
      return NULL;
    }
  if (!vpush_time_parse (enrollment->started_at, &started, error))
    {
      g_prefix_error (error, "enrollment journal: started_at: ");
      return NULL;
    }

  factor = json_object_get_member (object, "factor");
  if (factor != NULL && !JSON_NODE_HOLDS_NULL (factor))
    {
      enrollment->factor = vpush_factor_record_new_from_json (factor, error);
      if (enrollment->factor == NULL)
        {
          g_prefix_error (error, "enrollment journal: ");
          return NULL;
        }
      if (g_strcmp0 (enrollment->factor->service_sid, enrollment->service_sid) != 0
          || g_strcmp0 (enrollment->factor->identity, enrollment->identity) != 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "enrollment journal: the factor is of another service or identity");
          return NULL;
        }
    }
  deleting = json_object_get_member (object, "deleting");
  if (deleting != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (deleting) || json_node_get_value_type (deleting) != G_TYPE_BOOLEAN
          || (json_node_get_boolean (deleting) && enrollment->factor == NULL))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "enrollment journal: “deleting” is not true or false, or names "
                               "no factor");
          return NULL;
        }
      enrollment->deleting = json_node_get_boolean (deleting);
    }
  if (json_object_has_member (object, "base_url"))
    {
      if (!get_journal_string (object, "base_url", &enrollment->base_url, error))
        return NULL;
      /* it is quoted in messages: only a URL that could be a BaseUrl, never one with a
       * password */
      if (!vpush_http_check_base_url (enrollment->base_url, error))
        {
          g_prefix_error (error, "enrollment journal: base_url: ");
          return NULL;
        }
    }
  return g_steal_pointer (&enrollment);
}
