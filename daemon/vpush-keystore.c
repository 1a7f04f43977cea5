#include "vpush-keystore.h"

#include <libsecret/secret.h>

#include "vpush-error.h"
#include "vpush-names.h"

#define LOCKED_MESSAGE "the login keyring is locked"

struct _VpushKeystore
{
  GObject parent_instance;

  guint timeout_ms;
  SecretService *service;
  SecretCollection *collection; /* the "default" alias */
  gulong locked_handler;
  gboolean locked;
};

enum
{
  PROP_0,
  PROP_LOCKED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (VpushKeystore, vpush_keystore, G_TYPE_OBJECT)

static const SecretSchema *
keystore_get_schema (void)
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

/* Per-call state: one deadline for the whole call, however many D-Bus round trips it takes. */
typedef struct
{
  GCancellable *cancellable; /* handed to libsecret; cancelled by the caller or the deadline */
  GCancellable *caller_cancellable;
  gulong caller_handler;
  GSource *deadline;
  gboolean done; /* the task has been answered; a late libsecret reply is dropped */
  gchar *factor_sid;
} KeystoreCall;

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
  g_free (call);
}

static void
on_caller_cancelled (GCancellable *caller_cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static gboolean
on_deadline (gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);

  /* Answer now rather than wait for libsecret to notice the cancellation: a stopped daemon
   * must never hold up the caller. */
  call->done = TRUE;
  g_cancellable_cancel (call->cancellable);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                           "Secret Service did not answer within %u ms", self->timeout_ms);
  g_clear_pointer (&call->deadline, g_source_unref);
  return G_SOURCE_REMOVE;
}

static GTask *
keystore_task_new (VpushKeystore *self, gpointer source_tag, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  KeystoreCall *call = g_new0 (KeystoreCall, 1);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, call, (GDestroyNotify)keystore_call_free);

  call->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      call->caller_cancellable = g_object_ref (cancellable);
      call->caller_handler
          = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                   g_object_ref (call->cancellable), g_object_unref);
    }

  /* The source holds no task reference: every way the task is answered destroys it first. */
  call->deadline = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (call->deadline, on_deadline, task, NULL);
  g_source_set_static_name (call->deadline, "[vpush] keystore deadline");
  g_source_attach (call->deadline, g_main_context_get_thread_default ());
  return task;
}

static gboolean
keystore_call_is_done (GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  return call->done;
}

/* Called first in every final libsecret callback. FALSE when the deadline already answered the
 * task; the caller then only drops its reference. Otherwise stops the deadline. */
static gboolean
keystore_call_begin_answer (GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  if (keystore_call_is_done (task))
    return FALSE;
  call->done = TRUE;
  if (call->deadline != NULL)
    {
      g_source_destroy (call->deadline);
      g_clear_pointer (&call->deadline, g_source_unref);
    }
  return TRUE;
}

static GCancellable *
keystore_call_get_cancellable (GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  return call->cancellable;
}

/* Errors from libsecret that mean "locked" become ours; the rest pass through. */
static void
keystore_return_error (GTask *task, GError *error)
{
  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      g_error_free (error);
      return;
    }
  g_task_return_error (task, error);
}

/* Collection Locked can change at any time (screen lock, another client), so it is read from the
 * proxy's cache, which D-Bus PropertiesChanged keeps current. Nothing here ever unlocks: that
 * needs a prompt, and a kiosk has nobody to answer it. */
static gboolean
keystore_check_usable (VpushKeystore *self, GError **error)
{
  if (self->collection == NULL)
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                           "not connected to the Secret Service");
      return FALSE;
    }
  if (secret_collection_get_locked (self->collection))
    {
      g_set_error_literal (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      return FALSE;
    }
  return TRUE;
}

static void
keystore_update_locked (VpushKeystore *self)
{
  gboolean locked = self->collection != NULL && secret_collection_get_locked (self->collection);

  if (locked == self->locked)
    return;
  self->locked = locked;
  g_debug ("login keyring %s", locked ? "locked" : "unlocked");
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LOCKED]);
}

static void
on_collection_locked_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  keystore_update_locked (VPUSH_KEYSTORE (user_data));
}

