/* What vpush-bouncer.c (letting callers in) shares with vpush-bouncer-watch.c (watching the
 * policy directories and reloading the policy): the bouncer object; not API. */
#pragma once

#include "vpush-bouncer.h"
#include "vpush-session.h"

G_BEGIN_DECLS

struct _VpushBouncer
{
  GObject parent_instance;
  GStrv dirs;
  gboolean require_root;
  VpushPolicy *policy;
  VpushSession *session;
  GPtrArray *watches; /* what watches each policy directory (vpush-bouncer-watch.c) */
  guint reload_id;
  GHashTable *writing; /* paths of policy files created or changed and not yet closed */
  guint writing_id;
  GCancellable *reading; /* of the read under way in a thread, NULL if none */
  const gchar *again;    /* a read asked for while one runs: why, NULL if none */
};

void vpush_bouncer_log_policy (VpushBouncer *self, const gchar *what);
/* At start-up, before the policy is read: watches the policy directories. */
void vpush_bouncer_watch (VpushBouncer *self);
/* When the bouncer goes: stops watching, and leaves a read under way to end unseen. */
void vpush_bouncer_unwatch (VpushBouncer *self);

G_END_DECLS
