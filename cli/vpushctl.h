/* vpushctl: a thin client of vpushd's D-Bus API (docs/dbus-api.md). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Exit codes, as vpushctl(1) documents them. */
typedef enum
{
  VPUSHCTL_EXIT_OK = 0,
  VPUSHCTL_EXIT_FAILED = 1,
  VPUSHCTL_EXIT_USAGE = 2,
  VPUSHCTL_EXIT_UNREACHABLE = 3,
  VPUSHCTL_EXIT_NOT_FOUND = 4,
  VPUSHCTL_EXIT_AMBIGUOUS = 5,
  VPUSHCTL_EXIT_EXPIRED = 6,
  VPUSHCTL_EXIT_ALREADY_RESPONDED = 7,
  VPUSHCTL_EXIT_ACCESS_DENIED = 8,
  VPUSHCTL_EXIT_KEYRING_LOCKED = 9,
  VPUSHCTL_EXIT_NETWORK = 10,
  VPUSHCTL_EXIT_BUSY = 11,
  VPUSHCTL_EXIT_OUTPUT = 12,
} VpushctlExit;

/* Errors found before asking the daemon; the code is the exit code. */
#define VPUSHCTL_ERROR (vpushctl_error_quark ())
GQuark vpushctl_error_quark (void);

/* Calls that reach the Verify API wait as long as vpushd takes: it bounds each by its own
 * timeouts ([Verify] RetryTimeoutMs alone may be 10 minutes), and a vpushd that stops or
 * is restarted by its watchdog ends the call at once. A bound here could report "no
 * answer" for a call vpushd then completes. */
#define VPUSHCTL_API_CALL_TIMEOUT_MS G_MAXINT

typedef struct
{
  const gchar *command;
  gboolean json;
  GDBusConnection *bus;
  /* the command's options, for vpushctl_parse() */
  const GOptionEntry *entries;
  /* the command line before GOption took the options out, as errors name places in it */
  char **line;
  int line_len;
  /* the long names of the options given */
  GHashTable *given;
} Vpushctl;

void vpushctl_clear (Vpushctl *ctl);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Vpushctl, vpushctl_clear)

typedef int (*VpushctlCommandFunc) (Vpushctl *ctl, int argc, char **argv);

/* vpushctl-args.c: an error names an argument by its place, never repeating what may hold
 * an access token (vpushctl(1)) */
/* Whether word may be or hold a token: not UTF-8, an enrollment URI, a JWT, "token=" */
gboolean vpushctl_may_hold_token (const gchar *word);
/* "what “word”", or "what (argument 2 after “delete”)" when word may hold a token; word is
 * an argument of the command line, or an option's value */
gchar *vpushctl_quote (Vpushctl *ctl, const gchar *what, const gchar *word);
/* The usage error for arg, an argument the command does not take, named by its place */
int vpushctl_unexpected (Vpushctl *ctl, const gchar *arg);
/* Reads argv's options as GOption will (tables: NULL-terminated, context for its help and
 * strict POSIX settings) and refuses, naming an option by its name and place only, what
 * GOption would refuse, a value not given in its own argument ("-tvalue"), and an option
 * with a value given twice (but for arrays). Records the line and the options given. */
gboolean vpushctl_read_options (Vpushctl *ctl, const GOptionEntry *const *tables,
                                GOptionContext *context, int argc, char **argv, GError **error);
/* Whether the option of this long name was given, its value or not */
gboolean vpushctl_option_given (Vpushctl *ctl, const gchar *long_name);

/* vpushctl-bus.c */
GOptionContext *vpushctl_context_new (Vpushctl *ctl, const gchar *parameters, const gchar *summary,
                                      const GOptionEntry *entries);
int vpushctl_usage (Vpushctl *ctl, const gchar *format, ...) G_GNUC_PRINTF (2, 3);
/* Whether argv (up to a "--") holds -j or --json */
gboolean vpushctl_argv_wants_json (int argc, char **argv);
/* g_option_context_parse(); on failure prints the usage error (as JSON too when -j or
 * --json is among the arguments) and returns FALSE: exit with VPUSHCTL_EXIT_USAGE. */
gboolean vpushctl_parse (Vpushctl *ctl, GOptionContext *context, int *argc, char ***argv);
/* {"error": {"name", "message", "exit_code"}} on standard output (name nullable) */
void vpushctl_print_json_error (Vpushctl *ctl, const gchar *name, const gchar *message, int code);
/* Prints the error in words (and as JSON with --json); returns the exit code. */
int vpushctl_fail (Vpushctl *ctl, const GError *error);
/* The error for a session bus that could not be had, g_bus_get_sync()'s given */
GError *vpushctl_no_bus_error (const GError *error);
GVariant *vpushctl_call (Vpushctl *ctl, const gchar *path, const gchar *interface,
                         const gchar *method, GVariant *parameters, const GVariantType *reply_type,
                         gint timeout_ms, GError **error);
/* a{sv} of every property of interface on path */
GVariant *vpushctl_get_all (Vpushctl *ctl, const gchar *path, const gchar *interface,
                            GError **error);
/* a{oa{sa{sv}}} */
GVariant *vpushctl_get_objects (Vpushctl *ctl, GError **error);
/* The a{sv} properties of every object with interface, sorted by CreatedAt then path;
 * each item is a GVariant (oa{sv}). */
GPtrArray *vpushctl_list_objects (Vpushctl *ctl, const gchar *interface, GError **error);
/* ref: a factor sid, object path or friendly name. */
gboolean vpushctl_resolve_factor (Vpushctl *ctl, const gchar *ref, gchar **out_path,
                                  gchar **out_sid, GError **error);

/* vpushctl-output.c */
gchar *vpushctl_snake_case (const gchar *name);
JsonNode *vpushctl_variant_to_json (GVariant *value);
/* An object of the properties with snake_case keys, plus object_path when path is set. */
JsonNode *vpushctl_props_to_json (const gchar *path, GVariant *props);
void vpushctl_print_json (JsonNode *node, gboolean pretty);
const gchar *vpushctl_prop_string (GVariant *props, const gchar *name);
const gchar *vpushctl_path_basename (const gchar *path);
/* label: value lines, each on one line (see vpushctl_escape) */
void vpushctl_print_fields (GVariant *fields, const gchar *indent);
/* Text from vpushd, the Verify API or whoever made a challenge, made safe for a terminal:
 * control characters (but newline and tab when keep_newlines) and bidirectional controls
 * are escaped as \xNN, or \uNNNN for json (valid inside a JSON string), so that no
 * escape sequence reaches the terminal and, without keep_newlines, no text forges a line.
 * A byte that is not UTF-8 is escaped as \xNN, and (but for json) a backslash as \\, so
 * that the text's own "\x1b" is not taken for an escape. */
gchar *vpushctl_escape (const gchar *text, gboolean keep_newlines, gboolean json);
/* The property name of props on one line (vpushctl_escape); *buf holds it, NULL if none. */
const gchar *vpushctl_one_line (GVariant *props, const gchar *name, gchar **buf);
/* Everything vpushctl prints goes through vpushctl_escape (keeping newlines and tabs),
 * as JSON escapes while *json is set), but for backslashes: what it prints may hold
 * vpushctl_escape's escapes already, so text from outside is escaped before printing. */
void vpushctl_output_init (const gboolean *json);

/* the commands */
int vpushctl_cmd_status (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_factors (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_challenges (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_enroll (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_approve (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_deny (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_refresh (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_verify (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_update (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_delete (Vpushctl *ctl, int argc, char **argv);
int vpushctl_cmd_monitor (Vpushctl *ctl, int argc, char **argv);

G_END_DECLS
