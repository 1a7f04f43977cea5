#include "vpush-approve.h"
#include "vpush-approval.h"

#include <string.h>

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-factor.h"
#include "vpush-log.h"
#include "vpush-names.h"
#include "vpush-poller.h"

#define TIMEOUT_MAX_MS     20000
#define TRANSACTION_ID_MAX 1024

static void
approval_clear (gpointer data)
{
  VpushApproval *ap = data;

  if (ap->stopping_id)
    g_clear_signal_handler (&ap->stopping_id, ap->manager);
  g_clear_object (&ap->manager);
  g_clear_object (&ap->invocation);
  g_free (ap->status);
  g_free (ap->transaction_id);
  g_free (ap->challenge_sid);
  g_free (ap->factor_sid);
  g_clear_pointer (&ap->access, vpush_access_unref);
  g_free (ap->caller);
  g_free (ap->rule);
  g_free (ap->session_id);
  g_clear_error (&ap->wait_error);
  g_clear_error (&ap->answer_error);
  g_clear_pointer (&ap->challenge, vpush_challenge_unref);
  g_clear_pointer (&ap->outcome, vpush_challenge_unref);
  g_clear_pointer (&ap->key, vpush_key_box_unref);
  g_clear_pointer (&ap->fetch_key, vpush_key_box_unref);
  g_clear_pointer (&ap->fetch_factors, g_ptr_array_unref);
}

VpushApproval *
vpush_approval_ref (VpushApproval *ap)
{
  return g_rc_box_acquire (ap);
}

void
vpush_approval_unref (VpushApproval *ap)
{
  g_rc_box_release_full (ap, approval_clear);
}

VpushAction
vpush_approval_action (VpushApproval *ap)
{
  return g_str_equal (ap->status, "approved") ? VPUSH_ACTION_APPROVE : VPUSH_ACTION_DENY;
}

/* A factor the caller may not answer for: its challenges are no candidates. */
gboolean
vpush_approval_factor_allowed (VpushApproval *ap, const gchar *factor_sid)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, factor_sid);

  return factor != NULL && ap->access != NULL
         && vpush_access_allows_factor (ap->access, vpush_factor_get_record (factor));
}

/* Its record is gone, and its DELETE may reach the API before or after an answer. */
gboolean
vpush_approval_factor_deleting (VpushApproval *ap, const gchar *factor_sid)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, factor_sid);

  return factor != NULL && vpush_factor_is_deleting (factor);
}

static const gchar *
match_text (VpushApproval *ap, gchar **buf)
{
  *buf = ap->transaction_id ? g_strdup_printf ("transaction id “%s”", ap->transaction_id)
                            : g_strdup_printf ("challenge %s", ap->challenge_sid);
  return *buf;
}

static const gchar *
waiting_caller (VpushApproval *ap)
{
  const gchar *sender = g_dbus_method_invocation_get_sender (ap->invocation);

  return sender != NULL ? sender : "";
}

void
vpush_approval_stop_waiting (VpushApproval *ap)
{
  if (ap->changed_id)
    g_clear_signal_handler (&ap->changed_id, vpush_manager_get_pending (ap->manager));
  g_clear_handle_id (&ap->timeout_id, g_source_remove);
  if (ap->settled_id)
    g_clear_signal_handler (&ap->settled_id, vpush_manager_get_keystore (ap->manager));
  g_clear_handle_id (&ap->caller_watch_id, g_bus_unwatch_name);
  if (ap->waiting)
    {
      ap->waiting = FALSE;
      vpush_manager_remove_waiting (ap->manager, waiting_caller (ap));
      vpush_approval_unref (ap); /* the waiting reference */
    }
}

static void
release_entry (VpushApproval *ap)
{
  VpushPendingEntry *entry;

  if (ap->challenge == NULL)
    return;
  entry = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge->sid);
  if (entry)
    entry->answering = FALSE;
}

/* The policy's decisions are in the audit trail (vpush-bouncer.c); this is the outcome
 * of an allowed one, or a refusal for a factor the caller named. Either carries who the
 * caller is, as the policy's records do. */
