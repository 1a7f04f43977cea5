/* An approval by challenge sid: the sid names one challenge, so each factor the call may
 * answer for is asked for it directly, one after the other, instead of being polled. */
#include "vpush-approval.h"

#include "vpush-error.h"
#include "vpush-factor.h"

static void fetch_next_factor (VpushApproval *ap);

static void
direct_fetch_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushChallenge) c = NULL;
  GError *error = NULL;

  c = vpush_verify_fetch_challenge_finish (VPUSH_VERIFY (source), result, &error);
  if (c == NULL)
    {
      /* another factor's challenge, or none: ask the next factor; an API that can't be
       * reached, or sent a reply vpushd can't read, is kept to tell at the end */
      if (g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_NETWORK)
          || g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_FAILED)
          || g_error_matches (error, VPUSH_ERROR, VPUSH_ERROR_KEYRING_LOCKED))
        vpush_approval_note_wait_error (ap, error);
      else
        g_error_free (error);
      ap->fetch_index++;
      fetch_next_factor (ap);
      return;
    }
  /* this call answers the challenge by now: what the API says of it is its answer's */
  if (ap->challenge != NULL)
    return;
  /* The call ended (its timeout-ms) before the fetch: it still brings the challenge for
   * the next call, as a poll would (README: "timeout-ms") */
  if (ap->done)
    {
      if (g_str_equal (c->status, "pending"))
        vpush_manager_put_pending (ap->manager, c);
      return;
    }
  if (g_str_equal (c->status, "pending"))
    {
      /* left out of a full pending set, it could only be waited for in vain */
      if (!vpush_manager_put_pending (ap->manager, c)
          && vpush_manager_lookup_factor (ap->manager, c->factor_sid) != NULL)
        {
          vpush_approval_finish_error (
              ap, g_error_new (VPUSH_ERROR, VPUSH_ERROR_FAILED,
                               "challenge %s can't be taken: %u challenges are pending, the most "
                               "vpushd keeps",
                               c->sid, VPUSH_PENDING_MAX));
          return;
        }
      vpush_approval_evaluate (ap);
      return;
    }
  if (!vpush_approval_claim (ap, c, c->status))
    vpush_approval_finish_final (ap, c, c->status);
}

static void
direct_fetch_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (VpushApproval) ap = user_data;
  g_autoptr (VpushKeyBox) key = NULL;
  GError *error = NULL;
  VpushFactor *factor;

  key = vpush_manager_load_key_finish (ap->manager, result, &error);
  factor = vpush_manager_lookup_factor (ap->manager,
                                        g_ptr_array_index (ap->fetch_factors, ap->fetch_index));
  if (key == NULL || factor == NULL)
    {
      if (error)
        vpush_approval_note_wait_error (ap, error);
      ap->fetch_index++;
      fetch_next_factor (ap);
      return;
    }
  /* the client may sign again (clock retry) after this returns: keep the key alive */
  g_clear_pointer (&ap->fetch_key, vpush_key_box_unref);
  ap->fetch_key = g_steal_pointer (&key);
  vpush_verify_fetch_challenge_async (vpush_manager_get_verify (ap->manager),
                                      vpush_factor_get_record (factor), ap->fetch_key->key,
                                      ap->challenge_sid, NULL, direct_fetch_cb, ap);
  ap = NULL; /* owned by the callback now */
}

static void
fetch_next_factor (VpushApproval *ap)
{
  if (ap->challenge != NULL)
    return;
  /* once the call has ended too: the factor whose challenge it is may come later */
  if (ap->fetch_index >= ap->fetch_factors->len)
    {
      vpush_approval_evaluate (ap);
      return;
    }
  vpush_manager_load_key_async (ap->manager, g_ptr_array_index (ap->fetch_factors, ap->fetch_index),
                                NULL, direct_fetch_key_cb, vpush_approval_ref (ap));
}

void
vpush_approval_fetch_by_sid (VpushApproval *ap)
{
  g_autoptr (GList) factors = vpush_manager_get_factors (ap->manager);

  ap->fetch_factors = g_ptr_array_new_with_free_func (g_free);
  for (GList *l = factors; l; l = l->next)
    {
      const gchar *sid = vpush_factor_get_sid (l->data);

      if ((ap->factor_sid == NULL || g_str_equal (sid, ap->factor_sid))
          && vpush_approval_factor_allowed (ap, sid) && !vpush_approval_factor_deleting (ap, sid))
        g_ptr_array_add (ap->fetch_factors, g_strdup (sid));
    }
  fetch_next_factor (ap);
}
