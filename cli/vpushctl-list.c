/* vpushctl status, factors, challenges. */
#include "vpush-names.h"
#include "vpushctl.h"

static void
print_padded (const gchar *text, glong width)
{
  glong len = g_utf8_strlen (text, -1);

  g_print ("%s%*s", text, (int)MAX (width - len, 0), "");
}

static const gchar *
state_hint (const gchar *state)
{
  if (g_strcmp0 (state, VPUSH_STATE_KEYRING_LOCKED) == 0)
    return " (unlock the login keyring to use the factors)";
  if (g_strcmp0 (state, VPUSH_STATE_OFFLINE) == 0)
    return " (the Verify API could not be reached at the last attempt)";
  return "";
}

int
vpushctl_cmd_status (Vpushctl *ctl, int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GPtrArray) factors = NULL;
  g_autoptr (GPtrArray) challenges = NULL;
  const gchar *state;

  context = vpushctl_context_new (ctl, NULL,
                                  "Show vpushd's version and state (starts it if needed).", NULL);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 1)
    return vpushctl_unexpected (ctl, argv[1]);

  props = vpushctl_get_all (ctl, VPUSH_DBUS_PATH, VPUSH_DBUS_MANAGER_IFACE, &error);
  if (props)
    factors = vpushctl_list_objects (ctl, VPUSH_DBUS_FACTOR_IFACE, &error);
  if (factors)
    challenges = vpushctl_list_objects (ctl, VPUSH_DBUS_CHALLENGE_IFACE, &error);
  if (challenges == NULL)
    return vpushctl_fail (ctl, error);

  if (ctl->json)
    {
      g_autoptr (JsonNode) node = vpushctl_props_to_json (NULL, props);
      JsonObject *object = json_node_get_object (node);

      json_object_set_int_member (object, "factors", factors->len);
      json_object_set_int_member (object, "pending_challenges", challenges->len);
      vpushctl_print_json (node, TRUE);
      return VPUSHCTL_EXIT_OK;
    }

  state = vpushctl_prop_string (props, VPUSH_DBUS_MANAGER_STATE);
  g_print ("vpushd %s\n", vpushctl_prop_string (props, VPUSH_DBUS_MANAGER_VERSION));
  g_print ("  State:              %s%s\n", state, state_hint (state));
  g_print ("  Push:               %s\n",
           vpushctl_prop_string (props, VPUSH_DBUS_MANAGER_PUSH_STATE));
  g_print ("  Factors:            %u\n", factors->len);
  g_print ("  Pending challenges: %u\n", challenges->len);
  return VPUSHCTL_EXIT_OK;
}

int
vpushctl_cmd_factors (Vpushctl *ctl, int argc, char **argv)
{
  static const gchar *const columns[]
      = { VPUSH_DBUS_FACTOR_SID, VPUSH_DBUS_FACTOR_STATUS, VPUSH_DBUS_FACTOR_IDENTITY,
          VPUSH_DBUS_FACTOR_FRIENDLY_NAME };
  static const gchar *const headers[] = { "SID", "STATUS", "IDENTITY", "NAME" };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) factors = NULL;
  glong widths[G_N_ELEMENTS (columns)];

  context = vpushctl_context_new (ctl, NULL, "List the factors of this desktop.", NULL);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 1)
    return vpushctl_unexpected (ctl, argv[1]);

  factors = vpushctl_list_objects (ctl, VPUSH_DBUS_FACTOR_IFACE, &error);
  if (factors == NULL)
    return vpushctl_fail (ctl, error);

  if (ctl->json)
    {
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);
      JsonArray *array = json_array_new ();

      for (guint i = 0; i < factors->len; i++)
        {
          const gchar *path;
          g_autoptr (GVariant) props = NULL;

          g_variant_get (factors->pdata[i], "(&o@a{sv})", &path, &props);
          json_array_add_element (array, vpushctl_props_to_json (path, props));
        }
      json_node_take_array (node, array);
      vpushctl_print_json (node, TRUE);
      return VPUSHCTL_EXIT_OK;
    }

  if (factors->len == 0)
    {
      g_print ("No factors. “vpushctl enroll” enrolls one.\n");
      return VPUSHCTL_EXIT_OK;
    }
  for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
    widths[c] = g_utf8_strlen (headers[c], -1);
  for (guint i = 0; i < factors->len; i++)
    {
      g_autoptr (GVariant) props = g_variant_get_child_value (factors->pdata[i], 1);

      for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
        {
          g_autofree gchar *cell = NULL;
          /* not inside MAX (), which would call it twice */
          glong width = g_utf8_strlen (vpushctl_one_line (props, columns[c], &cell) ?: "", -1);

          widths[c] = MAX (widths[c], width);
        }
    }
  for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
    print_padded (headers[c], c + 1 < G_N_ELEMENTS (columns) ? widths[c] + 2 : 0);
  g_print ("\n");
  for (guint i = 0; i < factors->len; i++)
    {
      g_autoptr (GVariant) props = g_variant_get_child_value (factors->pdata[i], 1);

      for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
        {
          g_autofree gchar *cell = NULL;

          print_padded (vpushctl_one_line (props, columns[c], &cell) ?: "",
                        c + 1 < G_N_ELEMENTS (columns) ? widths[c] + 2 : 0);
        }
      g_print ("\n");
    }
  return VPUSHCTL_EXIT_OK;
}

