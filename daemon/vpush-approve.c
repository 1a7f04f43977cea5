#include "vpush-approve.h"

#include <string.h>

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-factor.h"
#include "vpush-log.h"
#include "vpush-names.h"
#include "vpush-poller.h"

/* A cached challenge fetched this recently is answered without another GET. */
#define FRESH_USEC (30 * G_USEC_PER_SEC)
/* How far back the API's own list of a factor's challenges is asked about a transaction
 * id: as long as vpushd keeps the challenges it saw finish (vpush-pending.c). */
#define HISTORY_SECONDS    (30 * 60)
#define HISTORY_PAGE_SIZE  50
#define TIMEOUT_MAX_MS     20000
#define TRANSACTION_ID_MAX 1024

typedef struct
{
  VpushManager *manager;
  GDBusMethodInvocation *invocation;
  gchar *status; /* approved, denied */
  gchar *transaction_id;
  gchar *challenge_sid;
  gchar *factor_sid;
  guint timeout_ms;
  VpushMatch match;
  VpushAccess *access; /* what the policy let the caller in with */
  gchar *caller;
  gchar *rule; /* the rule that allowed the answer */

  gulong changed_id;
  guint timeout_id;
  guint caller_watch_id; /* while waiting: the caller's unique name on the bus */
  gboolean waiting;
  gboolean polling; /* the first poll of every factor is running: judge after all of it */
  gboolean polled;  /* that poll is over */
  gboolean timed_out;
  gboolean history_asked; /* transaction id: the factors' recent challenges were listed */
  guint history_running;  /* those lists in flight */
  gboolean done;
  gboolean maybe_answered; /* an attempt of the answer POST may have gone through unseen */
  GError *wait_error;      /* why the last poll or fetch failed, if it did */

  VpushChallenge *challenge; /* the one being answered */
  VpushKeyBox *key;
  VpushKeyBox *fetch_key; /* challenge-sid lookup: the key of the factor being asked */
  guint fetch_index;      /* challenge-sid lookup: which factor is being asked */
  GPtrArray *fetch_factors;
} Approval;

static void
approval_clear (gpointer data)
{
  Approval *ap = data;

  g_clear_object (&ap->manager);
  g_clear_object (&ap->invocation);
  g_free (ap->status);
  g_free (ap->transaction_id);
  g_free (ap->challenge_sid);
  g_free (ap->factor_sid);
  g_clear_pointer (&ap->access, vpush_access_unref);
  g_free (ap->caller);
  g_free (ap->rule);
  g_clear_error (&ap->wait_error);
  g_clear_pointer (&ap->challenge, vpush_challenge_unref);
  g_clear_pointer (&ap->key, vpush_key_box_unref);
  g_clear_pointer (&ap->fetch_key, vpush_key_box_unref);
  g_clear_pointer (&ap->fetch_factors, g_ptr_array_unref);
}

static Approval *
approval_ref (Approval *ap)
{
  return g_rc_box_acquire (ap);
}

static void
approval_unref (Approval *ap)
{
  g_rc_box_release_full (ap, approval_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Approval, approval_unref)

static void evaluate (Approval *ap);

static VpushAction
action (Approval *ap)
{
  return g_str_equal (ap->status, "approved") ? VPUSH_ACTION_APPROVE : VPUSH_ACTION_DENY;
}

/* A factor the caller may not answer for: its challenges are no candidates. */
static gboolean
factor_allowed (Approval *ap, const gchar *factor_sid)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, factor_sid);

  return factor != NULL && ap->access != NULL
         && vpush_access_allows_factor (ap->access, vpush_factor_get_record (factor));
}

static const gchar *
match_text (Approval *ap, gchar **buf)
{
  *buf = ap->transaction_id ? g_strdup_printf ("transaction id “%s”", ap->transaction_id)
                            : g_strdup_printf ("challenge %s", ap->challenge_sid);
  return *buf;
}

static void
stop_waiting (Approval *ap)
{
  if (ap->changed_id)
    g_clear_signal_handler (&ap->changed_id, vpush_manager_get_pending (ap->manager));
  g_clear_handle_id (&ap->timeout_id, g_source_remove);
  g_clear_handle_id (&ap->caller_watch_id, g_bus_unwatch_name);
  if (ap->waiting)
    {
      ap->waiting = FALSE;
      approval_unref (ap); /* the waiting reference */
    }
}

