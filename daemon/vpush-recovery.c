#include "vpush-recovery.h"

#include "vpush-error.h"

/* An API that could not be reached is tried again after this, doubling up to the maximum. */
#define RETRY_MIN_SECONDS 30
#define RETRY_MAX_SECONDS 3600

typedef void (*StepFunc) (VpushRecovery *self);

struct _VpushRecovery
{
  GObject parent_instance;

  VpushFactorStore *store;
  VpushKeystore *keystore;
  VpushVerify *verify;
  GCancellable *cancellable;
  gulong available_handler;
  gulong locked_handler;
  gulong settled_handler;

  GQueue entries;        /* VpushEnrollment: the journal as read at start, then the entries
                          * handed over while running, still to do */
  GHashTable *keys_only; /* ids of entries with only keys left: handed over so
                          * (vpush_recovery_take), or whose remote factor is deleted */
  GHashTable *kept;      /* ids of entries read at start whose factor had a record then */
  GQueue elsewhere;      /* VpushEnrollment: entries made against another Verify API, left
                          * on disk for a start against it */
  GHashTable *services;  /* service sids of this state directory's records and journal */
  gboolean sweep_unsafe; /* the journal could not be read in full */
  gboolean started;
  gboolean stopped;
  gboolean busy;    /* a step is in flight */
  gboolean waiting; /* for the keyring; said once */
  gboolean swept;
  gboolean done;
  gboolean announced; /* "crash recovery finished" was logged */
  guint retry_source;
  guint retry_seconds;

  /* the step in flight */
  VpushKey *key;          /* of the factor being deleted: the Verify client borrows it */
  GPtrArray *doomed_keys; /* keyring names (factor-sid attributes) still to delete */
  StepFunc after_keys;    /* what comes once they are gone */
  gboolean sid_unusable;  /* the items under the factor sid hold no usable key */
};

G_DEFINE_TYPE (VpushRecovery, vpush_recovery, G_TYPE_OBJECT)

static void run (VpushRecovery *self);

static void
vpush_recovery_dispose (GObject *object)
{
  VpushRecovery *self = VPUSH_RECOVERY (object);

  vpush_recovery_stop (self);
  G_OBJECT_CLASS (vpush_recovery_parent_class)->dispose (object);
}

static void
vpush_recovery_finalize (GObject *object)
{
  VpushRecovery *self = VPUSH_RECOVERY (object);

  g_queue_clear_full (&self->entries, (GDestroyNotify)vpush_enrollment_free);
  g_queue_clear_full (&self->elsewhere, (GDestroyNotify)vpush_enrollment_free);
  g_hash_table_unref (self->services);
  g_hash_table_unref (self->keys_only);
  g_hash_table_unref (self->kept);
  g_clear_pointer (&self->key, vpush_key_free);
  g_clear_pointer (&self->doomed_keys, g_ptr_array_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->store);
  g_clear_object (&self->keystore);
  g_clear_object (&self->verify);
  G_OBJECT_CLASS (vpush_recovery_parent_class)->finalize (object);
}

static void
vpush_recovery_class_init (VpushRecoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vpush_recovery_dispose;
  object_class->finalize = vpush_recovery_finalize;
}

static void
vpush_recovery_init (VpushRecovery *self)
{
  g_queue_init (&self->entries);
  g_queue_init (&self->elsewhere);
  self->services = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->keys_only = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->kept = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
  self->retry_seconds = RETRY_MIN_SECONDS;
}

VpushRecovery *
vpush_recovery_new (VpushFactorStore *store, VpushKeystore *keystore, VpushVerify *verify)
{
  VpushRecovery *self;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (store), NULL);
  g_return_val_if_fail (VPUSH_IS_KEYSTORE (keystore), NULL);
  g_return_val_if_fail (VPUSH_IS_VERIFY (verify), NULL);

  self = g_object_new (VPUSH_TYPE_RECOVERY, NULL);
  self->store = g_object_ref (store);
  self->keystore = g_object_ref (keystore);
  self->verify = g_object_ref (verify);
  return self;
}

