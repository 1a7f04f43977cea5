/* vpushctl: JSON and text output. */
#include <stdio.h>
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
    g_print ("%s%s: %s\n", indent, label, value);
}
