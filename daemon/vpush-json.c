#include "vpush-json.h"

#include <gio/gio.h>
#include <string.h>

/* White space, structure, numbers, true, false and null */
#define JSON_OUTSIDE_STRINGS " \t\n\r[]{}:,\"0123456789+-.eEtruefalsn"

gboolean
vpush_json_check_depth (const gchar *text, gsize len, guint max_depth, GError **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      gchar c = text[i];

      if (in_string)
        {
          if (c == '\\')
            i++; /* the escaped character, a quote perhaps */
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      /* json-glib also reads '…' strings and comments, which this scan would take for
       * something else: outside "…" only what JSON itself has may be there */
      if (strchr (JSON_OUTSIDE_STRINGS, c) == NULL || c == '\0')
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "not JSON: byte 0x%02x at %" G_GSIZE_FORMAT " is outside a string",
                       (guchar)c, i);
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
          if (depth > 0)
            depth--;
          break;
        default:
          break;
        }
    }
  return TRUE;
}
