#include "vpush-history.h"

#include "vpush-error.h"
#include "vpush-factor.h"

#define HISTORY_PAGE_SIZE 50
/* Lists at the API (or loading their key) at once, of all factors; the rest wait their
 * turn. Each holds a connection and, once answered, a parsed page of 50 challenges. */
#define LISTS_MAX 4

typedef struct
{
  VpushHistoryListed callback;
  gpointer user_data;
  GDestroyNotify destroy;
} Waiter;

/* One factor's lists: at most one at the API and one waiting to be sent. */
typedef struct
{
  VpushHistory *history;
  gchar *sid;
  GArray *current; /* Waiter: answered by the list sent next or at the API */
  GArray *next;    /* Waiter: asked while current's list was at the API */
  gboolean queued; /* in history->waiting */
  gboolean running;
  VpushKeyBox *key; /* of the running list: the client may sign again (clock retry) */
} FactorLists;

struct _VpushHistory
{
  VpushManager *manager;
  GHashTable *factors; /* sid → FactorLists, while a list is queued or running */
  GQueue waiting;      /* FactorLists to send when one running is done */
  guint running;
};

static void send_list (FactorLists *fl);

static void
waiter_clear (Waiter *w)
{
  if (w->destroy != NULL)
    w->destroy (w->user_data);
}

static GArray *
waiters_new (void)
{
  GArray *waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));

  g_array_set_clear_func (waiters, (GDestroyNotify)waiter_clear);
  return waiters;
}

static void
factor_lists_free (FactorLists *fl)
{
  g_array_unref (fl->current);
  g_array_unref (fl->next);
  g_clear_pointer (&fl->key, vpush_key_box_unref);
  g_free (fl->sid);
  g_free (fl);
}

VpushHistory *
vpush_history_new (VpushManager *manager)
{
  VpushHistory *self = g_new0 (VpushHistory, 1);

  self->manager = manager;
  self->factors
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)factor_lists_free);
  return self;
}

void
vpush_history_free (VpushHistory *self)
{
  /* only at shutdown: a list at the API never calls back, as the main loop has ended */
  g_queue_clear (&self->waiting);
  g_hash_table_unref (self->factors);
  g_free (self);
}

static void
pump (VpushHistory *self)
{
  while (self->running < LISTS_MAX && !g_queue_is_empty (&self->waiting))
    send_list (g_queue_pop_head (&self->waiting));
}

static void
queue_list (FactorLists *fl)
{
  fl->queued = TRUE;
  g_queue_push_tail (&fl->history->waiting, fl);
  pump (fl->history);
}

/* The running list is done: its waiters are told, and the factor's next list queued. */
static void
list_done (FactorLists *fl, GPtrArray *challenges, const GError *error)
{
  VpushHistory *self = fl->history;
  g_autoptr (GArray) done = fl->current;
  g_autofree gchar *sid = g_strdup (fl->sid); /* fl may go below */

  fl->running = FALSE;
  self->running--;
  g_clear_pointer (&fl->key, vpush_key_box_unref);
  fl->current = g_steal_pointer (&fl->next);
  fl->next = waiters_new ();
  /* before the callbacks: one may ask again, and must then join the next list */
  if (fl->current->len > 0)
    queue_list (fl);
  else
    g_hash_table_remove (self->factors, fl->sid);
  for (guint i = 0; i < done->len; i++)
    {
      Waiter *w = &g_array_index (done, Waiter, i);

      w->callback (sid, challenges, error, w->user_data);
    }
  pump (self);
}

static void
listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FactorLists *fl = user_data;
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (GError) error = NULL;

  page = vpush_verify_list_challenges_finish (VPUSH_VERIFY (source), result, &error);
  list_done (fl, page != NULL ? page->challenges : NULL, error);
}

static void
key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  FactorLists *fl = user_data;
  VpushManager *manager = fl->history->manager;
  g_autoptr (GError) error = NULL;
  VpushFactor *factor;

  fl->key = vpush_manager_load_key_finish (manager, result, &error);
  factor = vpush_manager_lookup_factor (manager, fl->sid);
  if (fl->key != NULL && factor == NULL)
    g_set_error (&error, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND, "factor %s is gone", fl->sid);
  if (error != NULL)
    {
      list_done (fl, NULL, error);
      return;
    }
  vpush_verify_list_challenges_async (vpush_manager_get_verify (manager),
                                      vpush_factor_get_record (factor), fl->key->key, NULL, "desc",
                                      HISTORY_PAGE_SIZE, NULL, NULL, listed_cb, fl);
}

static void
send_list (FactorLists *fl)
{
  fl->queued = FALSE;
  fl->running = TRUE;
  fl->history->running++;
  vpush_manager_load_key_async (fl->history->manager, fl->sid, NULL, key_cb, fl);
}

void
vpush_history_list (VpushHistory *self, const gchar *factor_sid, VpushHistoryListed callback,
                    gpointer user_data, GDestroyNotify destroy)
{
  FactorLists *fl = g_hash_table_lookup (self->factors, factor_sid);
  Waiter w = { callback, user_data, destroy };

  if (fl == NULL)
    {
      fl = g_new0 (FactorLists, 1);
      fl->history = self;
      fl->sid = g_strdup (factor_sid);
      fl->current = waiters_new ();
      fl->next = waiters_new ();
      g_hash_table_insert (self->factors, fl->sid, fl);
    }
  if (fl->running)
    {
      g_array_append_val (fl->next, w);
      return;
    }
  g_array_append_val (fl->current, w);
  if (!fl->queued)
    queue_list (fl);
}
