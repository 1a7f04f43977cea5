/* What vpush-factor.c shares with vpush-factor-delete.c: the factor object and the state
 * of one of its method calls. */
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
  gboolean updating;        /* an Update is under way; the others wait in update_queue */
  GQueue update_queue;      /* FactorCall */
};

/* The steps of every method: load the key, then call the API with it. */
typedef struct
{
  VpushFactor *factor;
  GDBusMethodInvocation *invocation;
  VpushKeyBox *key;
  gchar *friendly_name; /* Update */
  gchar *push_url;      /* Update */
  gboolean set_push_url;
  gboolean renamed;          /* Update: the friendly name changed */
  VpushEnrollment *deletion; /* Delete: its journal entry, once written */
  gboolean remote_deleted;   /* Delete: the API no longer has the factor */
  GError *error;             /* Delete: the failure told once the factor is put back */
  gboolean holds_update;     /* Update: the one under way; the next starts when it ends */
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

gboolean vpush_factor_handle_delete (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation,
                                     VpushFactor *self);

G_END_DECLS
