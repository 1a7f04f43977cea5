#include "vpush-factor-private.h"

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-http.h"
#include "vpush-log.h"
#include "vpush-names.h"
#include "vpush-push.h"

G_DEFINE_TYPE (VpushFactor, vpush_factor, G_TYPE_OBJECT)

static void
vpush_factor_finalize (GObject *object)
{
  VpushFactor *self = VPUSH_FACTOR (object);

  g_clear_pointer (&self->delete_joined, g_ptr_array_unref);
  g_signal_handlers_disconnect_by_data (self->skeleton, self);
  g_clear_object (&self->skeleton);
  g_clear_object (&self->object);
  g_clear_pointer (&self->record, vpush_factor_record_free);
  G_OBJECT_CLASS (vpush_factor_parent_class)->finalize (object);
}

static void
vpush_factor_class_init (VpushFactorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_factor_finalize;
}

static void
vpush_factor_init (VpushFactor *self)
{
}

static void
sync_properties (VpushFactor *self)
{
  VpushFactorRecord *r = self->record;

  g_object_set (self->skeleton, "sid", r->sid, "friendly-name", r->friendly_name, "service-sid",
                r->service_sid, "identity", r->identity, "account-sid", r->account_sid, "status",
                r->status, "created-at", r->created_at, "key-storage",
                VPUSH_KEY_STORAGE_SECRET_SERVICE, "push-url", r->push_url ? r->push_url : "", NULL);
  /* the skeleton would send PropertiesChanged from an idle, after the reply of the call
   * that made the change: a client's proxy would still show the old value on that reply */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->skeleton));
}

static void update_next (VpushFactor *self);

void
vpush_factor_call_free (FactorCall *call)
{
  VpushFactor *self = call->factor;

  if (call->holds_update)
    {
      self->updating = FALSE;
      update_next (self);
    }
  if (call->holds_change && --self->changes_out == 0 && self->delete_waiting != NULL)
    vpush_factor_delete_begin (g_steal_pointer (&self->delete_waiting));
  if (call->counted)
    vpush_manager_remove_at_api (self->manager, VPUSH_AT_API_CHANGE);
  g_clear_object (&call->factor);
  g_clear_object (&call->invocation);
  g_clear_pointer (&call->key, vpush_key_box_unref);
  g_free (call->friendly_name);
  g_free (call->undo_failure);
  g_free (call->push_url);
  g_clear_pointer (&call->deletion, vpush_enrollment_free);
  g_clear_error (&call->error);
  g_free (call);
}

FactorCall *
vpush_factor_call_new (VpushFactor *self, GDBusMethodInvocation *invocation)
{
  FactorCall *call = g_new0 (FactorCall, 1);

  call->factor = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  return call;
}

void
vpush_factor_call_hold_change (FactorCall *call)
{
  call->holds_change = TRUE;
  call->factor->changes_out++;
}

gboolean
vpush_factor_call_deleted_meanwhile (FactorCall *call)
{
  VpushFactor *self = call->factor;

  /* a call under way when the Delete came is let end first: the factor is all there */
  if (self->deleting && !call->holds_change)
    {
      /* its record is gone until the delete ends, and must not come back meanwhile */
      g_dbus_method_invocation_return_error (call->invocation, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                             "factor %s is being deleted", self->record->sid);
      return TRUE;
    }
  if (vpush_manager_lookup_factor (self->manager, self->record->sid) == self)
    return FALSE;
  g_dbus_method_invocation_return_error (call->invocation, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                         "factor %s was deleted while the call was made",
                                         self->record->sid);
  return TRUE;
}

void
vpush_factor_call_fail (FactorCall *call, const GError *error)
{
  /* No word to the manager's State: the request that failed told it as it ended, and a
   * failed Delete replies only once the record is back, after later requests maybe */
  /* a call that raced a Delete: the API's "no such factor" (or whatever failed after
   * the delete) is told as what happened */
  if (vpush_factor_call_deleted_meanwhile (call))
    return;
  vpush_error_return (call->invocation, error);
}

