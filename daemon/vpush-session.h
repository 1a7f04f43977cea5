/* The login session of a process, as logind tells it over the system bus. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  VPUSH_SESSION_UNKNOWN,  /* not asked, or logind could not be asked */
  VPUSH_SESSION_ACTIVE,   /* the active session of its seat, not locked */
  VPUSH_SESSION_INACTIVE, /* not the active session of its seat, or without a seat */
  VPUSH_SESSION_LOCKED,   /* active but locked */
  VPUSH_SESSION_NONE,     /* the process is in no login session */
} VpushSessionState;

/* "active and unlocked", "locked", … for messages */
const gchar *vpush_session_state_describe (VpushSessionState state);

#define VPUSH_TYPE_SESSION (vpush_session_get_type ())
G_DECLARE_FINAL_TYPE (VpushSession, vpush_session, VPUSH, SESSION, GObject)

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS) on first use. */
VpushSession *vpush_session_new (void);

/* The state of the session of pid: logind's GetSessionByPID, else, with display (a
 * process uid's user manager started), the user's graphical session, User.Display.
 * Fails when logind can't be asked or does not answer in time. */
void vpush_session_query_async (VpushSession *self, guint32 pid, guint32 uid, gboolean display,
                                GAsyncReadyCallback callback, gpointer user_data);
VpushSessionState vpush_session_query_finish (VpushSession *self, GAsyncResult *result,
                                              gchar **out_id, GError **error);

G_END_DECLS
