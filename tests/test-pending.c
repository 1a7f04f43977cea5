/* The pending set: export, replace, finish, expiry, and the memory of finished ones. */
#include "vpush-pending.h"

#include <string.h>

#include "vpush-dbus-generated.h"
#include "vpush-error.h"
#include "vpush-names.h"

#define FACTOR_A "YFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FACTOR_B "YFbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static VpushChallenge *
make_challenge (const gchar *sid, const gchar *factor, const gchar *txn, const gchar *expires)
{
  g_autofree gchar *text = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;
  VpushChallenge *c;

  text = g_strdup_printf ("{\"sid\": \"%s\", \"factor_sid\": \"%s\", \"status\": \"pending\","
                          " \"date_created\": \"2026-11-25T10:00:00Z\","
                          " \"date_updated\": \"2026-11-25T10:00:00Z\","
                          " \"expiration_date\": \"%s\","
                          " \"details\": {\"message\": \"Log in?\", \"fields\": []},"
                          " \"hidden_details\": {\"transaction_id\": \"%s\"}}",
                          sid, factor, expires, txn);
  node = json_from_string (text, &error);
  g_assert_no_error (error);
  c = vpush_challenge_new_from_json (node, &error);
  g_assert_no_error (error);
  return c;
}

static gboolean
only_factor (const gchar *factor_sid, gpointer user_data)
{
  return g_str_equal (factor_sid, user_data);
}

/* VPUSH_PENDING_MAX challenges at most: one more new one is left out, with one warning
 * for the whole fill; a known one is still replaced; once one has gone, a new one fits. */
static void
test_bounded (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) extra = NULL;
  g_autoptr (VpushChallenge) again = NULL;
  g_autofree gchar *first = NULL;

  for (guint i = 0; i < VPUSH_PENDING_MAX; i++)
    {
      g_autofree gchar *sid = g_strdup_printf ("YC%032x", i);
      g_autoptr (VpushChallenge) c
          = make_challenge (sid, FACTOR_A, "order", "2026-11-25T10:05:00Z");

      g_assert_true (vpush_pending_put (pending, c));
    }
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, VPUSH_PENDING_MAX);

  extra = make_challenge ("YCffffffffffffffffffffffffffffffff", FACTOR_B, "order",
                          "2026-11-25T10:05:00Z");
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING,
                         "2048 challenges are pending, the most vpushd keeps: challenge "
                         "YCffffffffffffffffffffffffffffffff of factor " FACTOR_B "*");
  g_assert_false (vpush_pending_put (pending, extra));
  g_assert_false (vpush_pending_put (pending, extra));
  g_test_assert_expected_messages ();
  g_assert_null (vpush_pending_lookup (pending, extra->sid));

  first = g_strdup_printf ("YC%032x", 0);
  again = make_challenge (first, FACTOR_A, "order-2", "2026-11-25T10:05:00Z");
  g_assert_true (vpush_pending_put (pending, again));
  /* still full: no second warning (an unexpected message fails the test) */
  g_assert_false (vpush_pending_put (pending, extra));
  g_assert_cmpstr (vpush_challenge_get_hidden (vpush_pending_lookup (pending, first)->challenge,
                                               "transaction_id"),
                   ==, "order-2");

  vpush_pending_finish (pending, first, "approved");
  g_assert_true (vpush_pending_put (pending, extra));
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, VPUSH_PENDING_MAX);
}

/* A finished challenge known from the API's list (vpush-approve-history.c): what a transaction
 * id matches among several, and how long it is kept. */
