#include "vpush-time.h"

#include <gio/gio.h>
#include <string.h>
#include <time.h>

#include "vpush-log.h"

/* Whether text[*i…] is n digits; moves *i past them */
static gboolean
digits (const gchar *text, gsize *i, guint n)
{
  for (guint k = 0; k < n; k++, (*i)++)
    {
      if (!g_ascii_isdigit (text[*i]))
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_char (const gchar *text, gsize *i, gchar c)
{
  if (text[*i] != c)
    return FALSE;
  (*i)++;
  return TRUE;
}

/* The shape of an RFC 3339 date-time (§5.6), as a copy with "T" and "Z" in upper case; or
 * NULL. GLib's ISO 8601 reader takes more (a space for "T", no seconds, week dates) and
 * refuses "t" and "z", which RFC 3339 allows. The ranges are GLib's to check. */
static gchar *
rfc3339_shape (const gchar *text)
{
  g_autofree gchar *copy = g_strdup (text);
  gsize i = 0;

  if (!digits (copy, &i, 4) || !is_char (copy, &i, '-') || !digits (copy, &i, 2)
      || !is_char (copy, &i, '-') || !digits (copy, &i, 2))
    return NULL;
  if (copy[i] != 'T' && copy[i] != 't')
    return NULL;
  copy[i++] = 'T';
  if (!digits (copy, &i, 2) || !is_char (copy, &i, ':') || !digits (copy, &i, 2)
      || !is_char (copy, &i, ':') || !digits (copy, &i, 2))
    return NULL;
  if (is_char (copy, &i, '.'))
    {
      gsize fraction = i;

      if (!digits (copy, &i, 1))
        return NULL;
      while (g_ascii_isdigit (copy[i]))
        i++;
      /* time-secfrac has no bound, GLib's reader one of 19 digits: those past the
       * microseconds, which are all GLib keeps, go (a cut, not a rounding up into the next
       * second) */
      if (i - fraction > 6)
        {
          memmove (copy + fraction + 6, copy + i, strlen (copy + i) + 1);
          i = fraction + 6;
        }
    }
  if (copy[i] == 'Z' || copy[i] == 'z')
    copy[i++] = 'Z';
  else if (copy[i] == '+' || copy[i] == '-')
    {
      /* time-numoffset: hours 00-23, minutes 00-59 (GLib takes 24 hours) */
      i++;
      if (!digits (copy, &i, 2) || !is_char (copy, &i, ':') || !digits (copy, &i, 2)
          || g_ascii_digit_value (copy[i - 5]) * 10 + g_ascii_digit_value (copy[i - 4]) > 23
          || copy[i - 2] > '5')
        return NULL;
    }
  else
    return NULL;
  return copy[i] == '\0' ? g_steal_pointer (&copy) : NULL;
}

gboolean
vpush_time_parse (const gchar *text, gint64 *out_unix, GError **error)
{
  g_autoptr (GDateTime) dt = NULL;
  g_autofree gchar *shaped = text != NULL ? rfc3339_shape (text) : NULL;

  if (shaped != NULL)
    dt = g_date_time_new_from_iso8601 (shaped, NULL);
  if (dt == NULL)
    {
      g_autofree gchar *quoted = vpush_log_excerpt (text ? text : "(null)");

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an RFC 3339 time: “%s”",
                   quoted);
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

gint64
vpush_time_boot_us (void)
{
  struct timespec ts;

  if (clock_gettime (CLOCK_BOOTTIME, &ts) != 0)
    return g_get_monotonic_time ();
  return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}