/* The call's reply waits for the record: once it has its answer, a restart keeps it */
static void
save_record (FactorCall *call, GAsyncReadyCallback callback)
{
  vpush_factor_store_save_async (vpush_manager_get_factor_store (call->factor->manager),
                                 call->factor->record, callback, call);
}

static void relabel (FactorCall *call);

/* An Update or Verify that waits in its factor's line holds its caller's pidfd: a caller
 * in a loop, renaming a factor while the API is slow, could take every descriptor, so the
 * calls waiting or under way, of all factors together, are capped. FALSE: refused. */
static gboolean
count_change (FactorCall *call)
{
  if (call->counted)
    return TRUE;
  if (!vpush_manager_add_at_api (call->factor->manager, VPUSH_AT_API_CHANGE))
    {
      g_dbus_method_invocation_return_error (
          call->invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
          "%d Update and Verify calls are under way or waiting already; try again once one "
          "has ended",
          VPUSH_CHANGING_MAX);
      return FALSE;
    }
  call->counted = TRUE;
  return TRUE;
}

/* The Update and Verify calls of a factor go one at a time: TRUE when *call goes now; else
 * it waits in the line (taken from *call) or was refused (and replied to). */
static gboolean
take_line (FactorCall **call)
{
  VpushFactor *self = (*call)->factor;

  if (!count_change (*call))
    return FALSE;
  if (self->updating)
    {
      g_queue_push_tail (&self->update_queue, g_steal_pointer (call));
      return FALSE;
    }
  self->updating = TRUE;
  (*call)->holds_update = TRUE;
  /* a Delete from now waits for the change to be recorded: lost, a failed delete would put
   * the factor back as it was (unverified, the old name) while the API has the change */
  vpush_factor_call_hold_change (*call);
  return TRUE;
}

static void
saved_again_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  const gchar *sid = call->factor->record->sid;
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    vpush_log_event (G_LOG_LEVEL_WARNING, NULL, sid, NULL, NULL,
                     "factor %s: its record could not be saved on a second try either (%s); "
                     "its next change saves it, and a restart before that may load the old one",
                     sid, error->message);
  else
    vpush_log_event (G_LOG_LEVEL_MESSAGE, NULL, sid, NULL, NULL,
                     "factor %s: its record is saved, on a second try", sid);
  if (call->renamed)
    relabel (g_steal_pointer (&call));
}

/* A change the Verify API took and whose record could not be written (a full or failing
 * disk). Undoing it here would make the bus disagree with the API, so it stays in effect:
 * in memory and on the bus. The caller hears that it is not saved, and the record is
 * written once more right away. The call still holds the change, so a Delete waits for
 * that write and can't find its record brought back. Takes call. */
static void
unsaved_reply (FactorCall *call, const gchar *change, const GError *error)
{
  VpushFactor *self = call->factor;
  g_autoptr (GError) failed = NULL;

  if (change != NULL)
    failed = g_error_new (VPUSH_ERROR, VPUSH_ERROR_FAILED,
                          "factor %s: the change (%s) was made at the Verify API, but could not "
                          "be saved locally: %s",
                          self->record->sid, change, error->message);
  else
    failed = g_error_new (VPUSH_ERROR, VPUSH_ERROR_FAILED,
                          "factor %s: the change is in effect, but could not be saved locally: %s",
                          self->record->sid, error->message);
  vpush_log_event (G_LOG_LEVEL_WARNING, NULL, self->record->sid, NULL, NULL, "%s", failed->message);
  vpush_error_return (call->invocation, failed);
  save_record (call, saved_again_cb);
}

/* Verify() */

static void
verify_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  const gchar *status = call->factor->record->status;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *change = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    {
      /* the properties show the status already */
      change = g_strdup_printf ("status %s", status);
      unsaved_reply (g_steal_pointer (&call), change, error);
      return;
    }
  if (!g_str_equal (status, "verified"))
    {
      g_dbus_method_invocation_return_error (call->invocation, VPUSH_ERROR, VPUSH_ERROR_API,
                                             "the Verify API left the factor %s", status);
      return;
    }
  g_dbus_method_invocation_return_value (call->invocation, NULL);
}