static void
keystore_set_collection (VpushKeystore *self, SecretCollection *collection)
{
  if (self->collection != NULL)
    {
      g_clear_signal_handler (&self->locked_handler, self->collection);
      g_clear_object (&self->collection);
    }
  self->collection = g_object_ref (collection);
  self->locked_handler = g_signal_connect (collection, "notify::locked",
                                           G_CALLBACK (on_collection_locked_notify), self);
  keystore_update_locked (self);
}

static void
vpush_keystore_dispose (GObject *object)
{
  VpushKeystore *self = VPUSH_KEYSTORE (object);

  if (self->collection != NULL)
    {
      g_clear_signal_handler (&self->locked_handler, self->collection);
      g_clear_object (&self->collection);
    }
  g_clear_object (&self->service);
  G_OBJECT_CLASS (vpush_keystore_parent_class)->dispose (object);
}

static void
vpush_keystore_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VpushKeystore *self = VPUSH_KEYSTORE (object);

  switch (prop_id)
    {
    case PROP_LOCKED:
      g_value_set_boolean (value, self->locked);
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
  object_class->get_property = vpush_keystore_get_property;

  props[PROP_LOCKED]
      = g_param_spec_boolean ("locked", NULL, NULL, FALSE,
                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vpush_keystore_init (VpushKeystore *self)
{
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
vpush_keystore_get_locked (VpushKeystore *self)
{
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (self), FALSE);

  return self->locked;
}

/* ---- init ---- */

static void
on_init_collection (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  g_autoptr (SecretCollection) collection = NULL;
  GError *error = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (!keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      g_prefix_error (&error, "cannot find the default Secret Service collection: ");
      g_task_return_error (task, error);
      return;
    }
  if (collection == NULL)
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                               "the Secret Service has no default collection "
                               "(no login keyring has been created)");
      return;
    }
  keystore_set_collection (self, collection);
  g_debug ("Secret Service default collection %s, %s",
           g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection)),
           self->locked ? "locked" : "unlocked");
  g_task_return_boolean (task, TRUE);
}

static void
on_init_service (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  g_autoptr (SecretService) service = NULL;
  GCancellable *cancellable;
  GError *error = NULL;

  service = secret_service_get_finish (result, &error);
  if (error != NULL)
    {
      if (keystore_call_begin_answer (task))
        {
          g_prefix_error (&error, "cannot connect to the Secret Service: ");
          g_task_return_error (task, error);
        }
      else
        g_clear_error (&error);
      return;
    }
  if (keystore_call_is_done (task))
    return;
  g_set_object (&self->service, service);
  cancellable = keystore_call_get_cancellable (task);
  secret_collection_for_alias (service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE,
                               cancellable, on_init_collection, g_steal_pointer (&task));
}

void
vpush_keystore_init_async (VpushKeystore *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));

  task = keystore_task_new (self, vpush_keystore_init_async, cancellable, callback, user_data);
  secret_service_get (SECRET_SERVICE_LOAD_COLLECTIONS, keystore_call_get_cancellable (task),
                      on_init_service, task);
}

gboolean
vpush_keystore_init_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- store ---- */

static void
on_store (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  GError *error = NULL;

  secret_service_store_finish (SECRET_SERVICE (source), result, &error);
  if (!keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keystore_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
vpush_keystore_store_async (VpushKeystore *self, const gchar *factor_sid, const gchar *service_sid,
                            const gchar *friendly_name, VpushKey *key, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GHashTable) attributes = NULL;
  g_autoptr (SecretValue) value = NULL;
  g_autofree gchar *label = NULL;
  GCancellable *call_cancellable;
  GError *error = NULL;
  guint8 *der = NULL;
  gsize der_len = 0;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);
  g_return_if_fail (service_sid != NULL);
  g_return_if_fail (friendly_name != NULL);
  g_return_if_fail (key != NULL);

  task = keystore_task_new (self, vpush_keystore_store_async, cancellable, callback, user_data);

  /* A store on a locked collection makes libsecret ask for an unlock prompt; refuse first. */
  if (!keystore_check_usable (self, &error)
      || !vpush_key_export_pkcs8 (key, &der, &der_len, &error))
    {
      keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      return;
    }
  /* secret_value_new copies into libsecret's non-pageable memory; our copy goes at once. */
  value = secret_value_new ((const gchar *)der, (gssize)der_len, "application/octet-stream");
  vpush_secure_free (der, der_len);

  attributes = secret_attributes_build (keystore_get_schema (), "factor-sid", factor_sid,
                                        "service-sid", service_sid, NULL);
  label = g_strdup_printf ("vpush factor key (%s)", friendly_name);
  call_cancellable = keystore_call_get_cancellable (task);
  secret_service_store (self->service, keystore_get_schema (), attributes,
                        g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->collection)), label,
                        value, call_cancellable, on_store, g_steal_pointer (&task));
}

