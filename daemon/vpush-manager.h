/* The daemon's hub: owns the parts (config, HTTP, Verify client, key store, factor store,
 * pending set, poller) and the Manager object on the bus. */
#pragma once

#include <gio/gio.h>

#include "vpush-answer-memory.h"
#include "vpush-config.h"
#include "vpush-crypto.h"
#include "vpush-dbus-generated.h"
#include "vpush-factor-store.h"
#include "vpush-keystore.h"
#include "vpush-pending.h"
#include "vpush-verify.h"

G_BEGIN_DECLS

typedef struct _VpushFactor VpushFactor;
typedef struct _VpushPoller VpushPoller;
typedef struct _VpushHistory VpushHistory;
typedef struct _VpushPush VpushPush;
typedef struct _VpushBouncer VpushBouncer;

/* A loaded private key, shared by the operations that sign with it. */
typedef struct
{
  VpushKey *key;
} VpushKeyBox;

VpushKeyBox *vpush_key_box_new (VpushKey *key);
VpushKeyBox *vpush_key_box_ref (VpushKeyBox *box);
void vpush_key_box_unref (VpushKeyBox *box);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushKeyBox, vpush_key_box_unref)

#define VPUSH_TYPE_MANAGER (vpush_manager_get_type ())
G_DECLARE_FINAL_TYPE (VpushManager, vpush_manager, VPUSH, MANAGER, GObject)

/* Takes ownership of config. */
VpushManager *vpush_manager_new (VpushConfig *config, const gchar *state_dir, GError **error);

/* Loads the factor records and the enrollment journal, and starts connecting to the Secret
 * Service; calls that need a key wait for that (State "starting"). */
gboolean vpush_manager_load (VpushManager *self, GError **error);

/* Exports the Manager, the ObjectManager and every factor, and connects the push streams. */
gboolean vpush_manager_export (VpushManager *self, GDBusConnection *connection, GError **error);
/* Opens the push streams and starts polling every factor: once the bus name is owned, so
 * that their TLS set-up, key loads and first requests do not hold up READY=1. */
void vpush_manager_start_network (VpushManager *self);
/* vpushd is exiting: the calls still under way end now (the "stopping" signal), each with
 * its outcome in the log, as the main loop will not run again */
void vpush_manager_stop (VpushManager *self);
guint vpush_manager_get_n_factors (VpushManager *self);
const gchar *vpush_manager_get_state (VpushManager *self);
/* The exported Manager interface, NULL before export: its notify:: signals tell when State
 * and PushState change, and the manager's "factors-changed" signal when a factor is added or
 * removed. */
VpushDBusManager *vpush_manager_get_skeleton (VpushManager *self);

/* For the parts */
VpushConfig *vpush_manager_get_config (VpushManager *self);
VpushVerify *vpush_manager_get_verify (VpushManager *self);
VpushKeystore *vpush_manager_get_keystore (VpushManager *self);
VpushFactorStore *vpush_manager_get_factor_store (VpushManager *self);
VpushPending *vpush_manager_get_pending (VpushManager *self);
/* The answers sent whose outcome is not known (vpush-answer-memory.h) */
VpushAnswerMemory *vpush_manager_get_answers (VpushManager *self);
/* Puts a pending challenge fetched from the Verify API in the pending set, unless its
 * factor is not (or no longer) one of ours or the set is full; whether it did. */
gboolean vpush_manager_put_pending (VpushManager *self, VpushChallenge *challenge);
/* Hands a journal entry that could not be finished or undone to the recovery, which keeps
 * trying (vpush_recovery_take() in vpush-recovery.h); takes entry. */
void vpush_manager_recover (VpushManager *self, VpushEnrollment *entry, gboolean api_done);
VpushPoller *vpush_manager_get_poller (VpushManager *self);
VpushHistory *vpush_manager_get_history (VpushManager *self);
VpushPush *vpush_manager_get_push (VpushManager *self);
/* Who may call what (vpush-bouncer.h); without one every policy action is refused. */
void vpush_manager_set_bouncer (VpushManager *self, VpushBouncer *bouncer);
VpushBouncer *vpush_manager_get_bouncer (VpushManager *self);

