/* vpushd: options, config, logging, then load the factors and own the bus name. */
#include <glib-unix.h>
#include <signal.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "vpush-bouncer.h"
#include "vpush-bus-quota.h"
#include "vpush-config.h"
#include "vpush-keystore.h"
#include "vpush-log.h"
#include "vpush-manager.h"
#include "vpush-names.h"
#include "vpush-start-failed.h"
#include "vpush-xdg.h"

typedef struct
{
  GMainLoop *loop;
  VpushManager *manager;
  gboolean replace;
  gboolean owned; /* the name was ours at some point */
  int exit_code;
  GBusNameOwnerFlags owner_flags;
  guint owner_id;
  guint watchdog_id;
  guint status_id;
  gchar *status;     /* the last STATUS= sent */
  int failed_status; /* of a start that failed: its calls are answered, then it exits */
  VpushStartFailed *start_failed;
} Daemon;

static gboolean
on_signal (gpointer user_data)
{
  Daemon *d = user_data;

  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_STOPPING, NULL, NULL, NULL, "stopping");
  sd_notify (0, "STOPPING=1\nSTATUS=stopping");
  g_main_loop_quit (d->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup (gpointer user_data)
{
  vpush_bouncer_reload (user_data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static void on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data);
static void on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data);

/* The connection, made in a worker thread while the configuration, policy and factors
 * loaded (this runs from the main loop, after they did): the objects are exported, then
 * the name is asked for. */
static void
on_bus (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr (GDBusConnection) connection = NULL;
  g_autoptr (GError) error = NULL;

  connection = g_bus_get_finish (result, &error);
  if (d->failed_status != 0)
    {
      if (connection == NULL)
        g_main_loop_quit (d->loop);
      else
        d->start_failed = vpush_start_failed_new (connection, d->failed_status, d->loop);
      return;
    }
  if (connection == NULL)
    {
      g_warning ("no connection to the session bus (%s), so no %s", error->message,
                 VPUSH_DBUS_NAME);
      d->exit_code = EXIT_FAILURE;
      g_main_loop_quit (d->loop);
      return;
    }
  vpush_bus_quota_install (connection);
  if (!vpush_manager_export (d->manager, connection, &error))
    {
      g_critical ("could not export the manager: %s", error->message);
      d->exit_code = EXIT_FAILURE;
      g_main_loop_quit (d->loop);
      return;
    }
  d->owner_id = g_bus_own_name_on_connection (connection, VPUSH_DBUS_NAME, d->owner_flags,
                                              on_name_acquired, on_name_lost, d, NULL);
}

/* What systemctl --user status shows: "3 factors, push connected",
 * "1 factor, keyring locked, no push channel". */
static gchar *
status_text (VpushManager *manager)
{
  VpushDBusManager *skeleton = vpush_manager_get_skeleton (manager);
  const gchar *state = vpush_dbus_manager_get_state (skeleton);
  const gchar *push = vpush_dbus_manager_get_push_state (skeleton);
  guint n = vpush_manager_get_n_factors (manager);
  GString *text = g_string_new (NULL);

  g_string_append_printf (text, "%u factor%s", n, n == 1 ? "" : "s");
  if (g_strcmp0 (state, VPUSH_STATE_READY) != 0)
    {
      g_autofree gchar *words = g_strdelimit (g_strdup (state), "-", ' ');

      g_string_append_printf (text, ", %s", words);
    }
  if (g_strcmp0 (push, VPUSH_PUSH_STATE_DISABLED) == 0)
    g_string_append (text, ", no push channel");
  else
    g_string_append_printf (text, ", push %s", push);
  return g_string_free (text, FALSE);
}

static gboolean
update_status (gpointer user_data)
{
  Daemon *d = user_data;
  g_autofree gchar *text = status_text (d->manager);

  d->status_id = 0;
  if (g_strcmp0 (text, d->status) != 0)
    {
      sd_notifyf (0, "STATUS=%s", text);
      g_free (d->status);
      d->status = g_steal_pointer (&text);
    }
  return G_SOURCE_REMOVE;
}

/* From an idle, so that a burst of changes is sent once. */
static void
schedule_status (Daemon *d)
{
  if (d->status_id == 0)
    d->status_id = g_idle_add (update_status, d);
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  Daemon *d = user_data;
  guint n = vpush_manager_get_n_factors (d->manager);

  d->owned = TRUE;
  /* Only queued here: connections and TLS set-up happen from the main loop, after
   * READY=1. Queued first, so that READY=1's STATUS= names the push streams. */
  vpush_manager_start_network (d->manager);
  d->status = status_text (d->manager);
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_READY, NULL, NULL, NULL,
                   "ready on the session bus as %s, %u factor%s, state %s", name, n,
                   n == 1 ? "" : "s", vpush_manager_get_state (d->manager));
  sd_notifyf (0, "READY=1\nSTATUS=%s", d->status);

  g_signal_connect_swapped (vpush_manager_get_skeleton (d->manager), "notify::state",
                            G_CALLBACK (schedule_status), d);
  g_signal_connect_swapped (vpush_manager_get_skeleton (d->manager), "notify::push-state",
                            G_CALLBACK (schedule_status), d);
  g_signal_connect_swapped (d->manager, "factors-changed", G_CALLBACK (schedule_status), d);
}