static void
test_note_finished (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) a = make_challenge ("YC00000000000000000000000000000007", FACTOR_A,
                                                 "order-7", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) b = make_challenge ("YC00000000000000000000000000000008", FACTOR_B,
                                                 "order-7", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) old = make_challenge ("YC00000000000000000000000000000009", FACTOR_A,
                                                   "order-9", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) live = make_challenge ("YC0000000000000000000000000000000a", FACTOR_A,
                                                    "order-7", "2026-11-25T10:05:00Z");
  /* the same challenge as the API's list gives it: answered elsewhere */
  g_autoptr (VpushChallenge) listed
      = make_challenge (live->sid, FACTOR_A, "order-7", "2026-11-25T10:05:00Z");
  gint64 now = a->created_at + 60;
  const gchar *status = NULL;

  g_free (a->status);
  a->status = g_strdup ("approved");
  g_free (b->status);
  b->status = g_strdup ("expired");
  b->created_at = a->created_at + 10; /* the newer use of the transaction id */
  vpush_pending_note_finished (pending, a, now);
  vpush_pending_note_finished (pending, b, now);
  g_assert_true (
      vpush_pending_find_finished (pending, "transaction_id", "order-7", NULL, NULL, &status) == b);
  g_assert_cmpstr (status, ==, "expired");
  /* a factor the lookup may not see hides nothing */
  g_assert_true (vpush_pending_find_finished (pending, "transaction_id", "order-7", only_factor,
                                              (gpointer)FACTOR_A, &status)
                 == a);
  g_assert_cmpstr (status, ==, "approved");

  /* created more than 30 minutes before now: as if it had finished then, so not kept */
  g_free (old->status);
  old->status = g_strdup ("approved");
  vpush_pending_note_finished (pending, old, old->created_at + 31 * 60);
  g_assert_null (
      vpush_pending_find_finished (pending, "transaction_id", "order-9", NULL, NULL, &status));
  g_assert_null (vpush_pending_lookup_finished (pending, old->sid, &status));

  /* pending here: the poller's to retire, not the list's */
  vpush_pending_put (pending, live);
  g_free (listed->status);
  listed->status = g_strdup ("approved");
  vpush_pending_note_finished (pending, listed, now);
  g_assert_null (vpush_pending_lookup_finished (pending, live->sid, &status));
  g_assert_true (vpush_pending_lookup (pending, live->sid)->challenge == live);
}

static void
count_changed (VpushPending *pending, guint *n)
{
  (*n)++;
}

/* A private bus with two connections: vpushd's side, where the pending set's objects are,
 * and a client that sees them as any other process would. */
typedef struct
{
  GTestDBus *bus;
  GDBusConnection *daemon;
  GDBusConnection *client;
  GPtrArray *signals; /* "Member path" of each signal the client got from the daemon */
  guint subscription;
} Bus;

static GDBusConnection *
connect_to (GTestDBus *bus)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  return connection;
}

static void
on_signal (GDBusConnection *connection, const gchar *sender, const gchar *path,
           const gchar *interface_name, const gchar *member, GVariant *parameters,
           gpointer user_data)
{
  Bus *bus = user_data;

  g_ptr_array_add (bus->signals, g_strdup_printf ("%s %s", member, path));
  if (g_str_equal (member, VPUSH_DBUS_PROPERTIES_CHANGED))
    g_ptr_array_add (bus->signals, g_variant_print (parameters, FALSE));
}

static void
bus_setup (Bus *bus, gconstpointer data)
{
  bus->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus->bus);
  bus->daemon = connect_to (bus->bus);
  bus->client = connect_to (bus->bus);
  bus->signals = g_ptr_array_new_with_free_func (g_free);
  bus->subscription = g_dbus_connection_signal_subscribe (
      bus->client, g_dbus_connection_get_unique_name (bus->daemon), NULL, NULL, NULL, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, bus, NULL);
}

static void
bus_teardown (Bus *bus, gconstpointer data)
{
  g_dbus_connection_signal_unsubscribe (bus->client, bus->subscription);
  g_ptr_array_unref (bus->signals);
  g_object_unref (bus->client);
  g_object_unref (bus->daemon);
  g_test_dbus_down (bus->bus);
  g_object_unref (bus->bus);
}

static void
call_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

/* A call from the client, with this thread's main loop (the daemon's side) running */
static GVariant *
call (Bus *bus, const gchar *path, const gchar *iface, const gchar *method, GVariant *args,
      GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  g_dbus_connection_call (bus->client, g_dbus_connection_get_unique_name (bus->daemon), path, iface,
                          method, args, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, call_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_connection_call_finish (bus->client, result, error);
}

/* Waits for the client to have seen n signals: a round trip after them brings them all. */
static void
wait_signals (Bus *bus, guint n)
{
  g_autoptr (GVariant) reply
      = call (bus, "/", VPUSH_DBUS_PEER_IFACE, VPUSH_DBUS_PEER_PING, NULL, NULL);

  while (bus->signals->len < n)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (bus->signals->len, ==, n);
}

/* GetManagedObjects: the properties of the challenge at path, or NULL if not listed */
static GVariant *
managed_properties (Bus *bus, const gchar *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call (bus, VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                                     VPUSH_DBUS_GET_MANAGED_OBJECTS, NULL, &error);
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GVariant) interfaces = NULL;

  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  interfaces = g_variant_lookup_value (objects, path, G_VARIANT_TYPE ("a{sa{sv}}"));
  if (interfaces == NULL)
    return NULL;
  g_assert_cmpuint (g_variant_n_children (interfaces), ==, 1);
  return g_variant_lookup_value (interfaces, VPUSH_DBUS_CHALLENGE_IFACE, G_VARIANT_TYPE_VARDICT);
}

