#include <string.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpush-config.h"
#include "vpush-log.h"
#include "vpush-file-read.h"

/* Writes text to a fresh file in the test's temporary directory; returns its path. */
static gchar *
write_config (const gchar *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-config-XXXXXX", &error);
  g_autofree gchar *path = NULL;

  g_assert_no_error (error);
  path = g_build_filename (dir, "vpushd.conf", NULL);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static void
remove_config (const gchar *path)
{
  g_autofree gchar *dir = g_path_get_dirname (path);

  g_unlink (path);
  g_rmdir (dir);
}

static void
assert_defaults (const VpushConfig *config)
{
  g_assert_cmpstr (config->base_url, ==, "https://verify.twilio.com/v2/");
  g_assert_null (config->ca_file);
  g_assert_cmpuint (config->http_timeout_ms, ==, 10000);
  g_assert_cmpuint (config->retry_timeout_ms, ==, 20000);
  g_assert_cmpuint (config->max_factors, ==, 256);
  g_assert_cmpuint (config->poll_interval, ==, 30);
  g_assert_cmpuint (config->poll_interval_with_push, ==, 300);
  g_assert_null (config->push_url);
  g_assert_cmpstr (config->transaction_id_key, ==, "transaction_id");
  g_assert_cmpuint (config->default_timeout_ms, ==, 10000);
  g_assert_cmpuint (config->keyring_timeout_ms, ==, 5000);
  g_assert_cmpuint (config->audit_records_per_caller, ==, VPUSH_LOG_RATION_DEFAULT);
}

static VpushConfig *
load_text (const gchar *text, GError **error)
{
  g_autofree gchar *path = write_config (text);
  VpushConfig *config = vpush_config_load (path, error);

  remove_config (path);
  return config;
}

static void
test_config_defaults (void)
{
  g_autoptr (VpushConfig) config = vpush_config_new_default ();

  assert_defaults (config);
  g_assert_null (config->path);
}

static void
test_config_empty_file (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *path = write_config ("# nothing set\n");
  g_autoptr (VpushConfig) config = vpush_config_load (path, &error);

  g_assert_no_error (error);
  assert_defaults (config);
  g_assert_cmpstr (config->path, ==, path);
  remove_config (path);
}

/* a self-signed certificate, as the first of a CA bundle */
#define TEST_CA_PEM                                                                                \
  "-----BEGIN CERTIFICATE-----\n"                                                                  \
  "MIIBhzCCAS2gAwIBAgIUcPVvSyuDN0MrW7MdAC3Xz0hBacgwCgYIKoZIzj0EAwIw\n"                             \
  "GDEWMBQGA1UEAwwNdnB1c2ggdGVzdCBDQTAgFw0yNjExMjcxNTAyMzVaGA8yMTI2\n"                             \
  "MTEwMzE1MDIzNVowGDEWMBQGA1UEAwwNdnB1c2ggdGVzdCBDQTBZMBMGByqGSM49\n"                             \
  "AgEGCCqGSM49AwEHA0IABPD8XaS0cnMceKEAQIjRfYXiiSz1VeYCYGlSzr65ze3g\n"                             \
  "NbBPvY48eXFSL3fj+9B4Ni6P69DsGylr2Peto5GLU/ijUzBRMB0GA1UdDgQWBBQK\n"                             \
  "lX7Dk6o0TKsyPNnV5h3AH/0mlDAfBgNVHSMEGDAWgBQKlX7Dk6o0TKsyPNnV5h3A\n"                             \
  "H/0mlDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIAWOSz5vYz9l\n"                             \
  "YBm9cPMOTZenrmyWSMjglExSlX2F+uhnAiEAkdeZcNFa/HGMeg0uhZpZAlH5tBuz\n"                             \
  "RBlv23UghMIM6eE=\n"                                                                             \
  "-----END CERTIFICATE-----\n"

/* the same in OpenSSL's own form, with what it is trusted for (serverAuth) */
#define TEST_TRUSTED_CA_PEM                                                                        \
  "-----BEGIN TRUSTED CERTIFICATE-----\n"                                                          \
  "MIIBhzCCAS2gAwIBAgIUcPVvSyuDN0MrW7MdAC3Xz0hBacgwCgYIKoZIzj0EAwIw\n"                             \
  "GDEWMBQGA1UEAwwNdnB1c2ggdGVzdCBDQTAgFw0yNjExMjcxNTAyMzVaGA8yMTI2\n"                             \
  "MTEwMzE1MDIzNVowGDEWMBQGA1UEAwwNdnB1c2ggdGVzdCBDQTBZMBMGByqGSM49\n"                             \
  "AgEGCCqGSM49AwEHA0IABPD8XaS0cnMceKEAQIjRfYXiiSz1VeYCYGlSzr65ze3g\n"                             \
  "NbBPvY48eXFSL3fj+9B4Ni6P69DsGylr2Peto5GLU/ijUzBRMB0GA1UdDgQWBBQK\n"                             \
  "lX7Dk6o0TKsyPNnV5h3AH/0mlDAfBgNVHSMEGDAWgBQKlX7Dk6o0TKsyPNnV5h3A\n"                             \
  "H/0mlDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIAWOSz5vYz9l\n"                             \
  "YBm9cPMOTZenrmyWSMjglExSlX2F+uhnAiEAkdeZcNFa/HGMeg0uhZpZAlH5tBuz\n"                             \
  "RBlv23UghMIM6eEwDDAKBggrBgEFBQcDAQ==\n"                                                         \
  "-----END TRUSTED CERTIFICATE-----\n"

/* A bundle in OpenSSL's trusted form, as some distributions ship, is a CA file too: libcurl
 * takes it */
static void
test_config_ca_file_trusted (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *ca_file = write_config (TEST_TRUSTED_CA_PEM);
  g_autofree gchar *text = g_strdup_printf ("[Verify]\nCaFile=%s\n", ca_file);
  g_autoptr (VpushConfig) config = load_text (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (config->ca_file, ==, ca_file);
  remove_config (ca_file);
}

static void
test_config_all_valid (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *ca_file = write_config ("# the test CA\n" TEST_CA_PEM);
  g_autofree gchar *text = g_strdup_printf ("[Verify]\n"
                                            "BaseUrl=https://verify.example.com/v2\n"
                                            "CaFile=%s\n"
                                            "TimeoutMs=120000\n"
                                            "RetryTimeoutMs=600000\n"
                                            "MaxFactors=4096\n"
                                            "[Poll]\n"
                                            "IntervalSeconds=86400\n"
                                            "IntervalWithPushSeconds=1\n"
                                            "[Push]\n"
                                            "Url=https://ntfy.example.com/topic/json\n"
                                            "[Approval]\n"
                                            "TransactionIdKey=txn\n"
                                            "DefaultTimeoutMs=20000\n"
                                            "[Keyring]\n"
                                            "TimeoutMs=2500\n"
                                            "[Audit]\n"
                                            "RecordsPerCaller=100000\n",
                                            ca_file);
  g_autoptr (VpushConfig) config = load_text (text, &error);

  g_assert_no_error (error);
  /* The trailing '/' is added so that endpoint paths can be appended. */
  g_assert_cmpstr (config->base_url, ==, "https://verify.example.com/v2/");
  g_assert_cmpstr (config->ca_file, ==, ca_file);
  g_assert_cmpuint (config->http_timeout_ms, ==, 120000);
  g_assert_cmpuint (config->retry_timeout_ms, ==, 600000);
  g_assert_cmpuint (config->max_factors, ==, 4096);
  g_assert_cmpuint (config->poll_interval, ==, 86400);
  g_assert_cmpuint (config->poll_interval_with_push, ==, 1);
  g_assert_cmpstr (config->push_url, ==, "https://ntfy.example.com/topic/json");
  g_assert_cmpstr (config->transaction_id_key, ==, "txn");
  g_assert_cmpuint (config->default_timeout_ms, ==, 20000);
  g_assert_cmpuint (config->keyring_timeout_ms, ==, 2500);
  g_assert_cmpuint (config->audit_records_per_caller, ==, 100000);
  remove_config (ca_file);
}

static void
test_config_lower_bounds (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = load_text ("[Verify]\nTimeoutMs=1000\nRetryTimeoutMs=0\n"
                                              "MaxFactors=1\n"
                                              "[Poll]\nIntervalSeconds=1\n"
                                              "[Approval]\nDefaultTimeoutMs=0\n"
                                              "[Audit]\nRecordsPerCaller=0\n",
                                              &error);

  g_assert_no_error (error);
  g_assert_cmpuint (config->http_timeout_ms, ==, 1000);
  g_assert_cmpuint (config->retry_timeout_ms, ==, 0);
  g_assert_cmpuint (config->max_factors, ==, 1);
  g_assert_cmpuint (config->poll_interval, ==, 1);
  g_assert_cmpuint (config->default_timeout_ms, ==, 0);
  g_assert_cmpuint (config->audit_records_per_caller, ==, 0);
}

static void
test_config_loopback_http (void)
{
  const gchar *urls[] = {
    "http://127.0.0.1:8080/v2/",
    "http://localhost:9999/v2",
    "http://[::1]:8080/v2/",
  };

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *text
          = g_strdup_printf ("[Verify]\nBaseUrl=%s\n[Push]\nUrl=%s\n", urls[i], urls[i]);
      g_autoptr (VpushConfig) config = load_text (text, &error);

      g_assert_no_error (error);
      g_assert_true (g_str_has_prefix (config->base_url, urls[i]));
      g_assert_true (g_str_has_suffix (config->base_url, "/"));
      g_assert_cmpstr (config->push_url, ==, urls[i]);
    }
}

static void
test_config_empty_optional (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = load_text ("[Verify]\nCaFile=\n[Push]\nUrl=\n", &error);

  g_assert_no_error (error);
  g_assert_null (config->ca_file);
  g_assert_null (config->push_url);
}

/* Spaces and tabs around a value are not part of it, as in systemd.unit(5): a space left
 * at the end of a line can't be seen, and a key "transaction_id " would match nothing */
static void
test_config_whitespace (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config
      = load_text ("[Verify]\nBaseUrl=http://127.0.0.1:8080/v2 \nTimeoutMs=2000\t\n"
                   "[Poll]\nIntervalSeconds=45 \nIntervalWithPushSeconds= 90\n"
                   "[Push]\nUrl=  \n"
                   "[Approval]\nTransactionIdKey=order_id \t\nDefaultTimeoutMs=3000 \n"
                   "[Keyring]\nTimeoutMs=700 \n",
                   &error);

  g_assert_no_error (error);
  g_assert_cmpstr (config->base_url, ==, "http://127.0.0.1:8080/v2/");
  g_assert_cmpuint (config->http_timeout_ms, ==, 2000);
  g_assert_cmpuint (config->poll_interval, ==, 45);
  g_assert_cmpuint (config->poll_interval_with_push, ==, 90);
  g_assert_null (config->push_url);
  g_assert_cmpstr (config->transaction_id_key, ==, "order_id");
  g_assert_cmpuint (config->default_timeout_ms, ==, 3000);
  g_assert_cmpuint (config->keyring_timeout_ms, ==, 700);

  /* nothing but spaces is empty, which a required value can't be */
  g_clear_error (&error);
  g_assert_null (load_text ("[Approval]\nTransactionIdKey= \t\n", &error));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "[Approval] TransactionIdKey: must not be empty"));
}

