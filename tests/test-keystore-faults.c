/* Unit tests for the key store when the Secret Service fails it: a locked keyring, a
 * cancelled call, a daemon that does not answer, one killed and restarted. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-secure-heap.h"
#include "vpush-crypto.h"
#include "vpush-error.h"
#include "vpush-names.h"

#include "test-keystore-common.h"

#define TEST_PASSWORD "vpush-test"

/* Runs the main loop until the key store's "available" is as wanted; fails after 10 s. */
static void
wait_available (VpushKeystore *keystore, gboolean available)
{
  WAIT_FOR (vpush_keystore_get_available (keystore) == available);
}

static void
on_locked_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
}

/* gnome-keyring's own unlock-without-prompt call (as used by its tests and
 * gnome-keyring-daemon --unlock): a plain session, then the password as a secret struct. */
static void
unlock_with_master_password (const gchar *collection_path)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *session = NULL;
  GVariant *password;

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);

  reply = g_dbus_connection_call_sync (
      bus, VPUSH_SECRETS_NAME, VPUSH_SECRETS_PATH, VPUSH_SECRETS_SERVICE_IFACE,
      VPUSH_SECRETS_OPEN_SESSION, g_variant_new ("(sv)", "plain", g_variant_new_string ("")),
      G_VARIANT_TYPE ("(vo)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(vo)", NULL, &session);

  password
      = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, TEST_PASSWORD, strlen (TEST_PASSWORD), 1);
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (
      bus, VPUSH_SECRETS_NAME, VPUSH_SECRETS_PATH, VPUSH_GNOME_KEYRING_INTERNAL_IFACE,
      VPUSH_GNOME_KEYRING_UNLOCK_WITH_PASSWORD,
      g_variant_new ("(o(o@ay@ays))", collection_path, session,
                     g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "", 0, 1), password,
                     "text/plain"),
      G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
}

static SecretService *
secret_service (void)
{
  g_autoptr (GError) error = NULL;
  SecretService *service = secret_service_get_sync (SECRET_SERVICE_NONE, NULL, &error);

  g_assert_no_error (error);
  return service;
}

/* The collection the "default" alias names: the login keyring, unless a test moved it */
static SecretCollection *
default_collection (SecretService *service)
{
  g_autoptr (GError) error = NULL;
  SecretCollection *collection = secret_collection_for_alias_sync (
      service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (collection);
  return collection;
}

static gchar *
default_collection_path (void)
{
  g_autoptr (SecretService) service = secret_service ();
  g_autoptr (SecretCollection) collection = default_collection (service);

  return g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection)));
}

/* Locks the collection as the desktop's screen lock or Seahorse would. */
static void
lock_collection (SecretService *service, SecretCollection *collection)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GList *objects = g_list_append (NULL, collection);

  secret_service_lock (service, objects, NULL, on_result, &result);
  g_list_free (objects);
  g_assert_cmpint (secret_service_lock_finish (service, wait_result (&result), NULL, &error), ==,
                   1);
  g_assert_no_error (error);
}

