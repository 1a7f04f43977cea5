#include "vpush-enroll.h"

#include <string.h>

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-factor-store.h"
#include "vpush-factor.h"
#include "vpush-http.h"
#include "vpush-json-write.h"
#include "vpush-log.h"
#include "vpush-names.h"

/* the Verify API's Identity: 8 to 64 of [A-Za-z0-9-] (OpenAPI Identity description) */
#define IDENTITY_MIN 8
#define IDENTITY_MAX 64
#define TOKEN_MAX    8192

typedef struct
{
  VpushManager *manager;
  GDBusMethodInvocation *invocation;
  gchar *service_sid;
  gchar *identity;
  gchar *access_token;
  gchar *friendly_name;
  gchar *metadata; /* JSON text, nullable */
  gchar *push_url; /* nullable */
  gboolean verify;
  gchar *public_key; /* SPKI, Base64 */

  VpushKeyBox *key;
  /* The enrollment journal entry (docs/crash-safety.md): on disk before anything is created,
   * gone once the factor's record is, or once everything it names is. */
  VpushEnrollment *journal;
  gboolean journaled;        /* the entry is on disk */
  VpushFactorRecord *record; /* once created remotely */
  gboolean record_written;   /* asked for: on disk maybe, even when the write failed */
  GError *error;             /* the failure being rolled back */
  gboolean key_left;         /* the rollback could not delete the key under the sid */
  gboolean remote_deleted;   /* by the rollback */
  gboolean record_left;      /* the rollback could not remove the record: it may be on disk */
  gboolean at_api;           /* counted in VPUSH_ENROLLING_MAX */
  gboolean sid_claimed;      /* record->sid is this enrollment's (vpush_manager_claim_factor_sid) */
} Enroll;

static void
enroll_free (Enroll *e)
{
  if (e->at_api)
    vpush_manager_remove_at_api (e->manager, VPUSH_AT_API_ENROLL);
  if (e->sid_claimed)
    vpush_manager_release_factor_sid (e->manager, e->record->sid);
  g_clear_object (&e->manager);
  g_clear_object (&e->invocation);
  g_free (e->service_sid);
  g_free (e->identity);
  if (e->access_token)
    vpush_secure_free (e->access_token, strlen (e->access_token));
  g_free (e->friendly_name);
  g_free (e->metadata);
  g_free (e->push_url);
  g_free (e->public_key);
  g_clear_pointer (&e->key, vpush_key_box_unref);
  g_clear_pointer (&e->journal, vpush_enrollment_free);
  g_clear_pointer (&e->record, vpush_factor_record_free);
  g_clear_error (&e->error);
  g_free (e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Enroll, enroll_free)

static void
enroll_reply_error (Enroll *e)
{
  vpush_error_return (e->invocation, e->error);
}

/* Rollback: the remote factor first (it needs the key to authenticate), then the keys (under the
 * factor sid and the provisional one), then the journal entry. Whatever can't be undone now
 * stays named in the journal, with the key it needs, and the crash recovery undoes it once it
 * can (at the next start if vpushd stops first). */

static void
rollback_journal_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("enrollment rollback: %s", error->message);
  enroll_reply_error (e);
  enroll_free (e);
}

static void
rollback_done (Enroll *e, gboolean undone)
{
  if (e->journaled && undone)
    {
      vpush_factor_store_remove_enrollment_async (vpush_manager_get_factor_store (e->manager),
                                                  e->journal->id, rollback_journal_removed_cb, e);
      return;
    }
  if (e->journaled && e->record_left)
    g_warning ("enrollment rollback: enrollment %s stays in the journal for the next start",
               e->journal->id);
  else if (e->journaled)
    {
      /* a daemon that runs for weeks must not keep it (its keys, maybe a remote factor) until
       * its next start. Without a factor sid nothing can be done at the API (a factor the
       * create may have made was spoken of then). */
      g_warning ("enrollment rollback: enrollment %s stays in the journal until it can be "
                 "undone",
                 e->journal->id);
      vpush_manager_recover (e->manager, g_steal_pointer (&e->journal),
                             e->record == NULL || e->remote_deleted);
    }
  enroll_reply_error (e);
  enroll_free (e);
}