static void
log_outcome (VpushApproval *ap, const gchar *message_id, const gchar *decision, const gchar *result,
             gboolean rationed)
{
  g_autofree gchar *what = NULL;
  g_autofree gchar *pid = NULL;
  VpushChallenge *c = ap->challenge ? ap->challenge : ap->outcome;
  const gchar *txn = ap->transaction_id;
  const VpushCaller *caller = ap->access ? vpush_access_get_caller (ap->access) : NULL;
  /* for a refusal, as in the policy's records, the rule that came closest: the one that
   * let the caller in, which does not cover the factor */
  const gchar *rule = ap->rule ? ap->rule : vpush_access_get_rule (ap->access);
  /* the session as the policy's record has it: logind's, where a rule asked */
  const gchar *session = ap->session_id ? ap->session_id
                         : ap->access   ? vpush_access_get_session_id (ap->access)
                                        : NULL;

  /* as in the policy's records: the challenge's own transaction id, for a call by sid */
  if (txn == NULL && c != NULL)
    txn = vpush_challenge_get_hidden (c,
                                      vpush_manager_get_config (ap->manager)->transaction_id_key);
  if (caller != NULL)
    pid = g_strdup_printf ("%u", caller->pid);
  {
    const GLogField fields[] = {
      { VPUSH_LOG_FIELD_ACTION, vpush_action_to_string (vpush_approval_action (ap)), -1 },
      { VPUSH_LOG_FIELD_DECISION, decision, -1 },
      { VPUSH_LOG_FIELD_RULE, rule, -1 },
      { VPUSH_LOG_FIELD_FACTOR, c ? c->factor_sid : ap->factor_sid, -1 },
      { VPUSH_LOG_FIELD_CHALLENGE, c ? c->sid : ap->challenge_sid, -1 },
      { VPUSH_LOG_FIELD_TRANSACTION, txn, -1 },
      { VPUSH_LOG_FIELD_CALLER, ap->caller, -1 },
      { VPUSH_LOG_FIELD_CALLER_EXE, caller ? caller->exe : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_UNIT, caller ? caller->unit : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_APP, caller ? caller->app_id : NULL, -1 },
      { VPUSH_LOG_FIELD_CALLER_PID, pid, -1 },
      { VPUSH_LOG_FIELD_CALLER_SESSION, session, -1 },
    };

    g_autofree gchar *key = vpush_caller_key (caller);

    if (rationed && !vpush_log_ration_take (key, fields, G_N_ELEMENTS (fields)))
      return;
    vpush_log_fields (G_LOG_LEVEL_MESSAGE, message_id, fields, G_N_ELEMENTS (fields),
                      "%s of %s for %s: %s", vpush_action_to_string (vpush_approval_action (ap)),
                      match_text (ap, &what), ap->caller, result);
  }
}

/* A poll or fetch this call started may outlive it, holding a reference: the caller's
 * pidfd (kept with the invocation) is not held that long, as nothing of the call needs it
 * once it has replied. */
static void
release_caller (VpushApproval *ap)
{
  g_clear_pointer (&ap->access, vpush_access_unref);
  g_clear_object (&ap->invocation);
}

void
vpush_approval_finish_error (VpushApproval *ap, GError *error)
{
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);
  gboolean answering = ap->challenge != NULL;

  if (ap->done)
    {
      g_error_free (error);
      return;
    }
  ap->done = TRUE;
  vpush_approval_stop_waiting (ap);
  g_clear_signal_handler (&ap->stopping_id, ap->manager);
  release_entry (ap);
  /* a refusal is in the audit trail already */
  if (ap->access != NULL && !g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    {
      g_autofree gchar *result = g_strdup_printf ("not done: %s", error->message);

      /* One that failed before its answer went out is rationed (vpush-log-ration.c),
       * matched to a challenge or not: a locked keyring, say, fails each call at once */
      log_outcome (ap, VPUSH_MSGID_DECISION, VPUSH_DECISION_FAILED, result, !ap->sent);
    }
  vpush_error_return (ap->invocation, error);
  g_error_free (error);
  /* Calls that matched the same challenge waited for this answer: it is a candidate
   * again, or gone (expired, answered elsewhere, its factor deleted). Either way they
   * look again now; nothing else may wake them. */
  if (answering)
    vpush_pending_emit_changed (vpush_manager_get_pending (ap->manager));
  release_caller (ap);
}

/* The challenge is answered as asked: the caller hears it first, then the challenge is
 * retired (Challenge object removed) and the outcome logged. Nothing runs between the
 * two on the main loop, so no later call sees the challenge still pending. */
