/* The pending challenges vpushd knows of, indexed by sid, each a Challenge object on the
 * bus; plus a short memory of the ones that stopped being pending, so a late
 * ApproveChallenge can be told "already responded" or "expired" instead of "not found". */
#pragma once

#include <gio/gio.h>

#include "vpush-challenge.h"
#include "vpush-object-manager.h"

G_BEGIN_DECLS

typedef struct
{
  VpushChallenge *challenge;
  gint64 fetched_at; /* of the single GET this copy came from, CLOCK_BOOTTIME µs */
  gboolean answering;
} VpushPendingEntry;

#define VPUSH_TYPE_PENDING (vpush_pending_get_type ())
G_DECLARE_FINAL_TYPE (VpushPending, vpush_pending, VPUSH, PENDING, GObject)

/* server nullable (nothing on the bus): each pending challenge is a node of a subtree at
 * the challenges path that server lists. Signal "changed": new challenges may be there. */
VpushPending *vpush_pending_new (VpushObjectManager *server, GError **error);

/* At most this many challenges are pending at once, of all factors: what a GetManagedObjects
 * reply and vpushd's memory can hold, whatever a server sends. */
#define VPUSH_PENDING_MAX 2048

/* Adds or replaces a challenge fresh from a single GET (status pending); a stale pending
 * copy of a challenge that finished is ignored. FALSE when a new one is left out, as
 * VPUSH_PENDING_MAX are pending. */
gboolean vpush_pending_put (VpushPending *self, VpushChallenge *challenge);
VpushPendingEntry *vpush_pending_lookup (VpushPending *self, const gchar *sid);
/* Challenges of factor_sid a poll listed as pending and has not got by its GET (the list's
 * copies, with no signature fields: a GET under way or failed): never answered nor on the
 * bus, but an approval counts a match among them, so that it never answers one of two
 * matching challenges only because the other is not fetched. replace: they are all the
 * factor has (a poll whose list was read in full); else they are added. A put() or
 * finish() of one takes it out. */
void vpush_pending_set_unfetched (VpushPending *self, const gchar *factor_sid,
                                  GPtrArray *challenges, gboolean replace);
/* A GET of it showed it is no longer pending */
void vpush_pending_drop_unfetched (VpushPending *self, const gchar *sid);
/* VpushChallenge, owned by the set; the list is the caller's */
GList *vpush_pending_get_unfetched (VpushPending *self);
/* Entries in no particular order; the list is owned by the caller, the entries are not. */
GList *vpush_pending_get_entries (VpushPending *self);
guint vpush_pending_get_size (VpushPending *self);

/* Removes it from the bus and remembers its final status (approved, denied, expired). Of
 * one a poll found no longer pending ("responded"), the status read since. */
void vpush_pending_finish (VpushPending *self, const gchar *sid, const gchar *final_status);
/* Removes every challenge of the factor, remembering nothing. */
void vpush_pending_remove_factor (VpushPending *self, const gchar *factor_sid);
/* Finishes every entry whose expiry is at or before now (server time, unix seconds). */
void vpush_pending_expire (VpushPending *self, gint64 now);

/* Server time, unix seconds. */
typedef gint64 (*VpushPendingClock) (gpointer user_data);
/* From now on challenges are finished as "expired" by themselves, by a timer for the
 * earliest expiry; no timer runs while nothing is pending. */
void vpush_pending_set_clock (VpushPending *self, VpushPendingClock clock, gpointer user_data);
/* Expires by that clock now, not at the timer (after a suspend, during which the monotonic
 * clock of the timer stood still); nothing before a clock is set. */
void vpush_pending_expire_now (VpushPending *self);

/* A challenge that stopped being pending, or NULL; *out_status gets its final status. */
VpushChallenge *vpush_pending_lookup_finished (VpushPending *self, const gchar *sid,
                                               const gchar **out_status);
/* A challenge the Verify API lists as no longer pending (approved, denied, expired), seen
 * before vpushd started or longer ago than it keeps finished ones: kept as a finished one
 * that finished when it was created (now: the API's clock, unix seconds), unless it is
 * pending here or known already. */
void vpush_pending_note_finished (VpushPending *self, VpushChallenge *challenge, gint64 now);

/* Which factors' challenges a lookup may return (a caller's policy). */
typedef gboolean (*VpushPendingFactorFilter) (const gchar *factor_sid, gpointer user_data);

/* The finished challenge whose hidden_details[key] is value, of a factor allowed (NULL:
 * any), created last (the newest use of a transaction id is its outcome); those removed
 * with their factor ("deleted") are not looked at. */
VpushChallenge *vpush_pending_find_finished (VpushPending *self, const gchar *key,
                                             const gchar *value, VpushPendingFactorFilter allowed,
                                             gpointer user_data, const gchar **out_status);

void vpush_pending_emit_changed (VpushPending *self);

gchar *vpush_challenge_object_path (const gchar *sid);
gchar *vpush_factor_object_path (const gchar *sid);

G_END_DECLS
