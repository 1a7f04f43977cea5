/* Logging: the journal when stderr is connected to it, stderr otherwise, with structured
 * fields for the events an administrator searches for. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* MESSAGE_IDs (128-bit, as journalctl --catalog expects) */
#define VPUSH_MSGID_STARTED  "4e2a3bb1f5c94a0bb8d0f62f6a3c7d01"
#define VPUSH_MSGID_ENROLLED "4e2a3bb1f5c94a0bb8d0f62f6a3c7d03"
#define VPUSH_MSGID_DECISION "4e2a3bb1f5c94a0bb8d0f62f6a3c7d04"
#define VPUSH_MSGID_DELETED  "4e2a3bb1f5c94a0bb8d0f62f6a3c7d05"

void vpush_log_setup (gboolean verbose);

/* One structured record. factor, challenge and caller are nullable. */
void vpush_log_event (GLogLevelFlags level, const gchar *message_id, const gchar *factor,
                      const gchar *challenge, const gchar *caller, const gchar *format, ...)
    G_GNUC_PRINTF (6, 7);

G_END_DECLS