void
vpush_approval_finish_ok (VpushApproval *ap, const gchar *final_status)
{
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);
  g_autofree gchar *result = NULL;

  if (ap->done)
    return;
  ap->done = TRUE;
  vpush_approval_stop_waiting (ap);
  g_clear_signal_handler (&ap->stopping_id, ap->manager);
  g_dbus_method_invocation_return_value (ap->invocation, g_variant_new ("(s)", ap->challenge->sid));
  vpush_pending_finish (vpush_manager_get_pending (ap->manager), ap->challenge->sid, final_status);
  /* its outcome is known: no later call claims it (and writes its record) again */
  vpush_answer_memory_forget (vpush_manager_get_answers (ap->manager), ap->challenge->sid);
  result = g_strdup_printf ("challenge %s of factor %s is %s", ap->challenge->sid,
                            ap->challenge->factor_sid, ap->status);
  log_outcome (ap,
               vpush_approval_action (ap) == VPUSH_ACTION_APPROVE ? VPUSH_MSGID_APPROVED
                                                                  : VPUSH_MSGID_DENIED,
               NULL, result, FALSE);
  /* calls that matched the same challenge waited for this answer: it is theirs now */
  vpush_pending_emit_changed (vpush_manager_get_pending (ap->manager));
  release_caller (ap);
}

void
vpush_approval_finish_final (VpushApproval *ap, VpushChallenge *c, const gchar *status)
{
  GError *error;

  if (g_str_equal (status, "expired"))
    error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_EXPIRED, "challenge %s has expired", c->sid);
  else if (g_str_equal (status, "responded"))
    /* a poll no longer lists it as pending: approved or denied, it does not say which */
    error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_ALREADY_RESPONDED,
                         "challenge %s was already answered", c->sid);
  else
    error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_ALREADY_RESPONDED, "challenge %s was already %s",
                         c->sid, status);
  /* for the audit record of the outcome */
  if (ap->challenge == NULL && ap->outcome == NULL)
    ap->outcome = vpush_challenge_ref (c);
  vpush_approval_finish_error (ap, error);
}

gboolean
vpush_approval_matches (VpushApproval *ap, VpushChallenge *c)
{
  VpushConfig *config = vpush_manager_get_config (ap->manager);

  if (ap->factor_sid && !g_str_equal (ap->factor_sid, c->factor_sid))
    return FALSE;
  /* every pending challenge is looked at: the cheap comparison goes first */
  if (ap->challenge_sid ? !g_str_equal (ap->challenge_sid, c->sid)
                        : g_strcmp0 (vpush_challenge_get_hidden (c, config->transaction_id_key),
                                     ap->transaction_id)
                              != 0)
    return FALSE;
  return vpush_approval_factor_allowed (ap, c->factor_sid)
         && !vpush_approval_factor_deleting (ap, c->factor_sid);
}

/* Waiting for the challenge to arrive */

static void
on_pending_changed (VpushPending *pending, VpushApproval *ap)
{
  /* finishing drops the waiting reference, which may be the last one */
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);

  if (!ap->polling)
    vpush_approval_evaluate (ap);
}

static gboolean
on_timeout (gpointer user_data)
{
  VpushApproval *ap = user_data;
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);

  ap->timeout_id = 0;
  ap->timed_out = TRUE;
  vpush_approval_evaluate (ap);
  return G_SOURCE_REMOVE;
}

static void
on_keystore_settled (VpushKeystore *keystore, GParamSpec *pspec, gpointer user_data)
{
  VpushApproval *ap = user_data;

  if (!vpush_keystore_get_settled (keystore))
    return;
  g_clear_signal_handler (&ap->settled_id, keystore);
  ap->timeout_id = g_timeout_add (ap->timeout_ms, on_timeout, ap);
}

/* The call's own timeout runs from the key store's first answer: until then (State
 * "starting", at most [Keyring] TimeoutMs) its poll or fetch waits for a key, and no
 * answer that there is no such challenge can be true. */
static void
start_timeout (VpushApproval *ap)
{
  VpushKeystore *keystore = vpush_manager_get_keystore (ap->manager);

  if (vpush_keystore_get_settled (keystore))
    ap->timeout_id = g_timeout_add (ap->timeout_ms, on_timeout, ap);
  else
    ap->settled_id
        = g_signal_connect (keystore, "notify::settled", G_CALLBACK (on_keystore_settled), ap);
}

/* Nobody is left to want this answer: stop waiting instead of answering the challenge
 * if it arrives later. */
