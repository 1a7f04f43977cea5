#include "vpush-config.h"
#include "vpush-config-private.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

#include "vpush-crypto.h"
#include "vpush-http.h"
#include "vpush-keyfile.h"
#include "vpush-log.h"
#include "vpush-xdg.h"
#include "vpush-file-read.h"

#define DEFAULT_BASE_URL           "https://verify.twilio.com/v2/"
#define DEFAULT_TRANSACTION_ID_KEY "transaction_id"
#define SYSTEM_CONFIG_FILE         "/etc/vpush/vpushd.conf"

typedef struct
{
  const gchar *group;
  const gchar *const keys[6];
} KnownGroup;

static const KnownGroup known_groups[] = {
  { "Verify", { "BaseUrl", "CaFile", "TimeoutMs", "RetryTimeoutMs", "MaxFactors", NULL } },
  { "Poll", { "IntervalSeconds", "IntervalWithPushSeconds", NULL } },
  { "Push", { "Url", NULL } },
  { "Approval", { "TransactionIdKey", "DefaultTimeoutMs", NULL } },
  { "Keyring", { "TimeoutMs", NULL } },
  { "Audit", { "RecordsPerCaller", NULL } },
};

VpushConfig *
vpush_config_new_default (void)
{
  VpushConfig *config = g_new0 (VpushConfig, 1);

  config->base_url = g_strdup (DEFAULT_BASE_URL);
  config->http_timeout_ms = 10000;
  config->retry_timeout_ms = 20000;
  config->max_factors = 256;
  config->poll_interval = 30;
  config->poll_interval_with_push = 300;
  config->transaction_id_key = g_strdup (DEFAULT_TRANSACTION_ID_KEY);
  config->default_timeout_ms = 10000;
  config->keyring_timeout_ms = 5000;
  config->audit_records_per_caller = VPUSH_LOG_RATION_DEFAULT;
  return config;
}

void
vpush_config_free (VpushConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_free (config->base_url);
  g_free (config->ca_file);
  g_free (config->push_url);
  g_free (config->transaction_id_key);
  g_free (config);
}

static void
warn_unknown (GKeyFile *keyfile, const gchar *file)
{
  g_auto (GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      const KnownGroup *known = NULL;
      g_auto (GStrv) keys = NULL;

      for (guint j = 0; j < G_N_ELEMENTS (known_groups); j++)
        {
          if (g_str_equal (groups[i], known_groups[j].group))
            known = &known_groups[j];
        }
      if (known == NULL)
        {
          /* GKeyFile takes names that are not UTF-8: the journal gets text */
          g_autofree gchar *shown = g_utf8_make_valid (groups[i], -1);

          g_warning ("%s: unknown group [%s] ignored", file, shown);
          continue;
        }

      keys = g_key_file_get_keys (keyfile, groups[i], NULL, NULL);
      for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
        {
          if (!g_strv_contains ((const gchar *const *)known->keys, keys[k]))
            {
              g_autofree gchar *shown = vpush_keyfile_shown_key (keys[k], -1);

              g_warning ("%s: unknown key [%s] %s ignored", file, groups[i], shown);
            }
        }
    }
}

static gboolean
read_uint (GKeyFile *keyfile, const gchar *file, const gchar *group, const gchar *key, guint min,
           guint max, guint *inout, GError **error)
{
  g_autofree gchar *value = g_key_file_get_value (keyfile, group, key, NULL);
  guint64 number;

  if (value == NULL)
    return TRUE;
  /* as systemd.unit(5) reads them: a space left at the end of a line is invisible */
  g_strstrip (value);
  if (!g_ascii_string_to_unsigned (value, 10, min, max, &number, NULL))
    {
      /* the message goes to the journal and a terminal as text */
      g_autofree gchar *shown = g_utf8_make_valid (value, -1);

      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [%s] %s: \"%s\" is not a whole number from %u to %u", file, group, key,
                   shown, min, max);
      return FALSE;
    }
  *inout = (guint)number;
  return TRUE;
}

/* The value of a key for a message, the journal keeps it: a URL without a password that
 * came in it; [Push] Url's path is its topic, as good as a password, so of it the origin
 * only */
static gchar *
shown_value (const gchar *group, const gchar *key, const gchar *value)
{
  if (g_str_equal (group, "Push") && g_str_equal (key, "Url"))
    {
      /* up to a comment after it, which a URL can't hold */
      g_autofree gchar *url = g_strndup (value, strcspn (value, " \t"));

      return vpush_http_url_origin (url);
    }
  if (g_str_equal (group, "Verify") && g_str_equal (key, "BaseUrl"))
    return vpush_http_url_redacted (value);
  return g_strdup (value);
}

