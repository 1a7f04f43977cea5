#include "vpush-factor-private.h"

#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-log.h"

/* Delete calls of one factor that wait for the one under way; each holds its message */
#define DELETE_JOINED_MAX 32

/* Delete(): a journal entry naming the factor, its record removed, then the factor at the
 * Verify API (404 counts as done), its key, the entry, the object. A crash part way is
 * finished at the next start (docs/crash-safety.md); a failure before the API deleted the
 * factor puts the record back. A second Delete while one is in flight joins it and gets
 * its outcome: two would race to clear the same key item. An Update or Verify already
 * under way when the Delete comes ends first; the ones that come later are NotFound. */

static void
delete_reply (FactorCall *call, const GError *error)
{
  VpushFactor *self = call->factor;
  g_autoptr (GPtrArray) joined = g_steal_pointer (&self->delete_joined);

  self->deleting = FALSE;
  if (error != NULL)
    {
      /* approvals waiting for a challenge of a factor back from a failed delete look again */
      vpush_pending_emit_changed (vpush_manager_get_pending (self->manager));
      vpush_factor_call_fail (call, error);
    }
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
  for (guint i = 0; joined != NULL && i < joined->len; i++)
    {
      GDBusMethodInvocation *invocation = g_ptr_array_index (joined, i);

      if (error != NULL)
        vpush_error_return (invocation, error);
      else
        g_dbus_method_invocation_return_value (invocation, NULL);
    }
}

/* A failed delete's entry, gone once its record is back: the caller hears of the failure
 * when the factor is on disk as it was */
static void
undo_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) undo = user_data;
  g_autoptr (GError) error = NULL;

  /* with the record there, the next start drops the entry and keeps the factor */
  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("factor %s: %s", undo->factor->record->sid, error->message);
  delete_reply (undo, undo->error);
}

/* The record that could not be put back may be there all the same: the next start acts on
 * what is there, and the log says which */
static void
undo_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) undo = user_data;
  const gchar *sid = undo->factor->record->sid;

  vpush_log_event (G_LOG_LEVEL_WARNING, NULL, sid, NULL, NULL,
                   "factor %s: the delete failed, and undoing its start failed too (%s); %s", sid,
                   undo->undo_failure,
                   vpush_factor_store_has_record_finish (VPUSH_FACTOR_STORE (source), result)
                       ? "its record is back, so vpushd keeps the factor at its next start"
                       : "vpushd deletes the factor at its next start");
  delete_reply (undo, undo->error);
}

static void
undo_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  VpushFactorStore *store = VPUSH_FACTOR_STORE (source);
  g_autoptr (FactorCall) undo = user_data;
  g_autoptr (GError) error = NULL;

  /* The entry stays: without the record, the next start finishes the deletion. A write
   * that failed after its rename (the directory's sync) has the record back, and the next
   * start keeps the factor, unless a power cut loses the rename first. Removing the entry
   * then could leave neither, and the factor at the API with nothing naming its key. */
  if (!vpush_factor_store_write_finish (store, result, &error))
    {
      const gchar *sid = undo->factor->record->sid;

      undo->undo_failure = g_strdup (error->message);
      vpush_factor_store_has_record_async (store, sid, undo_checked_cb, g_steal_pointer (&undo));
      return;
    }
  vpush_factor_store_remove_enrollment_async (store, undo->deletion->id, undo_removed_cb, undo);
  undo = NULL; /* owned by the callback now */
}

/* call stays the caller's */
static void
delete_done (FactorCall *call, const GError *error)
{
  VpushFactor *self = call->factor;
  FactorCall *undo;

  if (error == NULL || call->deletion == NULL || call->remote_deleted)
    {
      delete_reply (call, error);
      return;
    }
  /* nothing was deleted: the factor is put back as it was before the reply */
  undo = vpush_factor_call_new (self, call->invocation);
  undo->deletion = g_steal_pointer (&call->deletion);
  undo->error = g_error_copy (error);
  vpush_factor_store_save_async (vpush_manager_get_factor_store (self->manager), self->record,
                                 undo_saved_cb, undo);
}

/* The factor is gone at the API, its key deleted or left (then its journal entry goes to the
 * recovery, which deletes the key and the entry), the entry removed: the object goes, the reply
 * follows */
static void
delete_finish (FactorCall *call)
{
  VpushFactor *self = call->factor;
  g_autofree gchar *sid = g_strdup (self->record->sid);
  g_autofree gchar *caller = vpush_bouncer_describe_caller (call->invocation);

  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_DELETED, sid, NULL, caller, "factor %s deleted",
                   sid);
  vpush_manager_remove_factor (self->manager, sid);
  delete_done (call, NULL);
}

static void
delete_entry_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  /* the next start would find the entry and nothing left to do */
  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("factor %s: %s", call->factor->record->sid, error->message);
  delete_finish (call);
}

/* takes call */
static void
delete_local (FactorCall *call, gboolean keep_entry)
{
  if (keep_entry)
    {
      delete_finish (call);
      vpush_factor_call_free (call);
      return;
    }
  vpush_factor_store_remove_enrollment_async (
      vpush_manager_get_factor_store (call->factor->manager), call->deletion->id,
      delete_entry_removed_cb, call);
}

static void
delete_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      /* the factor is gone at the API and here; only its key is left, which the journal
       * entry names: the recovery deletes both once the keyring is usable, not weeks later at
       * the next start (which does it if vpushd stops before) */
      vpush_log_event (G_LOG_LEVEL_WARNING, NULL, call->factor->record->sid, NULL, NULL,
                       "the key of deleted factor %s stays in the Secret Service until the "
                       "keyring is usable again: %s",
                       call->factor->record->sid, error->message);
      vpush_manager_recover (call->factor->manager, g_steal_pointer (&call->deletion), TRUE);
      delete_local (g_steal_pointer (&call), TRUE);
      return;
    }
  delete_local (g_steal_pointer (&call), FALSE);
}

