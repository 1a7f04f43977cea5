#include "vpush-pending.h"

#include <string.h>

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

/* What GDBus holds for the subtree: it may run a call it queued before the subtree went,
 * and must then find no pending set rather than a freed one. */
typedef struct
{
  struct _VpushPending *pending;
} VpushPendingHolder;

struct _VpushPending
{
  GObject parent_instance;
  VpushObjectManager *server; /* nullable: nothing on the bus */
  VpushPendingHolder *holder; /* with server: the subtree's user data */
  GHashTable *entries;        /* sid → VpushPendingEntry */
  GHashTable *finished;       /* sid → FinishedEntry */
  GHashTable *unfetched;      /* sid → VpushChallenge: see vpush_pending_set_unfetched() */
  gboolean full_warned;       /* VPUSH_PENDING_MAX reached, said once */
  VpushPendingClock clock;
  gpointer clock_data;
  guint expire_id;
  gint64 expire_due; /* the clock's time the timer is for */
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
  if (self->holder != NULL)
    {
      self->holder->pending = NULL;
      vpush_object_manager_remove_subtree (self->server, self->holder);
    }
  g_hash_table_unref (self->entries);
  g_hash_table_unref (self->finished);
  g_hash_table_unref (self->unfetched);
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
  self->unfetched = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify)vpush_challenge_unref);
}

static gchar **challenges_enumerate (GDBusConnection *connection, const gchar *sender,
                                     const gchar *object_path, gpointer user_data);
static GDBusInterfaceInfo **challenges_introspect (GDBusConnection *connection, const gchar *sender,
                                                   const gchar *object_path, const gchar *node,
                                                   gpointer user_data);
static const GDBusInterfaceVTable *
challenges_dispatch (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                     const gchar *interface_name, const gchar *node, gpointer *out_user_data,
                     gpointer user_data);
static void challenges_list (GVariantBuilder *builder, gpointer user_data);

VpushPending *
vpush_pending_new (VpushObjectManager *server, GError **error)
{
  static const GDBusSubtreeVTable vtable = {
    challenges_enumerate,
    challenges_introspect,
    challenges_dispatch,
    { 0 },
  };
  g_autoptr (VpushPending) self = g_object_new (VPUSH_TYPE_PENDING, NULL);
  VpushPendingHolder *holder;

  if (server == NULL)
    return g_steal_pointer (&self);
  holder = g_new0 (VpushPendingHolder, 1);
  holder->pending = self;
  /* dispatched without enumerating: a call on one challenge looks up its sid only */
  if (!vpush_object_manager_add_subtree (server, VPUSH_DBUS_CHALLENGES_PATH, &vtable,
                                         G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                         challenges_list, holder, g_free, error))
    return NULL;
  self->server = g_object_ref (server);
  self->holder = holder;
  return g_steal_pointer (&self);
}

static GVariant *
challenge_property_value (VpushChallenge *c, const gchar *name)
{
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_SID))
    return g_variant_new_string (c->sid);
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_FACTOR))
    {
      g_autofree gchar *path = vpush_factor_object_path (c->factor_sid);

      return g_variant_new_object_path (path);
    }
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_STATUS))
    return g_variant_new_string (c->status);
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_MESSAGE))
    return g_variant_new_string (c->message);
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_FIELDS))
    return g_variant_ref (c->fields);
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_CREATED_AT))
    return g_variant_new_take_string (vpush_time_format (c->created_at));
  if (g_str_equal (name, VPUSH_DBUS_CHALLENGE_EXPIRES_AT))
    return g_variant_new_take_string (vpush_time_format (c->expires_at));
  return NULL;
}

/* A Challenge property's value, a reference the caller owns (as GDBus's get_property
 * hands it over), or NULL for a name the interface does not have */
static GVariant *
challenge_property (VpushChallenge *c, const gchar *name)
{
  GVariant *value = challenge_property_value (c, name);

  return value != NULL ? g_variant_take_ref (value) : NULL;
}

/* a{sv}: every property, in the order of the interface's XML */
static GVariant *
challenge_properties (VpushChallenge *c)
{
  GDBusInterfaceInfo *info = vpush_dbus_challenge_interface_info ();
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      g_autoptr (GVariant) value = challenge_property (c, info->properties[i]->name);

      g_variant_builder_add_value (
          &builder, g_variant_new_dict_entry (g_variant_new_string (info->properties[i]->name),
                                              g_variant_new_variant (value)));
    }
  return g_variant_builder_end (&builder);
}

