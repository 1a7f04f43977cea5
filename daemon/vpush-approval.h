#pragma once

/* One ApproveChallenge or DenyChallenge call. Private to vpush-approve.c (matching,
 * waiting, the outcome), vpush-approve-fetch.c (looking a challenge sid up),
 * vpush-approve-answer.c (the answer) and vpush-approve-history.c (the API's list of
 * finished challenges). */

#include "vpush-bouncer.h"
#include "vpush-manager.h"

G_BEGIN_DECLS

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
  gchar *rule;       /* the rule that allowed the answer */
  gchar *session_id; /* the login session the answer was allowed in */

  gulong changed_id;
  guint timeout_id;
  gulong settled_id;     /* waiting for the key store's first answer to start timeout_id */
  guint caller_watch_id; /* while waiting: the caller's unique name on the bus */
  gulong stopping_id;    /* once allowed in: the manager's "stopping" */
  gboolean waiting;
  gboolean polling; /* the first poll of its factors is running: judge after all of it */
  gboolean polled;  /* that poll is over */
  gboolean timed_out;
  gboolean history_asked; /* transaction id: the factors' recent challenges were listed */
  guint history_running;  /* those lists in flight */
  gboolean done;
  gboolean maybe_answered; /* an attempt of the answer POST may have gone through unseen */
  gboolean posting;        /* the answer POST is under way */
  gboolean sent;           /* the answer went out: its outcome is never rationed */
  gboolean reply_stale;    /* the answer's 2xx reply showed the challenge in another status */
  gboolean reply_unread;   /* or its body could not be read at all */
  GError *wait_error;      /* why the last poll or fetch failed, if it did */
  GError *answer_error;    /* the API refused the answer: kept while the challenge is read */

  VpushChallenge *challenge; /* the one being answered */
  VpushChallenge *outcome;   /* not answered: the challenge whose status ended the call */
  VpushKeyBox *key;
  VpushKeyBox *fetch_key; /* challenge-sid lookup: the key of the factor being asked */
  guint fetch_index;      /* challenge-sid lookup: which factor is being asked */
  GPtrArray *fetch_factors;
} VpushApproval;

VpushApproval *vpush_approval_ref (VpushApproval *ap);
void vpush_approval_unref (VpushApproval *ap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushApproval, vpush_approval_unref)

VpushAction vpush_approval_action (VpushApproval *ap);
gboolean vpush_approval_factor_allowed (VpushApproval *ap, const gchar *factor_sid);
/* A factor whose Delete is under way: as good as gone for approvals. */
gboolean vpush_approval_factor_deleting (VpushApproval *ap, const gchar *factor_sid);
gboolean vpush_approval_matches (VpushApproval *ap, VpushChallenge *c);

/* Looks at the pending set again: answers, waits or ends the call. */
void vpush_approval_evaluate (VpushApproval *ap);
void vpush_approval_stop_waiting (VpushApproval *ap);
/* Each ends the call once; later calls do nothing. Takes error. */
void vpush_approval_finish_error (VpushApproval *ap, GError *error);
void vpush_approval_finish_ok (VpushApproval *ap, const gchar *final_status);
/* Ends the call with c's final status (expired, approved, …) as its error. */
void vpush_approval_finish_final (VpushApproval *ap, VpushChallenge *c, const gchar *status);

/* What went wrong while the call looked for its challenge, for its outcome should it find
 * none. Takes error. */
void vpush_approval_note_wait_error (VpushApproval *ap, GError *error);

/* vpush-approve-fetch.c: asks the API for the call's challenge sid, as of each factor the
 * call may answer for in turn. */
void vpush_approval_fetch_by_sid (VpushApproval *ap);
/* vpush-approve-answer.c: answers the one pending challenge that matched. */
void vpush_approval_answer (VpushApproval *ap, VpushPendingEntry *entry);
/* vpush-approve-answer.c: c is answered (status approved or denied, or "responded": a poll
 * can't tell which). An answer vpushd sent to it whose outcome was not known, in the
 * status this call asks, is this call's success. Whether it took the call over: ended it,
 * or reads the challenge to tell. */
gboolean vpush_approval_claim (VpushApproval *ap, VpushChallenge *c, const gchar *status);
/* vpush-approve-history.c: lists the recent challenges of the factors the call may use. */
void vpush_approval_ask_history (VpushApproval *ap);

G_END_DECLS
