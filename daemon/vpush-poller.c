#include "vpush-poller.h"

#include "vpush-error.h"
#include "vpush-factor.h"
#include "vpush-push.h"
#include "vpush-time.h"

#define LIST_PAGE_SIZE 50
#define LIST_MAX_PAGES 10
#define JITTER         0.1 /* ±10 % of the interval */
/* After polls the API failed or refused, the interval doubles, up to 8 times, and at most
 * to BACKOFF_MAX_S unless the interval itself is longer; a poll that works resets it. A
 * poll works when its list does: a single GET that fails costs that challenge only. */
#define BACKOFF_DOUBLINGS_MAX 3
#define BACKOFF_MAX_S         600
/* The next scheduled poll, and one the push channel asks for, come no sooner than a
 * Retry-After of the last poll asked for, taken up to this (as a push reconnect's): a
 * longer wait would leave challenges unseen past their expiry. */
#define RETRY_AFTER_MAX_S 300
/* Requests of all polls together in flight at once; the rest wait their turn. A poll of
 * every factor (start, Refresh) would otherwise send a list per factor and a GET per new
 * challenge all at once: hundreds of connections, and a burst of buffers the heap keeps. */
#define REQUESTS_MAX 6

typedef struct
{
  VpushPoller *poller;
  gchar *sid;
  guint timer;
  gint64 due;        /* monotonic µs the timer fires at */
  gint64 not_before; /* boot-time µs (suspends count) a Retry-After of the last poll asked
                      * for runs until; 0 */
  gboolean running;
  gboolean again;   /* a poll was asked for while one was running */
  gboolean removed; /* the factor is gone; freed when the running poll ends */
  guint failures;   /* polls in a row the API failed or refused */
  GList *current;   /* GTasks completed when the running poll ends */
  GList *next;      /* GTasks waiting for the next poll */
  GList *deferred;  /* GTasks waiting for the next poll, due no sooner than not_before */
  GError *error;    /* of the running poll: its first failure, for the callers */

  /* the running poll */
  gint64 started; /* CLOCK_BOOTTIME µs, as the pending set's fetched_at */
  VpushKeyBox *key;
  GHashTable *listed;    /* sids seen pending in this poll */
  GHashTable *unfetched; /* sid → VpushChallenge: listed pending, new, its GET not done */
  gboolean incomplete;   /* not every challenge was seen: none is taken as gone */
  gboolean list_failed;  /* the key or a page of the list failed: the poll did not work */
  guint pages;
  guint outstanding; /* single GETs in flight */
} FactorPoll;

struct _VpushPoller
{
  VpushManager *manager;
  GHashTable *factors; /* sid → FactorPoll */
  GQueue waiting;      /* Request, to be sent when one in flight is done */
  guint in_flight;
};

/* A list or single GET of a running poll, counted in fp->outstanding from when it is
 * queued: the poll (and fp) stays until it is done. */
typedef struct
{
  FactorPoll *fp;
  gchar *sid;        /* a single GET of this challenge; NULL: a list */
  gchar *page_token; /* a list: the page, NULL for the first */
} Request;

/* A poll_async() call across several factors: completes when all of them have. */
typedef struct
{
  guint outstanding;
  gboolean several; /* of more than one factor: an error names its factor */
  GError *error;
} PollAll;

static void schedule (FactorPoll *fp);
static void run (FactorPoll *fp);
static void request_send (VpushPoller *self, Request *req);

static void
complete_tasks (GList *tasks, const GError *error)
{
  for (GList *l = tasks; l; l = l->next)
    {
      if (error)
        g_task_return_error (l->data, g_error_copy (error));
      else
        g_task_return_boolean (l->data, TRUE);
      g_object_unref (l->data);
    }
  g_list_free (tasks);
}

/* A factor that is gone has nothing left to poll: the polls asked of it are done, not
 * failed. A Refresh of every factor must not fail because another caller deleted one;
 * an approval that named the factor finds it gone by itself. */
