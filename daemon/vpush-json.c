#include "vpush-json.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* White space, structure, numbers, true, false and null */
#define JSON_OUTSIDE_STRINGS " \t\n\r[]{}:,\"0123456789+-.eEtruefalsn"
#define JSON_SPACE           " \t\n\r"

/* The value of the four hex digits at text[i], or -1 */
static gint
hex4 (const gchar *text, gsize len, gsize i)
{
  gint value = 0;

  if (i + 4 > len)
    return -1;
  for (gsize j = i; j < i + 4; j++)
    {
      if (!g_ascii_isxdigit (text[j]))
        return -1;
      value = value * 16 + g_ascii_xdigit_value (text[j]);
    }
  return value;
}

/* A \u escape at text[i] ("\u…"); the index of its last character, or 0 when it is not
 * four hex digits or a surrogate without its other half. */
static gsize
check_unicode_escape (const gchar *text, gsize len, gsize i)
{
  gint unit = hex4 (text, len, i + 2);
  gint low;

  if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff))
    return 0;
  if (unit < 0xd800 || unit > 0xdbff)
    return i + 5;
  if (i + 8 > len || text[i + 6] != '\\' || text[i + 7] != 'u')
    return 0;
  low = hex4 (text, len, i + 8);
  if (low < 0xdc00 || low > 0xdfff)
    return 0;
  return i + 11;
}

/* What the scan of vpush_json_check_list() keeps of the list it looks into */
typedef struct
{
  const gchar *key;     /* the root object's member holding the list */
  GPtrArray *dropped;   /* VpushJsonDropped */
  gboolean root_object; /* the root is an object */
  gboolean want_key;    /* at depth 1, the next string is a member name */
  gboolean in_key;      /* reading that member name */
  gsize key_start;
  gboolean key_matches; /* the last member name read at depth 1 is key */
  guint n_lists;        /* members named key */
  gboolean in_list;     /* directly or deeper inside that member's array */
  guint index;          /* of the item being read */
  gboolean in_item;
  gsize item_start;
  gchar *why; /* the item's first escape json-glib would misread */
} ListScan;

void
vpush_json_dropped_free (VpushJsonDropped *dropped)
{
  if (dropped == NULL)
    return;
  g_free (dropped->text);
  g_free (dropped->why);
  g_free (dropped);
}

/* The item of the list that ends before text[i] (a ',' or ']') is read */
static void
list_item_end (ListScan *scan, const gchar *text, gsize i)
{
  gsize end = i;

  if (!scan->in_item)
    return;
  while (end > scan->item_start && strchr (JSON_SPACE, text[end - 1]) != NULL)
    end--;
  if (scan->why != NULL)
    {
      VpushJsonDropped *dropped = g_new0 (VpushJsonDropped, 1);

      dropped->index = scan->index;
      dropped->start = scan->item_start;
      dropped->end = end;
      dropped->why = g_steal_pointer (&scan->why);
      g_ptr_array_add (scan->dropped, dropped);
    }
  scan->in_item = FALSE;
}

/* The structure outside strings, as far as the list is concerned: c at text[i], at depth
 * (before c changes it) */
static void
list_scan_structure (ListScan *scan, const gchar *text, gsize i, guint depth)
{
  gchar c = text[i];

  if (depth == 0 && c == '{')
    scan->root_object = scan->want_key = TRUE;
  else if (depth == 1 && scan->root_object)
    {
      if (c == ',')
        {
          scan->want_key = TRUE;
          scan->key_matches = FALSE;
        }
      else if (c == '"' && scan->want_key)
        {
          scan->in_key = TRUE;
          scan->want_key = FALSE;
          scan->key_start = i + 1;
        }
      else if (c == '[' && scan->key_matches)
        {
          scan->in_list = TRUE;
          scan->index = 0;
          scan->in_item = FALSE;
        }
    }
  else if (depth == 2 && scan->in_list)
    {
      if (c == ',' || c == ']')
        {
          list_item_end (scan, text, i);
          scan->index++;
          scan->in_list = c == ',';
        }
      else if (!scan->in_item)
        {
          scan->in_item = TRUE;
          scan->item_start = i;
        }
    }
}

/* Whether the member name text[start, end), as json-glib reads its escapes, is key (ASCII
 * text without control characters). The check took its escapes already. */
