/* What the push channel keeps per factor for the polls it asks for: nothing once the factor
 * is gone, whether or not a poll of it ends after that. */
#include <glib/gstdio.h>

#include "vpush-config.h"
#include "vpush-factor.h"
#include "vpush-hint-fetcher.h"
#include "vpush-manager.h"
#include "vpush-push.h"
#include "test-factor-store-common.h"

static VpushFactorRecord *
kiosk_record (const gchar *sid)
{
  VpushFactorRecord *record = vpush_factor_record_new ();

  record->sid = g_strdup (sid);
  record->friendly_name = g_strdup ("Kiosk");
  record->service_sid = g_strdup ("VA00000000000000000000000000000001");
  record->identity = g_strdup ("0a1b2c3d-user");
  record->account_sid = g_strdup ("AC00000000000000000000000000000002");
  record->credential_sid = g_strdup ("CR00000000000000000000000000000004");
  record->status = g_strdup ("verified");
  record->created_at = g_strdup ("2024-05-01T12:00:00Z");
  return record;
}

static void
add_factor (VpushManager *manager, const gchar *sid)
{
  g_autoptr (VpushFactor) factor = vpush_factor_new (manager, kiosk_record (sid));

  vpush_manager_add_factor (manager, factor);
}

/* A poll asked for by the push channel, which ends while the factor is there; then the
 * factor is deleted, with no poll to end after that: its entry goes with it. And one whose
 * factor goes while it runs ends without it. */
static void
test_removed_factor (void)
{
  g_autofree gchar *state_dir = g_dir_make_tmp ("vpush-hint-fetcher-XXXXXX", NULL);
  g_autoptr (VpushManager) manager = NULL;
  g_autoptr (GError) error = NULL;
  VpushHintFetcher *fetcher;
  gboolean running = FALSE;

  g_assert_nonnull (state_dir);
  /* takes the configuration */
  manager = vpush_manager_new (vpush_config_new_default (), state_dir, &error);
  g_assert_no_error (error);
  fetcher = vpush_push_get_hint_fetcher (vpush_manager_get_push (manager));

  add_factor (manager, SID_A);
  vpush_hint_fetcher_poll (fetcher, SID_A);
  g_assert_true (vpush_hint_fetcher_has_poll (fetcher, SID_A, &running));
  g_assert_true (running);
  /* the key store is never started: the poll fails at once, for want of the key */
  while (running)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_true (vpush_hint_fetcher_has_poll (fetcher, SID_A, &running));
    }

  vpush_manager_remove_factor (manager, SID_A);
  g_assert_false (vpush_hint_fetcher_has_poll (fetcher, SID_A, NULL));

  /* removed while its poll runs: the poll's end finds nothing to keep */
  add_factor (manager, SID_A);
  vpush_hint_fetcher_poll (fetcher, SID_A);
  g_assert_true (vpush_hint_fetcher_has_poll (fetcher, SID_A, &running));
  g_assert_true (running);
  vpush_manager_remove_factor (manager, SID_A);
  g_assert_false (vpush_hint_fetcher_has_poll (fetcher, SID_A, NULL));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (vpush_hint_fetcher_has_poll (fetcher, SID_A, NULL));

  g_clear_object (&manager);
  rm_rf (state_dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hint-fetcher/removed-factor", test_removed_factor);
  return g_test_run ();
}