typedef struct
{
  const gchar *text;
  const gchar *message; /* expected after "<path>: " */
} BadCase;

static void
test_config_invalid (void)
{
  const BadCase cases[] = {
    { "[Poll]\nIntervalSeconds=abc\n",
      "[Poll] IntervalSeconds: \"abc\" is not a whole number from 1 to 86400" },
    { "[Poll]\nIntervalSeconds=0\n",
      "[Poll] IntervalSeconds: \"0\" is not a whole number from 1 to 86400" },
    { "[Poll]\nIntervalSeconds=86401\n",
      "[Poll] IntervalSeconds: \"86401\" is not a whole number from 1 to 86400" },
    { "[Poll]\nIntervalSeconds=-5\n",
      "[Poll] IntervalSeconds: \"-5\" is not a whole number from 1 to 86400" },
    { "[Poll]\nIntervalSeconds=1.5\n",
      "[Poll] IntervalSeconds: \"1.5\" is not a whole number from 1 to 86400" },
    { "[Poll]\nIntervalWithPushSeconds=0\n",
      "[Poll] IntervalWithPushSeconds: \"0\" is not a whole number from 1 to 86400" },
    { "[Verify]\nTimeoutMs=999\n",
      "[Verify] TimeoutMs: \"999\" is not a whole number from 1000 to 120000" },
    { "[Verify]\nTimeoutMs=120001\n",
      "[Verify] TimeoutMs: \"120001\" is not a whole number from 1000 to 120000" },
    { "[Verify]\nTimeoutMs=99999999999999999999\n",
      "[Verify] TimeoutMs: \"99999999999999999999\" is not a whole number from 1000 to 120000" },
    { "[Verify]\nMaxFactors=0\n",
      "[Verify] MaxFactors: \"0\" is not a whole number from 1 to 4096" },
    { "[Verify]\nMaxFactors=4097\n",
      "[Verify] MaxFactors: \"4097\" is not a whole number from 1 to 4096" },
    { "[Verify]\nRetryTimeoutMs=600001\n",
      "[Verify] RetryTimeoutMs: \"600001\" is not a whole number from 0 to 600000" },
    { "[Approval]\nDefaultTimeoutMs=20001\n",
      "[Approval] DefaultTimeoutMs: \"20001\" is not a whole number from 0 to 20000" },
    { "[Approval]\nTransactionIdKey=\n", "[Approval] TransactionIdKey: must not be empty" },
    { "[Keyring]\nTimeoutMs=ten\n",
      "[Keyring] TimeoutMs: \"ten\" is not a whole number from 100 to 25000" },
    { "[Audit]\nRecordsPerCaller=100001\n",
      "[Audit] RecordsPerCaller: \"100001\" is not a whole number from 0 to 100000" },
    { "[Keyring]\nTimeoutMs=25001\n",
      "[Keyring] TimeoutMs: \"25001\" is not a whole number from 100 to 25000" },
    { "[Keyring]\nTimeoutMs=99\n",
      "[Keyring] TimeoutMs: \"99\" is not a whole number from 100 to 25000" },
    { "[Verify]\nBaseUrl=\n", "[Verify] BaseUrl: must not be empty" },
    { "[Verify]\nBaseUrl=ftp://verify.example.com/v2/\n",
      "[Verify] BaseUrl: \"ftp://verify.example.com/v2/\" can't be used" },
    { "[Verify]\nBaseUrl=verify.twilio.com/v2/\n",
      "[Verify] BaseUrl: \"verify.twilio.com/v2/\" can't be used" },
    { "[Verify]\nBaseUrl=http://verify.twilio.com/v2/\n",
      "[Verify] BaseUrl: \"http://verify.twilio.com/v2/\" can't be used" },
    { "[Verify]\nBaseUrl=http://192.168.1.10:8080/v2/\n",
      "[Verify] BaseUrl: \"http://192.168.1.10:8080/v2/\" can't be used" },
    /* a password that came with a URL is not repeated (the message goes to the journal) */
    { "[Verify]\nBaseUrl=https://AC123:s3cr3t@verify.twilio.com/v2/\n",
      "[Verify] BaseUrl: \"https://…@verify.twilio.com/v2/\" can't be used (an https URL, or "
      "http to a loopback host, without a user name or password): the URL to “verify.twilio.com” "
      "must not carry a user name or password" },
    { "[Verify]\nBaseUrl=https://AC123:s3cr3t@verify twilio/v2/\n",
      "[Verify] BaseUrl: \"https://…@verify twilio/v2/\" can't be used (an https URL, or http "
      "to a loopback host, without a user name or password): URL “https://…@verify twilio/v2/” is "
      "not valid" },
    { "[Verify]\nBaseUrl=https://AC1:pa/s3cr3t@verify.twilio.com/v2/\n",
      "[Verify] BaseUrl: \"https://…@verify.twilio.com/v2/\" can't be used" },
    { "[Verify]\nBaseUrl=https://u:pa#s3cr3t@host/\n",
      "[Verify] BaseUrl: \"https://…@host/\" can't be used" },
    { "[Verify]\nBaseUrl=u:s3cr3t@host/x\n", "[Verify] BaseUrl: \"…@host/x\" can't be used" },
    /* a push URL's path is its topic, as good as a password: the host only */
    { "[Push]\nUrl=https://u:s3cr3t@ntfy.example.com/topic/json # mine\n",
      "[Push] Url: \"https://ntfy.example.com/…\": a comment goes on a line of its own" },
    { "[Push]\nUrl=https://ntfy.example.com:8443/s3cr3t/json\t# mine\n",
      "[Push] Url: \"https://ntfy.example.com:8443/…\": a comment goes on a line of its own" },
    { "[Push]\nUrl=http://ntfy.example.com/s3cr3t/json\n",
      "[Push] Url: \"http://ntfy.example.com/…\" can't be used (an https URL, or http to a "
      "loopback host, without a user name or password): the URL: plain http:// is only allowed "
      "to a loopback host, not “ntfy.example.com”" },
    /* paths are appended to a base URL: a query or fragment would end each one */
    { "[Verify]\nBaseUrl=https://verify.twilio.com/v2/?region=ie1\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/v2/?region=ie1\" can't be used (an https "
      "URL, or http to a loopback host, without a user name or password): a base URL has no "
      "query (“?…”): each request's path is appended to it" },
    { "[Verify]\nBaseUrl=https://verify.twilio.com/v2/#prod\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/v2/#prod\" can't be used" },
    /* empty ones too, which libcurl takes for none */
    { "[Verify]\nBaseUrl=https://verify.twilio.com/v2#\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/v2#\" can't be used (an https URL, or http "
      "to a loopback host, without a user name or password): a base URL has no fragment" },
    { "[Verify]\nBaseUrl=https://verify.twilio.com/v2/?\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/v2/?\" can't be used (an https URL, or "
      "http to a loopback host, without a user name or password): a base URL has no query" },
    /* nor the topic of a push URL that is not UTF-8, nor a base URL's password */
    { "[Push]\nUrl=https://ntfy.example.com/s3cr3t\xff/json\n",
      "[Push] Url: \"https://ntfy.example.com/…\" is not valid UTF-8" },
    { "[Verify]\nBaseUrl=https://u:s3cr3t@verify.twilio.com/\xff/\n",
      "[Verify] BaseUrl: \"https://…@verify.twilio.com/\xef\xbf\xbd/\" is not valid UTF-8" },
    { "[Verify]\nCaFile=relative/ca.pem\n",
      "[Verify] CaFile: \"relative/ca.pem\" can't be used: not an absolute path (an absolute "
      "path to a file of PEM certificates)" },
    { "[Verify]\nCaFile=/nonexistent/vpush/ca.pem\n",
      "[Verify] CaFile: \"/nonexistent/vpush/ca.pem\" can't be used: no such file" },
    { "[Verify]\nCaFile=/\n", "[Verify] CaFile: \"/\" can't be used: not a regular file" },
    /* libcurl would fail every https request with it, and vpushd would say "offline" */
    { "[Verify]\nCaFile=/etc/passwd\n",
      "[Verify] CaFile: \"/etc/passwd\" can't be used: it holds no PEM certificate (an absolute "
      "path to a file of PEM certificates)" },
    /* bytes that are not UTF-8 are not repeated as they are */
    { "[Poll]\nIntervalSeconds=3\xff\n",
      "[Poll] IntervalSeconds: \"3\xef\xbf\xbd\" is not a whole number from 1 to 86400" },
    { "[Verify]\nBaseUrl=https://verify.twilio.com/\xfe/\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/\xef\xbf\xbd/\" is not valid UTF-8" },
    { "[Poll]\nIntervalSeconds=30 # \xff\n",
      "[Poll] IntervalSeconds: \"30 # \xef\xbf\xbd\": a comment goes on a line of its own" },
    /* a comment after a value, as design documents write them, is part of the value */
    { "[Poll]\nIntervalSeconds=30   # no push channel connected\n",
      "[Poll] IntervalSeconds: \"30   # no push channel connected\": a comment goes on a line "
      "of its own" },
    { "[Verify]\nBaseUrl=https://verify.twilio.com/v2/\t# the API\n",
      "[Verify] BaseUrl: \"https://verify.twilio.com/v2/\t# the API\": a comment goes on a line "
      "of its own" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *path = write_config (cases[i].text);
      g_autoptr (VpushConfig) config = vpush_config_load (path, &error);
      g_autofree gchar *expected = g_strdup_printf ("%s: %s", path, cases[i].message);
      /* escaped: TAP output must be UTF-8 */
      g_autofree gchar *shown = g_strescape (cases[i].text, NULL);

      g_test_message ("case %u: %s", i, shown);
      g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
      g_assert_null (config);
      g_assert_true (g_str_has_prefix (error->message, expected));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_null (strstr (error->message, "s3cr3t"));
      remove_config (path);
    }
}

static void
test_config_unknown (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  g_autofree gchar *path = write_config ("[Poll]\nIntervalSeconds=60\nIntervalSecs=5\n"
                                         "Interval\xffSecs=5\n"
                                         "[Frobnicate]\nKnob=1\n[Frob\xfe]\nKnob=1\n");
  g_autofree gchar *unknown_key = g_strdup_printf ("%s: unknown key [Poll] IntervalSecs*", path);
  g_autofree gchar *unknown_group = g_strdup_printf ("%s: unknown group [Frobnicate]*", path);
  /* names GKeyFile takes though they are not UTF-8 are not repeated raw */
  g_autofree gchar *invalid_key
      = g_strdup_printf ("%s: unknown key [Poll] Interval\xef\xbf\xbdSecs ignored", path);
  g_autofree gchar *invalid_group
      = g_strdup_printf ("%s: unknown group [Frob\xef\xbf\xbd] ignored", path);

  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, unknown_key);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, invalid_key);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, unknown_group);
  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, invalid_group);
  config = vpush_config_load (path, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (config->poll_interval, ==, 60);
  remove_config (path);
}