static void
test_keystore_locked (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (SecretService) service = secret_service ();
  g_autoptr (SecretCollection) collection = default_collection (service);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *new_sid = random_sid ();
  g_autofree gchar *doomed_sid = random_sid ();
  g_autofree gchar *collection_path
      = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection)));
  gboolean notified = FALSE;
  gulong handler;
  gint64 deadline;

  store_key (keystore, sid, "Locked away", key);
  store_key (keystore, doomed_sid, "Deleted while locked", key);
  g_assert_false (vpush_keystore_get_locked (keystore));
  handler = g_signal_connect (keystore, "notify::locked", G_CALLBACK (on_locked_notify), &notified);

  lock_collection (service, collection);
  WAIT_FOR (notified);
  g_assert_true (vpush_keystore_get_locked (keystore));

  /* A key store started while locked knows it from the start. */
  {
    g_autoptr (VpushKeystore) late = keystore_new_ready (5000);

    g_assert_true (vpush_keystore_get_locked (late));
  }

  /* Locked must not read as "no such key". */
  loaded = keystore_load (keystore, sid, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_null (loaded);
  g_clear_error (&error);
  loaded = keystore_load (keystore, ABSENT_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);
  g_assert_false (keystore_store (keystore, new_sid, "New", key, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);
  g_assert_false (keystore_delete (keystore, doomed_sid, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);
  g_assert_false (keystore_relabel (keystore, sid, "Renamed while locked", &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);

  /* Unlocked behind the key store's back: it follows and works again. */
  notified = FALSE;
  unlock_with_master_password (collection_path);
  WAIT_FOR (notified);
  g_assert_false (vpush_keystore_get_locked (keystore));

  assert_loads_key (keystore, sid, key);

  /* The delete refused while locked is done once unlocked, without being asked again (the
   * bound is generous: this also runs under ASan on a loaded machine) */
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (count_items (doomed_sid) != 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }

  g_signal_handler_disconnect (keystore, handler);
}

static void
test_keystore_cancelled (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;

  /* The caller's cancellation is reported as such, not as a timeout. */
  vpush_keystore_load_async (keystore, ABSENT_SID, cancellable, on_result, &result);
  g_cancellable_cancel (cancellable);
  loaded = vpush_keystore_load_finish (keystore, wait_result (&result), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (loaded);
}

static pid_t
keyring_daemon_pid (void)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  guint32 pid = 0;

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (
      bus, VPUSH_DBUS_DAEMON_NAME, VPUSH_DBUS_DAEMON_PATH, VPUSH_DBUS_DAEMON_IFACE,
      VPUSH_DBUS_DAEMON_GET_CONNECTION_PID, g_variant_new ("(s)", VPUSH_SECRETS_NAME),
      G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &pid);
  g_assert_cmpuint (pid, >, 1);
  return (pid_t)pid;
}

static void
test_keystore_timeout (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (500);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GAsyncResult) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  pid_t pid = keyring_daemon_pid ();
  gboolean available_after = TRUE;
  gboolean expired = FALSE;
  guint guard;
  gint64 start;
  gint64 elapsed;
  gint64 elapsed_again = 0;

  store_key (keystore, sid, "Hung", key);

  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  start = g_get_monotonic_time ();
  vpush_keystore_load_async (keystore, sid, NULL, on_result, &result);
  /* Waited on by hand: the daemon has to be resumed before any assertion can fail. */
  guard = g_timeout_add_seconds (5, on_wait_expired, &expired);
  while (result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  elapsed = g_get_monotonic_time () - start;
  /* Known not to answer: the next call fails at once instead of waiting again. */
  available_after = vpush_keystore_get_available (keystore);
  if (result != NULL)
    {
      start = g_get_monotonic_time ();
      vpush_keystore_load_async (keystore, sid, NULL, on_result, &again);
      while (again == NULL && !expired)
        g_main_context_iteration (NULL, TRUE);
      elapsed_again = g_get_monotonic_time () - start;
    }
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  g_assert_false (expired);
  g_source_remove (guard);

  g_assert_nonnull (result);
  loaded = vpush_keystore_load_finish (keystore, result, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpstr (error->message, ==, "the Secret Service did not answer within 500 ms");
  g_assert_null (loaded);
  g_assert_cmpint (elapsed, >=, 450 * 1000);
  g_assert_cmpint (elapsed, <, 2 * G_USEC_PER_SEC);
  g_clear_error (&error);

  g_assert_false (available_after);
  g_assert_nonnull (again);
  loaded = vpush_keystore_load_finish (keystore, again, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpstr (error->message, ==, "the Secret Service did not answer within 500 ms");
  g_assert_cmpint (elapsed_again, <, 500 * 1000);
  g_clear_error (&error);

  /* Resumed, the key store finds it again by itself and answers (the late replies to the
   * abandoned calls are dropped on the way). */
  wait_available (keystore, TRUE);
  g_assert_false (vpush_keystore_get_locked (keystore));
  assert_loads_key (keystore, sid, key);
}

static void
test_keystore_timeout_store (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (500);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *warm_sid = random_sid ();
  g_autofree gchar *sid = random_sid ();
  pid_t pid = keyring_daemon_pid ();
  gboolean expired = FALSE;
  guint guard;

  /* a first store opens libsecret's session: the next one is a single CreateItem */
  store_key (keystore, warm_sid, "Warm", key);

  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  vpush_keystore_store_async (keystore, sid, SERVICE_SID, "Doubtful", key, NULL, on_result,
                              &result);
  guard = g_timeout_add_seconds (5, on_wait_expired, &expired);
  while (result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  g_assert_false (expired);
  g_source_remove (guard);

  g_assert_false (vpush_keystore_store_finish (keystore, result, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);

  /* The resumed daemon runs the queued CreateItem; the key store deletes that item again as
   * soon as it answers: a failed store leaves nothing behind. */
  wait_available (keystore, TRUE);
  WAIT_FOR (count_items (sid) == 0);
  g_assert_cmpuint (count_items (sid), ==, 0);
  g_assert_cmpuint (count_items (warm_sid), ==, 1);
}

/* A gnome-keyring-daemon started by the test itself, reaped at the end. */
static GPid spawned_keyring;

static void
start_keyring (gboolean unlock)
{
  const gchar *argv_unlock[]
      = { "gnome-keyring-daemon", "--foreground", "--components=secrets", "--unlock", NULL };
  g_autoptr (GError) error = NULL;
  gint stdin_fd = -1;

  g_assert_cmpint (spawned_keyring, ==, 0);
  /* without --unlock the argument list simply ends early */
  if (!unlock)
    argv_unlock[3] = NULL;
  g_spawn_async_with_pipes (NULL, (gchar **)argv_unlock, NULL,
                            G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD
                                | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                            NULL, NULL, &spawned_keyring, &stdin_fd, NULL, NULL, &error);
  g_assert_no_error (error);
  if (unlock)
    g_assert_cmpint (write (stdin_fd, TEST_PASSWORD, strlen (TEST_PASSWORD)), ==,
                     (gssize)strlen (TEST_PASSWORD));
  close (stdin_fd);
}

static void
stop_keyring (void)
{
  if (spawned_keyring == 0)
    return;
  kill (spawned_keyring, SIGTERM);
  waitpid (spawned_keyring, NULL, 0);
  g_spawn_close_pid (spawned_keyring);
  spawned_keyring = 0;
}

/* Killed and restarted: the key store's SecretService and collection point at a dead peer.
 * It notices through the bus name, reconnects when the new daemon appears and reads the lock
 * state again; nothing has to be made again by its user. */
static void
test_keystore_reconnect (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (2000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) second = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *second_sid = random_sid ();
  g_autofree gchar *collection_path = NULL;

  store_key (keystore, sid, "Survives restarts", key);

  /* killed */
  g_assert_cmpint (kill (keyring_daemon_pid (), SIGKILL), ==, 0);
  wait_available (keystore, FALSE);
  g_assert_false (vpush_keystore_get_locked (keystore));
  g_assert_cmpstr (vpush_keystore_get_unavailable_reason (keystore), ==,
                   "the Secret Service (org.freedesktop.secrets) is not running");
  loaded = keystore_load (keystore, sid, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpstr (error->message, ==,
                   "the Secret Service (org.freedesktop.secrets) is not running");
  g_assert_null (loaded);
  g_clear_error (&error);

  /* restarted, unlocked: back by itself, with a new session */
  start_keyring (TRUE);
  wait_available (keystore, TRUE);
  g_assert_false (vpush_keystore_get_locked (keystore));
  g_assert_null (vpush_keystore_get_unavailable_reason (keystore));
  assert_loads_key (keystore, sid, key);
  store_key (keystore, second_sid, "After the restart", second);
  assert_loads_key (keystore, second_sid, second);

  /* stopped and restarted without the password: available, but locked */
  stop_keyring ();
  wait_available (keystore, FALSE);
  start_keyring (FALSE);
  wait_available (keystore, TRUE);
  g_assert_true (vpush_keystore_get_locked (keystore));
  loaded = keystore_load (keystore, sid, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpstr (error->message, ==, "the login keyring is locked");
  g_clear_error (&error);

  /* gnome-keyring tells this unlock only with the service's CollectionChanged */
  collection_path = default_collection_path ();
  unlock_with_master_password (collection_path);
  WAIT_FOR (!vpush_keystore_get_locked (keystore));
  g_assert_true (vpush_keystore_get_available (keystore));
  assert_loads_key (keystore, sid, key);
}

/* Points the "default" alias at a collection, as Seahorse's "Set as default" does. */
static void
set_default_alias (SecretService *service, const gchar *collection_path)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (service), VPUSH_SECRETS_SET_ALIAS,
                                  g_variant_new ("(so)", "default", collection_path),
                                  G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
}

/* The factor's key is in a collection that is locked now, one the key store does not follow
 * (the default alias moved since the key was stored), and the collection it follows has an
 * item under the same sid that is not a key: the key is hidden, not unusable. Said to be
 * unusable, Factor.Delete would delete the factor here only, and its items, with the key
 * that could have deleted it at the Verify API once unlocked. */
static void
test_keystore_locked_elsewhere (void)
{
  g_autoptr (VpushKeystore) before = keystore_new_ready (5000);
  g_autoptr (VpushKeystore) keystore = NULL;
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (SecretService) service = secret_service ();
  g_autoptr (SecretCollection) login = default_collection (service);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *login_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (login)));

  store_key (before, sid, "Stored in login", key);

  set_default_alias (service, "/org/freedesktop/secrets/collection/session");
  g_assert_true (secret_password_store_sync (&test_schema, SECRET_COLLECTION_SESSION, "not a key",
                                             "garbage", NULL, &error, "factor-sid", sid,
                                             "service-sid", SERVICE_SID, NULL));
  g_assert_no_error (error);
  g_assert_cmpuint (count_items (sid), ==, 2);

  lock_collection (service, login);

  keystore = keystore_new_ready (5000);
  g_assert_false (vpush_keystore_get_locked (keystore));
  loaded = keystore_load (keystore, sid, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_null (loaded);
  g_clear_error (&error);

  unlock_with_master_password (login_path);
  set_default_alias (service, login_path);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, "*is not a key, another one is*");
  loaded = keystore_load (keystore, sid, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  assert_same_key (key, loaded);
  g_assert_true (keystore_delete (keystore, sid, &error));
  g_assert_no_error (error);
}

/* Locks the collection with a plain call, which runs no main loop: the key store hears of
 * it only when the test's loop next runs. */
static void
lock_now (GDBusConnection *bus, const gchar *collection_path)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *paths[] = { collection_path, NULL };

  reply = g_dbus_connection_call_sync (bus, VPUSH_SECRETS_NAME, VPUSH_SECRETS_PATH,
                                       VPUSH_SECRETS_SERVICE_IFACE, VPUSH_SECRETS_LOCK,
                                       g_variant_new ("(^ao)", paths), G_VARIANT_TYPE ("(aoo)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
}

/* A filter on the test's (and the key store's) bus connection that acts as the answer to
 * the key store's first call of member comes in, before the key store sees it: what act
 * sends goes out before anything the key store sends next. act returns the answer the key
 * store gets (taking the one given). */
typedef struct _ReplyRace ReplyRace;
struct _ReplyRace
{
  const gchar *member;
  gchar *path; /* what act works on */
  gint armed;
  guint32 serial; /* of the call held in view */
  GDBusMessage *(*act) (ReplyRace *race, GDBusConnection *connection, GDBusMessage *answer);
};

static GDBusMessage *
on_first_answer (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                 gpointer user_data)
{
  ReplyRace *race = user_data;

  if (!incoming)
    {
      if (g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL
          && g_strcmp0 (g_dbus_message_get_member (message), race->member) == 0
          && g_atomic_int_compare_and_exchange (&race->armed, TRUE, FALSE))
        race->serial = g_dbus_message_get_serial (message);
      return message;
    }
  if (race->serial == 0 || g_dbus_message_get_reply_serial (message) != race->serial)
    return message;
  race->serial = 0;
  return race->act (race, connection, message);
}

/* A call to the Secret Service whose answer nobody waits for */
static void
send_call (GDBusConnection *connection, const gchar *path, const gchar *interface,
           const gchar *method, GVariant *body)
{
  g_autoptr (GDBusMessage) call
      = g_dbus_message_new_method_call (VPUSH_SECRETS_NAME, path, interface, method);

  if (body != NULL)
    g_dbus_message_set_body (call, body);
  g_dbus_message_set_flags (call, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_assert_true (g_dbus_connection_send_message (connection, call, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                                 NULL, NULL));
}

/* For GetSecrets: locks the collection (race->path), and answers as gnome-keyring does
 * once it is locked after the search, the item's secret left out; the key store hears of
 * the lock only after that answer, as when a screen locker locks between the two. */
static GDBusMessage *
lock_and_leave_out_secrets (ReplyRace *race, GDBusConnection *connection, GDBusMessage *answer)
{
  const gchar *paths[] = { race->path, NULL };
  GDBusMessage *without = g_dbus_message_copy (answer, NULL);

  send_call (connection, VPUSH_SECRETS_PATH, VPUSH_SECRETS_SERVICE_IFACE, VPUSH_SECRETS_LOCK,
             g_variant_new ("(^ao)", paths));
  g_dbus_message_set_body (without, g_variant_new_parsed ("(@a{o(oayays)} {},)"));
  g_object_unref (answer);
  return without;
}

/* For SearchItems: deletes the item (race->path) before the key store can read its secret */
static GDBusMessage *
delete_item (ReplyRace *race, GDBusConnection *connection, GDBusMessage *answer)
{
  send_call (connection, race->path, VPUSH_SECRETS_ITEM_IFACE, VPUSH_SECRETS_DELETE, NULL);
  return answer;
}

/* An item deleted between a load's search and the reading of its secret (the key store
 * deleting a key it could not delete before, as the crash recovery loads it) is a key gone,
 * not a Secret Service that failed: that sent the recovery into a 30 s wait. */
static void
test_keystore_deleted_during_load (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GVariant) found = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  ReplyRace race = { .member = VPUSH_SECRETS_SEARCH_ITEMS, .act = delete_item, .armed = TRUE };
  guint filter;

  store_key (keystore, sid, "Deleted while read", key);
  found = g_dbus_connection_call_sync (
      bus, VPUSH_SECRETS_NAME, VPUSH_SECRETS_PATH, VPUSH_SECRETS_SERVICE_IFACE,
      VPUSH_SECRETS_SEARCH_ITEMS, g_variant_new_parsed ("({'factor-sid': %s},)", sid),
      G_VARIANT_TYPE ("(aoao)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree const gchar **unlocked = NULL;

    g_variant_get (found, "(^a&o@ao)", &unlocked, NULL);
    g_assert_cmpuint (g_strv_length ((gchar **)unlocked), ==, 1);
    race.path = g_strdup (unlocked[0]);
  }
  filter = g_dbus_connection_add_filter (bus, on_first_answer, &race, NULL);
  loaded = keystore_load (keystore, sid, &error);
  g_dbus_connection_remove_filter (bus, filter);
  g_assert_false (race.armed);
  g_assert_null (loaded);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND);
  g_assert_cmpuint (count_items (sid), ==, 0);
  g_free (race.path);
}

/* A lock a few milliseconds after a load's search (a screen locker) leaves the item's secret
 * out of the answer: that is the keyring locked, not an unusable key, which Factor.Delete
 * would take for a reason to delete the factor here only, and an approval fail as Failed. */
static void
test_keystore_locked_during_load (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  ReplyRace race = { .member = VPUSH_SECRETS_GET_SECRETS,
                     .act = lock_and_leave_out_secrets,
                     .path = default_collection_path (),
                     .armed = TRUE };
  guint filter;

  store_key (keystore, sid, "Locked while read", key);
  filter = g_dbus_connection_add_filter (bus, on_first_answer, &race, NULL);
  loaded = keystore_load (keystore, sid, &error);
  g_dbus_connection_remove_filter (bus, filter);
  g_assert_false (race.armed);
  g_assert_null (loaded);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_clear_error (&error);

  unlock_with_master_password (race.path);
  WAIT_FOR (!vpush_keystore_get_locked (keystore));
  assert_loads_key (keystore, sid, key);
  g_assert_cmpuint (count_items (sid), ==, 1);
  g_free (race.path);
}

/* A delete sent before the key store heard of a lock finds the item locked: that is no
 * delete done, or a copy of a key nothing owns (an enrollment's provisional one) would stay
 * until the next start. It fails as locked, and the key store deletes the item itself once
 * the keyring is unlocked. */
static void
test_keystore_locked_before_delete (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  g_autofree gchar *collection_path = default_collection_path ();
  gint64 deadline;

  store_key (keystore, sid, "Locked before its delete", key);
  g_assert_false (vpush_keystore_get_locked (keystore));
  lock_now (bus, collection_path);
  g_assert_false (keystore_delete (keystore, sid, &error));
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED);
  g_assert_cmpuint (count_items (sid), ==, 1);

  unlock_with_master_password (collection_path);
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (count_items (sid) != 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
}

/* A key that can't be parsed for lack of memory (OpenSSL's secure heap full) is no verdict
 * on the key: the load fails as unreadable (io.github.vpush1.Error.Failed on the bus), not
 * as an unusable key, which a Delete or the crash recovery would drop from the keyring */
static void
test_keystore_out_of_memory (void)
{
  g_autoptr (VpushKeystore) keystore = keystore_new_ready (5000);
  g_autoptr (VpushKey) key = generate_key ();
  g_autoptr (VpushKey) loaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *sid = random_sid ();
  GPtrArray *blocks;

  store_key (keystore, sid, "Kiosk", key);
  blocks = secure_heap_fill ();
  loaded = keystore_load (keystore, sid, &error);
  secure_heap_release (blocks);
  g_assert_null (loaded);
  g_assert_error (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNREADABLE);
  g_assert_nonnull (strstr (error->message, "could not be read: Out of memory"));
  g_assert_cmpuint (count_items (sid), ==, 1);
  assert_loads_key (keystore, sid, key);
}

int
main (int argc, char **argv)
{
  int ret;

  const gchar *heap_missing;

  /* as vpushd does, before any thread; a user's RLIMIT_MEMLOCK may be too low for mlock() */
  heap_missing = vpush_crypto_init_secure_heap ();
  g_assert_true (heap_missing == NULL || strstr (heap_missing, "not locked"));
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/keystore/locked", test_keystore_locked);
  g_test_add_func ("/keystore/locked-elsewhere", test_keystore_locked_elsewhere);
  g_test_add_func ("/keystore/cancelled", test_keystore_cancelled);
  g_test_add_func ("/keystore/timeout", test_keystore_timeout);
  g_test_add_func ("/keystore/timeout-store", test_keystore_timeout_store);
  g_test_add_func ("/keystore/out-of-memory", test_keystore_out_of_memory);
  g_test_add_func ("/keystore/locked-during-load", test_keystore_locked_during_load);
  g_test_add_func ("/keystore/locked-before-delete", test_keystore_locked_before_delete);
  g_test_add_func ("/keystore/deleted-during-load", test_keystore_deleted_during_load);
  /* last: it replaces the session's keyring daemon with its own */
  g_test_add_func ("/keystore/reconnect", test_keystore_reconnect);
  ret = g_test_run ();
  stop_keyring ();
  return ret;
}
