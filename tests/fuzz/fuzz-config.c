/* vpush_config_load_from_data(): vpushd.conf. */
#include "fuzz-common.h"

#include <string.h>

#include "vpush-config-private.h"
#include "vpush-http.h"

#define ORIGIN "fuzz.conf"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (VpushConfig) config = NULL;
  g_autoptr (GError) error = NULL;

  fuzz_init ();
  config = vpush_config_load_from_data ((const gchar *)data, size, ORIGIN, &error);
  if (config == NULL)
    {
      /* an error names the file; the value it quotes is the file's, whatever its bytes */
      FUZZ_CHECK (error != NULL && error->domain == G_KEY_FILE_ERROR);
      FUZZ_CHECK_MSG (g_str_has_prefix (error->message, ORIGIN ": "), error->message);
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  FUZZ_CHECK (g_strcmp0 (config->path, ORIGIN) == 0);
  /* endpoint paths are appended to the base URL, which must pass the URL policy */
  FUZZ_CHECK (g_str_has_suffix (config->base_url, "/"));
  FUZZ_CHECK_MSG (vpush_http_check_url (config->base_url, &error), error->message);
  FUZZ_CHECK (config->push_url == NULL || vpush_http_check_url (config->push_url, NULL));
  FUZZ_CHECK (config->ca_file == NULL || g_path_is_absolute (config->ca_file));
  FUZZ_CHECK (config->transaction_id_key != NULL && *config->transaction_id_key != '\0');
  FUZZ_CHECK (g_utf8_validate (config->transaction_id_key, -1, NULL));
  FUZZ_CHECK (config->http_timeout_ms >= 1000 && config->http_timeout_ms <= 120000);
  FUZZ_CHECK (config->poll_interval >= 1 && config->poll_interval <= 86400);
  FUZZ_CHECK (config->poll_interval_with_push >= 1 && config->poll_interval_with_push <= 86400);
  FUZZ_CHECK (config->default_timeout_ms <= 20000);
  FUZZ_CHECK (config->keyring_timeout_ms >= 100 && config->keyring_timeout_ms <= 25000);
  return 0;
}
