/* org.freedesktop.DBus.ObjectManager at /io/github/vpush. GDBusObjectManagerServer
 * registers each object it lists with the connection, about 3 KB of GDBus bookkeeping per
 * object; a pending challenge is cheaper as a node of one subtree. So the manager lists
 * two kinds of object: exported GDBusObjectSkeletons (the factors) and the nodes of
 * subtrees it registers for their owner (the challenges, vpush-pending.c), which it asks
 * for their entries. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VPUSH_TYPE_OBJECT_MANAGER (vpush_object_manager_get_type ())
G_DECLARE_FINAL_TYPE (VpushObjectManager, vpush_object_manager, VPUSH, OBJECT_MANAGER, GObject)

/* Adds one entry per node of a subtree to builder (a{oa{sa{sv}}}, GetManagedObjects). */
typedef void (*VpushObjectManagerListFunc) (GVariantBuilder *builder, gpointer user_data);

VpushObjectManager *vpush_object_manager_new (const gchar *object_path);

/* Registers the ObjectManager interface, the subtrees and the exported objects on
 * connection; once only. */
gboolean vpush_object_manager_set_connection (VpushObjectManager *self, GDBusConnection *connection,
                                              GError **error);
GDBusConnection *vpush_object_manager_get_connection (VpushObjectManager *self);

/* Exports every interface of object at its path (now, or once there is a connection), and
 * announces it with InterfacesAdded. */
void vpush_object_manager_export (VpushObjectManager *self, GDBusObjectSkeleton *object);
void vpush_object_manager_unexport (VpushObjectManager *self, const gchar *object_path);

/* A subtree at object_path whose nodes the manager lists, registered with the connection
 * (now, or once there is one) until remove_subtree() or the manager's finalize.
 * user_data_free, if not NULL, is called once GDBus makes no more calls with user_data
 * (which may be after remove_subtree(): a call GDBus had queued still comes). Its owner
 * announces nodes with emit_added()/emit_removed(). */
gboolean vpush_object_manager_add_subtree (VpushObjectManager *self, const gchar *object_path,
                                           const GDBusSubtreeVTable *vtable,
                                           GDBusSubtreeFlags flags, VpushObjectManagerListFunc list,
                                           gpointer user_data, GDestroyNotify user_data_free,
                                           GError **error);
void vpush_object_manager_remove_subtree (VpushObjectManager *self, gpointer user_data);

/* For a subtree's introspect function: info as the one interface of a node, none for the
 * subtree's own path. */
GDBusInterfaceInfo **vpush_object_manager_node_interfaces (const gchar *node,
                                                           GDBusInterfaceInfo *info);
/* io.github.vpush1.Error.NotFound "no <what> <last element of object_path>", that element
 * cut at a sid's length and then some. */
void vpush_object_manager_return_not_found (GDBusMethodInvocation *invocation, const gchar *what,
                                            const gchar *object_path);

/* InterfacesAdded (interfaces: a{sa{sv}}, floating or not) and InterfacesRemoved, when
 * there is a connection. */
void vpush_object_manager_emit_added (VpushObjectManager *self, const gchar *object_path,
                                      GVariant *interfaces);
void vpush_object_manager_emit_removed (VpushObjectManager *self, const gchar *object_path,
                                        const gchar *interface_name);

G_END_DECLS