static void
rollback_provisional_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      g_warning ("enrollment rollback: could not delete the provisional key %s: %s", e->journal->id,
                 error->message);
      rollback_done (e, FALSE);
      return;
    }
  rollback_done (e, !e->key_left);
}

static void
rollback_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      g_warning ("enrollment rollback: could not delete the key of %s: %s", e->record->sid,
                 error->message);
      /* the remote factor is gone: the provisional key is of no use either, and the key
       * store deletes both once the keyring is usable */
      e->key_left = TRUE;
    }
  vpush_keystore_delete_async (vpush_manager_get_keystore (e->manager), e->journal->id, NULL,
                               rollback_provisional_key_cb, e);
}

static void
rollback_remote_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_verify_delete_factor_finish (VPUSH_VERIFY (source), result, &error))
    {
      /* keep the keys: deleting it later needs one */
      g_warning ("enrollment rollback: could not delete remote factor %s: %s", e->record->sid,
                 error->message);
      rollback_done (e, FALSE);
      return;
    }
  e->remote_deleted = TRUE;
  /* a store that failed may have happened anyway: delete under the sid in any case */
  vpush_keystore_delete_async (vpush_manager_get_keystore (e->manager), e->record->sid, NULL,
                               rollback_key_cb, e);
}

static void
rollback_remote (Enroll *e)
{
  vpush_verify_delete_factor_async (vpush_manager_get_verify (e->manager), e->record, e->key->key,
                                    NULL, rollback_remote_cb, e);
}

static void
rollback_record_removed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    {
      /* The record may be there: then the factor is enrolled at the next start, so nothing
       * else may go. Without it, the next start deletes the factor, with its key. */
      g_warning ("enrollment rollback: factor %s is kept at the next start if its record is "
                 "there: %s",
                 e->record->sid, error->message);
      e->record_left = TRUE;
      rollback_done (e, FALSE);
      return;
    }
  rollback_remote (e);
}

static void
enroll_fail (Enroll *e, GError *error)
{
  g_warning ("enrollment for identity %s failed: %s", e->identity, error->message);
  e->error = error;
  vpush_manager_note_api_result (e->manager, error);
  if (!e->journaled)
    {
      rollback_done (e, TRUE);
      return;
    }
  if (e->record == NULL)
    {
      vpush_keystore_delete_async (vpush_manager_get_keystore (e->manager), e->journal->id, NULL,
                                   rollback_provisional_key_cb, e);
      return;
    }
  /* A write that failed after its rename (the directory's sync) left the record: it goes
   * first, or the next start would keep a factor deleted at the API, with no key. */
  if (e->record_written)
    {
      vpush_factor_store_remove_async (vpush_manager_get_factor_store (e->manager), e->record->sid,
                                       rollback_record_removed_cb, e);
      return;
    }
  rollback_remote (e);
}

static void
journal_dropped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (VpushFactor) factor = NULL;
  g_autoptr (GError) error = NULL;
  const gchar *path;
  g_autofree gchar *caller = NULL;

  /* the record is the factor now; a journal entry left here is dropped at the next start */
  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    g_warning ("enrolled factor %s, but %s", e->record->sid, error->message);

  vpush_manager_cache_key (e->manager, e->record->sid, e->key);
  factor = vpush_factor_new (e->manager, vpush_factor_record_copy (e->record));
  vpush_manager_add_factor (e->manager, factor);
  path = g_dbus_object_get_object_path (G_DBUS_OBJECT (vpush_factor_get_object (factor)));
  caller = vpush_bouncer_describe_caller (e->invocation);
  vpush_log_event (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_ENROLLED, e->record->sid, NULL, caller,
                   "enrolled factor %s (%s) for identity %s of service %s, status %s",
                   e->record->sid, e->record->friendly_name, e->identity, e->service_sid,
                   e->record->status);
  g_dbus_method_invocation_return_value (e->invocation, g_variant_new ("(o)", path));
  enroll_free (e);
}