static void
verify_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushFactor *self = call->factor;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *status = NULL;

  status = vpush_verify_verify_factor_finish (VPUSH_VERIFY (source), result, &error);
  vpush_manager_note_api_result (self->manager, error);
  if (status == NULL)
    {
      vpush_factor_call_fail (call, error);
      return;
    }
  if (vpush_factor_call_deleted_meanwhile (call))
    return;
  g_free (self->record->status);
  self->record->status = g_strdup (status);
  sync_properties (self);
  save_record (g_steal_pointer (&call), verify_saved_cb);
}

static void
verify_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushManager *manager = call->factor->manager;
  g_autoptr (GError) error = NULL;

  call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (call->key == NULL)
    {
      vpush_factor_call_fail (call, error);
      return;
    }
  vpush_verify_verify_factor_async (vpush_manager_get_verify (manager), call->factor->record,
                                    call->key->key, NULL, verify_done_cb, call);
  call = NULL; /* owned by the callback now */
}

/* Verify calls wait for the Update or Verify under way, as Updates do: many at once would
 * each send a POST, and the ones that come while the factor is being verified only need
 * its outcome. */
static void
verify_allowed (gpointer data)
{
  g_autoptr (FactorCall) call = data;
  VpushFactor *self = call->factor;

  call->verify = TRUE;
  /* a factor being deleted, or deleted while the caller was looked up, is not there to
   * verify, verified already or not */
  if (vpush_factor_call_deleted_meanwhile (call))
    return;
  /* verified already: nothing to wait for */
  if (g_str_equal (self->record->status, "verified"))
    {
      g_dbus_method_invocation_return_value (call->invocation, NULL);
      return;
    }
  if (!take_line (&call))
    return;
  vpush_manager_load_key_async (self->manager, self->record->sid, NULL, verify_key_cb,
                                g_steal_pointer (&call));
}

/* Verify changes the factor: the policy calls that "update" */
static gboolean
handle_verify (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, VpushFactor *self)
{
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_UPDATE, self->record, verify_allowed,
                      vpush_factor_call_new (self, invocation),
                      (GDestroyNotify)vpush_factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Update(): one at a time per factor, Verify calls included. Two renames in flight at
 * once could reach the API in one order and have their replies handled in the other,
 * leaving the factor with one name here and the other there. */

/* The Update ends here, so the next one (or a Delete) starts: two relabels at once could
 * reach the keyring out of order and leave it with the older name */
static void
relabel_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  const gchar *sid = call->factor->record->sid;
  g_autoptr (GError) error = NULL;

  /* the factor is renamed all the same: only the keyring's label lags */
  if (!vpush_keystore_relabel_finish (VPUSH_KEYSTORE (source), result, &error))
    vpush_log_event (G_LOG_LEVEL_WARNING, NULL, sid, NULL, NULL,
                     "the key of factor %s keeps its old label in the Secret Service: %s", sid,
                     error->message);
}

/* takes call */
static void
relabel (FactorCall *call)
{
  VpushFactor *self = call->factor;

  vpush_keystore_relabel_async (vpush_manager_get_keystore (self->manager), self->record->sid,
                                self->record->friendly_name, NULL, relabel_done_cb, call);
}

static void
update_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushFactor *self = call->factor;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *change = NULL;
  gboolean saved;

  /* saved or not, the change is in effect: the API has the name, the record here all of it */
  saved = vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error);
  sync_properties (self);
  if (call->set_push_url)
    vpush_push_update_factor (vpush_manager_get_push (self->manager), self->record->sid);
  if (!saved)
    {
      /* a push URL alone is not sent to the API */
      if (call->renamed)
        change = g_strdup_printf ("renamed “%s”", self->record->friendly_name);
      unsaved_reply (g_steal_pointer (&call), change, error);
      return;
    }
  g_dbus_method_invocation_return_value (call->invocation, NULL);
  /* after the reply, which does not wait for the label */
  if (call->renamed)
    relabel (g_steal_pointer (&call));
}

/* A change in effect is recorded as an enrollment or deletion is, never rationed: the
 * policy's record of the Update may be (a caller's flood of calls that change nothing). The
 * push URL itself is not logged: an ntfy topic in it is a secret of sorts. */
