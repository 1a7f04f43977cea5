/* vpushctl enroll: from options, or from the URI an enrollment QR code carries. */
#include <stdio.h>
#include <string.h>

#include "vpush-names.h"
#include "vpushctl.h"

#define ENROLL_URI_SCHEME "vpush"
#define ENROLL_URI_HOST   "enroll"

typedef struct
{
  gchar *service_sid;
  gchar *identity;
  gchar *token;
  gchar *name;
  gchar *push_url;
} EnrollRequest;

/* The access token is wiped before its memory is given back: a later allocation, or a core
 * dump, would find it there. vpushctl wipes its own copies only: those of GOption, GUri,
 * GVariant and GDBus are theirs. */
static void
wipe_free (gchar *text)
{
  if (text != NULL)
    explicit_bzero (text, strlen (text));
  g_free (text);
}

static void
enroll_request_clear (EnrollRequest *req)
{
  g_free (req->service_sid);
  g_free (req->identity);
  wipe_free (req->token);
  g_free (req->name);
  g_free (req->push_url);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EnrollRequest, enroll_request_clear)

/* any field may be the token */
static void
replace_str (gchar **field, const gchar *value)
{
  wipe_free (*field);
  *field = g_strdup (value);
}

static const struct
{
  const gchar *param;
  gsize offset;
} enroll_params[] = {
  { "token", G_STRUCT_OFFSET (EnrollRequest, token) },
  { "serviceSid", G_STRUCT_OFFSET (EnrollRequest, service_sid) },
  { "identity", G_STRUCT_OFFSET (EnrollRequest, identity) },
  { "name", G_STRUCT_OFFSET (EnrollRequest, name) },
  { "pushUrl", G_STRUCT_OFFSET (EnrollRequest, push_url) },
};

static gboolean
take_param (EnrollRequest *req, GHashTable *seen, const gchar *key, const gchar *value,
            GError **error)
{
  g_autofree gchar *said = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (enroll_params); i++)
    {
      if (!g_str_equal (key, enroll_params[i].param))
        continue;
      /* which of the two was meant can't be known */
      if (!g_hash_table_add (seen, (gpointer)enroll_params[i].param))
        {
          g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                       "the enrollment URI gives “%s” twice", enroll_params[i].param);
          return FALSE;
        }
      if (*value)
        replace_str (G_STRUCT_MEMBER_P (req, enroll_params[i].offset), value);
      return TRUE;
    }

  /* the URI is the service's text */
  said = vpushctl_escape (key, FALSE, FALSE);
  g_printerr ("vpushctl enroll: ignoring the unknown URI parameter “%s”\n", said);
  return TRUE;
}

/* vpush://enroll?token=…&serviceSid=…&identity=…&name=…[&pushUrl=…], values percent- or
 * form-encoded. Unknown parameters are ignored with a warning, so that newer QR codes
 * still enroll. */