void
vpush_recovery_stop (VpushRecovery *self)
{
  g_return_if_fail (VPUSH_IS_RECOVERY (self));

  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  if (self->keystore != NULL)
    {
      g_clear_signal_handler (&self->available_handler, self->keystore);
      g_clear_signal_handler (&self->locked_handler, self->keystore);
      g_clear_signal_handler (&self->settled_handler, self->keystore);
    }
}

static gboolean
keyring_usable (VpushRecovery *self)
{
  return vpush_keystore_get_available (self->keystore)
         && !vpush_keystore_get_locked (self->keystore);
}

static gboolean
on_retry (gpointer user_data)
{
  VpushRecovery *self = user_data;

  self->retry_source = 0;
  run (self);
  return G_SOURCE_REMOVE;
}

/* A step failed: the entry (or the sweep) stays, and is tried again once the keyring is usable,
 * or after a while. */
static void
step_failed (VpushRecovery *self, const GError *error)
{
  self->busy = FALSE;
  g_clear_pointer (&self->key, vpush_key_free);
  g_clear_pointer (&self->doomed_keys, g_ptr_array_unref);
  if (self->stopped || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED) && !keyring_usable (self))
    {
      run (self); /* waits for the keyring */
      return;
    }
  g_warning ("crash recovery: %s; trying again in %u s", error->message, self->retry_seconds);
  self->retry_source = g_timeout_add_seconds (self->retry_seconds, on_retry, self);
  self->retry_seconds = MIN (self->retry_seconds * 2, RETRY_MAX_SECONDS);
}

/* Deleting keys: self->doomed_keys one after the other, then self->after_keys. */

static void delete_next_key (VpushRecovery *self);

static void
key_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      step_failed (self, error);
      return;
    }
  g_ptr_array_remove_index (self->doomed_keys, 0);
  delete_next_key (self);
}

static void
delete_next_key (VpushRecovery *self)
{
  if (self->doomed_keys->len == 0)
    {
      g_clear_pointer (&self->doomed_keys, g_ptr_array_unref);
      self->after_keys (self);
      return;
    }
  vpush_keystore_delete_async (self->keystore, g_ptr_array_index (self->doomed_keys, 0),
                               self->cancellable, key_deleted_cb, g_object_ref (self));
}

/* names: NULL-terminated */
static void
delete_keys (VpushRecovery *self, StepFunc then, const gchar *first_name, ...)
{
  va_list args;

  self->doomed_keys = g_ptr_array_new_with_free_func (g_free);
  va_start (args, first_name);
  for (const gchar *name = first_name; name != NULL; name = va_arg (args, const gchar *))
    g_ptr_array_add (self->doomed_keys, g_strdup (name));
  va_end (args);
  self->after_keys = then;
  delete_next_key (self);
}

/* Journal entries */

static void
entry_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (GError) error = NULL;

  /* the next start sees it again and finds nothing left to do: remote 404, no keys */
  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("crash recovery: %s", error->message);
  self->busy = FALSE;
  self->retry_seconds = RETRY_MIN_SECONDS;
  run (self);
}

static void
entry_done (VpushRecovery *self)
{
  g_autoptr (VpushEnrollment) entry = g_queue_pop_head (&self->entries);

  g_hash_table_remove (self->keys_only, entry->id);
  g_hash_table_remove (self->kept, entry->id);
  vpush_factor_store_remove_enrollment_async (self->store, entry->id, entry_removed_cb,
                                              g_object_ref (self));
}

static void
remote_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (GError) error = NULL;
  VpushEnrollment *entry = g_queue_peek_head (&self->entries);

  g_clear_pointer (&self->key, vpush_key_free);
  if (!vpush_verify_delete_factor_finish (VPUSH_VERIFY (source), result, &error))
    {
      g_prefix_error (&error, "could not delete factor %s: ", entry->factor->sid);
      step_failed (self, error);
      return;
    }
  g_message ("crash recovery: deleted factor %s (identity %s of service %s), %s",
             entry->factor->sid, entry->identity, entry->service_sid,
             entry->deleting ? "whose deletion was interrupted"
                             : "which an interrupted enrollment had created");
  /* tried again (a key's delete refused, the keyring locked meanwhile) it is only keys: the
   * factor's key, loaded again for a DELETE already done, may be going right then (the key
   * store deletes what it could not when the keyring is usable), and "no key" would be
   * told as a factor never verified and still at the API */
  g_hash_table_add (self->keys_only, g_strdup (entry->id));
  delete_keys (self, entry_done, entry->factor->sid, entry->id, NULL);
}

