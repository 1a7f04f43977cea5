#include "vpush-manager.h"

#include "vpush-approve.h"
#include "vpush-bouncer.h"
#include "vpush-dbus-generated.h"
#include "vpush-enroll.h"
#include "vpush-error.h"
#include "vpush-factor.h"
#include "vpush-factor-fallback.h"
#include "vpush-names.h"
#include "vpush-object-manager.h"
#include "vpush-history.h"
#include "vpush-poller.h"
#include "vpush-push.h"
#include "vpush-recovery.h"
#include "vpush-refresh.h"
#include "vpush-wake.h"

struct _VpushManager
{
  GObject parent_instance;

  VpushConfig *config;
  VpushHttp *http;
  VpushVerify *verify;
  VpushKeystore *keystore;
  VpushFactorStore *store;
  VpushPending *pending;
  VpushAnswerMemory *answers;
  VpushPoller *poller;
  VpushHistory *history;
  VpushPush *push;
  VpushBouncer *bouncer;
  VpushRecovery *recovery; /* what a crash left behind, at start */
  VpushWake *wake;         /* resumes and network changes, once the network is started */
  guint wake_id;           /* the idle that starts it */

  GDBusConnection *connection;
  VpushObjectManager *object_manager;
  VpushDBusManager *skeleton;
  guint factor_fallback_id; /* NotFound for calls on factors that are not (or no longer) */

  GHashTable *factors;          /* sid → VpushFactor */
  GHashTable *key_cache;        /* sid → VpushKeyBox */
  GHashTable *waiting;          /* caller's unique name → how many of its approvals wait */
  GHashTable *enrolling;        /* factor sids the API gave enrollments not yet added */
  guint waiting_total;          /* the sum of waiting's values */
  guint at_api[VPUSH_AT_API_N]; /* calls of each kind under way at the Verify API */

  gboolean offline;          /* the last Verify API call could not reach it */
  GError *api_failure;       /* why the last Verify API request got no answer, NULL once one did */
  gchar *api_failure_factor; /* the factor that request was of, if any */
};

G_DEFINE_TYPE (VpushManager, vpush_manager, G_TYPE_OBJECT)

enum
{
  SIGNAL_FACTORS_CHANGED,
  SIGNAL_STOPPING,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

VpushKeyBox *
vpush_key_box_new (VpushKey *key)
{
  VpushKeyBox *box = g_rc_box_new0 (VpushKeyBox);

  box->key = key;
  return box;
}

VpushKeyBox *
vpush_key_box_ref (VpushKeyBox *box)
{
  return g_rc_box_acquire (box);
}

static void
key_box_clear (gpointer data)
{
  VpushKeyBox *box = data;

  g_clear_pointer (&box->key, vpush_key_free);
}

void
vpush_key_box_unref (VpushKeyBox *box)
{
  g_rc_box_release_full (box, key_box_clear);
}

static void
vpush_manager_finalize (GObject *object)
{
  VpushManager *self = VPUSH_MANAGER (object);

  if (self->pending != NULL)
    vpush_pending_set_clock (self->pending, NULL, NULL);
  /* a call still retrying keeps the client alive after us */
  if (self->verify != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->verify, self);
      vpush_verify_set_key_guard (self->verify, NULL, NULL);
    }
  g_clear_error (&self->api_failure);
  g_clear_pointer (&self->api_failure_factor, g_free);
  if (self->recovery != NULL)
    vpush_recovery_stop (self->recovery);
  g_clear_object (&self->recovery);
  g_clear_handle_id (&self->wake_id, g_source_remove);
  if (self->wake != NULL)
    vpush_wake_stop (self->wake);
  g_clear_object (&self->wake);
  g_clear_object (&self->push); /* before the poller: it polls through it */
  g_clear_pointer (&self->poller, vpush_poller_free);
  g_clear_pointer (&self->history, vpush_history_free);
  g_clear_object (&self->bouncer);
  g_hash_table_unref (self->factors);
  g_hash_table_unref (self->key_cache);
  g_hash_table_unref (self->waiting);
  g_hash_table_unref (self->enrolling);
  g_clear_object (&self->skeleton);
  g_clear_object (&self->object_manager);
  if (self->factor_fallback_id != 0)
    g_dbus_connection_unregister_subtree (self->connection, self->factor_fallback_id);
  g_clear_object (&self->connection);
  g_clear_object (&self->pending);
  g_clear_pointer (&self->answers, vpush_answer_memory_free);
  g_clear_object (&self->store);
  if (self->keystore != NULL)
    g_signal_handlers_disconnect_by_data (self->keystore, self);
  g_clear_object (&self->keystore);
  g_clear_object (&self->verify);
  g_clear_object (&self->http);
  g_clear_pointer (&self->config, vpush_config_free);
  G_OBJECT_CLASS (vpush_manager_parent_class)->finalize (object);
}

