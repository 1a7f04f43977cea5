/* vpushd.conf (the design document's "Config"; docs/man/vpushd.conf.5.scd). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* [Verify] MaxFactors at most; OpenSSL's secure heap has room for that many keys and more
 * (vpush-crypto.c) */
#define VPUSH_MAX_FACTORS_LIMIT 4096

typedef struct
{
  gchar *path;                    /* the file read, NULL when only defaults */
  gchar *base_url;                /* [Verify] BaseUrl, ends with '/' */
  gchar *ca_file;                 /* [Verify] CaFile, nullable */
  guint http_timeout_ms;          /* [Verify] TimeoutMs, default 10000 */
  guint retry_timeout_ms;         /* [Verify] RetryTimeoutMs, default 20000, 0 = no retries */
  guint max_factors;              /* [Verify] MaxFactors, default 256 */
  guint poll_interval;            /* [Poll] IntervalSeconds, default 30 */
  guint poll_interval_with_push;  /* [Poll] IntervalWithPushSeconds, default 300 */
  gchar *push_url;                /* [Push] Url, nullable */
  gchar *transaction_id_key;      /* [Approval] TransactionIdKey */
  guint default_timeout_ms;       /* [Approval] DefaultTimeoutMs, default 10000, ≤ 20000 */
  guint keyring_timeout_ms;       /* [Keyring] TimeoutMs, default 5000 */
  guint audit_records_per_caller; /* [Audit] RecordsPerCaller, in 10 s; 0 = all */
} VpushConfig;

VpushConfig *vpush_config_new_default (void);
/* path NULL → $XDG_CONFIG_HOME/vpush/vpushd.conf, then /etc/vpush/vpushd.conf, then
 * defaults. A bad value is an error naming file, group, key and value; unknown keys
 * and groups are warned about. */
VpushConfig *vpush_config_load (const gchar *path, GError **error);
void vpush_config_free (VpushConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpushConfig, vpush_config_free)

G_END_DECLS
