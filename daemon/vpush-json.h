/* JSON from the network, before json-glib sees it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How deep the Verify API's and the push servers' JSON may nest: their documents nest
 * five levels at most. */
#define VPUSH_JSON_MAX_DEPTH 32

/* FALSE (error set) when text nests arrays and objects deeper than max_depth, has
 * outside its strings a byte JSON does not (json-glib reads '…' strings and comments too,
 * in which this scan would lose its place), holds more than one value, has a \u escape
 * that is not four hex digits or a whole surrogate pair or is \u0000 (json-glib cuts the
 * string short there, so the text read is not the text sent), or an escape JSON does not have
 * (json-glib reads octal ones, which give bytes that are not UTF-8). json-glib parses
 * recursively with no limit (a few hundred kilobytes of "[" take it past the end of the
 * stack), and json-glib 1.6 leaks what it read of several values and of broken
 * surrogates: a server sending them could make vpushd grow without bound. The rest is
 * json-glib's to judge. */
gboolean vpush_json_check (const gchar *text, gsize len, guint max_depth, GError **error);

G_END_DECLS
