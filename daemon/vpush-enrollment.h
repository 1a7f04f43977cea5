/* An entry of the enrollment journal and its JSON form in the state directory. */
#pragma once

#include <json-glib/json-glib.h>

#include "vpush-factor-record.h"

G_BEGIN_DECLS

/* The enrollment journal (docs/crash-safety.md): one file per enrollment in progress, written
 * before anything is created and removed once the enrollment is finished or undone, so that a
 * crash at any point leaves something vpushd can finish or undo at start. No secrets. */
typedef struct
{
  gchar *id; /* "enroll-" + 32 hex digits: the journal entry's name, and the keyring name of the
              * key until the factor's sid is known */
  gchar *service_sid;
  gchar *identity;
  gchar *friendly_name;
  gchar *started_at;         /* RFC 3339 */
  VpushFactorRecord *factor; /* nullable: the remote factor, once it has been created */
  gboolean deleting;         /* not an enrollment: the deletion of factor (docs/crash-safety.md) */
  gchar *base_url; /* nullable: the Verify API ([Verify] BaseUrl) the entry was made against,
                    * whose factor only that API can delete; NULL in an entry of an older
                    * vpushd, taken as the current one */
} VpushEnrollment;

#define VPUSH_ENROLLMENT_ID_PREFIX "enroll-"

/* A new entry with a random id, started now, against the Verify API at base_url. */
VpushEnrollment *vpush_enrollment_new (const gchar *service_sid, const gchar *identity,
                                       const gchar *friendly_name, const gchar *base_url);
/* The entry of a deletion of factor: written before its record is removed, so that a
 * crash part way is finished at the next start. */
VpushEnrollment *vpush_enrollment_new_deletion (const VpushFactorRecord *factor,
                                                const gchar *base_url);
void vpush_enrollment_free (VpushEnrollment *enrollment);
gboolean vpush_enrollment_id_is_valid (const gchar *id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushEnrollment, vpush_enrollment_free)

/* The entry as the journal file holds it */
JsonNode *vpush_enrollment_to_json (const VpushEnrollment *enrollment);
/* An entry read back; every field is checked, since the file may be damaged or planted */
VpushEnrollment *vpush_enrollment_new_from_json (JsonNode *node, GError **error);

G_END_DECLS
