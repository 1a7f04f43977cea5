/* The answers vpushd sent whose outcome it could not confirm: the API may have taken one
 * though no read showed it (its reply and the read after it showed an older copy, or the
 * replies were lost). Kept by challenge sid until the challenge expires, in memory only:
 * a later call that finds the challenge answered so knows whose answer that was. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The most kept at once: the oldest is forgotten first. */
#define VPUSH_ANSWER_MEMORY_MAX 512

typedef struct _VpushAnswerMemory VpushAnswerMemory;

VpushAnswerMemory *vpush_answer_memory_new (void);
void vpush_answer_memory_free (VpushAnswerMemory *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushAnswerMemory, vpush_answer_memory_free)

/* status: the one sent ("approved", "denied"); caller: whose call sent it (its key, as
 * vpush_caller_key() gives it); expires_at: the challenge's; both it and now are unix
 * seconds by the API's clock. */
void vpush_answer_memory_remember (VpushAnswerMemory *self, const gchar *sid, const gchar *status,
                                   const gchar *caller, gint64 expires_at, gint64 now);
/* The status sent for sid by caller, or NULL: none, another caller's (the answer is its own
 * to claim: the policy let it, not this one, decide), or its challenge has expired by now. */
const gchar *vpush_answer_memory_lookup (VpushAnswerMemory *self, const gchar *sid,
                                         const gchar *caller, gint64 now);
/* The answer's outcome is known. */
void vpush_answer_memory_forget (VpushAnswerMemory *self, const gchar *sid);

G_END_DECLS