static void
log_updated (FactorCall *call)
{
  VpushFactor *self = call->factor;
  g_autofree gchar *caller = vpush_bouncer_describe_caller (call->invocation);
  g_autofree gchar *renamed = NULL;

  if (call->renamed)
    renamed = g_strdup_printf ("renamed “%s”", self->record->friendly_name);
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_UPDATED, self->record->sid, NULL, caller,
                   "factor %s updated: %s%s%s", self->record->sid, renamed ? renamed : "",
                   renamed && call->push_changed ? ", " : "",
                   !call->push_changed      ? ""
                   : self->record->push_url ? "push URL changed"
                                            : "push URL removed");
}

/* The push URL an Update asks for; NULL for none ("" removes it) */
static gchar *
push_url_asked (FactorCall *call)
{
  return call->push_url && *call->push_url ? g_strdup (call->push_url) : NULL;
}

static void
apply_update (FactorCall *call)
{
  VpushFactor *self = call->factor;

  if (vpush_factor_call_deleted_meanwhile (call))
    {
      vpush_factor_call_free (call);
      return;
    }
  if (call->friendly_name && !g_str_equal (call->friendly_name, self->record->friendly_name))
    {
      vpush_factor_record_rename (self->record, call->friendly_name);
      call->renamed = TRUE;
    }
  if (call->set_push_url)
    {
      gchar *url = push_url_asked (call);

      call->push_changed = g_strcmp0 (url, self->record->push_url) != 0;
      g_free (self->record->push_url);
      self->record->push_url = url;
    }
  if (call->renamed || call->push_changed)
    log_updated (call);
  save_record (call, update_saved_cb);
}

static void
update_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_verify_update_factor_finish (VPUSH_VERIFY (source), result, &error))
    {
      vpush_factor_call_fail (call, error);
      return;
    }
  vpush_manager_note_api_result (call->factor->manager, NULL);
  apply_update (g_steal_pointer (&call));
}

static void
update_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushManager *manager = call->factor->manager;
  g_autoptr (GError) error = NULL;

  call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (call->key == NULL)
    {
      vpush_factor_call_fail (call, error);
      return;
    }
  vpush_verify_update_factor_async (vpush_manager_get_verify (manager), call->factor->record,
                                    call->key->key, call->friendly_name, NULL, update_done_cb,
                                    call);
  call = NULL; /* owned by the callback now */
}

/* A change is always recorded (log_updated()), so the changes of a caller have a ration of
 * their own, beside the one of its other records, and one past it is refused: a loop
 * flipping a push URL, which the API never sees, would write records as fast as vpushd can,
 * past journald's rate limit, and everyone's decisions would be dropped with them.
 * FALSE: refused. */
static gboolean
take_record (FactorCall *call)
{
  const VpushFactorRecord *record = call->factor->record;
  g_autofree gchar *key = NULL;
  g_autofree gchar *ration = NULL;
  g_autofree gchar *url = push_url_asked (call);

  if ((call->friendly_name == NULL || g_str_equal (call->friendly_name, record->friendly_name))
      && (!call->set_push_url || g_strcmp0 (url, record->push_url) == 0))
    return TRUE;
  key = vpush_bouncer_caller_key (call->invocation);
  ration = g_strconcat ("changes:", key, NULL);
  if (vpush_log_ration_reserve (ration))
    return TRUE;
  g_dbus_method_invocation_return_error (
      call->invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
      "%s has changed factors more often in 10 s than [Audit] RecordsPerCaller allows, and "
      "every change is recorded: try again in a few seconds",
      key);
  return FALSE;
}