static void recover_remote (VpushRecovery *self, VpushEnrollment *entry);

/* A DELETE that finds no factor counts as done (404, or 401): asked of another API than the
 * one the entry was made at, it would delete the keys of a factor, maybe verified, that stays
 * there. The entry and its keys wait for a start against that API: on disk, it owns its keys
 * for the sweep; the entries behind it go on. */
static gboolean
set_aside_if_elsewhere (VpushRecovery *self, VpushEnrollment *entry)
{
  const gchar *base_url = vpush_verify_get_base_url (self->verify);
  g_autofree gchar *what = NULL;

  if (entry->base_url == NULL || g_str_equal (entry->base_url, base_url))
    return FALSE;
  what = entry->deleting ? g_strdup ("the deletion") : g_strdup_printf ("enrollment %s", entry->id);
  g_warning ("crash recovery: %s of factor %s (identity %s of service %s) was interrupted "
             "at the Verify API at %s, and [Verify] BaseUrl is now %s: only that API can delete "
             "the factor, so the entry and its keys wait until vpushd runs against it",
             what, entry->factor->sid, entry->identity, entry->service_sid, entry->base_url,
             base_url);
  g_queue_push_tail (&self->elsewhere, g_queue_pop_head (&self->entries));
  self->busy = FALSE;
  run (self);
  return TRUE;
}

/* An entry that names its factor, which has a record or not */
static void
recover_factor (VpushRecovery *self, VpushEnrollment *entry, gboolean has_record)
{
  if (has_record)
    {
      if (entry->deleting)
        g_message ("crash recovery: the deletion of factor %s had not begun; it stays",
                   entry->factor->sid);
      else
        g_message ("crash recovery: enrollment %s of factor %s had finished", entry->id,
                   entry->factor->sid);
      delete_keys (self, entry_done, entry->id, NULL);
      return;
    }
  if (set_aside_if_elsewhere (self, entry))
    return;
  if (entry->deleting)
    g_message ("crash recovery: the deletion of factor %s (identity %s of service %s) was "
               "interrupted; finishing it",
               entry->factor->sid, entry->identity, entry->service_sid);
  else
    g_message ("crash recovery: enrollment %s of factor %s (identity %s of service %s) was "
               "interrupted; deleting the factor",
               entry->id, entry->factor->sid, entry->identity, entry->service_sid);
  recover_remote (self, entry);
}

/* The check is the writer's, so that the main loop never waits on the disk */
static void
record_checked_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  gboolean has_record = vpush_factor_store_has_record_finish (VPUSH_FACTOR_STORE (source), result);

  if (self->stopped)
    {
      self->busy = FALSE;
      return;
    }
  recover_factor (self, g_queue_peek_head (&self->entries), has_record);
}

static void
recover_entry (VpushRecovery *self, VpushEnrollment *entry)
{
  self->busy = TRUE;
  if (g_hash_table_contains (self->keys_only, entry->id))
    {
      /* nothing left to do at the Verify API (handed over so while running, or its remote
       * factor deleted by an earlier try): what could be said of it was said then */
      if (entry->deleting)
        g_message ("crash recovery: deleting the key the deletion of factor %s left",
                   entry->factor->sid);
      else
        g_message ("crash recovery: deleting the keys failed enrollment %s left", entry->id);
      if (entry->factor != NULL)
        delete_keys (self, entry_done, entry->factor->sid, entry->id, NULL);
      else
        delete_keys (self, entry_done, entry->id, NULL);
      return;
    }
  if (entry->factor == NULL)
    {
      /* the device can't list factors (protocol doc §7): nothing here can find it */
      g_message ("crash recovery: enrollment %s (identity %s of service %s) was interrupted "
                 "before the Verify API answered the create; a factor it may have created is "
                 "unverified, and the Verify API deletes it by itself 1 to 24 hours after its "
                 "creation",
                 entry->id, entry->identity, entry->service_sid);
      delete_keys (self, entry_done, entry->id, NULL);
      return;
    }
  /* A deletion removes the record right after its entry is written: with the record
   * still there it had not begun, and the factor stays. For an entry read at start that
   * is decided at start: its factor has been on the bus since, and a Delete of it may have
   * its record removed right now, its DELETE under way, and the record back if it fails. */
  if (g_hash_table_contains (self->kept, entry->id))
    recover_factor (self, entry, TRUE);
  else
    vpush_factor_store_has_record_async (self->store, entry->factor->sid, record_checked_cb,
                                         g_object_ref (self));
}

