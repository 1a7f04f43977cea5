/* vpushctl approve, deny, refresh. */
#include "vpush-names.h"
#include "vpushctl.h"

static int
answer (Vpushctl *ctl, int argc, char **argv, const gchar *method, const gchar *status)
{
  g_autofree gchar *transaction_id = NULL;
  g_autofree gchar *challenge_sid = NULL;
  g_autofree gchar *factor = NULL;
  g_autofree gchar *factor_sid = NULL;
  gint timeout_ms = 0;
  const GOptionEntry entries[] = {
    { "transaction-id", 't', 0, G_OPTION_ARG_FILENAME, &transaction_id,
      "The challenge whose hidden details carry this transaction id", "ID" },
    { "challenge-sid", 'c', 0, G_OPTION_ARG_FILENAME, &challenge_sid, "The challenge with this sid",
      "YC…" },
    { "factor", 'f', 0, G_OPTION_ARG_FILENAME, &factor,
      "Only challenges of this factor (sid or name)", "FACTOR" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_ms,
      "How long to wait for the challenge, at most 20000 (default: vpushd's [Approval] "
      "DefaultTimeoutMs)",
      "MS" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree gchar *summary = NULL;
  GVariantBuilder builder;
  const gchar *sid;

  summary = g_strdup_printf ("%s exactly one pending challenge, named by --transaction-id or "
                             "--challenge-sid.",
                             g_str_equal (status, "approved") ? "Approve" : "Deny");
  context = vpushctl_context_new (ctl, NULL, summary, entries);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 1)
    return vpushctl_unexpected (ctl, argv[1]);
  if ((transaction_id == NULL) == (challenge_sid == NULL))
    return vpushctl_usage (ctl, "give exactly one of --transaction-id and --challenge-sid");
  if (timeout_ms < 0)
    return vpushctl_usage (ctl, "--timeout can't be negative");
  if (factor && !vpushctl_resolve_factor (ctl, factor, NULL, &factor_sid, &error))
    return vpushctl_fail (ctl, error);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (transaction_id)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_MATCH_TRANSACTION_ID,
                           g_variant_new_string (transaction_id));
  else
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_MATCH_CHALLENGE_SID,
                           g_variant_new_string (challenge_sid));
  if (factor_sid)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_MATCH_FACTOR_SID,
                           g_variant_new_string (factor_sid));
  /* not given: vpushd's default */
  if (vpushctl_option_given (ctl, "timeout"))
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_MATCH_TIMEOUT_MS,
                           g_variant_new_uint32 (timeout_ms));

  reply = vpushctl_call (ctl, VPUSH_DBUS_PATH, VPUSH_DBUS_MANAGER_IFACE, method,
                         g_variant_new ("(a{sv})", &builder), G_VARIANT_TYPE ("(s)"),
                         VPUSHCTL_API_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);
  g_variant_get (reply, "(&s)", &sid);

  if (ctl->json)
    {
      g_autoptr (JsonBuilder) json = json_builder_new ();
      g_autoptr (JsonNode) node = NULL;

      json_builder_begin_object (json);
      json_builder_set_member_name (json, "challenge_sid");
      json_builder_add_string_value (json, sid);
      json_builder_set_member_name (json, "status");
      json_builder_add_string_value (json, status);
      json_builder_end_object (json);
      node = json_builder_get_root (json);
      vpushctl_print_json (node, TRUE);
    }
  else
    g_print ("Challenge %s %s\n", sid, status);
  return VPUSHCTL_EXIT_OK;
}

int
vpushctl_cmd_approve (Vpushctl *ctl, int argc, char **argv)
{
  return answer (ctl, argc, argv, VPUSH_DBUS_METHOD_APPROVE_CHALLENGE, "approved");
}

int
vpushctl_cmd_deny (Vpushctl *ctl, int argc, char **argv)
{
  return answer (ctl, argc, argv, VPUSH_DBUS_METHOD_DENY_CHALLENGE, "denied");
}

int
vpushctl_cmd_refresh (Vpushctl *ctl, int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  context = vpushctl_context_new (ctl, NULL, "Poll the Verify API for every factor now.", NULL);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 1)
    return vpushctl_unexpected (ctl, argv[1]);

  reply = vpushctl_call (ctl, VPUSH_DBUS_PATH, VPUSH_DBUS_MANAGER_IFACE, VPUSH_DBUS_METHOD_REFRESH,
                         NULL, NULL, VPUSHCTL_API_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);
  if (ctl->json)
    {
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      json_node_take_object (node, json_object_new ());
      vpushctl_print_json (node, TRUE);
    }
  return VPUSHCTL_EXIT_OK;
}
