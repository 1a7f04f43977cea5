/* What vpushd keeps of a factor (protocol doc §9); no secrets in here. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The Verify API's bounds (OpenAPI): a factor's friendly name, in characters, and its
 * metadata's JSON text, in characters */
#define VPUSH_FRIENDLY_NAME_MAX 64
#define VPUSH_METADATA_MAX      1024
/* config.credential_sid: its form is not documented; this is longer than any sid */
#define VPUSH_CREDENTIAL_SID_MAX 256

typedef struct
{
  gchar *sid; /* YF… */
  gchar *friendly_name;
  gchar *service_sid; /* VA… */
  gchar *identity;
  gchar *account_sid;    /* AC… */
  gchar *entity_sid;     /* YE…, nullable */
  gchar *credential_sid; /* config.credential_sid: the device JWT kid */
  gchar *status;         /* unverified, verified */
  gchar *created_at;     /* RFC 3339 */
  gchar *push_url;       /* nullable: this factor's push channel */
  gchar *metadata;       /* nullable: JSON object text with string values */
  gchar *enrolled_name;  /* nullable: the friendly name before the first rename */
} VpushFactorRecord;

VpushFactorRecord *vpush_factor_record_new (void);
VpushFactorRecord *vpush_factor_record_copy (const VpushFactorRecord *record);
void vpush_factor_record_free (VpushFactorRecord *record);

/* The on-disk form of the record. */
JsonNode *vpush_factor_record_to_json (const VpushFactorRecord *record);
VpushFactorRecord *vpush_factor_record_new_from_json (JsonNode *node, GError **error);

/* The name the policy's Factors= globs match: the friendly name the factor was enrolled
 * with. A rename must not change which rules cover a factor, or any caller allowed to
 * rename could widen its own rights. */
const gchar *vpush_factor_record_get_policy_name (const VpushFactorRecord *record);
/* Renames, keeping the policy name. */
void vpush_factor_record_rename (VpushFactorRecord *record, const gchar *friendly_name);

gboolean vpush_sid_is_valid (const gchar *sid, const gchar *prefix);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushFactorRecord, vpush_factor_record_free)

G_END_DECLS
