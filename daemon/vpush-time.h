/* RFC 3339 UTC timestamps as the Verify API and the bus use them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The largest clock correction taken, either way. A clock reset to 1970 is some 56 years
 * off; a larger one is a broken Date header or a damaged state file, and would overflow
 * the arithmetic on times (in µs) once added to the local clock. */
#define VPUSH_TIME_OFFSET_MAX ((gint64)100 * 366 * 24 * 3600)

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (fractions and numeric offsets accepted) into unix seconds. */
gboolean vpush_time_parse (const gchar *text, gint64 *out_unix, GError **error);

/* Formats unix seconds as "YYYY-MM-DDTHH:MM:SSZ". */
gchar *vpush_time_format (gint64 unix_seconds);

/* µs of CLOCK_BOOTTIME: it goes on through a suspend, where the monotonic clock of GLib's
 * timers stands still. For waits a server asked for, which run in real time. */
gint64 vpush_time_boot_us (void);

G_END_DECLS
