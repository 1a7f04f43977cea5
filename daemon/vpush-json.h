/* JSON from the network, before json-glib sees it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How deep the Verify API's and the push servers' JSON may nest: their documents nest
 * five levels at most. */
#define VPUSH_JSON_MAX_DEPTH 32

/* FALSE (error set) when text nests arrays and objects deeper than max_depth, or has
 * outside its strings a byte JSON does not (json-glib reads '…' strings and comments too,
 * in which a scan for depth would lose its place). json-glib parses recursively and has
 * no limit: a few hundred kilobytes of "[" take it past the end of the stack. Strings are
 * skipped, escapes included; the rest is json-glib's to judge. */
gboolean vpush_json_check_depth (const gchar *text, gsize len, guint max_depth, GError **error);

G_END_DECLS
