/* Logging: the journal when stderr is connected to it, stderr otherwise, with structured
 * fields for the events an administrator searches for. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* MESSAGE_IDs (128-bit, as journalctl --catalog expects); DECISION is the policy's decision
 * on an approval or denial (VPUSH_DECISION allowed or refused), or an allowed one that
 * failed (failed). */
#define VPUSH_MSGID_STARTED           "4e2a3bb1f5c94a0bb8d0f62f6a3c7d01"
#define VPUSH_MSGID_READY             "4e2a3bb1f5c94a0bb8d0f62f6a3c7d02"
#define VPUSH_MSGID_ENROLLED          "4e2a3bb1f5c94a0bb8d0f62f6a3c7d03"
#define VPUSH_MSGID_DECISION          "4e2a3bb1f5c94a0bb8d0f62f6a3c7d04"
#define VPUSH_MSGID_DELETED           "4e2a3bb1f5c94a0bb8d0f62f6a3c7d05"
#define VPUSH_MSGID_APPROVED          "4e2a3bb1f5c94a0bb8d0f62f6a3c7d06"
#define VPUSH_MSGID_DENIED            "4e2a3bb1f5c94a0bb8d0f62f6a3c7d07"
#define VPUSH_MSGID_PUSH_CONNECTED    "4e2a3bb1f5c94a0bb8d0f62f6a3c7d08"
#define VPUSH_MSGID_PUSH_DISCONNECTED "4e2a3bb1f5c94a0bb8d0f62f6a3c7d09"
#define VPUSH_MSGID_STOPPING          "4e2a3bb1f5c94a0bb8d0f62f6a3c7d0a"
#define VPUSH_MSGID_LEFT_OUT          "4e2a3bb1f5c94a0bb8d0f62f6a3c7d0b"
#define VPUSH_MSGID_UPDATED           "4e2a3bb1f5c94a0bb8d0f62f6a3c7d0c"

/* How many audit records one caller gets in 10 s by default ([Audit] RecordsPerCaller;
 * vpush-log-ration.c): an app, or an administrator's script, calling in a burst has all of
 * its records; a flood of calls from one caller is at most a few percent of journald's
 * default rate limit (10000 in 30 s) */
#define VPUSH_LOG_RATION_DEFAULT 200

void vpush_log_setup (gboolean verbose);

/* What a message quotes of a value from the network: its first VPUSH_LOG_EXCERPT_CHARS
 * characters, valid UTF-8, "…" where cut. A server may send a megabyte where a sid or a
 * date belongs, and each poll or hint would log it again. */
#define VPUSH_LOG_EXCERPT_CHARS 64
gchar *vpush_log_excerpt (const gchar *text);

/* Whether a debug message would be shown: asked before one on a hot path, so that a daemon
 * without debug output does not format it only for the writer to drop it. */
gboolean vpush_log_debug_enabled (void);

/* One structured record. factor, challenge and caller are nullable. */
void vpush_log_event (GLogLevelFlags level, const gchar *message_id, const gchar *factor,
                      const gchar *challenge, const gchar *caller, const gchar *format, ...)
    G_GNUC_PRINTF (6, 7);

/* One structured record with extra journal fields; fields whose value is NULL are left
 * out. Without the journal, records with a VPUSH_DECISION field keep their fields on
 * stderr: "MESSAGE -- MESSAGE_ID=… VPUSH_…=…", values shell-quoted where needed. */
void vpush_log_fields (GLogLevelFlags level, const gchar *message_id, const GLogField *extra,
                       gsize n_extra, const gchar *format, ...) G_GNUC_PRINTF (5, 6);

/* Whether an audit record (other than an answer's) may be written now for the caller
 * named by key (its app id, executable or unit): the limit set of them in 10 s; the
 * rest are counted, and a VPUSH_MSGID_LEFT_OUT record with the caller fields of fields says
 * how many, once the 10 s are over. */
gboolean vpush_log_ration_take (const gchar *key, const GLogField *fields, gsize n_fields);
/* For a record that must be written whole, or its cause refused (a change to a factor):
 * TRUE, one taken from the caller's ration; FALSE when its 10 s have none left, nothing
 * counted. */
gboolean vpush_log_ration_reserve (const gchar *key);
/* The records a caller gets in 10 s (0: every record is written); at start */
void vpush_log_ration_set_limit (guint limit);
/* Writes the counts whose 10 s are over (all: every count, at exit). */
void vpush_log_ration_flush (gboolean all);

G_END_DECLS