static void
on_caller_vanished (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VpushApproval *ap = user_data;
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);

  vpush_approval_finish_error (
      ap, g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the caller %s left the bus", name));
}

/* vpushd is exiting and the main loop will not run again: the call ends now, its outcome
 * in the audit trail (an answer already sent may have been taken: the record says so). */
static void
on_stopping (VpushManager *manager, VpushApproval *ap)
{
  g_autoptr (VpushApproval) hold G_GNUC_UNUSED = vpush_approval_ref (ap);

  /* sent: being sent, or being read back after a reply that did not say (a call that
   * sent its answer never waits for another challenge) */
  if (ap->sent)
    vpush_approval_finish_error (
        ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_FAILED,
                         "vpushd is stopping: the answer to challenge %s was sent, and whether "
                         "the Verify API took it is unknown",
                         ap->challenge->sid));
  else
    vpush_approval_finish_error (
        ap, g_error_new_literal (VPUSH_ERROR, VPUSH_ERROR_FAILED, "vpushd is stopping"));
}

void
vpush_approval_note_wait_error (VpushApproval *ap, GError *error)
{
  /* a poll or fetch that ends once the answer has begun says nothing about its outcome */
  if (ap->challenge != NULL)
    {
      g_error_free (error);
      return;
    }
  g_clear_error (&ap->wait_error);
  ap->wait_error = error;
}

static void
poll_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  GError *error = NULL;

  if (!vpush_poller_poll_finish ((VpushPoller *)source, result, &error))
    vpush_approval_note_wait_error (ap, error);
  ap->polling = FALSE;
  ap->polled = TRUE;
  vpush_approval_evaluate (ap);
}

static void
start_waiting (VpushApproval *ap)
{
  VpushPending *pending = vpush_manager_get_pending (ap->manager);
  GError *error = NULL;

  if (!vpush_manager_add_waiting (ap->manager, waiting_caller (ap), &error))
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  ap->waiting = TRUE;
  vpush_approval_ref (ap);
  ap->changed_id = g_signal_connect (pending, "changed", G_CALLBACK (on_pending_changed), ap);
  start_timeout (ap);
  ap->caller_watch_id = g_bus_watch_name_on_connection (
      g_dbus_method_invocation_get_connection (ap->invocation),
      g_dbus_method_invocation_get_sender (ap->invocation), G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
      on_caller_vanished, ap, NULL);

  if (ap->challenge_sid)
    {
      vpush_approval_fetch_by_sid (ap);
      return;
    }
  ap->polling = TRUE;
  if (ap->factor_sid != NULL)
    {
      vpush_poller_poll_async (vpush_manager_get_poller (ap->manager), ap->factor_sid, NULL,
                               poll_done_cb, vpush_approval_ref (ap));
      return;
    }
  /* Only the factors the call may answer for: another's poll can bring it no candidate,
   * and its failure is no business of this caller's (nor a reason to skip the API's
   * history of its own factors). */
  {
    g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);
    g_autoptr (GStrvBuilder) allowed = g_strv_builder_new ();
    g_auto (GStrv) sids = NULL;

    for (GList *l = factors; l; l = l->next)
      {
        const gchar *sid = vpush_factor_get_sid (l->data);

        if (vpush_approval_factor_allowed (ap, sid))
          g_strv_builder_add (allowed, sid);
      }
    sids = g_strv_builder_end (allowed);
    vpush_poller_poll_some_async (vpush_manager_get_poller (ap->manager),
                                  (const gchar *const *)sids, NULL, poll_done_cb,
                                  vpush_approval_ref (ap));
  }
}

/* The finished challenges a transaction id may match: of the factors the call may answer
 * for, so that a newer one of another factor does not hide them. */
static gboolean
finished_allowed (const gchar *factor_sid, gpointer user_data)
{
  VpushApproval *ap = user_data;

  return (ap->factor_sid == NULL || g_str_equal (factor_sid, ap->factor_sid))
         && vpush_approval_factor_allowed (ap, factor_sid);
}

