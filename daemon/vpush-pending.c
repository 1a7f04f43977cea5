#include "vpush-pending.h"

#include "vpush-dbus-generated.h"
#include "vpush-log.h"
#include "vpush-names.h"
#include "vpush-time.h"

/* How long and how many finished challenges are remembered */
#define FINISHED_KEEP_USEC (30 * 60 * G_USEC_PER_SEC)
#define FINISHED_MAX       512
/* The expiry timer looks again at least this often, so that a wall clock that jumped
 * (suspend, a corrected offset to the API) is caught up with. */
#define EXPIRE_CHECK_MAX_S 60

typedef struct
{
  VpushChallenge *challenge;
  gchar *status;
  gint64 finished_at; /* monotonic µs */
} FinishedEntry;

struct _VpushPending
{
  GObject parent_instance;
  GDBusObjectManagerServer *server;
  GHashTable *entries;  /* sid → VpushPendingEntry */
  GHashTable *finished; /* sid → FinishedEntry */
  VpushPendingClock clock;
  gpointer clock_data;
  guint expire_id;
  gint64 expire_due; /* server time the timer is for */
};

G_DEFINE_TYPE (VpushPending, vpush_pending, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

gchar *
vpush_challenge_object_path (const gchar *sid)
{
  return g_strdup_printf ("%s/%s", VPUSH_DBUS_CHALLENGES_PATH, sid);
}

gchar *
vpush_factor_object_path (const gchar *sid)
{
  return g_strdup_printf ("%s/%s", VPUSH_DBUS_FACTORS_PATH, sid);
}

static void
entry_free (gpointer data)
{
  VpushPendingEntry *entry = data;

  g_clear_pointer (&entry->challenge, vpush_challenge_unref);
  g_clear_object (&entry->object);
  g_free (entry);
}

static void
finished_free (gpointer data)
{
  FinishedEntry *entry = data;

  vpush_challenge_unref (entry->challenge);
  g_free (entry->status);
  g_free (entry);
}

static void
vpush_pending_finalize (GObject *object)
{
  VpushPending *self = VPUSH_PENDING (object);

  g_clear_handle_id (&self->expire_id, g_source_remove);
  g_hash_table_unref (self->entries);
  g_hash_table_unref (self->finished);
  g_clear_object (&self->server);
  G_OBJECT_CLASS (vpush_pending_parent_class)->finalize (object);
}

static void
vpush_pending_class_init (VpushPendingClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_pending_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vpush_pending_init (VpushPending *self)
{
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
  self->finished = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, finished_free);
}

VpushPending *
vpush_pending_new (GDBusObjectManagerServer *server)
{
  VpushPending *self = g_object_new (VPUSH_TYPE_PENDING, NULL);

  if (server)
    self->server = g_object_ref (server);
  return self;
}

/* The Challenge skeleton, with the properties for InterfacesAdded built in fewer steps:
 * the generated get_properties() adds each one with g_variant_builder_add (b, "{sv}", …),
 * which parses its format string every time, and made up a tenth of vpushd's work for a
 * push. The same properties in the same order, each read through the generated vtable. */
typedef struct
{
  VpushDBusChallengeSkeleton parent_instance;
} VpushChallengeSkeleton;

typedef struct
{
  VpushDBusChallengeSkeletonClass parent_class;
} VpushChallengeSkeletonClass;

static GType vpush_challenge_skeleton_get_type (void);
G_DEFINE_TYPE (VpushChallengeSkeleton, vpush_challenge_skeleton, VPUSH_DBUS_TYPE_CHALLENGE_SKELETON)

static GVariant *
vpush_challenge_skeleton_get_properties (GDBusInterfaceSkeleton *skeleton)
{
  GDBusInterfaceInfo *info = g_dbus_interface_skeleton_get_info (skeleton);
  GDBusInterfaceVTable *vtable = g_dbus_interface_skeleton_get_vtable (skeleton);
  GDBusConnection *connection = g_dbus_interface_skeleton_get_connection (skeleton);
  const gchar *path = g_dbus_interface_skeleton_get_object_path (skeleton);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; info->properties != NULL && info->properties[i] != NULL; i++)
    {
      GDBusPropertyInfo *property = info->properties[i];
      GVariant *value;

      if (!(property->flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE))
        continue;
      value = vtable->get_property (connection, NULL, path, info->name, property->name, NULL,
                                    skeleton);
      if (value == NULL)
        continue;
      g_variant_take_ref (value);
      g_variant_builder_add_value (&builder,
                                   g_variant_new_dict_entry (g_variant_new_string (property->name),
                                                             g_variant_new_variant (value)));
      g_variant_unref (value);
    }
  return g_variant_builder_end (&builder);
}