static void
assert_contract_properties (GVariant *props)
{
  g_autoptr (GVariant) sid
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_SID, G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) factor
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_FACTOR, G_VARIANT_TYPE_OBJECT_PATH);
  g_autoptr (GVariant) status
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_STATUS, G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) message
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_MESSAGE, G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) fields
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_FIELDS, G_VARIANT_TYPE ("a(ss)"));
  g_autoptr (GVariant) created
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_CREATED_AT, G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) expires
      = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_EXPIRES_AT, G_VARIANT_TYPE_STRING);

  /* the contract's seven properties, and no hidden details */
  g_assert_cmpuint (g_variant_n_children (props), ==, 7);
  g_assert_cmpstr (g_variant_get_string (sid, NULL), ==, "YC00000000000000000000000000000001");
  g_assert_cmpstr (g_variant_get_string (factor, NULL), ==, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A);
  g_assert_cmpstr (g_variant_get_string (status, NULL), ==, "pending");
  g_assert_cmpstr (g_variant_get_string (message, NULL), ==, "Log in?");
  g_assert_cmpuint (g_variant_n_children (fields), ==, 0);
  g_assert_cmpstr (g_variant_get_string (created, NULL), ==, "2026-11-25T10:00:00Z");
  g_assert_cmpstr (g_variant_get_string (expires, NULL), ==, "2026-11-25T10:05:00Z");
}

#define SID_1  "YC00000000000000000000000000000001"
#define PATH_1 VPUSH_DBUS_CHALLENGES_PATH "/" SID_1

