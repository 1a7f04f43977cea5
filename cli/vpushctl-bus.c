/* vpushctl: talking to vpushd, and errors in words. */
#include <stdarg.h>
#include <string.h>

#include "vpush-names.h"
#include "vpushctl.h"

#define STARTING_FAILED "vpushd could not be started"

G_DEFINE_QUARK (vpushctl - error - quark, vpushctl_error)

GOptionContext *
vpushctl_context_new (Vpushctl *ctl, const gchar *parameters, const gchar *summary,
                      const GOptionEntry *entries)
{
  const GOptionEntry common[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl->json, "Print JSON, for scripts", NULL },
    { NULL },
  };
  g_autofree gchar *prgname = g_strdup_printf ("vpushctl %s", ctl->command);
  GOptionContext *context = g_option_context_new (parameters);

  /* so that --help says "vpushctl approve [OPTION…]" */
  g_set_prgname (prgname);
  ctl->entries = entries;
  g_option_context_set_summary (context, summary);
  if (entries)
    g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_main_entries (context, common, NULL);
  return context;
}

void
vpushctl_print_json_error (Vpushctl *ctl, const gchar *name, const gchar *message, int code)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) node = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  if (name)
    json_builder_add_string_value (builder, name);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_set_member_name (builder, "exit_code");
  json_builder_add_int_value (builder, code);
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);
  /* monitor prints one object per line, its error too */
  vpushctl_print_json (node, g_strcmp0 (ctl->command, "monitor") != 0);
}

int
vpushctl_usage (Vpushctl *ctl, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  g_autofree gchar *said = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  /* it may quote an argument or an enrollment URI, text from whoever made it */
  said = vpushctl_escape (message, FALSE, FALSE);
  g_printerr ("vpushctl %s: %s\nTry “vpushctl %s --help”.\n", ctl->command, said, ctl->command);
  if (ctl->json)
    vpushctl_print_json_error (ctl, NULL, message, VPUSHCTL_EXIT_USAGE);
  return VPUSHCTL_EXIT_USAGE;
}