void
vpush_approval_evaluate (VpushApproval *ap)
{
  VpushPending *pending = vpush_manager_get_pending (ap->manager);
  VpushConfig *config = vpush_manager_get_config (ap->manager);
  gint64 now = vpush_verify_now (vpush_manager_get_verify (ap->manager));
  g_autoptr (GList) entries = NULL;
  g_autoptr (GList) unfetched = NULL;
  /* the live matches, for Ambiguous: the caller (or whoever reads the log) needs the sids
   * to tell them apart */
  g_autoptr (GString) sids = g_string_new (NULL);
  VpushPendingEntry *live = NULL;
  VpushChallenge *expired = NULL;
  VpushChallenge *finished = NULL;
  const gchar *final_status = NULL;
  guint n_live = 0;
  guint n_unfetched = 0;
  gboolean settled;

  if (ap->done || ap->challenge != NULL)
    return;
  /* the factor the call named went while it waited: nothing more can match */
  if (ap->factor_sid != NULL && vpush_manager_lookup_factor (ap->manager, ap->factor_sid) == NULL)
    {
      vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                    "factor %s was deleted", ap->factor_sid));
      return;
    }
  /* a challenge sid names one challenge for good; a transaction id may come back on a
   * newer challenge, so one that expired or was answered is the outcome once a poll has
   * found no newer one, or the wait is over */
  settled = ap->challenge_sid != NULL || ap->polled || ap->timed_out;

  entries = vpush_pending_get_entries (pending);
  for (GList *l = entries; l; l = l->next)
    {
      VpushPendingEntry *entry = l->data;

      if (!vpush_approval_matches (ap, entry->challenge))
        continue;
      if (entry->challenge->expires_at <= vpush_challenge_now (entry->challenge, now))
        expired = entry->challenge;
      else
        {
          live = entry;
          n_live++;
          g_string_append_printf (sids, "%s%s", sids->len > 0 ? ", " : "", entry->challenge->sid);
        }
    }
  /* listed pending by a poll that could not fetch them: never answered, but counted */
  unfetched = vpush_pending_get_unfetched (pending);
  for (GList *l = unfetched; l; l = l->next)
    {
      VpushChallenge *c = l->data;

      if (vpush_approval_matches (ap, c) && c->expires_at > vpush_challenge_now (c, now))
        {
          n_unfetched++;
          g_string_append_printf (sids, "%s%s (listed, not fetched)", sids->len > 0 ? ", " : "",
                                  c->sid);
        }
    }

  if (n_live + n_unfetched > 1)
    {
      vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_AMBIGUOUS,
                                                    "%u pending challenges match (%s); none was "
                                                    "answered",
                                                    n_live + n_unfetched, sids->str));
      return;
    }
  if (n_live == 1 && live->answering)
    {
      /* Another call is answering it. Its outcome decides this one: AlreadyResponded
       * once the answer is in, a candidate again if it fails. That answer is bounded by
       * its own deadline, so this waits for it even past timeout-ms, which is for the
       * challenge to arrive. */
      if (!ap->waiting)
        start_waiting (ap);
      return;
    }
  if (n_live == 1)
    {
      vpush_approval_answer (ap, live);
      return;
    }
  /* the one that matches could not be fetched yet: not answered unseen, nor taken for
   * gone; a later fetch of it, or the timeout (with that GET's error), ends the call */
  if (n_unfetched > 0 && !ap->timed_out)
    {
      if (!ap->waiting)
        start_waiting (ap);
      return;
    }
  if (n_unfetched > 0)
    settled = FALSE;
  if (expired && settled)
    {
      vpush_approval_finish_final (ap, expired, "expired");
      return;
    }

  if (!settled)
    finished = NULL;
  else if (ap->challenge_sid)
    finished = vpush_pending_lookup_finished (pending, ap->challenge_sid, &final_status);
  else
    finished = vpush_pending_find_finished (pending, config->transaction_id_key, ap->transaction_id,
                                            finished_allowed, ap, &final_status);
  if (finished && (ap->factor_sid == NULL || g_str_equal (finished->factor_sid, ap->factor_sid))
      && vpush_approval_factor_allowed (ap, finished->factor_sid)
      && !g_str_equal (final_status, "deleted"))
    {
      if (!vpush_approval_claim (ap, finished, final_status))
        vpush_approval_finish_final (ap, finished, final_status);
      return;
    }
  /* once the call's own poll found nothing, while the API answers; timeout-ms still ends
   * the call, with what is known by then */
  if (ap->transaction_id != NULL && ap->polled && !ap->timed_out && ap->wait_error == NULL
      && !ap->history_asked)
    vpush_approval_ask_history (ap);
  /* its answer decides between NotFound and a final status */
  if (ap->history_running > 0 && !ap->timed_out)
    return;

  if (ap->wait_error && (g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED)))
    {
      vpush_approval_finish_error (ap, g_steal_pointer (&ap->wait_error));
      return;
    }
  if (ap->timed_out)
    {
      g_autofree gchar *what = NULL;
      const gchar *failing_factor = NULL;
      const GError *failing = vpush_manager_get_api_failure (ap->manager, &failing_factor);
      VpushKeystore *keystore = vpush_manager_get_keystore (ap->manager);
      GError *locked = NULL;

      /* An API that can't be reached is everyone's; what it answered of a factor this
       * call may not answer for (or of no factor: another caller's enrollment) is none of
       * this caller's business, as that factor's poll is not (README) */
      if (failing != NULL && !g_error_matches (failing, VPUSH_ERROR, VPUSH_ERROR_NETWORK)
          && (failing_factor == NULL || !finished_allowed (failing_factor, ap)))
        failing = NULL;
      /* an unreachable API is not the same as no such challenge; nor is one that refused
       * this call's poll or fetch (its error names the factor when there are several),
       * or still answers 5xx or 429 to the one being retried right now, or sent a reply
       * vpushd can't read; nor a factor whose key is missing or unusable, which could not
       * even ask */
      if (ap->wait_error
          && (g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_NETWORK)
              || g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_API)
              || g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_FAILED)
              || g_error_matches (ap->wait_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA)
              || ap->wait_error->domain == VPUSH_KEY_ERROR))
        vpush_approval_finish_error (ap, g_steal_pointer (&ap->wait_error));
      /* out of time before its poll or fetch could ask: a locked keyring (which drops the
       * keys held in memory) keeps them from asking at all. A Secret Service that is only
       * gone does not: the keys in memory still work. */
      else if (vpush_keystore_get_locked (keystore)
               && !vpush_keystore_check_usable (keystore, &locked))
        vpush_approval_finish_error (ap, g_steal_pointer (&locked));
      else if (failing != NULL)
        vpush_approval_finish_error (ap, g_error_copy (failing));
      /* with factor-sid, the challenge may well be pending, of another factor */
      else if (ap->factor_sid != NULL)
        vpush_approval_finish_error (
            ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                             "no pending challenge of factor %s matches %s within %u ms",
                             ap->factor_sid, match_text (ap, &what), ap->timeout_ms));
      else
        vpush_approval_finish_error (ap,
                                     g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                  "no pending challenge matches %s within %u ms",
                                                  match_text (ap, &what), ap->timeout_ms));
      return;
    }
  if (!ap->waiting)
    start_waiting (ap);
}

