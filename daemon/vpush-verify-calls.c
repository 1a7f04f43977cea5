#include "vpush-verify.h"
#include "vpush-verify-private.h"

#include <string.h>

#include "vpush-jwt.h"
#include "vpush-log.h"

/* the longest AuthPayload the API takes for a push factor (OpenAPI, UpdateChallenge) */
#define AUTH_PAYLOAD_MAX 5456

/* Form and path encoding: every byte outside the RFC 3986 unreserved set is escaped, so
 * '+', '/' and '=' of base64 values arrive intact whatever the server's decoder. The same
 * text as g_uri_escape_string (text, NULL, FALSE), which goes a character at a time through
 * GString calls: an answer's JWT took 20000 instructions. */
static gboolean
is_unreserved (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void
append_escaped (GString *out, const gchar *text)
{
  static const gchar hex[] = "0123456789ABCDEF";
  const guchar *p = (const guchar *)text;

  while (*p != '\0')
    {
      const guchar *run = p;

      /* base64url, sids and names are unreserved all through: copied in runs */
      while (*p != '\0' && is_unreserved (*p))
        p++;
      g_string_append_len (out, (const gchar *)run, p - run);
      if (*p == '\0')
        break;
      g_string_append_c (out, '%');
      g_string_append_c (out, hex[*p >> 4]);
      g_string_append_c (out, hex[*p & 0xf]);
      p++;
    }
}

static void
form_add (GString *form, const gchar *key, const gchar *value)
{
  if (form->len > 0)
    g_string_append_c (form, '&');
  append_escaped (form, key);
  g_string_append_c (form, '=');
  append_escaped (form, value);
}

static void
wipe_string_free (gpointer data)
{
  GString *string = data;
  gsize size = string->allocated_len;

  vpush_secure_free (g_string_free (string, FALSE), size);
}

/* A body of one signed field (a factor's proof, a challenge's answer): wiped when the
 * request is done with it, as the signature's other copies are; sized for the field
 * escaped in full, so that no copy is left behind by the string growing */
static GBytes *
signed_form_new (const gchar *key, const gchar *signed_value)
{
  gsize size = 3 * (strlen (key) + strlen (signed_value)) + 2;
  GString *form = g_string_sized_new (size);

  form_add (form, key, signed_value);
  g_assert (form->len < size);
  return g_bytes_new_with_free_func (form->str, form->len, wipe_string_free, form);
}

/* base_url + Services/{service}/Entities/{identity}/{collection}[/{sid}] */
static gchar *
entity_url (VpushVerify *self, const gchar *service_sid, const gchar *identity,
            const gchar *collection, const gchar *sid)
{
  GString *url = g_string_sized_new (256);

  g_string_append (url, self->base_url);
  g_string_append (url, "Services/");
  append_escaped (url, service_sid);
  g_string_append (url, "/Entities/");
  append_escaped (url, identity);
  g_string_append_c (url, '/');
  g_string_append (url, collection);
  if (sid != NULL)
    {
      g_string_append_c (url, '/');
      append_escaped (url, sid);
    }
  return g_string_free (url, FALSE);
}

static gboolean
check_factor (const VpushFactorRecord *factor, GError **error)
{
  if (factor == NULL || !vpush_sid_is_valid (factor->sid, "YF") || factor->service_sid == NULL
      || factor->identity == NULL || *factor->identity == '\0' || factor->account_sid == NULL
      || factor->credential_sid == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "factor record is incomplete");
      return FALSE;
    }
  return TRUE;
}

/* ---- #1 create factor ---- */

void
vpush_verify_create_factor_async (VpushVerify *self, const gchar *service_sid,
                                  const gchar *identity, const gchar *access_token,
                                  const gchar *friendly_name, const gchar *public_key_b64,
                                  const gchar *metadata_json, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  Call *call;
  GTask *task;
  GString *form;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = vpush_verify_call_new (self, vpush_verify_create_factor_async, cancellable, callback,
                                user_data, &call);
  if (!vpush_sid_is_valid (service_sid, "VA") || identity == NULL || *identity == '\0'
      || access_token == NULL || *access_token == '\0' || friendly_name == NULL
      || public_key_b64 == NULL)
    {
      vpush_verify_call_fail (task,
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                   "create factor: service sid, identity, access "
                                                   "token, name and public key are required"));
      return;
    }

  call->method = "POST";
  call->url = entity_url (self, service_sid, identity, "Factors", NULL);
  call->access_token = g_strdup (access_token);
  call->service_sid = g_strdup (service_sid);
  call->identity = g_strdup (identity);
  call->friendly_name = g_strdup (friendly_name);
  call->map = vpush_verify_map_create_factor;
  call->result_free = (GDestroyNotify)vpush_factor_record_free;

  /* §3.1 order; platform none means no NotificationToken */
  form = g_string_new (NULL);
  form_add (form, "FriendlyName", friendly_name);
  form_add (form, "FactorType", "push");
  form_add (form, "Binding.PublicKey", public_key_b64);
  form_add (form, "Binding.Alg", "ES256");
  form_add (form, "Config.SdkVersion", VPUSH_VERIFY_SDK_VERSION);
  form_add (form, "Config.AppId", VPUSH_VERIFY_APP_ID);
  form_add (form, "Config.NotificationPlatform", "none");
  if (metadata_json != NULL)
    form_add (form, "Metadata", metadata_json);
  call->body = g_string_free_to_bytes (form);

  vpush_verify_call_send (task);
}