static void
release_entry (Approval *ap)
{
  VpushPendingEntry *entry;

  if (ap->challenge == NULL)
    return;
  entry = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge->sid);
  if (entry)
    entry->answering = FALSE;
}

/* The policy's decisions are in the audit trail (vpush-bouncer.c); this is the outcome
 * of an allowed one. */
static void
log_outcome (Approval *ap, const gchar *message_id, const gchar *decision, const gchar *result)
{
  g_autofree gchar *what = NULL;
  const GLogField fields[] = {
    { VPUSH_LOG_FIELD_ACTION, vpush_action_to_string (action (ap)), -1 },
    { VPUSH_LOG_FIELD_DECISION, decision, -1 },
    { VPUSH_LOG_FIELD_RULE, ap->rule ? ap->rule : vpush_access_get_rule (ap->access), -1 },
    { VPUSH_LOG_FIELD_FACTOR, ap->challenge ? ap->challenge->factor_sid : ap->factor_sid, -1 },
    { VPUSH_LOG_FIELD_CHALLENGE, ap->challenge ? ap->challenge->sid : ap->challenge_sid, -1 },
    { VPUSH_LOG_FIELD_CALLER, ap->caller, -1 },
  };

  vpush_log_fields (G_LOG_LEVEL_MESSAGE, message_id, fields, G_N_ELEMENTS (fields),
                    "%s of %s for %s: %s", vpush_action_to_string (action (ap)),
                    match_text (ap, &what), ap->caller, result);
}

static void
finish_error (Approval *ap, GError *error)
{
  g_autoptr (Approval) hold G_GNUC_UNUSED = approval_ref (ap);
  gboolean answering = ap->challenge != NULL;

  if (ap->done)
    {
      g_error_free (error);
      return;
    }
  ap->done = TRUE;
  stop_waiting (ap);
  release_entry (ap);
  /* a refusal is in the audit trail already */
  if (ap->access != NULL && !g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    {
      g_autofree gchar *result = g_strdup_printf ("not done: %s", error->message);

      log_outcome (ap, VPUSH_MSGID_DECISION, VPUSH_DECISION_FAILED, result);
    }
  vpush_manager_return_error (ap->invocation, error);
  g_error_free (error);
  /* Calls that matched the same challenge waited for this answer: it is a candidate
   * again, or gone (expired, answered elsewhere, its factor deleted). Either way they
   * look again now; nothing else may wake them. */
  if (answering)
    vpush_pending_emit_changed (vpush_manager_get_pending (ap->manager));
}

/* The challenge is answered as asked: the caller hears it first, then the challenge is
 * retired (Challenge object removed) and the outcome logged. Nothing runs between the
 * two on the main loop, so no later call sees the challenge still pending. */
static void
finish_ok (Approval *ap, const gchar *final_status)
{
  g_autoptr (Approval) hold G_GNUC_UNUSED = approval_ref (ap);
  g_autofree gchar *result = NULL;

  if (ap->done)
    return;
  ap->done = TRUE;
  stop_waiting (ap);
  g_dbus_method_invocation_return_value (ap->invocation, g_variant_new ("(s)", ap->challenge->sid));
  vpush_pending_finish (vpush_manager_get_pending (ap->manager), ap->challenge->sid, final_status);
  result = g_strdup_printf ("challenge %s of factor %s is %s", ap->challenge->sid,
                            ap->challenge->factor_sid, ap->status);
  log_outcome (ap, action (ap) == VPUSH_ACTION_APPROVE ? VPUSH_MSGID_APPROVED : VPUSH_MSGID_DENIED,
               NULL, result);
  /* calls that matched the same challenge waited for this answer: it is theirs now */
  vpush_pending_emit_changed (vpush_manager_get_pending (ap->manager));
}

static GError *
final_status_error (const gchar *sid, const gchar *status)
{
  if (g_str_equal (status, "expired"))
    return g_error_new (VPUSH_ERROR, VPUSH_ERROR_EXPIRED, "challenge %s has expired", sid);
  return g_error_new (VPUSH_ERROR, VPUSH_ERROR_ALREADY_RESPONDED, "challenge %s was already %s",
                      sid, status);
}

static gboolean
matches (Approval *ap, VpushChallenge *c)
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
  return factor_allowed (ap, c->factor_sid);
}

