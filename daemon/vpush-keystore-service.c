#include "vpush-keystore.h"
#include "vpush-keystore-private.h"

#include "vpush-error.h"

/* Pause between connection attempts while the Secret Service is there but not usable (no
 * answer, no default collection): the timeout, within these bounds. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

/* ---- state ---- */

/* A store that failed after it was sent may still happen in the Secret Service (a stopped
 * daemon runs it once resumed, a killed one may have written it), and a delete that failed
 * left its key: remember it, and delete it once the Secret Service is usable, after anything
 * queued before. */
void
vpush_keystore_note_doubtful (VpushKeystore *self, const gchar *factor_sid)
{
  if (g_hash_table_contains (self->doubtful, factor_sid))
    return;
  g_message ("any key of %s in the Secret Service is deleted once the keyring is usable",
             factor_sid);
  g_hash_table_insert (self->doubtful, g_strdup (factor_sid), GINT_TO_POINTER (FALSE));
}

static void
on_doubtful_deleted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (source);
  g_autofree gchar *factor_sid = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (self, result, &error))
    {
      g_debug ("could not yet delete the key of %s: %s", factor_sid, error->message);
      if (g_hash_table_contains (self->doubtful, factor_sid))
        g_hash_table_insert (self->doubtful, g_strdup (factor_sid), GINT_TO_POINTER (FALSE));
      return;
    }
  if (g_hash_table_remove (self->doubtful, factor_sid))
    g_message ("deleted any key of %s from the Secret Service, as it could not be done before",
               factor_sid);
}

void
vpush_keystore_clear_doubtful (VpushKeystore *self)
{
  GHashTableIter iter;
  gpointer sid;
  gpointer clearing;

  if (!self->available || self->locked)
    return;
  g_hash_table_iter_init (&iter, self->doubtful);
  while (g_hash_table_iter_next (&iter, &sid, &clearing))
    {
      if (GPOINTER_TO_INT (clearing))
        continue;
      g_hash_table_iter_replace (&iter, GINT_TO_POINTER (TRUE));
      vpush_keystore_delete_async (self, sid, NULL, on_doubtful_deleted, g_strdup (sid));
    }
}

static void
on_collection_locked_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);

  if (!self->available)
    return;
  vpush_keystore_set_state (self, TRUE, secret_collection_get_locked (self->collection), NULL);
  vpush_keystore_clear_doubtful (self);
  vpush_keystore_redo_relabels (self);
}

/* libsecret 0.20's SecretCollection handles the old ItemCreated and ItemDeleted signals by
 * building a new Items list and leaking it: a copy of every path of the collection per
 * item stored or deleted, 2 MiB after 100 enrollments. vpushd never reads Items (it
 * searches), so the handler is kept from running. */
static void
on_collection_signal (GDBusProxy *proxy, const gchar *sender_name, const gchar *signal_name,
                      GVariant *parameters, gpointer user_data)
{
  if (g_str_equal (signal_name, VPUSH_SECRETS_ITEM_CREATED)
      || g_str_equal (signal_name, VPUSH_SECRETS_ITEM_DELETED))
    g_signal_stop_emission_by_name (proxy, "g-signal");
}

/* gnome-keyring announces some changes of a collection only with the service's old
 * CollectionChanged signal (an unlock of a collection locked since it started, for one), and
 * alias changes not at all: read the default collection again on any of them. */
static void
on_service_signal (GDBusProxy *proxy, const gchar *sender_name, const gchar *signal_name,
                   GVariant *parameters, gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);

  if (g_str_equal (signal_name, VPUSH_SECRETS_COLLECTION_CHANGED))
    {
      const gchar *path = NULL;

      if (self->collection == NULL || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(o)")))
        return;
      g_variant_get (parameters, "(&o)", &path);
      if (!g_str_equal (path, g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->collection))))
        return;
    }
  else if (!g_str_equal (signal_name, VPUSH_SECRETS_COLLECTION_CREATED)
           && !g_str_equal (signal_name, VPUSH_SECRETS_COLLECTION_DELETED))
    return;
  vpush_keystore_connect (self);
}

