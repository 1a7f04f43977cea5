#include "vpush-start-failed.h"

#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "vpush-names.h"

/* org.freedesktop.DBus.RequestName's reply when the name is now ours (the D-Bus
 * specification; its flags are GBusNameOwnerFlags' values) */
#define DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER 1

/* how long systemd may take to read READY=1 and STOPPING=1 */
#define SYSTEMD_BARRIER_USEC (2 * G_USEC_PER_SEC)

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
  gchar *status; /* for systemd's STATUS=: why, in classes */
  guint filter_id;
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

/* The bus routes calls to the name until it is given back: once the reply to ReleaseName
 * is here, every call that reached vpushd came before it and has its answer queued. */
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
release_name (VpushStartFailed *self)
{
  g_dbus_connection_call (self->answers->connection, VPUSH_DBUS_DAEMON_NAME, VPUSH_DBUS_DAEMON_PATH,
                          VPUSH_DBUS_DAEMON_IFACE, VPUSH_DBUS_DAEMON_RELEASE_NAME,
                          g_variant_new ("(s)", VPUSH_DBUS_NAME), NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                          self->cancellable, released_cb, self);
}

static void
barrier_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  sd_notify_barrier (0, SYSTEMD_BARRIER_USEC);
  g_task_return_boolean (task, TRUE);
}

static void
barrier_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushStartFailed *self = user_data;

  if (g_task_propagate_boolean (G_TASK (result), NULL))
    release_name (self);
}

/* A call that comes once the name is given back makes the bus ask systemd to start the
 * unit. Were the unit still starting, systemd would fold that into the start under way,
 * which fails as this vpushd exits, and dbus-daemon would not be told: the call, and every
 * call after it, would wait for the activation timeout (120 s). So the unit is first
 * told it is ready, then stopping: a start asked for while it stops waits for the stop,
 * then starts another vpushd, which answers it. The barrier waits until systemd has read
 * both. Without systemd, these are not sent. */
static void
requested_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushStartFailed *self = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;
  guint32 status = 0;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (reply != NULL)
    g_variant_get (reply, "(u)", &status);
  else
    g_warning ("could not ask for the name %s to answer calls with the start's failure: %s",
               VPUSH_DBUS_NAME, error->message);
  /* another process has it (a running vpushd, left alone), or the bus refused */
  if (status != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER)
    {
      g_main_loop_quit (self->loop);
      return;
    }
  /* one at a time: of READY=1 and STOPPING=1 in one message, systemd reads the last */
  sd_notifyf (0, "READY=1\nSTATUS=%s", self->status);
  sd_notify (0, "STOPPING=1");
  task = g_task_new (NULL, self->cancellable, barrier_done_cb, self);
  g_task_run_in_thread (task, barrier_thread);
}

VpushStartFailed *
vpush_start_failed_new (GDBusConnection *connection, int exit_status, GMainLoop *loop)
{
  VpushStartFailed *self = g_new0 (VpushStartFailed, 1);
  Answers *answers = g_atomic_rc_box_new0 (Answers);

  answers->connection = g_object_ref (connection);
  answers->replies = g_async_queue_new ();
  if (exit_status == EX_CONFIG)
    self->status = g_strdup_printf ("could not start: its configuration or policy is wrong "
                                    "(exit status %d)",
                                    exit_status);
  else
    self->status = g_strdup_printf ("could not start (exit status %d)", exit_status);
  answers->text = g_strdup_printf ("vpushd %s; " LOG_HINT, self->status);
  self->answers = answers;
  self->loop = g_main_loop_ref (loop);
  self->cancellable = g_cancellable_new ();
  self->filter_id = g_dbus_connection_add_filter (
      connection, filter, g_atomic_rc_box_acquire (answers), answers_release);
  /* as a normal start asks for it: never taken from a running vpushd */
  g_dbus_connection_call (
      connection, VPUSH_DBUS_DAEMON_NAME, VPUSH_DBUS_DAEMON_PATH, VPUSH_DBUS_DAEMON_IFACE,
      VPUSH_DBUS_DAEMON_REQUEST_NAME,
      g_variant_new ("(su)", VPUSH_DBUS_NAME, (guint32)G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE),
      G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable, requested_cb, self);
  return self;
}

void
vpush_start_failed_free (VpushStartFailed *self)
{
  g_cancellable_cancel (self->cancellable);
  g_dbus_connection_remove_filter (self->answers->connection, self->filter_id);
  answers_release (self->answers);
  g_object_unref (self->cancellable);
  g_main_loop_unref (self->loop);
  g_free (self->status);
  g_free (self);
}
