/* The memory floor of bench/run: the libraries vpushd links, each used once the way vpushd
 * uses it, and nothing else. It owns a name on the session bus, opens the Secret Service
 * with an encrypted session and looks up the default collection, makes a P-256 key and one
 * signature, GETs a URL with libcurl (over HTTPS with vpushd's CA file, as vpushd talks to
 * the Verify API), parses the response with json-glib and tells systemd READY=1. What it
 * then holds resident is what vpushd can't go below on this machine: the libraries' pages
 * and their own start-up allocations.
 *
 * Usage: lib-floor URL BUS-NAME [CA-FILE]   prints "ready" on stdout, then waits for SIGTERM */
#include <curl/curl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

static size_t
collect (char *data, size_t size, size_t n, void *user_data)
{
  g_byte_array_append (user_data, (const guint8 *)data, size * n);
  return size * n;
}

static void
fail (const gchar *what, const gchar *detail)
{
  g_printerr ("lib-floor: %s: %s\n", what, detail ? detail : "failed");
  exit (EXIT_FAILURE);
}

static void
use_secret_service (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SecretService) service = NULL;
  g_autoptr (SecretCollection) collection = NULL;

  service = secret_service_get_sync (SECRET_SERVICE_OPEN_SESSION, NULL, &error);
  if (service == NULL)
    fail ("Secret Service", error->message);
  collection = secret_collection_for_alias_sync (service, SECRET_COLLECTION_DEFAULT,
                                                 SECRET_COLLECTION_NONE, NULL, &error);
  if (error != NULL)
    fail ("default collection", error->message);
}

static void
use_openssl (void)
{
  EVP_PKEY *key = EVP_EC_gen ("P-256");
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned char signature[80];
  size_t length = sizeof signature;

  if (key == NULL || ctx == NULL || EVP_DigestSignInit (ctx, NULL, EVP_sha256 (), NULL, key) != 1
      || EVP_DigestSign (ctx, signature, &length, (const unsigned char *)"floor", 5) != 1)
    fail ("P-256 signature", NULL);
  EVP_MD_CTX_free (ctx);
  EVP_PKEY_free (key);
}

static void
use_curl_and_json (const gchar *url, const gchar *ca_file)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  CURLM *multi;
  CURL *easy;
  CURLMsg *done;
  int running = 1;
  int left;
  long status = 0;

  curl_global_init (CURL_GLOBAL_DEFAULT);
  multi = curl_multi_init ();
  easy = curl_easy_init ();
  curl_easy_setopt (easy, CURLOPT_URL, url);
  curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (easy, CURLOPT_WRITEDATA, body);
  curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, 10000L);
  if (ca_file != NULL)
    curl_easy_setopt (easy, CURLOPT_CAINFO, ca_file);
  curl_multi_add_handle (multi, easy);
  while (running)
    {
      if (curl_multi_perform (multi, &running) != CURLM_OK)
        fail ("GET", url);
      if (running)
        curl_multi_poll (multi, NULL, 0, 1000, NULL);
    }
  done = curl_multi_info_read (multi, &left);
  if (done == NULL || done->msg != CURLMSG_DONE || done->data.result != CURLE_OK)
    fail ("GET", done ? curl_easy_strerror (done->data.result) : url);
  curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || body->len == 0)
    fail ("GET", "no 200 with a body");
  curl_multi_remove_handle (multi, easy);
  curl_easy_cleanup (easy);
  curl_multi_cleanup (multi);
  if (!json_parser_load_from_data (parser, (const gchar *)body->data, body->len, &error))
    fail ("the response's JSON", error->message);
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
}

static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  fail ("could not own the name", name);
}

static gboolean
on_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  gboolean owned = FALSE;
  guint owner_id;

  if (argc != 3 && argc != 4)
    fail ("usage", "lib-floor URL BUS-NAME [CA-FILE]");
  g_unix_signal_add (SIGTERM, on_signal, loop);
  owner_id = g_bus_own_name (G_BUS_TYPE_SESSION, argv[2], G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, NULL,
                             on_name_acquired, on_name_lost, &owned, NULL);
  while (!owned)
    g_main_context_iteration (NULL, TRUE);
  use_secret_service ();
  use_openssl ();
  use_curl_and_json (argv[1], argc == 4 ? argv[3] : NULL);
  sd_notify (0, "READY=1");
  printf ("ready\n");
  fflush (stdout);
  g_main_loop_run (loop);
  g_bus_unown_name (owner_id);
  return EXIT_SUCCESS;
}
