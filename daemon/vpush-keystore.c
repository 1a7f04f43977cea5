#include "vpush-keystore.h"

#include <libsecret/secret.h>

#include "vpush-error.h"
#include "vpush-names.h"

#define SECRETS_BUS_NAME    "org.freedesktop.secrets"
#define LOCKED_MESSAGE      "the login keyring is locked"
#define NOT_RUNNING_MESSAGE "the Secret Service (" SECRETS_BUS_NAME ") is not running"
#define NOT_STARTED_MESSAGE "not connected to the Secret Service yet"
#define NO_COLLECTION_MESSAGE                                                                      \
  "the Secret Service has no default collection (no login keyring has been created)"

/* Pause between connection attempts while the Secret Service is there but not usable (no
 * answer, no default collection): the timeout, within these bounds. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000

typedef enum
{
  CALL_INIT,
  CALL_STORE,
  CALL_LOAD,
  CALL_DELETE,
  CALL_LIST,
} CallKind;

/* One try to reach the Secret Service: SecretService, then the default collection. Owned by
 * the libsecret callbacks; abandoned (self = NULL) on a deadline, an owner change or dispose,
 * after which the callbacks only free it. */
typedef struct
{
  VpushKeystore *self;
  GCancellable *cancellable;
  GSource *deadline;
  SecretService *service;
} Attempt;

struct _VpushKeystore
{
  GObject parent_instance;

  guint timeout_ms;

  guint watch_id;          /* of org.freedesktop.secrets */
  gboolean watch_reported; /* the watch has said whether it has an owner */
  gchar *owner;            /* its unique name; NULL while it has none */

  SecretService *service;
  gulong service_signal_handler;
  SecretCollection *collection; /* the "default" alias */
  gulong locked_handler;

  Attempt *attempt;       /* in flight */
  gboolean attempt_again; /* something changed during the attempt: make another one */
  guint retry_source;

  gboolean available;
  gboolean locked;
  gchar *reason; /* why not available */

  GPtrArray *calls;      /* GTask: unanswered calls (no reference) */
  GPtrArray *init_tasks; /* GTask: init calls waiting for the first outcome */
  GHashTable *doubtful;  /* factor sid → clearing: stores whose outcome is unknown */
};

enum
{
  PROP_0,
  PROP_AVAILABLE,
  PROP_LOCKED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (VpushKeystore, vpush_keystore, G_TYPE_OBJECT)

static void keystore_connect (VpushKeystore *self);

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

static gchar *
keystore_timeout_message (VpushKeystore *self)
{
  return g_strdup_printf ("the Secret Service did not answer within %u ms", self->timeout_ms);
}

/* ---- per-call state ---- */

/* One deadline for the whole call, however many D-Bus round trips it takes. */
typedef struct
{
  CallKind kind;
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

/* Called first on every way a call is answered. FALSE when it was answered already; the caller
 * then only drops its reference. Otherwise stops the deadline. */
static gboolean
keystore_call_begin_answer (GTask *task)
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

static GCancellable *
keystore_call_get_cancellable (GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  return call->cancellable;
}

/* ---- state ---- */

static void
keystore_set_state (VpushKeystore *self, gboolean available, gboolean locked, const gchar *reason)
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

/* A store that failed after it was sent may still happen in the Secret Service (a stopped
 * daemon runs it once resumed, a killed one may have written it): remember it, and delete it
 * once the Secret Service is usable, after anything queued before. */
static void
keystore_note_doubtful (VpushKeystore *self, const gchar *factor_sid)
{
  if (g_hash_table_contains (self->doubtful, factor_sid))
    return;
  g_debug ("the key of factor %s may be stored after all: it goes once the keyring is usable",
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
      g_debug ("could not yet delete the unconfirmed key of factor %s: %s", factor_sid,
               error->message);
      if (g_hash_table_contains (self->doubtful, factor_sid))
        g_hash_table_insert (self->doubtful, g_strdup (factor_sid), GINT_TO_POINTER (FALSE));
      return;
    }
  if (g_hash_table_remove (self->doubtful, factor_sid))
    g_message ("deleted any key of factor %s from the Secret Service: storing it had failed",
               factor_sid);
}

static void
keystore_clear_doubtful (VpushKeystore *self)
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
  keystore_set_state (self, TRUE, secret_collection_get_locked (self->collection), NULL);
  keystore_clear_doubtful (self);
}

/* gnome-keyring announces some changes of a collection only with the service's old
 * CollectionChanged signal (an unlock of a collection locked since it started, for one), and
 * alias changes not at all: read the default collection again on any of them. */
static void
on_service_signal (GDBusProxy *proxy, const gchar *sender_name, const gchar *signal_name,
                   GVariant *parameters, gpointer user_data)
{
  VpushKeystore *self = VPUSH_KEYSTORE (user_data);

  if (g_str_equal (signal_name, "CollectionChanged"))
    {
      const gchar *path = NULL;

      if (self->collection == NULL || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(o)")))
        return;
      g_variant_get (parameters, "(&o)", &path);
      if (!g_str_equal (path, g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->collection))))
        return;
    }
  else if (!g_str_equal (signal_name, "CollectionCreated")
           && !g_str_equal (signal_name, "CollectionDeleted"))
    return;
  keystore_connect (self);
}

