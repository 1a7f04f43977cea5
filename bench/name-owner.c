/* The start-up baseline of bench/run: the least a GDBus service does before it is ready.
 * It connects to the session bus, owns a name, then tells systemd READY=1 (when
 * $NOTIFY_SOCKET is set), and stays until SIGTERM. GDBus answers
 * org.freedesktop.DBus.Peer.Ping for it in its own worker thread, which makes it the D-Bus
 * round-trip floor too. Its method io.github.vpush.BenchBaseline.Nop at / is answered, at
 * once, by a handler in the main thread, as a GDBus service with its state in the main
 * loop answers its methods: the same round trip plus GDBus's hand-offs between threads.
 *
 * Usage: name-owner [BUS-NAME]     (default io.github.vpush.BenchBaseline) */
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "vpush-names.h"

static const gchar introspection[] = "<node><interface name='" VPUSH_BENCH_BASELINE_IFACE "'>"
                                     "<method name='Nop'/></interface></node>";

static void
on_method_call (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                GDBusMethodInvocation *invocation, gpointer user_data)
{
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable vtable = { on_method_call, NULL, NULL, { 0 } };

/* after READY=1: the start-up baseline does no more than own the name */
static void
register_nop (GDBusConnection *connection)
{
  g_autoptr (GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (introspection, NULL);
  g_autoptr (GError) error = NULL;

  if (g_dbus_connection_register_object (connection, "/", info->interfaces[0], &vtable, NULL, NULL,
                                         &error)
      == 0)
    {
      g_printerr ("name-owner: %s\n", error->message);
      exit (EXIT_FAILURE);
    }
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  sd_notify (0, "READY=1");
  register_nop (connection);
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
  owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, argc > 1 ? argv[1] : VPUSH_BENCH_BASELINE_NAME,
                             G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, NULL, on_name_acquired,
                             on_name_lost, NULL, NULL);
  g_main_loop_run (loop);
  g_bus_unown_name (owner_id);
  g_main_loop_unref (loop);
  return EXIT_SUCCESS;
}