static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  Daemon *d = user_data;

  if (connection == NULL)
    g_warning ("the connection to the session bus closed, so no %s", name);
  else if (d->owned)
    g_warning ("lost the name %s on the session bus", name);
  else if (d->replace)
    g_warning ("%s is owned by another process on the session bus, which does not allow "
               "replacement: --replace replaces only an instance started with --replace",
               name);
  else
    g_warning ("%s is owned by another process on the session bus (another vpushd?)", name);
  d->exit_code = EXIT_FAILURE;
  g_main_loop_quit (d->loop);
}

static gchar *
default_state_dir (void)
{
  const gchar *dir = g_getenv ("STATE_DIRECTORY");
  g_autofree gchar *state_home = NULL;

  /* systemd may pass several, colon separated: the first is ours. systemd's are absolute;
   * a relative one is not systemd's, and would depend on where vpushd was started. */
  if (dir && *dir)
    {
      g_auto (GStrv) dirs = g_strsplit (dir, ":", 2);

      if (g_path_is_absolute (dirs[0]))
        return g_strdup (dirs[0]);
      g_warning ("STATE_DIRECTORY=%s is ignored: systemd sets only absolute paths there", dir);
    }
  state_home = vpush_xdg_dir (g_get_user_state_dir (), "XDG_STATE_HOME", ".local/state");
  return g_build_filename (state_home, "vpush", NULL);
}

/* Every call that waits holds its caller's pidfd, every request a socket: a soft limit of
 * 1024 (a user service's default) can be reached by the sum of the caps on calls under way
 * and what a hostile API can make vpushd hold open. Nothing here uses select(), so the soft
 * limit is raised towards the hard one, as systemd recommends. The unit sets both with
 * LimitNOFILE=, so this changes nothing there; it covers other starts. */
#define FD_LIMIT 16384

static void
raise_fd_limit (void)
{
  struct rlimit fds;

  if (getrlimit (RLIMIT_NOFILE, &fds) < 0 || fds.rlim_cur >= FD_LIMIT
      || fds.rlim_cur >= fds.rlim_max)
    return;
  fds.rlim_cur = MIN (fds.rlim_max, FD_LIMIT);
  setrlimit (RLIMIT_NOFILE, &fds);
}

/* The most a vpushd that could not start waits to answer the calls that started it: the
 * bus, or the name, may never answer */
#define START_FAILED_WAIT_MS 5000

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

/* A start that failed once the connection was asked for: vpushd takes the name to answer
 * the calls that started it (vpush-start-failed.h), then exits with status all the same. */
