/* RFC 3339 UTC timestamps as the Verify API and the bus use them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (fractions and numeric offsets accepted) into unix seconds. */
gboolean vpush_time_parse (const gchar *text, gint64 *out_unix, GError **error);

/* Formats unix seconds as "YYYY-MM-DDTHH:MM:SSZ". */
gchar *vpush_time_format (gint64 unix_seconds);

G_END_DECLS