/* a{sa{sv}}: the one interface of a challenge's object */
static GVariant *
challenge_interfaces (VpushChallenge *c)
{
  GVariant *entry = g_variant_new_dict_entry (g_variant_new_string (VPUSH_DBUS_CHALLENGE_IFACE),
                                              challenge_properties (c));

  return g_variant_new_array (NULL, &entry, 1);
}

static VpushPendingEntry *
entry_of_path (VpushPendingHolder *holder, const gchar *object_path)
{
  const gchar *slash = strrchr (object_path, '/');

  if (holder->pending == NULL || slash == NULL)
    return NULL;
  return g_hash_table_lookup (holder->pending->entries, slash + 1);
}

/* The challenges path is one GDBus subtree whose nodes are the pending challenges: an
 * object per challenge would cost GDBus's bookkeeping for each. */
static gchar **
challenges_enumerate (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                      gpointer user_data)
{
  VpushPendingHolder *holder = user_data;
  g_autofree gchar **sids = NULL;

  if (holder->pending == NULL)
    return g_new0 (gchar *, 1);
  sids = (gchar **)g_hash_table_get_keys_as_array (holder->pending->entries, NULL);
  /* GDBus frees the strings as well */
  return g_strdupv (sids);
}

/* Every node has the Challenge interface, so that GDBus hands a call on a challenge that
 * is gone (answered, expired, a stale proxy's) to the method_call below, which says so
 * with NotFound, as for a factor; enumerate lists only the pending ones. */
static GDBusInterfaceInfo **
challenges_introspect (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                       const gchar *node, gpointer user_data)
{
  return vpush_object_manager_node_interfaces (node, vpush_dbus_challenge_interface_info ());
}

/* Properties.Get and GetAll: GDBus sends them here (the vtable has no get_property), in
 * an idle after its dispatch, so the challenge is looked up then, once. */
static void
challenge_method_call (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                       const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                       GDBusMethodInvocation *invocation, gpointer user_data)
{
  VpushPendingEntry *entry = entry_of_path (user_data, object_path);
  const gchar *name;

  if (entry == NULL)
    {
      vpush_object_manager_return_not_found (invocation, "pending challenge", object_path);
      return;
    }
  if (g_str_equal (method_name, VPUSH_DBUS_PROPERTIES_GET_ALL))
    {
      g_dbus_method_invocation_return_value (
          invocation, g_variant_new ("(@a{sv})", challenge_properties (entry->challenge)));
      return;
    }
  /* Get: GDBus has checked that the property is one of the interface's, and readable */
  g_variant_get (parameters, "(&s&s)", NULL, &name);
  {
    g_autoptr (GVariant) value = challenge_property (entry->challenge, name);

    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(v)", value));
  }
}

static const GDBusInterfaceVTable challenge_vtable = {
  challenge_method_call,
  NULL,
  NULL,
  { 0 },
};

static const GDBusInterfaceVTable *
challenges_dispatch (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                     const gchar *interface_name, const gchar *node, gpointer *out_user_data,
                     gpointer user_data)
{
  if (node == NULL || !g_str_equal (interface_name, VPUSH_DBUS_CHALLENGE_IFACE))
    return NULL;
  *out_user_data = user_data;
  return &challenge_vtable;
}

static void
challenges_list (GVariantBuilder *builder, gpointer user_data)
{
  VpushPendingHolder *holder = user_data;
  GHashTableIter iter;
  VpushPendingEntry *entry;

  if (holder->pending == NULL)
    return;
  g_hash_table_iter_init (&iter, holder->pending->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    {
      g_autofree gchar *path = vpush_challenge_object_path (entry->challenge->sid);

      g_variant_builder_add_value (
          builder, g_variant_new_dict_entry (g_variant_new_object_path (path),
                                             challenge_interfaces (entry->challenge)));
    }
}

/* PropertiesChanged for what a fresh copy of a pending challenge changed */
static void
emit_changes (VpushPending *self, VpushChallenge *old, VpushChallenge *new)
{
  GDBusConnection *connection = vpush_object_manager_get_connection (self->server);
  GDBusInterfaceInfo *info = vpush_dbus_challenge_interface_info ();
  g_autofree gchar *path = NULL;
  GVariantBuilder builder;
  gboolean changed = FALSE;

  /* the same copy again is what every poll brings: a look at the fields settles it */
  if (connection == NULL
      || (g_str_equal (old->factor_sid, new->factor_sid) && g_str_equal (old->status, new->status)
          && g_str_equal (old->message, new->message) && g_variant_equal (old->fields, new->fields)
          && old->created_at == new->created_at && old->expires_at == new->expires_at))
    return;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      const gchar *name = info->properties[i]->name;
      g_autoptr (GVariant) before = challenge_property (old, name);
      g_autoptr (GVariant) after = challenge_property (new, name);

      if (g_variant_equal (before, after))
        continue;
      g_variant_builder_add (&builder, "{sv}", name, after);
      changed = TRUE;
    }
  if (!changed)
    {
      g_variant_builder_clear (&builder);
      return;
    }
  path = vpush_challenge_object_path (new->sid);
  g_dbus_connection_emit_signal (
      connection, NULL, path, VPUSH_DBUS_PROPERTIES_IFACE, VPUSH_DBUS_PROPERTIES_CHANGED,
      g_variant_new ("(s@a{sv}@as)", VPUSH_DBUS_CHALLENGE_IFACE, g_variant_builder_end (&builder),
                     g_variant_new_strv (NULL, 0)),
      NULL);
}