static int
start_failed (Daemon *d, int status)
{
  guint timeout_id = g_timeout_add (START_FAILED_WAIT_MS, quit_loop, d->loop);

  d->failed_status = status;
  g_main_loop_run (d->loop);
  g_source_remove (timeout_id);
  g_clear_pointer (&d->start_failed, vpush_start_failed_free);
  return status;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *config_path = NULL;
  g_autofree gchar *state_dir = NULL;
  g_autofree gchar *policy_dir = NULL;
  g_autoptr (VpushBouncer) bouncer = NULL;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  Daemon d = { .owner_flags = G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  /* freed on every way out, the early ones too */
  g_autoptr (GMainLoop) loop = NULL;
  guint64 watchdog_usec = 0;
  guint sighup_id;
  const GOptionEntry options[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file", "FILE" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "State directory", "DIR" },
    { "policy-dir", 0, 0, G_OPTION_ARG_FILENAME, &policy_dir,
      "Read the policy from DIR only, not from the system directories (tests)", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print debug output", NULL },
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &d.replace,
      "Replace a running instance (development only)", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };

  /* libcurl writes the TLS session secrets to the file this names, which would let
   * anyone with that file read the access tokens and device JWTs vpushd sends; read
   * when curl sets TLS up, so cleared before any thread exists */
  g_unsetenv ("SSLKEYLOGFILE");
  /* A core dump would hold the factor keys kept while the keyring is unlocked, on disk and
   * readable once it is locked again. The unit says LimitCORE=0; this holds however vpushd
   * is started (D-Bus activation without systemd, by hand). */
  {
    const struct rlimit no_core = { 0, 0 };

    setrlimit (RLIMIT_CORE, &no_core);
  }
  raise_fd_limit ();
  setlocale (LC_ALL, "");
  /* GLib makes its C locale for g_ascii_strto*() on first use under g_once; a thread that
   * waits there comes back with errno = EAGAIN, which g_ascii_string_to_unsigned() then
   * takes for a parse error. Make it here, before any other thread exists. */
  g_ascii_strtoull ("0", NULL, 10);
  context = g_option_context_new ("- Twilio Verify Push factor for the desktop session");
  g_option_context_add_main_entries (context, options, NULL);
  /* EX_USAGE and EX_CONFIG: no restart can fix them, and the unit does not try
   * (RestartPreventExitStatus=) */
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vpushd: %s\n", error->message);
      return EX_USAGE;
    }
  if (argc > 1)
    {
      g_printerr ("vpushd: unexpected argument “%s”; see vpushd --help\n", argv[1]);
      return EX_USAGE;
    }
  if (version)
    {
      g_print ("vpushd %s\n", VPUSH_VERSION);
      return EXIT_SUCCESS;
    }
  vpush_log_setup (verbose);
  /* before any thread: the secure heap is set up once, unlocked */
  {
    const gchar *heap_missing = vpush_crypto_init_secure_heap ();

    if (heap_missing != NULL)
      g_message ("%s", heap_missing);
  }
  vpush_keystore_init_library ();
  /* From the start: a stop asked for while the configuration, policy and factors load is
   * taken once the main loop runs, not a death by the signal (exit status 0, as any stop);
   * a reload before the policy is read is moot. */
  loop = g_main_loop_new (NULL, FALSE);
  d.loop = loop;
  g_unix_signal_add (SIGTERM, on_signal, &d);
  g_unix_signal_add (SIGINT, on_signal, &d);
  signal (SIGHUP, SIG_IGN);
  /* the session bus connection (socket, authentication, Hello) is made in a worker thread
   * while the configuration, policy and factors load; everything on the bus uses it */
  g_bus_get (G_BUS_TYPE_SESSION, NULL, on_bus, &d);

  config = vpush_config_load (config_path, &error);
  if (config == NULL)
    {
      g_printerr ("vpushd: %s\n", error->message);
      return start_failed (&d, EX_CONFIG);
    }
  vpush_log_ration_set_limit (config->audit_records_per_caller);
  bouncer = vpush_bouncer_new (policy_dir, &error);
  if (bouncer == NULL)
    {
      g_printerr ("vpushd: %s\n", error->message);
      return start_failed (&d, EX_CONFIG);
    }
  if (state_dir == NULL)
    state_dir = default_state_dir ();
  else if (!g_path_is_absolute (state_dir))
    {
      /* logged and used as the absolute path it names now */
      gchar *absolute = g_canonicalize_filename (state_dir, NULL);

      g_free (state_dir);
      state_dir = absolute;
    }
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_STARTED, NULL, NULL, NULL,
                   "vpushd %s starting, configuration %s, state in %s", VPUSH_VERSION,
                   config->path ? config->path : "built-in defaults", state_dir);

  d.manager = vpush_manager_new (g_steal_pointer (&config), state_dir, &error);
  if (d.manager == NULL)
    {
      g_printerr ("vpushd: %s\n", error->message);
      return start_failed (&d, EXIT_FAILURE);
    }
  vpush_manager_set_bouncer (d.manager, bouncer);

  /* systemctl --user reload: the policy is read again (the configuration is read once) */
  sighup_id = g_unix_signal_add (SIGHUP, on_sighup, bouncer);
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0)
    d.watchdog_id = g_timeout_add (watchdog_usec / 2000, on_watchdog, NULL);

  if (!vpush_manager_load (d.manager, &error))
    {
      g_printerr ("vpushd: could not load the factors: %s\n", error->message);
      return start_failed (&d, EXIT_FAILURE);
    }
  /* never replaceable by default: any process of the user could take the name over and
   * receive the approvals */
  if (d.replace)
    d.owner_flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE | G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT;
  g_main_loop_run (d.loop);

  /* an answer allowed and under way is not left out of the audit trail */
  vpush_manager_stop (d.manager);

  /* a write asked for is done before vpushd exits (its caller hears nothing now): an API
   * change already made is not lost from the factor's record */
  vpush_factor_store_flush (vpush_manager_get_factor_store (d.manager));
  if (d.owner_id)
    g_bus_unown_name (d.owner_id);
  g_clear_handle_id (&d.watchdog_id, g_source_remove);
  g_source_remove (sighup_id);
  g_clear_object (&d.manager);
  /* the counts of records left out are written too */
  vpush_log_ration_flush (TRUE);
  g_clear_handle_id (&d.status_id, g_source_remove);
  g_free (d.status);
  return d.exit_code;
}