void
vpush_keystore_drop_connection (VpushKeystore *self)
{
  if (self->collection != NULL)
    {
      g_clear_signal_handler (&self->locked_handler, self->collection);
      g_clear_signal_handler (&self->collection_signal_handler, self->collection);
      g_clear_object (&self->collection);
    }
  if (self->service != NULL)
    {
      g_clear_signal_handler (&self->service_signal_handler, self->service);
      g_clear_object (&self->service);
    }
}

/* ---- connecting ---- */

static void
attempt_free (Attempt *attempt)
{
  if (attempt->deadline != NULL)
    {
      g_source_destroy (attempt->deadline);
      g_source_unref (attempt->deadline);
    }
  g_clear_object (&attempt->cancellable);
  g_clear_object (&attempt->service);
  g_free (attempt);
}

void
vpush_keystore_abandon_attempt (VpushKeystore *self)
{
  Attempt *attempt = g_steal_pointer (&self->attempt);

  self->attempt_again = FALSE;
  if (attempt == NULL)
    return;
  attempt->self = NULL;
  if (attempt->deadline != NULL)
    {
      g_source_destroy (attempt->deadline);
      g_clear_pointer (&attempt->deadline, g_source_unref);
    }
  /* the libsecret callback still comes, and frees it */
  g_cancellable_cancel (attempt->cancellable);
}

/* Answers every init call with the key store's state. */
void
vpush_keystore_answer_init_tasks (VpushKeystore *self)
{
  g_autoptr (GPtrArray) tasks = g_steal_pointer (&self->init_tasks);

  self->init_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);

      if (!vpush_keystore_call_begin_answer (task))
        continue;
      if (self->available)
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s",
                                 self->reason != NULL ? self->reason : NOT_STARTED_MESSAGE);
    }
}

/* Once the first outcome is known: settled (the parked calls go out, whoever is told of it
 * sees the key store settled), then the init calls are answered. */
static void
keystore_settle_init (VpushKeystore *self)
{
  if (!self->watch_reported || self->attempt != NULL)
    return;
  vpush_keystore_settle (self);
  vpush_keystore_answer_init_tasks (self);
}

static guint
keystore_retry_ms (VpushKeystore *self)
{
  return CLAMP (self->timeout_ms, RETRY_MIN_MS, RETRY_MAX_MS);
}

static gboolean
on_retry (gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);

  self->retry_source = 0;
  vpush_keystore_connect (self);
  return G_SOURCE_REMOVE;
}

static void
keystore_connect_failed (VpushKeystore *self, const gchar *reason)
{
  self->attempt_again = FALSE;
  if (self->available || g_strcmp0 (self->reason, reason) != 0)
    g_message ("Secret Service unavailable: %s", reason);
  vpush_keystore_drop_connection (self);
  vpush_keystore_set_state (self, FALSE, FALSE, reason);
  keystore_settle_init (self);
  /* without an owner there is nothing to retry: the name watch says when one comes */
  if (self->owner != NULL && self->retry_source == 0 && self->attempt == NULL)
    {
      self->retry_source = g_timeout_add (keystore_retry_ms (self), on_retry, self);
      g_source_set_name_by_id (self->retry_source, "[vpush] keystore retry");
    }
}

static void
keystore_attempt_failed (Attempt *attempt, const gchar *reason)
{
  VpushKeystore *self = attempt->self;

  self->attempt = NULL;
  attempt_free (attempt);
  keystore_connect_failed (self, reason);
}