static void
update_allowed (gpointer data)
{
  g_autoptr (FactorCall) call = data;
  VpushFactor *self = call->factor;

  /* before the rename is sent: a delete that then fails would leave the API with the new
   * name and the factor here with the old one */
  if (vpush_factor_call_deleted_meanwhile (call))
    return;
  /* no change asked for: nothing to wait for, nothing to write */
  if (call->friendly_name == NULL && !call->set_push_url)
    {
      g_dbus_method_invocation_return_value (call->invocation, NULL);
      return;
    }
  if (!take_line (&call) || !take_record (call))
    return;
  if (call->friendly_name == NULL || g_str_equal (call->friendly_name, self->record->friendly_name))
    {
      apply_update (g_steal_pointer (&call));
      return;
    }
  vpush_manager_load_key_async (self->manager, self->record->sid, NULL, update_key_cb,
                                g_steal_pointer (&call));
}

/* The next Update, once the one under way has replied. One refused at once (the factor
 * was deleted meanwhile) starts nothing, and would leave the others waiting for ever. */
static void
update_next (VpushFactor *self)
{
  FactorCall *call;

  while (!self->updating && (call = g_queue_pop_head (&self->update_queue)) != NULL)
    {
      if (call->verify)
        verify_allowed (call);
      else
        update_allowed (call);
    }
}

static gboolean
handle_update (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, GVariant *changes,
               VpushFactor *self)
{
  static const VpushArgSpec specs[] = {
    { VPUSH_DBUS_UPDATE_FRIENDLY_NAME, "s", FALSE },
    { VPUSH_DBUS_UPDATE_PUSH_URL, "s", FALSE },
  };
  g_autoptr (GHashTable) args = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (FactorCall) call = NULL;
  const gchar *name;
  const gchar *url;

  if (!vpush_args_parse (changes, "changes", specs, G_N_ELEMENTS (specs), &args, &error))
    goto invalid;

  name = vpush_args_get_string (args, VPUSH_DBUS_UPDATE_FRIENDLY_NAME);
  if (name && (*name == '\0' || g_utf8_strlen (name, -1) > VPUSH_FRIENDLY_NAME_MAX))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "changes: friendly-name must be 1 to %d characters", VPUSH_FRIENDLY_NAME_MAX);
      goto invalid;
    }
  url = vpush_args_get_string (args, VPUSH_DBUS_UPDATE_PUSH_URL);
  if (url && *url && !vpush_http_check_url_unnamed (url, &error))
    {
      g_prefix_error (&error, "changes: push-url: ");
      error->domain = G_DBUS_ERROR;
      error->code = G_DBUS_ERROR_INVALID_ARGS;
      goto invalid;
    }

  call = vpush_factor_call_new (self, invocation);
  call->push_url = g_strdup (url);
  call->set_push_url = url != NULL;
  call->friendly_name = g_strdup (name);
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_UPDATE, self->record, update_allowed,
                      g_steal_pointer (&call), (GDestroyNotify)vpush_factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;

invalid:
  g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

VpushFactor *
vpush_factor_new (VpushManager *manager, VpushFactorRecord *record)
{
  VpushFactor *self = g_object_new (VPUSH_TYPE_FACTOR, NULL);
  g_autofree gchar *path = vpush_factor_object_path (record->sid);

  self->manager = manager;
  self->record = record;
  self->object = g_dbus_object_skeleton_new (path);
  self->skeleton = vpush_dbus_factor_skeleton_new ();
  sync_properties (self);
  g_signal_connect (self->skeleton, "handle-verify", G_CALLBACK (handle_verify), self);
  g_signal_connect (self->skeleton, "handle-update", G_CALLBACK (handle_update), self);
  g_signal_connect (self->skeleton, "handle-delete", G_CALLBACK (vpush_factor_handle_delete), self);
  g_signal_connect (self->skeleton, "handle-list-challenges", G_CALLBACK (vpush_factor_handle_list),
                    self);
  g_dbus_object_skeleton_add_interface (self->object, G_DBUS_INTERFACE_SKELETON (self->skeleton));
  return self;
}

const VpushFactorRecord *
vpush_factor_get_record (VpushFactor *self)
{
  return self->record;
}

const gchar *
vpush_factor_get_sid (VpushFactor *self)
{
  return self->record->sid;
}

gboolean
vpush_factor_is_deleting (VpushFactor *self)
{
  return self->deleting;
}

GDBusObjectSkeleton *
vpush_factor_get_object (VpushFactor *self)
{
  return self->object;
}
