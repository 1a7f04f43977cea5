#include "vpush-factor.h"

#include <string.h>

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-dbus-generated.h"
#include "vpush-error.h"
#include "vpush-http.h"
#include "vpush-log.h"
#include "vpush-names.h"
#include "vpush-push.h"
#include "vpush-time.h"

#define FRIENDLY_NAME_MAX 64

struct _VpushFactor
{
  GObject parent_instance;
  VpushManager *manager;
  VpushFactorRecord *record;
  GDBusObjectSkeleton *object;
  VpushDBusFactor *skeleton;
  gboolean deleting;
  GPtrArray *delete_joined; /* Delete calls waiting for the one in flight to end */
};

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
}

/* The steps of every method: load the key, then call the API with it. */
typedef struct
{
  VpushFactor *factor;
  GDBusMethodInvocation *invocation;
  VpushKeyBox *key;
  gchar *friendly_name; /* Update */
  gchar *push_url;      /* Update */
  gboolean set_push_url;
  VpushEnrollment *deletion; /* Delete: its journal entry, once written */
  gboolean remote_deleted;   /* Delete: the API no longer has the factor */
} FactorCall;

static void
factor_call_free (FactorCall *call)
{
  g_clear_object (&call->factor);
  g_clear_object (&call->invocation);
  g_clear_pointer (&call->key, vpush_key_box_unref);
  g_free (call->friendly_name);
  g_free (call->push_url);
  g_clear_pointer (&call->deletion, vpush_enrollment_free);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FactorCall, factor_call_free)

static FactorCall *
factor_call_new (VpushFactor *self, GDBusMethodInvocation *invocation)
{
  FactorCall *call = g_new0 (FactorCall, 1);

  call->factor = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  return call;
}

/* Whether the factor was deleted while the call's request was out: its record must not
 * be written again, or it would come back at the next start. */
static gboolean
deleted_meanwhile (FactorCall *call)
{
  VpushFactor *self = call->factor;

  if (self->deleting)
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

static void
fail (FactorCall *call, const GError *error)
{
  vpush_manager_note_api_result (call->factor->manager, error);
  /* a call that raced a Delete: the API's "no such factor" (or whatever failed after
   * the delete) is told as what happened */
  if (deleted_meanwhile (call))
    return;
  vpush_manager_return_error (call->invocation, error);
}

static gboolean
save_record (VpushFactor *self, GError **error)
{
  return vpush_factor_store_save (vpush_manager_get_factor_store (self->manager), self->record,
                                  error);
}

/* Verify() */

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
      fail (call, error);
      return;
    }
  if (deleted_meanwhile (call))
    return;
  g_free (self->record->status);
  self->record->status = g_strdup (status);
  sync_properties (self);
  if (!save_record (self, &error))
    {
      fail (call, error);
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
verify_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  VpushManager *manager = call->factor->manager;
  g_autoptr (GError) error = NULL;

  call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (call->key == NULL)
    {
      fail (call, error);
      return;
    }
  vpush_verify_verify_factor_async (vpush_manager_get_verify (manager), call->factor->record,
                                    call->key->key, NULL, verify_done_cb, call);
  call = NULL; /* owned by the callback now */
}

static void
verify_allowed (gpointer data)
{
  g_autoptr (FactorCall) call = data;
  VpushFactor *self = call->factor;

  if (g_str_equal (self->record->status, "verified"))
    {
      g_dbus_method_invocation_return_value (call->invocation, NULL);
      return;
    }
  vpush_manager_load_key_async (self->manager, self->record->sid, NULL, verify_key_cb,
                                g_steal_pointer (&call));
}

/* Verify changes the factor: the policy calls that "update" */
static gboolean
handle_verify (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, VpushFactor *self)
{
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_UPDATE, self->record, verify_allowed,
                      factor_call_new (self, invocation), (GDestroyNotify)factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Update() */

static void
relabel_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree gchar *sid = user_data;
  g_autoptr (GError) error = NULL;

  /* the factor is renamed all the same: only the keyring's label lags */
  if (!vpush_keystore_relabel_finish (VPUSH_KEYSTORE (source), result, &error))
    vpush_log_event (G_LOG_LEVEL_WARNING, NULL, sid, NULL, NULL,
                     "the key of factor %s keeps its old label in the Secret Service: %s", sid,
                     error->message);
}