static void
test_put_export_finish (Bus *bus, gconstpointer data)
{
  g_autoptr (VpushObjectManager) server = vpush_object_manager_new (VPUSH_DBUS_PATH);
  g_autoptr (VpushPending) pending = vpush_pending_new (server, NULL);
  g_autoptr (VpushChallenge) c
      = make_challenge (SID_1, FACTOR_A, "order-1", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) edited = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *xml;
  const gchar *status = NULL;
  VpushPendingEntry *entry;
  guint changed = 0;

  g_assert_true (vpush_object_manager_set_connection (server, bus->daemon, &error));
  g_assert_no_error (error);
  g_assert_null (managed_properties (bus, PATH_1));

  g_signal_connect (pending, "changed", G_CALLBACK (count_changed), &changed);
  vpush_pending_put (pending, c);
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 1);
  entry = vpush_pending_lookup (pending, c->sid);
  g_assert_nonnull (entry);
  g_assert_true (entry->challenge == c);
  g_assert_false (entry->answering);

  /* on the bus: announced, listed, readable, introspectable */
  wait_signals (bus, 1);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 0), ==, "InterfacesAdded " VPUSH_DBUS_PATH);
  props = managed_properties (bus, PATH_1);
  g_assert_nonnull (props);
  assert_contract_properties (props);
  g_clear_pointer (&props, g_variant_unref);
  reply = call (bus, PATH_1, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET_ALL,
                g_variant_new ("(s)", VPUSH_DBUS_CHALLENGE_IFACE), &error);
  g_assert_no_error (error);
  props = g_variant_get_child_value (reply, 0);
  assert_contract_properties (props);
  g_clear_pointer (&props, g_variant_unref);
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (bus, VPUSH_DBUS_CHALLENGES_PATH, VPUSH_DBUS_INTROSPECTABLE_IFACE,
                VPUSH_DBUS_INTROSPECT, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s)", &xml);
  g_assert_nonnull (strstr (xml, "<node name=\"" SID_1 "\"/>"));
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (bus, PATH_1, VPUSH_DBUS_INTROSPECTABLE_IFACE, VPUSH_DBUS_INTROSPECT, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s)", &xml);
  g_assert_nonnull (strstr (xml, "<interface name=\"" VPUSH_DBUS_CHALLENGE_IFACE "\">"));
  g_clear_pointer (&reply, g_variant_unref);
  /* read-only, and no methods */
  reply = call (bus, PATH_1, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_SET,
                g_variant_new ("(ssv)", VPUSH_DBUS_CHALLENGE_IFACE, VPUSH_DBUS_CHALLENGE_STATUS,
                               g_variant_new_string ("approved")),
                &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  vpush_pending_emit_changed (pending);
  g_assert_cmpuint (changed, ==, 1);

  /* a fresh copy: the same one changes nothing, a changed message is announced */
  vpush_pending_put (pending, c);
  edited = make_challenge (SID_1, FACTOR_A, "order-1", "2026-11-25T10:05:00Z");
  g_free (edited->message);
  edited->message = g_strdup ("Log in now?");
  vpush_pending_put (pending, edited);
  wait_signals (bus, 3);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 1), ==, "PropertiesChanged " PATH_1);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 2), ==,
                   "('" VPUSH_DBUS_CHALLENGE_IFACE "', {'Message': <'Log in now?'>}, [])");
  vpush_pending_put (pending, c);
  wait_signals (bus, 5);

  /* finished: off the bus, remembered with its status */
  vpush_pending_finish (pending, c->sid, "approved");
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 0);
  g_assert_null (vpush_pending_lookup (pending, c->sid));
  wait_signals (bus, 6);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 5), ==, "InterfacesRemoved " VPUSH_DBUS_PATH);
  g_assert_null (managed_properties (bus, PATH_1));
  reply = call (bus, PATH_1, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET_ALL,
                g_variant_new ("(s)", VPUSH_DBUS_CHALLENGE_IFACE), &error);
  g_assert_null (reply);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (vpush_pending_lookup_finished (pending, c->sid, &status) == c);
  g_assert_cmpstr (status, ==, "approved");
  status = NULL;
  g_assert_true (
      vpush_pending_find_finished (pending, "transaction_id", "order-1", NULL, NULL, &status) == c);
  g_assert_cmpstr (status, ==, "approved");
  g_assert_null (vpush_pending_find_finished (pending, "transaction_id", "order-1", only_factor,
                                              (gpointer)FACTOR_B, &status));
  g_assert_null (
      vpush_pending_find_finished (pending, "transaction_id", "order-2", NULL, NULL, &status));

  /* a stale pending copy (a GET answered before the answer was) does not bring it back */
  vpush_pending_put (pending, c);
  g_assert_null (vpush_pending_lookup (pending, c->sid));
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 0);
  wait_signals (bus, 6);
}

/* The manager lists exported objects beside the subtree's nodes, and a pending set
 * that goes takes its subtree with it. */