static void
factor_poll_free (FactorPoll *fp)
{
  g_clear_handle_id (&fp->timer, g_source_remove);
  complete_tasks (g_steal_pointer (&fp->current), NULL);
  complete_tasks (g_steal_pointer (&fp->next), NULL);
  complete_tasks (g_steal_pointer (&fp->deferred), NULL);
  g_clear_error (&fp->error);
  g_clear_pointer (&fp->key, vpush_key_box_unref);
  g_clear_pointer (&fp->listed, g_hash_table_unref);
  g_clear_pointer (&fp->unfetched, g_hash_table_unref);
  g_free (fp->sid);
  g_free (fp);
}

VpushPoller *
vpush_poller_new (VpushManager *manager)
{
  VpushPoller *self = g_new0 (VpushPoller, 1);

  self->manager = manager;
  self->factors
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)factor_poll_free);
  return self;
}

static void
request_free (Request *req)
{
  g_free (req->sid);
  g_free (req->page_token);
  g_free (req);
}

/* Queues a list or a single GET for fp's running poll; sent at once while few are in
 * flight. */
static void
request_queue (FactorPoll *fp, const gchar *sid, const gchar *page_token)
{
  VpushPoller *self = fp->poller;
  Request *req = g_new0 (Request, 1);

  req->fp = fp;
  req->sid = g_strdup (sid);
  req->page_token = g_strdup (page_token);
  fp->outstanding++;
  g_queue_push_tail (&self->waiting, req);
  while (self->in_flight < REQUESTS_MAX && !g_queue_is_empty (&self->waiting))
    request_send (self, g_queue_pop_head (&self->waiting));
}

/* A request in flight is done (its callback has run): the next one may go. */
static void
request_done (VpushPoller *self)
{
  self->in_flight--;
  while (self->in_flight < REQUESTS_MAX && !g_queue_is_empty (&self->waiting))
    request_send (self, g_queue_pop_head (&self->waiting));
}

void
vpush_poller_free (VpushPoller *self)
{
  /* only at shutdown: what still waits is never sent */
  g_queue_clear_full (&self->waiting, (GDestroyNotify)request_free);
  g_hash_table_unref (self->factors);
  g_free (self);
}

static gboolean
timer_cb (gpointer user_data)
{
  FactorPoll *fp = user_data;

  fp->timer = 0;
  if (fp->running)
    fp->again = TRUE;
  else
    run (fp);
  return G_SOURCE_REMOVE;
}

/* While the factor's push stream is connected polling is only the safety net. */
static guint
interval_of (FactorPoll *fp)
{
  VpushManager *manager = fp->poller->manager;
  VpushConfig *config = vpush_manager_get_config (manager);
  VpushPush *push = vpush_manager_get_push (manager);

  if (push != NULL && vpush_push_factor_connected (push, fp->sid))
    return config->poll_interval_with_push;
  return config->poll_interval;
}

guint
vpush_poller_backoff_s (guint interval_s, guint failures)
{
  guint backed_off = interval_s << MIN (failures, BACKOFF_DOUBLINGS_MAX);

  if (failures > 0)
    backed_off = MIN (backed_off, MAX (interval_s, BACKOFF_MAX_S));
  return backed_off;
}

static void
schedule (FactorPoll *fp)
{
  guint backed_off = vpush_poller_backoff_s (interval_of (fp), fp->failures);
  gdouble ms;

  ms = backed_off * 1000.0 * (1.0 + g_random_double_range (-JITTER, JITTER));
  if (fp->not_before != 0)
    ms = MAX (ms, (fp->not_before - vpush_time_boot_us ()) / 1000.0);

  g_clear_handle_id (&fp->timer, g_source_remove);
  fp->timer = g_timeout_add (MAX (ms, 100), timer_cb, fp);
  fp->due = g_get_monotonic_time () + (gint64)MAX (ms, 100) * 1000;
}

void
vpush_poller_reschedule (VpushPoller *self, const gchar *factor_sid)
{
  FactorPoll *fp = g_hash_table_lookup (self->factors, factor_sid);

  /* only ever earlier; a running poll schedules the next one itself when it ends */
  if (fp == NULL || fp->timer == 0
      || g_get_monotonic_time () + interval_of (fp) * (1.0 + JITTER) * G_USEC_PER_SEC >= fp->due)
    return;
  schedule (fp);
}

