/* An approval's answer: the challenge re-read if the cached copy is old, the policy's
 * last word on it, the answer signed and posted, and what a refused answer means. */
#include "vpush-approval.h"

#include "vpush-error.h"
#include "vpush-factor.h"
#include "vpush-time.h"

/* A cached challenge fetched this recently is answered without another GET: by the boot
 * clock, as a suspend makes a copy old. */
#define FRESH_USEC (30 * G_USEC_PER_SEC)

/* The factor of the challenge being answered; NULL once the call has ended with NotFound,
 * as it was deleted meanwhile, or its Delete is under way. */
static VpushFactor *
factor_or_finish (VpushApproval *ap)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);

  if (factor == NULL || vpush_factor_is_deleting (factor))
    {
      vpush_approval_finish_error (
          ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "factor %s %s",
                           ap->challenge->factor_sid,
                           factor == NULL ? "was deleted" : "is being deleted"));
      return NULL;
    }
  return factor;
}

/* A fetch since this call matched (another call's, a hint's) may have brought a newer copy
 * of its challenge: that one is signed, so its hidden details are the ones that must
 * match; and once the policy has judged the copy (authorized), what it judged (the
 * factor, the age) must be the same. FALSE, with the call ended NotFound, if not. */
static gboolean
take_newest_copy (VpushApproval *ap, gboolean authorized)
{
  VpushPendingEntry *entry
      = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge->sid);

  if (entry == NULL || entry->challenge == ap->challenge)
    return TRUE;
  if (!vpush_approval_matches (ap, entry->challenge)
      || (authorized
          && (entry->challenge->created_at != ap->challenge->created_at
              || !g_str_equal (entry->challenge->factor_sid, ap->challenge->factor_sid))))
    {
      vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                    "challenge %s no longer matches",
                                                    ap->challenge->sid));
      return FALSE;
    }
  g_clear_pointer (&ap->challenge, vpush_challenge_unref);
  ap->challenge = vpush_challenge_ref (entry->challenge);
  return TRUE;
}

/* Now by the API's clock, for what is remembered of c until it expires */
static gint64
api_now (VpushApproval *ap, VpushChallenge *c)
{
  return vpush_challenge_now (c, vpush_verify_now (vpush_manager_get_verify (ap->manager)));
}

/* The API may have taken the answer, though no read showed it: a later call that finds the
 * challenge answered so knows whose answer that was. */
/* Who the call is, as the memory of answers knows callers */
static gchar *
caller_key (VpushApproval *ap)
{
  return vpush_caller_key (ap->access != NULL ? vpush_access_get_caller (ap->access) : NULL);
}

static void
remember_answer (VpushApproval *ap)
{
  g_autofree gchar *caller = caller_key (ap);

  vpush_answer_memory_remember (vpush_manager_get_answers (ap->manager), ap->challenge->sid,
                                ap->status, caller, ap->challenge->expires_at,
                                api_now (ap, ap->challenge));
}

static void answered_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
post_answer (VpushApproval *ap)
{
  VpushVerify *verify = vpush_manager_get_verify (ap->manager);
  VpushFactor *factor = factor_or_finish (ap);

  if (factor == NULL)
    return;
  /* never send an answer for an expired challenge */
  if (ap->challenge->expires_at <= vpush_challenge_now (ap->challenge, vpush_verify_now (verify)))
    {
      vpush_pending_finish (vpush_manager_get_pending (ap->manager), ap->challenge->sid, "expired");
      vpush_approval_finish_final (ap, ap->challenge, "expired");
      return;
    }
  ap->posting = TRUE;
  ap->sent = TRUE;
  vpush_verify_answer_challenge_async (verify, vpush_factor_get_record (factor), ap->key->key,
                                       ap->challenge, ap->status, NULL, answered_cb,
                                       vpush_approval_ref (ap));
}

