#include "vpush-factor-store.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

#define FACTORS_SUBDIR "factors"
#define CLOCK_FILE     "clock.json"
#define RECORD_SUFFIX  ".json"

struct _VpushFactorStore
{
  GObject parent_instance;

  gchar *dir;
  gchar *factors_dir;
  gchar *clock_path;
};

G_DEFINE_TYPE (VpushFactorStore, vpush_factor_store, G_TYPE_OBJECT)

static void
vpush_factor_store_finalize (GObject *object)
{
  VpushFactorStore *self = VPUSH_FACTOR_STORE (object);

  g_free (self->dir);
  g_free (self->factors_dir);
  g_free (self->clock_path);
  G_OBJECT_CLASS (vpush_factor_store_parent_class)->finalize (object);
}

static void
vpush_factor_store_class_init (VpushFactorStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vpush_factor_store_finalize;
}

static void
vpush_factor_store_init (VpushFactorStore *self)
{
}

static gboolean
ensure_dir (const gchar *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0700) != 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot create %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

VpushFactorStore *
vpush_factor_store_new (const gchar *dir, GError **error)
{
  g_autoptr (VpushFactorStore) self = NULL;

  g_return_val_if_fail (dir != NULL, NULL);

  self = g_object_new (VPUSH_TYPE_FACTOR_STORE, NULL);
  self->dir = g_strdup (dir);
  self->factors_dir = g_build_filename (dir, FACTORS_SUBDIR, NULL);
  self->clock_path = g_build_filename (dir, CLOCK_FILE, NULL);
  if (!ensure_dir (self->dir, error) || !ensure_dir (self->factors_dir, error))
    return NULL;
  return g_steal_pointer (&self);
}

const gchar *
vpush_factor_store_get_dir (VpushFactorStore *self)
{
  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), NULL);

  return self->dir;
}

/* A factor sid is the only name part taken from outside, so it must be a plain YF sid and can
 * never hold a '/' or "..". */
static gchar *
record_path (VpushFactorStore *self, const gchar *factor_sid, GError **error)
{
  g_autofree gchar *name = NULL;

  if (factor_sid == NULL || !vpush_sid_is_valid (factor_sid, "YF"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "not a factor sid: “%s”",
                   factor_sid ? factor_sid : "(null)");
      return NULL;
    }
  name = g_strconcat (factor_sid, RECORD_SUFFIX, NULL);
  return g_build_filename (self->factors_dir, name, NULL);
}

static gboolean
write_json (const gchar *path, JsonNode *node, GError **error)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree gchar *text = NULL;
  gsize len;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, &len);
  return g_file_set_contents_full (path, text, (gssize)len,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

static VpushFactorRecord *
read_record (const gchar *path, const gchar *expected_sid, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (VpushFactorRecord) record = NULL;

  if (!json_parser_load_from_mapped_file (parser, path, error))
    return NULL;
  record = vpush_factor_record_new_from_json (json_parser_get_root (parser), error);
  if (record == NULL)
    return NULL;
  if (g_strcmp0 (record->sid, expected_sid) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "holds factor “%s”, not the one its name says",
                   record->sid ? record->sid : "(null)");
      return NULL;
    }
  return g_steal_pointer (&record);
}

GPtrArray *
vpush_factor_store_load_all (VpushFactorStore *self, GError **error)
{
  g_autoptr (GPtrArray) records = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) local_error = NULL;
  const gchar *name;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), NULL);

  records = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_factor_record_free);
  dir = g_dir_open (self->factors_dir, 0, &local_error);
  if (dir == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&records);
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "cannot list %s: ", self->factors_dir);
      return NULL;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *sid = NULL;
      g_autofree gchar *path = NULL;
      g_autoptr (GError) record_error = NULL;
      VpushFactorRecord *record;

      /* Temp files of an interrupted atomic write ("<sid>.json.XXXXXX") and anything else not
       * named "<sid>.json" are not ours to read. */
      if (!g_str_has_suffix (name, RECORD_SUFFIX))
        continue;
      sid = g_strndup (name, strlen (name) - strlen (RECORD_SUFFIX));
      if (!vpush_sid_is_valid (sid, "YF"))
        {
          g_debug ("ignoring %s in %s: not a factor record name", name, self->factors_dir);
          continue;
        }

      path = g_build_filename (self->factors_dir, name, NULL);
      record = read_record (path, sid, &record_error);
      if (record == NULL)
        {
          g_warning ("skipping factor record %s: %s", path, record_error->message);
          continue;
        }
      g_ptr_array_add (records, record);
    }
  return g_steal_pointer (&records);
}

gboolean
vpush_factor_store_save (VpushFactorStore *self, const VpushFactorRecord *record, GError **error)
{
  g_autofree gchar *path = NULL;
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), FALSE);
  g_return_val_if_fail (record != NULL, FALSE);

  path = record_path (self, record->sid, error);
  if (path == NULL)
    return FALSE;
  node = vpush_factor_record_to_json (record);
  return write_json (path, node, error);
}

gboolean
vpush_factor_store_remove (VpushFactorStore *self, const gchar *factor_sid, GError **error)
{
  g_autofree gchar *path = NULL;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), FALSE);

  path = record_path (self, factor_sid, error);
  if (path == NULL)
    return FALSE;
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot remove %s: %s", path,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* Missing or unreadable means no correction, as on a fresh install (protocol doc §6). */
gint64
vpush_factor_store_load_clock_offset (VpushFactorStore *self)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  JsonNode *root;
  JsonObject *object;
  JsonNode *offset;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), 0);

  if (!json_parser_load_from_mapped_file (parser, self->clock_path, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("ignoring clock correction in %s: %s", self->clock_path, error->message);
      return 0;
    }
  root = json_parser_get_root (parser);
  object = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  offset = object ? json_object_get_member (object, "offset_seconds") : NULL;
  if (offset == NULL || json_node_get_value_type (offset) != G_TYPE_INT64)
    {
      g_warning ("ignoring clock correction in %s: no integer offset_seconds", self->clock_path);
      return 0;
    }
  return json_node_get_int (offset);
}

gboolean
vpush_factor_store_save_clock_offset (VpushFactorStore *self, gint64 offset, GError **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (VPUSH_IS_FACTOR_STORE (self), FALSE);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "offset_seconds");
  json_builder_add_int_value (builder, offset);
  json_builder_end_object (builder);
  node = json_builder_get_root (builder);
  return write_json (self->clock_path, node, error);
}
