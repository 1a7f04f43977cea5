#include "vpush-hint-fetcher.h"

#include "vpush-factor.h"
#include "vpush-log.h"
#include "vpush-poller.h"

/* Fetches of hinted challenges running at once. A hint is whatever can publish to the
 * push topic says, and each fetch is a request to the Verify API: past this, a hint polls
 * its factor instead, and polls of a factor run one at a time (vpush-poller.c). */
#define FETCHES_MAX 8

/* Fetches started, over time: FETCHES_MAX at once, then one more a second. Hints that
 * come one by one, faster than fetches end, would otherwise keep FETCHES_MAX running
 * back to back: a request to the API for each hint published. A fetch that found a new
 * pending challenge gives its share back: only the backend can make one, so a burst of
 * real challenges is fetched one by one, and only hints that name nothing new use it up. */
#define FETCH_REFILL_US G_USEC_PER_SEC

/* Polls asked for by the push channel (a hint not followed, a fetch that failed, a
 * (re)connect) are merged: one runs at a time per factor, the next starts no sooner than
 * this after it ended, and however many were asked for meanwhile it is one. */
#define POLL_GAP_MS 2000

struct _VpushHintFetcher
{
  VpushManager *manager;
  GCancellable *cancellable; /* of the fetches and polls; cancelled when freed */
  GHashTable *fetching;      /* challenge sids being fetched */
  guint budget;              /* fetches that may start now */
  gint64 budget_at;          /* monotonic µs of the last top-up */
  GHashTable *polls;         /* factor sid → HintPoll */
};

typedef struct
{
  VpushHintFetcher *fetcher;
  gchar *factor_sid;
  gboolean running;
  gboolean wanted; /* asked for while one ran, or during the gap after it */
  guint timer;     /* ends the gap */
  gint64 ended;    /* monotonic µs the last one ended; 0 = none yet */
} HintPoll;

/* A running poll's callback data: the fetcher is valid while not cancelled. */
typedef struct
{
  VpushHintFetcher *fetcher;
  VpushPoller *poller;
  GCancellable *cancellable;
  gchar *factor_sid;
} PollCall;

static void
hint_poll_free (HintPoll *hp)
{
  g_clear_handle_id (&hp->timer, g_source_remove);
  g_free (hp->factor_sid);
  g_free (hp);
}

static void
poll_call_free (PollCall *call)
{
  g_object_unref (call->cancellable);
  g_free (call->factor_sid);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PollCall, poll_call_free)

static void poll_run (HintPoll *hp);
static void poll_done_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static gboolean
poll_gap_cb (gpointer user_data)
{
  HintPoll *hp = user_data;

  hp->timer = 0;
  if (hp->wanted)
    poll_run (hp);
  return G_SOURCE_REMOVE;
}

/* Runs the poll now, or once the gap after the last one is over. */
static void
poll_run (HintPoll *hp)
{
  VpushHintFetcher *self = hp->fetcher;
  gint64 wait_us = hp->ended + POLL_GAP_MS * 1000 - g_get_monotonic_time ();
  PollCall *call;

  hp->wanted = TRUE;
  if (hp->running || hp->timer != 0)
    return;
  if (hp->ended != 0 && wait_us > 0)
    {
      hp->timer = g_timeout_add ((guint)(wait_us / 1000 + 1), poll_gap_cb, hp);
      return;
    }
  hp->wanted = FALSE;
  hp->running = TRUE;
  call = g_new0 (PollCall, 1);
  call->fetcher = self;
  call->poller = vpush_manager_get_poller (self->manager);
  call->cancellable = g_object_ref (self->cancellable);
  call->factor_sid = g_strdup (hp->factor_sid);
  /* no caller waits on it: it waits for a Retry-After the API gave the factor's polls */
  vpush_poller_poll_soon_async (call->poller, hp->factor_sid, NULL, poll_done_cb, call);
}

