/* Relabelling a factor's key: the label of its Secret Service item names the factor
 * ("vpush factor key (<friendly name>)"), and a rename changes that name. */
#include "vpush-keystore.h"
#include "vpush-keystore-private.h"

#include "vpush-error.h"

static void
on_label_set (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  GError *error = NULL;

  secret_item_set_label_finish (SECRET_ITEM (source), result, &error);
  vpush_keystore_answer_done (task, error);
}

static void
on_relabel_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  GError *error = NULL;
  GList *items = secret_service_search_finish (SECRET_SERVICE (source), result, &error);
  SecretItem *item = NULL;

  /* the second step goes out only while the call is still unanswered (in its time) */
  if (call->done)
    {
      g_list_free_full (items, g_object_unref);
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      vpush_keystore_call_begin_answer (task);
      vpush_keystore_return_error (task, error);
      return;
    }
  for (GList *l = items; l != NULL && item == NULL; l = l->next)
    if (!secret_item_get_locked (l->data))
      item = l->data;
  if (item != NULL)
    secret_item_set_label (item, call->label, call->cancellable, on_label_set,
                           g_steal_pointer (&task));
  else
    {
      vpush_keystore_call_begin_answer (task);
      /* a locked item, or a collection locked since the check, hides the key */
      if (items != NULL || vpush_keystore_get_locked (self))
        g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      else
        g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                 "no key for factor %s in the Secret Service", call->factor_sid);
    }
  g_list_free_full (items, g_object_unref);
}

void
vpush_keystore_send_relabel (VpushKeystore *self, GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  /* a search without SECRET_SEARCH_UNLOCK never prompts */
  secret_service_search (self->service, vpush_keystore_get_schema (), call->attributes,
                         SECRET_SEARCH_ALL, call->cancellable, on_relabel_searched, task);
}

void
vpush_keystore_relabel_async (VpushKeystore *self, const gchar *factor_sid,
                              const gchar *friendly_name, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);
  g_return_if_fail (friendly_name != NULL);

  task = vpush_keystore_task_new (self, CALL_RELABEL, vpush_keystore_relabel_async, cancellable,
                                  callback, user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);
  call->attributes
      = secret_attributes_build (vpush_keystore_get_schema (), "factor-sid", factor_sid, NULL);
  call->label = g_strdup_printf (KEY_LABEL_FORMAT, friendly_name);
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

gboolean
vpush_keystore_relabel_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
