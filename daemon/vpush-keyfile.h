/* Key files as vpush reads them: GKeyFile merges a group that appears twice and keeps the
 * last value of a key that appears twice in one group. In a policy file that can widen a
 * rule ([Rule kiosk] with a narrow Callers=, and later [Rule kiosk] Callers=*); in the
 * configuration it hides a mistake. Both are refused. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Loads data (length (gsize)-1: NUL-terminated) into a new GKeyFile, or fails naming
 * origin and, for a repeated group or key, the group and key. */
GKeyFile *vpush_keyfile_load (const gchar *data, gsize length, const gchar *origin, GError **error);

G_END_DECLS
