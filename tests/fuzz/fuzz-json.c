/* vpush_json_check(), vpush_json_check_list() and vpush_json_defuse(): the gate in front of
 * json-glib for every document from the network (#6, #12). */
/* for memmem() */
#define _GNU_SOURCE

#include "fuzz-common.h"

#include <gio/gio.h>
#include <string.h>

#include "vpush-json.h"

#define KEY "challenges"

/* The value of the four hex digits at text[i] (the caller checked them), or -1 */
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

/* A scan of its own, not vpush-json.c's: no string of a text that passed the check holds
 * an escape json-glib misreads (\u0000 cuts the string short, half a surrogate pair gives
 * bytes that are not UTF-8). */
static void
check_no_misread_escape (const gchar *text, gsize len)
{
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (!in_string)
        in_string = text[i] == '"';
      else if (text[i] == '"')
        in_string = FALSE;
      else if (text[i] == '\\')
        {
          gint unit;

          FUZZ_CHECK (i + 1 < len);
          if (text[++i] != 'u')
            continue;
          unit = hex4 (text, len, i + 1);
          FUZZ_CHECK (unit > 0);
          FUZZ_CHECK (unit < 0xdc00 || unit > 0xdfff);
          i += 4;
          if (unit >= 0xd800 && unit <= 0xdbff)
            {
              FUZZ_CHECK (i + 2 < len && text[i + 1] == '\\' && text[i + 2] == 'u');
              unit = hex4 (text, len, i + 3);
              FUZZ_CHECK (unit >= 0xdc00 && unit <= 0xdfff);
              i += 6;
            }
        }
    }
}

