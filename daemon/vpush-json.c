#include "vpush-json.h"

#include <gio/gio.h>
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

gboolean
vpush_json_check (const gchar *text, gsize len, guint max_depth, GError **error)
{
  guint depth = 0;
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

              /* json-glib ends the string there: "T\u0000…" would be read as "T", and
               * a transaction id so cut would match a caller's T */
              if (last != 0 && hex4 (text, len, i + 2) == 0)
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "not JSON vpushd can read: a \\u0000 escape at %" G_GSIZE_FORMAT
                               " would cut its string short",
                               i);
                  return FALSE;
                }
              if (last == 0)
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               "not JSON: a \\u escape at %" G_GSIZE_FORMAT
                               " is not four hex digits or a whole surrogate pair",
                               i);
                  return FALSE;
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