static void
answer_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushAccess) access = NULL;
  GError *error = NULL;

  access = vpush_bouncer_authorize_finish (result, &error);
  if (access == NULL)
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  g_free (ap->rule);
  ap->rule = g_strdup (vpush_access_get_rule (access));
  g_free (ap->session_id);
  ap->session_id = g_strdup (vpush_access_get_session_id (access));
  /* the policy's answer took a while (a session check): a newer copy may be in by now */
  if (!take_newest_copy (ap, TRUE))
    return;
  post_answer (ap);
}

/* The policy's last word, on the very challenge about to be signed: its factor, its age
 * and the session as they are now. */
static void
authorize_answer (VpushApproval *ap)
{
  VpushFactor *factor = factor_or_finish (ap);

  if (factor == NULL)
    return;
  vpush_bouncer_authorize_async (ap->manager, ap->invocation, vpush_approval_action (ap), ap->match,
                                 vpush_factor_get_record (factor), ap->challenge,
                                 answer_authorized_cb, vpush_approval_ref (ap));
}

static void
refetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (GError) error = NULL;
  VpushPending *pending = vpush_manager_get_pending (ap->manager);

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  vpush_manager_note_api_result (ap->manager, error);
  if (c == NULL)
    {
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND))
        vpush_pending_finish (pending, ap->challenge->sid, "deleted");
      vpush_approval_finish_error (ap, g_steal_pointer (&error));
      return;
    }
  if (!g_str_equal (c->status, "pending"))
    {
      vpush_pending_finish (pending, c->sid, c->status);
      if (!vpush_approval_claim (ap, c, c->status))
        vpush_approval_finish_final (ap, c, c->status);
      return;
    }
  /* the hidden details as fetched right before signing must still match (and its
   * factor still be there) */
  if (!vpush_manager_put_pending (ap->manager, c) || !vpush_approval_matches (ap, c))
    {
      vpush_approval_finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                                    "challenge %s no longer matches", c->sid));
      return;
    }
  g_clear_pointer (&ap->challenge, vpush_challenge_unref);
  ap->challenge = g_steal_pointer (&c);
  authorize_answer (ap);
}

/* An answer that may have been taken, whose factor was deleted (or is being, its DELETE
 * done at the API maybe) before it could be read back: what the API did with it is not
 * known, and the call says so, not NotFound (or the retry's 404) as if it had not been
 * taken. NULL when that is not the case. */
static GError *
outcome_lost_to_delete (VpushApproval *ap)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);

  if (!ap->maybe_answered || (factor != NULL && !vpush_factor_is_deleting (factor)))
    return NULL;
  return g_error_new (VPUSH_ERROR, VPUSH_ERROR_FAILED,
                      "the answer to challenge %s was sent, and whether the Verify API took it "
                      "is unknown, as factor %s %s",
                      ap->challenge->sid, ap->challenge->factor_sid,
                      factor == NULL ? "was deleted meanwhile" : "is being deleted");
}

static void
classify_failure_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *original = g_steal_pointer (&ap->answer_error);
  GError *read_error = NULL;
  GError *lost;

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &read_error);
  if (c == NULL && (lost = outcome_lost_to_delete (ap)) != NULL)
    {
      g_error_free (read_error);
      g_error_free (original);
      vpush_approval_finish_error (ap, lost);
      return;
    }
  /* the API took the answer; only reading it back failed: that failure is the outcome, not
   * the status of an older copy */
  if (c == NULL && ap->reply_stale)
    {
      g_prefix_error (&read_error,
                      "challenge %s: the Verify API took the answer, but reading it back failed: ",
                      ap->challenge->sid);
      g_error_free (original);
      remember_answer (ap);
      vpush_approval_finish_error (ap, read_error);
      return;
    }
  g_clear_error (&read_error);
  /* The reply to an attempt was lost and the retry refused (409), or the API took the
   * answer and replied with an older copy: if the challenge now says what was asked, that
   * answer was ours. Any other status was someone else's. */
  if (c != NULL && g_str_equal (c->status, ap->status) && ap->maybe_answered)
    {
      g_message ("challenge %s: %s, and the Verify API shows it %s: done (%s)", c->sid,
                 ap->reply_unread  ? "the reply to its answer could not be read"
                 : ap->reply_stale ? "the reply to its answer showed an older copy"
                                   : "the reply to its answer was lost",
                 c->status, original->message);
      g_error_free (original);
      vpush_approval_finish_ok (ap, c->status);
      return;
    }
  if (c != NULL && !g_str_equal (c->status, "pending"))
    {
      vpush_pending_finish (vpush_manager_get_pending (ap->manager), c->sid, c->status);
      g_error_free (original);
      /* or an earlier call's answer, refused now as the challenge had it already */
      if (!vpush_approval_claim (ap, c, c->status))
        vpush_approval_finish_final (ap, c, c->status);
      return;
    }
  /* still pending by this read, or not read, though the API may have taken the answer */
  if (ap->maybe_answered)
    remember_answer (ap);
  vpush_approval_finish_error (ap, original);
}