static void
vpush_manager_class_init (VpushManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_manager_finalize;
  signals[SIGNAL_FACTORS_CHANGED]
      = g_signal_new ("factors-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_STOPPING] = g_signal_new ("stopping", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vpush_manager_init (VpushManager *self)
{
  self->factors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->key_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify)vpush_key_box_unref);
  self->waiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->enrolling = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static void
update_state (VpushManager *self)
{
  const gchar *state;

  if (self->skeleton == NULL)
    return;
  /* the name is owned before the Secret Service has answered: calls that need keys wait */
  if (!vpush_keystore_get_settled (self->keystore))
    state = VPUSH_STATE_STARTING;
  /* keys can't be read: locked, or the Secret Service not there or not answering */
  else if (!vpush_keystore_get_available (self->keystore)
           || vpush_keystore_get_locked (self->keystore))
    state = VPUSH_STATE_KEYRING_LOCKED;
  else if (self->offline)
    state = VPUSH_STATE_OFFLINE;
  else
    state = VPUSH_STATE_READY;

  if (g_strcmp0 (vpush_dbus_manager_get_state (self->skeleton), state) != 0)
    {
      g_message ("state: %s", state);
      vpush_dbus_manager_set_state (self->skeleton, state);
      /* now, not from the skeleton's idle: before the reply of a call that brought it */
      g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->skeleton));
    }
}

/* A lock drops the keys held in memory: an approval under way that loaded one before (an
 * answer retrying, or about to go after a re-read) answers nothing more with it. */
static gboolean
keys_usable (gpointer user_data, GError **error)
{
  VpushManager *self = user_data;

  return !vpush_keystore_get_locked (self->keystore)
         || vpush_keystore_check_usable (self->keystore, error);
}

static void
on_keyring_locked (VpushManager *self)
{
  /* a locked keyring means the user wants the keys unusable: drop the cache too */
  if (vpush_keystore_get_locked (self->keystore))
    g_hash_table_remove_all (self->key_cache);
  update_state (self);
}

static void
on_push_state (VpushManager *self)
{
  /* the skeleton emits PropertiesChanged; at once, before the reply of an Update that
   * opened or closed a stream */
  if (self->skeleton != NULL)
    {
      vpush_dbus_manager_set_push_state (self->skeleton, vpush_push_get_state (self->push));
      g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->skeleton));
    }
}

static void
on_clock_corrected (VpushManager *self, gint64 offset)
{
  g_message ("clock corrected by the Verify API's Date: offset %" G_GINT64_FORMAT " s", offset);
  vpush_factor_store_save_clock_offset (self->store, offset);
}

/* Every request of the Verify client, retried or not: State follows it at once, so it is
 * offline while calls still retry (design.md "Reliability rules"). */
static void
on_attempt_finished (VpushManager *self, const GError *failure, const gchar *factor_sid)
{
  g_clear_error (&self->api_failure);
  g_clear_pointer (&self->api_failure_factor, g_free);
  if (failure != NULL)
    {
      self->api_failure = g_error_copy (failure);
      self->api_failure_factor = g_strdup (factor_sid);
    }
  vpush_manager_note_api_result (self, failure);
}