static void
test_object_manager (Bus *bus, gconstpointer data)
{
  g_autoptr (VpushObjectManager) server = vpush_object_manager_new (VPUSH_DBUS_PATH);
  g_autoptr (VpushPending) pending = vpush_pending_new (server, NULL);
  g_autoptr (VpushChallenge) c
      = make_challenge (SID_1, FACTOR_A, "order-1", "2026-11-25T10:05:00Z");
  g_autoptr (GDBusObjectSkeleton) object
      = g_dbus_object_skeleton_new (VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A);
  g_autoptr (VpushDBusFactorSkeleton) factor
      = VPUSH_DBUS_FACTOR_SKELETON (vpush_dbus_factor_skeleton_new ());
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GError) error = NULL;

  /* what is there before the connection is exported with it, unannounced */
  vpush_dbus_factor_set_friendly_name (VPUSH_DBUS_FACTOR (factor), "kiosk 1");
  g_dbus_object_skeleton_add_interface (object, G_DBUS_INTERFACE_SKELETON (factor));
  vpush_object_manager_export (server, object);
  vpush_pending_put (pending, c);
  g_assert_true (vpush_object_manager_set_connection (server, bus->daemon, &error));
  g_assert_no_error (error);

  reply = call (bus, VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                VPUSH_DBUS_GET_MANAGED_OBJECTS, NULL, &error);
  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 2);
  {
    g_autoptr (GVariant) ifaces = g_variant_lookup_value (
        objects, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A, G_VARIANT_TYPE ("a{sa{sv}}"));
    g_autoptr (GVariant) props
        = g_variant_lookup_value (ifaces, VPUSH_DBUS_FACTOR_IFACE, G_VARIANT_TYPE_VARDICT);
    g_autoptr (GVariant) name
        = g_variant_lookup_value (props, VPUSH_DBUS_FACTOR_FRIENDLY_NAME, G_VARIANT_TYPE_STRING);

    g_assert_cmpstr (g_variant_get_string (name, NULL), ==, "kiosk 1");
  }
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (bus, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A, VPUSH_DBUS_PROPERTIES_IFACE,
                VPUSH_DBUS_PROPERTIES_GET,
                g_variant_new ("(ss)", VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_FACTOR_FRIENDLY_NAME),
                &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  wait_signals (bus, 0);

  vpush_object_manager_unexport (server, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A);
  wait_signals (bus, 1);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 0), ==, "InterfacesRemoved " VPUSH_DBUS_PATH);
  reply = call (bus, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A, VPUSH_DBUS_PROPERTIES_IFACE,
                VPUSH_DBUS_PROPERTIES_GET,
                g_variant_new ("(ss)", VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_FACTOR_FRIENDLY_NAME),
                &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_clear_error (&error);

  vpush_object_manager_export (server, object);
  wait_signals (bus, 2);
  g_assert_cmpstr (g_ptr_array_index (bus->signals, 1), ==, "InterfacesAdded " VPUSH_DBUS_PATH);

  g_clear_object (&pending);
  reply = call (bus, PATH_1, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_GET_ALL,
                g_variant_new ("(s)", VPUSH_DBUS_CHALLENGE_IFACE), &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_clear_error (&error);
  g_clear_pointer (&objects, g_variant_unref);
  reply = call (bus, VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                VPUSH_DBUS_GET_MANAGED_OBJECTS, NULL, &error);
  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (objects), ==, 1);
}

/* Holds back the daemon's side: a call the filter saw is queued by GDBus, and whatever
 * the test does before the main loop runs again happens between GDBus's dispatch and the
 * call. */
typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean seen;
} Seen;

static GDBusMessage *
note_call (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
           gpointer user_data)
{
  Seen *seen = user_data;

  if (incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL
      && g_strcmp0 (g_dbus_message_get_path (message), PATH_1) == 0)
    {
      g_mutex_lock (&seen->lock);
      seen->seen = TRUE;
      g_cond_signal (&seen->cond);
      g_mutex_unlock (&seen->lock);
    }
  return message;
}

/* Sends a Properties call on PATH_1 and returns once vpushd's side has it queued, without
 * running the main loop. */
static void
send_held (Bus *bus, Seen *seen, const gchar *method, GVariant *args, GAsyncResult **result)
{
  seen->seen = FALSE;
  g_dbus_connection_call (bus->client, g_dbus_connection_get_unique_name (bus->daemon), PATH_1,
                          VPUSH_DBUS_PROPERTIES_IFACE, method, args, NULL, G_DBUS_CALL_FLAGS_NONE,
                          5000, NULL, call_cb, result);
  g_mutex_lock (&seen->lock);
  while (!seen->seen)
    g_cond_wait (&seen->cond, &seen->lock);
  g_mutex_unlock (&seen->lock);
  /* the filter runs before GDBus queues the call for the main loop */
  g_usleep (50 * 1000);
}

static gboolean
finish_challenge (gpointer user_data)
{
  vpush_pending_finish (user_data, SID_1, "approved");
  return G_SOURCE_REMOVE;
}

/* A challenge that goes while a Properties call on it is on its way: NotFound, never an
 * empty answer. A pending set that goes with a call queued (and its subtree with it): the
 * UnknownMethod of a path nobody serves, and nothing freed is touched. */
