/* What the key store's tests (test-keystore-items.c, test-keystore-faults.c) share. Each runs
 * inside tests/vpush-test-session: a private session bus and a fresh gnome-keyring whose login
 * collection is unlocked with the password "vpush-test". */
#pragma once

#include <libsecret/secret.h>

#include "vpush-keystore.h"

#define SERVICE_SID "VA00000000000000000000000000000001"
#define ABSENT_SID  "YF00000000000000000000000000000000"

extern const SecretSchema test_schema;

/* running calls to completion */
void on_result (GObject *source, GAsyncResult *result, gpointer user_data);
gboolean on_wait_expired (gpointer user_data);
GAsyncResult *wait_result (GAsyncResult **slot);

/* Runs the main loop until cond holds; fails the test after 10 s. */
#define WAIT_FOR(cond)                                                                             \
  G_STMT_START                                                                                     \
  {                                                                                                \
    gboolean wait_expired_ = FALSE;                                                                \
    guint wait_id_ = g_timeout_add_seconds (10, on_wait_expired, &wait_expired_);                  \
                                                                                                   \
    while (!(cond) && !wait_expired_)                                                              \
      g_main_context_iteration (NULL, TRUE);                                                       \
    g_assert_false (wait_expired_);                                                                \
    g_source_remove (wait_id_);                                                                    \
  }                                                                                                \
  G_STMT_END

/* keys and the key store */
gchar *random_sid (void);
VpushKeystore *keystore_new_ready (guint timeout_ms);
gboolean keystore_store (VpushKeystore *keystore, const gchar *sid, const gchar *name,
                         VpushKey *key, GError **error);
void store_key (VpushKeystore *keystore, const gchar *sid, const gchar *name, VpushKey *key);
VpushKey *keystore_load (VpushKeystore *keystore, const gchar *sid, GError **error);
gboolean keystore_delete (VpushKeystore *keystore, const gchar *sid, GError **error);
gboolean keystore_relabel (VpushKeystore *keystore, const gchar *sid, const gchar *name,
                           GError **error);
VpushKey *generate_key (void);
void assert_same_key (VpushKey *original, VpushKey *loaded);
void assert_loads_key (VpushKeystore *keystore, const gchar *sid, VpushKey *key);

/* the factor's items, as any other program sees them */
GList *search_items (const gchar *sid, SecretSearchFlags flags);
GList *find_items (const gchar *sid);
guint count_items (const gchar *sid);
