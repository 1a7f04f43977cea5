/* The audit records of a caller are rationed, but for those of an answer: an approval or
 * denial allowed on its challenge, and its outcome once the answer went out. journald
 * drops every record of a unit that logs more than its rate limit (RateLimitBurst=, 10000
 * in 30 s by default): a caller making calls in a loop (refused ones, or Update() with
 * nothing to change), which costs it well under a millisecond each, would otherwise have
 * the decisions of everyone else, and its own approvals, dropped with its own records.
 * Beyond its ration a caller's records are counted, and one record says how many were
 * left out. */
#include "vpush-log.h"

#include "vpush-names.h"

#define WINDOW_USEC (10 * G_USEC_PER_SEC)

typedef struct
{
  gint64 window_end; /* monotonic µs */
  guint written;
  guint left_out;
  /* of the last record left out, for the one that counts them */
  gchar *caller;
  gchar *exe;
  gchar *unit;
  gchar *app;
} Ration;

static GHashTable *rations; /* caller key → Ration */
static guint ration_limit = VPUSH_LOG_RATION_DEFAULT;
static guint flush_id;

static void
ration_free (gpointer data)
{
  Ration *r = data;

  g_free (r->caller);
  g_free (r->exe);
  g_free (r->unit);
  g_free (r->app);
  g_free (r);
}

static const gchar *
field (const GLogField *fields, gsize n_fields, const gchar *key)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, key))
      return fields[i].value;
  return NULL;
}

static void
write_left_out (Ration *r)
{
  g_autofree gchar *count = g_strdup_printf ("%u", r->left_out);
  const GLogField fields[] = {
    { VPUSH_LOG_FIELD_CALLER, r->caller, -1 },    { VPUSH_LOG_FIELD_CALLER_EXE, r->exe, -1 },
    { VPUSH_LOG_FIELD_CALLER_UNIT, r->unit, -1 }, { VPUSH_LOG_FIELD_CALLER_APP, r->app, -1 },
    { VPUSH_LOG_FIELD_LEFT_OUT, count, -1 },
  };

  vpush_log_fields (G_LOG_LEVEL_MESSAGE, VPUSH_MSGID_LEFT_OUT, fields, G_N_ELEMENTS (fields),
                    "%u audit records of calls of %s left out: more than %u in %d s", r->left_out,
                    r->caller ? r->caller : "an unidentified caller", ration_limit,
                    (int)(WINDOW_USEC / G_USEC_PER_SEC));
}

static gboolean flush_cb (gpointer user_data);

static void
schedule_flush (void)
{
  GHashTableIter iter;
  Ration *r;
  gint64 earliest = G_MAXINT64;
  gint64 wait_ms;

  g_clear_handle_id (&flush_id, g_source_remove);
  if (rations == NULL || g_hash_table_size (rations) == 0)
    return;
  g_hash_table_iter_init (&iter, rations);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&r))
    earliest = MIN (earliest, r->window_end);
  /* the clock is read once: CLAMP() evaluates its argument up to three times, and a clock
   * that passed the window's end between two readings made the wait negative, 49 days
   * once unsigned, and the counts were not told */
  wait_ms = (earliest - g_get_monotonic_time ()) / 1000 + 1;
  flush_id = g_timeout_add ((guint)CLAMP (wait_ms, 1, WINDOW_USEC / 1000), flush_cb, NULL);
  g_source_set_name_by_id (flush_id, "[vpush] audit ration");
}

void
vpush_log_ration_flush (gboolean all)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  Ration *r;

  if (rations == NULL)
    return;
  g_hash_table_iter_init (&iter, rations);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&r))
    {
      if (!all && r->window_end > now)
        continue;
      if (r->left_out > 0)
        write_left_out (r);
      g_hash_table_iter_remove (&iter);
    }
  schedule_flush ();
}

static gboolean
flush_cb (gpointer user_data)
{
  flush_id = 0;
  vpush_log_ration_flush (FALSE);
  return G_SOURCE_REMOVE;
}

void
vpush_log_ration_set_limit (guint limit)
{
  ration_limit = limit;
}

/* The caller's ration of the 10 s now */
static Ration *
ration_now (const gchar *key)
{
  gint64 now = g_get_monotonic_time ();
  Ration *r;

  if (rations == NULL)
    rations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, ration_free);
  r = g_hash_table_lookup (rations, key);
  if (r != NULL && r->window_end <= now)
    {
      /* its window is over: the count is written before the next window's records */
      vpush_log_ration_flush (FALSE);
      r = NULL;
    }
  if (r == NULL)
    {
      r = g_new0 (Ration, 1);
      r->window_end = now + WINDOW_USEC;
      g_hash_table_insert (rations, g_strdup (key), r);
      if (flush_id == 0)
        schedule_flush ();
    }
  return r;
}

gboolean
vpush_log_ration_reserve (const gchar *key)
{
  Ration *r;

  if (ration_limit == 0)
    return TRUE;
  r = ration_now (key);
  if (r->written >= ration_limit)
    return FALSE;
  r->written++;
  return TRUE;
}

gboolean
vpush_log_ration_take (const gchar *key, const GLogField *fields, gsize n_fields)
{
  Ration *r;

  if (ration_limit == 0)
    return TRUE;
  r = ration_now (key);
  if (r->written < ration_limit)
    {
      r->written++;
      return TRUE;
    }
  r->left_out++;
  g_free (r->caller);
  r->caller = g_strdup (field (fields, n_fields, VPUSH_LOG_FIELD_CALLER));
  g_free (r->exe);
  r->exe = g_strdup (field (fields, n_fields, VPUSH_LOG_FIELD_CALLER_EXE));
  g_free (r->unit);
  r->unit = g_strdup (field (fields, n_fields, VPUSH_LOG_FIELD_CALLER_UNIT));
  g_free (r->app);
  r->app = g_strdup (field (fields, n_fields, VPUSH_LOG_FIELD_CALLER_APP));
  return FALSE;
}