/* Answering */

static void answered_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
post_answer (Approval *ap)
{
  VpushVerify *verify = vpush_manager_get_verify (ap->manager);
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);

  if (factor == NULL)
    {
      finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "factor %s was deleted",
                                     ap->challenge->factor_sid));
      return;
    }
  /* never send an answer for an expired challenge */
  if (ap->challenge->expires_at <= vpush_verify_now (verify))
    {
      vpush_pending_finish (vpush_manager_get_pending (ap->manager), ap->challenge->sid, "expired");
      finish_error (ap, final_status_error (ap->challenge->sid, "expired"));
      return;
    }
  vpush_verify_answer_challenge_async (verify, vpush_factor_get_record (factor), ap->key->key,
                                       ap->challenge, ap->status, NULL, answered_cb,
                                       approval_ref (ap));
}

static void
answer_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushAccess) access = NULL;
  GError *error = NULL;

  access = vpush_bouncer_authorize_finish (result, &error);
  if (access == NULL)
    {
      finish_error (ap, error);
      return;
    }
  g_free (ap->rule);
  ap->rule = g_strdup (vpush_access_get_rule (access));
  post_answer (ap);
}

/* The policy's last word, on the very challenge about to be signed: its factor, its age
 * and the session as they are now. */
static void
authorize_answer (Approval *ap)
{
  VpushFactor *factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);

  if (factor == NULL)
    {
      finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "factor %s was deleted",
                                     ap->challenge->factor_sid));
      return;
    }
  vpush_bouncer_authorize_async (ap->manager, ap->invocation, action (ap), ap->match,
                                 vpush_factor_get_record (factor), ap->challenge,
                                 answer_authorized_cb, approval_ref (ap));
}

static void
refetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (GError) error = NULL;
  VpushPending *pending = vpush_manager_get_pending (ap->manager);

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  vpush_manager_note_api_result (ap->manager, error);
  if (c == NULL)
    {
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND))
        vpush_pending_finish (pending, ap->challenge->sid, "deleted");
      finish_error (ap, g_steal_pointer (&error));
      return;
    }
  if (!g_str_equal (c->status, "pending"))
    {
      vpush_pending_finish (pending, c->sid, c->status);
      finish_error (ap, final_status_error (c->sid, c->status));
      return;
    }
  vpush_pending_put (pending, c);
  /* the hidden details as fetched right before signing must still match */
  if (!matches (ap, c))
    {
      finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                     "challenge %s no longer matches", c->sid));
      return;
    }
  g_clear_pointer (&ap->challenge, vpush_challenge_unref);
  ap->challenge = g_steal_pointer (&c);
  authorize_answer (ap);
}

static void
classify_failure_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *original = g_steal_pointer (&ap->wait_error);

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, NULL);
  /* The reply to an attempt was lost and the retry refused (409): if the challenge now
   * says what was asked, that attempt was ours. Any other status was someone else's. */
  if (c != NULL && ap->maybe_answered && g_str_equal (c->status, ap->status))
    {
      g_message ("challenge %s: the reply to its answer was lost, and the Verify API shows it "
                 "%s: done (%s)",
                 c->sid, c->status, original->message);
      g_error_free (original);
      finish_ok (ap, c->status);
      return;
    }
  if (c != NULL && !g_str_equal (c->status, "pending"))
    {
      vpush_pending_finish (vpush_manager_get_pending (ap->manager), c->sid, c->status);
      g_error_free (original);
      finish_error (ap, final_status_error (c->sid, c->status));
      return;
    }
  finish_error (ap, original);
}

