#include "vpush-keystore.h"
#include "vpush-keystore-private.h"

#include <gcrypt.h>
#include <libsecret/secret.h>

#include "vpush-error.h"
#include "vpush-names.h"

enum
{
  PROP_0,
  PROP_AVAILABLE,
  PROP_LOCKED,
  PROP_SETTLED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (VpushKeystore, vpush_keystore, G_TYPE_OBJECT)

const SecretSchema *
vpush_keystore_get_schema (void)
{
  static const SecretSchema schema = {
    VPUSH_SECRET_SCHEMA,
    SECRET_SCHEMA_NONE,
    {
        { "factor-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { "service-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { NULL, 0 },
    },
  };

  return &schema;
}

const SecretSchema *
vpush_keystore_get_search_schema (void)
{
  static const SecretSchema schema = {
    VPUSH_SECRET_SCHEMA,
    SECRET_SCHEMA_DONT_MATCH_NAME,
    {
        { "factor-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { "service-sid", SECRET_SCHEMA_ATTRIBUTE_STRING },
        { NULL, 0 },
    },
  };

  return &schema;
}

gchar *
vpush_keystore_timeout_message (VpushKeystore *self)
{
  return g_strdup_printf ("the Secret Service did not answer within %u ms", self->timeout_ms);
}

/* ---- per-call state ---- */

static void
keystore_call_free (KeystoreCall *call)
{
  if (call->deadline != NULL)
    {
      g_source_destroy (call->deadline);
      g_source_unref (call->deadline);
    }
  if (call->caller_handler != 0)
    g_cancellable_disconnect (call->caller_cancellable, call->caller_handler);
  g_clear_object (&call->caller_cancellable);
  g_clear_object (&call->cancellable);
  g_free (call->factor_sid);
  g_clear_pointer (&call->attributes, g_hash_table_unref);
  g_clear_pointer (&call->value, secret_value_unref);
  g_free (call->label);
  g_clear_error (&call->delete_error);
  g_free (call);
}

static void
on_caller_cancelled (GCancellable *caller_cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/* Called first on every way a call is answered. FALSE when it was answered already; the caller
 * then only drops its reference. Otherwise stops the deadline. */
gboolean
vpush_keystore_call_begin_answer (GTask *task)
{
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);

  if (call->done)
    return FALSE;
  call->done = TRUE;
  if (call->deadline != NULL)
    {
      g_source_destroy (call->deadline);
      g_clear_pointer (&call->deadline, g_source_unref);
    }
  g_ptr_array_remove_fast (self->calls, task);
  return TRUE;
}

/* Called first by the callback of a search whose items answer the call. FALSE when the call
 * was answered already, or is now, with the search's error; otherwise *items are the
 * search's (the caller's to free). */
gboolean
vpush_keystore_error_is_item_gone (const GError *error)
{
  /* gnome-keyring unexports a deleted item, so GDBus answers that the object has no such
   * interface */
  return g_error_matches (error, SECRET_ERROR, SECRET_ERROR_NO_SUCH_OBJECT)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
}

gboolean
vpush_keystore_begin_search_answer (GTask *task, GObject *source, GAsyncResult *result,
                                    GList **items)
{
  GError *error = NULL;

  *items = secret_service_search_finish (SECRET_SERVICE (source), result, &error);
  return vpush_keystore_begin_items_answer (task, items, error);
}

gboolean
vpush_keystore_begin_items_answer (GTask *task, GList **items, GError *error)
{
  if (!vpush_keystore_call_begin_answer (task))
    {
      g_list_free_full (g_steal_pointer (items), g_object_unref);
      g_clear_error (&error);
      return FALSE;
    }
  if (error != NULL)
    {
      vpush_keystore_return_error (task, error);
      return FALSE;
    }
  return TRUE;
}

/* ---- state ---- */

void
vpush_keystore_set_state (VpushKeystore *self, gboolean available, gboolean locked,
                          const gchar *reason)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->available != available)
    {
      self->available = available;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AVAILABLE]);
    }
  if (self->locked != locked)
    {
      self->locked = locked;
      g_debug ("login keyring %s", locked ? "locked" : "unlocked");
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LOCKED]);
    }
  g_free (self->reason);
  self->reason = available ? NULL : g_strdup (reason);
  g_object_thaw_notify (G_OBJECT (self));
}