static void
test_gone_during_call (Bus *bus, gconstpointer data)
{
  g_autoptr (VpushObjectManager) server = vpush_object_manager_new (VPUSH_DBUS_PATH);
  g_autoptr (VpushPending) pending = vpush_pending_new (server, NULL);
  g_autoptr (VpushChallenge) c
      = make_challenge (SID_1, FACTOR_A, "order-1", "2026-11-25T10:05:00Z");
  g_autoptr (GError) error = NULL;
  Seen seen = { 0 };
  guint filter;
  const struct
  {
    const gchar *method;
    const gchar *format;
  } calls[] = { { VPUSH_DBUS_PROPERTIES_GET_ALL, "(s)" }, { VPUSH_DBUS_PROPERTIES_GET, "(ss)" } };

  g_mutex_init (&seen.lock);
  g_cond_init (&seen.cond);
  filter = g_dbus_connection_add_filter (bus->daemon, note_call, &seen, NULL);
  g_assert_true (vpush_object_manager_set_connection (server, bus->daemon, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (GVariant) reply = NULL;
      GVariant *args
          = g_str_equal (calls[i].method, VPUSH_DBUS_PROPERTIES_GET_ALL)
                ? g_variant_new ("(s)", VPUSH_DBUS_CHALLENGE_IFACE)
                : g_variant_new ("(ss)", VPUSH_DBUS_CHALLENGE_IFACE, VPUSH_DBUS_CHALLENGE_STATUS);

      vpush_pending_put (pending, c);
      send_held (bus, &seen, calls[i].method, args, &result);
      /* after GDBus's dispatch (G_PRIORITY_HIGH), before the call (default priority) */
      g_idle_add_full (G_PRIORITY_HIGH / 2, finish_challenge, pending, NULL);
      while (result == NULL)
        g_main_context_iteration (NULL, TRUE);
      reply = g_dbus_connection_call_finish (bus->client, result, &error);
      g_assert_null (reply);
      g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
      g_clear_error (&error);
      g_assert_null (vpush_pending_lookup (pending, SID_1));
      g_clear_pointer (&pending, g_object_unref);
      pending = vpush_pending_new (server, &error);
      g_assert_no_error (error);
    }

  /* the pending set itself goes with a call queued */
  {
    g_autoptr (GAsyncResult) result = NULL;
    g_autoptr (GVariant) reply = NULL;

    vpush_pending_put (pending, c);
    send_held (bus, &seen, VPUSH_DBUS_PROPERTIES_GET_ALL,
               g_variant_new ("(s)", VPUSH_DBUS_CHALLENGE_IFACE), &result);
    g_clear_object (&pending);
    while (result == NULL)
      g_main_context_iteration (NULL, TRUE);
    reply = g_dbus_connection_call_finish (bus->client, result, &error);
    g_assert_null (reply);
    g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  }
  g_dbus_connection_remove_filter (bus->daemon, filter);
  g_cond_clear (&seen.cond);
  g_mutex_clear (&seen.lock);
}

static void
test_replace_keeps_answering (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) c1 = make_challenge ("YC00000000000000000000000000000002", FACTOR_A,
                                                  "order-1", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) c2 = make_challenge ("YC00000000000000000000000000000002", FACTOR_A,
                                                  "order-1", "2026-11-25T10:05:00Z");
  VpushPendingEntry *entry;
  gint64 first;

  vpush_pending_put (pending, c1);
  entry = vpush_pending_lookup (pending, c1->sid);
  entry->answering = TRUE;
  first = entry->fetched_at;
  g_usleep (1000);
  vpush_pending_put (pending, c2);
  entry = vpush_pending_lookup (pending, c1->sid);
  g_assert_true (entry->challenge == c2);
  g_assert_true (entry->answering);
  g_assert_cmpint (entry->fetched_at, >, first);
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 1);
}

static void
test_expire_and_remove_factor (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) old = make_challenge ("YC00000000000000000000000000000003", FACTOR_A,
                                                   "order-3", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) busy = make_challenge ("YC00000000000000000000000000000004", FACTOR_A,
                                                    "order-4", "2026-11-25T10:05:00Z");
  g_autoptr (VpushChallenge) live = make_challenge ("YC00000000000000000000000000000005", FACTOR_B,
                                                    "order-5", "2026-11-25T11:00:00Z");
  g_autoptr (GDateTime) now_dt = g_date_time_new_utc (2026, 11, 25, 10, 30, 0);
  const gchar *status = NULL;

  vpush_pending_put (pending, old);
  vpush_pending_put (pending, busy);
  vpush_pending_put (pending, live);
  /* one being answered is left to its answer */
  vpush_pending_lookup (pending, busy->sid)->answering = TRUE;

  vpush_pending_expire (pending, g_date_time_to_unix (now_dt));
  g_assert_null (vpush_pending_lookup (pending, old->sid));
  g_assert_nonnull (vpush_pending_lookup (pending, busy->sid));
  g_assert_nonnull (vpush_pending_lookup (pending, live->sid));
  g_assert_nonnull (vpush_pending_lookup_finished (pending, old->sid, &status));
  g_assert_cmpstr (status, ==, "expired");

  /* a deleted factor's challenges go without a trace */
  vpush_pending_remove_factor (pending, FACTOR_B);
  g_assert_null (vpush_pending_lookup (pending, live->sid));
  g_assert_null (vpush_pending_lookup_finished (pending, live->sid, &status));
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 1);
}