static gboolean
key_equals (const gchar *text, gsize start, gsize end, const gchar *key)
{
  gsize k = 0;

  for (gsize i = start; i < end; i++, k++)
    {
      gint c = (guchar)text[i];

      if (c == '\\' && text[i + 1] == 'u')
        {
          c = hex4 (text, end, i + 2);
          i += 5;
        }
      else if (c == '\\')
        {
          /* \b, \f, \n, \r and \t are control characters, which key has not */
          c = strchr ("\"\\/", text[i + 1]) != NULL ? text[i + 1] : -1;
          i++;
        }
      if (c <= 0 || key[k] != c)
        return FALSE;
    }
  return key[k] == '\0';
}

/* A member name at depth 1 ends at text[i]: "chall\u0065nges" is the list's name too, or
 * the list check could drop an item of one list while json-glib keeps another */
static void
list_scan_key_end (ListScan *scan, const gchar *text, gsize i)
{
  scan->in_key = FALSE;
  scan->key_matches = key_equals (text, scan->key_start, i, scan->key);
  if (scan->key_matches)
    scan->n_lists++;
}

/* Without scan: the whole check; with: all but the escapes of the list's items that
 * json-glib would misread, which scan keeps. */
static gboolean
check (const gchar *text, gsize len, guint max_depth, ListScan *scan, GError **error)
{
  guint depth = 0;
  guint n_values = 0;
  gboolean in_string = FALSE;
  gboolean in_scalar = FALSE; /* a number, true, false or null at the top */
  gboolean root_done = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      gchar c = text[i];

      if (in_string)
        {
          if (c == '\\' && i + 1 < len && text[i + 1] == 'u')
            {
              gsize last = check_unicode_escape (text, len, i);
              g_autoptr (GError) misread = NULL;

              /* json-glib ends the string there: "T\u0000…" would be read as "T", and
               * a transaction id so cut would match a caller's T */
              if (last != 0 && hex4 (text, len, i + 2) == 0)
                g_set_error (&misread, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             "not JSON vpushd can read: a \\u0000 escape at %" G_GSIZE_FORMAT
                             " would cut its string short",
                             i);
              else if (last == 0)
                g_set_error (&misread, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             "not JSON: a \\u escape at %" G_GSIZE_FORMAT
                             " is not four hex digits or a whole surrogate pair",
                             i);
              if (misread != NULL)
                {
                  /* half a surrogate pair is still six bytes of JSON, and where the
                   * string ends is known: only its list item is lost */
                  if (scan == NULL || !scan->in_item || hex4 (text, len, i + 2) < 0)
                    {
                      g_propagate_error (error, g_steal_pointer (&misread));
                      return FALSE;
                    }
                  if (scan->why == NULL)
                    scan->why = g_strdup (misread->message);
                  last = i + 5;
                }
              i = last;
            }
          else if (c == '\\')
            {
              /* json-glib also reads octal escapes ("\\762"), which give bytes that are
               * not UTF-8: JSON's own escapes only */
              if (i + 1 >= len || strchr ("\"\\/bfnrt", text[i + 1]) == NULL || text[i + 1] == '\0')
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "not JSON: the escape at %" G_GSIZE_FORMAT " is not one of JSON's",
                               i);
                  return FALSE;
                }
              i++;
            }
          else if (c == '"')
            {
              in_string = FALSE;
              root_done = depth == 0;
              if (scan != NULL && scan->in_key)
                list_scan_key_end (scan, text, i);
            }
          continue;
        }
      if (in_scalar && strchr (JSON_SPACE "[]{}:,\"", c) != NULL)
        {
          in_scalar = FALSE;
          root_done = TRUE;
        }
      if (c != '\0' && strchr (JSON_SPACE, c) != NULL)
        continue;
      /* json-glib also reads '…' strings and comments, which this scan would take for
       * something else: outside "…" only what JSON itself has may be there */
      if (c == '\0' || strchr (JSON_OUTSIDE_STRINGS, c) == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "not JSON: byte 0x%02x at %" G_GSIZE_FORMAT " is outside a string",
                       (guchar)c, i);
          return FALSE;
        }
      /* json-glib takes every value after the first and drops it unfreed: one is all */
      if (root_done)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "not JSON: more than one value (at byte %" G_GSIZE_FORMAT ")", i);
          return FALSE;
        }
      if (scan != NULL)
        list_scan_structure (scan, text, i, depth);
      if ((c == '[' || c == '{' || c == ',') && ++n_values > VPUSH_JSON_MAX_VALUES)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "JSON of more than %u values",
                       VPUSH_JSON_MAX_VALUES);
          return FALSE;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '[':
        case '{':
          if (++depth > max_depth)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "JSON nested deeper than %u levels", max_depth);
              return FALSE;
            }
          break;
        case ']':
        case '}':
          /* unbalanced text is json-glib's to refuse */
          if (depth > 0 && --depth == 0)
            root_done = TRUE;
          break;
        default:
          if (depth == 0)
            in_scalar = TRUE;
          break;
        }
    }
  return TRUE;
}