static void
answered_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;
  VpushFactor *factor;

  ap->posting = FALSE;
  c = vpush_verify_answer_challenge_finish (VPUSH_VERIFY (source), result, &error);
  ap->maybe_answered = vpush_verify_call_maybe_delivered (VPUSH_VERIFY (source), result);
  vpush_manager_note_api_result (ap->manager, error);
  if (c != NULL && g_str_equal (c->status, ap->status))
    {
      vpush_approval_finish_ok (ap, ap->status);
      return;
    }
  if (c != NULL)
    {
      /* The API took the answer (2xx), but its reply shows another status. The SDKs do not
       * trust that reply: they read the challenge again (protocol doc §3.7), and so does
       * this, with the answer taken as possibly made. */
      ap->maybe_answered = TRUE;
      ap->reply_stale = TRUE;
      error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_API, "challenge %s is %s after the answer",
                           c->sid, c->status);
    }
  else if (vpush_verify_call_accepted (VPUSH_VERIFY (source), result))
    {
      /* The API took the answer (2xx), and only its reply's body can't be read. The SDKs
       * ignore that body and read the challenge back (§3.7): so does this. */
      ap->maybe_answered = TRUE;
      ap->reply_stale = TRUE;
      ap->reply_unread = TRUE;
      g_prefix_error (&error,
                      "challenge %s: the reply to the answer can't be read: ", ap->challenge->sid);
    }

  /* A factor deleted meanwhile is why the API refused (404): the call says so. One whose
   * Delete began after the answer went out is still asked: the API may have taken it. Once
   * it is gone nothing can be read back: an answer that may have been taken is not known
   * to have failed. */
  factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);
  if (factor == NULL)
    {
      GError *lost = outcome_lost_to_delete (ap);

      g_error_free (error);
      vpush_approval_finish_error (
          ap, lost != NULL ? lost
                           : g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                          "factor %s was deleted", ap->challenge->factor_sid));
      return;
    }
  /* The API refused, or its replies to an answer that may have reached it were lost until
   * the retries ended (RetryTimeoutMs, or the challenge's expiry): find out whether it was
   * answered, and by whom, or expired meanwhile. Otherwise an approval the API took would
   * end Network, and the challenge be remembered as expired. */
  if (!ap->reply_unread && !ap->maybe_answered
      && !g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_API))
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  /* A lock drops the keys (as for the answer's retries): the one loaded before it signs
   * no read-back either. */
  if (vpush_keystore_get_locked (vpush_manager_get_keystore (ap->manager)))
    {
      GError *locked;

      if (ap->maybe_answered)
        {
          /* a call once the keyring is unlocked knows it for this one's answer */
          remember_answer (ap);
          locked = g_error_new (VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED,
                                "the answer to challenge %s was sent, and whether the Verify "
                                "API took it is unknown until the keyring is unlocked",
                                ap->challenge->sid);
        }
      else
        locked = g_error_new (VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED,
                              "the Verify API refused the answer to challenge %s (%s), and why "
                              "is unknown until the keyring is unlocked",
                              ap->challenge->sid, error->message);
      g_error_free (error);
      vpush_approval_finish_error (ap, locked);
      return;
    }
  g_clear_error (&ap->answer_error);
  ap->answer_error = error;
  vpush_verify_fetch_challenge_async (VPUSH_VERIFY (source), vpush_factor_get_record (factor),
                                      ap->key->key, ap->challenge->sid, NULL, classify_failure_cb,
                                      vpush_approval_ref (ap));
}

