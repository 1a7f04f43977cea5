/* The io.github.vpush1.Error domain (docs/dbus-api.md "Errors"). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  VPUSH_ERROR_FAILED,            /* internal failure */
  VPUSH_ERROR_NOT_FOUND,         /* no such factor, key, or matching challenge */
  VPUSH_ERROR_AMBIGUOUS,         /* more than one pending challenge matches */
  VPUSH_ERROR_EXPIRED,           /* the challenge has expired */
  VPUSH_ERROR_ALREADY_RESPONDED, /* the challenge was approved or denied already */
  VPUSH_ERROR_KEYRING_LOCKED,    /* the Secret Service collection is locked */
  VPUSH_ERROR_NETWORK,           /* the Verify API could not be reached */
  VPUSH_ERROR_API,               /* the Verify API refused: status, code and message in text */
} VpushError;

#define VPUSH_ERROR (vpush_error_quark ())
GQuark vpush_error_quark (void);

/* Internal: what is wrong with a factor's key, so that a caller can tell it from other
 * failures. Not registered on the bus: sent as io.github.vpush1.Error.Failed, with the
 * message. */
typedef enum
{
  VPUSH_KEY_ERROR_MISSING,    /* the factor is there, its key is not in the Secret Service */
  VPUSH_KEY_ERROR_UNUSABLE,   /* its item in the Secret Service holds no usable key */
  VPUSH_KEY_ERROR_UNREADABLE, /* an item could not be read now (out of memory): no verdict
                               * on the key, nothing to drop */
} VpushKeyError;

#define VPUSH_KEY_ERROR (vpush_key_error_quark ())
GQuark vpush_key_error_quark (void);

/* Turns an internal error into the D-Bus reply the contract names. */
void vpush_error_return (GDBusMethodInvocation *invocation, const GError *error);

/* VPUSH_KEY_ERROR_MISSING for the factor */
GError *vpush_error_key_missing (const gchar *factor_sid);

G_END_DECLS
