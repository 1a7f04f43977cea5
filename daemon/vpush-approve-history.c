/* The API's own list of recent challenges, asked when a transaction id matches nothing
 * vpushd has seen. */
#include "vpush-approval.h"

#include "vpush-factor.h"
#include "vpush-history.h"
#include "vpush-poller.h"

/* How far back the API's own list of a factor's challenges is asked about a transaction
 * id: as long as vpushd keeps the challenges it saw finish (vpush-pending.c). */
#define HISTORY_SECONDS (30 * 60)

/* Nothing pending matches a transaction id, and vpushd saw nothing finish under it: the
 * API may know one that finished before vpushd started, or longer ago than it keeps them
 * (dbus-api.md: AlreadyResponded, Expired). One page of each factor's newest challenges,
 * shared with the other calls asking about the factor (vpush-history.c). */
static void
history_listed (const gchar *factor_sid, GPtrArray *challenges, const GError *error,
                gpointer user_data)
{
  VpushApproval *ap = user_data;
  VpushManager *manager = ap->manager;
  VpushConfig *config = vpush_manager_get_config (manager);
  g_autoptr (GPtrArray) matches = NULL; /* finished under the transaction id, borrowed */
  gint64 now = vpush_verify_now (vpush_manager_get_verify (manager));
  gint64 since = now - HISTORY_SECONDS;

  ap->history_running--;
  if (challenges == NULL)
    {
      /* no worse off than without the list: NotFound at the timeout, as before */
      g_debug ("listing the challenges of factor %s failed: %s", factor_sid, error->message);
      goto out;
    }
  /* the call may have ended, or begun answering, meanwhile */
  if (ap->done || ap->challenge != NULL)
    goto out;
  matches = g_ptr_array_new ();
  for (guint i = 0; i < challenges->len; i++)
    {
      VpushChallenge *c = g_ptr_array_index (challenges, i);

      if (c->created_at < since
          || g_strcmp0 (vpush_challenge_get_hidden (c, config->transaction_id_key),
                        ap->transaction_id)
                 != 0)
        continue;
      /* a newer one under it arrived since the poll (a retried login): it is the candidate,
       * once a poll has fetched it (a list item has nothing to sign) */
      if (g_str_equal (c->status, "pending"))
        {
          vpush_poller_poll_async (vpush_manager_get_poller (manager), factor_sid, NULL, NULL,
                                   NULL);
          goto out;
        }
      g_ptr_array_add (matches, c);
    }
  for (guint i = 0; i < matches->len; i++)
    vpush_pending_note_finished (vpush_manager_get_pending (manager),
                                 g_ptr_array_index (matches, i), now);
out:
  if (ap->history_running == 0 && !ap->done && ap->challenge == NULL)
    vpush_approval_evaluate (ap);
}

void
vpush_approval_ask_history (VpushApproval *ap)
{
  g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);
  VpushHistory *history = vpush_manager_get_history (ap->manager);

  ap->history_asked = TRUE;
  for (GList *l = factors; l; l = l->next)
    {
      const gchar *sid = vpush_factor_get_sid (l->data);

      if ((ap->factor_sid != NULL && !g_str_equal (sid, ap->factor_sid))
          || !vpush_approval_factor_allowed (ap, sid))
        continue;
      ap->history_running++;
      vpush_history_list (history, sid, history_listed, vpush_approval_ref (ap),
                          (GDestroyNotify)vpush_approval_unref);
    }
  g_debug ("a call of %s found nothing pending: it asks the API for the recent challenges of "
           "%u factors",
           ap->caller, ap->history_running);
}
