/* The work of the protocol and of vpushd's libraries on the path of a push, timed in one
 * thread with warm caches: one ECDSA P-256 signature (the device JWT of the GET, protocol
 * doc §5A; bench/p256-sign.h), the GET's response parsed by json-glib, and the
 * InterfacesAdded message serialised by GDBus (g_dbus_message_to_blob(), which
 * g_dbus_connection_emit_signal() does in the calling thread; building its body and the
 * socket write by GDBus's own thread are not in it). bench/run reports it beside the floor
 * of push-to-export.
 *
 * Usage: push-work JWT_LEN RESPONSE_FILE SIGNAL_FILE [N]
 *   JWT_LEN        the length of a device JWT's signing input
 *   RESPONSE_FILE  a challenge as the API answers its GET
 *   SIGNAL_FILE    the InterfacesAdded body, (oa{sa{sv}}), in GVariant text format
 * Prints "SIGN PARSE SIGNAL BYTES": the medians in microseconds of N rounds (default
 * 2000), after 100 unmeasured ones, and the size of the serialised message. */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "p256-sign.h"
#include "vpush-names.h"

#define WARMUP 100

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_gint64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

  return (x > y) - (x < y);
}

static double
median_us (gint64 *ns, int n)
{
  qsort (ns, (size_t)n, sizeof *ns, cmp_gint64);
  return (n % 2 ? (double)ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2.0) / 1000.0;
}

static gboolean
parse (const gchar *body, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new ();

  return json_parser_load_from_data (parser, body, (gssize)len, NULL)
         && json_parser_get_root (parser) != NULL;
}

static gboolean
write_signal (GVariant *body, gsize *len)
{
  g_autoptr (GDBusMessage) msg = NULL;
  g_autofree guchar *blob = NULL;

  msg = g_dbus_message_new_signal (VPUSH_DBUS_PATH, VPUSH_DBUS_OBJECT_MANAGER_IFACE,
                                   VPUSH_DBUS_INTERFACES_ADDED);
  g_dbus_message_set_body (msg, body);
  g_dbus_message_set_serial (msg, 1);
  blob = g_dbus_message_to_blob (msg, len, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, NULL);
  return blob != NULL && *len > 0;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *body = NULL;
  g_autofree gchar *signal_text = NULL;
  g_autoptr (GVariant) signal_body = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree guchar *msg = NULL;
  g_autofree gint64 *t_sign = NULL, *t_parse = NULL, *t_signal = NULL;
  P256Signer s = { 0 };
  gsize body_len = 0;
  gsize blob_len = 0;
  gchar *end = NULL;
  long jwt_len;
  int n;

  if (argc < 4)
    {
      fprintf (stderr, "usage: push-work JWT_LEN RESPONSE_FILE SIGNAL_FILE [N]\n");
      return 2;
    }
  jwt_len = strtol (argv[1], &end, 10);
  n = argc > 4 ? atoi (argv[4]) : 2000;
  if (end == argv[1] || *end != '\0' || jwt_len < 1 || jwt_len > 65536 || n < 1)
    {
      fprintf (stderr, "push-work: bad JWT_LEN or N\n");
      return 2;
    }
  if (!g_file_get_contents (argv[2], &body, &body_len, &error)
      || !g_file_get_contents (argv[3], &signal_text, NULL, &error))
    {
      fprintf (stderr, "push-work: %s\n", error->message);
      return 1;
    }
  signal_body = g_variant_parse (G_VARIANT_TYPE ("(oa{sa{sv}})"), signal_text, NULL, NULL, &error);
  if (signal_body == NULL)
    {
      fprintf (stderr, "push-work: %s: %s\n", argv[3], error->message);
      return 1;
    }
  if (!p256_signer_init (&s))
    {
      fprintf (stderr, "push-work: no P-256 key\n");
      return 1;
    }
  msg = g_malloc ((gsize)jwt_len);
  memset (msg, 'j', (gsize)jwt_len);
  t_sign = g_new (gint64, n);
  t_parse = g_new (gint64, n);
  t_signal = g_new (gint64, n);

  for (int i = -WARMUP; i < n; i++)
    {
      gint64 t0 = now_ns (), t1, t2, t3;
      gboolean ok = p256_sign (&s, msg, (size_t)jwt_len);

      t1 = now_ns ();
      ok = parse (body, body_len) && ok;
      t2 = now_ns ();
      ok = write_signal (signal_body, &blob_len) && ok;
      t3 = now_ns ();
      if (!ok)
        {
          fprintf (stderr, "push-work: a step failed\n");
          return 1;
        }
      if (i >= 0)
        {
          t_sign[i] = t1 - t0;
          t_parse[i] = t2 - t1;
          t_signal[i] = t3 - t2;
        }
    }
  printf ("%.3f %.3f %.3f %" G_GSIZE_FORMAT "\n", median_us (t_sign, n), median_us (t_parse, n),
          median_us (t_signal, n), blob_len);
  p256_signer_clear (&s);
  return 0;
}
