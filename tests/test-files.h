/* Files the unit tests make in directories of their own, and remove afterwards */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Removes path and everything under it; a symbolic link is removed, never followed. */
void rm_rf (const gchar *path);

G_END_DECLS