static int
list_pending (Vpushctl *ctl, const gchar *factor_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) challenges = NULL;
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();
  guint shown = 0;

  json_node_take_array (node, array);
  challenges = vpushctl_list_objects (ctl, VPUSH_DBUS_CHALLENGE_IFACE, &error);
  if (challenges == NULL)
    return vpushctl_fail (ctl, error);

  for (guint i = 0; i < challenges->len; i++)
    {
      const gchar *path;
      g_autoptr (GVariant) props = NULL;
      g_autoptr (GVariant) fields = NULL;
      g_autofree gchar *message = NULL;
      const gchar *factor;

      g_variant_get (challenges->pdata[i], "(&o@a{sv})", &path, &props);
      factor = vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_FACTOR);
      if (factor_path && g_strcmp0 (factor, factor_path) != 0)
        continue;
      shown++;
      if (ctl->json)
        {
          JsonNode *item = vpushctl_props_to_json (path, props);

          json_object_set_string_member (json_node_get_object (item), "factor_sid",
                                         vpushctl_path_basename (factor ?: ""));
          json_array_add_element (array, item);
          continue;
        }
      g_print ("%s  %s  expires %s  factor %s\n",
               vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_SID),
               vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_STATUS),
               vpushctl_prop_string (props, VPUSH_DBUS_CHALLENGE_EXPIRES_AT),
               vpushctl_path_basename (factor ?: ""));
      g_print ("  %s\n", vpushctl_one_line (props, VPUSH_DBUS_CHALLENGE_MESSAGE, &message));
      fields
          = g_variant_lookup_value (props, VPUSH_DBUS_CHALLENGE_FIELDS, G_VARIANT_TYPE ("a(ss)"));
      vpushctl_print_fields (fields, "    ");
    }

  if (ctl->json)
    vpushctl_print_json (node, TRUE);
  else if (shown == 0)
    g_print ("No pending challenges.\n");
  return VPUSHCTL_EXIT_OK;
}

typedef struct
{
  const gchar *status;
  const gchar *order;
  gint page_size;
  gint limit;
} HistoryOptions;

/* Factor.ListChallenges, page after page until the limit or the last page. */
static gboolean
list_history (Vpushctl *ctl, const gchar *path, const gchar *sid, const HistoryOptions *opts,
              JsonArray *array, GError **error)
{
  g_autofree gchar *token = NULL;
  gint got = 0;

  do
    {
      GVariantBuilder builder;
      g_autoptr (GVariant) reply = NULL;
      g_autoptr (GVariant) items = NULL;
      GVariantIter iter;
      GVariant *item;
      gint page_size = opts->page_size;

      if (page_size == 0 && opts->limit > 0)
        page_size = MIN (opts->limit, 1000);
      g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
      if (opts->status)
        g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_LIST_STATUS,
                               g_variant_new_string (opts->status));
      if (opts->order)
        g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_LIST_ORDER,
                               g_variant_new_string (opts->order));
      if (page_size > 0)
        g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_LIST_PAGE_SIZE,
                               g_variant_new_uint32 (page_size));
      if (token)
        g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_LIST_PAGE_TOKEN,
                               g_variant_new_string (token));

      reply = vpushctl_call (ctl, path, VPUSH_DBUS_FACTOR_IFACE, VPUSH_DBUS_METHOD_LIST_CHALLENGES,
                             g_variant_new ("(a{sv})", &builder), G_VARIANT_TYPE ("(aa{sv}s)"),
                             VPUSHCTL_API_CALL_TIMEOUT_MS, error);
      if (reply == NULL)
        return FALSE;
      g_clear_pointer (&token, g_free);
      g_variant_get (reply, "(@aa{sv}s)", &items, &token);

      g_variant_iter_init (&iter, items);
      while ((opts->limit == 0 || got < opts->limit) && (item = g_variant_iter_next_value (&iter)))
        {
          g_autoptr (GVariant) owned = item;
          g_autoptr (GVariant) fields = NULL;
          g_autofree gchar *message = NULL;

          got++;
          if (ctl->json)
            {
              JsonNode *node = vpushctl_variant_to_json (item);

              json_object_set_string_member (json_node_get_object (node), "factor_sid", sid);
              json_array_add_element (array, node);
              continue;
            }
          g_print ("%s  %-8s  %s  factor %s\n", vpushctl_prop_string (item, "sid"),
                   vpushctl_prop_string (item, "status"), vpushctl_prop_string (item, "created-at"),
                   sid);
          g_print ("  %s\n", vpushctl_one_line (item, "message", &message));
          fields = g_variant_lookup_value (item, "fields", G_VARIANT_TYPE ("a(ss)"));
          vpushctl_print_fields (fields, "    ");
        }
    }
  while (token && *token && (opts->limit == 0 || got < opts->limit));
  return TRUE;
}

