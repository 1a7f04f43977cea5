/* vpushctl: the command line, read before GOption reads it. An error names an argument
 * without repeating text that may hold an access token (vpushctl(1)): GOption's own
 * messages quote what they refuse, "--token=…" too. And an option that takes a value is
 * refused when given twice: for a command that approves, guessing which one was meant is
 * wrong, and GOption keeps the last. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "vpushctl.h"

/* what GOption takes for a request of help, when it is enabled */
static const GOptionEntry help_entries[] = {
  { "help", 'h', 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  { "help-all", '?', 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  { NULL },
};

gboolean
vpushctl_may_hold_token (const gchar *word)
{
  /* an enrollment URI, an access token (a JWT), or what can't be shown as it is */
  return !g_utf8_validate (word, -1, NULL) || g_ascii_strncasecmp (word, "vpush:", 6) == 0
         || g_str_has_prefix (word, "eyJ") || strstr (word, "token=") != NULL;
}

static gchar *
place_at (Vpushctl *ctl, int i)
{
  if (ctl->command == NULL)
    return g_strdup_printf ("argument %d", i);
  return g_strdup_printf ("argument %d after “%s”", i, ctl->command);
}

/* The place of word on the command line: the argument that is word, else the first that
 * is word or an option's "--name=word" (GOption copies option values) */
static int
find_word (Vpushctl *ctl, const gchar *word)
{
  int i;

  for (i = 1; i < ctl->line_len && ctl->line[i] != word; i++)
    ;
  for (int j = 1; i == ctl->line_len && j < ctl->line_len; j++)
    {
      const gchar *eq = g_str_has_prefix (ctl->line[j], "--") ? strchr (ctl->line[j], '=') : NULL;

      if (g_str_equal (ctl->line[j], word) || (eq && g_str_equal (eq + 1, word)))
        i = j;
    }
  return i;
}

gchar *
vpushctl_quote (Vpushctl *ctl, const gchar *what, const gchar *word)
{
  g_autofree gchar *place = NULL;

  if (!vpushctl_may_hold_token (word))
    return g_strdup_printf ("%s “%s”", what, word);
  place = place_at (ctl, find_word (ctl, word));
  return g_strdup_printf ("%s (%s)", what, place);
}

int
vpushctl_unexpected (Vpushctl *ctl, const gchar *arg)
{
  g_autofree gchar *place = place_at (ctl, find_word (ctl, arg));

  /* by its place only: any word may be a token given where it does not belong */
  return vpushctl_usage (ctl, "unexpected %s", place);
}

gboolean
vpushctl_option_given (Vpushctl *ctl, const gchar *long_name)
{
  return ctl->given != NULL && g_hash_table_contains (ctl->given, long_name);
}

static const GOptionEntry *
find_entry (const GOptionEntry *const *tables, const gchar *name, gsize len, gchar short_name)
{
  for (; *tables; tables++)
    for (const GOptionEntry *e = *tables; e->long_name; e++)
      if (name ? strlen (e->long_name) == len && strncmp (e->long_name, name, len) == 0
               : e->short_name == short_name)
        return e;
  return NULL;
}

static gboolean
is_help (const GOptionEntry *e)
{
  return e == &help_entries[0] || e == &help_entries[1];
}

static gboolean refuse (Vpushctl *ctl, int i, GError **error, const gchar *format, ...)
    G_GNUC_PRINTF (4, 5);

/* "what (argument 3 after “approve”)" */
static gboolean
refuse (Vpushctl *ctl, int i, GError **error, const gchar *format, ...)
{
  g_autofree gchar *place = place_at (ctl, i);
  g_autofree gchar *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE, "%s (%s)", what, place);
  return FALSE;
}

/* An option's value, as GOption reads it: after "=", else the next argument, whatever it
 * starts with */
static gboolean
take_value (Vpushctl *ctl, const GOptionEntry *e, int argc, char **argv, int *i,
            const gchar *inline_value, GError **error)
{
  g_autofree gchar *name = g_strdup_printf ("--%s", e->long_name);
  const gchar *value = inline_value;
  int at = *i;
  gchar *end = NULL;
  gint64 number;

  if (value == NULL && at + 1 >= argc)
    return refuse (ctl, at, error, "%s needs a value", name);
  if (value == NULL)
    value = argv[++*i];
  if (g_hash_table_contains (ctl->given, e->long_name) && e->arg != G_OPTION_ARG_STRING_ARRAY
      && e->arg != G_OPTION_ARG_FILENAME_ARRAY)
    return refuse (ctl, at, error, "%s is given twice", name);
  if (e->arg == G_OPTION_ARG_INT)
    {
      /* as GOption parses it, without quoting it */
      errno = 0;
      number = g_ascii_strtoll (value, &end, 0);
      if (*value == '\0' || *end != '\0' || errno != 0 || number < G_MININT || number > G_MAXINT)
        return refuse (ctl, at, error, "%s takes a whole number", name);
    }
  return TRUE;
}

gboolean
vpushctl_read_options (Vpushctl *ctl, const GOptionEntry *const *tables, GOptionContext *context,
                       int argc, char **argv, GError **error)
{
  const GOptionEntry *all[8];
  gsize n = 0;

  for (; *tables && n < G_N_ELEMENTS (all) - 2; tables++)
    all[n++] = *tables;
  if (g_option_context_get_help_enabled (context))
    all[n++] = help_entries;
  all[n] = NULL;

  g_free (ctl->line);
  ctl->line = g_memdup2 (argv, sizeof (char *) * (argc + 1));
  ctl->line_len = argc;
  g_clear_pointer (&ctl->given, g_hash_table_unref);
  ctl->given = g_hash_table_new (g_str_hash, g_str_equal);

  for (int i = 1; i < argc; i++)
    {
      const gchar *arg = argv[i];
      const GOptionEntry *e;

      if (arg[0] != '-' || arg[1] == '\0')
        {
          /* the command, before which the global options end */
          if (g_option_context_get_strict_posix (context))
            return TRUE;
          continue;
        }
      if (g_str_equal (arg, "--"))
        return TRUE;
      if (arg[1] == '-')
        {
          const gchar *eq = strchr (arg, '=');
          g_autofree gchar *name = g_strndup (arg, eq ? eq - arg : (gssize)strlen (arg));

          e = find_entry (all, name + 2, strlen (name + 2), 0);
          /* the name is shown, never what follows "=" */
          if (e == NULL && g_utf8_validate (name, -1, NULL))
            return refuse (ctl, i, error, "unknown option %s", name);
          if (e == NULL)
            return refuse (ctl, i, error, "an unknown option");
          if (e->arg == G_OPTION_ARG_NONE && eq)
            return refuse (ctl, i, error, "%s takes no value", name);
          if (e->arg != G_OPTION_ARG_NONE
              && !take_value (ctl, e, argc, argv, &i, eq ? eq + 1 : NULL, error))
            return FALSE;
          g_hash_table_add (ctl->given, (gpointer)e->long_name);
          /* GOption shows the help there and then */
          if (is_help (e))
            return TRUE;
          continue;
        }
      for (const gchar *p = arg + 1; *p; p++)
        {
          gchar name[] = { '-', *p, '\0' };

          e = find_entry (all, NULL, 0, *p);
          if (e == NULL && g_ascii_isgraph (*p))
            return refuse (ctl, i, error, "unknown option %s", name);
          if (e == NULL)
            return refuse (ctl, i, error, "an unknown option");
          /* "-tvalue" is not "-t value" to GOption, and a value can't be told from options */
          if (e->arg != G_OPTION_ARG_NONE && p[1] != '\0')
            return refuse (ctl, i, error, "%s takes a value: give it on its own, as %s VALUE", name,
                           name);
          if (e->arg != G_OPTION_ARG_NONE && !take_value (ctl, e, argc, argv, &i, NULL, error))
            return FALSE;
          g_hash_table_add (ctl->given, (gpointer)e->long_name);
          if (is_help (e))
            return TRUE;
        }
    }
  return TRUE;
}