gboolean
vpush_json_check (const gchar *text, gsize len, guint max_depth, GError **error)
{
  return check (text, len, max_depth, NULL, error);
}

/* Whether the text of a list item is one JSON value once its escapes json-glib misreads
 * are defused */
static gboolean
item_is_json (const gchar *text, gsize len, guint max_depth)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autofree gchar *defused = NULL;

  /* json-glib refuses a raw NUL, and the copies here are strings */
  if (memchr (text, '\0', len) != NULL)
    return FALSE;
  defused = vpush_json_defuse (text, len);
  if (!check (defused, len, max_depth, NULL, NULL))
    return FALSE;
  parser = json_parser_new ();
  return json_parser_load_from_data (parser, defused, (gssize)len, NULL)
         && json_parser_get_root (parser) != NULL;
}

gchar *
vpush_json_check_list (const gchar *text, gsize len, guint max_depth, const gchar *key,
                       GPtrArray *dropped, gsize *out_len, GError **error)
{
  ListScan scan = { .key = key, .dropped = dropped };
  guint first = dropped->len;
  g_autoptr (GString) out = NULL;
  gsize done = 0;

  if (!check (text, len, max_depth, &scan, error))
    {
      g_free (scan.why);
      g_ptr_array_set_size (dropped, first);
      return NULL;
    }
  /* an unterminated list is json-glib's to refuse */
  g_clear_pointer (&scan.why, g_free);
  /* which of two lists json-glib keeps is its own affair: with one, an item is known */
  if (scan.n_lists > 1 && dropped->len > first)
    {
      VpushJsonDropped *item = g_ptr_array_index (dropped, first);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s (and “%s” is there twice)",
                   item->why, key);
      g_ptr_array_set_size (dropped, first);
      return NULL;
    }

  /* an item made null must have been one value that json-glib reads, its escapes aside:
   * else a text that is not JSON ("\u0000" "x", or {"a" "\u0000"}) would become JSON */
  for (guint i = first; i < dropped->len; i++)
    {
      VpushJsonDropped *item = g_ptr_array_index (dropped, i);

      if (!item_is_json (text + item->start, item->end - item->start, max_depth))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "not JSON: item %u of “%s” is not one JSON value", item->index, key);
          g_ptr_array_set_size (dropped, first);
          return NULL;
        }
    }

  /* each item left out becomes null, so the others keep their places */
  out = g_string_sized_new (len);
  for (guint i = first; i < dropped->len; i++)
    {
      VpushJsonDropped *item = g_ptr_array_index (dropped, i);

      g_string_append_len (out, text + done, (gssize)(item->start - done));
      g_string_append (out, "null");
      item->text = g_strndup (text + item->start, item->end - item->start);
      done = item->end;
    }
  g_string_append_len (out, text + done, (gssize)(len - done));
  /* what is left is what vpush_json_check() takes, or nothing */
  if (!check (out->str, out->len, max_depth, NULL, error))
    {
      g_ptr_array_set_size (dropped, first);
      return NULL;
    }
  *out_len = out->len;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

gchar *
vpush_json_defuse (const gchar *text, gsize len)
{
  gchar *out = g_strndup (text, len);
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!in_string)
        in_string = out[i] == '"';
      else if (out[i] == '"')
        in_string = FALSE;
      else if (out[i] == '\\' && i + 1 < len && out[i + 1] == 'u' && hex4 (out, len, i + 2) >= 0
               && (hex4 (out, len, i + 2) == 0 || check_unicode_escape (out, len, i) == 0))
        {
          memcpy (out + i + 2, "fffd", 4);
          i += 5;
        }
      else if (out[i] == '\\' && i + 1 < len && out[i + 1] == 'u')
        i += check_unicode_escape (out, len, i) != 0 ? check_unicode_escape (out, len, i) - i : 1;
      else if (out[i] == '\\')
        i++;
    }
  return out;
}