static void
poll_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PollCall) call = user_data;
  g_autoptr (GError) error = NULL;
  VpushHintFetcher *self = call->fetcher;
  HintPoll *hp;

  if (!vpush_poller_poll_finish (call->poller, result, &error))
    g_debug ("poll asked for by the push channel failed: %s", error->message);
  if (g_cancellable_is_cancelled (call->cancellable))
    return;
  /* gone with its factor (vpush_hint_fetcher_remove_factor) */
  hp = g_hash_table_lookup (self->polls, call->factor_sid);
  if (hp == NULL)
    return;
  hp->running = FALSE;
  hp->ended = g_get_monotonic_time ();
  if (vpush_manager_lookup_factor (self->manager, call->factor_sid) == NULL)
    g_hash_table_remove (self->polls, call->factor_sid);
  else if (hp->wanted)
    poll_run (hp);
}

void
vpush_hint_fetcher_poll (VpushHintFetcher *self, const gchar *factor_sid)
{
  HintPoll *hp = g_hash_table_lookup (self->polls, factor_sid);

  if (hp == NULL)
    {
      hp = g_new0 (HintPoll, 1);
      hp->fetcher = self;
      hp->factor_sid = g_strdup (factor_sid);
      g_hash_table_insert (self->polls, hp->factor_sid, hp);
    }
  poll_run (hp);
}

void
vpush_hint_fetcher_remove_factor (VpushHintFetcher *self, const gchar *factor_sid)
{
  /* a poll still running ends as it would have, and finds no entry; a gap's timer goes */
  g_hash_table_remove (self->polls, factor_sid);
}

gboolean
vpush_hint_fetcher_has_poll (VpushHintFetcher *self, const gchar *factor_sid, gboolean *out_running)
{
  HintPoll *hp = g_hash_table_lookup (self->polls, factor_sid);

  if (out_running != NULL)
    *out_running = hp != NULL && hp->running;
  return hp != NULL;
}

/* Whether a fetch may start now: the budget grows by one each FETCH_REFILL_US, up to
 * FETCHES_MAX; a full one starts counting again at the fetch that takes from it. */
static gboolean
take_budget (VpushHintFetcher *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 gained = (now - self->budget_at) / FETCH_REFILL_US;

  if (self->budget + gained >= FETCHES_MAX)
    {
      self->budget = FETCHES_MAX;
      self->budget_at = now;
    }
  else
    {
      self->budget += (guint)gained;
      self->budget_at += gained * FETCH_REFILL_US;
    }
  if (self->budget == 0)
    return FALSE;
  self->budget--;
  return TRUE;
}

typedef struct
{
  VpushHintFetcher *fetcher; /* valid while cancellable is not cancelled */
  GCancellable *cancellable;
  gchar *factor_sid;
  gchar *challenge_sid;
  VpushKeyBox *key;
} HintFetch;

static void
hint_fetch_free (HintFetch *fetch)
{
  g_object_unref (fetch->cancellable);
  g_free (fetch->factor_sid);
  g_free (fetch->challenge_sid);
  g_clear_pointer (&fetch->key, vpush_key_box_unref);
  g_free (fetch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HintFetch, hint_fetch_free)

static void
hint_fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (HintFetch) fetch = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  g_autoptr (GError) error = NULL;
  VpushHintFetcher *self = fetch->fetcher;
  VpushPending *pending;
  gboolean is_new;

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  if (g_cancellable_is_cancelled (fetch->cancellable))
    return;
  g_hash_table_remove (self->fetching, fetch->challenge_sid);
  vpush_manager_note_api_result (self->manager, error);
  if (vpush_manager_lookup_factor (self->manager, fetch->factor_sid) == NULL)
    return;
  if (c == NULL)
    {
      g_message ("challenge %s named by a push hint could not be fetched (%s): polling",
                 fetch->challenge_sid, error->message);
      vpush_hint_fetcher_poll (self, fetch->factor_sid);
      return;
    }
  if (!g_str_equal (c->status, "pending"))
    {
      g_debug ("challenge %s named by a push hint is %s", c->sid, c->status);
      vpush_pending_drop_unfetched (vpush_manager_get_pending (self->manager), c->sid);
      return;
    }
  pending = vpush_manager_get_pending (self->manager);
  is_new = vpush_pending_lookup (pending, c->sid) == NULL;
  if (!vpush_manager_put_pending (self->manager, c))
    return;
  /* a hint that brought a challenge kept gives its share back */
  if (is_new && self->budget < FETCHES_MAX)
    self->budget++;
  if (vpush_log_debug_enabled ())
    g_debug ("challenge %s of factor %s arrived by push", c->sid, c->factor_sid);
  vpush_pending_emit_changed (pending);
}

