/* Files written atomically and durably: every step a power cut could undo (the file's
 * data, its name in its directory, a new directory in its parent) is synced, and each
 * failure is reported, naming the file. Blocking: for the state store's writer thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Makes path and its missing parents (0700), each synced into its parent; an existing
 * directory open to others is closed. */
gboolean vpush_durable_ensure_dir (const gchar *path, GError **error);
/* What names a temp file as vpushd's own: the start removes those a crash left, and nothing
 * a person could name a file (a "YF….json.backup") */
#define VPUSH_DURABLE_TEMP_MARK ".vpush-tmp-"

/* A temp file "<path>.vpush-tmp-XXXXXX" (0600), synced, renamed over path, the directory
 * synced. */
gboolean vpush_durable_write (const gchar *path, const gchar *text, gsize length, GError **error);
/* An absent file is not an error; the directory is synced. */
gboolean vpush_durable_remove (const gchar *path, GError **error);

G_END_DECLS
