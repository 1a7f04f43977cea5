/* Internal parts of vpush-config.c exposed for tests and fuzzing; not API. */
#pragma once

#include "vpush-config.h"

G_BEGIN_DECLS

/* As vpush_config_load() on a file holding data; origin stands for the file name in
 * errors and becomes config->path. */
VpushConfig *vpush_config_load_from_data (const gchar *data, gsize length, const gchar *origin,
                                          GError **error);

G_END_DECLS
