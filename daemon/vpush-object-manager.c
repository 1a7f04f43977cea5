#include "vpush-object-manager.h"

#include <string.h>

#include "vpush-error.h"
#include "vpush-names.h"

/* How much of a called path's last element an error repeats: a sid and then some */
#define NODE_ECHO_MAX 64

typedef struct
{
  gchar *path;
  GDBusSubtreeVTable vtable;
  GDBusSubtreeFlags flags;
  VpushObjectManagerListFunc list;
  gpointer user_data;
  GDestroyNotify user_data_free;
  gboolean handed; /* user_data went to GDBus, which frees it, also (in newer GLib) when the
                    * registration fails */
  guint registration_id;
} Subtree;

/* What the ObjectManager registration points to: GDBus may still run a call it queued
 * before the registration went, and must then find no manager rather than a freed one. */
typedef struct
{
  VpushObjectManager *manager;
} Holder;

struct _VpushObjectManager
{
  GObject parent_instance;
  gchar *path;
  GDBusConnection *connection;
  guint registration_id;
  Holder *holder;      /* while registered; GDBus frees it */
  GHashTable *objects; /* path → GDBusObjectSkeleton */
  GPtrArray *subtrees; /* Subtree */
};

G_DEFINE_TYPE (VpushObjectManager, vpush_object_manager, G_TYPE_OBJECT)

static const gchar object_manager_xml[]
    = "<node>"
      "  <interface name='" VPUSH_DBUS_OBJECT_MANAGER_IFACE "'>"
      "    <method name='GetManagedObjects'>"
      "      <arg type='a{oa{sa{sv}}}' name='object_paths_interfaces_and_properties'"
      "           direction='out'/>"
      "    </method>"
      "    <signal name='InterfacesAdded'>"
      "      <arg type='o' name='object_path'/>"
      "      <arg type='a{sa{sv}}' name='interfaces_and_properties'/>"
      "    </signal>"
      "    <signal name='InterfacesRemoved'>"
      "      <arg type='o' name='object_path'/>"
      "      <arg type='as' name='interfaces'/>"
      "    </signal>"
      "  </interface>"
      "</node>";

static GDBusInterfaceInfo *
object_manager_info (void)
{
  static GDBusNodeInfo *node;

  if (g_once_init_enter (&node))
    {
      g_autoptr (GError) error = NULL;
      GDBusNodeInfo *parsed = g_dbus_node_info_new_for_xml (object_manager_xml, &error);

      g_assert_no_error (error);
      g_once_init_leave (&node, parsed);
    }
  return node->interfaces[0];
}

/* Its user data goes with the registration, or here if GDBus never had it. */
static void
subtree_free (gpointer data)
{
  Subtree *subtree = data;

  if (!subtree->handed && subtree->user_data_free != NULL)
    subtree->user_data_free (subtree->user_data);
  g_free (subtree->path);
  g_free (subtree);
}

static void
unexport_object (GDBusObjectSkeleton *object)
{
  g_autolist (GDBusInterface) interfaces = g_dbus_object_get_interfaces (G_DBUS_OBJECT (object));

  for (GList *l = interfaces; l != NULL; l = l->next)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (l->data));
}

static void
vpush_object_manager_finalize (GObject *gobject)
{
  VpushObjectManager *self = VPUSH_OBJECT_MANAGER (gobject);
  GHashTableIter iter;
  GDBusObjectSkeleton *object;

  if (self->connection != NULL)
    {
      for (guint i = 0; i < self->subtrees->len; i++)
        {
          Subtree *subtree = g_ptr_array_index (self->subtrees, i);

          if (subtree->registration_id != 0)
            g_dbus_connection_unregister_subtree (self->connection, subtree->registration_id);
        }
      g_hash_table_iter_init (&iter, self->objects);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&object))
        unexport_object (object);
      if (self->registration_id != 0)
        {
          self->holder->manager = NULL;
          g_dbus_connection_unregister_object (self->connection, self->registration_id);
        }
      g_object_unref (self->connection);
    }
  g_ptr_array_unref (self->subtrees);
  g_hash_table_unref (self->objects);
  g_free (self->path);
  G_OBJECT_CLASS (vpush_object_manager_parent_class)->finalize (gobject);
}

static void
vpush_object_manager_class_init (VpushObjectManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vpush_object_manager_finalize;
}

static void
vpush_object_manager_init (VpushObjectManager *self)
{
  self->objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->subtrees = g_ptr_array_new_with_free_func (subtree_free);
}