/* The challenge read from the API with the key the call loaded, for callback */
static void
fetch_challenge (VpushApproval *ap, GAsyncReadyCallback callback)
{
  VpushFactor *factor = factor_or_finish (ap);

  if (factor == NULL)
    return;
  vpush_verify_fetch_challenge_async (vpush_manager_get_verify (ap->manager),
                                      vpush_factor_get_record (factor), ap->key->key,
                                      ap->challenge->sid, NULL, callback, vpush_approval_ref (ap));
}

static void
answer_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  GError *error = NULL;
  VpushPendingEntry *entry;

  ap->key = vpush_manager_load_key_finish (ap->manager, result, &error);
  if (ap->key == NULL)
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  entry = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge->sid);
  if (entry != NULL && vpush_time_boot_us () - entry->fetched_at < FRESH_USEC)
    {
      if (take_newest_copy (ap, FALSE))
        authorize_answer (ap);
      return;
    }
  fetch_challenge (ap, refetched_cb);
}

void
vpush_approval_answer (VpushApproval *ap, VpushPendingEntry *entry)
{
  vpush_approval_stop_waiting (ap);
  /* what went wrong while looking for the challenge is no outcome now */
  g_clear_error (&ap->wait_error);
  entry->answering = TRUE;
  ap->challenge = vpush_challenge_ref (entry->challenge);
  vpush_manager_load_key_async (ap->manager, entry->challenge->factor_sid, NULL, answer_key_cb,
                                vpush_approval_ref (ap));
}

static void
claim_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  vpush_manager_note_api_result (ap->manager, error);
  if (c == NULL)
    {
      g_prefix_error (&error,
                      "challenge %s was answered, and reading whether by vpushd's answer failed: ",
                      ap->challenge->sid);
      vpush_approval_finish_error (ap, error);
      return;
    }
  /* a copy older than the poll that found it answered tells nothing new */
  if (g_str_equal (c->status, "pending"))
    {
      vpush_approval_finish_final (ap, ap->challenge, "responded");
      return;
    }
  vpush_pending_finish (vpush_manager_get_pending (ap->manager), c->sid, c->status);
  if (!vpush_approval_claim (ap, c, c->status))
    vpush_approval_finish_final (ap, c, c->status);
}

static void
claim_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  GError *error = NULL;

  ap->key = vpush_manager_load_key_finish (ap->manager, result, &error);
  if (ap->key == NULL)
    {
      vpush_approval_finish_error (ap, error);
      return;
    }
  fetch_challenge (ap, claim_read_cb);
}

gboolean
vpush_approval_claim (VpushApproval *ap, VpushChallenge *c, const gchar *status)
{
  VpushAnswerMemory *answers = vpush_manager_get_answers (ap->manager);
  g_autofree gchar *caller = caller_key (ap);
  const gchar *sent = vpush_answer_memory_lookup (answers, c->sid, caller, api_now (ap, c));

  if (sent == NULL)
    return FALSE;
  if (g_str_equal (status, "responded"))
    {
      /* a poll found it answered, not how: the challenge tells */
      vpush_approval_stop_waiting (ap);
      g_clear_error (&ap->wait_error);
      ap->challenge = vpush_challenge_ref (c);
      vpush_manager_load_key_async (ap->manager, c->factor_sid, NULL, claim_key_cb,
                                    vpush_approval_ref (ap));
      return TRUE;
    }
  if (!g_str_equal (sent, status) || !g_str_equal (status, ap->status))
    return FALSE;
  g_message ("challenge %s: an earlier answer of vpushd's was taken, and the Verify API shows "
             "it %s: done",
             c->sid, status);
  if (ap->challenge != c)
    {
      g_clear_pointer (&ap->challenge, vpush_challenge_unref);
      ap->challenge = vpush_challenge_ref (c);
    }
  vpush_approval_finish_ok (ap, status);
  return TRUE;
}