gboolean
vpushctl_argv_wants_json (int argc, char **argv)
{
  for (int i = 1; i < argc && !g_str_equal (argv[i], "--"); i++)
    {
      /* -j alone or among other short options: "-jt" */
      if (g_str_equal (argv[i], "--json")
          || (argv[i][0] == '-' && argv[i][1] != '-' && strchr (argv[i] + 1, 'j') != NULL
              && strspn (argv[i] + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ?")
                     == strlen (argv[i] + 1)))
        return TRUE;
    }
  return FALSE;
}

gboolean
vpushctl_parse (Vpushctl *ctl, GOptionContext *context, int *argc, char ***argv)
{
  static const GOptionEntry common[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
    { NULL },
  };
  const GOptionEntry *const tables[] = { common, ctl->entries, NULL };
  g_autoptr (GError) error = NULL;

  /* Arguments are taken as UTF-8 whatever the locale says (options are read as bytes, not
   * converted from it): in a C locale GOption would refuse "Küche" without naming the
   * option, and the bus carries UTF-8 only. */
  for (int i = 1; i < *argc; i++)
    {
      if (!g_utf8_validate ((*argv)[i], -1, NULL))
        {
          ctl->json = ctl->json || vpushctl_argv_wants_json (*argc, *argv);
          /* by its place only: it may be an enrollment URI, its token in it */
          vpushctl_usage (ctl, "argument %d after “%s” is not UTF-8 text", i, (*argv)[0]);
          return FALSE;
        }
    }
  if (!vpushctl_read_options (ctl, tables, context, *argc, *argv, &error))
    {
      ctl->json = ctl->json || vpushctl_argv_wants_json (*argc, *argv);
      vpushctl_usage (ctl, "%s", error->message);
      return FALSE;
    }
  if (g_option_context_parse (context, argc, argv, &error))
    {
      /* GOption leaves "--" in when an argument after it starts with "-": what follows
       * it is positional all the same (a factor named "-kiosk") */
      for (int i = 1; i < *argc; i++)
        {
          if (g_str_equal ((*argv)[i], "--"))
            {
              memmove (*argv + i, *argv + i + 1, (gsize)(*argc - i) * sizeof (gchar *));
              (*argc)--;
              break;
            }
        }
      return TRUE;
    }
  /* GOption takes back what it set when it fails, --json too: a script that gave it
   * still gets the error as JSON. Its message is not repeated, as it quotes what it
   * refuses; vpushctl_read_options() has refused what it would. */
  ctl->json = ctl->json || vpushctl_argv_wants_json (*argc, *argv);
  vpushctl_usage (ctl, "the options could not be read");
  return FALSE;
}

static const struct
{
  const gchar *name;
  const gchar *words;
  VpushctlExit code;
} vpush_errors[] = {
  { VPUSH_DBUS_ERROR_NOT_FOUND, "not found", VPUSHCTL_EXIT_NOT_FOUND },
  { VPUSH_DBUS_ERROR_AMBIGUOUS, "ambiguous", VPUSHCTL_EXIT_AMBIGUOUS },
  { VPUSH_DBUS_ERROR_EXPIRED, "the challenge has expired", VPUSHCTL_EXIT_EXPIRED },
  { VPUSH_DBUS_ERROR_ALREADY_RESPONDED, "the challenge was already answered",
    VPUSHCTL_EXIT_ALREADY_RESPONDED },
  { VPUSH_DBUS_ERROR_KEYRING_LOCKED, "the keyring is locked", VPUSHCTL_EXIT_KEYRING_LOCKED },
  { VPUSH_DBUS_ERROR_NETWORK, "the Verify API could not be reached", VPUSHCTL_EXIT_NETWORK },
  { VPUSH_DBUS_ERROR_API, "the Verify API refused the request", VPUSHCTL_EXIT_FAILED },
  { VPUSH_DBUS_ERROR_FAILED, "failed", VPUSHCTL_EXIT_FAILED },
  /* its message says where the reason is */
  { VPUSH_DBUS_ERROR_START_FAILED, STARTING_FAILED, VPUSHCTL_EXIT_UNREACHABLE },
};

/* Words and exit code for the errors vpushctl finds itself; the name is the daemon's
 * error of the same meaning, for --json. */
static void
classify_local (const GError *error, const gchar **name, const gchar **words, int *code)
{
  *code = error->code;
  switch (error->code)
    {
    case VPUSHCTL_EXIT_NOT_FOUND:
      *name = VPUSH_DBUS_ERROR_NOT_FOUND;
      *words = "not found";
      break;
    case VPUSHCTL_EXIT_AMBIGUOUS:
      *name = VPUSH_DBUS_ERROR_AMBIGUOUS;
      *words = "ambiguous";
      break;
    case VPUSHCTL_EXIT_UNREACHABLE:
      *words = "vpushd is not reachable";
      break;
    case VPUSHCTL_EXIT_USAGE:
      *words = "usage";
      break;
    default:
      *words = "failed";
      break;
    }
}

static void
classify_dbus (const GError *error, const gchar **words, int *code)
{
  *code = VPUSHCTL_EXIT_UNREACHABLE;
  switch (error->code)
    {
    case G_DBUS_ERROR_ACCESS_DENIED:
      *words = "not allowed by the policy";
      *code = VPUSHCTL_EXIT_ACCESS_DENIED;
      break;
    case G_DBUS_ERROR_INVALID_ARGS:
      *words = "invalid argument";
      *code = VPUSHCTL_EXIT_USAGE;
      break;
    case G_DBUS_ERROR_UNKNOWN_OBJECT:
    case G_DBUS_ERROR_UNKNOWN_INTERFACE:
      /* the factor or challenge went away since it was looked up */
      *words = "no such object";
      *code = VPUSHCTL_EXIT_NOT_FOUND;
      break;
    case G_DBUS_ERROR_SERVICE_UNKNOWN:
      *words = "vpushd is not running and can't be started";
      break;
    case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
      *words = "vpushd is not running";
      break;
    case G_DBUS_ERROR_NO_REPLY:
    case G_DBUS_ERROR_TIMEOUT:
    case G_DBUS_ERROR_TIMED_OUT:
      *words = "vpushd did not answer";
      break;
    case G_DBUS_ERROR_NO_SERVER:
    case G_DBUS_ERROR_DISCONNECTED:
      *words = "no session bus";
      break;
    case G_DBUS_ERROR_LIMITS_EXCEEDED:
      /* one of vpushd's caps: on calls under way, where the same call may pass in a
       * moment, or on the factors it holds */
      *words = "vpushd is at one of its limits";
      *code = VPUSHCTL_EXIT_BUSY;
      break;
    default:
      if (error->code >= G_DBUS_ERROR_SPAWN_EXEC_FAILED
          && error->code <= G_DBUS_ERROR_SPAWN_NO_MEMORY)
        *words = STARTING_FAILED;
      else
        {
          *words = "D-Bus error";
          *code = VPUSHCTL_EXIT_FAILED;
        }
      break;
    }
}

int
vpushctl_fail (Vpushctl *ctl, const GError *error)
{
  g_autofree gchar *remote = g_dbus_error_get_remote_error (error);
  g_autoptr (GError) stripped = g_error_copy (error);
  g_autofree gchar *said = NULL;
  const gchar *name = remote;
  const gchar *words = NULL;
  int code = VPUSHCTL_EXIT_FAILED;

  g_dbus_error_strip_remote_error (stripped);
  if (error->domain == VPUSHCTL_ERROR)
    classify_local (error, &name, &words, &code);
  for (gsize i = 0; words == NULL && remote && i < G_N_ELEMENTS (vpush_errors); i++)
    if (g_str_equal (remote, vpush_errors[i].name))
      {
        words = vpush_errors[i].words;
        code = vpush_errors[i].code;
      }
  if (words == NULL && remote && g_str_has_prefix (remote, VPUSH_SYSTEMD_ERROR_PREFIX))
    {
      /* activation through systemd failed */
      words = STARTING_FAILED;
      code = VPUSHCTL_EXIT_UNREACHABLE;
    }
  if (words == NULL && error->domain == G_DBUS_ERROR)
    classify_dbus (error, &words, &code);
  if (words == NULL && error->domain == G_IO_ERROR && remote == NULL)
    {
      words = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? "vpushd did not answer"
                                                                        : "no session bus";
      code = VPUSHCTL_EXIT_UNREACHABLE;
    }
  if (words == NULL)
    words = "failed";

  said = vpushctl_escape (stripped->message, FALSE, FALSE);
  g_printerr ("vpushctl %s: %s: %s\n", ctl->command, words, said);
  /* the bus says only that it exited: vpushd said why on its stderr */
  if (g_str_equal (words, STARTING_FAILED)
      && g_strcmp0 (remote, VPUSH_DBUS_ERROR_START_FAILED) != 0)
    g_printerr ("vpushctl %s: vpushd's reason is in its log: journalctl --user -u vpushd, or "
                "the session bus's log if systemd did not start it\n",
                ctl->command);
  if (ctl->json)
    vpushctl_print_json_error (ctl, name, stripped->message, code);
  return code;
}

GError *
vpushctl_no_bus_error (const GError *error)
{
  g_autofree gchar *socket = g_build_filename (g_get_user_runtime_dir (), "bus", NULL);

  /* GLib's reason speaks of X11 when it finds no address: say where one is looked for */
  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") == NULL && !g_file_test (socket, G_FILE_TEST_EXISTS))
    return g_error_new (VPUSHCTL_ERROR, VPUSHCTL_EXIT_UNREACHABLE,
                        "no session bus: %s (DBUS_SESSION_BUS_ADDRESS is not set, and there "
                        "is no bus at $XDG_RUNTIME_DIR/bus)",
                        error->message);
  return g_error_new (VPUSHCTL_ERROR, VPUSHCTL_EXIT_UNREACHABLE, "no session bus: %s",
                      error->message);
}

static GDBusConnection *
get_bus (Vpushctl *ctl, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (ctl->bus == NULL)
    {
      ctl->bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &local_error);
      if (ctl->bus == NULL)
        g_propagate_error (error, vpushctl_no_bus_error (local_error));
    }
  return ctl->bus;
}