static void
answered_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;
  VpushFactor *factor;

  c = vpush_verify_answer_challenge_finish (VPUSH_VERIFY (source), result, &error);
  ap->maybe_answered = vpush_verify_call_maybe_delivered (VPUSH_VERIFY (source), result);
  vpush_manager_note_api_result (ap->manager, error);
  if (c != NULL && g_str_equal (c->status, ap->status))
    {
      finish_ok (ap, ap->status);
      return;
    }
  if (c != NULL)
    error = g_error_new (VPUSH_ERROR, VPUSH_ERROR_API, "challenge %s is %s after the answer",
                         c->sid, c->status);

  /* the API refused: find out whether the challenge was answered or expired meanwhile */
  factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);
  if (factor == NULL || !g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_API))
    {
      finish_error (ap, error);
      return;
    }
  ap->wait_error = error;
  vpush_verify_fetch_challenge_async (VPUSH_VERIFY (source), vpush_factor_get_record (factor),
                                      ap->key->key, ap->challenge->sid, NULL, classify_failure_cb,
                                      approval_ref (ap));
}

static void
answer_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  GError *error = NULL;
  VpushPendingEntry *entry;
  VpushFactor *factor;

  ap->key = vpush_manager_load_key_finish (ap->manager, result, &error);
  if (ap->key == NULL)
    {
      finish_error (ap, error);
      return;
    }
  entry = vpush_pending_lookup (vpush_manager_get_pending (ap->manager), ap->challenge->sid);
  if (entry != NULL && g_get_monotonic_time () - entry->fetched_at < FRESH_USEC)
    {
      authorize_answer (ap);
      return;
    }
  factor = vpush_manager_lookup_factor (ap->manager, ap->challenge->factor_sid);
  if (factor == NULL)
    {
      finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "factor %s was deleted",
                                     ap->challenge->factor_sid));
      return;
    }
  vpush_verify_fetch_challenge_async (vpush_manager_get_verify (ap->manager),
                                      vpush_factor_get_record (factor), ap->key->key,
                                      ap->challenge->sid, NULL, refetched_cb, approval_ref (ap));
}

static void
answer (Approval *ap, VpushPendingEntry *entry)
{
  stop_waiting (ap);
  entry->answering = TRUE;
  ap->challenge = vpush_challenge_ref (entry->challenge);
  vpush_manager_load_key_async (ap->manager, entry->challenge->factor_sid, NULL, answer_key_cb,
                                approval_ref (ap));
}

/* Waiting for the challenge to arrive */

static void
on_pending_changed (VpushPending *pending, Approval *ap)
{
  /* finishing drops the waiting reference, which may be the last one */
  g_autoptr (Approval) hold G_GNUC_UNUSED = approval_ref (ap);

  if (!ap->polling)
    evaluate (ap);
}

static gboolean
on_timeout (gpointer user_data)
{
  Approval *ap = user_data;
  g_autoptr (Approval) hold G_GNUC_UNUSED = approval_ref (ap);

  ap->timeout_id = 0;
  ap->timed_out = TRUE;
  evaluate (ap);
  return G_SOURCE_REMOVE;
}

/* Nobody is left to want this answer: stop waiting instead of answering the challenge
 * if it arrives later. */
static void
on_caller_vanished (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  Approval *ap = user_data;
  g_autoptr (Approval) hold G_GNUC_UNUSED = approval_ref (ap);

  finish_error (ap,
                g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the caller %s left the bus", name));
}

static void
note_wait_error (Approval *ap, GError *error)
{
  g_clear_error (&ap->wait_error);
  ap->wait_error = error;
}

static void
poll_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  GError *error = NULL;

  if (!vpush_poller_poll_finish ((VpushPoller *)source, result, &error))
    note_wait_error (ap, error);
  ap->polling = FALSE;
  ap->polled = TRUE;
  evaluate (ap);
}

static void fetch_next_factor (Approval *ap);

static void
direct_fetch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;
  VpushPending *pending = vpush_manager_get_pending (ap->manager);

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  if (c == NULL)
    {
      /* another factor's challenge, or none: ask the next factor */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK)
          || g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
        note_wait_error (ap, error);
      else
        g_error_free (error);
      ap->fetch_index++;
      fetch_next_factor (ap);
      return;
    }
  /* this call answers the challenge by now: what the API says of it is its answer's */
  if (ap->done || ap->challenge != NULL)
    return;
  if (g_str_equal (c->status, "pending"))
    {
      vpush_pending_put (pending, c);
      evaluate (ap);
      return;
    }
  finish_error (ap, final_status_error (c->sid, c->status));
}

