/* Loading a factor's key: every item under its sid is read, and one key comes out of them,
 * or an error saying why none does (locked, absent, not a key, two different keys, or an
 * item that could not be read for lack of memory). */
#include "vpush-keystore.h"
#include "vpush-keystore-private.h"

#include "vpush-error.h"

/* Whether an unlocked item of ours came without its secret. gnome-keyring leaves out the
 * secret of a locked item: the keyring was locked between the search and the reading of the
 * secrets (a screen locker, a few milliseconds), and the item's "unlocked" is stale. */
static gboolean
lost_a_secret (GList *items)
{
  for (GList *l = items; l != NULL; l = l->next)
    {
      g_autofree gchar *schema = NULL;
      g_autoptr (SecretValue) value = NULL;

      if (secret_item_get_locked (l->data))
        continue;
      schema = secret_item_get_schema_name (l->data);
      value = secret_item_get_secret (l->data);
      if (g_strcmp0 (schema, VPUSH_SECRET_SCHEMA) == 0 && value == NULL)
        return TRUE;
    }
  return FALSE;
}

/* The key of the item, or NULL with error: G_IO_ERROR_INVALID_DATA when its secret is not a
 * P-256 PKCS#8 key, another when it could not be read (out of memory). */
static VpushKey *
item_key (SecretItem *item, GError **error)
{
  g_autoptr (SecretValue) value = secret_item_get_secret (item);
  const guchar *der;
  gsize der_len;

  if (value == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the item has no secret");
      return NULL;
    }
  /* gnome-keyring hands back any secret as text/plain, so the content type says nothing. */
  der = (const guchar *)secret_value_get (value, &der_len);
  return vpush_key_new_from_pkcs8 (der, der_len, error);
}

static gboolean
same_key (VpushKey *a, VpushKey *b)
{
  g_autofree gchar *spki_a = vpush_key_get_public_spki_b64 (a, NULL);
  g_autofree gchar *spki_b = vpush_key_get_public_spki_b64 (b, NULL);

  return spki_a != NULL && g_strcmp0 (spki_a, spki_b) == 0;
}

static void
on_load_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  VpushKeystore *self = g_task_get_source_object (task);
  KeystoreCall *call = g_task_get_task_data (task);
  GList *items;
  g_autoptr (GError) unusable = NULL;
  g_autoptr (GError) unreadable = NULL;
  gboolean saw_locked = FALSE;
  guint n_keys = 0;
  guint n_different = 0;
  VpushKey *key = NULL;
  GError *error = NULL;

  items = secret_service_search_finish (SECRET_SERVICE (source), result, &error);
  /* Looked for once more, which sees the item locked, rather than the key taken for
   * unusable: Factor.Delete would delete the factor here only, an approval fail Failed.
   * So is an item deleted between the search and the reading of its secret (the key
   * store's own delete of a key it could not delete before, say), rather than the Secret
   * Service taken for failed. */
  if (!call->done && !call->searched_again
      && (error != NULL ? vpush_keystore_error_is_item_gone (error) : lost_a_secret (items)))
    {
      g_clear_error (&error);
      g_list_free_full (items, g_object_unref);
      call->searched_again = TRUE;
      vpush_keystore_send_load (self, g_steal_pointer (&task));
      return;
    }
  if (!vpush_keystore_begin_items_answer (task, &items, error))
    return;

  /* Every item is read: the order of a search is the Secret Service's, so an item that is
   * not a key (edited, a copy gone wrong) must not hide one that is, and two items with
   * different keys must not make the choice a matter of that order. */
  for (GList *l = items; l != NULL; l = l->next)
    {
      SecretItem *item = l->data;
      g_autoptr (GError) item_error = NULL;
      g_autofree gchar *schema = NULL;
      VpushKey *found;

      /* a locked item under the sid may be the key, whatever schema it shows */
      if (secret_item_get_locked (item))
        {
          saw_locked = TRUE;
          continue;
        }
      /* another program's item that happens to have a factor-sid attribute */
      schema = secret_item_get_schema_name (item);
      if (g_strcmp0 (schema, VPUSH_SECRET_SCHEMA) != 0)
        continue;
      found = item_key (item, &item_error);
      if (found == NULL)
        {
          /* out of memory is no verdict on the key */
          if (!g_error_matches (item_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
            {
              if (unreadable == NULL)
                unreadable = g_steal_pointer (&item_error);
            }
          else if (unusable == NULL)
            unusable = g_steal_pointer (&item_error);
          continue;
        }
      n_keys++;
      if (key == NULL)
        key = found;
      else
        {
          if (!same_key (key, found))
            n_different++;
          vpush_key_free (found);
        }
    }
  g_list_free_full (items, g_object_unref);

  /* an item not read may hold another key: none is used, and nothing is concluded */
  if (unreadable != NULL)
    {
      vpush_key_free (key);
      g_task_return_new_error (task, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNREADABLE,
                               "the key of factor %s could not be read: %s", call->factor_sid,
                               unreadable->message);
      return;
    }
  if (n_different > 0)
    {
      vpush_key_free (key);
      g_task_return_new_error (task, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE,
                               "the Secret Service has %u items with different keys for factor "
                               "%s: vpushd can't tell which is the factor's, and uses none",
                               n_keys, call->factor_sid);
      return;
    }
  if (key != NULL)
    {
      if (unusable != NULL)
        g_warning ("factor %s: an item of the Secret Service under its sid is not a key, "
                   "another one is: %s",
                   call->factor_sid, unusable->message);
      g_task_return_pointer (task, key, (GDestroyNotify)vpush_key_free);
      return;
    }
  /* A locked item, or a collection locked since the check, hides the key: that is not absence,
   * nor is an item that is not a key beside it unusability (Factor.Delete would take it for
   * that, and delete the key with the factor here only). */
  if (saw_locked || self->locked)
    {
      g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
      return;
    }
  if (unusable != NULL)
    {
      g_task_return_new_error (task, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE,
                               "the key of factor %s in the Secret Service is unusable: %s",
                               call->factor_sid, unusable->message);
      return;
    }
  g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                           "no key for factor %s in the Secret Service", call->factor_sid);
}

void
vpush_keystore_send_load (VpushKeystore *self, GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  /* A search, not secret_password_lookup: a lookup tries to unlock (prompt) when the item is
   * locked, a search without SECRET_SEARCH_UNLOCK does not. */
  secret_service_search (self->service, vpush_keystore_get_search_schema (), call->attributes,
                         SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, call->cancellable,
                         on_load_searched, task);
}

void
vpush_keystore_load_async (VpushKeystore *self, const gchar *factor_sid, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  KeystoreCall *call;

  g_return_if_fail (VPUSH_IS_KEYSTORE (self));
  g_return_if_fail (factor_sid != NULL);

  task = vpush_keystore_task_new (self, CALL_LOAD, vpush_keystore_load_async, cancellable, callback,
                                  user_data);
  call = g_task_get_task_data (task);
  call->factor_sid = g_strdup (factor_sid);

  /* a lookup on a locked collection answers "nothing", exactly like a missing item: it is
   * refused when sent */
  call->attributes
      = secret_attributes_build (vpush_keystore_get_schema (), "factor-sid", factor_sid, NULL);
  vpush_keystore_dispatch (self, g_steal_pointer (&task));
}

VpushKey *
vpush_keystore_load_finish (VpushKeystore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