/* ---- calls ---- */

static gboolean
on_deadline (gpointer user_data)
{
  g_autoptr (GTask) task = g_object_ref (G_TASK (user_data));
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  g_autofree gchar *reason = vpush_keystore_timeout_message (self);

  /* The first connection attempt began with an init call and has had its time as well: its
   * failure answers the init calls, with the reason the other calls then get too. */
  if (call->kind == CALL_INIT && self->attempt != NULL)
    vpush_keystore_attempt_timed_out (self);
  /* Answer now rather than wait for libsecret to notice the cancellation: a stopped daemon
   * must never hold up the caller. */
  if (!vpush_keystore_call_begin_answer (task))
    return G_SOURCE_REMOVE;
  g_cancellable_cancel (call->cancellable);
  /* a store that never went out can't happen later */
  if (call->kind == CALL_STORE && call->sent)
    vpush_keystore_note_doubtful (self, call->factor_sid);
  if (call->kind == CALL_INIT)
    g_ptr_array_remove (self->init_tasks, task);
  else if (call->sent) /* only a call it had says the Secret Service does not answer */
    vpush_keystore_mark_unresponsive (self, reason);
  g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
  /* no word from the bus about the Secret Service within the time either (activation still
   * running): that is the outcome, for every call waiting for one */
  if (call->kind == CALL_INIT && !self->settled)
    {
      if (!self->available)
        vpush_keystore_set_state (self, FALSE, FALSE, reason);
      vpush_keystore_settle (self);
      vpush_keystore_answer_init_tasks (self);
    }
  return G_SOURCE_REMOVE;
}

/* A deadline for the whole call from now, however many D-Bus round trips it takes. */
static void
keystore_call_arm_deadline (VpushKeystore *self, GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  if (call->deadline != NULL)
    {
      g_source_destroy (call->deadline);
      g_source_unref (call->deadline);
    }
  /* The source holds no task reference: every way the task is answered destroys it first. */
  call->deadline = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (call->deadline, on_deadline, task, NULL);
  g_source_set_static_name (call->deadline, "[vpush] keystore deadline");
  g_source_attach (call->deadline, g_main_context_get_thread_default ());
}

GTask *
vpush_keystore_task_new (VpushKeystore *self, CallKind kind, gpointer source_tag,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  KeystoreCall *call = g_new0 (KeystoreCall, 1);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, call, (GDestroyNotify)keystore_call_free);

  call->kind = kind;
  call->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      call->caller_cancellable = g_object_ref (cancellable);
      call->caller_handler
          = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                   g_object_ref (call->cancellable), g_object_unref);
    }

  keystore_call_arm_deadline (self, task);
  g_ptr_array_add (self->calls, task);
  return task;
}

/* Turns a libsecret error into ours: locked, and anything that means the Secret Service can't
 * be reached or does not answer, is KEYRING_LOCKED with a message saying which; a caller's
 * cancellation and errors about the data pass through. */
void
vpush_keystore_return_error (GTask *task, GError *error)
{
  VpushKeystore *self = g_task_get_source_object (task);

  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      g_error_free (error);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      /* GDBus's own timeout (25 s), which the configuration keeps timeout_ms within */
      g_autofree gchar *reason = vpush_keystore_timeout_message (self);

      vpush_keystore_mark_unresponsive (self, reason);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
      g_error_free (error);
      return;
    }
  if (error->domain == G_DBUS_ERROR || g_dbus_error_is_remote_error (error))
    {
      g_dbus_error_strip_remote_error (error);
      /* the service may have changed under us: read it again (the name watch handles a
       * Secret Service that went away) */
      vpush_keystore_connect (self);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED,
                               "the Secret Service failed: %s", error->message);
      g_error_free (error);
      return;
    }
  g_task_return_error (task, error);
}