VpushObjectManager *
vpush_object_manager_new (const gchar *object_path)
{
  VpushObjectManager *self;

  g_return_val_if_fail (g_variant_is_object_path (object_path), NULL);
  self = g_object_new (VPUSH_TYPE_OBJECT_MANAGER, NULL);
  self->path = g_strdup (object_path);
  return self;
}

/* a{sa{sv}}: each interface of object with its properties */
static GVariant *
object_interfaces (GDBusObjectSkeleton *object)
{
  g_autolist (GDBusInterface) interfaces = g_dbus_object_get_interfaces (G_DBUS_OBJECT (object));
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (GList *l = interfaces; l != NULL; l = l->next)
    {
      GDBusInterfaceSkeleton *iface = l->data;
      g_autoptr (GVariant) properties = g_dbus_interface_skeleton_get_properties (iface);

      g_variant_builder_add_value (
          &builder,
          g_variant_new_dict_entry (
              g_variant_new_string (g_dbus_interface_skeleton_get_info (iface)->name), properties));
    }
  return g_variant_builder_end (&builder);
}

static void
handle_method_call (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                    const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
  VpushObjectManager *self = ((Holder *)user_data)->manager;
  GVariantBuilder builder;
  GHashTableIter iter;
  const gchar *path;
  GDBusObjectSkeleton *object;

  if (self == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "no object at %s", object_path);
      return;
    }
  /* GetManagedObjects is the interface's one method: GDBus refuses any other */
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  g_hash_table_iter_init (&iter, self->objects);
  while (g_hash_table_iter_next (&iter, (gpointer *)&path, (gpointer *)&object))
    g_variant_builder_add_value (
        &builder,
        g_variant_new_dict_entry (g_variant_new_object_path (path), object_interfaces (object)));
  for (guint i = 0; i < self->subtrees->len; i++)
    {
      Subtree *subtree = g_ptr_array_index (self->subtrees, i);

      subtree->list (&builder, subtree->user_data);
    }
  g_dbus_method_invocation_return_value (
      invocation, g_variant_new ("(@a{oa{sa{sv}}})", g_variant_builder_end (&builder)));
}

static void
export_object (VpushObjectManager *self, GDBusObjectSkeleton *object)
{
  g_autolist (GDBusInterface) interfaces = g_dbus_object_get_interfaces (G_DBUS_OBJECT (object));
  const gchar *path = g_dbus_object_get_object_path (G_DBUS_OBJECT (object));

  for (GList *l = interfaces; l != NULL; l = l->next)
    {
      g_autoptr (GError) error = NULL;

      if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (l->data), self->connection,
                                             path, &error))
        g_warning ("can't export %s: %s", path, error->message);
    }
}

static gboolean
register_subtree (VpushObjectManager *self, Subtree *subtree, GError **error)
{
  subtree->handed = TRUE;
  subtree->registration_id = g_dbus_connection_register_subtree (
      self->connection, subtree->path, &subtree->vtable, subtree->flags, subtree->user_data,
      subtree->user_data_free, error);
  return subtree->registration_id != 0;
}

gboolean
vpush_object_manager_set_connection (VpushObjectManager *self, GDBusConnection *connection,
                                     GError **error)
{
  static const GDBusInterfaceVTable vtable = { handle_method_call, NULL, NULL, { 0 } };
  GHashTableIter iter;
  GDBusObjectSkeleton *object;
  Holder *holder;

  if (self->connection != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s is on a connection already",
                   self->path);
      return FALSE;
    }
  holder = g_new0 (Holder, 1);
  holder->manager = self;
  /* the holder is GDBus's from here, even if this fails (newer GLib frees it then) */
  self->registration_id = g_dbus_connection_register_object (
      connection, self->path, object_manager_info (), &vtable, holder, g_free, error);
  if (self->registration_id == 0)
    return FALSE;
  self->holder = holder;
  /* from here on, finalize undoes whatever was done if a step fails */
  self->connection = g_object_ref (connection);
  for (guint i = 0; i < self->subtrees->len; i++)
    if (!register_subtree (self, g_ptr_array_index (self->subtrees, i), error))
      return FALSE;
  g_hash_table_iter_init (&iter, self->objects);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&object))
    export_object (self, object);
  return TRUE;
}

GDBusConnection *
vpush_object_manager_get_connection (VpushObjectManager *self)
{
  return self->connection;
}

void
vpush_object_manager_export (VpushObjectManager *self, GDBusObjectSkeleton *object)
{
  const gchar *path = g_dbus_object_get_object_path (G_DBUS_OBJECT (object));

  vpush_object_manager_unexport (self, path);
  g_hash_table_insert (self->objects, g_strdup (path), g_object_ref (object));
  if (self->connection == NULL)
    return;
  export_object (self, object);
  vpush_object_manager_emit_added (self, path, object_interfaces (object));
}

