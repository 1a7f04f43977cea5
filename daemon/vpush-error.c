#include "vpush-error.h"
#include "vpush-names.h"

static const GDBusErrorEntry vpush_error_entries[] = {
  { VPUSH_ERROR_FAILED, VPUSH_DBUS_ERROR_FAILED },
  { VPUSH_ERROR_NOT_FOUND, VPUSH_DBUS_ERROR_NOT_FOUND },
  { VPUSH_ERROR_AMBIGUOUS, VPUSH_DBUS_ERROR_AMBIGUOUS },
  { VPUSH_ERROR_EXPIRED, VPUSH_DBUS_ERROR_EXPIRED },
  { VPUSH_ERROR_ALREADY_RESPONDED, VPUSH_DBUS_ERROR_ALREADY_RESPONDED },
  { VPUSH_ERROR_KEYRING_LOCKED, VPUSH_DBUS_ERROR_KEYRING_LOCKED },
  { VPUSH_ERROR_NETWORK, VPUSH_DBUS_ERROR_NETWORK },
  { VPUSH_ERROR_API, VPUSH_DBUS_ERROR_API },
  /* VPUSH_ERROR_UNAUTHORIZED is internal: vpush_manager_return_error() sends it as Api */
};

GQuark
vpush_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("vpush-error-quark", &quark, vpush_error_entries,
                                      G_N_ELEMENTS (vpush_error_entries));
  return (GQuark)quark;
}

G_DEFINE_QUARK (vpush - key - error - quark, vpush_key_error)

GError *
vpush_error_key_missing (const gchar *factor_sid)
{
  return g_error_new (VPUSH_KEY_ERROR, VPUSH_KEY_ERROR_MISSING,
                      "the key of factor %s is not in the Secret Service (deleted there?): the "
                      "factor can't be used; delete it and enroll again",
                      factor_sid);
}