VpushManager *
vpush_manager_new (VpushConfig *config, const gchar *state_dir, GError **error)
{
  g_autoptr (VpushManager) self = g_object_new (VPUSH_TYPE_MANAGER, NULL);

  self->config = config;
  self->http = vpush_http_new ();
  if (config->ca_file)
    vpush_http_set_ca_file (self->http, config->ca_file);
  self->verify = vpush_verify_new (self->http, config->base_url, config->http_timeout_ms, error);
  if (self->verify == NULL)
    return NULL;
  self->store = vpush_factor_store_new (state_dir, error);
  if (self->store == NULL)
    return NULL;
  vpush_verify_set_clock_offset (self->verify, vpush_factor_store_load_clock_offset (self->store));
  g_signal_connect_swapped (self->verify, "clock-corrected", G_CALLBACK (on_clock_corrected), self);
  vpush_verify_set_retry_timeout (self->verify, config->retry_timeout_ms);
  g_signal_connect_swapped (self->verify, "attempt-finished", G_CALLBACK (on_attempt_finished),
                            self);

  self->keystore = vpush_keystore_new (config->keyring_timeout_ms);
  vpush_verify_set_key_guard (self->verify, keys_usable, self);
  g_signal_connect_swapped (self->keystore, "notify::locked", G_CALLBACK (on_keyring_locked), self);
  /* the key store reconnects by itself when the Secret Service comes (back) or answers again;
   * keys already in memory stay usable while it is away, only a lock drops them */
  g_signal_connect_swapped (self->keystore, "notify::available", G_CALLBACK (update_state), self);
  g_signal_connect_swapped (self->keystore, "notify::settled", G_CALLBACK (update_state), self);
  self->object_manager = vpush_object_manager_new (VPUSH_DBUS_PATH);
  self->pending = vpush_pending_new (self->object_manager, error);
  if (self->pending == NULL)
    return NULL;
  self->answers = vpush_answer_memory_new ();
  self->poller = vpush_poller_new (self);
  self->history = vpush_history_new (self);
  self->push = vpush_push_new (self, self->http);
  g_signal_connect_swapped (self->push, "notify::state", G_CALLBACK (on_push_state), self);
  return g_steal_pointer (&self);
}

static void
keystore_init_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_init_finish (VPUSH_KEYSTORE (source), result, &error))
    g_warning ("Secret Service unavailable, factor keys can't be used until it is: %s",
               error->message);
}

/* Reads the factors and the enrollment journal; the Secret Service is connected meanwhile,
 * and what needs a key waits for it (Manager.State is "starting" till then). */
gboolean
vpush_manager_load (VpushManager *self, GError **error)
{
  g_autoptr (GPtrArray) records = NULL;

  /* first: its round trips go on while the files are read */
  vpush_keystore_init_async (self->keystore, NULL, keystore_init_cb, NULL);
  records = vpush_factor_store_load_all (self->store, error);
  if (records == NULL)
    return FALSE;
  /* before anything can enroll: it reads the enrollment journal now */
  self->recovery = vpush_recovery_new (self->store, self->keystore, self->verify);
  vpush_recovery_start (self->recovery, records);
  for (guint i = 0; i < records->len; i++)
    {
      VpushFactorRecord *record = g_ptr_array_index (records, i);
      g_autoptr (VpushFactor) factor = NULL;

      g_ptr_array_index (records, i) = NULL;
      factor = vpush_factor_new (self, record);
      g_hash_table_insert (self->factors, g_strdup (record->sid), g_steal_pointer (&factor));
    }
  return TRUE;
}

static gboolean
handle_enroll (VpushDBusManager *skeleton, GDBusMethodInvocation *invocation, GVariant *request,
               VpushManager *self)
{
  vpush_enroll_handle (self, invocation, request);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_approve (VpushDBusManager *skeleton, GDBusMethodInvocation *invocation, GVariant *match,
                VpushManager *self)
{
  vpush_approve_handle (self, invocation, match, "approved");
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_deny (VpushDBusManager *skeleton, GDBusMethodInvocation *invocation, GVariant *match,
             VpushManager *self)
{
  vpush_approve_handle (self, invocation, match, "denied");
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_refresh (VpushDBusManager *skeleton, GDBusMethodInvocation *invocation, VpushManager *self)
{
  vpush_refresh_handle (self, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Pending challenges expire by the API's clock */
static gint64
pending_clock (gpointer user_data)
{
  VpushManager *self = user_data;

  return vpush_verify_now (self->verify);
}

gboolean
vpush_manager_export (VpushManager *self, GDBusConnection *connection, GError **error)
{
  GHashTableIter iter;
  VpushFactor *factor;

  self->connection = g_object_ref (connection);
  self->skeleton = vpush_dbus_manager_skeleton_new ();
  vpush_dbus_manager_set_version (self->skeleton, VPUSH_VERSION);
  vpush_dbus_manager_set_state (self->skeleton, VPUSH_STATE_STARTING);
  vpush_dbus_manager_set_push_state (self->skeleton, VPUSH_PUSH_STATE_DISABLED);
  g_signal_connect (self->skeleton, "handle-enroll-factor", G_CALLBACK (handle_enroll), self);
  g_signal_connect (self->skeleton, "handle-approve-challenge", G_CALLBACK (handle_approve), self);
  g_signal_connect (self->skeleton, "handle-deny-challenge", G_CALLBACK (handle_deny), self);
  g_signal_connect (self->skeleton, "handle-refresh", G_CALLBACK (handle_refresh), self);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton), connection,
                                         VPUSH_DBUS_PATH, error))
    return FALSE;
  self->factor_fallback_id = vpush_factor_fallback_register (connection, error);
  if (self->factor_fallback_id == 0)
    return FALSE;

  g_hash_table_iter_init (&iter, self->factors);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&factor))
    vpush_object_manager_export (self->object_manager, vpush_factor_get_object (factor));
  if (!vpush_object_manager_set_connection (self->object_manager, connection, error))
    return FALSE;

  vpush_pending_set_clock (self->pending, pending_clock, self);
  update_state (self);
  return TRUE;
}

