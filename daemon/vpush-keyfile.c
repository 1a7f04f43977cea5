#include "vpush-keyfile.h"

#include <string.h>

gchar *
vpush_keyfile_shown_key (const gchar *key, gssize length)
{
  gsize shown = 0;
  gsize end = length < 0 ? strlen (key) : (gsize)length;

  while (shown < end
         && ((guchar)key[shown] >= 0x80 || g_ascii_isalnum (key[shown])
             || strchr ("-_.@[]", key[shown]) != NULL))
    shown++;
  if (shown < end)
    {
      g_autofree gchar *name = g_utf8_make_valid (key, shown);

      return g_strconcat (name, "…", NULL);
    }
  return g_utf8_make_valid (key, end);
}

/* The lines of data as GKeyFile reads them (it has parsed them already, so they are
 * well-formed): a group header starts a group, a key runs up to "=" without the spaces
 * before it; blank lines and comments are skipped. */
static gboolean
check_unique (const gchar *data, gsize length, const gchar *origin, GError **error)
{
  g_autoptr (GHashTable) groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree gchar *group = NULL;
  const gchar *end = data + length;
  const gchar *line = data;

  while (line < end)
    {
      const gchar *next = memchr (line, '\n', end - line);
      const gchar *stop = next != NULL ? next : end;
      const gchar *eq;

      while (line < stop && g_ascii_isspace (*line))
        line++;
      while (stop > line && g_ascii_isspace (stop[-1]))
        stop--;
      if (line < stop && *line == '[')
        {
          const gchar *close = stop - 1;

          while (close > line && *close != ']')
            close--;
          g_free (group);
          group = g_strndup (line + 1, close - line - 1);
          if (!g_hash_table_add (groups, g_strdup (group)))
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                           "%s: group [%s] appears twice; write each group once", origin, group);
              return FALSE;
            }
          g_hash_table_remove_all (keys);
        }
      else if (line < stop && *line != '#' && (eq = memchr (line, '=', stop - line)) != NULL)
        {
          const gchar *key_end = eq;

          while (key_end > line && g_ascii_isspace (key_end[-1]))
            key_end--;
          if (!g_hash_table_add (keys, g_strndup (line, key_end - line)))
            {
              g_autofree gchar *shown = vpush_keyfile_shown_key (line, key_end - line);

              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
                           "%s: [%s] key %s appears twice; write each key once", origin,
                           group != NULL ? group : "", shown);
              return FALSE;
            }
        }
      line = next != NULL ? next + 1 : end;
    }
  return TRUE;
}

/* The number of the line GKeyFile stops at in data, which it can't read: the fewest
 * whole lines it can't read either, found by halving (a line it can read does not depend
 * on the lines after it). */
static guint
first_unreadable_line (const gchar *data, gsize length)
{
  g_autoptr (GArray) ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  guint low = 0, high;

  for (const gchar *p = data; (p = memchr (p, '\n', length - (p - data))) != NULL; p++)
    {
      gsize end = p - data + 1;

      g_array_append_val (ends, end);
    }
  if (ends->len == 0 || g_array_index (ends, gsize, ends->len - 1) != length)
    g_array_append_val (ends, length);
  /* the first `low` lines can be read, the first `high` can't */
  high = ends->len;
  while (high - low > 1)
    {
      guint middle = low + (high - low) / 2;
      g_autoptr (GKeyFile) part = g_key_file_new ();

      if (g_key_file_load_from_data (part, data, g_array_index (ends, gsize, middle - 1),
                                     G_KEY_FILE_KEEP_TRANSLATIONS, NULL))
        low = middle;
      else
        high = middle;
    }
  return high;
}

GKeyFile *
vpush_keyfile_load (const gchar *data, gsize length, const gchar *origin, GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;

  if (length == (gsize)-1)
    length = strlen (data);
  /* an editor's byte order mark, invisible, would make the first group header a line
   * GKeyFile can't read */
  if (length >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      length -= 3;
    }
  /* translations are kept, so that a Key[xx]= is an unknown key like any other and not,
   * depending on the locale vpushd runs in, dropped or kept */
  if (!g_key_file_load_from_data (keyfile, data, length, G_KEY_FILE_KEEP_TRANSLATIONS,
                                  &local_error))
    {
      /* GKeyFile's message quotes the line it can't read, which may be a [Push] Url with
       * its topic, as good as a password: the line's number is said instead */
      g_set_error (error, G_KEY_FILE_ERROR, local_error->code,
                   local_error->code == G_KEY_FILE_ERROR_GROUP_NOT_FOUND
                       ? "%s: line %u comes before the first [group]"
                       : "%s: line %u is not a [group], a key=value line or a # comment, "
                         "or its name is not valid",
                   origin, first_unreadable_line (data, length));
      return NULL;
    }
  if (!check_unique (data, length, origin, error))
    return NULL;
  return g_steal_pointer (&keyfile);
}
