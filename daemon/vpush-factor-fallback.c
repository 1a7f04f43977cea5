#include "vpush-factor-fallback.h"

#include "vpush-dbus-generated.h"
#include "vpush-names.h"
#include "vpush-object-manager.h"

/* The factors are exported objects of their own, which GDBus lists as children of the
 * factors path already: naming them here too would list them twice. */
static gchar **
fallback_enumerate (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                    gpointer user_data)
{
  return g_new0 (gchar *, 1);
}

/* Every child has the Factor interface, so that GDBus dispatches its calls here; the
 * factors path itself is no object. */
static GDBusInterfaceInfo **
fallback_introspect (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                     const gchar *node, gpointer user_data)
{
  return vpush_object_manager_node_interfaces (node, vpush_dbus_factor_interface_info ());
}

/* Methods, and Properties.Get/GetAll of the Factor interface */
static void
fallback_method_call (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                      const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                      GDBusMethodInvocation *invocation, gpointer user_data)
{
  vpush_object_manager_return_not_found (invocation, "factor", object_path);
}

static const GDBusInterfaceVTable fallback_vtable = {
  fallback_method_call,
  NULL,
  NULL,
  { 0 },
};

static const GDBusInterfaceVTable *
fallback_dispatch (GDBusConnection *connection, const gchar *sender, const gchar *object_path,
                   const gchar *interface_name, const gchar *node, gpointer *out_user_data,
                   gpointer user_data)
{
  if (node == NULL || g_strcmp0 (interface_name, VPUSH_DBUS_FACTOR_IFACE) != 0)
    return NULL;
  return &fallback_vtable;
}

guint
vpush_factor_fallback_register (GDBusConnection *connection, GError **error)
{
  static const GDBusSubtreeVTable vtable = {
    fallback_enumerate,
    fallback_introspect,
    fallback_dispatch,
    { 0 },
  };

  /* GDBus tries an object exported at the exact path first, and this subtree (the called
   * path's parent) only when there is none */
  return g_dbus_connection_register_subtree (connection, VPUSH_DBUS_FACTORS_PATH, &vtable,
                                             G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                             NULL, NULL, error);
}