/* A line GKeyFile can't read is named by its number, not quoted: it may be a [Push] Url
 * with its topic, as good as a password ("=" forgotten) */
static void
test_config_unparseable (void)
{
  const struct
  {
    const gchar *text;
    gint code;
    const gchar *message;
  } cases[] = {
    { "[Poll]\nIntervalSeconds=30\nthis is not a key file\n", G_KEY_FILE_ERROR_PARSE,
      "line 3 is not a [group], a key=value line or a # comment, or its name is not valid" },
    { "# mine\n\n[Push]\nUrl https://ntfy.example.com/s3cr3t/json\n[Poll]\n",
      G_KEY_FILE_ERROR_PARSE,
      "line 4 is not a [group], a key=value line or a # comment, or its name is not valid" },
    { "[Push]\n=https://ntfy.example.com/s3cr3t/json", G_KEY_FILE_ERROR_PARSE,
      "line 2 is not a [group], a key=value line or a # comment, or its name is not valid" },
    { "[Push]\nUrl[s3cr3t=https://ntfy.example.com/json\n", G_KEY_FILE_ERROR_PARSE,
      "line 2 is not a [group], a key=value line or a # comment, or its name is not valid" },
    { "[Push]\n[s3cr3t\n", G_KEY_FILE_ERROR_PARSE,
      "line 2 is not a [group], a key=value line or a # comment, or its name is not valid" },
    { "\n\nUrl=https://ntfy.example.com/s3cr3t/json\n[Push]\n", G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
      "line 3 comes before the first [group]" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *path = write_config (cases[i].text);
      g_autoptr (VpushConfig) config = vpush_config_load (path, &error);
      g_autofree gchar *expected = g_strdup_printf ("%s: %s", path, cases[i].message);

      g_assert_error (error, G_KEY_FILE_ERROR, cases[i].code);
      g_assert_null (config);
      g_assert_cmpstr (error->message, ==, expected);
      remove_config (path);
    }
}

/* An unknown key's name is said up to a character no key name has: "Url https://…" with
 * a "=" in its query is a key to GKeyFile */
static void
test_config_unknown_key_cut (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  g_autofree gchar *path
      = write_config ("[Push]\nUrl https://ntfy.example.com/s3cr3t/json?since=all\n");
  g_autofree gchar *expected = g_strdup_printf ("%s: unknown key [Push] Url… ignored", path);

  g_test_expect_message ("vpushd", G_LOG_LEVEL_WARNING, expected);
  config = vpush_config_load (path, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_null (config->push_url);
  remove_config (path);
}

/* GKeyFile would keep the last of two values, and merge two groups: refused, naming them */
static void
test_config_repeated (void)
{
  static const struct
  {
    const gchar *text;
    const gchar *message;
  } cases[] = {
    { "[Poll]\nIntervalSeconds=60\nIntervalSeconds=5\n",
      "[Poll] key IntervalSeconds appears twice; write each key once" },
    { "[Poll]\nIntervalSeconds=60\n[Verify]\nTimeoutMs=5000\n[Poll]\nJitterPercent=10\n",
      "group [Poll] appears twice; write each group once" },
    /* a "=" forgotten twice: the key holds a push URL's topic, as good as a password */
    { "[Push]\nUrl https://ntfy.example.com/s3cr3t?since=all\n"
      "Url https://ntfy.example.com/s3cr3t?since=1h\n",
      "[Push] key Url… appears twice; write each key once" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree gchar *path = write_config (cases[i].text);
      g_autoptr (VpushConfig) config = vpush_config_load (path, &error);
      g_autofree gchar *expected = g_strdup_printf ("%s: %s", path, cases[i].message);

      g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE);
      g_assert_null (config);
      g_assert_cmpstr (error->message, ==, expected);
      remove_config (path);
    }
}

static void
test_config_missing_explicit (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = vpush_config_load ("/nonexistent/vpush/vpushd.conf", &error);

  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_null (config);
  g_assert_true (g_str_has_prefix (error->message, "/nonexistent/vpush/vpushd.conf: "));
  g_clear_error (&error);
  /* --config '' names no file: said as such, not as ": No such file or directory" */
  g_assert_null (vpush_config_load ("", &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_cmpstr (error->message, ==, "the configuration file's path is empty");
}

/* An editor's UTF-8 byte order mark, invisible, is skipped rather than making the first
 * group header a line that can't be read */
static void
test_config_byte_order_mark (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = load_text ("\xef\xbb\xbf[Poll]\nIntervalSeconds=42\n", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (config->poll_interval, ==, 42);
}

/* A FIFO, a device or a file past 1 MiB is no configuration: refused at once, without
 * waiting for a writer or reading without end */
static void
test_config_not_a_file (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-test-config-XXXXXX", NULL);
  g_autofree gchar *fifo = g_build_filename (dir, "fifo.conf", NULL);
  g_autofree gchar *big = g_build_filename (dir, "big.conf", NULL);
  g_autofree gchar *text = g_strnfill (VPUSH_FILE_READ_MAX + 1, '#');
  const gchar *const paths[] = { fifo, "/dev/zero", big, dir };
  const gchar *const why[]
      = { "is not a regular file", "is not a regular file", "has 1048577 bytes", "is a directory" };

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_true (g_file_set_contents (big, text, -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushConfig) config = vpush_config_load (paths[i], &error);
      g_autofree gchar *expected = g_strdup_printf (
          "%s: must be a regular file of at most 1048576 bytes, and it %s", paths[i], why[i]);

      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
      g_assert_null (config);
      g_assert_cmpstr (error->message, ==, expected);
    }
  g_assert_cmpint (g_remove (fifo), ==, 0);
  g_assert_cmpint (g_remove (big), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* G_TEST_OPTION_ISOLATE_DIRS gives every test case its own empty XDG_CONFIG_HOME. */
static void
test_config_search_user (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  g_autofree gchar *dir = g_build_filename (g_get_user_config_dir (), "vpush", NULL);
  g_autofree gchar *path = g_build_filename (dir, "vpushd.conf", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, "[Poll]\nIntervalSeconds=45\n", -1, &error);
  g_assert_no_error (error);

  config = vpush_config_load (NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (config->path, ==, path);
  g_assert_cmpuint (config->poll_interval, ==, 45);

  /* A bad user file is an error, not a reason to fall back to the system file. */
  g_file_set_contents (path, "[Poll]\nIntervalSeconds=never\n", -1, &error);
  g_assert_no_error (error);
  g_clear_pointer (&config, vpush_config_free);
  config = vpush_config_load (NULL, &error);
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  g_assert_null (config);
}

/* A user file that is there but can't be opened is an error too: a symlink whose target
 * went (a dotfile manager's, a file moved away) silently gave the system file or the
 * defaults, Verify's URL and CAs among them, instead of the user's settings. */
static void
test_config_search_dangling_symlink (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  g_autofree gchar *dir = g_build_filename (g_get_user_config_dir (), "vpush", NULL);
  g_autofree gchar *path = g_build_filename (dir, "vpushd.conf", NULL);
  g_autofree gchar *target = g_build_filename (dir, "gone.conf", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (symlink (target, path), ==, 0);

  config = vpush_config_load (NULL, &error);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_null (config);
  {
    /* "No such file" of a file that is there says too little: what it points to */
    g_autofree gchar *expected
        = g_strdup_printf ("%s: a symlink to “%s”, which does not exist", path, target);

    g_assert_cmpstr (error->message, ==, expected);
  }
  g_assert_cmpint (g_remove (path), ==, 0);
}

static void
test_config_search_fallback (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushConfig) config = NULL;
  g_autofree gchar *user_path
      = g_build_filename (g_get_user_config_dir (), "vpush", "vpushd.conf", NULL);

  g_assert_false (g_file_test (user_path, G_FILE_TEST_EXISTS));
  if (g_file_test ("/etc/vpush/vpushd.conf", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("/etc/vpush/vpushd.conf exists on this machine");
      return;
    }
  config = vpush_config_load (NULL, &error);
  g_assert_no_error (error);
  g_assert_null (config->path);
  assert_defaults (config);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/config/defaults", test_config_defaults);
  g_test_add_func ("/config/empty-file", test_config_empty_file);
  g_test_add_func ("/config/all-valid", test_config_all_valid);
  g_test_add_func ("/config/ca-file-trusted", test_config_ca_file_trusted);
  g_test_add_func ("/config/lower-bounds", test_config_lower_bounds);
  g_test_add_func ("/config/loopback-http", test_config_loopback_http);
  g_test_add_func ("/config/empty-optional", test_config_empty_optional);
  g_test_add_func ("/config/whitespace", test_config_whitespace);
  g_test_add_func ("/config/invalid", test_config_invalid);
  g_test_add_func ("/config/unknown", test_config_unknown);
  g_test_add_func ("/config/unparseable", test_config_unparseable);
  g_test_add_func ("/config/unknown-key-cut", test_config_unknown_key_cut);
  g_test_add_func ("/config/repeated", test_config_repeated);
  g_test_add_func ("/config/missing-explicit", test_config_missing_explicit);
  g_test_add_func ("/config/not-a-file", test_config_not_a_file);
  g_test_add_func ("/config/byte-order-mark", test_config_byte_order_mark);
  g_test_add_func ("/config/search/user", test_config_search_user);
  g_test_add_func ("/config/search/dangling-symlink", test_config_search_dangling_symlink);
  g_test_add_func ("/config/search/fallback", test_config_search_fallback);
  return g_test_run ();
}