/* Polls asked for without hurry wait for a Retry-After of the last poll, no longer: by
 * the boot-time clock, so that after a suspend (a resume polls) what is left of it counts
 * from when it was given. */
static void
schedule_deferred (FactorPoll *fp)
{
  gint64 left = fp->not_before - vpush_time_boot_us ();
  gint64 end;

  if (left <= 0)
    {
      run (fp);
      return;
    }
  end = g_get_monotonic_time () + left;
  if (fp->timer != 0 && fp->due <= end)
    return;
  g_clear_handle_id (&fp->timer, g_source_remove);
  fp->timer = g_timeout_add ((guint)(left / 1000 + 1), timer_cb, fp);
  fp->due = end;
}

/* The poll is over: challenges of this factor not listed and not fetched since the poll
 * started stopped being pending. The list alone tells: a single GET of a new challenge
 * that failed does not keep the ones answered elsewhere exported. */
static void
poll_done (FactorPoll *fp)
{
  VpushManager *manager = fp->poller->manager;
  VpushPending *pending = vpush_manager_get_pending (manager);
  GList *tasks = g_steal_pointer (&fp->current);
  g_autoptr (GError) error = g_steal_pointer (&fp->error);

  if (error != NULL)
    g_debug ("poll of factor %s failed%s: %s", fp->sid,
             fp->list_failed ? "" : " (its list did not)", error->message);
  if (!fp->list_failed && !fp->removed && fp->incomplete)
    g_debug ("poll of factor %s did not see every challenge: none is taken as answered", fp->sid);
  else if (!fp->list_failed && !fp->removed)
    {
      g_autoptr (GList) entries = vpush_pending_get_entries (pending);
      g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);

      for (GList *l = entries; l; l = l->next)
        {
          VpushPendingEntry *entry = l->data;
          VpushChallenge *c = entry->challenge;

          if (g_str_equal (c->factor_sid, fp->sid) && !entry->answering
              && entry->fetched_at < fp->started && !g_hash_table_contains (fp->listed, c->sid))
            g_ptr_array_add (gone, g_strdup (c->sid));
        }
      for (guint i = 0; i < gone->len; i++)
        {
          const gchar *sid = g_ptr_array_index (gone, i);
          VpushPendingEntry *entry = vpush_pending_lookup (pending, sid);
          gboolean expired
              = entry->challenge->expires_at <= vpush_challenge_now (
                    entry->challenge, vpush_verify_now (vpush_manager_get_verify (manager)));

          /* not pending at the API any more: answered elsewhere, or expired */
          vpush_pending_finish (pending, sid, expired ? "expired" : "responded");
        }
    }

  /* No word to the manager's State here: each request of the poll told it as it ended
   * ("attempt-finished"), and a later one may have reached the API after this error. */
  /* a locked keyring has its own way back: the recovery polls. Anything else (no answer,
   * a refusal, a reply vpushd can't read or that is too big) would come again at once.
   * A challenge whose GET alone failed is asked for again at the next poll; backing off
   * for it would keep the factor's new challenges waiting until it expires. */
  if (error == NULL || !fp->list_failed)
    fp->failures = 0;
  else if (!g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
    fp->failures++;
  fp->running = FALSE;
  if (fp->removed)
    {
      /* what the API answered of a factor deleted meanwhile (404, 401) is no failure */
      complete_tasks (tasks, NULL);
      factor_poll_free (fp);
      return;
    }
  /* what was listed pending and could not be fetched still counts for the approvals:
   * they must not answer one of two matching challenges because the other's GET failed */
  {
    g_autoptr (GPtrArray) unfetched = g_ptr_array_new ();
    GHashTableIter iter;
    VpushChallenge *c;

    g_hash_table_iter_init (&iter, fp->unfetched);
    while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&c))
      g_ptr_array_add (unfetched, c);
    vpush_pending_set_unfetched (pending, fp->sid, unfetched, !fp->list_failed && !fp->incomplete);
  }
  g_clear_pointer (&fp->key, vpush_key_box_unref);
  g_clear_pointer (&fp->listed, g_hash_table_unref);
  g_clear_pointer (&fp->unfetched, g_hash_table_unref);
  vpush_pending_emit_changed (pending);
  complete_tasks (tasks, error);

  if (fp->again || fp->next)
    {
      fp->again = FALSE;
      run (fp);
    }
  else if (fp->deferred)
    schedule_deferred (fp);
  else
    schedule (fp);
}