VpushFactor *vpush_manager_lookup_factor (VpushManager *self, const gchar *sid);
/* The factors, in no particular order; list owned by the caller, factors are not. */
GList *vpush_manager_get_factors (VpushManager *self);
/* Takes a reference, exports it and starts polling it. */
void vpush_manager_add_factor (VpushManager *self, VpushFactor *factor);
void vpush_manager_remove_factor (VpushManager *self, const gchar *sid);
/* An enrollment holds the sid the API gave its new factor from then until it ends, so that
 * an API that hands out a sid twice can't make it replace a factor (its key, its record)
 * or another enrollment's: FALSE if a factor, an enrollment or an entry crash recovery
 * has still to do holds sid already. */
gboolean vpush_manager_claim_factor_sid (VpushManager *self, const gchar *sid);
void vpush_manager_release_factor_sid (VpushManager *self, const gchar *sid);

/* From the in-memory cache or the key store; the cache is dropped when the keyring locks. */
void vpush_manager_load_key_async (VpushManager *self, const gchar *factor_sid,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
VpushKeyBox *vpush_manager_load_key_finish (VpushManager *self, GAsyncResult *result,
                                            GError **error);
void vpush_manager_cache_key (VpushManager *self, const gchar *factor_sid, VpushKeyBox *box);
void vpush_manager_forget_key (VpushManager *self, const gchar *factor_sid);

/* Records the outcome of a Verify API call for State (offline when unreachable). */
void vpush_manager_note_api_result (VpushManager *self, const GError *error);
/* Why the last Verify API request got no usable answer (a transport failure, 429 or 5xx,
 * maybe still being retried), or NULL when it got one; *factor_sid (may be NULL): the
 * factor that request was of, NULL for one of none. */
const GError *vpush_manager_get_api_failure (VpushManager *self, const gchar **factor_sid);

/* ApproveChallenge and DenyChallenge calls of one caller (its unique bus name) that wait for
 * their challenge: a caller may have this many at once. Each costs memory until its
 * timeout, and a bus lets a connection have tens of thousands of calls out. */
#define VPUSH_WAITING_PER_CALLER_MAX 64
/* The same of all callers together: each waiting call holds its caller's pidfd, and a
 * process may open as many connections as it likes, so the per-caller cap alone would let
 * 16 connections take the 1024 descriptors a user service has. */
#define VPUSH_WAITING_MAX 512
/* FALSE, with G_DBUS_ERROR_LIMITS_EXCEEDED, when caller or all callers together have as
 * many waiting as they may */
gboolean vpush_manager_add_waiting (VpushManager *self, const gchar *caller, GError **error);
void vpush_manager_remove_waiting (VpushManager *self, const gchar *caller);

/* Calls of any caller that each hold connections to the Verify API until it answers, and
 * how many may be under way at once, of all callers together: each connection holds a
 * socket (and a file descriptor), and a caller in a loop could otherwise take every
 * descriptor vpushd may have, so that no caller could even be identified (its pidfd) and
 * every approval failed. */
typedef enum
{
  VPUSH_AT_API_LIST,    /* Factor.ListChallenges */
  VPUSH_AT_API_ENROLL,  /* EnrollFactor, from the key's creation to the end of any rollback */
  VPUSH_AT_API_REFRESH, /* Refresh, until its poll ends */
  VPUSH_AT_API_CHANGE,  /* Factor.Update and Verify, waiting for the factor's line or under way */
  VPUSH_AT_API_N,
} VpushAtApi;
#define VPUSH_LISTING_MAX    16
#define VPUSH_ENROLLING_MAX  8
#define VPUSH_REFRESHING_MAX 16
#define VPUSH_CHANGING_MAX   32
/* FALSE when the most calls of the kind are under way already */
gboolean vpush_manager_add_at_api (VpushManager *self, VpushAtApi kind);
void vpush_manager_remove_at_api (VpushManager *self, VpushAtApi kind);
guint vpush_manager_get_at_api (VpushManager *self, VpushAtApi kind);

G_END_DECLS