VpushFactorRecord *
vpush_verify_create_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_create_factor_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- #2 verify factor ---- */

/* A task for a device call on factor (copied); NULL and an error when factor is incomplete. */
static GTask *
factor_call_new (VpushVerify *self, gpointer source_tag, const VpushFactorRecord *factor,
                 VpushKey *key, GCancellable *cancellable, GAsyncReadyCallback callback,
                 gpointer user_data, Call **out_call)
{
  g_autoptr (GError) error = NULL;
  GTask *task
      = vpush_verify_call_new (self, source_tag, cancellable, callback, user_data, out_call);

  if (!check_factor (factor, &error))
    {
      vpush_verify_call_fail (task, g_steal_pointer (&error));
      return NULL;
    }
  if (key == NULL)
    {
      vpush_verify_call_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                         "no key for the factor"));
      return NULL;
    }
  (*out_call)->factor = vpush_factor_record_copy (factor);
  (*out_call)->key = key;
  /* every device call but create may be sent twice: the API applies it once, or refuses
   * the second (an answer: 409, which the approval sorts out) */
  (*out_call)->idempotent = TRUE;
  return task;
}

void
vpush_verify_verify_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *payload = NULL;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_verify_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;

  /* §5B: a DER signature over the factor sid, not a JWT */
  payload = vpush_key_sign_b64 (key, factor->sid, &error);
  if (payload == NULL)
    {
      vpush_verify_call_fail (task, g_steal_pointer (&error));
      return;
    }
  call->method = "POST";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->map = vpush_verify_map_verify_factor;
  call->result_free = g_free;
  call->body = signed_form_new ("AuthPayload", payload);
  call->auth_payload = g_steal_pointer (&payload);

  vpush_verify_call_send (task);
}

gchar *
vpush_verify_verify_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_verify_factor_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- #3 update factor ---- */

void
vpush_verify_update_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  const gchar *friendly_name, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  GString *form;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_update_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (friendly_name == NULL)
    friendly_name = factor->friendly_name;
  if (friendly_name == NULL)
    {
      vpush_verify_call_fail (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                         "update factor: no friendly name"));
      return;
    }

  call->method = "POST";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->map = vpush_verify_map_update_factor;
  /* §3.3 with platform none: no token, no binding, no metadata; and no Config.AppId,
   * which the SDKs send but the OpenAPI UpdateFactor schema does not have */
  form = g_string_new (NULL);
  form_add (form, "FriendlyName", friendly_name);
  form_add (form, "Config.SdkVersion", VPUSH_VERIFY_SDK_VERSION);
  form_add (form, "Config.NotificationPlatform", "none");
  call->body = g_string_free_to_bytes (form);

  vpush_verify_call_send (task);
}

gboolean
vpush_verify_update_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_update_factor_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- #4 delete factor ---- */

void
vpush_verify_delete_factor_async (VpushVerify *self, const VpushFactorRecord *factor, VpushKey *key,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_delete_factor_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  call->method = "DELETE";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Factors", factor->sid);
  call->is_delete = TRUE;

  vpush_verify_call_send (task);
}

gboolean
vpush_verify_delete_factor_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_delete_factor_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- challenges ---- */

void
vpush_verify_fetch_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                    VpushKey *key, const gchar *challenge_sid,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_fetch_challenge_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  /* challenge sids may come from a push hint: never splice an unchecked one into a path */
  if (!vpush_sid_is_valid (challenge_sid, "YC"))
    {
      g_autofree gchar *quoted
          = vpush_log_excerpt (challenge_sid != NULL ? challenge_sid : "(null)");

      vpush_verify_call_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                                 "not a challenge sid: “%s”", quoted));
      return;
    }
  call->method = "GET";
  call->url = entity_url (self, factor->service_sid, factor->identity, "Challenges", challenge_sid);
  call->challenge_sid = g_strdup (challenge_sid);
  call->is_fetch = TRUE;
  call->map = vpush_verify_map_challenge;
  call->result_free = (GDestroyNotify)vpush_challenge_unref;

  vpush_verify_call_send (task);
}