static void
keystore_drop_connection (VpushKeystore *self)
{
  if (self->collection != NULL)
    {
      g_clear_signal_handler (&self->locked_handler, self->collection);
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

static void
keystore_abandon_attempt (VpushKeystore *self)
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

/* Answers the init calls once the first outcome is known. */
static void
keystore_settle_init (VpushKeystore *self)
{
  g_autoptr (GPtrArray) tasks = NULL;

  if (!self->watch_reported || self->attempt != NULL || self->init_tasks->len == 0)
    return;
  tasks = g_steal_pointer (&self->init_tasks);
  self->init_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    {
      GTask *task = g_ptr_array_index (tasks, i);

      if (!keystore_call_begin_answer (task))
        continue;
      if (self->available)
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", self->reason);
    }
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
  keystore_connect (self);
  return G_SOURCE_REMOVE;
}

static void
keystore_connect_failed (VpushKeystore *self, const gchar *reason)
{
  self->attempt_again = FALSE;
  if (self->available || g_strcmp0 (self->reason, reason) != 0)
    g_message ("Secret Service unavailable: %s", reason);
  keystore_drop_connection (self);
  keystore_set_state (self, FALSE, FALSE, reason);
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

  keystore_drop_connection (self);
  self->service = g_object_ref (service);
  self->service_signal_handler
      = g_signal_connect (service, "g-signal", G_CALLBACK (on_service_signal), self);
  self->collection = g_object_ref (collection);
  self->locked_handler = g_signal_connect (collection, "notify::locked",
                                           G_CALLBACK (on_collection_locked_notify), self);
  if (!was_available)
    g_message ("Secret Service available: default collection %s, %s", path,
               locked ? "locked" : "unlocked");
  else
    g_debug ("Secret Service default collection %s, %s", path, locked ? "locked" : "unlocked");
  keystore_set_state (self, TRUE, locked, NULL);
  keystore_settle_init (self);
  keystore_clear_doubtful (self);
  if (self->attempt_again && self->attempt == NULL)
    {
      self->attempt_again = FALSE;
      keystore_connect (self);
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

  attempt->service = secret_service_get_finish (result, &error);
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
static void
keystore_attempt_timed_out (VpushKeystore *self)
{
  Attempt *attempt = g_steal_pointer (&self->attempt);
  g_autofree gchar *reason = keystore_timeout_message (self);

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

  keystore_attempt_timed_out (attempt->self);
  return G_SOURCE_REMOVE;
}

/* (Re)reads the Secret Service: the shared SecretService (a new one, with a new session, after
 * the owner changed), the default collection and its lock state. Also the probe of a Secret
 * Service that stopped answering. Never starts the Secret Service. */
static void
keystore_connect (VpushKeystore *self)
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
  secret_service_get (SECRET_SERVICE_NONE, attempt->cancellable, on_attempt_service, attempt);
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

      if (!keystore_call_begin_answer (task))
        continue;
      g_cancellable_cancel (call->cancellable);
      if (call->kind == CALL_STORE)
        keystore_note_doubtful (self, call->factor_sid);
      if (call->kind == CALL_INIT)
        g_ptr_array_remove (self->init_tasks, task);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
    }
}

static void
keystore_lost (VpushKeystore *self, const gchar *reason)
{
  keystore_abandon_attempt (self);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  keystore_drop_connection (self);
  /* libsecret shares one SecretService, bound to the old owner's session: make the next
   * secret_service_get() build a new one (libsecret's own name watch does the same) */
  secret_service_disconnect ();
  keystore_set_state (self, FALSE, FALSE, reason);
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
  keystore_connect (self);
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
static void
keystore_mark_unresponsive (VpushKeystore *self, const gchar *reason)
{
  if (self->available)
    {
      g_message ("Secret Service unavailable: %s", reason);
      keystore_drop_connection (self);
      keystore_set_state (self, FALSE, FALSE, reason);
    }
  if (self->attempt == NULL && self->retry_source == 0)
    keystore_connect (self);
}

/* ---- calls ---- */

static gboolean
on_deadline (gpointer user_data)
{
  g_autoptr (GTask) task = g_object_ref (G_TASK (user_data));
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  g_autofree gchar *reason = keystore_timeout_message (self);

  /* The first connection attempt began with an init call and has had its time as well: its
   * failure answers the init calls, with the reason the other calls then get too. */
  if (call->kind == CALL_INIT && self->attempt != NULL)
    keystore_attempt_timed_out (self);
  /* Answer now rather than wait for libsecret to notice the cancellation: a stopped daemon
   * must never hold up the caller. */
  if (!keystore_call_begin_answer (task))
    return G_SOURCE_REMOVE;
  g_cancellable_cancel (call->cancellable);
  if (call->kind == CALL_STORE)
    keystore_note_doubtful (self, call->factor_sid);
  if (call->kind == CALL_INIT)
    g_ptr_array_remove (self->init_tasks, task);
  else
    keystore_mark_unresponsive (self, reason);
  g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
  return G_SOURCE_REMOVE;
}

static GTask *
keystore_task_new (VpushKeystore *self, CallKind kind, gpointer source_tag,
                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
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

  /* The source holds no task reference: every way the task is answered destroys it first. */
  call->deadline = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (call->deadline, on_deadline, task, NULL);
  g_source_set_static_name (call->deadline, "[vpush] keystore deadline");
  g_source_attach (call->deadline, g_main_context_get_thread_default ());
  g_ptr_array_add (self->calls, task);
  return task;
}

/* Turns a libsecret error into ours: locked, and anything that means the Secret Service can't
 * be reached or does not answer, is KEYRING_LOCKED with a message saying which; a caller's
 * cancellation and errors about the data pass through. */
static void
keystore_return_error (GTask *task, GError *error)
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
      /* GDBus's own timeout, shorter than a timeout_ms above 25 s */
      g_autofree gchar *reason = keystore_timeout_message (self);

      keystore_mark_unresponsive (self, reason);
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "%s", reason);
      g_error_free (error);
      return;
    }
  if (error->domain == G_DBUS_ERROR || g_dbus_error_is_remote_error (error))
    {
      g_dbus_error_strip_remote_error (error);
      /* the service may have changed under us: read it again (the name watch handles a
       * Secret Service that went away) */
      keystore_connect (self);
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
static gboolean
keystore_check_usable (VpushKeystore *self, GError **error)
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
  keystore_abandon_attempt (self);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  keystore_drop_connection (self);
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
  g_ptr_array_unref (self->init_tasks);
  g_hash_table_unref (self->doubtful);
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
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vpush_keystore_init (VpushKeystore *self)
{
  self->calls = g_ptr_array_new ();
  self->init_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->doubtful = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
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

/* ---- init ---- */

void
vpush_keystore_init_async (VpushKeystore *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));

  task = keystore_task_new (self, CALL_INIT, vpush_keystore_init_async, cancellable, callback,
                            user_data);
  g_ptr_array_add (self->init_tasks, task);
  /* The only place that may start the Secret Service (D-Bus activation, like any libsecret
   * client at start). Later the key store waits for it to appear: a keyring started by
   * activation after a crash has no password, so it would only ever be locked. */
  if (self->watch_id == 0)
    self->watch_id = g_bus_watch_name (G_BUS_TYPE_SESSION, SECRETS_BUS_NAME,
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

/* ---- store ---- */

static void
on_store (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  GError *error = NULL;

  secret_service_store_finish (SECRET_SERVICE (source), result, &error);
  if (!keystore_call_begin_answer (task))
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      /* only a refusal is sure to have stored nothing */
      if (!g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
        keystore_note_doubtful (self, call->factor_sid);
      keystore_return_error (task, error);
      keystore_clear_doubtful (self);
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
  g_autoptr (GHashTable) attributes = NULL;
  g_autoptr (SecretValue) value = NULL;
  g_autofree gchar *label = NULL;
  GCancellable *call_cancellable;
  KeystoreCall *call;
  GError *error = NULL;
  guint8 *der = NULL;
  gsize der_len = 0;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);
  g_return_if_fail (service_sid != NULL);
  g_return_if_fail (friendly_name != NULL);
  g_return_if_fail (key != NULL);

  task = keystore_task_new (self, CALL_STORE, vpush_keystore_store_async, cancellable, callback,
                            user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);

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
  if (saw_locked || self->locked)
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

  task = keystore_task_new (self, CALL_LOAD, vpush_keystore_load_async, cancellable, callback,
                            user_data);
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

  task = keystore_task_new (self, CALL_DELETE, vpush_keystore_delete_async, cancellable, callback,
                            user_data);

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

/* ---- list ---- */

static void
on_list_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  g_autoptr (GHashTable) found = NULL;
  GList *items;
  GError *error = NULL;

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
  g_autoptr (GHashTable) attributes = NULL;
  GCancellable *call_cancellable;
  GError *error = NULL;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));

  task = keystore_task_new (self, CALL_LIST, vpush_keystore_list_async, cancellable, callback,
                            user_data);

  /* while locked the items' attributes can't be trusted to be there */
  if (!keystore_check_usable (self, &error))
    {
      keystore_call_begin_answer (task);
      g_task_return_error (task, error);
      return;
    }

  /* no attributes: every item of the schema (libsecret matches xdg:schema) */
  attributes = g_hash_table_new (g_str_hash, g_str_equal);
  call_cancellable = keystore_call_get_cancellable (task);
  secret_service_search (self->service, keystore_get_schema (), attributes, SECRET_SEARCH_ALL,
                         call_cancellable, on_list_searched, g_steal_pointer (&task));
}

GHashTable *
vpush_keystore_list_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