gboolean
vpush_keystore_store_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- load ---- */

static void
on_load_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  GList *items;
  GError *error = NULL;
  gboolean saw_locked = FALSE;
  VpushKey *key = NULL;

  items = secret_service_search_finish (SECRET_SERVICE (source), result, &error);
  if (!keystore_call_begin_answer (task))
    {
      g_list_free_full (items, g_object_unref);
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keystore_return_error (task, error);
      return;
    }

  for (GList *l = items; l != NULL && key == NULL && error == NULL; l = l->next)
    {
      SecretItem *item = l->data;
      g_autoptr (SecretValue) value = NULL;
      const guchar *der;
      gsize der_len;

      if (secret_item_get_locked (item))
        {
          saw_locked = TRUE;
          continue;
        }
      value = secret_item_get_secret (item);
      if (value == NULL)
        continue;
      /* gnome-keyring hands back any secret as text/plain, so the content type says nothing. */
      der = (const guchar *)secret_value_get (value, &der_len);
      key = vpush_key_new_from_pkcs8 (der, der_len, &error);
    }
  g_list_free_full (items, g_object_unref);

  if (key != NULL)
    {
      g_task_return_pointer (task, key, (GDestroyNotify)vpush_key_free);
      return;
    }
  if (error != NULL)
    {
      g_prefix_error (&error,
                      "the key of factor %s in the Secret Service is unusable: ", call->factor_sid);
      g_task_return_error (task, error);
      return;
    }
  /* A locked item, or a collection locked since the check, hides the key: that is not absence. */
  if (saw_locked || secret_collection_get_locked (self->collection))
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      return;
    }
  g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                           "no key for factor %s in the Secret Service", call->factor_sid);
}

void
vpush_keystore_load_async (VpushKeystore *self, const gchar *factor_sid, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GHashTable) attributes = NULL;
  KeystoreCall *call;
  GError *error = NULL;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);

  task = keystore_task_new (self, vpush_keystore_load_async, cancellable, callback, user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);

  /* A lookup on a locked collection answers "nothing", exactly like a missing item. */
  if (!keystore_check_usable (self, &error))
    {
      keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      return;
    }

  /* A search, not secret_password_lookup: a lookup tries to unlock (prompt) when the item is
   * locked, a search without SECRET_SEARCH_UNLOCK does not. */
  attributes = secret_attributes_build (keystore_get_schema (), "factor-sid", factor_sid, NULL);
  secret_service_search (self->service, keystore_get_schema (), attributes,
                         SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, call->cancellable,
                         on_load_searched, g_steal_pointer (&task));
}

VpushKey *
vpush_keystore_load_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- delete ---- */

static void
on_delete (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  GError *error = NULL;

  /* FALSE without an error means nothing matched: already gone is fine. */
  secret_service_clear_finish (SECRET_SERVICE (source), result, &error);
  if (!keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keystore_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
vpush_keystore_delete_async (VpushKeystore *self, const gchar *factor_sid,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GHashTable) attributes = NULL;
  GCancellable *call_cancellable;
  GError *error = NULL;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);

  task = keystore_task_new (self, vpush_keystore_delete_async, cancellable, callback, user_data);

  /* While locked the item can't be seen, so "deleted" could not be told from "hidden". */
  if (!keystore_check_usable (self, &error))
    {
      keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      return;
    }

  attributes = secret_attributes_build (keystore_get_schema (), "factor-sid", factor_sid, NULL);
  call_cancellable = keystore_call_get_cancellable (task);
  secret_service_clear (self->service, keystore_get_schema (), attributes, call_cancellable,
                        on_delete, g_steal_pointer (&task));
}

gboolean
vpush_keystore_delete_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
