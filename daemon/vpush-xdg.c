/* The user's base directories. Apart from GLib's g_get_user_*_dir(), which take a relative
 * XDG_STATE_HOME as it is: the state directory would then depend on the directory vpushd
 * was started from (the unit's, a shell's, the bus daemon's), and the keys of the factors
 * recorded in one would be unowned in the others. */
#include "vpush-xdg.h"

gchar *
vpush_xdg_dir (const gchar *dir, const gchar *variable, const gchar *fallback)
{
  if (g_path_is_absolute (dir))
    return g_strdup (dir);
  g_warning ("%s=%s is ignored: the XDG Base Directory specification allows only an "
             "absolute path there",
             variable, dir);
  return g_build_filename (g_get_home_dir (), fallback, NULL);
}
