/* Factor private keys in the Secret Service (schema io.github.vpush.FactorKey), async with
 * a timeout; a locked collection is told apart from a missing item. */
#pragma once

#include <gio/gio.h>

#include "vpush-crypto.h"

G_BEGIN_DECLS

#define VPUSH_TYPE_KEYSTORE (vpush_keystore_get_type ())
G_DECLARE_FINAL_TYPE (VpushKeystore, vpush_keystore, VPUSH, KEYSTORE, GObject)

/* timeout_ms bounds every Secret Service call. Property "locked" (boolean, notify) follows
 * the default collection's Locked property once vpush_keystore_init_async() has run. */
VpushKeystore *vpush_keystore_new (guint timeout_ms);

/* Connects to the Secret Service and reads the default collection's lock state.
 * A missing or unreachable Secret Service is an error. */
void vpush_keystore_init_async (VpushKeystore *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_keystore_init_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

gboolean vpush_keystore_get_locked (VpushKeystore *self);

/* Stores PKCS#8 DER under attributes factor-sid, service-sid; label
 * "vpush factor key (<friendly name>)". Locked → VPUSH_ERROR_KEYRING_LOCKED. */
void vpush_keystore_store_async (VpushKeystore *self, const gchar *factor_sid,
                                 const gchar *service_sid, const gchar *friendly_name,
                                 VpushKey *key, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean vpush_keystore_store_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* Locked → VPUSH_ERROR_KEYRING_LOCKED; absent → VPUSH_ERROR_NOT_FOUND;
 * timeout → G_IO_ERROR_TIMED_OUT. */
void vpush_keystore_load_async (VpushKeystore *self, const gchar *factor_sid,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
VpushKey *vpush_keystore_load_finish (VpushKeystore *self, GAsyncResult *result, GError **error);

/* An absent item is not an error. Locked → VPUSH_ERROR_KEYRING_LOCKED. */
void vpush_keystore_delete_async (VpushKeystore *self, const gchar *factor_sid,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean vpush_keystore_delete_finish (VpushKeystore *self, GAsyncResult *result,
                                       GError **error);

G_END_DECLS
