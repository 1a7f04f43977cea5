/* Factor records, the enrollment journal and the clock correction in the state directory.
 * Reads are synchronous (at start), but for find_unowned(). Writes and removals are queued and done
 * one at a time in a thread of their own, each atomic and durable, in the order they were asked
 * for: a step that waits for its write's callback knows that it and every write asked for before it
 * are on disk. A write whose callback is NULL logs its own failure. */
#pragma once

#include "vpush-enrollment.h"
#include "vpush-factor-record.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_FACTOR_STORE (vpush_factor_store_get_type ())
G_DECLARE_FINAL_TYPE (VpushFactorStore, vpush_factor_store, VPUSH, FACTOR_STORE, GObject)

/* Creates dir (0700) if needed, and starts the thread that writes to it. */
VpushFactorStore *vpush_factor_store_new (const gchar *dir, GError **error);

/* Every readable record; a corrupt file is skipped with a warning naming it. */
GPtrArray *vpush_factor_store_load_all (VpushFactorStore *self, GError **error);
void vpush_factor_store_save_async (VpushFactorStore *self, const VpushFactorRecord *record,
                                    GAsyncReadyCallback callback, gpointer user_data);
/* An absent record is not an error. */
void vpush_factor_store_remove_async (VpushFactorStore *self, const gchar *factor_sid,
                                      GAsyncReadyCallback callback, gpointer user_data);
/* The outcome of any of the writes and removals */
gboolean vpush_factor_store_write_finish (VpushFactorStore *self, GAsyncResult *result,
                                          GError **error);
/* Waits until every write asked for is done; at exit, so that none is lost */
void vpush_factor_store_flush (VpushFactorStore *self);

/* Whether a record file may exist for factor_sid, readable or not: FALSE only when there
 * is certainly none (ENOENT). */
gboolean vpush_factor_store_has_record (VpushFactorStore *self, const gchar *factor_sid);
/* The same, in the writer's thread after the writes asked for before: for the main loop */
void vpush_factor_store_has_record_async (VpushFactorStore *self, const gchar *factor_sid,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_factor_store_has_record_finish (VpushFactorStore *self, GAsyncResult *result);

void vpush_factor_store_save_enrollment_async (VpushFactorStore *self,
                                               const VpushEnrollment *enrollment,
                                               GAsyncReadyCallback callback, gpointer user_data);
/* An absent entry is not an error. */
void vpush_factor_store_remove_enrollment_async (VpushFactorStore *self, const gchar *id,
                                                 GAsyncReadyCallback callback, gpointer user_data);
/* Every readable entry (VpushEnrollment), oldest first; a corrupt file is skipped with a
 * warning naming it, left in place, and counted in *n_unreadable (nullable). */
GPtrArray *vpush_factor_store_load_enrollments (VpushFactorStore *self, guint *n_unreadable,
                                                GError **error);

/* Of names (key names: factor sids, enrollment ids), those that no readable enrollment
 * journal entry and no record owns (GPtrArray of gchar *). Done in the writer's thread, in
 * order with the writes; fails when the journal can't be read in full. */
void vpush_factor_store_find_unowned_async (VpushFactorStore *self, GPtrArray *names,
                                            GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *vpush_factor_store_find_unowned_finish (VpushFactorStore *self, GAsyncResult *result,
                                                   GError **error);

/* Removes the temporary files an atomic write interrupted by a crash left behind (records,
 * journal entries, the clock correction); returns how many. Call it only while nothing is
 * being written. */
guint vpush_factor_store_remove_temp_files (VpushFactorStore *self);

gint64 vpush_factor_store_load_clock_offset (VpushFactorStore *self);
/* Queued; a failure is logged */
void vpush_factor_store_save_clock_offset (VpushFactorStore *self, gint64 offset);

G_END_DECLS