/* Nothing here ever unlocks: that needs a prompt, and a kiosk has nobody to answer it. The
 * lock state is followed through the collection's Locked property and the service's
 * CollectionChanged signal. */
gboolean
vpush_keystore_check_usable (VpushKeystore *self, GError **error)
{
  if (!self->available)
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED,
                           self->reason != NULL ? self->reason : NOT_STARTED_MESSAGE);
      return FALSE;
    }
  if (self->locked)
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      return FALSE;
    }
  return TRUE;
}

static void on_store (GObject *source, GAsyncResult *result, gpointer user_data);
static void on_list_searched (GObject *source, GAsyncResult *result, gpointer user_data);

/* Sends a prepared call to the Secret Service, or answers it at once while the key store is not
 * usable. Takes the task reference. */
static void
keystore_send (VpushKeystore *self, GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);
  const SecretSchema *schema = vpush_keystore_get_schema ();
  GError *error = NULL;

  if (call->done) /* its deadline passed while it was parked */
    {
      g_object_unref (task);
      return;
    }
  if (g_cancellable_set_error_if_cancelled (call->cancellable, &error)
      || !vpush_keystore_check_usable (self, &error))
    {
      vpush_keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  /* One delete at a time: a key whose delete failed is deleted again by the key store itself
   * right as the keyring is usable, when its owner may delete it too, and the second of two
   * deletes of one item would find it gone only at its Delete. */
  if (call->kind == CALL_DELETE && self->clearing)
    {
      g_queue_push_tail (&self->deletes, task);
      return;
    }
  call->sent = TRUE;
  switch (call->kind)
    {
    case CALL_STORE:
      secret_service_store (self->service, schema, call->attributes,
                            g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->collection)),
                            call->label, call->value, call->cancellable, on_store, task);
      break;
    case CALL_LOAD:
      vpush_keystore_send_load (self, task);
      break;
    case CALL_DELETE:
      self->clearing = TRUE;
      vpush_keystore_send_delete (self, task);
      break;
    case CALL_LIST:
      secret_service_search (self->service, schema, call->attributes, SECRET_SEARCH_ALL,
                             call->cancellable, on_list_searched, task);
      break;
    case CALL_RELABEL:
      vpush_keystore_send_relabel (self, task);
      break;
    case CALL_INIT:
    default:
      g_assert_not_reached ();
    }
}

/* vpushd takes its bus name before the Secret Service has answered: until the first connection
 * attempt has an outcome (at most the init call's timeout), a call waits for it instead of
 * failing with "not connected yet". Takes the task reference. */
void
vpush_keystore_dispatch (VpushKeystore *self, GTask *task)
{
  if (!self->settled && self->watch_id != 0)
    {
      g_ptr_array_add (self->parked, task);
      return;
    }
  keystore_send (self, task);
}

/* The first outcome is known: send what waited for it, each call with its whole timeout
 * from now (what it waited is not the Secret Service's to answer for). */
void
vpush_keystore_settle (VpushKeystore *self)
{
  g_autoptr (GPtrArray) parked = NULL;

  if (self->settled)
    return;
  self->settled = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SETTLED]);
  parked = g_steal_pointer (&self->parked);
  self->parked = g_ptr_array_new ();
  for (guint i = 0; i < parked->len; i++)
    {
      GTask *task = g_ptr_array_index (parked, i);
      KeystoreCall *call = g_task_get_task_data (task);

      if (!call->done)
        keystore_call_arm_deadline (self, task);
      keystore_send (self, task);
    }
}

/* ---- object ---- */

static void
vpush_keystore_dispose (GObject *object)
{
  VpushKeystore *self = VPUSH_KEYSTORE (object);

  if (self->watch_id != 0)
    {
      g_bus_unwatch_name (self->watch_id);
      self->watch_id = 0;
    }
  vpush_keystore_abandon_attempt (self);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  vpush_keystore_drop_connection (self);
  if (self->init_tasks != NULL)
    g_ptr_array_set_size (self->init_tasks, 0);
  G_OBJECT_CLASS (vpush_keystore_parent_class)->dispose (object);
}