static gboolean
parse_enroll_uri (const gchar *text, EnrollRequest *req, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) local_error = NULL;
  GUriParamsIter iter;
  gchar *key = NULL;
  gchar *value = NULL;

  /* Neither the text nor GLib's message about it (which may quote it) is repeated: it
   * holds the access token, or is the token itself given where the URI goes, and an error
   * message ends up in a terminal's scrollback or a log. */
  uri = g_uri_parse (text, G_URI_FLAGS_ENCODED_QUERY, NULL);
  if (uri == NULL || g_ascii_strcasecmp (g_uri_get_scheme (uri), ENROLL_URI_SCHEME) != 0
      || g_strcmp0 (g_uri_get_host (uri), ENROLL_URI_HOST) != 0 || g_uri_get_query (uri) == NULL)
    {
      g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                   "the argument is not an enrollment URI (" ENROLL_URI_SCHEME "://" ENROLL_URI_HOST
                   "?token=…&serviceSid=…&identity=…&name=…)");
      return FALSE;
    }

  /* one by one, as a table of them would keep the last of a parameter given twice */
  g_uri_params_iter_init (&iter, g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM);
  while (g_uri_params_iter_next (&iter, &key, &value, &local_error))
    {
      gboolean taken = take_param (req, seen, key, value, error);

      g_free (key);
      wipe_free (value);
      if (!taken)
        return FALSE;
    }
  if (local_error != NULL)
    {
      g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE, "the enrollment URI's query: %s",
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_token (gchar **token, GError **error)
{
  gchar buffer[16384];
  gboolean read;

  /* "-": from stdin, so the token is not in the process list */
  if (g_strcmp0 (*token, "-") != 0)
    return TRUE;
  read = fgets (buffer, sizeof buffer, stdin) != NULL;
  if (read)
    replace_str (token, g_strstrip (buffer));
  explicit_bzero (buffer, sizeof buffer);
  if (!read)
    {
      g_set_error_literal (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                           "--token -: nothing to read on standard input");
      return FALSE;
    }
  /* not quoted: it is the token */
  if (!g_utf8_validate (*token, -1, NULL))
    {
      g_set_error_literal (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                           "--token -: what standard input holds is not UTF-8 text");
      return FALSE;
    }
  return TRUE;
}

static GVariant *
metadata_variant (gchar **metadata, GError **error)
{
  GVariantBuilder builder;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (gsize i = 0; metadata && metadata[i]; i++)
    {
      const gchar *eq = strchr (metadata[i], '=');
      gchar *key = NULL;

      if (eq == NULL || eq == metadata[i])
        {
          /* by its place among them: an option's value is not repeated */
          g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                       "--metadata number %" G_GSIZE_FORMAT " is not KEY=VALUE", i + 1);
          g_variant_builder_clear (&builder);
          return NULL;
        }
      key = g_strndup (metadata[i], eq - metadata[i]);
      if (!g_hash_table_add (seen, key))
        {
          g_set_error (error, VPUSHCTL_ERROR, VPUSHCTL_EXIT_USAGE,
                       "--metadata gives the key “%s” twice", key);
          g_variant_builder_clear (&builder);
          return NULL;
        }
      g_variant_builder_add (&builder, "{ss}", key, eq + 1);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

int
vpushctl_cmd_enroll (Vpushctl *ctl, int argc, char **argv)
{
  g_auto (EnrollRequest) opt = { 0 };
  g_auto (EnrollRequest) req = { 0 };
  g_auto (GStrv) metadata = NULL;
  gboolean no_verify = FALSE;
  const GOptionEntry entries[] = {
    { "service-sid", 's', 0, G_OPTION_ARG_FILENAME, &opt.service_sid, "The Verify service (VA…)",
      "SID" },
    { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &opt.identity,
      "The identity the app backend chose", "IDENTITY" },
    { "token", 't', 0, G_OPTION_ARG_FILENAME, &opt.token,
      "The enrollment access token, or - to read it from standard input", "TOKEN" },
    { "name", 'n', 0, G_OPTION_ARG_FILENAME, &opt.name, "The friendly name shown to the user",
      "NAME" },
    { "push-url", 0, 0, G_OPTION_ARG_FILENAME, &opt.push_url, "This factor's push channel", "URL" },
    { "metadata", 'm', 0, G_OPTION_ARG_FILENAME_ARRAY, &metadata,
      "Metadata of the factor (repeatable)", "KEY=VALUE" },
    { "no-verify", 0, 0, G_OPTION_ARG_NONE, &no_verify,
      "Leave the factor unverified (“vpushctl verify” later)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) meta = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  GVariantBuilder builder;
  const gchar *path;

  context = vpushctl_context_new (
      ctl, "[URI]",
      "Enroll this desktop as a push factor, from the options or from an enrollment URI\n"
      "(vpush://enroll?token=…&serviceSid=…&identity=…&name=…); options override the URI.",
      entries);
  if (!vpushctl_parse (ctl, context, &argc, &argv))
    return VPUSHCTL_EXIT_USAGE;
  if (argc > 2)
    return vpushctl_unexpected (ctl, argv[2]);
  if (argc == 2 && !parse_enroll_uri (argv[1], &req, &error))
    return vpushctl_usage (ctl, "%s", error->message);

  /* options override the URI */
  if (opt.service_sid)
    replace_str (&req.service_sid, opt.service_sid);
  if (opt.identity)
    replace_str (&req.identity, opt.identity);
  if (opt.token)
    replace_str (&req.token, opt.token);
  if (opt.name)
    replace_str (&req.name, opt.name);
  if (opt.push_url)
    replace_str (&req.push_url, opt.push_url);
  if (!read_token (&req.token, &error))
    return vpushctl_usage (ctl, "%s", error->message);

  if (req.service_sid == NULL)
    g_ptr_array_add (missing, "--service-sid");
  if (req.identity == NULL)
    g_ptr_array_add (missing, "--identity");
  if (req.token == NULL || *req.token == '\0')
    g_ptr_array_add (missing, "--token");
  if (req.name == NULL)
    g_ptr_array_add (missing, "--name");
  if (missing->len > 0)
    {
      g_autofree gchar *names = NULL;

      g_ptr_array_add (missing, NULL);
      names = g_strjoinv (", ", (gchar **)missing->pdata);
      return vpushctl_usage (ctl, "missing %s (or an enrollment URI)", names);
    }
  meta = metadata_variant (metadata, &error);
  if (meta == NULL)
    return vpushctl_usage (ctl, "%s", error->message);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_SERVICE_SID,
                         g_variant_new_string (req.service_sid));
  g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_IDENTITY,
                         g_variant_new_string (req.identity));
  g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_ACCESS_TOKEN,
                         g_variant_new_string (req.token));
  g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_FRIENDLY_NAME,
                         g_variant_new_string (req.name));
  if (g_variant_n_children (meta) > 0)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_METADATA, meta);
  if (req.push_url)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_PUSH_URL,
                           g_variant_new_string (req.push_url));
  if (no_verify)
    g_variant_builder_add (&builder, "{sv}", VPUSH_DBUS_ENROLL_VERIFY,
                           g_variant_new_boolean (FALSE));

  reply = vpushctl_call (ctl, VPUSH_DBUS_PATH, VPUSH_DBUS_MANAGER_IFACE,
                         VPUSH_DBUS_METHOD_ENROLL_FACTOR, g_variant_new ("(a{sv})", &builder),
                         G_VARIANT_TYPE ("(o)"), VPUSHCTL_API_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    return vpushctl_fail (ctl, error);
  g_variant_get (reply, "(&o)", &path);
  props = vpushctl_get_all (ctl, path, VPUSH_DBUS_FACTOR_IFACE, &error);
  if (props == NULL)
    return vpushctl_fail (ctl, error);

  if (ctl->json)
    {
      g_autoptr (JsonNode) node = vpushctl_props_to_json (path, props);

      vpushctl_print_json (node, TRUE);
    }
  else
    {
      g_autofree gchar *name = NULL;

      g_print ("Enrolled factor %s “%s”, %s\n", vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_SID),
               vpushctl_one_line (props, VPUSH_DBUS_FACTOR_FRIENDLY_NAME, &name),
               vpushctl_prop_string (props, VPUSH_DBUS_FACTOR_STATUS));
    }
  return VPUSHCTL_EXIT_OK;
}