static void
maybe_done (FactorPoll *fp)
{
  if (fp->outstanding == 0)
    poll_done (fp);
}

static void
set_error (FactorPoll *fp, GError *error)
{
  if (fp->error == NULL)
    fp->error = error;
  else
    g_error_free (error);
}

/* A request of the poll failed: a Retry-After it carried holds off the next scheduled poll */
static void
note_retry_after (FactorPoll *fp, VpushVerify *verify, GAsyncResult *result)
{
  guint64 ms = MIN (vpush_verify_call_get_retry_after (verify, result), RETRY_AFTER_MAX_S * 1000);

  if (ms > 0)
    fp->not_before = MAX (fp->not_before, vpush_time_boot_us () + (gint64)ms * 1000);
}

/* A factor whose Delete is under way may be gone at the API before it is here: what the
 * API answers of it then (404, or 401 after the clock retry, as §3.4 has it) is no failure,
 * as once it is gone here. */
static void
forgive_deleted (FactorPoll *fp, VpushVerify *verify, GAsyncResult *result, GError **error)
{
  VpushFactor *factor = vpush_manager_lookup_factor (fp->poller->manager, fp->sid);
  guint status;

  if (factor == NULL || !vpush_factor_is_deleting (factor))
    return;
  status = vpush_verify_call_get_status (verify, result);
  if (status == 404 || status == 401)
    g_clear_error (error);
}

static void
fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FactorPoll *fp = user_data;
  VpushPoller *self = fp->poller;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  if (c == NULL)
    {
      note_retry_after (fp, VPUSH_VERIFY (source), result);
      forgive_deleted (fp, VPUSH_VERIFY (source), result, &error);
      if (error != NULL)
        set_error (fp, error);
    }
  else if (!g_str_equal (c->status, "pending"))
    {
      g_hash_table_remove (fp->unfetched, c->sid);
      vpush_pending_drop_unfetched (vpush_manager_get_pending (fp->poller->manager), c->sid);
    }
  /* one left out (VPUSH_PENDING_MAX are pending) still counts as listed */
  else if (vpush_manager_put_pending (fp->poller->manager, c))
    g_hash_table_remove (fp->unfetched, c->sid);
  fp->outstanding--;
  maybe_done (fp);
  request_done (self);
}

static void listed (FactorPoll *fp, GObject *source, GAsyncResult *result);

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FactorPoll *fp = user_data;
  VpushPoller *self = fp->poller;

  listed (fp, source, result);
  request_done (self);
}

