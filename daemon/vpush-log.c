#include "vpush-log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vpush-names.h"

static gboolean log_verbose;

gchar *
vpush_log_excerpt (const gchar *text)
{
  /* no more bytes than the characters kept can take, however long text is */
  gsize max_bytes = VPUSH_LOG_EXCERPT_CHARS * 4;
  gsize len = strnlen (text, max_bytes + 1);
  g_autofree gchar *valid = g_utf8_make_valid (text, MIN (len, max_bytes));
  g_autofree gchar *head = NULL;

  if (len <= max_bytes && g_utf8_strlen (valid, -1) <= VPUSH_LOG_EXCERPT_CHARS)
    return g_steal_pointer (&valid);
  head = g_utf8_substring (valid, 0, VPUSH_LOG_EXCERPT_CHARS);
  return g_strconcat (head, "…", NULL);
}

static gboolean
has_field (const GLogField *fields, gsize n_fields, const gchar *key)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, key))
        return TRUE;
    }
  return FALSE;
}

/* " -- ", the separator of a record's fields (the start and end of text count as spaces) */
static gboolean
is_separator (const guchar *text, const guchar *p)
{
  return p[0] == '-' && p[1] == '-' && (p == text || p[-1] == ' ') && (p[2] == ' ' || p[2] == '\0');
}

/* Without the journal, a record is a line of text, "MESSAGE -- FIELD=value …": a caller's
 * executable path or a transaction id with a newline in it would make lines of its own,
 * and one with " -- " in it fields of its own (a forged "allowed" record). So control
 * characters and backslashes are written as escapes, and so is the second "-" of a " -- "
 * that is not the separator. */
static void
append_escaped (GString *line, const gchar *text)
{
  const guchar *start = (const guchar *)text;

  for (const guchar *p = start; *p; p++)
    {
      if (*p == '\n')
        g_string_append (line, "\\n");
      else if (*p == '\t')
        g_string_append (line, "\\t");
      else if (*p == '\\')
        g_string_append (line, "\\\\");
      else if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf (line, "\\x%02x", *p);
      else if (is_separator (start, p))
        {
          g_string_append (line, "-\\x2d");
          p++;
        }
      else
        g_string_append_c (line, (gchar)*p);
    }
}

static gboolean
needs_escape (const gchar *text)
{
  const guchar *start = (const guchar *)text;

  for (const guchar *p = start; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '\\' || is_separator (start, p))
      return TRUE;
  return FALSE;
}

static void
append_value (GString *line, const gchar *value)
{
  if (needs_escape (value))
    {
      g_autoptr (GString) escaped = g_string_new (NULL);
      g_autofree gchar *quoted = NULL;

      append_escaped (escaped, value);
      quoted = g_shell_quote (escaped->str);
      g_string_append (line, quoted);
      return;
    }
  for (const gchar *p = value; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("_-./:@+,", *p) == NULL)
        {
          g_autofree gchar *quoted = g_shell_quote (value);

          g_string_append (line, quoted);
          return;
        }
    }
  g_string_append (line, *value ? value : "''");
}

/* The audit trail and the other records with a MESSAGE_ID must survive without the journal:
 * their fields go into the message. */
static GLogWriterOutput
write_fields_to_stderr (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                        gpointer data)
{
  g_autoptr (GString) line = g_string_new (NULL);
  g_autofree GLogField *copy = g_memdup2 (fields, n_fields * sizeof (GLogField));

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0)
        append_escaped (line, fields[i].value);
    }
  g_string_append (line, " --");
  for (gsize i = 0; i < n_fields; i++)
    {
      if ((g_str_equal (fields[i].key, "MESSAGE_ID") || g_str_has_prefix (fields[i].key, "VPUSH_"))
          && fields[i].length < 0)
        {
          g_string_append_c (line, ' ');
          g_string_append (line, fields[i].key);
          g_string_append_c (line, '=');
          append_value (line, fields[i].value);
        }
    }
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (copy[i].key, "MESSAGE"))
        copy[i] = (GLogField){ "MESSAGE", line->str, -1 };
    }
  return g_log_writer_standard_streams (level, copy, n_fields, data);
}

