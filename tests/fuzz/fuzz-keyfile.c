/* vpush_keyfile_load(): a configuration or policy file, refused when a group or a key in
 * one group appears twice (GKeyFile would merge them, which can widen a policy rule). */
#include "fuzz-common.h"

#include <string.h>

#include "vpush-keyfile.h"

#define ORIGIN "fuzz.conf"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GKeyFile) keyfile = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) groups = NULL;
  const gchar *text = (const gchar *)data;
  const gchar *end = text + size;
  gsize n_groups = 0;
  gsize n_group_lines = 0;
  gsize n_keys = 0;
  gsize n_key_lines = 0;

  fuzz_init ();
  keyfile = vpush_keyfile_load (text, size, ORIGIN, &error);
  if (keyfile == NULL)
    {
      FUZZ_CHECK (error != NULL && error->domain == G_KEY_FILE_ERROR);
      FUZZ_CHECK_MSG (g_str_has_prefix (error->message, ORIGIN ": "), error->message);
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  /* a byte order mark at the start is skipped, as vpush_keyfile_load() does */
  if (size >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0)
    text += 3;

  /* nothing was merged: GKeyFile holds one group per group line and one key per key line
   * (it took the file, so every line is blank, a comment, a group or a key; it reads each
   * line up to a NUL, and a CR before the LF is not part of it) */
  for (const gchar *line = text; line < end;)
    {
      const gchar *next = memchr (line, '\n', (gsize)(end - line));
      const gchar *stop = next != NULL ? next : end;

      while (line < stop && g_ascii_isspace (*line))
        line++;
      if (line < stop && *line == '[')
        n_group_lines++;
      else if (line < stop && *line != '#' && *line != '\0')
        n_key_lines++;
      line = next != NULL ? next + 1 : end;
    }
  groups = g_key_file_get_groups (keyfile, &n_groups);
  for (gsize i = 0; i < n_groups; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (keyfile, groups[i], NULL, NULL);

      FUZZ_CHECK (keys != NULL);
      n_keys += g_strv_length (keys);
    }
  FUZZ_CHECK (n_groups == n_group_lines);
  FUZZ_CHECK (n_keys == n_key_lines);
  return 0;
}
