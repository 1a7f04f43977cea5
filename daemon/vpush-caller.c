#include "vpush-caller.h"

#include <unistd.h>

void
vpush_caller_free (VpushCaller *caller)
{
  if (caller == NULL)
    return;
  g_free (caller->sender);
  g_free (caller->exe);
  g_free (caller);
}

gchar *
vpush_caller_describe (const VpushCaller *caller)
{
  return g_strdup_printf ("%s (pid %u, %s)", caller->exe ? caller->exe : "unknown executable",
                          caller->pid, caller->sender);
}

static void
credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) creds = NULL;
  g_autoptr (VpushCaller) caller = g_new0 (VpushCaller, 1);
  g_autofree gchar *proc_exe = NULL;
  GError *error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  creds = g_variant_get_child_value (reply, 0);
  caller->sender = g_strdup (g_task_get_task_data (task));
  if (!g_variant_lookup (creds, "UnixUserID", "u", &caller->uid)
      || !g_variant_lookup (creds, "ProcessID", "u", &caller->pid))
    {
      g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                               "the bus did not tell who the caller is");
      return;
    }
  if (caller->uid != getuid ())
    {
      g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                               "only processes of uid %u may call vpushd", (guint)getuid ());
      return;
    }

  proc_exe = g_strdup_printf ("/proc/%u/exe", caller->pid);
  caller->exe = g_file_read_link (proc_exe, NULL);
  g_task_return_pointer (task, g_steal_pointer (&caller), (GDestroyNotify)vpush_caller_free);
}

void
vpush_caller_lookup_async (GDBusConnection *connection, const gchar *sender,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (connection, cancellable, callback, user_data);

  g_task_set_task_data (task, g_strdup (sender), g_free);
  g_dbus_connection_call (
      connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "GetConnectionCredentials", g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(a{sv})"),
      G_DBUS_CALL_FLAGS_NONE, 5000, cancellable, credentials_cb, g_steal_pointer (&task));
}

VpushCaller *
vpush_caller_lookup_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
