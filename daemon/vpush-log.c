#include "vpush-log.h"

#include <stdarg.h>
#include <stdio.h>

#include "vpush-names.h"

static gboolean log_verbose;

static GLogWriterOutput
vpush_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  /* --verbose shows debug output; otherwise G_MESSAGES_DEBUG decides, as usual */
  if (!log_verbose && (level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
      && g_log_writer_default_would_drop (level, "vpushd"))
    return G_LOG_WRITER_HANDLED;

  if (g_log_writer_is_journald (fileno (stderr))
      && g_log_writer_journald (level, fields, n_fields, data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

void
vpush_log_setup (gboolean verbose)
{
  log_verbose = verbose;
  g_log_set_writer_func (vpush_log_writer, NULL, NULL);
}

void
vpush_log_event (GLogLevelFlags level, const gchar *message_id, const gchar *factor,
                 const gchar *challenge, const gchar *caller, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  GLogField fields[7];
  gsize n = 0;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", "vpushd", -1 };
  fields[n++] = (GLogField){
    "PRIORITY",
    level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING) ? "4" : "5", -1
  };
  if (message_id)
    fields[n++] = (GLogField){ "MESSAGE_ID", message_id, -1 };
  if (factor)
    fields[n++] = (GLogField){ VPUSH_LOG_FIELD_FACTOR, factor, -1 };
  if (challenge)
    fields[n++] = (GLogField){ VPUSH_LOG_FIELD_CHALLENGE, challenge, -1 };
  if (caller)
    fields[n++] = (GLogField){ VPUSH_LOG_FIELD_CALLER, caller, -1 };

  g_log_structured_array (level, fields, n);
}
