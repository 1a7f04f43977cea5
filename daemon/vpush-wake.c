#include "vpush-wake.h"

#include "vpush-names.h"
#include "vpush-poller.h"
#include "vpush-push.h"
#include "vpush-time.h"

/* A change of the network comes as a burst of route changes: act a second after its
 * first, or after the network's return. */
#define NETWORK_SETTLE_MS 1000
/* Routes change for reasons of no concern to vpushd (a container or VPN starting), and
 * each wake-up replaces every push connection: a change other than the network's return
 * wakes vpushd at most once in this long. */
#define NETWORK_WAKE_GAP_US (30 * G_USEC_PER_SEC)

struct _VpushWake
{
  GObject parent_instance;

  VpushManager *manager; /* not referenced: it owns us */
  GCancellable *cancellable;

  GDBusConnection *system_bus;
  guint sleep_id;      /* the PrepareForSleep subscription */
  guint logind_id;     /* the watch of logind's name */
  gchar *logind_owner; /* its unique name, NULL while none */

  GNetworkMonitor *monitor;
  gboolean network_available;
  guint network_id;         /* the settle timer */
  gint64 last_network_wake; /* boot-time µs (suspends count), 0 for none */
};

G_DEFINE_TYPE (VpushWake, vpush_wake, G_TYPE_OBJECT)

static void
wake_up (VpushWake *self, const gchar *why)
{
  g_message ("%s: reconnecting the push streams and polling every factor", why);
  vpush_push_reconnect (vpush_manager_get_push (self->manager));
  /* by the API's Retry-After, if it gave one: a wake-up is no caller waiting */
  vpush_poller_poll_soon_async (vpush_manager_get_poller (self->manager), NULL, NULL, NULL, NULL);
  /* the expiry timer runs on the monotonic clock, which stood still during a suspend */
  vpush_pending_expire_now (vpush_manager_get_pending (self->manager));
}

/* Resume */

static void
on_prepare_for_sleep (GDBusConnection *bus, const gchar *sender, const gchar *path,
                      const gchar *iface, const gchar *signal, GVariant *parameters,
                      gpointer user_data)
{
  VpushWake *self = user_data;
  gboolean going = FALSE;

  /* Any process on the system bus may send this signal, broadcast or to vpushd directly:
   * only logind's is heard, by its unique name, followed here (see watch_sleep()). */
  if (self->logind_owner == NULL || g_strcmp0 (sender, self->logind_owner) != 0)
    return;
  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(b)")))
    return;
  g_variant_get (parameters, "(b)", &going);
  if (going)
    g_debug ("the system is going to sleep");
  else if (self->monitor != NULL && !self->network_available)
    {
      /* NetworkManager takes the network down for a suspend: reconnecting now would
       * only fail and lengthen every stream's backoff; the network's return wakes them */
      g_message ("resumed from suspend: waiting for the network to come back");
      vpush_pending_expire_now (vpush_manager_get_pending (self->manager));
    }
  else
    wake_up (self, "resumed from suspend");
}

static void
on_logind_appeared (GDBusConnection *bus, const gchar *name, const gchar *owner, gpointer user_data)
{
  VpushWake *self = user_data;

  g_debug ("logind on the system bus as %s", owner);
  g_free (self->logind_owner);
  self->logind_owner = g_strdup (owner);
}

static void
on_logind_vanished (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
  VpushWake *self = user_data;

  g_clear_pointer (&self->logind_owner, g_free);
}

static void
unwatch_sleep (VpushWake *self)
{
  if (self->system_bus == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->system_bus, self);
  if (self->sleep_id != 0)
    g_dbus_connection_signal_unsubscribe (self->system_bus, self->sleep_id);
  self->sleep_id = 0;
  g_clear_handle_id (&self->logind_id, g_bus_unwatch_name);
  g_clear_pointer (&self->logind_owner, g_free);
  g_clear_object (&self->system_bus);
}

static void
on_system_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
                      gpointer user_data)
{
  VpushWake *self = user_data;

  /* a system bus that restarts takes the whole desktop with it: not followed */
  g_message ("the system bus went away: a resume from suspend goes unnoticed until the "
             "push streams' keepalives or the next poll");
  unwatch_sleep (self);
}

static void
watch_sleep (VpushWake *self, GDBusConnection *bus)
{
  self->system_bus = g_object_ref (bus);
  self->logind_id
      = g_bus_watch_name_on_connection (bus, VPUSH_LOGIND_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_logind_appeared, on_logind_vanished, self, NULL);
  /* No sender in the match: with one, GLib would judge the sender too, but only a GLib
   * with the fix for CVE-2024-34397 judges the signals sent to vpushd directly. The check
   * in on_prepare_for_sleep() is the one that counts, on any GLib. */
  self->sleep_id = g_dbus_connection_signal_subscribe (
      bus, NULL, VPUSH_LOGIND_MANAGER_IFACE, VPUSH_LOGIND_PREPARE_FOR_SLEEP, VPUSH_LOGIND_PATH,
      NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_sleep, self, NULL);
  g_signal_connect (bus, "closed", G_CALLBACK (on_system_bus_closed), self);
}

/* The network */

static gboolean
network_settled_cb (gpointer user_data)
{
  VpushWake *self = user_data;

  self->network_id = 0;
  self->last_network_wake = vpush_time_boot_us ();
  wake_up (self, "the network changed");
  return G_SOURCE_REMOVE;
}