static void
listed (FactorPoll *fp, GObject *source, GAsyncResult *result)
{
  VpushManager *manager = fp->poller->manager;
  VpushPending *pending = vpush_manager_get_pending (manager);
  VpushFactor *factor = vpush_manager_lookup_factor (manager, fp->sid);
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (GPtrArray) new_ones = NULL;
  GError *error = NULL;

  page = vpush_verify_list_challenges_finish (VPUSH_VERIFY (source), result, &error);
  fp->outstanding--;
  if (page == NULL)
    forgive_deleted (fp, VPUSH_VERIFY (source), result, &error);
  if (page == NULL || factor == NULL)
    {
      fp->list_failed = TRUE;
      if (page == NULL)
        note_retry_after (fp, VPUSH_VERIFY (source), result);
      if (error)
        set_error (fp, error);
      maybe_done (fp);
      return;
    }

  if (page->incomplete)
    fp->incomplete = TRUE;
  new_ones = g_ptr_array_new ();
  for (guint i = 0; i < page->challenges->len; i++)
    {
      VpushChallenge *c = g_ptr_array_index (page->challenges, i);
      VpushPendingEntry *entry;

      if (!g_str_equal (c->status, "pending"))
        continue;
      g_hash_table_add (fp->listed, g_strdup (c->sid));
      entry = vpush_pending_lookup (pending, c->sid);
      if (entry != NULL)
        continue;
      /* list items carry no signature fields: fetch each new one singly */
      g_hash_table_replace (fp->unfetched, g_strdup (c->sid), vpush_challenge_ref (c));
      g_ptr_array_add (new_ones, c);
      request_queue (fp, c->sid, NULL);
    }
  /* known pending from now on, for the approvals, while its GET is under way */
  vpush_pending_set_unfetched (pending, fp->sid, new_ones, FALSE);

  if (page->next_page_token && ++fp->pages < LIST_MAX_PAGES)
    request_queue (fp, NULL, page->next_page_token);
  else
    {
      /* pages left unread may hold pending challenges */
      if (page->next_page_token)
        fp->incomplete = TRUE;
      maybe_done (fp);
    }
}

static void
request_send (VpushPoller *self, Request *req)
{
  FactorPoll *fp = req->fp;
  VpushManager *manager = self->manager;
  VpushFactor *factor = vpush_manager_lookup_factor (manager, fp->sid);
  VpushVerify *verify = vpush_manager_get_verify (manager);

  /* the factor went while this waited: nothing to ask */
  if (factor == NULL || fp->removed)
    {
      if (req->sid == NULL)
        fp->list_failed = TRUE;
      request_free (req);
      fp->outstanding--;
      maybe_done (fp);
      return;
    }
  self->in_flight++;
  if (req->sid != NULL)
    vpush_verify_fetch_challenge_async (verify, vpush_factor_get_record (factor), fp->key->key,
                                        req->sid, NULL, fetched_cb, fp);
  else
    vpush_verify_list_challenges_async (verify, vpush_factor_get_record (factor), fp->key->key,
                                        "pending", "desc", LIST_PAGE_SIZE, req->page_token, NULL,
                                        listed_cb, fp);
  request_free (req);
}

static void
key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FactorPoll *fp = user_data;
  GError *error = NULL;
  VpushFactor *factor;

  fp->key = vpush_manager_load_key_finish (VPUSH_MANAGER (source), result, &error);
  fp->outstanding--;
  factor = vpush_manager_lookup_factor (VPUSH_MANAGER (source), fp->sid);
  if (fp->key == NULL || factor == NULL)
    {
      fp->list_failed = TRUE;
      /* a Delete removes the key before the factor: its poll just ends, as once the
       * factor is gone, and is no failure of a Refresh that asked for it (a keyring that
       * failed meanwhile still is) */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND) && factor != NULL
          && vpush_factor_is_deleting (factor))
        g_clear_error (&error);
      if (error)
        set_error (fp, error);
      maybe_done (fp);
      return;
    }
  request_queue (fp, NULL, NULL);
}

static void
run (FactorPoll *fp)
{
  g_clear_handle_id (&fp->timer, g_source_remove);
  fp->running = TRUE;
  fp->current = g_list_concat (g_steal_pointer (&fp->next), g_steal_pointer (&fp->deferred));
  fp->started = vpush_time_boot_us ();
  fp->listed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fp->unfetched = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)vpush_challenge_unref);
  fp->incomplete = FALSE;
  fp->list_failed = FALSE;
  fp->not_before = 0;
  fp->pages = 0;
  fp->outstanding = 1;
  vpush_manager_load_key_async (fp->poller->manager, fp->sid, NULL, key_cb, fp);
}

void
vpush_poller_add_factor (VpushPoller *self, const gchar *factor_sid)
{
  FactorPoll *fp;

  if (g_hash_table_contains (self->factors, factor_sid))
    return;
  fp = g_new0 (FactorPoll, 1);
  fp->poller = self;
  fp->sid = g_strdup (factor_sid);
  g_hash_table_insert (self->factors, fp->sid, fp);
  run (fp);
}