static void
hint_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (HintFetch) fetch = user_data;
  g_autoptr (GError) error = NULL;
  VpushHintFetcher *self = fetch->fetcher;
  VpushFactor *factor;

  fetch->key = vpush_manager_load_key_finish (VPUSH_MANAGER (source), result, &error);
  if (g_cancellable_is_cancelled (fetch->cancellable))
    return;
  factor = vpush_manager_lookup_factor (self->manager, fetch->factor_sid);
  if (fetch->key == NULL || factor == NULL)
    {
      if (error != NULL)
        g_message ("push hint for factor %s not followed: %s", fetch->factor_sid, error->message);
      g_hash_table_remove (self->fetching, fetch->challenge_sid);
      return;
    }
  vpush_verify_fetch_challenge_async (
      vpush_manager_get_verify (self->manager), vpush_factor_get_record (factor), fetch->key->key,
      fetch->challenge_sid, fetch->cancellable, hint_fetched_cb, fetch);
  fetch = NULL; /* owned by the callback now */
}

void
vpush_hint_fetcher_follow (VpushHintFetcher *self, const gchar *factor_sid,
                           const gchar *challenge_sid)
{
  HintFetch *fetch;

  if (vpush_pending_lookup (vpush_manager_get_pending (self->manager), challenge_sid)
      || g_hash_table_contains (self->fetching, challenge_sid))
    return;

  if (g_hash_table_size (self->fetching) >= FETCHES_MAX)
    {
      g_debug ("push hint for challenge %s: %d fetches are running already: polling", challenge_sid,
               FETCHES_MAX);
      vpush_hint_fetcher_poll (self, factor_sid);
      return;
    }
  if (!take_budget (self))
    {
      g_debug ("push hint for challenge %s: hints come faster than fetches may start: polling",
               challenge_sid);
      vpush_hint_fetcher_poll (self, factor_sid);
      return;
    }
  g_hash_table_add (self->fetching, g_strdup (challenge_sid));
  fetch = g_new0 (HintFetch, 1);
  fetch->fetcher = self;
  fetch->cancellable = g_object_ref (self->cancellable);
  fetch->factor_sid = g_strdup (factor_sid);
  fetch->challenge_sid = g_strdup (challenge_sid);
  vpush_manager_load_key_async (self->manager, factor_sid, self->cancellable, hint_key_cb, fetch);
}

VpushHintFetcher *
vpush_hint_fetcher_new (VpushManager *manager)
{
  VpushHintFetcher *self = g_new0 (VpushHintFetcher, 1);

  self->manager = manager;
  self->cancellable = g_cancellable_new ();
  self->fetching = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->budget = FETCHES_MAX;
  self->budget_at = g_get_monotonic_time ();
  self->polls
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)hint_poll_free);
  return self;
}

void
vpush_hint_fetcher_free (VpushHintFetcher *self)
{
  g_cancellable_cancel (self->cancellable);
  g_object_unref (self->cancellable);
  g_hash_table_unref (self->fetching);
  g_hash_table_unref (self->polls);
  g_free (self);
}