/* Any other message: one line, whatever it quotes */
static GLogWriterOutput
write_escaped_to_stderr (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                         gpointer data)
{
  g_autoptr (GString) line = NULL;
  g_autofree GLogField *copy = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (!g_str_equal (fields[i].key, "MESSAGE") || fields[i].length >= 0
          || !needs_escape (fields[i].value))
        continue;
      line = g_string_new (NULL);
      append_escaped (line, fields[i].value);
      copy = g_memdup2 (fields, n_fields * sizeof (GLogField));
      copy[i] = (GLogField){ "MESSAGE", line->str, -1 };
      return g_log_writer_standard_streams (level, copy, n_fields, data);
    }
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

/* stderr stays what it was at start: asked once, not with a system call per message */
static gboolean
stderr_is_journald (void)
{
  static gint journald = -1;
  gint cached = g_atomic_int_get (&journald);

  if (cached < 0)
    {
      cached = g_log_writer_is_journald (fileno (stderr)) ? 1 : 0;
      g_atomic_int_set (&journald, cached);
    }
  return cached == 1;
}

static GLogWriterOutput
vpush_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  /* --verbose shows debug output; otherwise G_MESSAGES_DEBUG decides, as usual */
  if (!log_verbose && (level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
      && g_log_writer_default_would_drop (level, "vpushd"))
    return G_LOG_WRITER_HANDLED;

  if (stderr_is_journald ()
      && g_log_writer_journald (level, fields, n_fields, data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  /* the records an administrator looks for (each has a MESSAGE_ID) keep their fields */
  if (has_field (fields, n_fields, "MESSAGE_ID"))
    return write_fields_to_stderr (level, fields, n_fields, data);
  return write_escaped_to_stderr (level, fields, n_fields, data);
}

/* syslog priorities, as GLib's own writer maps them */
static const gchar *
log_level_to_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "3";
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

gboolean
vpush_log_debug_enabled (void)
{
  /* the writer's own test, below */
  return log_verbose || !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, "vpushd");
}

void
vpush_log_setup (gboolean verbose)
{
  log_verbose = verbose;
  g_log_set_writer_func (vpush_log_writer, NULL, NULL);
}

/* One record: message with its level and id, then the fields of extra whose value is set. */
static void
log_record (GLogLevelFlags level, const gchar *message_id, const gchar *message,
            const GLogField *extra, gsize n_extra)
{
  g_autofree GLogField *fields = g_new0 (GLogField, n_extra + 4);
  gsize n = 0;

  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", "vpushd", -1 };
  fields[n++] = (GLogField){ "PRIORITY", log_level_to_priority (level), -1 };
  if (message_id)
    fields[n++] = (GLogField){ "MESSAGE_ID", message_id, -1 };
  for (gsize i = 0; i < n_extra; i++)
    {
      if (extra[i].value != NULL)
        fields[n++] = extra[i];
    }
  g_log_structured_array (level, fields, n);
}

void
vpush_log_event (GLogLevelFlags level, const gchar *message_id, const gchar *factor,
                 const gchar *challenge, const gchar *caller, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  const GLogField extra[] = {
    { VPUSH_LOG_FIELD_FACTOR, factor, -1 },
    { VPUSH_LOG_FIELD_CHALLENGE, challenge, -1 },
    { VPUSH_LOG_FIELD_CALLER, caller, -1 },
  };
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  log_record (level, message_id, message, extra, G_N_ELEMENTS (extra));
}

void
vpush_log_fields (GLogLevelFlags level, const gchar *message_id, const GLogField *extra,
                  gsize n_extra, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  log_record (level, message_id, message, extra, n_extra);
}