static void
delete_remote (VpushRecovery *self, VpushEnrollment *entry, VpushKey *key)
{
  self->key = key;
  vpush_verify_delete_factor_async (self->verify, entry->factor, self->key, self->cancellable,
                                    remote_deleted_cb, g_object_ref (self));
}

/* The key is under the factor sid once that store has finished, and under the entry's id
 * before (and until the store under the sid has finished). */

static void
provisional_key_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (VpushKey) key = NULL;
  g_autoptr (GError) error = NULL;
  VpushEnrollment *entry = g_queue_peek_head (&self->entries);

  key = vpush_keystore_load_finish (VPUSH_KEYSTORE (source), result, &error);
  if (key != NULL)
    {
      delete_remote (self, entry, g_steal_pointer (&key));
      return;
    }
  if (!g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND)
      && !g_error_matches (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE))
    {
      step_failed (self, error);
      return;
    }
  if (error->domain == VPUSH_KEY_ERROR)
    g_warning ("crash recovery: %s", error->message);
  if (entry->deleting)
    {
      /* a deletion deletes the key only once the API has deleted the factor (or found
       * it gone): only the entry was left */
      g_message ("crash recovery: the deletion of factor %s had finished", entry->factor->sid);
      entry_done (self);
      return;
    }
  /* Items that hold no usable key will never give one: the entry, tried again, would hold up
   * every one behind it, and the sweep, for good. They go, as Factor.Delete's do. */
  if (self->sid_unusable)
    {
      /* the key was under the sid, so the factor may have been verified */
      g_warning ("crash recovery: factor %s has no usable key in the keyring, so vpushd can't "
                 "delete it; it stays at the Verify API for the backend to delete (unverified, "
                 "the Verify API deletes it by itself 1 to 24 hours after its creation)",
                 entry->factor->sid);
      delete_keys (self, entry_done, entry->factor->sid, entry->id, NULL);
      return;
    }
  /* Without a key the factor can't be verified: enrollment verifies only after the key is in
   * the keyring under the factor sid. */
  g_warning ("crash recovery: factor %s has no key in the keyring, so vpushd can't delete it; "
             "it was never verified, and the Verify API deletes it by itself 1 to 24 hours "
             "after its creation",
             entry->factor->sid);
  if (error->domain == VPUSH_KEY_ERROR)
    delete_keys (self, entry_done, entry->id, NULL);
  else
    entry_done (self);
}

static void
factor_key_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (VpushKey) key = NULL;
  g_autoptr (GError) error = NULL;
  VpushEnrollment *entry = g_queue_peek_head (&self->entries);

  key = vpush_keystore_load_finish (VPUSH_KEYSTORE (source), result, &error);
  if (key != NULL)
    {
      delete_remote (self, entry, g_steal_pointer (&key));
      return;
    }
  /* Items under the sid that hold no usable key (edited behind vpushd's back) are no more
   * use than none: the provisional key is the same key, if it is there. A deletion has no
   * provisional key, and ends as Factor.Delete does for such a factor: here only. */
  if (g_error_matches (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE) && entry->deleting)
    {
      g_warning ("crash recovery: %s; finishing the deletion of factor %s here only, its "
                 "remote factor stays for the backend to delete",
                 error->message, entry->factor->sid);
      delete_keys (self, entry_done, entry->factor->sid, entry->id, NULL);
      return;
    }
  if (g_error_matches (error, VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_UNUSABLE))
    {
      g_warning ("crash recovery: %s", error->message);
      self->sid_unusable = TRUE;
    }
  else if (!g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND))
    {
      step_failed (self, error);
      return;
    }
  vpush_keystore_load_async (self->keystore, entry->id, self->cancellable,
                             provisional_key_loaded_cb, g_object_ref (self));
}

