/* Manager.Refresh: a poll of every factor, the reply once it is done. */
#include "vpush-refresh.h"

#include "vpush-bouncer.h"
#include "vpush-error.h"
#include "vpush-poller.h"

typedef struct
{
  VpushManager *manager;
  GDBusMethodInvocation *invocation;
} Refresh;

static void
refresh_free (Refresh *refresh)
{
  g_object_unref (refresh->manager);
  g_object_unref (refresh->invocation);
  g_free (refresh);
}

static void
refresh_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Refresh *refresh = user_data;
  g_autoptr (GError) error = NULL;

  vpush_manager_remove_at_api (refresh->manager, VPUSH_AT_API_REFRESH);
  if (!vpush_poller_poll_finish ((VpushPoller *)source, result, &error))
    vpush_error_return (refresh->invocation, error);
  else
    g_dbus_method_invocation_return_value (refresh->invocation, NULL);
  refresh_free (refresh);
}

/* Each waiting Refresh holds its caller's pidfd, so that a caller in a loop, with slow
 * polls, could take every descriptor: the number waiting is capped, as ListChallenges'. */
static void
refresh_allowed (gpointer data)
{
  Refresh *refresh = data;

  if (!vpush_manager_add_at_api (refresh->manager, VPUSH_AT_API_REFRESH))
    {
      g_dbus_method_invocation_return_error (
          refresh->invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
          "%d Refresh calls are waiting for their poll already; try again once it has ended",
          VPUSH_REFRESHING_MAX);
      refresh_free (refresh);
      return;
    }
  vpush_poller_poll_async (vpush_manager_get_poller (refresh->manager), NULL, NULL, refresh_cb,
                           refresh);
}

void
vpush_refresh_handle (VpushManager *manager, GDBusMethodInvocation *invocation)
{
  Refresh *refresh = g_new0 (Refresh, 1);

  refresh->manager = g_object_ref (manager);
  refresh->invocation = g_object_ref (invocation);
  /* any process of the user may ask for a poll; the bouncer still checks the uid */
  vpush_bouncer_gate (manager, invocation, VPUSH_ACTION_NONE, NULL, refresh_allowed, refresh,
                      (GDestroyNotify)refresh_free);
}