GVariant *
vpushctl_call (Vpushctl *ctl, const gchar *path, const gchar *interface, const gchar *method,
               GVariant *parameters, const GVariantType *reply_type, gint timeout_ms,
               GError **error)
{
  GDBusConnection *bus = get_bus (ctl, error);

  if (bus == NULL)
    {
      if (parameters)
        g_variant_unref (g_variant_ref_sink (parameters));
      return NULL;
    }
  return g_dbus_connection_call_sync (bus, VPUSH_DBUS_NAME, path, interface, method, parameters,
                                      reply_type, G_DBUS_CALL_FLAGS_NONE, timeout_ms, NULL, error);
}

GVariant *
vpushctl_get_all (Vpushctl *ctl, const gchar *path, const gchar *interface, GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  reply = vpushctl_call (ctl, path, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET_ALL,
                         g_variant_new ("(s)", interface), G_VARIANT_TYPE ("(a{sv})"), -1, error);
  return reply ? g_variant_get_child_value (reply, 0) : NULL;
}

GVariant *
vpushctl_get_objects (Vpushctl *ctl, GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  reply = vpushctl_call (ctl, VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                         VPUSH_DBUS_GET_MANAGED_OBJECTS, NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                         -1, error);
  return reply ? g_variant_get_child_value (reply, 0) : NULL;
}