static void
apply_update (FactorCall *call)
{
  VpushFactor *self = call->factor;
  g_autoptr (GError) error = NULL;
  gboolean renamed = FALSE;

  if (deleted_meanwhile (call))
    return;
  if (call->friendly_name && !g_str_equal (call->friendly_name, self->record->friendly_name))
    {
      vpush_factor_record_rename (self->record, call->friendly_name);
      renamed = TRUE;
    }
  if (call->set_push_url)
    {
      g_free (self->record->push_url);
      self->record->push_url = call->push_url && *call->push_url ? g_strdup (call->push_url) : NULL;
    }
  if (!save_record (self, &error))
    {
      fail (call, error);
      return;
    }
  sync_properties (self);
  if (call->set_push_url)
    vpush_push_update_factor (vpush_manager_get_push (self->manager), self->record->sid);
  g_dbus_method_invocation_return_value (call->invocation, NULL);
  if (renamed)
    vpush_keystore_relabel_async (vpush_manager_get_keystore (self->manager), self->record->sid,
                                  self->record->friendly_name, NULL, relabel_done_cb,
                                  g_strdup (self->record->sid));
}

static void
update_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_verify_update_factor_finish (VPUSH_VERIFY (source), result, &error))
    {
      fail (call, error);
      return;
    }
  vpush_manager_note_api_result (call->factor->manager, NULL);
  apply_update (call);
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
      fail (call, error);
      return;
    }
  vpush_verify_update_factor_async (vpush_manager_get_verify (manager), call->factor->record,
                                    call->key->key, call->friendly_name, NULL, update_done_cb,
                                    call);
  call = NULL; /* owned by the callback now */
}

static void
update_allowed (gpointer data)
{
  g_autoptr (FactorCall) call = data;
  VpushFactor *self = call->factor;

  if (call->friendly_name == NULL || g_str_equal (call->friendly_name, self->record->friendly_name))
    {
      apply_update (call);
      return;
    }
  vpush_manager_load_key_async (self->manager, self->record->sid, NULL, update_key_cb,
                                g_steal_pointer (&call));
}

static gboolean
handle_update (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, GVariant *changes,
               VpushFactor *self)
{
  static const VpushArgSpec specs[] = {
    { "friendly-name", "s", FALSE },
    { "push-url", "s", FALSE },
  };
  g_autoptr (GHashTable) args = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (FactorCall) call = NULL;
  const gchar *name;
  const gchar *url;

  if (!vpush_args_parse (changes, "changes", specs, G_N_ELEMENTS (specs), &args, &error))
    goto invalid;

  name = vpush_args_get_string (args, "friendly-name");
  if (name && (*name == '\0' || g_utf8_strlen (name, -1) > FRIENDLY_NAME_MAX))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "changes: friendly-name must be 1 to %d characters", FRIENDLY_NAME_MAX);
      goto invalid;
    }
  url = vpush_args_get_string (args, "push-url");
  if (url && *url && !vpush_http_check_url (url, &error))
    {
      g_prefix_error (&error, "changes: push-url: ");
      error->domain = G_DBUS_ERROR;
      error->code = G_DBUS_ERROR_INVALID_ARGS;
      goto invalid;
    }

  call = factor_call_new (self, invocation);
  call->push_url = g_strdup (url);
  call->set_push_url = url != NULL;
  call->friendly_name = g_strdup (name);
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_UPDATE, self->record, update_allowed,
                      g_steal_pointer (&call), (GDestroyNotify)factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;

invalid:
  g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Delete(): a journal entry naming the factor, its record removed, then the factor at the
 * Verify API (404 counts as done), its key, the entry, the object. A crash part way is
 * finished at the next start (docs/crash-safety.md); a failure before the API deleted the
 * factor puts the record back. A second Delete while one is in flight joins it and gets
 * its outcome: two would race to clear the same key item. */

