/* Factor.ListChallenges(): the options checked, then the API's pages asked one after the
 * other and joined into one reply. Apart from vpush-factor.c, whose Update and Verify change
 * the factor, since listing changes nothing and takes no part in their line. */
#include "vpush-factor-private.h"

#include <string.h>

#include "vpush-args.h"
#include "vpush-bouncer.h"
#include "vpush-names.h"
#include "vpush-time.h"

/* The most challenges asked of the API at once: the reply to a request is read whole, up
 * to VPUSH_VERIFY_CHALLENGE_JSON_MAX a challenge asked for. A larger page-size is read as
 * API pages of this many, one after the other, joined, each read as the first is. */
#define LIST_API_PAGE_MAX 50

typedef struct
{
  FactorCall *call;
  gchar *status;
  gchar *order;
  guint page_size;
  gchar *page_token;
  GPtrArray *items; /* GVariant a{sv}: what the pages read so far held */
  guint requests;
} ListCall;

static void
list_call_free (ListCall *list)
{
  vpush_factor_call_free (list->call);
  g_free (list->status);
  g_free (list->order);
  g_free (list->page_token);
  g_clear_pointer (&list->items, g_ptr_array_unref);
  g_free (list);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ListCall, list_call_free)

static GVariant *
challenge_to_variant (VpushChallenge *c)
{
  g_auto (GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree gchar *created = vpush_time_format (c->created_at);
  g_autofree gchar *expires = vpush_time_format (c->expires_at);

  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_SID, g_variant_new_string (c->sid));
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_STATUS, g_variant_new_string (c->status));
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_MESSAGE,
                         g_variant_new_string (c->message));
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_FIELDS, c->fields);
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_CREATED_AT,
                         g_variant_new_string (created));
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_EXPIRES_AT,
                         g_variant_new_string (expires));
  g_variant_builder_add (&b, "{sv}", VPUSH_DBUS_LIST_ITEM_RESPONDED_REASON,
                         g_variant_new_string (c->responded_reason ? c->responded_reason : ""));
  return g_variant_builder_end (&b);
}

static void list_done_cb (GObject *source, GAsyncResult *result, gpointer user_data);
static void list_key_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
list_request (ListCall *list)
{
  list->requests++;
  vpush_verify_list_challenges_async (vpush_manager_get_verify (list->call->factor->manager),
                                      list->call->factor->record, list->call->key->key,
                                      list->status, list->order,
                                      MIN (list->page_size - list->items->len, LIST_API_PAGE_MAX),
                                      list->page_token, NULL, list_done_cb, list);
}

static void
list_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ListCall) list = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallengePage) page = NULL;
  g_auto (GVariantBuilder) b = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));
  VpushFactor *factor;

  page = vpush_verify_list_challenges_finish (VPUSH_VERIFY (source), result, &error);
  if (page == NULL)
    {
      vpush_manager_remove_at_api (list->call->factor->manager, VPUSH_AT_API_LIST);
      vpush_factor_call_fail (list->call, error);
      return;
    }
  vpush_manager_note_api_result (list->call->factor->manager, NULL);
  for (guint i = 0; i < page->challenges->len; i++)
    g_ptr_array_add (list->items, g_variant_ref_sink (challenge_to_variant (
                                      g_ptr_array_index (page->challenges, i))));
  g_free (list->page_token);
  list->page_token = g_strdup (page->next_page_token);
  /* A page may hold fewer than asked for and still have a next one; as many requests as
   * full pages would take, though, as a server paging without end is not followed */
  if (list->page_token != NULL && list->items->len < list->page_size
      && list->requests < (list->page_size + LIST_API_PAGE_MAX - 1) / LIST_API_PAGE_MAX)
    {
      /* nothing more is asked of a factor deleted meanwhile, and the key is loaded again,
       * which fails while the keyring is locked: a lock drops the keys held */
      if (vpush_factor_call_deleted_meanwhile (list->call))
        {
          vpush_manager_remove_at_api (list->call->factor->manager, VPUSH_AT_API_LIST);
          return;
        }
      g_clear_pointer (&list->call->key, vpush_key_box_unref);
      factor = list->call->factor;
      vpush_manager_load_key_async (factor->manager, factor->record->sid, NULL, list_key_cb,
                                    g_steal_pointer (&list));
      return;
    }
  vpush_manager_remove_at_api (list->call->factor->manager, VPUSH_AT_API_LIST);
  for (guint i = 0; i < list->items->len; i++)
    g_variant_builder_add_value (&b, g_ptr_array_index (list->items, i));
  g_dbus_method_invocation_return_value (
      list->call->invocation,
      g_variant_new ("(aa{sv}s)", &b, list->page_token ? list->page_token : ""));
}

