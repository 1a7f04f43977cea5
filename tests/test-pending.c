/* The pending set: export, replace, finish, expiry, and the memory of finished ones. */
#include "vpush-pending.h"

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

static void
count_changed (VpushPending *pending, guint *n)
{
  (*n)++;
}

static void
test_put_export_finish (void)
{
  g_autoptr (GDBusObjectManagerServer) server = g_dbus_object_manager_server_new (VPUSH_DBUS_PATH);
  g_autoptr (VpushPending) pending = vpush_pending_new (server);
  g_autoptr (VpushChallenge) c = make_challenge ("YC00000000000000000000000000000001", FACTOR_A,
                                                 "order-1", "2026-11-25T10:05:00Z");
  g_autoptr (GDBusObject) object = NULL;
  g_autoptr (GDBusInterface) iface = NULL;
  g_autoptr (GVariant) props = NULL;
  const gchar *status = NULL;
  VpushPendingEntry *entry;
  guint changed = 0;

  g_signal_connect (pending, "changed", G_CALLBACK (count_changed), &changed);
  vpush_pending_put (pending, c);
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 1);
  entry = vpush_pending_lookup (pending, c->sid);
  g_assert_nonnull (entry);
  g_assert_true (entry->challenge == c);
  g_assert_false (entry->answering);

  /* exported with the contract's properties, and no hidden details */
  object
      = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (server), VPUSH_DBUS_CHALLENGES_PATH
                                          "/YC00000000000000000000000000000001");
  g_assert_nonnull (object);
  iface = g_dbus_object_get_interface (object, VPUSH_DBUS_CHALLENGE_IFACE);
  g_assert_nonnull (iface);
  props = g_dbus_interface_skeleton_get_properties (G_DBUS_INTERFACE_SKELETON (iface));
  g_assert_cmpstr (g_variant_get_type_string (props), ==, "a{sv}");
  {
    g_autoptr (GVariant) v = g_variant_lookup_value (props, "Factor", G_VARIANT_TYPE_OBJECT_PATH);
    g_autoptr (GVariant) e = g_variant_lookup_value (props, "ExpiresAt", G_VARIANT_TYPE_STRING);
    g_autoptr (GVariant) m = g_variant_lookup_value (props, "Message", G_VARIANT_TYPE_STRING);

    g_assert_cmpstr (g_variant_get_string (v, NULL), ==, VPUSH_DBUS_FACTORS_PATH "/" FACTOR_A);
    g_assert_cmpstr (g_variant_get_string (e, NULL), ==, "2026-11-25T10:05:00Z");
    g_assert_cmpstr (g_variant_get_string (m, NULL), ==, "Log in?");
  }
  g_assert_null (g_variant_lookup_value (props, "HiddenDetails", NULL));

  vpush_pending_emit_changed (pending);
  g_assert_cmpuint (changed, ==, 1);

  /* finished: off the bus, remembered with its status */
  vpush_pending_finish (pending, c->sid, "approved");
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 0);
  g_assert_null (vpush_pending_lookup (pending, c->sid));
  g_clear_object (&object);
  object
      = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (server), VPUSH_DBUS_CHALLENGES_PATH
                                          "/YC00000000000000000000000000000001");
  g_assert_null (object);
  g_assert_true (vpush_pending_lookup_finished (pending, c->sid, &status) == c);
  g_assert_cmpstr (status, ==, "approved");
  status = NULL;
  g_assert_true (vpush_pending_find_finished (pending, "transaction_id", "order-1", NULL, &status)
                 == c);
  g_assert_cmpstr (status, ==, "approved");
  g_assert_null (
      vpush_pending_find_finished (pending, "transaction_id", "order-1", FACTOR_B, &status));
  g_assert_null (vpush_pending_find_finished (pending, "transaction_id", "order-2", NULL, &status));

  /* a stale pending copy (a GET answered before the answer was) does not bring it back */
  vpush_pending_put (pending, c);
  g_assert_null (vpush_pending_lookup (pending, c->sid));
  g_assert_cmpuint (vpush_pending_get_size (pending), ==, 0);
}

static void
test_replace_keeps_answering (void)
{
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL);
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
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL);
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
  g_autoptr (VpushPending) pending = vpush_pending_new (NULL);
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pending/put-export-finish", test_put_export_finish);
  g_test_add_func ("/pending/replace-keeps-answering", test_replace_keeps_answering);
  g_test_add_func ("/pending/expire-and-remove-factor", test_expire_and_remove_factor);
  g_test_add_func ("/pending/expiry-timer", test_expiry_timer);
  return g_test_run ();
}
