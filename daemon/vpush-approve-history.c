/* The API's own list of recent challenges, asked when a transaction id matches nothing
 * vpushd has seen. */
#include "vpush-approval.h"

#include "vpush-factor.h"
#include "vpush-poller.h"

/* How far back the API's own list of a factor's challenges is asked about a transaction
 * id: as long as vpushd keeps the challenges it saw finish (vpush-pending.c). */
#define HISTORY_SECONDS   (30 * 60)
#define HISTORY_PAGE_SIZE 50

/* Nothing pending matches a transaction id, and vpushd saw nothing finish under it: the
 * API may know one that finished before vpushd started, or longer ago than it keeps them
 * (dbus-api.md: AlreadyResponded, Expired). One page of each factor's newest challenges. */
typedef struct
{
  VpushApproval *ap;
  gchar *factor_sid;
  VpushKeyBox *key;
} HistoryLookup;

static void
history_lookup_free (HistoryLookup *h)
{
  h->ap->history_running--;
  /* the call may have ended, or begun answering, meanwhile */
  if (h->ap->history_running == 0 && !h->ap->done && h->ap->challenge == NULL)
    vpush_approval_evaluate (h->ap);
  vpush_approval_unref (h->ap);
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

void
vpush_approval_ask_history (VpushApproval *ap)
{
  g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);

  ap->history_asked = TRUE;
  for (GList *l = factors; l; l = l->next)
    {
      const gchar *sid = vpush_factor_get_sid (l->data);
      HistoryLookup *h;

      if ((ap->factor_sid != NULL && !g_str_equal (sid, ap->factor_sid))
          || !vpush_approval_factor_allowed (ap, sid))
        continue;
      h = g_new0 (HistoryLookup, 1);
      h->ap = vpush_approval_ref (ap);
      h->factor_sid = g_strdup (sid);
      ap->history_running++;
      vpush_manager_load_key_async (ap->manager, sid, NULL, history_key_cb, h);
    }
}
