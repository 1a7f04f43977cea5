/* JSON from the network, before json-glib sees it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How deep the Verify API's and the push servers' JSON may nest: their documents nest
 * five levels at most. */
#define VPUSH_JSON_MAX_DEPTH 32

/* FALSE (error set) when text nests arrays and objects deeper than max_depth, holds more
 * than VPUSH_JSON_MAX_VALUES values, has
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

/* How many values one text may hold, counted as its arrays, objects and commas. json-glib
 * takes a few hundred bytes for each (an empty object: a node and a hash table), and
 * malloc keeps what it freed: a reply of 1.6 MB of "{}," took vpushd from 18 to 175 MB.
 * A page of 50 challenges holds some 20000 at the most (each a few dozen members, 20
 * fields, hidden details and metadata of at most 1024 characters each); this bounds the
 * text's tree to about 10 MB. vpush_json_check() refuses more. */
#define VPUSH_JSON_MAX_VALUES 32768

/* An item of a list that vpush_json_check_list() left out */
typedef struct
{
  guint index; /* its place in the list */
  gsize start; /* its text in the text checked: [start, end) */
  gsize end;
  gchar *text; /* that text, as sent: not for json-glib (see vpush_json_defuse()) */
  gchar *why;  /* the first escape json-glib would misread */
} VpushJsonDropped;

void vpush_json_dropped_free (VpushJsonDropped *dropped);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushJsonDropped, vpush_json_dropped_free)

/* vpush_json_check() of an object whose member key is a list, where a \u0000 escape or
 * half a surrogate pair (JSON, which json-glib misreads) inside one item costs that item
 * only: each such item becomes null in the text returned (a new string, *out_len bytes,
 * which passes vpush_json_check()) and is added to dropped (VpushJsonDropped) with its
 * place. NULL and error for all vpush_json_check() refuses, those escapes outside the
 * items included, and for such an item when it is not one value json-glib reads (with
 * those escapes defused: the text returned is JSON only if the text sent was) or when the
 * object has two members key. */
gchar *vpush_json_check_list (const gchar *text, gsize len, guint max_depth, const gchar *key,
                              GPtrArray *dropped, gsize *out_len, GError **error);

/* A copy of text with each \u0000 escape and half a surrogate pair made \ufffd: to read
 * what is left of an item vpush_json_check_list() dropped (its sid, for a warning), never
 * to use it. */
gchar *vpush_json_defuse (const gchar *text, gsize len);

G_END_DECLS