/* Factors and challenges alike: Challenge has a CreatedAt of the same name */
static gint
compare_objects (gconstpointer a, gconstpointer b)
{
  GVariant *va = *(GVariant **)a;
  GVariant *vb = *(GVariant **)b;
  g_autoptr (GVariant) pa = g_variant_get_child_value (va, 1);
  g_autoptr (GVariant) pb = g_variant_get_child_value (vb, 1);
  const gchar *path_a = NULL;
  const gchar *path_b = NULL;
  gint cmp;

  cmp = g_strcmp0 (vpushctl_prop_string (pa, VPUSH_DBUS_FACTOR_CREATED_AT),
                   vpushctl_prop_string (pb, VPUSH_DBUS_FACTOR_CREATED_AT));
  if (cmp != 0)
    return cmp;
  g_variant_get_child (va, 0, "&o", &path_a);
  g_variant_get_child (vb, 0, "&o", &path_b);
  return g_strcmp0 (path_a, path_b);
}

GPtrArray *
vpushctl_list_objects (Vpushctl *ctl, const gchar *interface, GError **error)
{
  g_autoptr (GVariant) objects = vpushctl_get_objects (ctl, error);
  g_autoptr (GPtrArray) list = NULL;
  GVariantIter iter;
  const gchar *path;
  GVariant *interfaces;

  if (objects == NULL)
    return NULL;
  list = g_ptr_array_new_with_free_func ((GDestroyNotify)g_variant_unref);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr (GVariant) props
          = g_variant_lookup_value (interfaces, interface, G_VARIANT_TYPE_VARDICT);

      if (props)
        g_ptr_array_add (list, g_variant_ref_sink (g_variant_new ("(o@a{sv})", path, props)));
      g_variant_unref (interfaces);
    }
  g_ptr_array_sort (list, compare_objects);
  return g_steal_pointer (&list);
}

gboolean
vpushctl_resolve_factor (Vpushctl *ctl, const gchar *ref, gchar **out_path, gchar **out_sid,
                         GError **error)
{
  g_autoptr (GPtrArray) factors = vpushctl_list_objects (ctl, VPUSH_DBUS_FACTOR_IFACE, error);
  GVariant *exact = NULL;
  GVariant *named = NULL;
  guint n_named = 0;
  const gchar *path;
  g_autoptr (GVariant) props = NULL;

  if (factors == NULL)
    return FALSE;
  for (guint i = 0; exact == NULL && i < factors->len; i++)
    {
      g_autoptr (GVariant) p = NULL;

      g_variant_get (factors->pdata[i], "(&o@a{sv})", &path, &p);
      if (g_str_equal (ref, path)
          || g_strcmp0 (ref, vpushctl_prop_string (p, VPUSH_DBUS_FACTOR_SID)) == 0)
        exact = factors->pdata[i];
      else if (g_strcmp0 (ref, vpushctl_prop_string (p, VPUSH_DBUS_FACTOR_FRIENDLY_NAME)) == 0
               && n_named++ == 0)
        named = factors->pdata[i];
    }
  /* a sid or path wins over a friendly name that happens to look like one */
  if (exact == NULL && n_named > 1)
    {
      g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_AMBIGUOUS,
                   "%u factors are named “%s”: name the factor by its sid", n_named, ref);
      return FALSE;
    }
  if (exact == NULL && named == NULL)
    {
      g_autofree gchar *what = vpushctl_quote (ctl, "no factor", ref);

      g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_NOT_FOUND,
                   "%s; “vpushctl factors” lists them", what);
      return FALSE;
    }

  g_variant_get (exact ? exact : named, "(&o@a{sv})", &path, &props);
  if (out_path)
    *out_path = g_strdup (path);
  if (out_sid)
    *out_sid = g_strdup (vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_SID));
  return TRUE;
}
