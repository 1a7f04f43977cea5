#include "vpush-start-failed.h"

#include <sysexits.h>

#include "vpush-names.h"

#define LOG_HINT                                                                                   \
  "the reason is in its log: journalctl --user -u vpushd, or the session bus's log if "            \
  "systemd did not start it"

/* What GDBus's worker thread, where the filter runs, shares with the main context */
typedef struct
{
  GDBusConnection *connection;
  gchar *text;
  GAsyncQueue *replies; /* GDBusMessage, sent from the main context in the calls' order */
} Answers;

struct _VpushStartFailed
{
  Answers *answers;
  GMainLoop *loop;
  GCancellable *cancellable;
  guint filter_id;
  guint owner_id;
  gboolean releasing; /* the name given back: its loss is ours */
};

static void
answers_clear (gpointer data)
{
  Answers *answers = data;

  g_object_unref (answers->connection);
  g_free (answers->text);
  g_async_queue_unref (answers->replies);
}

static void
answers_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, answers_clear);
}

static void
send_replies (Answers *answers)
{
  GDBusMessage *reply;

  while ((reply = g_async_queue_try_pop (answers->replies)) != NULL)
    {
      g_autoptr (GDBusMessage) owned = reply;
      g_autoptr (GError) error = NULL;

      if (!g_dbus_connection_send_message (answers->connection, owned,
                                           G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error))
        g_debug ("could not answer a call: %s", error->message);
    }
}

static gboolean
send_replies_idle (gpointer user_data)
{
  send_replies (user_data);
  return G_SOURCE_REMOVE;
}

/* Runs in GDBus's worker thread, which must not send: the reply is made here and sent
 * from the main context. Peer's Ping and GetMachineId are left to GDBus, which answers
 * them itself. */
static GDBusMessage *
filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming, gpointer user_data)
{
  Answers *answers = user_data;

  if (!incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL
      || g_strcmp0 (g_dbus_message_get_interface (message), VPUSH_DBUS_PEER_IFACE) == 0)
    return message;
  if (!(g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED))
    {
      g_async_queue_push (answers->replies,
                          g_dbus_message_new_method_error_literal (
                              message, VPUSH_DBUS_ERROR_START_FAILED, answers->text));
      g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, send_replies_idle,
                                  g_atomic_rc_box_acquire (answers), answers_release);
    }
  g_object_unref (message);
  return NULL;
}

static void
flushed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_main_loop_quit (((VpushStartFailed *)user_data)->loop);
}

/* The bus sends the calls it queued for the name as the name is taken, and routes calls
 * to it until it is given back: once the reply to ReleaseName is here, every call that
 * reached vpushd came before it and has its answer queued, and later ones start another
 * vpushd (which answers them the same way) rather than find this one gone. */
static void
released_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushStartFailed *self = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  send_replies (self->answers);
  g_dbus_connection_flush (self->answers->connection, self->cancellable, flushed_cb, self);
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VpushStartFailed *self = user_data;

  self->releasing = TRUE;
  g_dbus_connection_call (connection, VPUSH_DBUS_DAEMON_NAME, VPUSH_DBUS_DAEMON_PATH,
                          VPUSH_DBUS_DAEMON_IFACE, "ReleaseName", g_variant_new ("(s)", name), NULL,
                          G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable, released_cb, self);
}

/* Owned by another process (a running vpushd, left alone), or the connection closed */
static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VpushStartFailed *self = user_data;

  if (!self->releasing || connection == NULL)
    g_main_loop_quit (self->loop);
}

VpushStartFailed *
vpush_start_failed_new (GDBusConnection *connection, int exit_status, GMainLoop *loop)
{
  VpushStartFailed *self = g_new0 (VpushStartFailed, 1);
  Answers *answers = g_atomic_rc_box_new0 (Answers);

  answers->connection = g_object_ref (connection);
  answers->replies = g_async_queue_new ();
  if (exit_status == EX_CONFIG)
    answers->text = g_strdup_printf ("vpushd could not start: its configuration or policy is "
                                     "wrong (exit status %d); " LOG_HINT,
                                     exit_status);
  else
    answers->text
        = g_strdup_printf ("vpushd could not start (exit status %d); " LOG_HINT, exit_status);
  self->answers = answers;
  self->loop = g_main_loop_ref (loop);
  self->cancellable = g_cancellable_new ();
  self->filter_id = g_dbus_connection_add_filter (
      connection, filter, g_atomic_rc_box_acquire (answers), answers_release);
  /* as a normal start asks for it: never taken from a running vpushd */
  self->owner_id = g_bus_own_name_on_connection (connection, VPUSH_DBUS_NAME,
                                                 G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                 on_name_acquired, on_name_lost, self, NULL);
  return self;
}

void
vpush_start_failed_free (VpushStartFailed *self)
{
  g_cancellable_cancel (self->cancellable);
  g_bus_unown_name (self->owner_id);
  g_dbus_connection_remove_filter (self->answers->connection, self->filter_id);
  answers_release (self->answers);
  g_object_unref (self->cancellable);
  g_main_loop_unref (self->loop);
  g_free (self);
}