static void
delete_remote_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushManager *manager = call->factor->manager;
  g_autoptr (GError) error = NULL;

  if (!vpush_verify_delete_factor_finish (VPUSH_VERIFY (source), result, &error))
    {
      delete_done (call, error);
      return;
    }
  call->remote_deleted = TRUE;
  vpush_manager_note_api_result (manager, NULL);
  vpush_manager_forget_key (manager, call->factor->record->sid);
  vpush_keystore_delete_async (vpush_manager_get_keystore (manager), call->factor->record->sid,
                               NULL, delete_key_cb, call);
  call = NULL; /* owned by the callback now */
}

static void
delete_key_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushManager *manager = call->factor->manager;
  g_autoptr (GError) error = NULL;

  call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (call->key == NULL)
    {
      /* without its key the factor can't authenticate anywhere: drop what is left here */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND)
          || g_error_matches (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_MISSING))
        {
          g_warning ("factor %s has no key; deleting it locally only", call->factor->record->sid);
          delete_local (g_steal_pointer (&call), FALSE);
          return;
        }
      /* Nor with items that hold no usable key (not a key, two different ones): kept, the
       * factor could never be deleted. They go with it; the remote factor stays. */
      if (g_error_matches (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE))
        {
          g_warning ("factor %s: %s; deleting it locally only", call->factor->record->sid,
                     error->message);
          vpush_keystore_delete_async (vpush_manager_get_keystore (manager),
                                       call->factor->record->sid, NULL, delete_key_cb, call);
          call = NULL; /* owned by the callback now */
          return;
        }
      delete_done (call, error);
      return;
    }
  vpush_verify_delete_factor_async (vpush_manager_get_verify (manager), call->factor->record,
                                    call->key->key, NULL, delete_remote_cb, call);
  call = NULL; /* owned by the callback now */
}

static void
delete_unrecorded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    {
      delete_done (call, error);
      return;
    }
  vpush_manager_load_key_async (call->factor->manager, call->factor->record->sid, NULL,
                                delete_key_loaded_cb, call);
  call = NULL; /* owned by the callback now */
}

static void
unjournaled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  /* the record is there: the next start drops the entry and keeps the factor */
  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("factor %s: %s", call->factor->record->sid, error->message);
  delete_done (call, call->error);
}

static void
delete_journaled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushFactorStore *store = VPUSH_FACTOR_STORE (source);
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (store, result, &error))
    {
      /* Nothing to undo but the entry: a write that failed after its rename (the
       * directory's sync) left it on disk, until the next start would drop it. Removing
       * one that is not there is no error. */
      call->error = g_steal_pointer (&error);
      vpush_factor_store_remove_enrollment_async (store, call->deletion->id, unjournaled_cb, call);
      g_clear_pointer (&call->deletion, vpush_enrollment_free);
      call = NULL; /* owned by the callback now */
      return;
    }
  /* from here a crash deletes the factor at the next start */
  vpush_factor_store_remove_async (store, call->factor->record->sid, delete_unrecorded_cb, call);
  call = NULL; /* owned by the callback now */
}

void
vpush_factor_delete_begin (FactorCall *call)
{
  VpushFactor *self = call->factor;

  call->deletion = vpush_enrollment_new_deletion (
      self->record, vpush_verify_get_base_url (vpush_manager_get_verify (self->manager)));
  vpush_factor_store_save_enrollment_async (vpush_manager_get_factor_store (self->manager),
                                            call->deletion, delete_journaled_cb, call);
}

static void
delete_allowed (gpointer data)
{
  FactorCall *call = data;
  VpushFactor *self = call->factor;
  FactorCall *queued;

  if (self->deleting)
    {
      /* each waits while the first one retries, up to RetryTimeoutMs */
      if (self->delete_joined != NULL && self->delete_joined->len >= DELETE_JOINED_MAX)
        {
          g_dbus_method_invocation_return_error (
              call->invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
              "%d Delete calls wait for the delete of factor %s already; try again once it "
              "has ended",
              DELETE_JOINED_MAX, self->record->sid);
          vpush_factor_call_free (call);
          return;
        }
      /* its reply comes with the first one's (delete_done) */
      if (self->delete_joined == NULL)
        self->delete_joined = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (self->delete_joined, g_steal_pointer (&call->invocation));
      vpush_factor_call_free (call);
      return;
    }
  if (vpush_factor_call_deleted_meanwhile (call))
    {
      vpush_factor_call_free (call);
      return;
    }
  self->deleting = TRUE;
  /* Updates queued behind the one under way were not sent: NotFound now, as for any
   * call that comes during the delete */
  while ((queued = g_queue_pop_head (&self->update_queue)) != NULL)
    {
      vpush_factor_call_deleted_meanwhile (queued);
      vpush_factor_call_free (queued);
    }
  /* an Update or Verify already sent ends first, its answer recorded: a delete that then
   * fails puts the factor back as the API has it */
  if (self->changes_out > 0)
    {
      self->delete_waiting = call;
      return;
    }
  vpush_factor_delete_begin (call);
}

gboolean
vpush_factor_handle_delete (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation,
                            VpushFactor *self)
{
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_DELETE, self->record, delete_allowed,
                      vpush_factor_call_new (self, invocation),
                      (GDestroyNotify)vpush_factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}