static gboolean
start_wake_cb (gpointer user_data)
{
  VpushManager *self = user_data;

  self->wake_id = 0;
  self->wake = vpush_wake_new (self);
  return G_SOURCE_REMOVE;
}

/* Once the name is owned: a TLS connection's set-up (the CA file parsed) and the first
 * polls come after READY=1, not before it; so does the set-up of the wake-ups (a thread
 * that connects to the system bus and loads GIO's network monitor), after those. */
void
vpush_manager_start_network (VpushManager *self)
{
  GHashTableIter iter;
  VpushFactor *factor;

  g_hash_table_iter_init (&iter, self->factors);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&factor))
    vpush_push_update_factor (self->push, vpush_factor_get_sid (factor));
  vpush_push_start (self->push);
  g_hash_table_iter_init (&iter, self->factors);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&factor))
    vpush_poller_add_factor (self->poller, vpush_factor_get_sid (factor));
  if (self->wake == NULL && self->wake_id == 0)
    self->wake_id = g_idle_add_full (G_PRIORITY_LOW, start_wake_cb, self, NULL);
}

guint
vpush_manager_get_n_factors (VpushManager *self)
{
  return g_hash_table_size (self->factors);
}

const gchar *
vpush_manager_get_state (VpushManager *self)
{
  return self->skeleton ? vpush_dbus_manager_get_state (self->skeleton) : VPUSH_STATE_STARTING;
}

VpushDBusManager *
vpush_manager_get_skeleton (VpushManager *self)
{
  return self->skeleton;
}

VpushConfig *
vpush_manager_get_config (VpushManager *self)
{
  return self->config;
}

VpushVerify *
vpush_manager_get_verify (VpushManager *self)
{
  return self->verify;
}

VpushKeystore *
vpush_manager_get_keystore (VpushManager *self)
{
  return self->keystore;
}

VpushFactorStore *
vpush_manager_get_factor_store (VpushManager *self)
{
  return self->store;
}

void
vpush_manager_recover (VpushManager *self, VpushEnrollment *entry, gboolean api_done)
{
  if (self->recovery == NULL)
    {
      vpush_enrollment_free (entry);
      return;
    }
  vpush_recovery_take (self->recovery, entry, api_done);
}

VpushPending *
vpush_manager_get_pending (VpushManager *self)
{
  return self->pending;
}

VpushAnswerMemory *
vpush_manager_get_answers (VpushManager *self)
{
  return self->answers;
}

gboolean
vpush_manager_put_pending (VpushManager *self, VpushChallenge *challenge)
{
  /* A GET that was under way when its factor was deleted, or one that brought another
   * factor's challenge: a Challenge object must name a factor on the bus. */
  if (vpush_manager_lookup_factor (self, challenge->factor_sid) == NULL)
    {
      g_debug ("challenge %s is of factor %s, which is not here: not kept", challenge->sid,
               challenge->factor_sid);
      return FALSE;
    }
  return vpush_pending_put (self->pending, challenge);
}

VpushPoller *
vpush_manager_get_poller (VpushManager *self)
{
  return self->poller;
}

VpushHistory *
vpush_manager_get_history (VpushManager *self)
{
  return self->history;
}

