/* A vpushd that could not start answers the calls that started it. dbus-daemon hears of
 * an activated service's failure only when the start job fails at once; a unit that fails
 * after its job was queued leaves those calls to their own timeout, and every later call
 * waiting for the activation's (120 s). Holding the name for a moment is what lets vpushd
 * answer them. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _VpushStartFailed VpushStartFailed;

/* Asks for VPUSH_DBUS_NAME on connection (never taken from another owner) and answers
 * every call that reaches vpushd with io.github.vpush1.Error.StartFailed, which says why
 * in classes of exit_status only (the details are in the log). Tells systemd READY=1,
 * then STOPPING=1, and gives the name back once it has read them; quits loop once every
 * call that reached vpushd is answered, or when the name can't be had. */
VpushStartFailed *vpush_start_failed_new (GDBusConnection *connection, int exit_status,
                                          GMainLoop *loop);
void vpush_start_failed_free (VpushStartFailed *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushStartFailed, vpush_start_failed_free)

G_END_DECLS
