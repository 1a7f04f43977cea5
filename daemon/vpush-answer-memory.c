#include "vpush-answer-memory.h"

typedef struct
{
  const gchar *status; /* interned */
  gchar *caller;
  gint64 expires_at;
  guint64 order; /* when it was remembered, for the oldest to go first */
} Answer;

struct _VpushAnswerMemory
{
  GHashTable *answers; /* sid → Answer */
  guint64 next_order;
};

static void
answer_free (gpointer data)
{
  Answer *answer = data;

  g_free (answer->caller);
  g_free (answer);
}

VpushAnswerMemory *
vpush_answer_memory_new (void)
{
  VpushAnswerMemory *self = g_new0 (VpushAnswerMemory, 1);

  self->answers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, answer_free);
  return self;
}

void
vpush_answer_memory_free (VpushAnswerMemory *self)
{
  g_hash_table_unref (self->answers);
  g_free (self);
}

/* Drops what expired, then the oldest if there are too many: one is added at a time. */
static void
prune (VpushAnswerMemory *self, gint64 now)
{
  GHashTableIter iter;
  Answer *answer;
  const gchar *sid;
  const gchar *oldest_sid = NULL;
  guint64 oldest = G_MAXUINT64;

  g_hash_table_iter_init (&iter, self->answers);
  while (g_hash_table_iter_next (&iter, (gpointer *)&sid, (gpointer *)&answer))
    {
      if (answer->expires_at <= now)
        g_hash_table_iter_remove (&iter);
      else if (answer->order < oldest)
        {
          oldest = answer->order;
          oldest_sid = sid;
        }
    }
  if (g_hash_table_size (self->answers) > VPUSH_ANSWER_MEMORY_MAX && oldest_sid != NULL)
    g_hash_table_remove (self->answers, oldest_sid);
}

void
vpush_answer_memory_remember (VpushAnswerMemory *self, const gchar *sid, const gchar *status,
                              const gchar *caller, gint64 expires_at, gint64 now)
{
  Answer *answer = g_new0 (Answer, 1);

  answer->status = g_intern_string (status);
  answer->caller = g_strdup (caller);
  answer->expires_at = expires_at;
  answer->order = self->next_order++;
  g_hash_table_replace (self->answers, g_strdup (sid), answer);
  prune (self, now);
}

const gchar *
vpush_answer_memory_lookup (VpushAnswerMemory *self, const gchar *sid, const gchar *caller,
                            gint64 now)
{
  Answer *answer = g_hash_table_lookup (self->answers, sid);

  if (answer == NULL || answer->expires_at <= now || g_strcmp0 (answer->caller, caller) != 0)
    return NULL;
  return answer->status;
}

void
vpush_answer_memory_forget (VpushAnswerMemory *self, const gchar *sid)
{
  g_hash_table_remove (self->answers, sid);
}