static void
recover_remote (VpushRecovery *self, VpushEnrollment *entry)
{
  self->sid_unusable = FALSE;
  vpush_keystore_load_async (self->keystore, entry->factor->sid, self->cancellable,
                             factor_key_loaded_cb, g_object_ref (self));
}

/* The sweep: keys that nothing owns */

static void
sweep_done (VpushRecovery *self)
{
  self->swept = TRUE;
  self->busy = FALSE;
  run (self);
}

static void
unowned_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (GError) error = NULL;

  self->doomed_keys
      = vpush_factor_store_find_unowned_finish (VPUSH_FACTOR_STORE (source), result, &error);
  if (self->stopped)
    return;
  if (self->doomed_keys == NULL)
    {
      g_warning ("crash recovery: not deleting unowned keys, the enrollment journal could not be "
                 "read in full: %s",
                 error->message);
      sweep_done (self);
      return;
    }
  for (guint i = 0; i < self->doomed_keys->len; i++)
    g_message ("crash recovery: deleting the key of %s from the keyring: no factor record and "
               "no enrollment owns it",
               (const gchar *)g_ptr_array_index (self->doomed_keys, i));
  self->after_keys = sweep_done;
  delete_next_key (self);
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushRecovery) self = user_data;
  g_autoptr (GHashTable) items = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  GHashTableIter iter;
  const gchar *name;
  const gchar *service_sid;

  items = vpush_keystore_list_finish (VPUSH_KEYSTORE (source), result, &error);
  if (items == NULL)
    {
      g_prefix_error (&error, "could not list the keys in the keyring: ");
      step_failed (self, error);
      return;
    }
  g_hash_table_iter_init (&iter, items);
  while (g_hash_table_iter_next (&iter, (gpointer *)&name, (gpointer *)&service_sid))
    {
      /* only names vpushd gives keys, only services this state directory enrolled in: a key of
       * another state directory in the same keyring is not ours to judge */
      if (!vpush_sid_is_valid (name, "YF") && !vpush_enrollment_id_is_valid (name))
        continue;
      if (!g_hash_table_contains (self->services, service_sid))
        continue;
      g_ptr_array_add (names, g_strdup (name));
    }
  /* What owns a key is read off the disk in the store's writer thread, between two writes,
   * so that no enrollment step comes between the journal read and the records' checks: an
   * entry is on disk before its first key is stored, and stays until its record is, or until
   * its keys are gone. Keys listed before are judged alike. */
  vpush_factor_store_find_unowned_async (self->store, names, unowned_cb, g_object_ref (self));
}

static void
sweep (VpushRecovery *self)
{
  if (g_hash_table_size (self->services) == 0 || self->sweep_unsafe)
    {
      if (self->sweep_unsafe)
        g_warning ("crash recovery: not deleting unowned keys: the enrollment journal could "
                   "not be read in full");
      self->swept = TRUE;
      run (self);
      return;
    }
  self->busy = TRUE;
  vpush_keystore_list_async (self->keystore, self->cancellable, listed_cb, g_object_ref (self));
}

static void
on_keyring_changed (VpushRecovery *self)
{
  run (self);
}

static void
run (VpushRecovery *self)
{
  if (self->stopped || self->busy || self->retry_source != 0 || self->done)
    return;
  if (!keyring_usable (self))
    {
      /* not yet known: the key store says when it is (notify::settled) */
      if (!vpush_keystore_get_settled (self->keystore))
        return;
      if (!self->waiting)
        g_message ("crash recovery: waiting for the keyring to be usable");
      self->waiting = TRUE;
      return;
    }
  self->waiting = FALSE;
  if (!g_queue_is_empty (&self->entries))
    {
      recover_entry (self, g_queue_peek_head (&self->entries));
      return;
    }
  if (!self->swept)
    {
      sweep (self);
      return;
    }
  self->done = TRUE;
  g_clear_signal_handler (&self->available_handler, self->keystore);
  g_clear_signal_handler (&self->locked_handler, self->keystore);
  g_clear_signal_handler (&self->settled_handler, self->keystore);
  if (!self->announced)
    g_message ("crash recovery finished");
  self->announced = TRUE;
}

