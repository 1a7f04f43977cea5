#include "vpush-args.h"

#include "vpush-factor-record.h"

/* How much of a caller's string an error message repeats */
#define ECHO_MAX_CHARS 40

/* s cut to at most max_chars characters, never inside one (a D-Bus string is UTF-8, and
 * so must be the error message that repeats it). */
static gchar *
abbreviate (const gchar *s, gsize max_chars)
{
  const gchar *end = s;

  for (gsize n = 0; n < max_chars && *end != '\0'; n++)
    end = g_utf8_next_char (end);
  if (*end == '\0')
    return g_strdup (s);
  return g_strdup_printf ("%.*s…", (int)(end - s), s);
}

gboolean
vpush_args_parse (GVariant *dict, const gchar *arg_name, const VpushArgSpec *specs, gsize n_specs,
                  GHashTable **out_dict, GError **error)
{
  g_autoptr (GHashTable) table = NULL;
  GVariantIter iter;
  const gchar *key;
  GVariant *value;

  table = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_variant_unref);

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      const VpushArgSpec *spec = NULL;

      for (gsize i = 0; i < n_specs; i++)
        if (g_str_equal (specs[i].key, key))
          spec = &specs[i];

      if (spec == NULL)
        {
          g_autofree gchar *shown = abbreviate (key, ECHO_MAX_CHARS);

          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "%s: unknown key “%s”",
                       arg_name, shown);
          g_variant_unref (value);
          return FALSE;
        }
      /* which of two values would count is anybody's guess: refuse both */
      if (g_hash_table_contains (table, spec->key))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "%s: key “%s” is given more than once", arg_name, key);
          g_variant_unref (value);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (spec->type)))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "%s: key “%s” must be of type %s, not %s", arg_name, key, spec->type,
                       g_variant_get_type_string (value));
          g_variant_unref (value);
          return FALSE;
        }
      /* spec->key is static, so the table can borrow it */
      g_hash_table_replace (table, (gpointer)spec->key, value);
    }

  for (gsize i = 0; i < n_specs; i++)
    if (specs[i].required && !g_hash_table_contains (table, specs[i].key))
      {
        g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                     "%s: required key “%s” (%s) is missing", arg_name, specs[i].key,
                     specs[i].type);
        return FALSE;
      }

  *out_dict = g_steal_pointer (&table);
  return TRUE;
}

const gchar *
vpush_args_get_string (GHashTable *dict, const gchar *key)
{
  GVariant *v = g_hash_table_lookup (dict, key);

  return v ? g_variant_get_string (v, NULL) : NULL;
}

gboolean
vpush_args_get_boolean (GHashTable *dict, const gchar *key, gboolean default_value)
{
  GVariant *v = g_hash_table_lookup (dict, key);

  return v ? g_variant_get_boolean (v) : default_value;
}

guint32
vpush_args_get_uint32 (GHashTable *dict, const gchar *key, guint32 default_value)
{
  GVariant *v = g_hash_table_lookup (dict, key);

  return v ? g_variant_get_uint32 (v) : default_value;
}

gboolean
vpush_args_check_sid (const gchar *sid, const gchar *prefix, const gchar *what, GError **error)
{
  g_autofree gchar *shown = NULL;

  if (vpush_sid_is_valid (sid, prefix))
    return TRUE;
  shown = abbreviate (sid, ECHO_MAX_CHARS);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
               "%s “%s” is not a sid of the form %s followed by 32 hex digits", what, shown,
               prefix);
  return FALSE;
}