static gboolean on_expire_timer (gpointer user_data);

/* When challenge expires, in the clock's time: by the API's Date it was fetched with, if
 * the clock runs behind that (vpush_challenge_now()), as ApproveChallenge judges it */
static gint64
expires_by_clock (VpushChallenge *challenge, gint64 now)
{
  return now + (challenge->expires_at - vpush_challenge_now (challenge, now));
}

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
  now = self->clock (self->clock_data);
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    earliest = MIN (earliest, expires_by_clock (entry->challenge, now));
  self->expire_due = earliest;
  self->expire_id = g_timeout_add_seconds ((guint)CLAMP (earliest - now, 1, EXPIRE_CHECK_MAX_S),
                                           on_expire_timer, self);
  g_source_set_name_by_id (self->expire_id, "[vpush] challenge expiry");
}

/* Whether the timer must be set again for challenge */
static gboolean
expires_sooner (VpushPending *self, VpushChallenge *challenge)
{
  return self->expire_id == 0
         || (self->clock != NULL
             && expires_by_clock (challenge, self->clock (self->clock_data)) < self->expire_due);
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
vpush_pending_expire_now (VpushPending *self)
{
  if (self->clock == NULL)
    return;
  vpush_pending_expire (self, self->clock (self->clock_data));
  schedule_expiry (self);
}

gboolean
vpush_pending_put (VpushPending *self, VpushChallenge *challenge)
{
  VpushPendingEntry *entry = g_hash_table_lookup (self->entries, challenge->sid);

  /* final states never change back: a "pending" copy of a finished challenge is a GET
   * that was answered before the challenge was, and must not bring it back */
  if (g_hash_table_contains (self->finished, challenge->sid))
    {
      g_debug ("ignoring a stale pending copy of finished challenge %s", challenge->sid);
      g_hash_table_remove (self->unfetched, challenge->sid);
      return TRUE;
    }
  if (entry == NULL && g_hash_table_size (self->entries) >= VPUSH_PENDING_MAX)
    {
      /* once per fill: a server listing without end would otherwise write a line each */
      if (!self->full_warned)
        g_warning ("%u challenges are pending, the most vpushd keeps: challenge %s of factor %s "
                   "and others are left out until some are answered or expire",
                   VPUSH_PENDING_MAX, challenge->sid, challenge->factor_sid);
      self->full_warned = TRUE;
      return FALSE;
    }
  if (entry == NULL)
    self->full_warned = FALSE; /* there was room */
  /* an entry now; one left out above still counts for the approvals as listed */
  g_hash_table_remove (self->unfetched, challenge->sid);

  if (entry != NULL)
    {
      g_autoptr (VpushChallenge) old = g_steal_pointer (&entry->challenge);

      entry->challenge = vpush_challenge_ref (challenge);
      entry->fetched_at = vpush_time_boot_us ();
      if (self->server != NULL)
        emit_changes (self, old, challenge);
      if (expires_sooner (self, challenge))
        schedule_expiry (self);
      return TRUE;
    }

  entry = g_new0 (VpushPendingEntry, 1);
  entry->challenge = vpush_challenge_ref (challenge);
  entry->fetched_at = vpush_time_boot_us ();
  g_hash_table_insert (self->entries, g_strdup (challenge->sid), entry);

  if (self->server != NULL)
    {
      g_autofree gchar *path = vpush_challenge_object_path (challenge->sid);

      vpush_object_manager_emit_added (self->server, path, challenge_interfaces (challenge));
    }
  if (expires_sooner (self, challenge))
    schedule_expiry (self);
  if (vpush_log_debug_enabled ())
    g_debug ("challenge %s of factor %s is pending", challenge->sid, challenge->factor_sid);
  return TRUE;
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

/* Called before the entry leaves the table: GDBus dispatches calls by the table alone, so
 * once it has, the object is gone. */
static void
unexport (VpushPending *self, VpushPendingEntry *entry)
{
  g_autofree gchar *path = NULL;

  if (self->server == NULL)
    return;
  path = vpush_challenge_object_path (entry->challenge->sid);
  vpush_object_manager_emit_removed (self->server, path, VPUSH_DBUS_CHALLENGE_IFACE);
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
vpush_pending_note_finished (VpushPending *self, VpushChallenge *challenge, gint64 now)
{
  FinishedEntry *f;

  g_return_if_fail (!g_str_equal (challenge->status, "pending"));

  if (g_hash_table_contains (self->entries, challenge->sid)
      || g_hash_table_contains (self->finished, challenge->sid))
    return;
  f = g_new0 (FinishedEntry, 1);
  f->challenge = vpush_challenge_ref (challenge);
  f->status = g_strdup (challenge->status);
  /* kept for as long from its creation as one seen finishing here is from then */
  f->finished_at = g_get_monotonic_time () - MAX (now - challenge->created_at, 0) * G_USEC_PER_SEC;
  g_hash_table_replace (self->finished, g_strdup (challenge->sid), f);
  prune_finished (self);
}

void
vpush_pending_finish (VpushPending *self, const gchar *sid, const gchar *final_status)
{
  VpushPendingEntry *entry = g_hash_table_lookup (self->entries, sid);
  FinishedEntry *f;

  g_hash_table_remove (self->unfetched, sid);
  if (entry == NULL)
    {
      f = g_hash_table_lookup (self->finished, sid);
      if (f != NULL && g_str_equal (f->status, "responded"))
        {
          g_free (f->status);
          f->status = g_strdup (final_status);
        }
      return;
    }

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

  vpush_pending_set_unfetched (self, factor_sid, NULL, TRUE);
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
vpush_pending_set_unfetched (VpushPending *self, const gchar *factor_sid, GPtrArray *challenges,
                             gboolean replace)
{
  GHashTableIter iter;
  VpushChallenge *c;

  g_return_if_fail (VPUSH_IS_PENDING (self));

  if (replace)
    {
      g_hash_table_iter_init (&iter, self->unfetched);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&c))
        if (g_str_equal (c->factor_sid, factor_sid))
          g_hash_table_iter_remove (&iter);
    }
  for (guint i = 0; challenges != NULL && i < challenges->len; i++)
    {
      c = g_ptr_array_index (challenges, i);
      if (g_hash_table_contains (self->entries, c->sid)
          || g_hash_table_contains (self->finished, c->sid))
        continue;
      /* bounded as the pending set is, whatever a server lists */
      if (g_hash_table_size (self->unfetched) >= VPUSH_PENDING_MAX
          && !g_hash_table_contains (self->unfetched, c->sid))
        break;
      g_hash_table_replace (self->unfetched, g_strdup (c->sid), vpush_challenge_ref (c));
    }
}

void
vpush_pending_drop_unfetched (VpushPending *self, const gchar *sid)
{
  g_return_if_fail (VPUSH_IS_PENDING (self));

  g_hash_table_remove (self->unfetched, sid);
}

GList *
vpush_pending_get_unfetched (VpushPending *self)
{
  g_return_val_if_fail (VPUSH_IS_PENDING (self), NULL);

  return g_hash_table_get_values (self->unfetched);
}

void
vpush_pending_expire (VpushPending *self, gint64 now)
{
  g_autoptr (GPtrArray) expired = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  VpushPendingEntry *entry;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&entry))
    if (entry->challenge->expires_at <= vpush_challenge_now (entry->challenge, now)
        && !entry->answering)
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
                             VpushPendingFactorFilter allowed, gpointer user_data,
                             const gchar **out_status)
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
      if (g_str_equal (f->status, "deleted")
          || (allowed != NULL && !allowed (f->challenge->factor_sid, user_data)))
        continue;
      if (best == NULL || f->challenge->created_at > best->challenge->created_at
          || (f->challenge->created_at == best->challenge->created_at
              && f->finished_at > best->finished_at))
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