static void
direct_fetch_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Approval) ap = user_data;
  g_autoptr (VpushKeyBox) key = NULL;
  GError *error = NULL;
  VpushFactor *factor;

  key = vpush_manager_load_key_finish (ap->manager, result, &error);
  factor = vpush_manager_lookup_factor (ap->manager,
                                        g_ptr_array_index (ap->fetch_factors, ap->fetch_index));
  if (key == NULL || factor == NULL)
    {
      if (error)
        note_wait_error (ap, error);
      ap->fetch_index++;
      fetch_next_factor (ap);
      return;
    }
  /* the client may sign again (clock retry) after this returns: keep the key alive */
  g_clear_pointer (&ap->fetch_key, vpush_key_box_unref);
  ap->fetch_key = g_steal_pointer (&key);
  vpush_verify_fetch_challenge_async (vpush_manager_get_verify (ap->manager),
                                      vpush_factor_get_record (factor), ap->fetch_key->key,
                                      ap->challenge_sid, NULL, direct_fetch_cb, ap);
  ap = NULL; /* owned by the callback now */
}

/* A challenge sid names one challenge: ask for it directly instead of polling. */
static void
fetch_next_factor (Approval *ap)
{
  if (ap->challenge != NULL)
    return;
  if (ap->done || ap->fetch_index >= ap->fetch_factors->len)
    {
      evaluate (ap);
      return;
    }
  vpush_manager_load_key_async (ap->manager, g_ptr_array_index (ap->fetch_factors, ap->fetch_index),
                                NULL, direct_fetch_key_cb, approval_ref (ap));
}

static void
start_waiting (Approval *ap)
{
  VpushPending *pending = vpush_manager_get_pending (ap->manager);

  ap->waiting = TRUE;
  approval_ref (ap);
  ap->changed_id = g_signal_connect (pending, "changed", G_CALLBACK (on_pending_changed), ap);
  ap->timeout_id = g_timeout_add (ap->timeout_ms, on_timeout, ap);
  ap->caller_watch_id = g_bus_watch_name_on_connection (
      g_dbus_method_invocation_get_connection (ap->invocation),
      g_dbus_method_invocation_get_sender (ap->invocation), G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
      on_caller_vanished, ap, NULL);

  if (ap->challenge_sid)
    {
      g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);

      ap->fetch_factors = g_ptr_array_new_with_free_func (g_free);
      for (GList *l = factors; l; l = l->next)
        {
          const gchar *sid = vpush_factor_get_sid (l->data);

          if ((ap->factor_sid == NULL || g_str_equal (sid, ap->factor_sid))
              && factor_allowed (ap, sid))
            g_ptr_array_add (ap->fetch_factors, g_strdup (sid));
        }
      fetch_next_factor (ap);
      return;
    }
  ap->polling = TRUE;
  vpush_poller_poll_async (vpush_manager_get_poller (ap->manager), ap->factor_sid, NULL,
                           poll_done_cb, approval_ref (ap));
}

/* The finished challenges a transaction id may match: of the factors the call may answer
 * for, so that a newer one of another factor does not hide them. */
static gboolean
finished_allowed (const gchar *factor_sid, gpointer user_data)
{
  Approval *ap = user_data;

  return (ap->factor_sid == NULL || g_str_equal (factor_sid, ap->factor_sid))
         && factor_allowed (ap, factor_sid);
}

/* Nothing pending matches a transaction id, and vpushd saw nothing finish under it: the
 * API may know one that finished before vpushd started, or longer ago than it keeps them
 * (dbus-api.md: AlreadyResponded, Expired). One page of each factor's newest challenges. */
typedef struct
{
  Approval *ap;
  gchar *factor_sid;
  VpushKeyBox *key;
} HistoryLookup;

static void
history_lookup_free (HistoryLookup *h)
{
  h->ap->history_running--;
  /* the call may have ended, or begun answering, meanwhile */
  if (h->ap->history_running == 0 && !h->ap->done && h->ap->challenge == NULL)
    evaluate (h->ap);
  approval_unref (h->ap);
  g_free (h->factor_sid);
  g_clear_pointer (&h->key, vpush_key_box_unref);
  g_free (h);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HistoryLookup, history_lookup_free)