static void
vpush_keystore_finalize (GObject *object)
{
  VpushKeystore *self = VPUSH_KEYSTORE (object);

  g_free (self->owner);
  g_free (self->reason);
  g_ptr_array_unref (self->calls);
  /* each parked call holds a reference: there are none left by now */
  g_ptr_array_unref (self->parked);
  g_ptr_array_unref (self->init_tasks);
  g_queue_clear_full (&self->deletes, g_object_unref);
  g_hash_table_unref (self->doubtful);
  g_hash_table_unref (self->relabels);
  G_OBJECT_CLASS (vpush_keystore_parent_class)->finalize (object);
}

static void
vpush_keystore_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VpushKeystore *self = VPUSH_KEYSTORE (object);

  switch (prop_id)
    {
    case PROP_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    case PROP_LOCKED:
      g_value_set_boolean (value, self->locked);
      break;
    case PROP_SETTLED:
      g_value_set_boolean (value, self->settled);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vpush_keystore_class_init (VpushKeystoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vpush_keystore_dispose;
  object_class->finalize = vpush_keystore_finalize;
  object_class->get_property = vpush_keystore_get_property;

  props[PROP_AVAILABLE]
      = g_param_spec_boolean ("available", NULL, NULL, FALSE,
                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_LOCKED]
      = g_param_spec_boolean ("locked", NULL, NULL, FALSE,
                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_SETTLED]
      = g_param_spec_boolean ("settled", NULL, NULL, FALSE,
                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vpush_keystore_init (VpushKeystore *self)
{
  self->calls = g_ptr_array_new ();
  self->parked = g_ptr_array_new ();
  self->init_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->doubtful = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->relabels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)vpush_keystore_relabel_free);
  g_queue_init (&self->deletes);
}

void
vpush_keystore_init_library (void)
{
  /* reads /proc/sys/crypto/fips_enabled once, now; libsecret still finishes the set-up
   * (its secure memory, initialization finished) when it first needs libgcrypt */
  gcry_check_version (NULL);
}

VpushKeystore *
vpush_keystore_new (guint timeout_ms)
{
  VpushKeystore *self;

  g_return_val_if_fail (timeout_ms > 0, NULL);

  self = g_object_new (VPUSH_TYPE_KEYSTORE, NULL);
  self->timeout_ms = timeout_ms;
  return self;
}

gboolean
vpush_keystore_get_available (VpushKeystore *self)
{
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (self), FALSE);

  return self->available;
}

gboolean
vpush_keystore_get_settled (VpushKeystore *self)
{
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (self), FALSE);

  return self->settled;
}

gboolean
vpush_keystore_get_locked (VpushKeystore *self)
{
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (self), FALSE);

  return self->locked;
}

const gchar *
vpush_keystore_get_unavailable_reason (VpushKeystore *self)
{
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (self), NULL);

  if (self->available)
    return NULL;
  return self->reason != NULL ? self->reason : NOT_STARTED_MESSAGE;
}

/* ---- store ---- */

