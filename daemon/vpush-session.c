#include "vpush-session.h"

#include "vpush-names.h"

/* the whole query, connection included: a hung logind must not hold an approval long */
#define QUERY_TIMEOUT_MS 5000

struct _VpushSession
{
  GObject parent_instance;
  GDBusConnection *bus;
  /* the queries waiting for the one connection being made: a burst of calls must not
   * open a system bus connection each (the bus limits them per user) */
  GPtrArray *waiting;
  GCancellable *connecting;
  guint connect_timeout_id;
};

G_DEFINE_TYPE (VpushSession, vpush_session, G_TYPE_OBJECT)

const gchar *
vpush_session_state_describe (VpushSessionState state)
{
  switch (state)
    {
    case VPUSH_SESSION_ACTIVE:
      return "active and unlocked";
    case VPUSH_SESSION_INACTIVE:
      return "not the active session of a seat";
    case VPUSH_SESSION_LOCKED:
      return "locked";
    case VPUSH_SESSION_NONE:
      return "not in a login session";
    case VPUSH_SESSION_UNKNOWN:
    default:
      return "unknown (logind could not be asked)";
    }
}

static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
               VpushSession *self)
{
  g_signal_handlers_disconnect_by_data (bus, self);
  if (self->bus == bus)
    g_clear_object (&self->bus);
}

static void
vpush_session_finalize (GObject *object)
{
  VpushSession *self = VPUSH_SESSION (object);

  if (self->bus != NULL)
    g_signal_handlers_disconnect_by_data (self->bus, self);
  g_clear_object (&self->bus);
  g_ptr_array_unref (self->waiting);
  G_OBJECT_CLASS (vpush_session_parent_class)->finalize (object);
}

static void
vpush_session_class_init (VpushSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_session_finalize;
}

static void
vpush_session_init (VpushSession *self)
{
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
}

VpushSession *
vpush_session_new (void)
{
  return g_object_new (VPUSH_TYPE_SESSION, NULL);
}

typedef struct
{
  guint32 pid;
  guint32 uid;
  gboolean display;
  GDBusConnection *bus;
  GCancellable *cancellable;
  guint timeout_id;
  gchar *id;
} Query;

static void
query_free (Query *q)
{
  g_clear_handle_id (&q->timeout_id, g_source_remove);
  g_clear_object (&q->bus);
  g_clear_object (&q->cancellable);
  g_free (q->id);
  g_free (q);
}

static gboolean
query_timeout_cb (gpointer user_data)
{
  Query *q = user_data;

  q->timeout_id = 0;
  g_cancellable_cancel (q->cancellable);
  return G_SOURCE_REMOVE;
}

static void
return_unreachable (GTask *task, GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "logind did not answer within %d ms", QUERY_TIMEOUT_MS);
      return;
    }
  g_dbus_error_strip_remote_error (error);
  g_prefix_error (&error, "logind: ");
  g_task_return_error (task, error);
}

static gboolean
is_remote_error (const GError *error, const gchar *name)
{
  g_autofree gchar *remote = g_dbus_error_get_remote_error (error);

  return g_strcmp0 (remote, name) == 0;
}

static void
call (GTask *task, const gchar *path, const gchar *iface, const gchar *method, GVariant *parameters,
      const gchar *reply_type, GAsyncReadyCallback callback)
{
  Query *q = g_task_get_task_data (task);

  g_dbus_connection_call (q->bus, VPUSH_LOGIND_NAME, path, iface, method, parameters,
                          G_VARIANT_TYPE (reply_type), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          q->cancellable, callback, task);
}

static void
session_props_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Query *q = g_task_get_task_data (task);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *seat = NULL;
  gboolean active = FALSE;
  gboolean locked = TRUE;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      return_unreachable (task, g_steal_pointer (&error));
      return;
    }
  props = g_variant_get_child_value (reply, 0);
  /* anything missing counts against the session */
  g_variant_lookup (props, VPUSH_LOGIND_SESSION_ID, "s", &q->id);
  g_variant_lookup (props, VPUSH_LOGIND_SESSION_SEAT, "(&so)", &seat, NULL);
  g_variant_lookup (props, VPUSH_LOGIND_SESSION_ACTIVE, "b", &active);
  g_variant_lookup (props, VPUSH_LOGIND_SESSION_LOCKED_HINT, "b", &locked);

  if (seat == NULL || *seat == '\0' || !active)
    g_task_return_int (task, VPUSH_SESSION_INACTIVE);
  else if (locked)
    g_task_return_int (task, VPUSH_SESSION_LOCKED);
  else
    g_task_return_int (task, VPUSH_SESSION_ACTIVE);
}

static void
ask_session (GTask *task, const gchar *path)
{
  call (task, path, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET_ALL,
        g_variant_new ("(s)", VPUSH_LOGIND_SESSION_IFACE), "(a{sv})", session_props_cb);
}

static void
user_display_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) display = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *id = "";
  const gchar *path;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      return_unreachable (task, g_steal_pointer (&error));
      return;
    }
  g_variant_get (reply, "(v)", &display);
  if (g_variant_is_of_type (display, G_VARIANT_TYPE ("(so)")))
    g_variant_get (display, "(&s&o)", &id, &path);
  if (*id == '\0')
    {
      g_task_return_int (task, VPUSH_SESSION_NONE);
      return;
    }
  ask_session (g_steal_pointer (&task), path);
}

