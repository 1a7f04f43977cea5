/* Factor calls on a path under /io/github/vpush/factors where no factor is exported (a
 * deleted factor, a stale proxy, a mistyped path) get io.github.vpush1.Error.NotFound, not
 * GDBus's UnknownMethod. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Registers the fallback on connection: a subtree at the factors path that GDBus tries
 * only when no object is exported at the called path. Unregister it with
 * g_dbus_connection_unregister_subtree(). */
guint vpush_factor_fallback_register (GDBusConnection *connection, GError **error);

G_END_DECLS
