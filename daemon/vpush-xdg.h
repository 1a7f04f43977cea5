/* The user's base directories, as the XDG Base Directory specification defines them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* dir, GLib's value of the environment variable's directory (g_get_user_state_dir() for
 * XDG_STATE_HOME, say), or $HOME/fallback when it is relative: the specification asks that
 * a relative one be taken as invalid and ignored, and GLib takes it as it is, relative to
 * wherever vpushd was started. A relative value is warned of. */
gchar *vpush_xdg_dir (const gchar *dir, const gchar *variable, const gchar *fallback);

G_END_DECLS