static void
keystore_connected (VpushKeystore *self, SecretService *service, SecretCollection *collection)
{
  gboolean was_available = self->available;
  gboolean locked = secret_collection_get_locked (collection);
  const gchar *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (collection));

  vpush_keystore_drop_connection (self);
  self->service = g_object_ref (service);
  self->service_signal_handler
      = g_signal_connect (service, "g-signal", G_CALLBACK (on_service_signal), self);
  self->collection = g_object_ref (collection);
  self->locked_handler = g_signal_connect (collection, "notify::locked",
                                           G_CALLBACK (on_collection_locked_notify), self);
  self->collection_signal_handler
      = g_signal_connect (collection, "g-signal", G_CALLBACK (on_collection_signal), NULL);
  if (!was_available)
    g_message ("Secret Service available: default collection %s, %s", path,
               locked ? "locked" : "unlocked");
  else
    g_debug ("Secret Service default collection %s, %s", path, locked ? "locked" : "unlocked");
  vpush_keystore_set_state (self, TRUE, locked, NULL);
  keystore_settle_init (self);
  vpush_keystore_clear_doubtful (self);
  vpush_keystore_redo_relabels (self);
  if (self->attempt_again && self->attempt == NULL)
    {
      self->attempt_again = FALSE;
      vpush_keystore_connect (self);
    }
}

static void
on_attempt_collection (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Attempt *attempt = user_data;
  VpushKeystore *self = attempt->self;
  g_autoptr (SecretCollection) collection = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *reason = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (self == NULL)
    {
      attempt_free (attempt);
      return;
    }
  if (error != NULL)
    {
      g_dbus_error_strip_remote_error (error);
      reason = g_strdup_printf ("cannot read the default collection of the Secret Service: %s",
                                error->message);
      keystore_attempt_failed (attempt, reason);
      return;
    }
  if (collection == NULL)
    {
      keystore_attempt_failed (attempt, NO_COLLECTION_MESSAGE);
      return;
    }
  self->attempt = NULL;
  keystore_connected (self, attempt->service, collection);
  attempt_free (attempt);
}

static void
on_attempt_service (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Attempt *attempt = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *reason = NULL;

  attempt->service = secret_service_open_finish (result, &error);
  if (attempt->self == NULL)
    {
      attempt_free (attempt);
      return;
    }
  if (attempt->service == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      reason = g_strdup_printf ("cannot connect to the Secret Service: %s", error->message);
      keystore_attempt_failed (attempt, reason);
      return;
    }
  /* no LOAD_COLLECTIONS: the default collection is looked up by its alias */
  secret_collection_for_alias (attempt->service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE,
                               attempt->cancellable, on_attempt_collection, attempt);
}

/* The attempt in flight ran out of time: the Secret Service is there but does not answer. */
void
vpush_keystore_attempt_timed_out (VpushKeystore *self)
{
  Attempt *attempt = g_steal_pointer (&self->attempt);
  g_autofree gchar *reason = vpush_keystore_timeout_message (self);

  /* answer now rather than wait for libsecret to notice: a stopped daemon must never hold
   * anything up; the libsecret callback frees the attempt when the cancellation arrives */
  if (attempt->deadline != NULL)
    {
      g_source_destroy (attempt->deadline);
      g_clear_pointer (&attempt->deadline, g_source_unref);
    }
  attempt->self = NULL;
  g_cancellable_cancel (attempt->cancellable);
  keystore_connect_failed (self, reason);
}

static gboolean
on_attempt_deadline (gpointer user_data)
{
  Attempt *attempt = user_data;

  vpush_keystore_attempt_timed_out (attempt->self);
  return G_SOURCE_REMOVE;
}

/* (Re)reads the Secret Service: a SecretService of its owner (a new one, with a new session, after
 * the owner changed), the default collection and its lock state. Also the probe of a Secret
 * Service that stopped answering. Never starts the Secret Service. */
void
vpush_keystore_connect (VpushKeystore *self)
{
  Attempt *attempt;

  if (self->owner == NULL)
    return;
  if (self->attempt != NULL)
    {
      self->attempt_again = TRUE;
      return;
    }
  g_clear_handle_id (&self->retry_source, g_source_remove);

  attempt = g_new0 (Attempt, 1);
  attempt->self = self;
  attempt->cancellable = g_cancellable_new ();
  attempt->deadline = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (attempt->deadline, on_attempt_deadline, attempt, NULL);
  g_source_set_static_name (attempt->deadline, "[vpush] keystore connect deadline");
  g_source_attach (attempt->deadline, g_main_context_get_thread_default ());
  self->attempt = attempt;
  /* Bound to the owner's unique name, not org.freedesktop.secrets: a call to the well-known
   * name after the keyring died (one that libsecret makes itself, a step of a store under
   * way) would have the bus start a new keyring, without a password: locked for good, or
   * a prompt. A call to a gone unique name just fails. */
  secret_service_open (SECRET_TYPE_SERVICE, self->owner, SECRET_SERVICE_NONE, attempt->cancellable,
                       on_attempt_service, attempt);
}

