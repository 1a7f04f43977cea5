/* Key files as vpush reads them: GKeyFile merges a group that appears twice and keeps the
 * last value of a key that appears twice in one group. In a policy file that can widen a
 * rule ([Rule kiosk] with a narrow Callers=, and later [Rule kiosk] Callers=*); in the
 * configuration it hides a mistake. Both are refused. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Loads data (length (gsize)-1: NUL-terminated; a leading UTF-8 byte order mark is
 * skipped) into a new GKeyFile, or fails naming origin and, for a repeated group or key,
 * the group and key. */
GKeyFile *vpush_keyfile_load (const gchar *data, gsize length, const gchar *origin, GError **error);

/* A key's name for a message (the first length bytes of key, or all of it when length is
 * negative): up to a character no key name has, then "…". "Url https://host/topic?since=all"
 * (a "=" forgotten, a space instead) is a key to GKeyFile, and its topic is as good as a
 * password. GKeyFile takes names that are not UTF-8: the journal gets text. */
gchar *vpush_keyfile_shown_key (const gchar *key, gssize length);

G_END_DECLS