static void
vpush_challenge_skeleton_class_init (VpushChallengeSkeletonClass *klass)
{
  GDBusInterfaceSkeletonClass *skeleton_class = G_DBUS_INTERFACE_SKELETON_CLASS (klass);

  skeleton_class->get_properties = vpush_challenge_skeleton_get_properties;
}

static void
vpush_challenge_skeleton_init (VpushChallengeSkeleton *self)
{
}

static void
update_skeleton (VpushDBusChallenge *iface, VpushChallenge *c)
{
  g_autofree gchar *factor_path = vpush_factor_object_path (c->factor_sid);
  g_autofree gchar *created = vpush_time_format (c->created_at);
  g_autofree gchar *expires = vpush_time_format (c->expires_at);

  g_object_set (iface, "sid", c->sid, "factor", factor_path, "status", c->status, "message",
                c->message, "fields", c->fields, "created-at", created, "expires-at", expires,
                NULL);
}

static gboolean on_expire_timer (gpointer user_data);

/* One timer, for the earliest expiry among the pending challenges (a second at least:
 * one that expired while being answered is looked at again a second later); none while
 * nothing is pending, so an idle daemon is not woken for it. */
static void
schedule_expiry (VpushPending *self)
{
  GHashTableIter iter;
  VpushPendingEntry *entry;
  gint64 earliest = G_MAXINT64;
  gint64 now;

  g_clear_handle_id (&self->expire_id, g_source_remove);
  if (self->clock == NULL || g_hash_table_size (self->entries) == 0)
    return;
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    earliest = MIN (earliest, entry->challenge->expires_at);
  now = self->clock (self->clock_data);
  self->expire_due = earliest;
  self->expire_id = g_timeout_add_seconds ((guint)CLAMP (earliest - now, 1, EXPIRE_CHECK_MAX_S),
                                           on_expire_timer, self);
  g_source_set_name_by_id (self->expire_id, "[vpush] challenge expiry");
}

static gboolean
on_expire_timer (gpointer user_data)
{
  VpushPending *self = user_data;

  self->expire_id = 0;
  vpush_pending_expire (self, self->clock (self->clock_data));
  schedule_expiry (self);
  return G_SOURCE_REMOVE;
}

void
vpush_pending_set_clock (VpushPending *self, VpushPendingClock clock, gpointer user_data)
{
  self->clock = clock;
  self->clock_data = user_data;
  schedule_expiry (self);
}

void
vpush_pending_put (VpushPending *self, VpushChallenge *challenge)
{
  VpushPendingEntry *entry = g_hash_table_lookup (self->entries, challenge->sid);
  g_autoptr (VpushDBusChallenge) iface = NULL;

  /* final states never change back: a "pending" copy of a finished challenge is a GET
   * that was answered before the challenge was, and must not bring it back */
  if (g_hash_table_contains (self->finished, challenge->sid))
    {
      g_debug ("ignoring a stale pending copy of finished challenge %s", challenge->sid);
      return;
    }

  if (entry != NULL)
    {
      g_clear_pointer (&entry->challenge, vpush_challenge_unref);
      entry->challenge = vpush_challenge_ref (challenge);
      entry->fetched_at = g_get_monotonic_time ();
      if (entry->object)
        {
          iface = VPUSH_DBUS_CHALLENGE (g_dbus_object_get_interface (G_DBUS_OBJECT (entry->object),
                                                                     VPUSH_DBUS_CHALLENGE_IFACE));
          update_skeleton (iface, challenge);
        }
      if (self->expire_id == 0 || challenge->expires_at < self->expire_due)
        schedule_expiry (self);
      return;
    }

  entry = g_new0 (VpushPendingEntry, 1);
  entry->challenge = vpush_challenge_ref (challenge);
  entry->fetched_at = g_get_monotonic_time ();
  g_hash_table_insert (self->entries, g_strdup (challenge->sid), entry);

  if (self->server)
    {
      g_autofree gchar *path = vpush_challenge_object_path (challenge->sid);

      entry->object = g_dbus_object_skeleton_new (path);
      iface = VPUSH_DBUS_CHALLENGE (g_object_new (vpush_challenge_skeleton_get_type (), NULL));
      update_skeleton (iface, challenge);
      g_dbus_object_skeleton_add_interface (entry->object, G_DBUS_INTERFACE_SKELETON (iface));
      g_dbus_object_manager_server_export (self->server, entry->object);
    }
  if (self->expire_id == 0 || challenge->expires_at < self->expire_due)
    schedule_expiry (self);
  if (vpush_log_debug_enabled ())
    g_debug ("challenge %s of factor %s is pending", challenge->sid, challenge->factor_sid);
}

