/* Checking a{sv} arguments from the bus against a table of known keys. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  const gchar *key;
  const gchar *type; /* GVariant type string */
  gboolean required;
} VpushArgSpec;

/* Fails with G_DBUS_ERROR_INVALID_ARGS naming the argument and key when a key is unknown,
 * has the wrong type, or a required key is missing. On success out_dict maps key → GVariant
 * (owned by the table). */
gboolean vpush_args_parse (GVariant *dict, const gchar *arg_name, const VpushArgSpec *specs,
                           gsize n_specs, GHashTable **out_dict, GError **error);

const gchar *vpush_args_get_string (GHashTable *dict, const gchar *key);
gboolean vpush_args_get_boolean (GHashTable *dict, const gchar *key, gboolean default_value);
guint32 vpush_args_get_uint32 (GHashTable *dict, const gchar *key, guint32 default_value);

/* "YF" + 32 hex digits and the like. */
gboolean vpush_args_check_sid (const gchar *sid, const gchar *prefix, const gchar *what,
                               GError **error);

G_END_DECLS
