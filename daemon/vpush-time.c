#include "vpush-time.h"

#include <gio/gio.h>

gboolean
vpush_time_parse (const gchar *text, gint64 *out_unix, GError **error)
{
  g_autoptr (GDateTime) dt = NULL;

  if (text != NULL)
    dt = g_date_time_new_from_iso8601 (text, NULL);
  if (dt == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an RFC 3339 time: “%s”",
                   text ? text : "(null)");
      return FALSE;
    }
  *out_unix = g_date_time_to_unix (dt);
  return TRUE;
}

gchar *
vpush_time_format (gint64 unix_seconds)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (unix_seconds);

  if (dt == NULL)
    return g_strdup ("1970-01-01T00:00:00Z");
  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}