/* Reads an unescaped string without the spaces around it; an empty value counts as unset. */
static gboolean
read_string (GKeyFile *keyfile, const gchar *file, const gchar *group, const gchar *key,
             gchar **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree gchar *value = NULL;

  *out = NULL;
  if (!g_key_file_has_key (keyfile, group, key, NULL))
    return TRUE;
  value = g_key_file_get_string (keyfile, group, key, &local_error);
  if (value == NULL)
    {
      g_autofree gchar *raw = g_key_file_get_value (keyfile, group, key, NULL);
      g_autofree gchar *valid = g_utf8_make_valid (raw ? raw : "", -1);
      g_autofree gchar *shown = shown_value (group, key, valid);

      /* GLib's message repeats the value as it is */
      if (raw != NULL && !g_utf8_validate (raw, -1, NULL))
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "%s: [%s] %s: \"%s\" is not valid UTF-8", file, group, key, shown);
      else
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "%s: [%s] %s: \"%s\" is not a valid string: %s", file, group, key, shown,
                     local_error->message);
      return FALSE;
    }
  /* "transaction_id " would match no hidden details key, and say nothing */
  g_strstrip (value);
  if (*value != '\0')
    *out = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
check_url (const gchar *file, const gchar *group, const gchar *key, const gchar *url,
           GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree gchar *shown = NULL;
  gboolean push = g_str_equal (group, "Push");
  gboolean ok = push ? vpush_http_check_url_unnamed (url, &local_error)
                     : vpush_http_check_base_url (url, &local_error);

  if (ok)
    return TRUE;
  /* not a password that came with the URL, nor a push topic */
  shown = shown_value (group, key, url);
  g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
               "%s: [%s] %s: \"%s\" can't be used (an https URL, or http to a loopback host, "
               "without a user name or password): %s",
               file, group, key, shown, local_error->message);
  return FALSE;
}

/* GKeyFile has comments on lines of their own only: "IntervalSeconds=30  # no push" sets
 * "30  # no push". Said as such, rather than as a bad number or URL. */
static gboolean
check_no_trailing_comments (GKeyFile *keyfile, const gchar *file, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (keyfile, groups[i], NULL, NULL);

      for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
        {
          g_autofree gchar *value = g_key_file_get_value (keyfile, groups[i], keys[k], NULL);

          if (value != NULL && (strstr (value, " #") != NULL || strstr (value, "\t#") != NULL))
            {
              /* nor the comment's bytes that are not UTF-8, as for any value */
              g_autofree gchar *valid = g_utf8_make_valid (value, -1);
              g_autofree gchar *shown = shown_value (groups[i], keys[k], valid);

              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "%s: [%s] %s: \"%s\": a comment goes on a line of its own", file,
                           groups[i], keys[k], shown);
              return FALSE;
            }
        }
    }
  return TRUE;
}