static void
list_key_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ListCall) list = user_data;
  VpushManager *manager = list->call->factor->manager;
  g_autoptr (GError) error = NULL;

  list->call->key = vpush_manager_load_key_finish (manager, result, &error);
  if (list->call->key == NULL)
    {
      vpush_manager_remove_at_api (manager, VPUSH_AT_API_LIST);
      vpush_factor_call_fail (list->call, error);
      return;
    }
  list_request (g_steal_pointer (&list));
}

static void
list_allowed (gpointer data)
{
  ListCall *list = data;
  VpushManager *manager = list->call->factor->manager;

  if (!vpush_manager_add_at_api (manager, VPUSH_AT_API_LIST))
    {
      g_dbus_method_invocation_return_error (
          list->call->invocation, G_DBUS_ERROR, G_DBUS_ERROR_LIMITS_EXCEEDED,
          "%d ListChallenges calls are at the Verify API already; try again once they are done",
          VPUSH_LISTING_MAX);
      list_call_free (list);
      return;
    }
  vpush_manager_load_key_async (list->call->factor->manager, list->call->factor->record->sid, NULL,
                                list_key_cb, list);
}

gboolean
vpush_factor_handle_list (VpushDBusFactor *skeleton, GDBusMethodInvocation *invocation,
                          GVariant *options, VpushFactor *self)
{
  static const VpushArgSpec specs[] = {
    { VPUSH_DBUS_LIST_STATUS, "s", FALSE },
    { VPUSH_DBUS_LIST_ORDER, "s", FALSE },
    { VPUSH_DBUS_LIST_PAGE_SIZE, "u", FALSE },
    { VPUSH_DBUS_LIST_PAGE_TOKEN, "s", FALSE },
  };
  static const gchar *const statuses[] = { "pending", "approved", "denied", "expired", NULL };
  g_autoptr (GHashTable) args = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (ListCall) list = g_new0 (ListCall, 1);
  const gchar *status;
  const gchar *order;
  const gchar *token;

  list->call = vpush_factor_call_new (self, invocation);
  if (!vpush_args_parse (options, "options", specs, G_N_ELEMENTS (specs), &args, &error))
    goto invalid;

  status = vpush_args_get_string (args, VPUSH_DBUS_LIST_STATUS);
  if (status && !g_strv_contains (statuses, status))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: status must be pending, approved, denied or expired");
      goto invalid;
    }
  order = vpush_args_get_string (args, VPUSH_DBUS_LIST_ORDER);
  if (order && !g_str_equal (order, "asc") && !g_str_equal (order, "desc"))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: order must be asc or desc");
      goto invalid;
    }
  list->page_size = vpush_args_get_uint32 (args, VPUSH_DBUS_LIST_PAGE_SIZE, 50);
  if (list->page_size < 1 || list->page_size > 1000)
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: page-size must be from 1 to 1000, not %u", list->page_size);
      goto invalid;
    }
  token = vpush_args_get_string (args, VPUSH_DBUS_LIST_PAGE_TOKEN);
  if (token && (strlen (token) > 1024 || !g_utf8_validate (token, -1, NULL)))
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "options: page-token is not a page token");
      goto invalid;
    }
  list->status = g_strdup (status);
  list->order = g_strdup (order ? order : "asc");
  list->page_token = token && *token ? g_strdup (token) : NULL;
  list->items = g_ptr_array_new_with_free_func ((GDestroyNotify)g_variant_unref);
  vpush_bouncer_gate (self->manager, invocation, VPUSH_ACTION_LIST, self->record, list_allowed,
                      g_steal_pointer (&list), (GDestroyNotify)list_call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;

invalid:
  g_dbus_method_invocation_return_gerror (invocation, error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}
