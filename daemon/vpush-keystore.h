/* Factor private keys in the Secret Service (schema io.github.vpush.FactorKey), async with
 * a timeout; a locked collection is told apart from a missing item.
 *
 * The key store follows the Secret Service through faults on its own: it watches the bus name
 * org.freedesktop.secrets, reconnects (new SecretService, new default collection, lock state
 * read again) when a new owner appears after the old one went away, and probes a Secret
 * Service that stopped answering until it answers again. It never starts the Secret Service
 * itself except once, by D-Bus activation, in vpush_keystore_init_async(). */
#pragma once

#include <gio/gio.h>

#include "vpush-crypto.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_KEYSTORE (vpush_keystore_get_type ())
G_DECLARE_FINAL_TYPE (VpushKeystore, vpush_keystore, VPUSH, KEYSTORE, GObject)

/* timeout_ms bounds every Secret Service call.
 *
 * Properties (boolean, notify; both change together, inside one freeze of notifications):
 * - "available": connected to a Secret Service that has a default collection and answers.
 *   FALSE before vpush_keystore_init_async() has run, while org.freedesktop.secrets has no
 *   owner, while it fails to answer within timeout_ms, and while it has no default collection.
 * - "locked": the default collection is locked; FALSE while not available (unknown).
 * - "settled": the first connection attempt after vpush_keystore_init_async() has an outcome
 *   (connected, failed, or out of time); TRUE from then on. */
VpushKeystore *vpush_keystore_new (guint timeout_ms);

/* Sets up libgcrypt, as libsecret would the first time it opens an encrypted session:
 * libgcrypt aborts the process when its set-up can't read a file, as when every descriptor
 * is in use by then, long after start. Called at start, before any thread. */
void vpush_keystore_init_library (void);

/* Starts following the Secret Service (D-Bus activating it if it has no owner yet) and waits,
 * at most timeout_ms, for the first connection. An unavailable Secret Service is an error
 * (VPUSH_ERROR_KEYRING_LOCKED, the message says why), but the key store keeps trying: it
 * becomes available by itself when the Secret Service appears or answers again. */
void vpush_keystore_init_async (VpushKeystore *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_keystore_init_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

gboolean vpush_keystore_get_available (VpushKeystore *self);
gboolean vpush_keystore_get_settled (VpushKeystore *self);
gboolean vpush_keystore_get_locked (VpushKeystore *self);
/* Why the key store is not available, NULL while it is. */
const gchar *vpush_keystore_get_unavailable_reason (VpushKeystore *self);
/* FALSE, with the VPUSH_ERROR_KEYRING_LOCKED that calls would get, while not available or
 * locked. */
gboolean vpush_keystore_check_usable (VpushKeystore *self, GError **error);

/* Errors of all calls below: locked, or the Secret Service not available, gone during the
 * call or not answering within timeout_ms → VPUSH_ERROR_KEYRING_LOCKED, with a message that
 * tells which; cancelled by the caller → G_IO_ERROR_CANCELLED. A call fails at once while the
 * key store is not available or is locked; one made after vpush_keystore_init_async() but
 * before the key store has settled waits for that (at most the init's timeout), then has its
 * own timeout. */

/* Stores PKCS#8 DER under attributes factor-sid, service-sid; label
 * "vpush factor key (<friendly name>)". A store that failed without a definite answer (timeout,
 * Secret Service gone) may still happen in the Secret Service later; the key store deletes
 * that item as soon as the Secret Service is usable again, so a failed store leaves nothing
 * behind. Factor sids are never reused, so this never removes a later key. */
void vpush_keystore_store_async (VpushKeystore *self, const gchar *factor_sid,
                                 const gchar *service_sid, const gchar *friendly_name,
                                 VpushKey *key, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_keystore_store_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* Absent → VPUSH_ERROR_NOT_FOUND. Items under the sid whose secret is not a P-256 key are
 * passed over; none that is, or two with different keys → VPUSH_KEY_ERROR_UNUSABLE. */
void vpush_keystore_load_async (VpushKeystore *self, const gchar *factor_sid,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
VpushKey *vpush_keystore_load_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* An absent item is not an error. A delete that fails because the Secret Service is locked,
 * gone or not answering (VPUSH_ERROR_KEYRING_LOCKED) is done again by the key store on its
 * own once the Secret Service is usable, so a failed delete leaves nothing behind either. */
void vpush_keystore_delete_async (VpushKeystore *self, const gchar *factor_sid,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean vpush_keystore_delete_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* Sets the label of the factor's key item to "vpush factor key (<friendly name>)", as a
 * rename needs. Absent → VPUSH_ERROR_NOT_FOUND. One that fails because the Secret Service is
 * locked, gone or not answering is sent again once it is usable, unless the factor is
 * relabelled or its key deleted meanwhile. */
void vpush_keystore_relabel_async (VpushKeystore *self, const gchar *factor_sid,
                                   const gchar *friendly_name, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_keystore_relabel_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* Every item of the schema, without its secret: a new table of factor-sid attribute → service-sid
 * attribute ("" when absent). Items without a factor-sid attribute are left out. */
void vpush_keystore_list_async (VpushKeystore *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
GHashTable *vpush_keystore_list_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

G_END_DECLS