void
vpush_poller_remove_factor (VpushPoller *self, const gchar *factor_sid)
{
  FactorPoll *fp = g_hash_table_lookup (self->factors, factor_sid);

  if (fp == NULL)
    return;
  g_hash_table_steal (self->factors, factor_sid);
  if (!fp->running)
    {
      factor_poll_free (fp);
      return;
    }
  /* callbacks of the running poll still hold it: let it end, then drop it */
  g_clear_handle_id (&fp->timer, g_source_remove);
  fp->removed = TRUE;
}

static void
one_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  PollAll *all = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (all->several && !g_str_has_prefix (error->message, "factor "))
        g_prefix_error (&error,
                        "factor %s: ", (const gchar *)g_task_get_task_data (G_TASK (result)));
      if (all->error == NULL)
        all->error = error;
      else
        g_error_free (error);
    }
  if (--all->outstanding > 0)
    return;
  if (all->error)
    g_task_return_error (task, g_steal_pointer (&all->error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
poll_all_free (PollAll *all)
{
  g_clear_error (&all->error);
  g_free (all);
}

/* A poll asked for at_once runs now, or right after the running one; else it waits for
 * a Retry-After the API gave the last poll, or that the running one gets. */
static void
request (FactorPoll *fp, GTask *task, gboolean at_once)
{
  if (!at_once)
    {
      fp->deferred = g_list_append (fp->deferred, task);
      if (!fp->running)
        schedule_deferred (fp);
      return;
    }
  fp->next = g_list_append (fp->next, task);
  if (fp->running)
    fp->again = TRUE;
  else
    run (fp);
}

/* Polls the factors of polls (the list is borrowed); task completes once all are done */
static void
poll_list (GTask *task, GList *polls, gboolean at_once)
{
  PollAll *all = g_new0 (PollAll, 1);

  g_task_set_task_data (task, all, (GDestroyNotify)poll_all_free);
  if (polls == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  all->outstanding = g_list_length (polls);
  all->several = all->outstanding > 1;
  for (GList *l = polls; l; l = l->next)
    {
      FactorPoll *fp = l->data;
      GTask *one = g_task_new (NULL, NULL, one_done_cb, g_object_ref (task));

      g_task_set_task_data (one, g_strdup (fp->sid), g_free);
      request (fp, one, at_once);
    }
}

static void
poll_one_or_all (VpushPoller *self, const gchar *factor_sid, gboolean at_once,
                 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GList) polls = NULL;

  g_task_set_source_tag (task, vpush_poller_poll_async);
  if (factor_sid)
    {
      FactorPoll *fp = g_hash_table_lookup (self->factors, factor_sid);

      if (fp == NULL)
        {
          g_task_return_new_error (task, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "no factor %s",
                                   factor_sid);
          return;
        }
      polls = g_list_prepend (polls, fp);
    }
  else
    polls = g_hash_table_get_values (self->factors);
  poll_list (task, polls, at_once);
}

void
vpush_poller_poll_async (VpushPoller *self, const gchar *factor_sid, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  poll_one_or_all (self, factor_sid, TRUE, cancellable, callback, user_data);
}

void
vpush_poller_poll_soon_async (VpushPoller *self, const gchar *factor_sid, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  poll_one_or_all (self, factor_sid, FALSE, cancellable, callback, user_data);
}

void
vpush_poller_poll_some_async (VpushPoller *self, const gchar *const *factor_sids,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GList) polls = NULL;

  g_task_set_source_tag (task, vpush_poller_poll_async);
  for (guint i = 0; factor_sids[i] != NULL; i++)
    {
      FactorPoll *fp = g_hash_table_lookup (self->factors, factor_sids[i]);

      if (fp != NULL)
        polls = g_list_prepend (polls, fp);
    }
  poll_list (task, polls, TRUE);
}

gboolean
vpush_poller_poll_finish (VpushPoller *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