static void
delete_done (FactorCall *call, const GError *error)
{
  VpushFactor *self = call->factor;
  VpushFactorStore *store = vpush_manager_get_factor_store (self->manager);
  g_autoptr (GPtrArray) joined = g_steal_pointer (&self->delete_joined);

  self->deleting = FALSE;
  if (error != NULL && call->deletion != NULL && !call->remote_deleted)
    {
      g_autoptr (GError) undo_error = NULL;

      /* nothing was deleted: the factor stays as it was. Without its record back, the
       * entry stays too, and the next start finishes the deletion. */
      if (!save_record (self, &undo_error)
          || !vpush_factor_store_remove_enrollment (store, call->deletion->id, &undo_error))
        vpush_log_event (G_LOG_LEVEL_WARNING, NULL, self->record->sid, NULL, NULL,
                         "factor %s: the delete failed, and undoing its start failed too (%s); "
                         "vpushd deletes the factor at its next start",
                         self->record->sid, undo_error->message);
    }
  if (error != NULL)
    fail (call, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
  for (guint i = 0; joined != NULL && i < joined->len; i++)
    {
      GDBusMethodInvocation *invocation = g_ptr_array_index (joined, i);

      if (error != NULL)
        vpush_manager_return_error (invocation, error);
      else
        g_dbus_method_invocation_return_value (invocation, NULL);
    }
}

/* The factor is gone at the API and its key deleted, or left (keep_entry) for the next
 * start to delete. */
static void
delete_local (FactorCall *call, gboolean keep_entry)
{
  VpushFactor *self = call->factor;
  g_autofree gchar *sid = g_strdup (self->record->sid);
  g_autofree gchar *caller = NULL;
  g_autoptr (GError) error = NULL;

  /* the next start would find the entry and nothing left to do */
  if (!keep_entry
      && !vpush_factor_store_remove_enrollment (vpush_manager_get_factor_store (self->manager),
                                                call->deletion->id, &error))
    g_warning ("factor %s: %s", sid, error->message);
  caller = vpush_bouncer_describe_caller (call->invocation);
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_DELETED, sid, NULL, caller, "factor %s deleted",
                   sid);
  vpush_manager_remove_factor (self->manager, sid);
  delete_done (call, NULL);
}

static void
delete_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (FactorCall) call = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      /* the factor is gone at the API and here; only its key is left, which the journal
       * entry names: the next start deletes it */
      vpush_log_event (G_LOG_LEVEL_WARNING, NULL, call->factor->record->sid, NULL, NULL,
                       "the key of deleted factor %s stays in the Secret Service until vpushd's "
                       "next start: %s",
                       call->factor->record->sid, error->message);
      delete_local (call, TRUE);
      return;
    }
  delete_local (call, FALSE);
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
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND))
        {
          g_warning ("factor %s has no key; deleting it locally only", call->factor->record->sid);
          delete_local (call, FALSE);
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
delete_allowed (gpointer data)
{
  FactorCall *call = data;
  VpushFactor *self = call->factor;
  VpushFactorStore *store = vpush_manager_get_factor_store (self->manager);
  g_autoptr (VpushEnrollment) deletion = NULL;
  g_autoptr (GError) error = NULL;

  if (self->deleting)
    {
      /* its reply comes with the first one's (delete_done) */
      if (self->delete_joined == NULL)
        self->delete_joined = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (self->delete_joined, g_steal_pointer (&call->invocation));
      factor_call_free (call);
      return;
    }
  if (deleted_meanwhile (call))
    {
      factor_call_free (call);
      return;
    }
  self->deleting = TRUE;
  deletion = vpush_enrollment_new_deletion (self->record);
  if (!vpush_factor_store_save_enrollment (store, deletion, &error))
    {
      delete_done (call, error);
      factor_call_free (call);
      return;
    }
  call->deletion = g_steal_pointer (&deletion);
  /* from here a crash deletes the factor at the next start */
  if (!vpush_factor_store_remove (store, self->record->sid, &error))
    {
      delete_done (call, error);
      factor_call_free (call);
      return;
    }
  vpush_manager_load_key_async (self->manager, self->record->sid, NULL, delete_key_loaded_cb, call);
}

static gboolean
handle_delete (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, VpushFactor *self)
{
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_DELETE, self->record, delete_allowed,
                      factor_call_new (self, invocation), (GDestroyNotify)factor_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ListChallenges() */

typedef struct
{
  FactorCall *call;
  gchar *status;
  gchar *order;
  guint page_size;
  gchar *page_token;
} ListCall;

static void
list_call_free (ListCall *list)
{
  factor_call_free (list->call);
  g_free (list->status);
  g_free (list->order);
  g_free (list->page_token);
  g_free (list);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ListCall, list_call_free)

static GVariant *
challenge_to_variant (VpushChallenge *c)
{
  g_auto (GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree gchar *created = vpush_time_format (c->created_at);
  g_autofree gchar *expires = vpush_time_format (c->expires_at);

  g_variant_builder_add (&b, "{sv}", "sid", g_variant_new_string (c->sid));
  g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (c->status));
  g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (c->message));
  g_variant_builder_add (&b, "{sv}", "fields", c->fields);
  g_variant_builder_add (&b, "{sv}", "created-at", g_variant_new_string (created));
  g_variant_builder_add (&b, "{sv}", "expires-at", g_variant_new_string (expires));
  g_variant_builder_add (&b, "{sv}", "responded-reason",
                         g_variant_new_string (c->responded_reason ? c->responded_reason : ""));
  return g_variant_builder_end (&b);
}

static void
list_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ListCall) list = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallengePage) page = NULL;
  g_auto (GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

  page = vpush_verify_list_challenges_finish (VPUSH_VERIFY (source), result, &error);
  if (page == NULL)
    {
      fail (list->call, error);
      return;
    }
  vpush_manager_note_api_result (list->call->factor->manager, NULL);
  for (guint i = 0; i < page->challenges->len; i++)
    g_variant_builder_add_value (&b,
                                 challenge_to_variant (g_ptr_array_index (page->challenges, i)));
  g_dbus_method_invocation_return_value (
      list->call->invocation,
      g_variant_new ("(aa{sv}s)", &b, page->next_page_token ? page->next_page_token : ""));
}