static void
network_changed (VpushWake *self, gboolean available)
{
  gboolean back = available && !self->network_available;
  gint64 delay_us = NETWORK_SETTLE_MS * 1000;

  self->network_available = available;
  /* nothing can be reached through a network that is gone; its return is what counts */
  if (!available)
    {
      g_clear_handle_id (&self->network_id, g_source_remove);
      return;
    }
  /* a network that is back is acted on once it settles; other changes (routes,
   * connectivity) at most once in NETWORK_WAKE_GAP_US */
  if (back)
    g_clear_handle_id (&self->network_id, g_source_remove);
  else if (self->network_id != 0)
    return;
  else if (self->last_network_wake != 0)
    delay_us
        = MAX (delay_us, self->last_network_wake + NETWORK_WAKE_GAP_US - vpush_time_boot_us ());
  g_debug ("network changed: acted on in %.1f s", (gdouble)delay_us / G_USEC_PER_SEC);
  self->network_id = g_timeout_add ((guint)(delay_us / 1000), network_settled_cb, self);
  g_source_set_name_by_id (self->network_id, "[vpush] network settled");
}

static void
on_network_changed (GNetworkMonitor *monitor, gboolean available, gpointer user_data)
{
  VpushWake *self = user_data;

  /* the monitor's own view: NetworkManager's passes the routes' here */
  available = g_network_monitor_get_network_available (monitor);
  g_debug ("network changed (%s)", available ? "available" : "not available");
  network_changed (self, available);
}

/* NetworkManager's monitor tells its state by these properties alone */
static void
on_network_available (GNetworkMonitor *monitor, GParamSpec *pspec, gpointer user_data)
{
  VpushWake *self = user_data;
  gboolean available = g_network_monitor_get_network_available (monitor);

  if (available == self->network_available)
    return;
  g_debug ("network %s", available ? "available" : "not available");
  network_changed (self, available);
}

static void
on_connectivity (GNetworkMonitor *monitor, GParamSpec *pspec, gpointer user_data)
{
  VpushWake *self = user_data;

  g_debug ("network connectivity changed");
  network_changed (self, g_network_monitor_get_network_available (monitor));
}

static void
watch_network (VpushWake *self, GNetworkMonitor *monitor)
{
  self->monitor = g_object_ref (monitor);
  self->network_available = g_network_monitor_get_network_available (monitor);
  g_signal_connect (monitor, "network-changed", G_CALLBACK (on_network_changed), self);
  g_signal_connect (monitor, "notify::network-available", G_CALLBACK (on_network_available), self);
  g_signal_connect (monitor, "notify::connectivity", G_CALLBACK (on_connectivity), self);
}

/* Set-up */

typedef struct
{
  GDBusConnection *bus;
  GNetworkMonitor *monitor;
} Watched;

static void
watched_free (Watched *w)
{
  g_clear_object (&w->bus);
  g_clear_object (&w->monitor);
  g_free (w);
}

/* Both connect and ask synchronously (NetworkManager's monitor makes its proxy so): they
 * are made here, off the main loop. Their signals come to the main context all the same,
 * as this thread has no context of its own. */
static void
set_up_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Watched *w = g_new0 (Watched, 1);
  g_autoptr (GError) error = NULL;

  w->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, cancellable, &error);
  if (w->bus != NULL)
    /* the shared connection NetworkManager's monitor uses too: its loss must not end
     * vpushd, as it would by default */
    g_dbus_connection_set_exit_on_close (w->bus, FALSE);
  else
    g_debug ("no system bus (%s): a resume from suspend goes unnoticed until the push "
             "streams' keepalives or the next poll",
             error->message);
  w->monitor = g_object_ref (g_network_monitor_get_default ());
  g_task_return_pointer (task, w, (GDestroyNotify)watched_free);
}

static void
set_up_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushWake *self = VPUSH_WAKE (source);
  Watched *w = g_task_propagate_pointer (G_TASK (result), NULL);

  if (w == NULL) /* stopped meanwhile */
    return;
  if (w->bus != NULL)
    watch_sleep (self, w->bus);
  watch_network (self, w->monitor);
  g_debug ("listening for %s and network changes (%s)",
           w->bus != NULL ? "resumes from suspend" : "no resumes (no system bus)",
           G_OBJECT_TYPE_NAME (w->monitor));
  watched_free (w);
}

void
vpush_wake_stop (VpushWake *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->network_id, g_source_remove);
  unwatch_sleep (self);
  if (self->monitor != NULL)
    g_signal_handlers_disconnect_by_data (self->monitor, self);
  g_clear_object (&self->monitor);
}

static void
vpush_wake_finalize (GObject *object)
{
  VpushWake *self = VPUSH_WAKE (object);

  vpush_wake_stop (self);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (vpush_wake_parent_class)->finalize (object);
}

static void
vpush_wake_class_init (VpushWakeClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_wake_finalize;
}

static void
vpush_wake_init (VpushWake *self)
{
  self->cancellable = g_cancellable_new ();
}

VpushWake *
vpush_wake_new (VpushManager *manager)
{
  VpushWake *self = g_object_new (VPUSH_TYPE_WAKE, NULL);
  g_autoptr (GTask) task = g_task_new (self, self->cancellable, set_up_done, NULL);

  self->manager = manager;
  g_task_run_in_thread (task, set_up_thread);
  return self;
}
