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

void
vpush_error_return (GDBusMethodInvocation *invocation, const GError *error)
{
  g_autoptr (GError) valid = NULL;

  /* a D-Bus string must be UTF-8, or GDBus refuses to send it: a message may quote a
   * server or a file */
  if (!g_utf8_validate (error->message, -1, NULL))
    {
      g_autofree gchar *text = g_utf8_make_valid (error->message, -1);

      valid = g_error_new_literal (error->domain, error->code, text);
      error = valid;
    }
  /* errors of our domain and G_DBUS_ERROR map to their registered names; anything
   * else (I/O, parse) becomes Error.Failed with its message, never a bare GIO name */
  if (error->domain == VPUSH_ERROR || error->domain == G_DBUS_ERROR)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    g_dbus_method_invocation_return_error (invocation, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                                           "timed out: %s", error->message);
  else
    g_dbus_method_invocation_return_error_literal (invocation, VPUSH_ERROR, VPUSH_ERROR_FAILED,
                                                   error->message);
}
