#include "vpush-hint-fetcher.h"

#include "vpush-factor.h"
#include "vpush-log.h"
#include "vpush-poller.h"

/* Fetches of hinted challenges running at once. A hint is whatever can publish to the
 * push topic says, and each fetch is a request to the Verify API: past this, a hint polls
 * its factor instead, and polls of a factor run one at a time (vpush-poller.c). */
#define FETCHES_MAX 8

struct _VpushHintFetcher
{
  VpushManager *manager;
  GCancellable *cancellable; /* of the fetches; cancelled when freed */
  GHashTable *fetching;      /* challenge sids being fetched */
};

static void
poll_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (!vpush_poller_poll_finish (user_data, result, &error))
    g_debug ("poll asked for by the push channel failed: %s", error->message);
}

void
vpush_hint_fetcher_poll (VpushHintFetcher *self, const gchar *factor_sid)
{
  VpushPoller *poller = vpush_manager_get_poller (self->manager);

  vpush_poller_poll_async (poller, factor_sid, NULL, poll_done_cb, poller);
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
      return;
    }
  pending = vpush_manager_get_pending (self->manager);
  if (vpush_log_debug_enabled ())
    g_debug ("challenge %s of factor %s arrived by push", c->sid, c->factor_sid);
  vpush_pending_put (pending, c);
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
  return self;
}

void
vpush_hint_fetcher_free (VpushHintFetcher *self)
{
  g_cancellable_cancel (self->cancellable);
  g_object_unref (self->cancellable);
  g_hash_table_unref (self->fetching);
  g_free (self);
}
