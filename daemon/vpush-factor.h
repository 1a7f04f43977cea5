/* One enrolled factor: its record and its Factor object on the bus. */
#pragma once

#include "vpush-factor-record.h"
#include "vpush-manager.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_FACTOR (vpush_factor_get_type ())
G_DECLARE_FINAL_TYPE (VpushFactor, vpush_factor, VPUSH, FACTOR, GObject)

/* Takes ownership of record; manager is not referenced (it outlives its factors). */
VpushFactor *vpush_factor_new (VpushManager *manager, VpushFactorRecord *record);
const VpushFactorRecord *vpush_factor_get_record (VpushFactor *self);
const gchar *vpush_factor_get_sid (VpushFactor *self);
GDBusObjectSkeleton *vpush_factor_get_object (VpushFactor *self);
/* A Delete of the factor is under way (its key may be gone already) */
gboolean vpush_factor_is_deleting (VpushFactor *self);

G_END_DECLS
