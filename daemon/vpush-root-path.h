/* Whether only root decides what a path names (policy files and directories). */
#pragma once

#include <glib.h>
#include <sys/stat.h>

G_BEGIN_DECLS

/* Follows path as open() would, and checks that every directory a name is looked up in on
 * the way (those of each symlink's target included) is root's and writable by nobody
 * else, or root's sticky directory holding a root-owned entry. On success out_st is what
 * path names. Errors are G_FILE_ERROR and name path: G_FILE_ERROR_PERM for a directory
 * that is not root's alone, else the lookup's (G_FILE_ERROR_NOENT for a missing one). */
gboolean vpush_root_path_check (const gchar *path, struct stat *out_st, GError **error);

G_END_DECLS
