/* Factor records and the clock correction in the state directory, written atomically. */
#pragma once

#include "vpush-factor-record.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_FACTOR_STORE (vpush_factor_store_get_type ())
G_DECLARE_FINAL_TYPE (VpushFactorStore, vpush_factor_store, VPUSH, FACTOR_STORE, GObject)

/* Creates dir (0700) if needed. */
VpushFactorStore *vpush_factor_store_new (const gchar *dir, GError **error);

/* Every readable record; a corrupt file is skipped with a warning naming it. */
GPtrArray *vpush_factor_store_load_all (VpushFactorStore *self, GError **error);
gboolean vpush_factor_store_save (VpushFactorStore *self, const VpushFactorRecord *record,
                                  GError **error);
/* An absent record is not an error. */
gboolean vpush_factor_store_remove (VpushFactorStore *self, const gchar *factor_sid,
                                    GError **error);

/* Whether a record file exists for factor_sid, readable or not. */
gboolean vpush_factor_store_has_record (VpushFactorStore *self, const gchar *factor_sid);

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
} VpushEnrollment;

#define VPUSH_ENROLLMENT_ID_PREFIX "enroll-"

/* A new entry with a random id, started now. */
VpushEnrollment *vpush_enrollment_new (const gchar *service_sid, const gchar *identity,
                                       const gchar *friendly_name);
/* The entry of a deletion of factor: written before its record is removed, so that a
 * crash part way is finished at the next start. */
VpushEnrollment *vpush_enrollment_new_deletion (const VpushFactorRecord *factor);
void vpush_enrollment_free (VpushEnrollment *enrollment);
gboolean vpush_enrollment_id_is_valid (const gchar *id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushEnrollment, vpush_enrollment_free)

/* Atomic and durable, like the records. */
gboolean vpush_factor_store_save_enrollment (VpushFactorStore *self,
                                             const VpushEnrollment *enrollment, GError **error);
/* An absent entry is not an error. */
gboolean vpush_factor_store_remove_enrollment (VpushFactorStore *self, const gchar *id,
                                               GError **error);
/* Every readable entry (VpushEnrollment), oldest first; a corrupt file is skipped with a
 * warning naming it, left in place, and counted in *n_unreadable (nullable). */
GPtrArray *vpush_factor_store_load_enrollments (VpushFactorStore *self, guint *n_unreadable,
                                                GError **error);

/* Removes the temporary files an atomic write interrupted by a crash left behind (records,
 * journal entries, the clock correction); returns how many. Call it only while nothing is
 * being written. */
guint vpush_factor_store_remove_temp_files (VpushFactorStore *self);

gint64 vpush_factor_store_load_clock_offset (VpushFactorStore *self);
gboolean vpush_factor_store_save_clock_offset (VpushFactorStore *self, gint64 offset,
                                               GError **error);

G_END_DECLS
