/* vpushctl monitor: one line per event (objects added and removed, properties changed, the
 * daemon appearing and going), until SIGINT, SIGTERM or the end of the bus. What it prints
 * adds up: when vpushd appears, the objects it has are listed as added; when it goes, each
 * is listed as removed. */
#include <glib-unix.h>
#include <stdio.h>

#include "vpush-names.h"
#include "vpushctl.h"

typedef struct
{
  Vpushctl *ctl;
  GMainLoop *loop;
  int exit_code;
  GHashTable *known;     /* object paths listed as added and not yet as removed */
  GCancellable *listing; /* the GetManagedObjects of the last appearance */
  GPtrArray *held;       /* Held: signals that came while that listing was on its way */
  gboolean running;      /* vpushd was last seen appearing */
  gboolean seen;         /* whether it runs is known: the first line is printed */
  GError *error;         /* why the monitor ended, other than a signal */
} Monitor;

/* A signal held until the listing is printed, so that what it says follows the objects
 * it is about */
typedef struct
{
  GDBusSignalCallback handler;
  gchar *path;
  gchar *interface;
  gchar *member;
  GVariant *parameters;
} Held;

static void
held_free (gpointer data)
{
  Held *held = data;

  g_free (held->path);
  g_free (held->interface);
  g_free (held->member);
  g_variant_unref (held->parameters);
  g_free (held);
}

/* TRUE if the signal is held for later */
static gboolean
hold (Monitor *m, GDBusSignalCallback handler, const gchar *path, const gchar *interface,
      const gchar *member, GVariant *parameters)
{
  Held *held;

  /* held too before the first line, which says whether vpushd runs: its listing, which
   * follows, has what they say */
  if (m->listing == NULL && m->seen)
    return FALSE;
  held = g_new0 (Held, 1);
  held->handler = handler;
  held->path = g_strdup (path);
  held->interface = g_strdup (interface);
  held->member = g_strdup (member);
  held->parameters = g_variant_ref (parameters);
  g_ptr_array_add (m->held, held);
  return TRUE;
}

/* The listing is done (or gone): what came meanwhile, in order */
static void
release (Monitor *m, GDBusConnection *bus)
{
  g_autoptr (GPtrArray) held = g_steal_pointer (&m->held);

  g_clear_object (&m->listing);
  m->held = g_ptr_array_new_with_free_func (held_free);
  for (guint i = 0; i < held->len; i++)
    {
      Held *h = g_ptr_array_index (held, i);

      h->handler (bus, NULL, h->path, h->interface, h->member, h->parameters, m);
    }
}

/* "factor", "challenge" or "manager", from the object path */
static const gchar *
object_kind (const gchar *path)
{
  if (g_str_has_prefix (path, VPUSH_DBUS_FACTORS_PATH "/"))
    return "factor";
  if (g_str_has_prefix (path, VPUSH_DBUS_CHALLENGES_PATH "/"))
    return "challenge";
  return "manager";
}

static void
emit (Monitor *m, const gchar *event, const gchar *kind, const gchar *path, GVariant *props,
      const gchar *text)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  if (m->ctl->json)
    {
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      JsonObject *object = json_object_new ();
      g_autofree gchar *time = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");

      json_object_set_string_member (object, "time", time);
      json_object_set_string_member (object, "event", event);
      json_object_set_string_member (object, "kind", kind);
      if (path)
        {
          json_object_set_string_member (object, "object_path", path);
          /* the manager's path ends in no sid */
          if (!g_str_equal (kind, "manager"))
            json_object_set_string_member (object, "sid", vpushctl_path_basename (path));
        }
      if (props)
        json_object_set_member (object, "properties", vpushctl_variant_to_json (props));
      json_node_take_object (node, object);
      vpushctl_print_json (node, FALSE);
    }
  else
    {
      g_autofree gchar *time = g_date_time_format (now, "%H:%M:%S");

      g_print ("%s %s %s %s\n", time, kind, event, text);
      fflush (stdout);
    }
}

/* The words after "factor added": sid, name and status; or sid, factor and message. */
static gchar *
describe (const gchar *path, GVariant *props)
{
  const gchar *sid = vpushctl_path_basename (path);

  g_autofree gchar *line = NULL;

  /* one event a line: a name or message can't add one */
  if (g_str_equal (object_kind (path), "factor"))
    return g_strdup_printf ("%s “%s” %s", sid,
                            vpushctl_one_line (props, VPUSH_DBUS_FACTOR_FRIENDLY_NAME, &line) ?: "",
                            vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_STATUS) ?: "");
  if (g_str_equal (object_kind (path), "challenge"))
    return g_strdup_printf (
        "%s factor %s “%s” expires %s", sid,
        vpushctl_path_basename (vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_FACTOR) ?: ""),
        vpushctl_one_line (props, VPUSH_DBUS_CHALLENGE_MESSAGE, &line) ?: "",
        vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_EXPIRES_AT) ?: "");
  return g_strdup (path);
}