static void
access_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  GError *error = NULL;

  ap->access = vpush_bouncer_authorize_finish (result, &error);
  if (ap->access == NULL)
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  ap->caller = vpush_caller_describe (vpush_access_get_caller (ap->access));
  ap->stopping_id = g_signal_connect (ap->manager, "stopping", G_CALLBACK (on_stopping), ap);
  if (ap->factor_sid && vpush_manager_lookup_factor (ap->manager, ap->factor_sid) == NULL)
    {
      vpush_approval_finish_error (
          ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "no factor %s", ap->factor_sid));
      return;
    }
  /* Factor objects are public, so naming one the policy keeps from this caller is told as
   * such (dbus-api.md); without factor-sid its challenges are simply no candidates */
  if (ap->factor_sid && !vpush_approval_factor_allowed (ap, ap->factor_sid))
    {
      g_autofree gchar *reason
          = g_strdup_printf ("no rule lets %s %s for factor %s", ap->caller,
                             vpush_action_to_string (vpush_approval_action (ap)), ap->factor_sid);

      log_outcome (ap, VPUSH_MSGID_DECISION, VPUSH_DECISION_REFUSED, reason, TRUE);
      vpush_approval_finish_error (
          ap, g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, reason));
      return;
    }
  /* a factor whose Delete is under way is as good as gone, once the policy has had its say */
  if (ap->factor_sid && vpush_approval_factor_deleting (ap, ap->factor_sid))
    {
      vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                    "factor %s is being deleted", ap->factor_sid));
      return;
    }
  /* so are Challenge objects: one named by sid whose factor the policy keeps from this
   * caller is refused at once, not looked for until the timeout */
  if (ap->challenge_sid)
    {
      VpushPendingEntry *entry
          = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge_sid);

      if (entry != NULL && !vpush_approval_factor_allowed (ap, entry->challenge->factor_sid))
        {
          g_autofree gchar *reason
              = g_strdup_printf ("no rule lets %s %s for factor %s (challenge %s is that factor's)",
                                 ap->caller, vpush_action_to_string (vpush_approval_action (ap)),
                                 entry->challenge->factor_sid, ap->challenge_sid);

          ap->outcome = vpush_challenge_ref (entry->challenge);
          log_outcome (ap, VPUSH_MSGID_DECISION, VPUSH_DECISION_REFUSED, reason, TRUE);
          vpush_approval_finish_error (
              ap, g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, reason));
          return;
        }
      if (entry != NULL && vpush_approval_factor_deleting (ap, entry->challenge->factor_sid))
        {
          vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                        "factor %s is being deleted",
                                                        entry->challenge->factor_sid));
          return;
        }
    }
  vpush_approval_evaluate (ap);
}