static gboolean
parse_keyfile (VpushConfig *config, GKeyFile *keyfile, const gchar *file, GError **error)
{
  g_autofree gchar *base_url = NULL;
  g_autofree gchar *ca_file = NULL;
  g_autofree gchar *push_url = NULL;
  g_autofree gchar *transaction_id_key = NULL;

  warn_unknown (keyfile, file);
  if (!check_no_trailing_comments (keyfile, file, error))
    return FALSE;

  if (!read_string (keyfile, file, "Verify", "BaseUrl", &base_url, error))
    return FALSE;
  if (base_url == NULL && g_key_file_has_key (keyfile, "Verify", "BaseUrl", NULL))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [Verify] BaseUrl: must not be empty", file);
      return FALSE;
    }
  if (base_url != NULL)
    {
      if (!check_url (file, "Verify", "BaseUrl", base_url, error))
        return FALSE;
      g_free (config->base_url);
      /* Endpoint paths are appended to it, so it must name a directory. */
      if (g_str_has_suffix (base_url, "/"))
        config->base_url = g_steal_pointer (&base_url);
      else
        config->base_url = g_strconcat (base_url, "/", NULL);
    }

  if (!read_string (keyfile, file, "Verify", "CaFile", &ca_file, error))
    return FALSE;
  if (ca_file != NULL)
    {
      /* the file is read by libcurl at each TLS set-up: say now what is wrong with it */
      const gchar *wrong = !g_path_is_absolute (ca_file)                    ? "not an absolute path"
                           : !g_file_test (ca_file, G_FILE_TEST_EXISTS)     ? "no such file"
                           : !g_file_test (ca_file, G_FILE_TEST_IS_REGULAR) ? "not a regular file"
                                                                            : NULL;

      g_autoptr (GError) local_error = NULL;

      if (wrong == NULL && !vpush_crypto_check_ca_file (ca_file, &local_error))
        wrong = local_error->message;
      if (wrong != NULL)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s: [Verify] CaFile: \"%s\" can't be used: %s (an absolute path to a "
                       "file of PEM certificates)",
                       file, ca_file, wrong);
          return FALSE;
        }
      g_free (config->ca_file);
      config->ca_file = g_steal_pointer (&ca_file);
    }

  if (!read_uint (keyfile, file, "Verify", "TimeoutMs", 1000, 120000, &config->http_timeout_ms,
                  error))
    return FALSE;
  if (!read_uint (keyfile, file, "Verify", "RetryTimeoutMs", 0, 600000, &config->retry_timeout_ms,
                  error))
    return FALSE;
  if (!read_uint (keyfile, file, "Verify", "MaxFactors", 1, VPUSH_MAX_FACTORS_LIMIT,
                  &config->max_factors, error))
    return FALSE;
  if (!read_uint (keyfile, file, "Poll", "IntervalSeconds", 1, 86400, &config->poll_interval,
                  error))
    return FALSE;
  if (!read_uint (keyfile, file, "Poll", "IntervalWithPushSeconds", 1, 86400,
                  &config->poll_interval_with_push, error))
    return FALSE;

  if (!read_string (keyfile, file, "Push", "Url", &push_url, error))
    return FALSE;
  if (push_url != NULL)
    {
      if (!check_url (file, "Push", "Url", push_url, error))
        return FALSE;
      g_free (config->push_url);
      config->push_url = g_steal_pointer (&push_url);
    }

  if (!read_string (keyfile, file, "Approval", "TransactionIdKey", &transaction_id_key, error))
    return FALSE;
  if (transaction_id_key == NULL
      && g_key_file_has_key (keyfile, "Approval", "TransactionIdKey", NULL))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [Approval] TransactionIdKey: must not be empty", file);
      return FALSE;
    }
  if (transaction_id_key != NULL)
    {
      g_free (config->transaction_id_key);
      config->transaction_id_key = g_steal_pointer (&transaction_id_key);
    }

  /* The bus API refuses a per-call timeout above 20000 ms; the default obeys the same cap. */
  if (!read_uint (keyfile, file, "Approval", "DefaultTimeoutMs", 0, 20000,
                  &config->default_timeout_ms, error))
    return FALSE;
  /* libsecret's calls carry GDBus's default timeout, 25 s: a longer one would not hold */
  if (!read_uint (keyfile, file, "Keyring", "TimeoutMs", 100, 25000, &config->keyring_timeout_ms,
                  error))
    return FALSE;
  if (!read_uint (keyfile, file, "Audit", "RecordsPerCaller", 0, 100000,
                  &config->audit_records_per_caller, error))
    return FALSE;
  return TRUE;
}

VpushConfig *
vpush_config_load_from_data (const gchar *data, gsize length, const gchar *origin, GError **error)
{
  g_autoptr (VpushConfig) config = vpush_config_new_default ();
  g_autoptr (GKeyFile) keyfile = vpush_keyfile_load (data, length, origin, error);

  if (keyfile == NULL || !parse_keyfile (config, keyfile, origin, error))
    return NULL;
  config->path = g_strdup (origin);
  return g_steal_pointer (&config);
}

static VpushConfig *
load_file (const gchar *path, GError **error)
{
  g_autofree gchar *data = NULL;
  gsize length;

  if (!vpush_file_read (path, FALSE, &data, &length, error))
    return NULL;
  return vpush_config_load_from_data (data, length, path, error);
}

/* Only a file that is not there at all passes the turn to the next one. One that is there
 * but can't be read (a symlink to nothing, a directory on the way that can't be searched)
 * is an error, said by load_file(): taking the next one instead would silently run with
 * settings the user did not write. */
static gboolean
is_absent (const gchar *path)
{
  GStatBuf st;

  return g_lstat (path, &st) != 0 && errno == ENOENT;
}

VpushConfig *
vpush_config_load (const gchar *path, GError **error)
{
  g_autofree gchar *config_home = NULL;
  g_autofree gchar *user_path = NULL;

  if (path != NULL && *path == '\0')
    {
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                           "the configuration file's path is empty");
      return NULL;
    }
  if (path != NULL)
    return load_file (path, error);

  config_home = vpush_xdg_dir (g_get_user_config_dir (), "XDG_CONFIG_HOME", ".config");
  user_path = g_build_filename (config_home, "vpush", "vpushd.conf", NULL);
  if (!is_absent (user_path))
    return load_file (user_path, error);
  if (!is_absent (SYSTEM_CONFIG_FILE))
    return load_file (SYSTEM_CONFIG_FILE, error);
  return vpush_config_new_default ();
}
