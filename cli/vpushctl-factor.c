/* vpushctl verify, update, delete: the Factor methods. */
#include "vpush-names.h"
#include "vpushctl.h"

/* Prints the factor's properties after a change: what was done, when it is more than
 * the status says (NULL for Verify, whose outcome is the status). */
static int
show_factor (Vpushctl *ctl, const gchar *path, const gchar *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) props = vpushctl_get_all (ctl, path, VPUSH_DBUS_FACTOR_IFACE, &error);
  g_autofree gchar *name = NULL;

  if (props == NULL)
    return vpushctl_fail (ctl, error);
  if (ctl->json)
    {
      g_autoptr (JsonNode) node = vpushctl_props_to_json (path, props);

      vpushctl_print_json (node, TRUE);
    }
  /* the name is whoever enrolled or renamed the factor's: one line, as in every listing */
  else if (what == NULL)
    g_print ("Factor %s “%s” is %s\n", vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_SID),
             vpushctl_one_line (props, VPUSH_DBUS_FACTOR_FRIENDLY_NAME, &name),
             vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_STATUS));
  else
    g_print ("Factor %s “%s” %s (%s)\n", vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_SID),
             vpushctl_one_line (props, VPUSH_DBUS_FACTOR_FRIENDLY_NAME, &name), what,
             vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_STATUS));
  return VPUSHCTL_EXIT_OK;
}

/* Parses the options and the one FACTOR argument; *ref points into argv. */
static int
parse_factor (Vpushctl *ctl, int argc, char **argv, const gchar *summary,
              const GOptionEntry *entries, const gchar **ref)
{
  g_autoptr (GOptionContext) context = NULL;

  context = vpushctl_context_new (ctl, "FACTOR", summary, entries);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc < 2)
    return vpushctl_usage (ctl, "which factor? (a sid or friendly name)");
  if (argc > 2)
    return vpushctl_unexpected (ctl, argv[2]);
  *ref = argv[1];
  return VPUSHCTL_EXIT_OK;
}

int
vpushctl_cmd_verify (Vpushctl *ctl, int argc, char **argv)
{
  const gchar *ref = NULL;
  g_autofree gchar *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  int rc;

  rc = parse_factor (ctl, argc, argv, "Verify a factor enrolled with --no-verify.", NULL, &ref);
  if (rc != VPUSHCTL_EXIT_OK)
    return rc;
  if (!vpushctl_resolve_factor (ctl, ref, &path, NULL, &error))
    return vpushctl_fail (ctl, error);
  reply = vpushctl_call (ctl, path, VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_METHOD_VERIFY, NULL, NULL,
                         VPUSHCTL_API_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);
  return show_factor (ctl, path, NULL);
}

int
vpushctl_cmd_update (Vpushctl *ctl, int argc, char **argv)
{
  g_autofree gchar *name = NULL;
  g_autofree gchar *push_url = NULL;
  const GOptionEntry entries[] = {
    { "name", 'n', 0, G_OPTION_ARG_FILENAME, &name, "The new friendly name", "NAME" },
    { "push-url", 0, 0, G_OPTION_ARG_FILENAME, &push_url,
      "The factor's push channel (empty: the configured default)", "URL" },
    { NULL },
  };
  const gchar *ref = NULL;
  g_autofree gchar *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GVariantBuilder builder;
  int rc;

  rc = parse_factor (ctl, argc, argv, "Rename a factor or change its push URL.", entries, &ref);
  if (rc != VPUSHCTL_EXIT_OK)
    return rc;
  if (name == NULL && push_url == NULL)
    return vpushctl_usage (ctl, "nothing to change: give --name or --push-url");
  if (!vpushctl_resolve_factor (ctl, ref, &path, NULL, &error))
    return vpushctl_fail (ctl, error);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (name)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_UPDATE_FRIENDLY_NAME,
                           g_variant_new_string (name));
  if (push_url)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_UPDATE_PUSH_URL,
                           g_variant_new_string (push_url));
  reply = vpushctl_call (ctl, path, VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_METHOD_UPDATE,
                         g_variant_new ("(a{sv})", &builder), NULL, VPUSHCTL_API_CALL_TIMEOUT_MS,
                         &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);
  return show_factor (ctl, path, "updated");
}

int
vpushctl_cmd_delete (Vpushctl *ctl, int argc, char **argv)
{
  const gchar *ref = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *sid = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  int rc;

  rc = parse_factor (ctl, argc, argv,
                     "Delete a factor at the Verify API, then its key and record here.", NULL,
                     &ref);
  if (rc != VPUSHCTL_EXIT_OK)
    return rc;
  if (!vpushctl_resolve_factor (ctl, ref, &path, &sid, &error))
    return vpushctl_fail (ctl, error);
  reply = vpushctl_call (ctl, path, VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_METHOD_DELETE, NULL, NULL,
                         VPUSHCTL_API_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);

  if (ctl->json)
    {
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      JsonObject *object = json_object_new ();

      json_object_set_string_member (object, "deleted", sid);
      json_node_take_object (node, object);
      vpushctl_print_json (node, TRUE);
    }
  else
    g_print ("Deleted factor %s\n", sid);
  return VPUSHCTL_EXIT_OK;
}
