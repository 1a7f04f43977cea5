/* The start-up baseline of bench/run: the least a GDBus service does before it is ready.
 * It connects to the session bus, owns a name, then tells systemd READY=1 (when
 * $NOTIFY_SOCKET is set), and stays until SIGTERM. GDBus answers
 * org.freedesktop.DBus.Peer.Ping for it, which makes it the D-Bus round-trip floor too.
 *
 * Usage: name-owner [BUS-NAME]     (default io.github.vpush.BenchBaseline) */
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  sd_notify (0, "READY=1");
}

static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  g_printerr ("name-owner: could not own %s\n", name);
  exit (EXIT_FAILURE);
}

static gboolean
on_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  guint owner_id;

  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  owner_id = g_bus_own_name (
      G_BUS_TYPE_SESSION, argc > 1 ? argv[1] : "io.github.vpush.BenchBaseline",
      G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, NULL, on_name_acquired, on_name_lost, NULL, NULL);
  g_main_loop_run (loop);
  g_bus_unown_name (owner_id);
  g_main_loop_unref (loop);
  return EXIT_SUCCESS;
}
