/* vpushctl: global options and the command table. */
#include <locale.h>

#include "vpushctl.h"

static const struct
{
  const gchar *name;
  VpushctlCommandFunc func;
  const gchar *summary;
} commands[] = {
  { "status", vpushctl_cmd_status, "Show vpushd's version and state" },
  { "enroll", vpushctl_cmd_enroll, "Enroll this desktop as a push factor" },
  { "factors", vpushctl_cmd_factors, "List the factors" },
  { "list", vpushctl_cmd_factors, "The same as factors" },
  { "challenges", vpushctl_cmd_challenges, "List pending challenges, or past ones" },
  { "approve", vpushctl_cmd_approve, "Approve a pending challenge" },
  { "deny", vpushctl_cmd_deny, "Deny a pending challenge" },
  { "verify", vpushctl_cmd_verify, "Verify an unverified factor" },
  { "update", vpushctl_cmd_update, "Rename a factor or change its push URL" },
  { "delete", vpushctl_cmd_delete, "Delete a factor here and at the Verify API" },
  { "refresh", vpushctl_cmd_refresh, "Poll the Verify API for challenges now" },
  { "monitor", vpushctl_cmd_monitor, "Print events as they happen, until interrupted" },
};

static gchar *
commands_description (void)
{
  GString *text = g_string_new ("Commands:\n");

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (text, "  %-12s%s\n", commands[i].name, commands[i].summary);
  g_string_append_printf (text, "  %-12s%s\n", "help", "Show this help, or a command's options");
  g_string_append (text, "\nRun “vpushctl help COMMAND” for the options of a command.\n"
                         "Exit codes: 0 done, 1 the daemon reported an error, 2 usage,\n"
                         "3 vpushd not reachable, 4 not found, 5 ambiguous, 6 expired,\n"
                         "7 already answered, 8 access denied, 9 keyring locked,\n"
                         "10 Verify API unreachable, 11 at a limit, 12 standard output\n"
                         "not written. See vpushctl(1).");
  return g_string_free (text, FALSE);
}

/* An error before any command runs: in words on stderr, and as JSON with --json */
static int
global_usage (Vpushctl *ctl, const gchar *message, const gchar *more)
{
  /* the message may quote an argument, pasted from a mail or a QR code */
  g_autofree gchar *said = vpushctl_escape (message, FALSE, FALSE);

  g_printerr ("vpushctl: %s\n%s", said, more);
  if (ctl->json)
    vpushctl_print_json_error (ctl, NULL, message, VPUSHCTL_EXIT_USAGE);
  return VPUSHCTL_EXIT_USAGE;
}

/* "unknown command “word”", unless word may hold a token */
static gchar *
unknown_command (Vpushctl *ctl, const gchar *word)
{
  g_autofree gchar *what = vpushctl_quote (ctl, "unknown command", word);

  if (g_ascii_strncasecmp (word, "vpush:", 6) == 0)
    return g_strdup_printf ("%s: an enrollment URI goes after “enroll”", what);
  return g_steal_pointer (&what);
}

void
vpushctl_clear (Vpushctl *ctl)
{
  g_clear_object (&ctl->bus);
  g_clear_pointer (&ctl->line, g_free);
  g_clear_pointer (&ctl->given, g_hash_table_unref);
}

/* "help [COMMAND]" takes -j, --json, -h and --help as every command does; "help approve"
 * is "approve --help", as in git and systemctl, and "help --help" this help */
static int
cmd_help (Vpushctl *ctl, GOptionContext *global, int argc, char **argv)
{
  gboolean help = FALSE;
  const GOptionEntry entries[] = {
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "The same as “vpushctl help”", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autofree gchar *text = NULL;

  context = vpushctl_context_new (ctl, "[COMMAND]", "Show the commands, or a command's options.",
                                  entries);
  g_option_context_set_help_enabled (context, FALSE);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 2)
    return vpushctl_unexpected (ctl, argv[2]);
  for (gsize i = 0; argc == 2 && i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      {
        char *command_argv[] = { argv[1], (char *)"--help", NULL };

        ctl->command = commands[i].name;
        return commands[i].func (ctl, 2, command_argv);
      }
  if (argc == 2 && !g_str_equal (argv[1], "help"))
    {
      g_autofree gchar *message = unknown_command (ctl, argv[1]);

      return vpushctl_usage (ctl, "%s", message);
    }
  g_set_prgname ("vpushctl");
  text = g_option_context_get_help (global, TRUE, NULL);
  g_print ("%s", text);
  return VPUSHCTL_EXIT_OK;
}

int
main (int argc, char **argv)
{
  g_auto (Vpushctl) ctl = { 0 };
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl.json, "Print JSON, for scripts", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };
  const GOptionEntry *const tables[] = { entries, NULL };
  g_autoptr (GOptionContext) context = NULL;
  g_autofree gchar *description = NULL;
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");
  vpushctl_output_init (&ctl.json);
  g_set_prgname ("vpushctl");
  context = g_option_context_new ("COMMAND [ARGUMENTS…]");
  /* options after the command belong to the command */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_summary (context,
                                "Control vpushd, the Twilio Verify Push factor of this desktop.");
  description = commands_description ();
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  /* GOption's own messages quote what they refuse, which may hold a token */
  if (!vpushctl_read_options (&ctl, tables, context, argc, argv, &error))
    {
      ctl.json = vpushctl_argv_wants_json (argc, argv);
      return global_usage (&ctl, error->message, "Try “vpushctl --help”.\n");
    }
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      /* GOption takes back what it set when it fails */
      ctl.json = vpushctl_argv_wants_json (argc, argv);
      return global_usage (&ctl, "the options could not be read", "Try “vpushctl --help”.\n");
    }
  if (version)
    {
      g_print ("vpushctl %s\n", VPUSH_VERSION);
      return VPUSHCTL_EXIT_OK;
    }
  if (argc < 2)
    {
      g_autofree gchar *help = g_option_context_get_help (context, TRUE, NULL);

      return global_usage (&ctl, "which command?", help);
    }
  if (g_str_equal (argv[1], "help"))
    {
      ctl.command = "help";
      return cmd_help (&ctl, context, argc - 1, argv + 1);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      {
        ctl.command = commands[i].name;
        return commands[i].func (&ctl, argc - 1, argv + 1);
      }

  {
    g_autofree gchar *message = unknown_command (&ctl, argv[1]);

    /* -j and --json may follow a command, a mistyped one too */
    ctl.json = ctl.json || vpushctl_argv_wants_json (argc, argv);
    return global_usage (&ctl, message, "Try “vpushctl --help”.\n");
  }
}
