#include "vpush-bus-quota.h"

#include "vpush-manager.h"

G_STATIC_ASSERT (VPUSH_BUS_UNANSWERED_MAX > VPUSH_WAITING_PER_CALLER_MAX);

typedef struct
{
  guint unanswered;
  gboolean dropping; /* said so in the log, until it is down to half the bound */
} Peer;

typedef struct
{
  GMutex lock;
  GHashTable *peers; /* unique name → Peer, while it has calls unanswered */
} Quota;

static void
quota_free (gpointer data)
{
  Quota *quota = data;

  g_hash_table_unref (quota->peers);
  g_mutex_clear (&quota->lock);
  g_free (quota);
}

/* A call: counted, or dropped past the bound */
static gboolean
take_call (Quota *quota, const gchar *sender)
{
  gboolean first_drop = FALSE;
  Peer *peer;

  g_mutex_lock (&quota->lock);
  peer = g_hash_table_lookup (quota->peers, sender);
  if (peer == NULL)
    {
      peer = g_new0 (Peer, 1);
      g_hash_table_insert (quota->peers, g_strdup (sender), peer);
    }
  if (peer->unanswered >= VPUSH_BUS_UNANSWERED_MAX)
    {
      first_drop = !peer->dropping;
      peer->dropping = TRUE;
      g_mutex_unlock (&quota->lock);
      if (first_drop)
        g_message ("%s has %u calls unanswered, the most one connection may have: its calls "
                   "are dropped, unanswered, until it takes its replies",
                   sender, VPUSH_BUS_UNANSWERED_MAX);
      return FALSE;
    }
  peer->unanswered++;
  g_mutex_unlock (&quota->lock);
  return TRUE;
}

/* A reply or an error about to be written to the bus */
static void
give_reply (Quota *quota, const gchar *destination)
{
  Peer *peer;

  g_mutex_lock (&quota->lock);
  peer = g_hash_table_lookup (quota->peers, destination);
  if (peer != NULL && --peer->unanswered == 0)
    g_hash_table_remove (quota->peers, destination);
  else if (peer != NULL && peer->unanswered <= VPUSH_BUS_UNANSWERED_MAX / 2)
    peer->dropping = FALSE;
  g_mutex_unlock (&quota->lock);
}

/* Run by GDBus's worker thread on every message: an incoming one as it is read, an
 * outgoing one just before it is written (so a reply counts until the bus takes it) */
static GDBusMessage *
filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming, gpointer user_data)
{
  Quota *quota = user_data;
  GDBusMessageType type = g_dbus_message_get_message_type (message);
  const gchar *peer;

  if (incoming)
    {
      peer = g_dbus_message_get_sender (message);
      if (type != G_DBUS_MESSAGE_TYPE_METHOD_CALL || peer == NULL)
        return message;
      if (!take_call (quota, peer))
        {
          g_object_unref (message);
          return NULL;
        }
      /* GDBus answers some calls that want no reply all the same (Introspect, Peer, an
       * unknown method) and others not: each is made to want one, so that every call
       * counted has a reply that counts it off (the bus drops a reply nobody waits for) */
      if (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED)
        {
          g_autoptr (GDBusMessage) wanted = message;

          message = g_dbus_message_copy (wanted, NULL);
          if (message == NULL)
            {
              give_reply (quota, peer);
              return NULL;
            }
          g_dbus_message_set_flags (message, g_dbus_message_get_flags (wanted)
                                                 & ~G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
        }
      return message;
    }
  peer = g_dbus_message_get_destination (message);
  if ((type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN || type == G_DBUS_MESSAGE_TYPE_ERROR)
      && peer != NULL)
    give_reply (quota, peer);
  return message;
}

void
vpush_bus_quota_install (GDBusConnection *connection)
{
  Quota *quota;

  g_return_if_fail (G_IS_DBUS_CONNECTION (connection));

  quota = g_new0 (Quota, 1);
  g_mutex_init (&quota->lock);
  quota->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_dbus_connection_add_filter (connection, filter, quota, quota_free);
}