VpushPush *
vpush_manager_get_push (VpushManager *self)
{
  return self->push;
}

void
vpush_manager_set_bouncer (VpushManager *self, VpushBouncer *bouncer)
{
  g_set_object (&self->bouncer, bouncer);
}

VpushBouncer *
vpush_manager_get_bouncer (VpushManager *self)
{
  return self->bouncer;
}

VpushFactor *
vpush_manager_lookup_factor (VpushManager *self, const gchar *sid)
{
  return g_hash_table_lookup (self->factors, sid);
}

GList *
vpush_manager_get_factors (VpushManager *self)
{
  return g_hash_table_get_values (self->factors);
}

void
vpush_manager_add_factor (VpushManager *self, VpushFactor *factor)
{
  const gchar *sid = vpush_factor_get_sid (factor);

  g_hash_table_replace (self->factors, g_strdup (sid), g_object_ref (factor));
  vpush_object_manager_export (self->object_manager, vpush_factor_get_object (factor));
  vpush_poller_add_factor (self->poller, sid);
  vpush_push_update_factor (self->push, sid);
  g_signal_emit (self, signals[SIGNAL_FACTORS_CHANGED], 0);
}

gboolean
vpush_manager_claim_factor_sid (VpushManager *self, const gchar *sid)
{
  g_return_val_if_fail (VPUSH_IS_MANAGER (self), FALSE);

  if (g_hash_table_contains (self->factors, sid) || g_hash_table_contains (self->enrolling, sid)
      || (self->recovery != NULL && vpush_recovery_holds_sid (self->recovery, sid)))
    return FALSE;
  g_hash_table_add (self->enrolling, g_strdup (sid));
  return TRUE;
}

void
vpush_manager_release_factor_sid (VpushManager *self, const gchar *sid)
{
  g_return_if_fail (VPUSH_IS_MANAGER (self));

  g_hash_table_remove (self->enrolling, sid);
}

void
vpush_manager_remove_factor (VpushManager *self, const gchar *sid)
{
  g_autofree gchar *path = vpush_factor_object_path (sid);

  vpush_poller_remove_factor (self->poller, sid);
  vpush_push_remove_factor (self->push, sid);
  vpush_pending_remove_factor (self->pending, sid);
  vpush_object_manager_unexport (self->object_manager, path);
  g_hash_table_remove (self->key_cache, sid);
  g_hash_table_remove (self->factors, sid);
  g_signal_emit (self, signals[SIGNAL_FACTORS_CHANGED], 0);
  /* calls waiting for a challenge of this factor look again, and find it gone */
  vpush_pending_emit_changed (self->pending);
}

static void
key_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  VpushManager *self = g_task_get_source_object (task);
  const gchar *sid = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  VpushKeyBox *box;
  VpushKey *key;
  VpushFactor *factor;

  key = vpush_keystore_load_finish (self->keystore, result, &error);
  if (key == NULL)
    {
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
        update_state (self);
      /* the factor is there, its key is not: a broken factor (Error.Failed to a caller),
       * never "no such factor"; unless a Delete of it, which removes the key before the
       * factor, is under way */
      factor = g_hash_table_lookup (self->factors, sid);
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND) && factor != NULL
          && !vpush_factor_is_deleting (factor))
        {
          g_clear_error (&error);
          error = vpush_error_key_missing (sid);
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  box = vpush_key_box_new (key);
  /* don't cache a key that was read while the keyring was locking */
  if (!vpush_keystore_get_locked (self->keystore))
    g_hash_table_replace (self->key_cache, g_strdup (sid), vpush_key_box_ref (box));
  g_task_return_pointer (task, box, (GDestroyNotify)vpush_key_box_unref);
}

void
vpush_manager_load_key_async (VpushManager *self, const gchar *factor_sid,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  VpushKeyBox *box = g_hash_table_lookup (self->key_cache, factor_sid);

  if (box != NULL)
    {
      g_task_return_pointer (task, vpush_key_box_ref (box), (GDestroyNotify)vpush_key_box_unref);
      return;
    }
  /* the key store fails at once, with the reason, while it is locked or unavailable */
  g_task_set_task_data (task, g_strdup (factor_sid), g_free);
  vpush_keystore_load_async (self->keystore, factor_sid, cancellable, key_loaded_cb,
                             g_steal_pointer (&task));
}

