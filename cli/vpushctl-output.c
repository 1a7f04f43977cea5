/* vpushctl: JSON and text output. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpushctl.h"

/* "FriendlyName" and "created-at" → "friendly_name", "created_at": easy to use from jq */
gchar *
vpushctl_snake_case (const gchar *name)
{
  GString *out = g_string_new (NULL);

  for (const gchar *p = name; *p; p++)
    {
      if (*p == '-')
        g_string_append_c (out, '_');
      else if (g_ascii_isupper (*p))
        {
          if (p != name && (g_ascii_islower (p[-1]) || g_ascii_isdigit (p[-1])))
            g_string_append_c (out, '_');
          g_string_append_c (out, g_ascii_tolower (*p));
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

JsonNode *
vpushctl_variant_to_json (GVariant *value)
{
  JsonNode *node;

  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr (GVariant) inner = g_variant_get_variant (value);

      return vpushctl_variant_to_json (inner);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("a(ss)")))
    {
      /* Fields: label/value pairs */
      JsonArray *array = json_array_new ();
      GVariantIter iter;
      const gchar *label, *text;

      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "(&s&s)", &label, &text))
        {
          JsonObject *object = json_object_new ();

          json_object_set_string_member (object, "label", label);
          json_object_set_string_member (object, "value", text);
          json_array_add_object_element (array, object);
        }
      node = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (node, array);
      return node;
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARDICT))
    {
      JsonObject *object = json_object_new ();
      GVariantIter iter;
      const gchar *key;
      GVariant *child;

      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &child))
        {
          g_autofree gchar *member = vpushctl_snake_case (key);

          json_object_set_member (object, member, vpushctl_variant_to_json (child));
          g_variant_unref (child);
        }
      node = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (node, object);
      return node;
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_ARRAY)
      && !g_variant_is_of_type (value, G_VARIANT_TYPE_DICTIONARY))
    {
      JsonArray *array = json_array_new ();
      gsize n = g_variant_n_children (value);

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr (GVariant) child = g_variant_get_child_value (value, i);

          json_array_add_element (array, vpushctl_variant_to_json (child));
        }
      node = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (node, array);
      return node;
    }
  /* strings, object paths, numbers, booleans, a{ss} */
  return json_gvariant_serialize (value);
}

JsonNode *
vpushctl_props_to_json (const gchar *path, GVariant *props)
{
  JsonNode *node = vpushctl_variant_to_json (props);

  if (path)
    json_object_set_string_member (json_node_get_object (node), "object_path", path);
  return node;
}

void
vpushctl_print_json (JsonNode *node, gboolean pretty)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree gchar *text = NULL;

  json_generator_set_pretty (generator, pretty);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
  /* monitor's consumers read line by line from a pipe */
  fflush (stdout);
}

const gchar *
vpushctl_prop_string (GVariant *props, const gchar *name)
{
  const gchar *value = NULL;

  if (!g_variant_lookup (props, name, "&s", &value))
    g_variant_lookup (props, name, "&o", &value);
  return value;
}

const gchar *
vpushctl_path_basename (const gchar *path)
{
  const gchar *slash = strrchr (path, '/');

  return slash ? slash + 1 : path;
}

void
vpushctl_print_fields (GVariant *fields, const gchar *indent)
{
  GVariantIter iter;
  const gchar *label, *value;

  if (fields == NULL)
    return;
  g_variant_iter_init (&iter, fields);
  while (g_variant_iter_next (&iter, "(&s&s)", &label, &value))
    {
      g_autofree gchar *label_line = vpushctl_escape (label, FALSE, FALSE);
      g_autofree gchar *value_line = vpushctl_escape (value, FALSE, FALSE);

      g_print ("%s%s: %s\n", indent, label_line, value_line);
    }
}

/* Bidirectional controls reorder what follows them on screen (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069): a message could show one amount and hold another. */
static gboolean
is_bidi_control (gunichar c)
{
  return c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e)
         || (c >= 0x2066 && c <= 0x2069);
}

