/* Factor records and the clock correction in the state directory, written atomically. */
#pragma once

#include "vpush-factor-record.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_FACTOR_STORE (vpush_factor_store_get_type ())
G_DECLARE_FINAL_TYPE (VpushFactorStore, vpush_factor_store, VPUSH, FACTOR_STORE, GObject)

/* Creates dir (0700) if needed. */
VpushFactorStore *vpush_factor_store_new (const gchar *dir, GError **error);
const gchar *vpush_factor_store_get_dir (VpushFactorStore *self);

/* Every readable record; a corrupt file is skipped with a warning naming it. */
GPtrArray *vpush_factor_store_load_all (VpushFactorStore *self, GError **error);
gboolean vpush_factor_store_save (VpushFactorStore *self, const VpushFactorRecord *record,
                                  GError **error);
/* An absent record is not an error. */
gboolean vpush_factor_store_remove (VpushFactorStore *self, const gchar *factor_sid,
                                    GError **error);

gint64 vpush_factor_store_load_clock_offset (VpushFactorStore *self);
gboolean vpush_factor_store_save_clock_offset (VpushFactorStore *self, gint64 offset,
                                               GError **error);

G_END_DECLS