static void
record_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  VpushFactorStore *store = VPUSH_FACTOR_STORE (source);
  GError *error = NULL;

  if (!vpush_factor_store_write_finish (store, result, &error))
    {
      enroll_fail (e, error);
      return;
    }
  vpush_factor_store_remove_enrollment_async (store, e->journal->id, journal_dropped_cb, e);
}

static void
enroll_complete (Enroll *e)
{
  g_free (e->record->push_url);
  e->record->push_url = g_strdup (e->push_url);
  g_free (e->record->metadata); /* the API's copy, from map_create_factor */
  e->record->metadata = g_strdup (e->metadata);
  e->record_written = TRUE;
  vpush_factor_store_save_async (vpush_manager_get_factor_store (e->manager), e->record,
                                 record_saved_cb, e);
}

static void
verified_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  GError *error = NULL;
  g_autofree gchar *status = NULL;

  status = vpush_verify_verify_factor_finish (VPUSH_VERIFY (source), result, &error);
  if (status == NULL)
    {
      enroll_fail (e, error);
      return;
    }
  if (!g_str_equal (status, "verified"))
    {
      enroll_fail (e, g_error_new (VPUSH_ERROR, VPUSH_ERROR_API,
                                   "the Verify API left the new factor %s", status));
      return;
    }
  g_free (e->record->status);
  e->record->status = g_steal_pointer (&status);
  enroll_complete (e);
}

/* The key is under the factor sid now; the provisional one is not needed any more. */
static void
provisional_key_deleted_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  g_autoptr (GError) error = NULL;

  /* not worth failing the enrollment for: the next start deletes it (no journal entry or
   * record owns it then) */
  if (!vpush_keystore_delete_finish (VPUSH_KEYSTORE (source), result, &error))
    g_warning ("could not delete the provisional key %s of factor %s: %s", e->journal->id,
               e->record->sid, error->message);
  if (!e->verify)
    {
      enroll_complete (e);
      return;
    }
  vpush_verify_verify_factor_async (vpush_manager_get_verify (e->manager), e->record, e->key->key,
                                    NULL, verified_cb, e);
}

static void
key_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  GError *error = NULL;

  if (!vpush_keystore_store_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      enroll_fail (e, error);
      return;
    }
  vpush_keystore_delete_async (vpush_manager_get_keystore (e->manager), e->journal->id, NULL,
                               provisional_key_deleted_cb, e);
}

static void
journal_factor_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  GError *error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    {
      enroll_fail (e, error);
      return;
    }
  g_debug ("created factor %s, storing its key", e->record->sid);
  vpush_keystore_store_async (vpush_manager_get_keystore (e->manager), e->record->sid,
                              e->service_sid, e->friendly_name, e->key->key, NULL, key_stored_cb,
                              e);
}

static void
created_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  GError *error = NULL;

  e->record = vpush_verify_create_factor_finish (VPUSH_VERIFY (source), result, &error);
  if (e->record == NULL)
    {
      /* an answer that never came, or came unreadable, may still have created a factor
       * nobody can name */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK)
          || g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_FAILED))
        g_message ("enrollment %s: if the create reached the Verify API, the factor it made is "
                   "unverified, and the Verify API deletes it by itself 1 to 24 hours after its "
                   "creation",
                   e->journal->id);
      enroll_fail (e, error);
      return;
    }
  vpush_manager_note_api_result (e->manager, NULL);
  if (!vpush_manager_claim_factor_sid (e->manager, e->record->sid))
    {
      /* Nothing may be done under that sid: not its key stored, not its record written,
       * not the factor deleted at the API in a rollback, as each would be the other
       * factor's. The one the create made is unverified; the API deletes it by itself. */
      error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_API,
                           "the Verify API answered the create with factor sid %s, which "
                           "vpushd holds already",
                           e->record->sid);
      g_clear_pointer (&e->record, vpush_factor_record_free);
      enroll_fail (e, error);
      return;
    }
  e->sid_claimed = TRUE;
  e->journal->factor = vpush_factor_record_copy (e->record);
  vpush_factor_store_save_enrollment_async (vpush_manager_get_factor_store (e->manager), e->journal,
                                            journal_factor_saved_cb, e);
}