static void
user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *path;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      if (is_remote_error (error, VPUSH_LOGIND_ERROR_NO_SUCH_USER))
        g_task_return_int (task, VPUSH_SESSION_NONE);
      else
        return_unreachable (task, g_steal_pointer (&error));
      return;
    }
  g_variant_get (reply, "(&o)", &path);
  call (g_steal_pointer (&task), path, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET,
        g_variant_new ("(ss)", VPUSH_LOGIND_USER_IFACE, VPUSH_LOGIND_USER_DISPLAY), "(v)",
        user_display_cb);
}

static void
session_by_pid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Query *q = g_task_get_task_data (task);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *path;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      /* apps the user manager starts (app-*.scope) are in no session scope: they belong
       * to the user's graphical session, as sd_uid_get_display() says. Nothing else
       * does: a cron job or a system service of the user's is in no session at all. */
      if (is_remote_error (error, VPUSH_LOGIND_ERROR_NO_SESSION_FOR_PID) && !q->display)
        {
          g_task_return_int (task, VPUSH_SESSION_NONE);
          return;
        }
      if (is_remote_error (error, VPUSH_LOGIND_ERROR_NO_SESSION_FOR_PID))
        {
          call (g_steal_pointer (&task), VPUSH_LOGIND_PATH, VPUSH_LOGIND_MANAGER_IFACE,
                VPUSH_LOGIND_GET_USER, g_variant_new ("(u)", q->uid), "(o)", user_cb);
          return;
        }
      return_unreachable (task, g_steal_pointer (&error));
      return;
    }
  g_variant_get (reply, "(&o)", &path);
  ask_session (g_steal_pointer (&task), path);
}

static void
ask_session_by_pid (GTask *task)
{
  Query *q = g_task_get_task_data (task);

  call (task, VPUSH_LOGIND_PATH, VPUSH_LOGIND_MANAGER_IFACE, VPUSH_LOGIND_GET_SESSION_BY_PID,
        g_variant_new ("(u)", q->pid), "(o)", session_by_pid_cb);
}

static gboolean
connect_timeout_cb (gpointer user_data)
{
  VpushSession *self = user_data;

  self->connect_timeout_id = 0;
  g_cancellable_cancel (self->connecting);
  return G_SOURCE_REMOVE;
}

/* The connection is made, or failed: every query waiting for it goes on with it. A query
 * whose own time ran out meanwhile ends at its first call, its cancellable cancelled. */
static void
connected_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushSession) self = user_data;
  g_autoptr (GPtrArray) waiting = g_steal_pointer (&self->waiting);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = g_dbus_connection_new_for_address_finish (result, &error);

  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  g_clear_handle_id (&self->connect_timeout_id, g_source_remove);
  g_clear_object (&self->connecting);
  if (bus == NULL)
    g_prefix_error (&error, "no system bus: ");
  else if (self->bus == NULL)
    {
      self->bus = g_object_ref (bus);
      g_signal_connect (self->bus, "closed", G_CALLBACK (on_bus_closed), self);
    }
  for (guint i = 0; i < waiting->len; i++)
    {
      GTask *task = g_object_ref (g_ptr_array_index (waiting, i));
      Query *q = g_task_get_task_data (task);

      if (bus == NULL)
        {
          return_unreachable (task, g_error_copy (error));
          g_object_unref (task);
          continue;
        }
      q->bus = g_object_ref (bus);
      ask_session_by_pid (task);
    }
}

void
vpush_session_query_async (VpushSession *self, guint32 pid, guint32 uid, gboolean display,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autofree gchar *address = NULL;
  GError *error = NULL;
  Query *q = g_new0 (Query, 1);

  q->pid = pid;
  q->uid = uid;
  q->display = display;
  q->cancellable = g_cancellable_new ();
  q->timeout_id = g_timeout_add (QUERY_TIMEOUT_MS, query_timeout_cb, q);
  g_task_set_task_data (task, q, (GDestroyNotify)query_free);

  if (self->bus != NULL && !g_dbus_connection_is_closed (self->bus))
    {
      q->bus = g_object_ref (self->bus);
      ask_session_by_pid (g_steal_pointer (&task));
      return;
    }
  if (self->connecting != NULL)
    {
      g_ptr_array_add (self->waiting, g_steal_pointer (&task));
      return;
    }
  address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (address == NULL)
    {
      g_prefix_error (&error, "no system bus: ");
      return_unreachable (task, error);
      return;
    }
  g_ptr_array_add (self->waiting, g_steal_pointer (&task));
  self->connecting = g_cancellable_new ();
  self->connect_timeout_id = g_timeout_add (QUERY_TIMEOUT_MS, connect_timeout_cb, self);
  /* our own connection, not the g_bus_get() singleton, which exits the process when
   * the system bus goes away */
  g_dbus_connection_new_for_address (address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                         | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, self->connecting, connected_cb, g_object_ref (self));
}

VpushSessionState
vpush_session_query_finish (VpushSession *self, GAsyncResult *result, gchar **out_id,
                            GError **error)
{
  GTask *task = G_TASK (result);
  Query *q = g_task_get_task_data (task);
  GError *local_error = NULL;
  gssize state = g_task_propagate_int (task, &local_error);

  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return VPUSH_SESSION_UNKNOWN;
    }
  if (out_id != NULL)
    *out_id = g_strdup (q->id);
  return (VpushSessionState)state;
}