static gboolean
check_match (VpushApproval *ap, GVariant *match, GError **error)
{
  static const VpushArgSpec specs[] = {
    { VPUSH_DBUS_MATCH_TRANSACTION_ID, "s", FALSE },
    { VPUSH_DBUS_MATCH_CHALLENGE_SID, "s", FALSE },
    { VPUSH_DBUS_MATCH_FACTOR_SID, "s", FALSE },
    { VPUSH_DBUS_MATCH_TIMEOUT_MS, "u", FALSE },
  };
  g_autoptr (GHashTable) args = NULL;
  const gchar *txn;
  const gchar *sid;
  const gchar *factor;

  if (!vpush_args_parse (match, "match", specs, G_N_ELEMENTS (specs), &args, error))
    return FALSE;

  txn = vpush_args_get_string (args, VPUSH_DBUS_MATCH_TRANSACTION_ID);
  sid = vpush_args_get_string (args, VPUSH_DBUS_MATCH_CHALLENGE_SID);
  if ((txn == NULL) == (sid == NULL))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "match: exactly one of transaction-id and challenge-sid is needed, %s given",
                   txn ? "both" : "neither");
      return FALSE;
    }
  if (txn && (*txn == '\0' || strlen (txn) > TRANSACTION_ID_MAX))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "match: transaction-id must be 1 to %d bytes", TRANSACTION_ID_MAX);
      return FALSE;
    }
  if (sid && !vpush_args_check_sid (sid, "YC", "match: challenge-sid", error))
    return FALSE;
  factor = vpush_args_get_string (args, VPUSH_DBUS_MATCH_FACTOR_SID);
  if (factor && !vpush_args_check_sid (factor, "YF", "match: factor-sid", error))
    return FALSE;

  ap->timeout_ms
      = vpush_args_get_uint32 (args, VPUSH_DBUS_MATCH_TIMEOUT_MS,
                               vpush_manager_get_config (ap->manager)->default_timeout_ms);
  if (ap->timeout_ms > TIMEOUT_MAX_MS)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "match: timeout-ms must be at most %d, not %u", TIMEOUT_MAX_MS, ap->timeout_ms);
      return FALSE;
    }
  ap->transaction_id = g_strdup (txn);
  ap->challenge_sid = g_strdup (sid);
  ap->match = txn ? VPUSH_MATCH_TRANSACTION_ID : VPUSH_MATCH_CHALLENGE_SID;
  ap->factor_sid = g_strdup (factor);
  return TRUE;
}

void
vpush_approve_handle (VpushManager *manager, GDBusMethodInvocation *invocation, GVariant *match,
                      const gchar *status)
{
  g_autoptr (VpushApproval) ap = g_rc_box_new0 (VpushApproval);
  GError *error = NULL;
  VpushAction what;
  VpushMatch how;

  ap->manager = g_object_ref (manager);
  ap->invocation = g_object_ref (invocation);
  ap->status = g_strdup (status);
  if (!check_match (ap, match, &error))
    {
      ap->done = TRUE;
      g_dbus_method_invocation_return_gerror (invocation, error);
      g_error_free (error);
      return;
    }
  /* first who may ask at all; which factors and challenges it may see follows */
  what = vpush_approval_action (ap);
  how = ap->match;
  vpush_bouncer_authorize_async (manager, invocation, what, how, NULL, NULL, access_cb,
                                 g_steal_pointer (&ap));
}