static void
list_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ListCall) list = user_data;
  VpushManager *manager = list->call->factor->manager;
  g_autoptr (GError) error = NULL;

  list->call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (list->call->key == NULL)
    {
      fail (list->call, error);
      return;
    }
  vpush_verify_list_challenges_async (
      vpush_manager_get_verify (manager), list->call->factor->record, list->call->key->key,
      list->status, list->order, list->page_size, list->page_token, NULL, list_done_cb, list);
  list = NULL; /* owned by the callback now */
}

static void
list_allowed (gpointer data)
{
  ListCall *list = data;

  vpush_manager_load_key_async (list->call->factor->manager, list->call->factor->record->sid, NULL,
                                list_key_cb, list);
}

static gboolean
handle_list (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation, GVariant *options,
             VpushFactor *self)
{
  static const VpushArgSpec specs[] = {
    { "status", "s", FALSE },
    { "order", "s", FALSE },
    { "page-size", "u", FALSE },
    { "page-token", "s", FALSE },
  };
  static const gchar *const statuses[] = { "pending", "approved", "denied", "expired", NULL };
  g_autoptr (GHashTable) args = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (ListCall) list = g_new0 (ListCall, 1);
  const gchar *status;
  const gchar *order;
  const gchar *token;

  list->call = factor_call_new (self, invocation);
  if (!vpush_args_parse (options, "options", specs, G_N_ELEMENTS (specs), &args, &error))
    goto invalid;

  status = vpush_args_get_string (args, "status");
  if (status && !g_strv_contains (statuses, status))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: status must be pending, approved, denied or expired");
      goto invalid;
    }
  order = vpush_args_get_string (args, "order");
  if (order && !g_str_equal (order, "asc") && !g_str_equal (order, "desc"))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: order must be asc or desc");
      goto invalid;
    }
  list->page_size = vpush_args_get_uint32 (args, "page-size", 50);
  if (list->page_size < 1 || list->page_size > 1000)
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: page-size must be from 1 to 1000, not %u", list->page_size);
      goto invalid;
    }
  token = vpush_args_get_string (args, "page-token");
  if (token && (strlen (token) > 1024 || !g_utf8_validate (token, -1, NULL)))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: page-token is not a page token");
      goto invalid;
    }
  list->status = g_strdup (status);
  list->order = g_strdup (order ? order : "asc");
  list->page_token = token && *token ? g_strdup (token) : NULL;
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_LIST, self->record, list_allowed,
                      g_steal_pointer (&list), (GDestroyNotify)list_call_free);
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
  g_signal_connect (self->skeleton, "handle-delete", G_CALLBACK (handle_delete), self);
  g_signal_connect (self->skeleton, "handle-list-challenges", G_CALLBACK (handle_list), self);
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

GDBusObjectSkeleton *
vpush_factor_get_object (VpushFactor *self)
{
  return self->object;
}