void
vpush_object_manager_unexport (VpushObjectManager *self, const gchar *object_path)
{
  g_autofree gchar *path = NULL;
  g_autoptr (GDBusObjectSkeleton) object = NULL;
  g_autolist (GDBusInterface) interfaces = NULL;
  g_autoptr (GPtrArray) names = NULL;

  if (!g_hash_table_steal_extended (self->objects, object_path, (gpointer *)&path,
                                    (gpointer *)&object))
    return;
  if (self->connection == NULL)
    return;

  /* announced while it still answers, as GDBusObjectManagerServer does */
  interfaces = g_dbus_object_get_interfaces (G_DBUS_OBJECT (object));
  names = g_ptr_array_new ();
  for (GList *l = interfaces; l != NULL; l = l->next)
    g_ptr_array_add (
        names, g_dbus_interface_skeleton_get_info (G_DBUS_INTERFACE_SKELETON (l->data))->name);
  g_ptr_array_add (names, NULL);
  g_dbus_connection_emit_signal (self->connection, NULL, self->path,
                                 VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_REMOVED,
                                 g_variant_new ("(o^as)", path, names->pdata), NULL);
  for (GList *l = interfaces; l != NULL; l = l->next)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (l->data));
}

gboolean
vpush_object_manager_add_subtree (VpushObjectManager *self, const gchar *object_path,
                                  const GDBusSubtreeVTable *vtable, GDBusSubtreeFlags flags,
                                  VpushObjectManagerListFunc list, gpointer user_data,
                                  GDestroyNotify user_data_free, GError **error)
{
  Subtree *subtree = g_new0 (Subtree, 1);

  subtree->path = g_strdup (object_path);
  subtree->vtable = *vtable;
  subtree->flags = flags;
  subtree->list = list;
  subtree->user_data = user_data;
  subtree->user_data_free = user_data_free;
  if (self->connection != NULL && !register_subtree (self, subtree, error))
    {
      subtree_free (subtree);
      return FALSE;
    }
  g_ptr_array_add (self->subtrees, subtree);
  return TRUE;
}

void
vpush_object_manager_remove_subtree (VpushObjectManager *self, gpointer user_data)
{
  for (guint i = self->subtrees->len; i > 0; i--)
    {
      Subtree *subtree = g_ptr_array_index (self->subtrees, i - 1);

      if (subtree->user_data != user_data)
        continue;
      if (subtree->registration_id != 0)
        g_dbus_connection_unregister_subtree (self->connection, subtree->registration_id);
      g_ptr_array_remove_index (self->subtrees, i - 1);
    }
}

void
vpush_object_manager_emit_added (VpushObjectManager *self, const gchar *object_path,
                                 GVariant *interfaces)
{
  g_autoptr (GVariant) owned = g_variant_ref_sink (interfaces);

  if (self->connection == NULL)
    return;
  g_dbus_connection_emit_signal (self->connection, NULL, self->path,
                                 VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_ADDED,
                                 g_variant_new ("(o@a{sa{sv}})", object_path, owned), NULL);
}

void
vpush_object_manager_emit_removed (VpushObjectManager *self, const gchar *object_path,
                                   const gchar *interface_name)
{
  const gchar *names[] = { interface_name, NULL };

  if (self->connection == NULL)
    return;
  g_dbus_connection_emit_signal (self->connection, NULL, self->path,
                                 VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_REMOVED,
                                 g_variant_new ("(o^as)", object_path, names), NULL);
}

GDBusInterfaceInfo **
vpush_object_manager_node_interfaces (const gchar *node, GDBusInterfaceInfo *info)
{
  GDBusInterfaceInfo **interfaces;

  if (node == NULL)
    return NULL;
  interfaces = g_new0 (GDBusInterfaceInfo *, 2);
  interfaces[0] = g_dbus_interface_info_ref (info);
  return interfaces;
}

void
vpush_object_manager_return_not_found (GDBusMethodInvocation *invocation, const gchar *what,
                                       const gchar *object_path)
{
  const gchar *node = strrchr (object_path, '/') + 1;

  /* an object path is ASCII: a cut at any byte is a valid string */
  g_dbus_method_invocation_return_error (invocation, VPUSH_ERROR, VPUSH_ERROR_NOT_FOUND,
                                         "no %s %.*s%s", what, NODE_ECHO_MAX, node,
                                         strlen (node) > NODE_ECHO_MAX ? "…" : "");
}