static void
history_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (HistoryLookup) h = user_data;
  VpushManager *manager = h->ap->manager;
  VpushConfig *config = vpush_manager_get_config (manager);
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) matches = NULL; /* finished under the transaction id, borrowed */
  gint64 now = vpush_verify_now (VPUSH_VERIFY (source));
  gint64 since = now - HISTORY_SECONDS;

  page = vpush_verify_list_challenges_finish (VPUSH_VERIFY (source), result, &error);
  if (page == NULL)
    {
      /* no worse off than without the list: NotFound at the timeout, as before */
      g_debug ("listing the challenges of factor %s failed: %s", h->factor_sid, error->message);
      return;
    }
  matches = g_ptr_array_new ();
  for (guint i = 0; i < page->challenges->len; i++)
    {
      VpushChallenge *c = g_ptr_array_index (page->challenges, i);

      if (c->created_at < since
          || g_strcmp0 (vpush_challenge_get_hidden (c, config->transaction_id_key),
                        h->ap->transaction_id)
                 != 0)
        continue;
      /* a newer one under it arrived since the poll (a retried login): it is the candidate,
       * once a poll has fetched it (a list item has nothing to sign) */
      if (g_str_equal (c->status, "pending"))
        {
          vpush_poller_poll_async (vpush_manager_get_poller (manager), h->factor_sid, NULL, NULL,
                                   NULL);
          return;
        }
      g_ptr_array_add (matches, c);
    }
  for (guint i = 0; i < matches->len; i++)
    vpush_pending_note_finished (vpush_manager_get_pending (manager),
                                 g_ptr_array_index (matches, i), now);
}

static void
history_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (HistoryLookup) h = user_data;
  g_autoptr (GError) error = NULL;
  VpushFactor *factor;
  VpushVerify *verify;
  VpushKey *key;

  h->key = vpush_manager_load_key_finish (h->ap->manager, result, &error);
  factor = vpush_manager_lookup_factor (h->ap->manager, h->factor_sid);
  if (h->key == NULL || factor == NULL || h->ap->done || h->ap->challenge != NULL)
    return;
  /* h keeps the key alive: the client may sign again (clock retry) after this returns */
  verify = vpush_manager_get_verify (h->ap->manager);
  key = h->key->key;
  vpush_verify_list_challenges_async (verify, vpush_factor_get_record (factor), key, NULL, "desc",
                                      HISTORY_PAGE_SIZE, NULL, NULL, history_listed_cb,
                                      g_steal_pointer (&h));
}

static void
ask_history (Approval *ap)
{
  g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);

  ap->history_asked = TRUE;
  for (GList *l = factors; l; l = l->next)
    {
      const gchar *sid = vpush_factor_get_sid (l->data);
      HistoryLookup *h;

      if ((ap->factor_sid != NULL && !g_str_equal (sid, ap->factor_sid))
          || !factor_allowed (ap, sid))
        continue;
      h = g_new0 (HistoryLookup, 1);
      h->ap = approval_ref (ap);
      h->factor_sid = g_strdup (sid);
      ap->history_running++;
      vpush_manager_load_key_async (ap->manager, sid, NULL, history_key_cb, h);
    }
}