static void
watch_keyring (VpushRecovery *self)
{
  if (self->available_handler != 0)
    return;
  self->available_handler = g_signal_connect_swapped (self->keystore, "notify::available",
                                                      G_CALLBACK (on_keyring_changed), self);
  self->locked_handler = g_signal_connect_swapped (self->keystore, "notify::locked",
                                                   G_CALLBACK (on_keyring_changed), self);
  self->settled_handler = g_signal_connect_swapped (self->keystore, "notify::settled",
                                                    G_CALLBACK (on_keyring_changed), self);
}

void
vpush_recovery_start (VpushRecovery *self, const GPtrArray *records)
{
  g_autoptr (GPtrArray) journal = NULL;
  g_autoptr (GError) error = NULL;
  guint n_unreadable = 0;

  g_return_if_fail (VPUSH_IS_RECOVERY (self));
  g_return_if_fail (records != NULL);
  g_return_if_fail (!self->started);

  self->started = TRUE;
  vpush_factor_store_remove_temp_files (self->store);

  journal = vpush_factor_store_load_enrollments (self->store, &n_unreadable, &error);
  if (journal == NULL)
    g_warning ("crash recovery: %s", error->message);
  if (journal == NULL || n_unreadable > 0)
    self->sweep_unsafe = TRUE;
  for (guint i = 0; journal != NULL && i < journal->len; i++)
    {
      VpushEnrollment *entry = g_ptr_array_index (journal, i);

      g_hash_table_add (self->services, g_strdup (entry->service_sid));
      for (guint j = 0; entry->factor != NULL && j < records->len; j++)
        if (g_str_equal (entry->factor->sid,
                         ((const VpushFactorRecord *)g_ptr_array_index (records, j))->sid))
          g_hash_table_add (self->kept, g_strdup (entry->id));
      g_ptr_array_index (journal, i) = NULL;
      g_queue_push_tail (&self->entries, entry);
    }
  for (guint i = 0; i < records->len; i++)
    {
      const VpushFactorRecord *record = g_ptr_array_index (records, i);

      g_hash_table_add (self->services, g_strdup (record->service_sid));
    }

  if (!g_queue_is_empty (&self->entries))
    g_message ("crash recovery: %u interrupted enrollments to finish or undo",
               g_queue_get_length (&self->entries));
  watch_keyring (self);
  run (self);
}

static gboolean
queue_holds_sid (GQueue *entries, const gchar *factor_sid)
{
  for (GList *l = entries->head; l != NULL; l = l->next)
    {
      const VpushEnrollment *entry = l->data;

      if (entry->factor != NULL && g_str_equal (entry->factor->sid, factor_sid))
        return TRUE;
    }
  return FALSE;
}

gboolean
vpush_recovery_holds_sid (VpushRecovery *self, const gchar *factor_sid)
{
  g_return_val_if_fail (VPUSH_IS_RECOVERY (self), FALSE);

  /* one set aside still names its factor and its keys */
  return queue_holds_sid (&self->entries, factor_sid)
         || queue_holds_sid (&self->elsewhere, factor_sid);
}

void
vpush_recovery_take (VpushRecovery *self, VpushEnrollment *entry, gboolean api_done)
{
  g_return_if_fail (VPUSH_IS_RECOVERY (self));
  g_return_if_fail (entry != NULL);

  if (self->stopped || !self->started)
    {
      vpush_enrollment_free (entry);
      return;
    }
  if (api_done)
    g_hash_table_add (self->keys_only, g_strdup (entry->id));
  g_queue_push_tail (&self->entries, entry);
  self->done = FALSE;
  watch_keyring (self);
  run (self);
}