VpushKeyBox *
vpush_manager_load_key_finish (VpushManager *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
vpush_manager_cache_key (VpushManager *self, const gchar *factor_sid, VpushKeyBox *box)
{
  /* a lock wipes the keys held, an enrollment's too: one that was under way when the
   * keyring locked (its record waiting for the disk) keeps its key in the keyring only */
  if (vpush_keystore_get_locked (self->keystore))
    return;
  g_hash_table_replace (self->key_cache, g_strdup (factor_sid), vpush_key_box_ref (box));
}

void
vpush_manager_forget_key (VpushManager *self, const gchar *factor_sid)
{
  g_hash_table_remove (self->key_cache, factor_sid);
}

void
vpush_manager_note_api_result (VpushManager *self, const GError *error)
{
  gboolean offline = error != NULL && g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK);

  /* a local failure (keyring, missing key, a file) says nothing about the API either way;
   * each request's own outcome comes through "attempt-finished" anyway */
  if (error != NULL && !offline && !g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_API))
    return;
  if (self->offline != offline)
    {
      self->offline = offline;
      update_state (self);
    }
}

const GError *
vpush_manager_get_api_failure (VpushManager *self, const gchar **factor_sid)
{
  if (factor_sid != NULL)
    *factor_sid = self->api_failure_factor;
  return self->api_failure;
}

void
vpush_manager_stop (VpushManager *self)
{
  g_return_if_fail (VPUSH_IS_MANAGER (self));

  g_signal_emit (self, signals[SIGNAL_STOPPING], 0);
}

gboolean
vpush_manager_add_waiting (VpushManager *self, const gchar *caller, GError **error)
{
  guint n;

  g_return_val_if_fail (VPUSH_IS_MANAGER (self), FALSE);

  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->waiting, caller));
  if (n >= VPUSH_WAITING_PER_CALLER_MAX)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
                   "%s has %d calls waiting for a challenge already; this one is not waited for",
                   caller, VPUSH_WAITING_PER_CALLER_MAX);
      return FALSE;
    }
  if (self->waiting_total >= VPUSH_WAITING_MAX)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
                   "%d calls of all callers are waiting for a challenge already; this one "
                   "of %s is not waited for",
                   VPUSH_WAITING_MAX, caller);
      return FALSE;
    }
  g_hash_table_insert (self->waiting, g_strdup (caller), GUINT_TO_POINTER (n + 1));
  self->waiting_total++;
  return TRUE;
}

void
vpush_manager_remove_waiting (VpushManager *self, const gchar *caller)
{
  guint n;

  g_return_if_fail (VPUSH_IS_MANAGER (self));

  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->waiting, caller));
  g_return_if_fail (n > 0 && self->waiting_total > 0);
  self->waiting_total--;
  if (n == 1)
    g_hash_table_remove (self->waiting, caller);
  else
    g_hash_table_insert (self->waiting, g_strdup (caller), GUINT_TO_POINTER (n - 1));
}

gboolean
vpush_manager_add_at_api (VpushManager *self, VpushAtApi kind)
{
  static const guint max[VPUSH_AT_API_N] = {
    [VPUSH_AT_API_LIST] = VPUSH_LISTING_MAX,
    [VPUSH_AT_API_ENROLL] = VPUSH_ENROLLING_MAX,
    [VPUSH_AT_API_REFRESH] = VPUSH_REFRESHING_MAX,
    [VPUSH_AT_API_CHANGE] = VPUSH_CHANGING_MAX,
  };

  g_return_val_if_fail (VPUSH_IS_MANAGER (self), FALSE);
  g_return_val_if_fail (kind < VPUSH_AT_API_N, FALSE);

  if (self->at_api[kind] >= max[kind])
    return FALSE;
  self->at_api[kind]++;
  return TRUE;
}

void
vpush_manager_remove_at_api (VpushManager *self, VpushAtApi kind)
{
  g_return_if_fail (VPUSH_IS_MANAGER (self));
  g_return_if_fail (kind < VPUSH_AT_API_N && self->at_api[kind] > 0);

  self->at_api[kind]--;
}

guint
vpush_manager_get_at_api (VpushManager *self, VpushAtApi kind)
{
  g_return_val_if_fail (VPUSH_IS_MANAGER (self), 0);
  g_return_val_if_fail (kind < VPUSH_AT_API_N, 0);

  return self->at_api[kind];
}