VpushPendingEntry *
vpush_pending_lookup (VpushPending *self, const gchar *sid)
{
  return g_hash_table_lookup (self->entries, sid);
}

GList *
vpush_pending_get_entries (VpushPending *self)
{
  return g_hash_table_get_values (self->entries);
}

guint
vpush_pending_get_size (VpushPending *self)
{
  return g_hash_table_size (self->entries);
}

static void
unexport (VpushPending *self, VpushPendingEntry *entry)
{
  if (self->server && entry->object)
    g_dbus_object_manager_server_unexport (
        self->server, g_dbus_object_get_object_path (G_DBUS_OBJECT (entry->object)));
}

static void
prune_finished (VpushPending *self)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  FinishedEntry *f;
  FinishedEntry *oldest = NULL;
  const gchar *oldest_sid = NULL;
  const gchar *sid;

  g_hash_table_iter_init (&iter, self->finished);
  while (g_hash_table_iter_next (&iter, (gpointer *)&sid, (gpointer *)&f))
    {
      if (now - f->finished_at > FINISHED_KEEP_USEC)
        g_hash_table_iter_remove (&iter);
      else if (oldest == NULL || f->finished_at < oldest->finished_at)
        {
          oldest = f;
          oldest_sid = sid;
        }
    }
  if (g_hash_table_size (self->finished) > FINISHED_MAX && oldest_sid)
    g_hash_table_remove (self->finished, oldest_sid);
}

void
vpush_pending_finish (VpushPending *self, const gchar *sid, const gchar *final_status)
{
  VpushPendingEntry *entry = g_hash_table_lookup (self->entries, sid);
  FinishedEntry *f;

  if (entry == NULL)
    return;

  f = g_new0 (FinishedEntry, 1);
  f->challenge = vpush_challenge_ref (entry->challenge);
  f->status = g_strdup (final_status);
  f->finished_at = g_get_monotonic_time ();
  g_hash_table_replace (self->finished, g_strdup (sid), f);
  prune_finished (self);

  if (vpush_log_debug_enabled ())
    g_debug ("challenge %s is no longer pending: %s", sid, final_status);
  unexport (self, entry);
  g_hash_table_remove (self->entries, sid);
  /* a timer for a challenge that is gone just finds nothing to do, except the last */
  if (g_hash_table_size (self->entries) == 0)
    g_clear_handle_id (&self->expire_id, g_source_remove);
}

void
vpush_pending_remove_factor (VpushPending *self, const gchar *factor_sid)
{
  GHashTableIter iter;
  VpushPendingEntry *entry;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    if (g_str_equal (entry->challenge->factor_sid, factor_sid))
      {
        unexport (self, entry);
        g_hash_table_iter_remove (&iter);
      }
  if (g_hash_table_size (self->entries) == 0)
    g_clear_handle_id (&self->expire_id, g_source_remove);
}

void
vpush_pending_expire (VpushPending *self, gint64 now)
{
  g_autoptr (GPtrArray) expired = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  VpushPendingEntry *entry;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    if (entry->challenge->expires_at <= now && !entry->answering)
      g_ptr_array_add (expired, g_strdup (entry->challenge->sid));

  for (guint i = 0; i < expired->len; i++)
    vpush_pending_finish (self, g_ptr_array_index (expired, i), "expired");
}

VpushChallenge *
vpush_pending_lookup_finished (VpushPending *self, const gchar *sid, const gchar **out_status)
{
  FinishedEntry *f = g_hash_table_lookup (self->finished, sid);

  if (f == NULL)
    return NULL;
  *out_status = f->status;
  return f->challenge;
}

VpushChallenge *
vpush_pending_find_finished (VpushPending *self, const gchar *key, const gchar *value,
                             const gchar *factor_sid, const gchar **out_status)
{
  GHashTableIter iter;
  FinishedEntry *f;
  FinishedEntry *best = NULL;

  g_hash_table_iter_init (&iter, self->finished);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&f))
    {
      const gchar *v = vpush_challenge_get_hidden (f->challenge, key);

      if (g_strcmp0 (v, value) != 0)
        continue;
      if (factor_sid && !g_str_equal (factor_sid, f->challenge->factor_sid))
        continue;
      if (best == NULL || f->finished_at > best->finished_at)
        best = f;
    }
  if (best == NULL)
    return NULL;
  *out_status = best->status;
  return best->challenge;
}

void
vpush_pending_emit_changed (VpushPending *self)
{
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}