/* Every unanswered call fails now with reason (the Secret Service went away). */
static void
keystore_fail_calls (VpushKeystore *self, const gchar *reason)
{
  g_autoptr (GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < self->calls->len; i++)
    g_ptr_array_add (tasks, g_object_ref (g_ptr_array_index (self->calls, i)));
  for (guint i = 0; i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);
      KeystoreCall *call = g_task_get_task_data (task);

      if (!vpush_keystore_call_begin_answer (task))
        continue;
      g_cancellable_cancel (call->cancellable);
      if (call->kind == CALL_STORE && call->sent)
        vpush_keystore_note_doubtful (self, call->factor_sid);
      if (call->kind == CALL_INIT)
        g_ptr_array_remove (self->init_tasks, task);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
    }
}

static void
keystore_lost (VpushKeystore *self, const gchar *reason)
{
  vpush_keystore_abandon_attempt (self);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  vpush_keystore_drop_connection (self);
  /* libsecret shares one SecretService, bound to the old owner's session: make the next
   * secret_service_get() build a new one (libsecret's own name watch does the same) */
  secret_service_disconnect ();
  vpush_keystore_set_state (self, FALSE, FALSE, reason);
  keystore_fail_calls (self, reason);
  keystore_settle_init (self);
}

static void
on_name_appeared (GDBusConnection *connection, const gchar *name, const gchar *name_owner,
                  gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);

  self->watch_reported = TRUE;
  if (g_strcmp0 (self->owner, name_owner) == 0)
    return;
  if (self->owner != NULL)
    keystore_lost (self, "the Secret Service was replaced");
  g_free (self->owner);
  self->owner = g_strdup (name_owner);
  g_debug ("%s is owned by %s", name, name_owner);
  vpush_keystore_connect (self);
}

static void
on_name_vanished (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);
  gboolean first = !self->watch_reported;

  self->watch_reported = TRUE;
  if (!first && self->owner == NULL)
    return;
  if (!first)
    g_message ("the Secret Service (%s) went away", name);
  g_clear_pointer (&self->owner, g_free);
  keystore_lost (self, NOT_RUNNING_MESSAGE);
}

/* A call ran into its deadline: the Secret Service is there but does not answer (stopped,
 * hung). Unavailable until a probe gets an answer. */
void
vpush_keystore_mark_unresponsive (VpushKeystore *self, const gchar *reason)
{
  if (self->available)
    {
      g_message ("Secret Service unavailable: %s", reason);
      vpush_keystore_drop_connection (self);
      vpush_keystore_set_state (self, FALSE, FALSE, reason);
    }
  if (self->attempt == NULL && self->retry_source == 0)
    vpush_keystore_connect (self);
}

/* ---- init ---- */

void
vpush_keystore_init_async (VpushKeystore *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));

  task = vpush_keystore_task_new (self, CALL_INIT, vpush_keystore_init_async, cancellable, callback,
                                  user_data);
  g_ptr_array_add (self->init_tasks, task);
  /* The only place that may start the Secret Service (D-Bus activation, like any libsecret
   * client at start). Later the key store waits for it to appear: a keyring started by
   * activation after a crash has no password, so it would only ever be locked. */
  if (self->watch_id == 0)
    self->watch_id = g_bus_watch_name (G_BUS_TYPE_SESSION, VPUSH_SECRETS_NAME,
                                       G_BUS_NAME_WATCHER_FLAGS_AUTO_START, on_name_appeared,
                                       on_name_vanished, self, NULL);
  keystore_settle_init (self);
}

gboolean
vpush_keystore_init_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
