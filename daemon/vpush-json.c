#include "vpush-json.h"

#include <gio/gio.h>

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