VpushChallenge *
vpush_verify_fetch_challenge_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_fetch_challenge_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
vpush_verify_list_challenges_async (VpushVerify *self, const VpushFactorRecord *factor,
                                    VpushKey *key, const gchar *status, const gchar *order,
                                    guint page_size, const gchar *page_token,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_autofree gchar *url = NULL;
  g_autofree gchar *size = NULL;
  GString *query;
  Call *call;
  GTask *task;

  g_return_if_fail (VPUSH_IS_VERIFY (self));

  task = factor_call_new (self, vpush_verify_list_challenges_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (page_size < 1 || page_size > 1000)
    {
      vpush_verify_call_fail (
          task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                             "list challenges: page size %u is not within 1–1000", page_size));
      return;
    }

  size = g_strdup_printf ("%u", page_size);
  query = g_string_new (NULL);
  form_add (query, "FactorSid", factor->sid);
  form_add (query, "PageSize", size);
  form_add (query, "Order", order != NULL ? order : "asc");
  if (status != NULL)
    form_add (query, "Status", status);
  if (page_token != NULL)
    form_add (query, "PageToken", page_token);
  url = entity_url (self, factor->service_sid, factor->identity, "Challenges", NULL);

  call->method = "GET";
  call->url = g_strconcat (url, "?", query->str, NULL);
  call->map = vpush_verify_map_challenge_page;
  call->page_size = page_size;
  call->result_free = (GDestroyNotify)vpush_challenge_page_free;
  g_string_free (query, TRUE);

  vpush_verify_call_send (task);
}

VpushChallengePage *
vpush_verify_list_challenges_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_list_challenges_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
vpush_verify_answer_challenge_async (VpushVerify *self, const VpushFactorRecord *factor,
                                     VpushKey *key, VpushChallenge *challenge, const gchar *status,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *payload = NULL;
  Call *call;
  GTask *task;
  gint64 left;

  g_return_if_fail (VPUSH_IS_VERIFY (self));
  g_return_if_fail (challenge != NULL);

  task = factor_call_new (self, vpush_verify_answer_challenge_async, factor, key, cancellable,
                          callback, user_data, &call);
  if (task == NULL)
    return;
  if (g_strcmp0 (status, "approved") != 0 && g_strcmp0 (status, "denied") != 0)
    {
      vpush_verify_call_fail (task,
                              g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                           "a challenge is answered approved or denied, not “%s”",
                                           status != NULL ? status : "(null)"));
      return;
    }
  if (g_strcmp0 (challenge->factor_sid, factor->sid) != 0)
    {
      vpush_verify_call_fail (task,
                              g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                           "challenge %s belongs to factor %s, not %s",
                                           challenge->sid, challenge->factor_sid, factor->sid));
      return;
    }
  /* §5C: without the header's field list there is nothing the server would accept */
  if (challenge->signature_fields == NULL || *challenge->signature_fields == '\0'
      || (challenge->answer_body == NULL && challenge->answer_error == NULL))
    {
      vpush_verify_call_fail (task,
                              g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                           "challenge %s has no signature fields: fetch it first",
                                           challenge->sid));
      return;
    }
  /* made when it was fetched (vpush_challenge_set_signature_fields) */
  if (challenge->answer_body == NULL)
    error = g_error_copy (challenge->answer_error);
  else
    payload = vpush_jwt_answer_sign (key, challenge->answer_body, status, &error);
  if (payload == NULL)
    {
      vpush_verify_call_fail (task, g_steal_pointer (&error));
      return;
    }
  /* the API takes no longer AuthPayload for a push factor (OpenAPI, UpdateChallenge): a
   * challenge whose details are that long can't be answered, and sending it would only
   * bring back a 400 that does not say why */
  if (strlen (payload) > AUTH_PAYLOAD_MAX)
    {
      vpush_verify_call_fail (
          task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                             "challenge %s can't be answered: its signed answer would be %zu "
                             "characters, and the Verify API takes at most %d (its details "
                             "are too long)",
                             challenge->sid, strlen (payload), AUTH_PAYLOAD_MAX));
      return;
    }

  call->method = "POST";
  call->url
      = entity_url (self, factor->service_sid, factor->identity, "Challenges", challenge->sid);
  /* an answer is retried while the challenge can still take it, but no longer than any
   * other call: the app is waiting on the bus for the reply. By the API's clock as the
   * challenge's fetch gave it, too: a machine clock that runs behind it without a 401 to
   * correct it would let a retry go out after the challenge expired. */
  left = challenge->expires_at - vpush_challenge_now (challenge, vpush_verify_now (self));
  left = MIN (MAX (left, 0) * G_USEC_PER_SEC, (gint64)self->retry_timeout_ms * 1000);
  call->deadline = g_get_monotonic_time () + left;
  call->expires_at = challenge->expires_at;
  call->challenge_sid = g_strdup (challenge->sid);
  call->map = vpush_verify_map_challenge;
  call->result_free = (GDestroyNotify)vpush_challenge_unref;
  call->body = signed_form_new ("AuthPayload", payload);
  call->auth_payload = g_steal_pointer (&payload);

  vpush_verify_call_send (task);
}

VpushChallenge *
vpush_verify_answer_challenge_finish (VpushVerify *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, vpush_verify_answer_challenge_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