static void
provisional_key_stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Enroll *e = user_data;
  GError *error = NULL;

  if (!vpush_keystore_store_finish (VPUSH_KEYSTORE (source), result, &error))
    {
      enroll_fail (e, error);
      return;
    }
  vpush_verify_create_factor_async (vpush_manager_get_verify (e->manager), e->service_sid,
                                    e->identity, e->access_token, e->friendly_name, e->public_key,
                                    e->metadata, NULL, created_cb, e);
}

static gboolean
identity_valid (const gchar *identity)
{
  gsize len = strlen (identity);

  if (len < IDENTITY_MIN || len > IDENTITY_MAX)
    return FALSE;
  for (const gchar *p = identity; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

/* Whether metadata is longer than VPUSH_METADATA_MAX characters as JSON, by what its
 * JSON has at the least ({}, "k":"v" and a comma for each entry, escapes aside): known
 * before anything is built, since a message of the bus may be a gigabyte of entries */
static gboolean
metadata_too_long (GVariant *metadata)
{
  gsize n = g_variant_n_children (metadata);
  glong chars = 2 + (n > 0 ? (glong)n - 1 : 0);
  GVariantIter iter;
  const gchar *k;
  const gchar *v;

  if (n > VPUSH_METADATA_MAX)
    return TRUE;
  g_variant_iter_init (&iter, metadata);
  while (chars <= VPUSH_METADATA_MAX && g_variant_iter_next (&iter, "{&s&s}", &k, &v))
    chars += g_utf8_strlen (k, VPUSH_METADATA_MAX + 1) + g_utf8_strlen (v, VPUSH_METADATA_MAX + 1)
             + 5;
  return chars > VPUSH_METADATA_MAX;
}

static gboolean
check_request (Enroll *e, GVariant *request, GError **error)
{
  static const VpushArgSpec specs[] = {
    { VPUSH_DBUS_ENROLL_SERVICE_SID, "s", TRUE },   { VPUSH_DBUS_ENROLL_IDENTITY, "s", TRUE },
    { VPUSH_DBUS_ENROLL_ACCESS_TOKEN, "s", TRUE },  { VPUSH_DBUS_ENROLL_FRIENDLY_NAME, "s", TRUE },
    { VPUSH_DBUS_ENROLL_METADATA, "a{ss}", FALSE }, { VPUSH_DBUS_ENROLL_PUSH_URL, "s", FALSE },
    { VPUSH_DBUS_ENROLL_VERIFY, "b", FALSE },
  };
  g_autoptr (GHashTable) args = NULL;
  GVariant *metadata;
  const gchar *s;

  if (!vpush_args_parse (request, "request", specs, G_N_ELEMENTS (specs), &args, error))
    return FALSE;

  s = vpush_args_get_string (args, VPUSH_DBUS_ENROLL_SERVICE_SID);
  if (!vpush_args_check_sid (s, "VA", "request: service-sid", error))
    return FALSE;
  e->service_sid = g_strdup (s);

  s = vpush_args_get_string (args, VPUSH_DBUS_ENROLL_IDENTITY);
  if (!identity_valid (s))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "request: identity must be %d to %d letters, digits and “-”", IDENTITY_MIN,
                   IDENTITY_MAX);
      return FALSE;
    }
  e->identity = g_strdup (s);

  s = vpush_args_get_string (args, VPUSH_DBUS_ENROLL_ACCESS_TOKEN);
  if (*s == '\0' || strlen (s) > TOKEN_MAX)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "request: access-token must be 1 to %d bytes", TOKEN_MAX);
      return FALSE;
    }
  e->access_token = g_strdup (s);

  s = vpush_args_get_string (args, VPUSH_DBUS_ENROLL_FRIENDLY_NAME);
  if (*s == '\0' || g_utf8_strlen (s, -1) > VPUSH_FRIENDLY_NAME_MAX)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "request: friendly-name must be 1 to %d characters", VPUSH_FRIENDLY_NAME_MAX);
      return FALSE;
    }
  e->friendly_name = g_strdup (s);

  metadata = g_hash_table_lookup (args, VPUSH_DBUS_ENROLL_METADATA);
  if (metadata != NULL && metadata_too_long (metadata))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "request: metadata is more than %d characters as JSON", VPUSH_METADATA_MAX);
      return FALSE;
    }
  if (metadata != NULL && g_variant_n_children (metadata) > 0)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
      GVariantIter iter;
      const gchar *k;
      const gchar *v;

      json_builder_begin_object (b);
      g_variant_iter_init (&iter, metadata);
      while (g_variant_iter_next (&iter, "{&s&s}", &k, &v))
        {
          /* a{ss} may hold a key twice: which value was meant can't be known */
          if (!g_hash_table_add (seen, (gpointer)k))
            {
              g_autofree gchar *shown = vpush_log_excerpt (k);

              g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                           "request: metadata has the key “%s” twice", shown);
              return FALSE;
            }
          json_builder_set_member_name (b, k);
          json_builder_add_string_value (b, v);
        }
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      e->metadata = vpush_json_to_string (root, FALSE, NULL);
      /* the API counts characters (OpenAPI CreateNewFactor), not bytes */
      if (g_utf8_strlen (e->metadata, -1) > VPUSH_METADATA_MAX)
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "request: metadata is %ld characters as JSON, more than %d",
                       g_utf8_strlen (e->metadata, -1), VPUSH_METADATA_MAX);
          return FALSE;
        }
    }

  s = vpush_args_get_string (args, VPUSH_DBUS_ENROLL_PUSH_URL);
  if (s && *s)
    {
      if (!vpush_http_check_url_unnamed (s, error))
        {
          g_prefix_error (error, "request: push-url: ");
          (*error)->domain = G_DBUS_ERROR;
          (*error)->code = G_DBUS_ERROR_INVALID_ARGS;
          return FALSE;
        }
      e->push_url = g_strdup (s);
    }

  e->verify = vpush_args_get_boolean (args, VPUSH_DBUS_ENROLL_VERIFY, TRUE);
  return TRUE;
}

