/* Reading the files vpushd is given (configuration, policy) and keeps (state). */
#pragma once

#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

/* The largest configuration, policy or state file read */
#define VPUSH_FILE_READ_MAX (1024 * 1024)

/* Whether a file or directory is root's and writable by nobody else */
gboolean vpush_file_root_only (const struct stat *st);

/* Reads a configuration, policy or state file: a regular file of at most VPUSH_FILE_READ_MAX
 * bytes (require_root: also root's and writable by nobody else), never waiting on a
 * FIFO or a device. Errors are G_FILE_ERROR and name path. */
gboolean vpush_file_read (const gchar *path, gboolean require_root, gchar **out_data,
                          gsize *out_length, GError **error);

G_END_DECLS
