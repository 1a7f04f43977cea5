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
vpush_keystore_relabel_free (Relabel *relabel)
{
  g_free (relabel->label);
  g_free (relabel);
}

static void
keystore_relabel_async (VpushKeystore *self, const gchar *factor_sid, const gchar *label,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;

  task = vpush_keystore_task_new (self, CALL_RELABEL, keystore_relabel_async, cancellable, callback,
                                  user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);
  call->attributes
      = secret_attributes_build (vpush_keystore_get_schema (), "factor-sid", factor_sid, NULL);
  call->label = g_strdup (label);
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

/* A relabel the keyring could not take (locked, gone, not answering) is sent again once it
 * is usable: the label would otherwise name the factor by its old name until the next
 * rename. Only the last label asked for counts: an older one that fails is not sent again. */
static void
on_relabel_outcome (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = VPUSH_KEYSTORE (source);
  const gchar *factor_sid = g_task_get_task_data (task);
  KeystoreCall *call = g_task_get_task_data (G_TASK (result));
  Relabel *wanted = g_hash_table_lookup (self->relabels, factor_sid);
  GError *error = NULL;
  gboolean done = g_task_propagate_boolean (G_TASK (result), &error);

  if (wanted != NULL && g_str_equal (wanted->label, call->label))
    {
      wanted->sending = FALSE;
      if (done || !g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
        g_hash_table_remove (self->relabels, factor_sid);
    }
  if (!done)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
on_redone (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *factor_sid = user_data;

  if (!vpush_keystore_relabel_finish (VPUSH_KEYSTORE (source), result, &error))
    g_debug ("could not yet relabel the key of %s: %s", factor_sid, error->message);
  else
    g_message ("relabelled the key of %s, as it could not be done before", factor_sid);
}

static void
relabel_async (VpushKeystore *self, const gchar *factor_sid, const gchar *label,
               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Relabel *wanted = g_new0 (Relabel, 1);

  g_task_set_source_tag (task, vpush_keystore_relabel_async);
  g_task_set_task_data (task, g_strdup (factor_sid), g_free);
  wanted->label = g_strdup (label);
  wanted->sending = TRUE;
  g_hash_table_replace (self->relabels, g_strdup (factor_sid), wanted);
  keystore_relabel_async (self, factor_sid, label, cancellable, on_relabel_outcome, task);
}

void
vpush_keystore_redo_relabels (VpushKeystore *self)
{
  g_autoptr (GPtrArray) sids = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer sid;
  gpointer value;

  if (!self->available || self->locked)
    return;
  g_hash_table_iter_init (&iter, self->relabels);
  while (g_hash_table_iter_next (&iter, &sid, &value))
    if (!((Relabel *)value)->sending)
      g_ptr_array_add (sids, g_strdup (sid));
  for (guint i = 0; i < sids->len; i++)
    {
      const gchar *factor_sid = g_ptr_array_index (sids, i);
      Relabel *wanted = g_hash_table_lookup (self->relabels, factor_sid);
      g_autofree gchar *label = g_strdup (wanted->label);

      relabel_async (self, factor_sid, label, NULL, on_redone, g_strdup (factor_sid));
    }
}

void
vpush_keystore_relabel_async (VpushKeystore *self, const gchar *factor_sid,
                              const gchar *friendly_name, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree gchar *label = NULL;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);
  g_return_if_fail (friendly_name != NULL);

  label = g_strdup_printf (KEY_LABEL_FORMAT, friendly_name);
  relabel_async (self, factor_sid, label, cancellable, callback, user_data);
}

gboolean
vpush_keystore_relabel_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
