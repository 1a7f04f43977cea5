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
  gint year;
  gint month;
  gint day;

  if (dt == NULL)
    return g_strdup ("1970-01-01T00:00:00Z");
  /* RFC 3339 wants four digits of year (GDateTime's %Y gives "504" for 504), and
   * vpush_time_parse() reads back nothing else; built without g_date_time_format()'s
   * locale-aware conversions, at every challenge exported */
  g_date_time_get_ymd (dt, &year, &month, &day);
  return g_strdup_printf ("%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day,
                          g_date_time_get_hour (dt), g_date_time_get_minute (dt),
                          g_date_time_get_second (dt));
}
