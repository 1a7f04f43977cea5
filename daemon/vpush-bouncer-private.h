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
  GPtrArray *monitors;
  guint reload_id;
  GHashTable *writing; /* paths of policy files created or changed and not yet closed */
  guint writing_id;
};

void vpush_bouncer_log_policy (VpushBouncer *self, const gchar *what);
void vpush_bouncer_cancel_monitors (VpushBouncer *self, GPtrArray *monitors);
void vpush_bouncer_watch (VpushBouncer *self);

G_END_DECLS