static void
evaluate (Approval *ap)
{
  VpushPending *pending = vpush_manager_get_pending (ap->manager);
  VpushConfig *config = vpush_manager_get_config (ap->manager);
  gint64 now = vpush_verify_now (vpush_manager_get_verify (ap->manager));
  g_autoptr (GList) entries = NULL;
  VpushPendingEntry *live = NULL;
  VpushChallenge *expired = NULL;
  VpushChallenge *finished = NULL;
  const gchar *final_status = NULL;
  guint n_live = 0;
  gboolean settled;

  if (ap->done || ap->challenge != NULL)
    return;
  /* a challenge sid names one challenge for good; a transaction id may come back on a
   * newer challenge, so one that expired or was answered is the outcome once a poll has
   * found no newer one, or the wait is over */
  settled = ap->challenge_sid != NULL || ap->polled || ap->timed_out;

  entries = vpush_pending_get_entries (pending);
  for (GList *l = entries; l; l = l->next)
    {
      VpushPendingEntry *entry = l->data;

      if (!matches (ap, entry->challenge))
        continue;
      if (entry->challenge->expires_at <= now)
        expired = entry->challenge;
      else
        {
          live = entry;
          n_live++;
        }
    }

  if (n_live > 1)
    {
      finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_AMBIGUOUS,
                                     "%u pending challenges match; none was answered", n_live));
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
      answer (ap, live);
      return;
    }
  if (expired && settled)
    {
      finish_error (ap, final_status_error (expired->sid, "expired"));
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
      && factor_allowed (ap, finished->factor_sid) && !g_str_equal (final_status, "deleted"))
    {
      finish_error (ap, final_status_error (finished->sid, final_status));
      return;
    }
  /* once the call's own poll found nothing, while the API answers; timeout-ms still ends
   * the call, with what is known by then */
  if (ap->transaction_id != NULL && ap->polled && !ap->timed_out && ap->wait_error == NULL
      && !ap->history_asked)
    ask_history (ap);
  /* its answer decides between NotFound and a final status */
  if (ap->history_running > 0 && !ap->timed_out)
    return;

  if (ap->wait_error && (g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED)))
    {
      finish_error (ap, g_steal_pointer (&ap->wait_error));
      return;
    }
  if (ap->timed_out)
    {
      g_autofree gchar *what = NULL;
      const GError *failing = vpush_manager_get_api_failure (ap->manager);

      /* an unreachable API is not the same as no such challenge; nor is one that still
       * answers 5xx or 429 to the poll or fetch being retried right now */
      if (ap->wait_error && g_error_matches (ap->wait_error, VPUSH_ERROR, VPUSH_ERROR_NETWORK))
        finish_error (ap, g_steal_pointer (&ap->wait_error));
      else if (failing != NULL)
        finish_error (ap, g_error_copy (failing));
      else
        finish_error (ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
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
  g_autoptr (Approval) ap = user_data;
  GError *error = NULL;

  ap->access = vpush_bouncer_authorize_finish (result, &error);
  if (ap->access == NULL)
    {
      finish_error (ap, error);
      return;
    }
  ap->caller = vpush_caller_describe (vpush_access_get_caller (ap->access));
  if (ap->factor_sid && vpush_manager_lookup_factor (ap->manager, ap->factor_sid) == NULL)
    {
      finish_error (
          ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "no factor %s", ap->factor_sid));
      return;
    }
  /* Factor objects are public, so naming one the policy keeps from this caller is told as
   * such (dbus-api.md); without factor-sid its challenges are simply no candidates */
  if (ap->factor_sid && !factor_allowed (ap, ap->factor_sid))
    {
      g_autofree gchar *reason
          = g_strdup_printf ("no rule lets %s %s for factor %s", ap->caller,
                             vpush_action_to_string (action (ap)), ap->factor_sid);

      log_outcome (ap, VPUSH_MSGID_DECISION, VPUSH_DECISION_REFUSED, reason);
      finish_error (ap, g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, reason));
      return;
    }
  evaluate (ap);
}

static gboolean
check_match (Approval *ap, GVariant *match, GError **error)
{
  static const VpushArgSpec specs[] = {
    { "transaction-id", "s", FALSE },
    { "challenge-sid", "s", FALSE },
    { "factor-sid", "s", FALSE },
    { "timeout-ms", "u", FALSE },
  };
  g_autoptr (GHashTable) args = NULL;
  const gchar *txn;
  const gchar *sid;
  const gchar *factor;

  if (!vpush_args_parse (match, "match", specs, G_N_ELEMENTS (specs), &args, error))
    return FALSE;

  txn = vpush_args_get_string (args, "transaction-id");
  sid = vpush_args_get_string (args, "challenge-sid");
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
  factor = vpush_args_get_string (args, "factor-sid");
  if (factor && !vpush_args_check_sid (factor, "YF", "match: factor-sid", error))
    return FALSE;

  ap->timeout_ms = vpush_args_get_uint32 (
      args, "timeout-ms", vpush_manager_get_config (ap->manager)->default_timeout_ms);
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
  g_autoptr (Approval) ap = g_rc_box_new0 (Approval);
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
  what = action (ap);
  how = ap->match;
  vpush_bouncer_authorize_async (manager, invocation, what, how, NULL, NULL, access_cb,
                                 g_steal_pointer (&ap));
}