/* the journal entry first, then the key under its provisional name: from the create on, a
 * crash leaves a factor that the next start can delete (docs/crash-safety.md) */
static void
journal_saved_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Enroll) e = user_data;
  g_autoptr (GError) error = NULL;

  if (!vpush_factor_store_write_finish (VPUSH_FACTOR_STORE (source), result, &error))
    {
      g_prefix_error (&error, "cannot keep the enrollment journal: ");
      /* A write that failed after its rename (the directory's sync) left the entry: the next
       * start would take it for an enrollment a crash interrupted, its create maybe sent. */
      e->error = g_steal_pointer (&error);
      vpush_factor_store_remove_enrollment_async (VPUSH_FACTOR_STORE (source), e->journal->id,
                                                  rollback_journal_removed_cb, e);
      e = NULL; /* owned by the callback now */
      return;
    }
  e->journaled = TRUE;
  vpush_keystore_store_async (vpush_manager_get_keystore (e->manager), e->journal->id,
                              e->service_sid, e->friendly_name, e->key->key, NULL,
                              provisional_key_stored_cb, e);
  e = NULL; /* owned by the callback now */
}

static void enroll_allowed (gpointer data);

static void
on_keystore_settled (VpushKeystore *keystore, GParamSpec *pspec, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (keystore, on_keystore_settled, user_data);
  /* the outcome is read from the key store's state there */
  enroll_allowed (user_data);
}