/* Every string json-glib made of a checked text, member names included, is UTF-8 */
static void
check_strings_utf8 (JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      const gchar *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, &name, &member))
        {
          FUZZ_CHECK (g_utf8_validate (name, -1, NULL));
          check_strings_utf8 (member);
        }
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        check_strings_utf8 (json_array_get_element (array, i));
    }
  else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    FUZZ_CHECK (g_utf8_validate (json_node_get_string (node), -1, NULL));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const gchar *text = (const gchar *)data;
  g_autoptr (GPtrArray) dropped
      = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_json_dropped_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) list_error = NULL;
  g_autoptr (GString) rebuilt = g_string_new (NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree gchar *checked = NULL;
  g_autofree gchar *defused = NULL;
  g_autofree gchar *copy = NULL;
  VpushJsonDropped *sentinel = g_new0 (VpushJsonDropped, 1);
  gsize checked_len = 0;
  gsize done = 0;
  gboolean ok;
  JsonNode *root;

  fuzz_init ();
  ok = vpush_json_check (text, size, VPUSH_JSON_MAX_DEPTH, &error);
  if (!ok)
    fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  else
    check_no_misread_escape (text, size);

  /* nothing to defuse in a text that passed (a copy: up to a NUL, which json-glib refuses
   * in any case) */
  defused = vpush_json_defuse (text, size);
  copy = g_strndup (text, size);
  FUZZ_CHECK (!ok || strcmp (defused, copy) == 0);

  /* items the caller already had stay as they were */
  sentinel->text = g_strdup ("sentinel");
  g_ptr_array_add (dropped, sentinel);
  checked = vpush_json_check_list (text, size, VPUSH_JSON_MAX_DEPTH, KEY, dropped, &checked_len,
                                   &list_error);
  FUZZ_CHECK (dropped->len >= 1 && g_ptr_array_index (dropped, 0) == sentinel);
  if (checked == NULL)
    {
      FUZZ_CHECK (!ok);
      FUZZ_CHECK (dropped->len == 1);
      fuzz_check_error (list_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (list_error == NULL);
  FUZZ_CHECK (checked[checked_len] == '\0');
  /* a text the check takes whole is taken as it is */
  FUZZ_CHECK (!ok
              || (dropped->len == 1 && checked_len == size && memcmp (checked, text, size) == 0));
  FUZZ_CHECK (ok || dropped->len > 1);

  /* the text returned is the input with each item dropped made null, in order */
  for (guint i = 1; i < dropped->len; i++)
    {
      VpushJsonDropped *item = g_ptr_array_index (dropped, i);
      g_autofree gchar *item_defused = NULL;
      g_autofree gchar *expected = NULL;
      gsize item_len;

      FUZZ_CHECK (item->start >= done && item->end > item->start && item->end <= size);
      item_len = item->end - item->start;
      /* the item's text, as a string (up to a raw NUL, which json-glib refuses anyway) */
      expected = g_strndup (text + item->start, item_len);
      FUZZ_CHECK (strcmp (item->text, expected) == 0);
      FUZZ_CHECK (item->why != NULL && g_utf8_validate (item->why, -1, NULL));
      FUZZ_CHECK (memmem (text + item->start, item_len, "\\u", 2) != NULL);
      /* defused, the item is one value vpushd may read (for its label), with no raw NUL
       * (json-glib refuses those, and the copies are strings) */
      item_defused = vpush_json_defuse (item->text, item_len);
      FUZZ_CHECK (memchr (text + item->start, '\0', item_len) == NULL);
      FUZZ_CHECK_MSG (vpush_json_check (item_defused, item_len, VPUSH_JSON_MAX_DEPTH, NULL),
                      item_defused);
      /* and json-glib reads it as one value: the text returned is JSON only if the input
       * was */
      {
        g_autoptr (JsonParser) item_parser = json_parser_new ();

        FUZZ_CHECK_MSG (
            json_parser_load_from_data (item_parser, item_defused, (gssize)item_len, NULL),
            item_defused);
      }
      g_string_append_len (rebuilt, text + done, (gssize)(item->start - done));
      g_string_append (rebuilt, "null");
      done = item->end;
    }
  g_string_append_len (rebuilt, text + done, (gssize)(size - done));
  FUZZ_CHECK (rebuilt->len == checked_len && memcmp (rebuilt->str, checked, checked_len) == 0);

  /* what reaches json-glib has no escape it misreads, and all it reads is UTF-8 */
  FUZZ_CHECK (vpush_json_check (checked, checked_len, VPUSH_JSON_MAX_DEPTH, NULL));
  check_no_misread_escape (checked, checked_len);
  if (!json_parser_load_from_data (parser, checked, (gssize)checked_len, NULL)
      || (root = json_parser_get_root (parser)) == NULL)
    return 0;
  check_strings_utf8 (root);
  /* the text returned is JSON only if the text sent was: with its escapes defused, the
   * input reads too */
  if (dropped->len > 1 && memchr (text, '\0', size) == NULL)
    {
      g_autoptr (JsonParser) whole = json_parser_new ();

      FUZZ_CHECK (json_parser_load_from_data (whole, defused, (gssize)size, NULL));
    }
  /* each item dropped is null where it was, in the list vpushd reads */
  if (dropped->len > 1)
    {
      JsonNode *list;
      JsonArray *array;

      FUZZ_CHECK (JSON_NODE_HOLDS_OBJECT (root));
      list = json_object_get_member (json_node_get_object (root), KEY);
      FUZZ_CHECK (list != NULL && JSON_NODE_HOLDS_ARRAY (list));
      array = json_node_get_array (list);
      /* in the order of the list read (in a text json-glib refuses, a list may seem to
       * start twice) */
      for (guint i = 1; i < dropped->len; i++)
        {
          VpushJsonDropped *item = g_ptr_array_index (dropped, i);

          FUZZ_CHECK (i == 1
                      || item->index
                             > ((VpushJsonDropped *)g_ptr_array_index (dropped, i - 1))->index);
          FUZZ_CHECK (item->index < json_array_get_length (array));
          FUZZ_CHECK (JSON_NODE_HOLDS_NULL (json_array_get_element (array, item->index)));
        }
    }
  return 0;
}