/* interfaces: a{sa{sv}}, as in InterfacesAdded */
static void
object_added (Monitor *m, const gchar *path, GVariant *interfaces)
{
  GVariantIter iter;
  const gchar *name;
  GVariant *props;

  g_variant_iter_init (&iter, interfaces);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, &props))
    {
      g_autoptr (GVariant) owned = props;
      g_autofree gchar *text = NULL;

      /* listed already: the listing and a signal held meanwhile may say the same */
      if (!g_str_has_prefix (name, VPUSH_DBUS_IFACE_PREFIX)
          || g_hash_table_contains (m->known, path))
        continue;
      text = describe (path, props);
      emit (m, "added", object_kind (path), path, props, text);
      g_hash_table_add (m->known, g_strdup (path));
    }
}

/* Only what was listed as added is listed as removed */
static void
object_removed (Monitor *m, const gchar *path)
{
  if (!g_hash_table_contains (m->known, path))
    return;
  emit (m, "removed", object_kind (path), path, NULL, vpushctl_path_basename (path));
  g_hash_table_remove (m->known, path);
}

static void
on_interfaces_added (GDBusConnection *bus, const gchar *sender, const gchar *object_path,
                     const gchar *interface, const gchar *signal, GVariant *parameters,
                     gpointer user_data)
{
  Monitor *m = user_data;
  const gchar *path;
  g_autoptr (GVariant) interfaces = NULL;

  if (hold (m, on_interfaces_added, object_path, interface, signal, parameters)
      || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(oa{sa{sv}})")))
    return;
  g_variant_get (parameters, "(&o@a{sa{sv}})", &path, &interfaces);
  object_added (m, path, interfaces);
}

static void
on_interfaces_removed (GDBusConnection *bus, const gchar *sender, const gchar *object_path,
                       const gchar *interface, const gchar *signal, GVariant *parameters,
                       gpointer user_data)
{
  Monitor *m = user_data;
  const gchar *path;
  g_autofree const gchar **names = NULL;

  if (hold (m, on_interfaces_removed, object_path, interface, signal, parameters)
      || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(oas)")))
    return;
  g_variant_get (parameters, "(&o^a&s)", &path, &names);
  for (gsize i = 0; names[i]; i++)
    if (g_str_has_prefix (names[i], VPUSH_DBUS_IFACE_PREFIX))
      object_removed (m, path);
}

static void
on_properties_changed (GDBusConnection *bus, const gchar *sender, const gchar *object_path,
                       const gchar *interface, const gchar *signal, GVariant *parameters,
                       gpointer user_data)
{
  Monitor *m = user_data;
  const gchar *name;
  g_autoptr (GVariant) changed = NULL;
  g_autofree const gchar **invalidated = NULL;
  g_autoptr (GString) text = NULL;
  GVariantIter iter;
  const gchar *key;
  GVariant *value;

  if (hold (m, on_properties_changed, object_path, interface, signal, parameters)
      || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (parameters, "(&s@a{sv}^a&s)", &name, &changed, &invalidated);
  if (!g_str_has_prefix (name, VPUSH_DBUS_IFACE_PREFIX) || g_variant_n_children (changed) == 0)
    return;

  text = g_string_new (g_str_equal (object_kind (object_path), "manager")
                           ? ""
                           : vpushctl_path_basename (object_path));
  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autofree gchar *printed
          = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                ? vpushctl_escape (g_variant_get_string (value, NULL), FALSE, FALSE)
                : g_variant_print (value, FALSE);

      g_string_append_printf (text, "%s%s=%s", text->len ? " " : "", key, printed);
      g_variant_unref (value);
    }
  emit (m, "changed", object_kind (object_path), object_path, changed, text->str);
}

/* The objects vpushd had when it appeared. Signals that came before this reply are in it
 * already, or were printed already: only what is not known yet is added. */
static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Monitor *m = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  GVariantIter iter;
  const gchar *path;
  GVariant *interfaces;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  /* gone again (its vanishing released what was held) or the monitor is stopping */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply == NULL)
    {
      g_autofree gchar *said = vpushctl_escape (error->message, FALSE, FALSE);

      g_printerr ("vpushctl: can't list vpushd's objects: %s\n", said);
    }
  else
    {
      /* the factors come first in the listing: a challenge follows its factor */
      objects = g_variant_get_child_value (reply, 0);
      g_variant_iter_init (&iter, objects);
      while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
        {
          g_autoptr (GVariant) owned = interfaces;

          object_added (m, path, interfaces);
        }
    }
  release (m, G_DBUS_CONNECTION (source));
}

