#include "vpush-json-write.h"

#include <string.h>

void
vpush_json_write (GString *out, JsonNode *node, gboolean pretty)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GString) text = g_string_new (NULL);
  const gchar *p, *end, *unit;

  json_generator_set_pretty (generator, pretty);
  json_generator_set_root (generator, node);
  json_generator_to_gstring (generator, text);
  /* the generator writes no raw control byte outside strings but new lines, so each 0x1f
   * is inside one; no byte of a multi-byte UTF-8 sequence is below 0x80 */
  p = text->str;
  end = text->str + text->len;
  while ((unit = memchr (p, 0x1f, (gsize)(end - p))) != NULL)
    {
      g_string_append_len (out, p, unit - p);
      g_string_append (out, "\\u001f");
      p = unit + 1;
    }
  g_string_append_len (out, p, end - p);
}

gchar *
vpush_json_to_string (JsonNode *node, gboolean pretty, gsize *length)
{
  GString *out = g_string_new (NULL);

  vpush_json_write (out, node, pretty);
  if (length != NULL)
    *length = out->len;
  return g_string_free (out, FALSE);
}