static void
enroll_allowed (gpointer data)
{
  g_autoptr (Enroll) e = data;
  VpushManager *manager = e->manager;
  GDBusMethodInvocation *invocation = e->invocation;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushKey) key = NULL;
  g_autofree gchar *public_key = NULL;
  guint held;

  /* counted from here, so that calls waiting for the key store are bounded too (each holds
   * its caller's pidfd); an enrollment refused below gives its place back as it is freed */
  if (!e->at_api)
    {
      if (!vpush_manager_add_at_api (manager, VPUSH_AT_API_ENROLL))
        {
          g_dbus_method_invocation_return_error (
              invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
              "%d enrollments are under way already; try again once one has finished",
              VPUSH_ENROLLING_MAX);
          return;
        }
      e->at_api = TRUE;
      /* factors cost polls, memory and maybe a push stream each, and the shipped policy
       * lets any process enroll: [Verify] MaxFactors, this enrollment and the others under
       * way included */
      held = vpush_manager_get_n_factors (manager)
             + vpush_manager_get_at_api (manager, VPUSH_AT_API_ENROLL);
      if (held > vpush_manager_get_config (manager)->max_factors)
        {
          g_dbus_method_invocation_return_error (
              invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
              "[Verify] MaxFactors is %u, and vpushd holds %u, the enrollments under way "
              "included: delete a factor to enroll another",
              vpush_manager_get_config (manager)->max_factors, held - 1);
          return;
        }
    }
  /* vpushd owns its name before the Secret Service has answered: wait for that */
  if (!vpush_keystore_get_settled (vpush_manager_get_keystore (manager)))
    {
      g_signal_connect (vpush_manager_get_keystore (manager), "notify::settled",
                        G_CALLBACK (on_keystore_settled), g_steal_pointer (&e));
      return;
    }
  /* refuse before anything is created remotely: the key could not be kept */
  if (!vpush_keystore_get_available (vpush_manager_get_keystore (manager)))
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED,
          vpush_keystore_get_unavailable_reason (vpush_manager_get_keystore (manager)));
      return;
    }
  if (vpush_keystore_get_locked (vpush_manager_get_keystore (manager)))
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED, "the login keyring is locked");
      return;
    }

  key = vpush_key_generate (&error);
  if (key != NULL)
    public_key = vpush_key_get_public_spki_b64 (key, &error);
  if (public_key == NULL)
    {
      vpush_error_return (invocation, error);
      return;
    }
  e->key = vpush_key_box_new (g_steal_pointer (&key));
  e->public_key = g_steal_pointer (&public_key);

  e->journal
      = vpush_enrollment_new (e->service_sid, e->identity, e->friendly_name,
                              vpush_verify_get_base_url (vpush_manager_get_verify (manager)));
  vpush_factor_store_save_enrollment_async (vpush_manager_get_factor_store (manager), e->journal,
                                            journal_saved_cb, e);
  e = NULL; /* owned by the callback now */
}

void
vpush_enroll_handle (VpushManager *manager, GDBusMethodInvocation *invocation, GVariant *request)
{
  g_autoptr (Enroll) e = g_new0 (Enroll, 1);
  g_autoptr (VpushFactorRecord) named = NULL;
  g_autoptr (GError) error = NULL;

  e->manager = g_object_ref (manager);
  e->invocation = g_object_ref (invocation);
  if (!check_request (e, request, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  /* the factor has no sid yet: a rule's Factors can name it only by its name */
  named = vpush_factor_record_new ();
  named->friendly_name = g_strdup (e->friendly_name);
  vpush_bouncer_gate (manager, invocation, VPUSH_ACTION_ENROLL, named, enroll_allowed,
                      g_steal_pointer (&e), (GDestroyNotify)enroll_free);
}