static void
on_name_appeared (GDBusConnection *bus, const gchar *name, const gchar *owner, gpointer user_data)
{
  Monitor *m = user_data;
  g_autofree gchar *text = g_strdup_printf ("%s is %s", owner, name);

  m->running = TRUE;
  m->seen = TRUE;
  emit (m, "appeared", "daemon", NULL, NULL, text);
  /* asked of this owner, never starting one */
  g_cancellable_cancel (m->listing);
  g_clear_object (&m->listing);
  m->listing = g_cancellable_new ();
  g_dbus_connection_call (bus, owner, VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                          VPUSH_DBUS_GET_MANAGED_OBJECTS, NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, m->listing, listed_cb, m);
}

static void
on_name_vanished (GDBusConnection *bus, const gchar *name, gpointer user_data)
{
  Monitor *m = user_data;
  g_autofree gchar **keys = NULL;
  g_auto (GStrv) gone = NULL;

  m->running = FALSE;
  g_cancellable_cancel (m->listing);
  /* what a vpushd never seen running said before it went is not told */
  if (!m->seen)
    g_ptr_array_set_size (m->held, 0);
  m->seen = TRUE;
  if (bus != NULL)
    release (m, bus);
  g_clear_object (&m->listing);
  keys = (gchar **)g_hash_table_get_keys_as_array (m->known, NULL);
  gone = g_strdupv (keys);
  /* its objects went with it */
  for (guint i = 0; gone[i] != NULL; i++)
    if (g_str_equal (object_kind (gone[i]), "challenge"))
      object_removed (m, gone[i]);
  for (guint i = 0; gone[i] != NULL; i++)
    if (g_hash_table_contains (m->known, gone[i]))
      object_removed (m, gone[i]);
  if (bus == NULL)
    {
      emit (m, "vanished", "daemon", NULL, NULL, "the session bus went away");
      m->exit_code = VPUSHCTL_EXIT_UNREACHABLE;
      g_main_loop_quit (m->loop);
      return;
    }
  emit (m, "vanished", "daemon", NULL, NULL, name);
}

/* The name watch tells of a bus gone only while vpushd was running: once it had vanished,
 * the monitor would otherwise wait for ever on a closed connection */
static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
               gpointer user_data)
{
  Monitor *m = user_data;

  /* while running, the name watch says so itself, as a last vanished line */
  if (m->running || m->exit_code == VPUSHCTL_EXIT_UNREACHABLE)
    return;
  m->error = g_error_new_literal (VPUSHCTL_ERROR, VPUSHCTL_EXIT_UNREACHABLE,
                                  "the session bus went away");
  g_main_loop_quit (m->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Monitor *m = user_data;

  g_main_loop_quit (m->loop);
  return G_SOURCE_CONTINUE;
}

int
vpushctl_cmd_monitor (Vpushctl *ctl, int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GHashTable) known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Monitor m = { ctl, .known = known };
  guint subscriptions[3];
  guint watch;
  gulong closed;

  context = vpushctl_context_new (
      ctl, NULL,
      "Print what vpushd does, one line per event (with --json one JSON object per line), "
      "until interrupted. The first line tells whether vpushd is running.",
      NULL);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 1)
    return vpushctl_unexpected (ctl, argv[1]);

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      g_autoptr (GError) wrapped = vpushctl_no_bus_error (error);

      return vpushctl_fail (ctl, wrapped);
    }
  /* vpushd going away is an event here, not the end */
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  m.loop = loop = g_main_loop_new (NULL, FALSE);
  m.held = g_ptr_array_new_with_free_func (held_free);

  /* subscribed before the name watch: its first answer comes after these match rules are in
   * place, so nothing that follows the first line is missed */
  subscriptions[0] = g_dbus_connection_signal_subscribe (
      bus, VPUSH_DBUS_NAME, VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_ADDED,
      VPUSH_DBUS_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_interfaces_added, &m, NULL);
  subscriptions[1] = g_dbus_connection_signal_subscribe (
      bus, VPUSH_DBUS_NAME, VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_REMOVED,
      VPUSH_DBUS_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_interfaces_removed, &m, NULL);
  subscriptions[2] = g_dbus_connection_signal_subscribe (
      bus, VPUSH_DBUS_NAME, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_CHANGED, NULL, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &m, NULL);
  watch = g_bus_watch_name_on_connection (bus, VPUSH_DBUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, &m, NULL);
  closed = g_signal_connect (bus, "closed", G_CALLBACK (on_bus_closed), &m);
  g_unix_signal_add (SIGINT, on_signal, &m);
  g_unix_signal_add (SIGTERM, on_signal, &m);

  g_main_loop_run (loop);

  g_bus_unwatch_name (watch);
  g_cancellable_cancel (m.listing);
  g_clear_object (&m.listing);
  g_ptr_array_unref (m.held);
  for (gsize i = 0; i < G_N_ELEMENTS (subscriptions); i++)
    g_dbus_connection_signal_unsubscribe (bus, subscriptions[i]);
  g_signal_handler_disconnect (bus, closed);
  if (m.error != NULL)
    {
      g_autoptr (GError) ended = g_steal_pointer (&m.error);

      return vpushctl_fail (ctl, ended);
    }
  return m.exit_code;
}