int
vpushctl_cmd_challenges (Vpushctl *ctl, int argc, char **argv)
{
  gboolean history = FALSE;
  g_autofree gchar *status = NULL;
  g_autofree gchar *order = NULL;
  HistoryOptions opts = { .limit = 50 };
  gint page_size = 0;
  const GOptionEntry entries[] = {
    { "history", 0, 0, G_OPTION_ARG_NONE, &history,
      "Past challenges from the Verify API instead of the pending ones", NULL },
    { "status", 0, 0, G_OPTION_ARG_FILENAME, &status,
      "With --history: only these (pending, approved, denied, expired)", "STATUS" },
    { "order", 0, 0, G_OPTION_ARG_FILENAME, &order, "With --history: asc or desc", "ORDER" },
    { "page-size", 0, 0, G_OPTION_ARG_INT, &page_size,
      "With --history: challenges per request (1–1000)", "N" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &opts.limit,
      "With --history: at most N per factor, 0 for all (default 50)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *factor_path = NULL;
  g_autofree gchar *factor_sid = NULL;
  g_autoptr (GPtrArray) factors = NULL;
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();

  json_node_take_array (node, array);
  context = vpushctl_context_new (ctl, "[FACTOR]",
                                  "List the pending challenges (of FACTOR: a sid or friendly "
                                  "name), or with --history past ones from the Verify API.",
                                  entries);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 2)
    return vpushctl_unexpected (ctl, argv[2]);
  opts.status = status;
  opts.order = order;
  /* given, whatever the value: the default's too */
  if (!history
      && (status || order || vpushctl_option_given (ctl, "page-size")
          || vpushctl_option_given (ctl, "limit")))
    return vpushctl_usage (ctl, "--status, --order, --page-size and --limit need --history");
  if (vpushctl_option_given (ctl, "page-size") && (page_size < 1 || page_size > 1000))
    return vpushctl_usage (ctl, "--page-size must be 1 to 1000, not %d", page_size);
  if (opts.limit < 0)
    return vpushctl_usage (ctl, "--limit can't be negative");
  opts.page_size = page_size; /* 0: chosen from --limit */

  if (argc == 2 && !vpushctl_resolve_factor (ctl, argv[1], &factor_path, &factor_sid, &error))
    return vpushctl_fail (ctl, error);
  if (!history)
    return list_pending (ctl, factor_path);

  if (factor_path)
    {
      if (!list_history (ctl, factor_path, factor_sid, &opts, array, &error))
        return vpushctl_fail (ctl, error);
    }
  else
    {
      factors = vpushctl_list_objects (ctl, VPUSH_DBUS_FACTOR_IFACE, &error);
      if (factors == NULL)
        return vpushctl_fail (ctl, error);
      for (guint i = 0; i < factors->len; i++)
        {
          const gchar *path;
          g_autoptr (GVariant) props = NULL;

          g_variant_get (factors->pdata[i], "(&o@a{sv})", &path, &props);
          if (!list_history (ctl, path, vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_SID), &opts,
                             array, &error))
            return vpushctl_fail (ctl, error);
        }
    }
  if (ctl->json)
    vpushctl_print_json (node, TRUE);
  return VPUSHCTL_EXIT_OK;
}