/* backslash: escaped too, so that the text's own \x1b (four characters) is not taken for
 * an escaped control */
static gchar *
escape (const gchar *text, gboolean keep_newlines, gboolean json, gboolean backslash)
{
  GString *out = g_string_sized_new (strlen (text));
  const gchar *p = text;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar)-1 || c == (gunichar)-2)
        {
          /* not UTF-8: the byte as it is, escaped; JSON has no such escape, and its text
           * is Unicode: the replacement character */
          if (json)
            g_string_append (out, "\\ufffd");
          else
            g_string_append_printf (out, "\\x%02x", (guchar)*p);
          p++;
          continue;
        }
      if ((c == '\n' || c == '\t') && keep_newlines)
        g_string_append_unichar (out, c);
      else if (c == '\\' && backslash)
        g_string_append (out, "\\\\");
      else if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        /* JSON strings take \u escapes; of the C0 controls, json-glib 1.6 leaves only U+001F
         * unescaped, and only in a string */
        g_string_append_printf (out, json ? "\\u%04x" : "\\x%02x", c);
      else if (is_bidi_control (c))
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_unichar (out, c);
      p = g_utf8_next_char (p);
    }
  return g_string_free (out, FALSE);
}

gchar *
vpushctl_escape (const gchar *text, gboolean keep_newlines, gboolean json)
{
  /* JSON has its own escape for a backslash */
  return escape (text, keep_newlines, json, !json);
}

const gchar *
vpushctl_one_line (GVariant *props, const gchar *name, gchar **buf)
{
  const gchar *value = vpushctl_prop_string (props, name);

  *buf = value != NULL ? vpushctl_escape (value, FALSE, FALSE) : NULL;
  return *buf;
}

static const gboolean *output_json; /* the --json option, wherever it was given */

/* What vpushctl says on standard output must arrive, or the exit status say it did not:
 * a reader that went away ends vpushctl as it ends other tools, by SIGPIPE (which GIO
 * ignores for its sockets: monitor would run on for ever); any other failure (a full disk)
 * is told on standard error. */
static void
check_output (FILE *stream, gboolean failed, int saved_errno)
{
  if (stream != stdout || !failed)
    return;
  if (saved_errno == EPIPE)
    {
      signal (SIGPIPE, SIG_DFL);
      raise (SIGPIPE);
    }
  fprintf (stderr, "vpushctl: cannot write to standard output: %s\n", g_strerror (saved_errno));
  exit (VPUSHCTL_EXIT_OUTPUT);
}

/* utf8: as it is, whatever the locale (--json's standard output) */
static void
write_escaped (FILE *stream, const gchar *text, gboolean utf8)
{
  /* Text may hold vpushctl_escape()'s escapes by now: its backslashes are left alone, or
   * each would be doubled. What can bring a backslash of its own is escaped before. */
  g_autofree gchar *escaped = escape (text, TRUE, output_json != NULL && *output_json, FALSE);
  const gchar *charset;

  /* as GLib's own handler: text in the locale's charset; JSON is UTF-8 in any locale
   * (RFC 8259), and a script must get back the names it sent */
  gboolean failed;

  if (g_get_charset (&charset) || utf8)
    failed = fputs (escaped, stream) == EOF;
  else
    {
      g_autofree gchar *converted
          = g_convert_with_fallback (escaped, -1, charset, "UTF-8", "?", NULL, NULL, NULL);

      failed = fputs (converted != NULL ? converted : escaped, stream) == EOF;
    }
  failed = fflush (stream) != 0 || failed;
  check_output (stream, failed, errno);
}

static void
print_escaped (const gchar *text)
{
  write_escaped (stdout, text, output_json != NULL && *output_json);
}

static void
printerr_escaped (const gchar *text)
{
  /* messages for a person, JSON or not */
  write_escaped (stderr, text, FALSE);
}

void
vpushctl_output_init (const gboolean *json)
{
  output_json = json;
  g_set_print_handler (print_escaped);
  g_set_printerr_handler (printerr_escaped);
}
