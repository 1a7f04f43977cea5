/* What vpush-factor.c shares with vpush-factor-delete.c and vpush-factor-list.c: the factor
 * object and the state of one of its method calls. */
#pragma once

#include "vpush-dbus-generated.h"
#include "vpush-factor.h"

G_BEGIN_DECLS

struct _VpushFactor
{
  GObject parent_instance;
  VpushManager *manager;
  VpushFactorRecord *record;
  GDBusObjectSkeleton *object;
  VpushDBusFactor *skeleton;
  gboolean deleting;
  GPtrArray *delete_joined; /* Delete calls waiting for the one in flight to end */
  gboolean updating;        /* an Update or Verify is under way; the rest wait in update_queue */
  GQueue update_queue;      /* FactorCall */
  guint changes_out;        /* Update and Verify calls under way (FactorCall.holds_change) */
  struct _FactorCall *delete_waiting; /* the Delete, until changes_out is 0 */
};

/* The steps of every method: load the key, then call the API with it. */
typedef struct _FactorCall
{
  VpushFactor *factor;
  GDBusMethodInvocation *invocation;
  VpushKeyBox *key;
  gchar *friendly_name; /* Update */
  gchar *push_url;      /* Update */
  gboolean set_push_url;
  gboolean renamed;          /* Update: the friendly name changed */
  gboolean push_changed;     /* Update: the push URL changed */
  VpushEnrollment *deletion; /* Delete: its journal entry, once written */
  gboolean remote_deleted;   /* Delete: the API no longer has the factor */
  GError *error;             /* Delete: the failure told once the factor is put back */
  gchar *undo_failure;       /* Delete: why the record could not be put back */
  gboolean verify;           /* a Verify: it waits in the update queue as an Update does */
  gboolean counted;          /* Update, Verify: counted in VPUSH_AT_API_CHANGE */
  gboolean holds_update;     /* Update, Verify: the one under way; the next starts when it ends */
  gboolean holds_change;     /* Update, Verify: past the checks, so a Delete waits for it to end */
} FactorCall;

FactorCall *vpush_factor_call_new (VpushFactor *self, GDBusMethodInvocation *invocation);
void vpush_factor_call_free (FactorCall *call);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FactorCall, vpush_factor_call_free)

/* Whether the factor was deleted while the call's request was out (then the call has its
 * NotFound reply): its record must not be written again, or it would come back at the
 * next start. */
gboolean vpush_factor_call_deleted_meanwhile (FactorCall *call);
/* The call's error reply; NotFound if the factor was deleted meanwhile */
void vpush_factor_call_fail (FactorCall *call, const GError *error);

/* An Update or Verify about to be sent: from here a Delete lets it end (its answer recorded)
 * before it begins, and the call is not NotFound because of that Delete. */
void vpush_factor_call_hold_change (FactorCall *call);

/* The Delete that waited for the calls under way (takes call) */
void vpush_factor_delete_begin (FactorCall *call);

gboolean vpush_factor_handle_delete (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation,
                                     VpushFactor *self);
gboolean vpush_factor_handle_list (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation,
                                   GVariant *options, VpushFactor *self);

G_END_DECLS
