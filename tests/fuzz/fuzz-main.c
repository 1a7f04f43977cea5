/* A main() for the harnesses when libFuzzer is not there (gcc, -Dfuzzing=false): runs
 * every file named on the command line, or found in a directory named there, once through
 * LLVMFuzzerTestOneInput and prints TAP. An input that breaks an invariant aborts. */
#include "fuzz-common.h"

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar *const *)a, *(const gchar *const *)b);
}

static gboolean
collect (const gchar *path, GPtrArray *paths, GError **error)
{
  g_autoptr (GDir) dir = NULL;
  const gchar *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_ptr_array_add (paths, g_strdup (path));
      return TRUE;
    }
  dir = g_dir_open (path, 0, error);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (name[0] != '.')
        g_ptr_array_add (paths, g_build_filename (path, name, NULL));
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  gboolean failed = FALSE;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    {
      if (!collect (argv[i], paths, &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
    }
  g_ptr_array_sort (paths, compare_paths);
  if (paths->len == 0)
    {
      printf ("1..0 # SKIP no corpus files\n");
      return 0;
    }

  printf ("1..%u\n", paths->len);
  for (guint i = 0; i < paths->len; i++)
    {
      const gchar *path = g_ptr_array_index (paths, i);
      g_autofree gchar *name = g_path_get_basename (path);
      g_autofree gchar *contents = NULL;
      gsize len = 0;

      if (!g_file_get_contents (path, &contents, &len, &error))
        {
          failed = TRUE;
          printf ("not ok %u - %s\n# %s\n", i + 1, name, error->message);
          g_clear_error (&error);
          continue;
        }
      /* if the input crashes the harness, the log shows which one it was */
      fprintf (stderr, "running %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
      fflush (stdout);
      LLVMFuzzerTestOneInput ((const uint8_t *)contents, len);
      printf ("ok %u - %s\n", i + 1, name);
    }
  return failed ? 1 : 0;
}
