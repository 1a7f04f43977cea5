/* Deleting a factor's key: every unlocked item under its sid, each with its own Delete; a
 * locked one in the followed collection fails the delete, which the key store makes again
 * once the keyring is usable.
 * Not secret_service_clear(): libsecret 0.20 answers a clear twice when one of its Deletes
 * fails (the item deleted meanwhile by another program, the keyring killed or stopped right
 * then, the call's deadline), a critical, and counts an item already gone as a failure.
 * Item paths, not SecretItem proxies: building those reads each item, and fails the whole
 * search for one deleted meanwhile. */
#define SECRET_API_SUBJECT_TO_CHANGE /* secret-paths.h, unchanged since libsecret 0.7 */
#include "vpush-keystore.h"
#include "vpush-keystore-private.h"

#include "vpush-error.h"

/* The delete is over: a locked item under the sid was left, so it is not done */
static void
deleted (GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  if (call->delete_error == NULL && call->saw_locked)
    call->delete_error
        = g_error_new_literal (VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, LOCKED_MESSAGE);
  vpush_keystore_deleted (task, g_steal_pointer (&call->delete_error));
}

static void
on_item_deleted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  KeystoreCall *call = g_task_get_task_data (task);
  GError *error = NULL;

  /* gone meanwhile (another program deleted it) is what was asked */
  if (!secret_service_delete_item_dbus_path_finish (SECRET_SERVICE (source), result, &error)
      && !vpush_keystore_error_is_item_gone (error) && call->delete_error == NULL)
    call->delete_error = g_steal_pointer (&error);
  g_clear_error (&error);
  if (--call->deleting == 0)
    deleted (task);
}

/* Whether one of the items is in the collection whose lock vpushd follows */
static gboolean
in_followed_collection (VpushKeystore *self, GStrv items)
{
  g_autofree gchar *prefix = NULL;

  if (items == NULL || self->collection == NULL)
    return FALSE;
  prefix = g_strconcat (g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->collection)), "/", NULL);
  for (guint i = 0; items[i] != NULL; i++)
    if (g_str_has_prefix (items[i], prefix))
      return TRUE;
  return FALSE;
}

static void
on_delete_searched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  SecretService *service = SECRET_SERVICE (source);
  KeystoreCall *call = g_task_get_task_data (task);
  g_auto (GStrv) unlocked = NULL;
  g_auto (GStrv) locked = NULL;
  GError *error = NULL;

  /* Only unlocked items can go, as with secret_service_clear(). A locked one under the sid
   * in the collection vpushd follows (locked since the call was sent, a few milliseconds)
   * fails the delete as KeyringLocked once the others are gone: taken for done, it would
   * stay, a copy of a key nothing owns, until the next start. One in another collection
   * locked is the user's to unlock, and is passed over as before: retrying would wait for
   * an unlock vpushd never hears of. The next waiting delete goes out once all have
   * answered. */
  if (!secret_service_search_for_dbus_paths_finish (service, result, &unlocked, &locked, &error))
    {
      vpush_keystore_deleted (task, error);
      return;
    }
  call->saw_locked = in_followed_collection (g_task_get_source_object (task), locked);
  call->deleting = unlocked != NULL ? g_strv_length (unlocked) : 0;
  if (call->deleting == 0)
    {
      deleted (task);
      return;
    }
  for (guint i = 0; unlocked[i] != NULL; i++)
    secret_service_delete_item_dbus_path (service, unlocked[i], call->cancellable, on_item_deleted,
                                          g_object_ref (task));
}

void
vpush_keystore_send_delete (VpushKeystore *self, GTask *task)
{
  KeystoreCall *call = g_task_get_task_data (task);

  secret_service_search_for_dbus_paths (self->service, vpush_keystore_get_schema (),
                                        call->attributes, call->cancellable, on_delete_searched,
                                        task);
}
