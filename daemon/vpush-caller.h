/* Who is calling: the bus peer's uid, pid and executable, from GetConnectionCredentials. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *sender; /* unique bus name */
  guint32 uid;
  guint32 pid;
  gchar *exe; /* nullable: /proc/<pid>/exe */
} VpushCaller;

void vpush_caller_free (VpushCaller *caller);
/* "exe (pid N, :1.23)" for logs */
gchar *vpush_caller_describe (const VpushCaller *caller);

/* Fails with G_DBUS_ERROR_ACCESS_DENIED when the caller's uid is not ours. */
void vpush_caller_lookup_async (GDBusConnection *connection, const gchar *sender,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
VpushCaller *vpush_caller_lookup_finish (GAsyncResult *result, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushCaller, vpush_caller_free)

G_END_DECLS
