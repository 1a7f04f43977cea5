/* Who is calling: the bus peer's uid and pid, the process pinned with a pidfd, and what
 * /proc says about it: executable, systemd unit, Flatpak app id and login session. */
#pragma once

#include <gio/gio.h>
#include <sys/stat.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *sender; /* unique bus name */
  guint32 uid;
  guint32 pid;
  gint pidfd;     /* -1 when not pinned */
  gchar *exe;     /* nullable: /proc/<pid>/exe */
  gchar *unit;    /* nullable: the systemd unit from the cgroup (the user unit if any) */
  gchar *app_id;  /* nullable: the Flatpak app id; set means the caller is sandboxed */
  gchar *session; /* nullable: the login session id from the cgroup */
  /* the uid of the user manager (user@UID.service) whose tree its cgroup is in, -1 if none:
   * an app that manager started belongs to that user's graphical session */
  gint64 user_manager_uid;
} VpushCaller;

VpushCaller *vpush_caller_new (void);
void vpush_caller_free (VpushCaller *caller);
/* "exe (pid N, :1.23)" for logs */
gchar *vpush_caller_describe (const VpushCaller *caller);
/* Who the caller is, as a rule would name it: its app id, else executable, else unit (one
 * key for all its processes and bus connections); NULL caller: an unidentified one. */
gchar *vpush_caller_key (const VpushCaller *caller);

/* Fills exe, unit, app_id and session from proc_root/<pid>/ ("/proc" but in tests).
 * Fails when the process can't be identified safely, e.g. an unreadable sandbox root. */
gboolean vpush_caller_read_proc (VpushCaller *caller, const gchar *proc_root, GError **error);
/* The same, but only if the process's root is the directory root_stat describes (our own
 * root, which no sandbox can make a hung FUSE mount); another root fails with
 * G_IO_ERROR_WOULD_BLOCK before anything in it is opened. */
gboolean vpush_caller_read_proc_in_root (VpushCaller *caller, const gchar *proc_root,
                                         const struct stat *root_stat, GError **error);

/* FALSE once the pinned process has exited (its pid may then belong to another). */
gboolean vpush_caller_is_alive (const VpushCaller *caller);

/* Fails with G_DBUS_ERROR_ACCESS_DENIED when the caller's uid is not ours or the caller
 * can't be identified. */
void vpush_caller_lookup_async (GDBusConnection *connection, const gchar *sender,
                                GAsyncReadyCallback callback, gpointer user_data);
VpushCaller *vpush_caller_lookup_finish (GAsyncResult *result, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushCaller, vpush_caller_free)

G_END_DECLS