typedef struct
{
  gint64 now;
  guint calls;
} FakeClock;

static gint64
fake_clock (gpointer user_data)
{
  FakeClock *clock = user_data;

  clock->calls++;
  return clock->now;
}

static gboolean
set_flag (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* With a clock, a challenge expires by itself, by a timer for its expiry; nothing pending,
 * no timer: the clock is not even asked. */
static void
test_expiry_timer (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) c = make_challenge ("YC00000000000000000000000000000006", FACTOR_A,
                                                 "order-6", "2026-11-25T10:05:00Z");
  g_autoptr (GDateTime) expiry = g_date_time_new_utc (2026, 11, 25, 10, 5, 0);
  FakeClock clock = { g_date_time_to_unix (expiry) - 1, 0 };
  const gchar *status = NULL;
  gboolean waited = FALSE;

  vpush_pending_set_clock (pending, fake_clock, &clock);
  g_assert_cmpuint (clock.calls, ==, 0);
  vpush_pending_put (pending, c);
  clock.now++;
  while (vpush_pending_lookup (pending, c->sid) != NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (vpush_pending_lookup_finished (pending, c->sid, &status));
  g_assert_cmpstr (status, ==, "expired");

  clock.calls = 0;
  g_timeout_add (1500, set_flag, &waited);
  while (!waited)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (clock.calls, ==, 0);
  vpush_pending_set_clock (pending, NULL, NULL);
}

/* After a suspend the clock has jumped past an expiry while the timer, on the monotonic
 * clock, still waits: expiring now finishes the challenge at once, and not before a clock
 * is set. */
static void
test_expire_now (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL, NULL);
  g_autoptr (VpushChallenge) c = make_challenge ("YC00000000000000000000000000000007", FACTOR_A,
                                                 "order-7", "2026-11-25T10:05:00Z");
  g_autoptr (GDateTime) expiry = g_date_time_new_utc (2026, 11, 25, 10, 5, 0);
  FakeClock clock = { g_date_time_to_unix (expiry) - 3600, 0 };
  const gchar *status = NULL;

  vpush_pending_put (pending, c);
  vpush_pending_expire_now (pending);
  g_assert_nonnull (vpush_pending_lookup (pending, c->sid));

  vpush_pending_set_clock (pending, fake_clock, &clock);
  vpush_pending_expire_now (pending);
  g_assert_nonnull (vpush_pending_lookup (pending, c->sid));
  clock.now = g_date_time_to_unix (expiry) + 8 * 3600;
  vpush_pending_expire_now (pending);
  g_assert_null (vpush_pending_lookup (pending, c->sid));
  g_assert_nonnull (vpush_pending_lookup_finished (pending, c->sid, &status));
  g_assert_cmpstr (status, ==, "expired");
  vpush_pending_set_clock (pending, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/pending/put-export-finish", Bus, NULL, bus_setup, test_put_export_finish,
              bus_teardown);
  g_test_add ("/pending/object-manager", Bus, NULL, bus_setup, test_object_manager, bus_teardown);
  g_test_add ("/pending/gone-during-call", Bus, NULL, bus_setup, test_gone_during_call,
              bus_teardown);
  g_test_add_func ("/pending/replace-keeps-answering", test_replace_keeps_answering);
  g_test_add_func ("/pending/expire-and-remove-factor", test_expire_and_remove_factor);
  g_test_add_func ("/pending/expiry-timer", test_expiry_timer);
  g_test_add_func ("/pending/expire-now", test_expire_now);
  g_test_add_func ("/pending/note-finished", test_note_finished);
  g_test_add_func ("/pending/bounded", test_bounded);
  return g_test_run ();
}