static void
on_store (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  GError *error = NULL;

  secret_service_store_finish (SECRET_SERVICE (source), result, &error);
  if (!vpush_keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      /* only a refusal is sure to have stored nothing */
      if (!g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
        vpush_keystore_note_doubtful (self, call->factor_sid);
      vpush_keystore_return_error (task, error);
      vpush_keystore_clear_doubtful (self);
      return;
    }
  g_hash_table_remove (self->doubtful, call->factor_sid);
  g_task_return_boolean (task, TRUE);
}

void
vpush_keystore_store_async (VpushKeystore *self, const gchar *factor_sid, const gchar *service_sid,
                            const gchar *friendly_name, VpushKey *key, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;
  GError *error = NULL;
  guint8 *der = NULL;
  gsize der_len = 0;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);
  g_return_if_fail (service_sid != NULL);
  g_return_if_fail (friendly_name != NULL);
  g_return_if_fail (key != NULL);

  task = vpush_keystore_task_new (self, CALL_STORE, vpush_keystore_store_async, cancellable,
                                  callback, user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);

  if (!vpush_key_export_pkcs8 (key, &der, &der_len, &error))
    {
      vpush_keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      return;
    }
  /* secret_value_new copies into libsecret's non-pageable memory; our copy goes at once. */
  call->value = secret_value_new ((const gchar *)der, (gssize)der_len, "application/octet-stream");
  vpush_secure_free (der, der_len);
  call->attributes = secret_attributes_build (vpush_keystore_get_schema (), "factor-sid",
                                              factor_sid, "service-sid", service_sid, NULL);
  call->label = g_strdup_printf (KEY_LABEL_FORMAT, friendly_name);
  /* a store on a locked collection makes libsecret ask for an unlock prompt: it is refused
   * when sent */
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

gboolean
vpush_keystore_store_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- delete ---- */

void
vpush_keystore_answer_done (GTask *task, GError *error)
{
  if (!vpush_keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      vpush_keystore_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
vpush_keystore_deleted (GTask *task, GError *error)
{
  VpushKeystore *self = g_task_get_source_object (task);
  GTask *next;

  vpush_keystore_answer_done (task, error);
  /* the next waiting delete goes out; those answered meanwhile (deadline, keyring gone) and
   * those refused at once don't hold up the ones behind them */
  self->clearing = FALSE;
  while (!self->clearing && (next = g_queue_pop_head (&self->deletes)) != NULL)
    keystore_send (self, next);
}

static void
keystore_delete_async (VpushKeystore *self, const gchar *factor_sid, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;

  task = vpush_keystore_task_new (self, CALL_DELETE, keystore_delete_async, cancellable, callback,
                                  user_data);

  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);
  /* while locked the item can't be seen, so "deleted" could not be told from "hidden": it is
   * refused when sent */
  call->attributes
      = secret_attributes_build (vpush_keystore_get_schema (), "factor-sid", factor_sid, NULL);
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

static void
on_delete_outcome (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = VPUSH_KEYSTORE (source);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      /* Every delete is of a key nothing needs any more (a deleted factor, an undone
       * enrollment): one the keyring could not take now is done once it can, not left
       * to vpushd's next start, which on a desktop may be weeks away. */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
        vpush_keystore_note_doubtful (self, g_task_get_task_data (task));
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
vpush_keystore_delete_async (VpushKeystore *self, const gchar *factor_sid,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  GTask *task;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);

  /* a label for a key that goes is not worth setting */
  g_hash_table_remove (self->relabels, factor_sid);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, vpush_keystore_delete_async);
  g_task_set_task_data (task, g_strdup (factor_sid), g_free);
  keystore_delete_async (self, factor_sid, cancellable, on_delete_outcome, task);
}

gboolean
vpush_keystore_delete_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- list ---- */

static void
on_list_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  g_autoptr (GHashTable) found = NULL;
  GList *items;

  if (!vpush_keystore_begin_search_answer (task, source, result, &items))
    return;

  found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (GList *l = items; l != NULL; l = l->next)
    {
      g_autoptr (GHashTable) attributes = secret_item_get_attributes (l->data);
      const gchar *factor_sid = g_hash_table_lookup (attributes, "factor-sid");
      const gchar *service_sid = g_hash_table_lookup (attributes, "service-sid");

      if (factor_sid != NULL)
        g_hash_table_replace (found, g_strdup (factor_sid),
                              g_strdup (service_sid != NULL ? service_sid : ""));
    }
  g_list_free_full (items, g_object_unref);
  g_task_return_pointer (task, g_steal_pointer (&found), (GDestroyNotify)g_hash_table_unref);
}

void
vpush_keystore_list_async (VpushKeystore *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));

  task = vpush_keystore_task_new (self, CALL_LIST, vpush_keystore_list_async, cancellable, callback,
                                  user_data);

  call = g_task_get_task_data (task);
  /* no attributes: every item of the schema (libsecret matches xdg:schema); while locked the
   * items' attributes can't be trusted to be there, so it is refused when sent */
  call->attributes = g_hash_table_new (g_str_hash, g_str_equal);
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

GHashTable *
vpush_keystore_list_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
