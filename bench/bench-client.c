/* The timing client of bench/run: the app and the bare HTTP client, in C, so that what is
 * timed is vpushd, the bus and the server, not a Python interpreter. It runs as a
 * coprocess: bench/run writes commands on its stdin, and it answers each with one line
 * on stdout, "<microseconds> <result>", or "error <message>".
 *
 * Usage: bench-client BUS-ADDRESS SERVER-HOST SERVER-PORT
 *
 * Commands (one per line; a request's bytes follow its line):
 *   approve TRANSACTION-ID    ApproveChallenge({"transaction-id": TX}) to io.github.vpush;
 *                             result: the challenge sid
 *   ping NAME                 org.freedesktop.DBus.Peer.Ping to NAME
 *   nop NAME                  io.github.vpush.BenchBaseline.Nop at / to NAME (bench/name-owner)
 *   http N                    the next N bytes are a request, sent on the kept-alive
 *                             connection; timed until the whole response is read;
 *                             result: the HTTP status
 *   flow N1 N2 N3             three requests in a row on that connection (the SDK's GET,
 *                             POST, GET); result: the three statuses
 *   push PATH N               the next N bytes are a request (a push publish), sent on a
 *                             second kept-alive connection; timed until the InterfacesAdded
 *                             signal of object PATH arrives; result: the publish status
 *   subscribe N               the next N bytes are a request for a push stream (SSE), sent
 *                             on a third connection, which then stays the stream's;
 *                             result: the HTTP status
 *   hint MARK N               the next N bytes are a publish, sent as for push; timed until
 *                             MARK arrives on the subscribed stream (a bare push client
 *                             hearing the hint); result: the publish status
 *
 * D-Bus with sd-bus, all in the calling thread; HTTP/1.1 on plain sockets, responses
 * read by Content-Length. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "vpush-names.h"

#define BUF_MAX (1024 * 1024)

typedef struct
{
  int fd;
  char *buf;
  size_t len; /* bytes buffered, not yet consumed */
} Conn;

static sd_bus *bus;
static const char *host;
static const char *port;
static char *wanted_path; /* push: the object whose InterfacesAdded ends the wait */
static int wanted_seen;

static long long
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
die (const char *what, int err)
{
  fprintf (stderr, "bench-client: %s: %s\n", what, strerror (err));
  exit (1);
}

static void
conn_open (Conn *c)
{
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  struct addrinfo *ai;
  int one = 1;
  int rc = getaddrinfo (host, port, &hints, &ai);

  if (rc != 0)
    {
      fprintf (stderr, "bench-client: %s:%s: %s\n", host, port, gai_strerror (rc));
      exit (1);
    }
  c->fd = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0 || connect (c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
    die ("connect", errno);
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  freeaddrinfo (ai);
  c->buf = malloc (BUF_MAX);
  c->len = 0;
}

static void
send_all (Conn *c, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (c->fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        die ("send", errno);
      data += n;
      len -= (size_t)n;
    }
}

static void
fill (Conn *c)
{
  ssize_t n;

  if (c->len >= BUF_MAX)
    die ("response too large", EMSGSIZE);
  do
    n = recv (c->fd, c->buf + c->len, BUF_MAX - c->len, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    die ("recv (the server closed the connection?)", n == 0 ? ECONNRESET : errno);
  c->len += (size_t)n;
}

/* Reads one response (skipping 1xx), returns its status. */
static int
read_response (Conn *c)
{
  for (;;)
    {
      char *end;
      size_t head;
      size_t body = 0;
      int status;

      while ((end = memmem (c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        fill (c);
      head = (size_t)(end - c->buf) + 4;
      status = atoi (c->buf + 9);
      for (char *line = memchr (c->buf, '\n', head); line != NULL && line < c->buf + head;
           line = memchr (line + 1, '\n', (size_t)(c->buf + head - line - 1)))
        if (strncasecmp (line + 1, "Content-Length:", 15) == 0)
          body = strtoul (line + 16, NULL, 10);
      while (c->len < head + body)
        fill (c);
      memmove (c->buf, c->buf + head + body, c->len - head - body);
      c->len -= head + body;
      if (status >= 200)
        return status;
    }
}

static char *
read_bytes (size_t n)
{
  char *data = malloc (n + 1);

  if (data == NULL || fread (data, 1, n, stdin) != n)
    {
      fprintf (stderr, "bench-client: short request on stdin\n");
      exit (1);
    }
  data[n] = '\0';
  return data;
}

static int
on_interfaces_added (sd_bus_message *m, void *user_data, sd_bus_error *error)
{
  const char *path = NULL;

  if (sd_bus_message_read (m, "o", &path) >= 0 && wanted_path != NULL
      && strcmp (path, wanted_path) == 0)
    wanted_seen = 1;
  return 0;
}

static void
approve (const char *tx)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  const char *sid = NULL;
  long long t0 = now_us ();
  int rc = sd_bus_call_method (bus, VPUSH_DBUS_NAME, VPUSH_DBUS_PATH, VPUSH_DBUS_MANAGER_IFACE,
                               VPUSH_DBUS_METHOD_APPROVE_CHALLENGE, &error, &reply, "a{sv}", 1,
                               VPUSH_DBUS_MATCH_TRANSACTION_ID, "s", tx);
  long long t1 = now_us ();

  if (rc < 0 || sd_bus_message_read (reply, "s", &sid) < 0)
    printf ("error %s: %s\n", error.name ? error.name : "?",
            error.message ? error.message : strerror (-rc));
  else
    printf ("%lld %s\n", t1 - t0, sid);
  sd_bus_error_free (&error);
  sd_bus_message_unref (reply);
}

static void
call_empty (const char *name, const char *interface, const char *method)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  long long t0 = now_us ();
  int rc = sd_bus_call_method (bus, name, "/", interface, method, &error, NULL, "");
  long long t1 = now_us ();

  if (rc < 0)
    printf ("error %s\n", error.message ? error.message : strerror (-rc));
  else
    printf ("%lld ok\n", t1 - t0);
  sd_bus_error_free (&error);
}

/* The head of a streaming response: its status; what follows stays buffered. */
static int
read_stream_head (Conn *c)
{
  char *end;
  size_t head;
  int status;

  while ((end = memmem (c->buf, c->len, "\r\n\r\n", 4)) == NULL)
    fill (c);
  head = (size_t)(end - c->buf) + 4;
  status = atoi (c->buf + 9);
  memmove (c->buf, c->buf + head, c->len - head);
  c->len -= head;
  return status;
}

static void
hint (Conn *publisher, Conn *stream, const char *mark, size_t n)
{
  char *request = read_bytes (n);
  size_t mark_len = strlen (mark);
  long long t0;
  long long t1;
  char *at;

  t0 = now_us ();
  send_all (publisher, request, n);
  while ((at = memmem (stream->buf, stream->len, mark, mark_len)) == NULL)
    {
      /* keep a tail that could hold the start of MARK */
      if (stream->len > mark_len)
        {
          memmove (stream->buf, stream->buf + stream->len - mark_len, mark_len);
          stream->len = mark_len;
        }
      fill (stream);
    }
  t1 = now_us ();
  stream->len -= (size_t)(at + mark_len - stream->buf);
  memmove (stream->buf, at + mark_len, stream->len);
  printf ("%lld %d\n", t1 - t0, read_response (publisher));
  free (request);
}

static void
push (Conn *c, const char *path, size_t n)
{
  char *request = read_bytes (n);
  long long t0;
  long long t1;
  int status;

  free (wanted_path);
  wanted_path = strdup (path);
  wanted_seen = 0;
  t0 = now_us ();
  send_all (c, request, n);
  while (!wanted_seen)
    {
      int rc = sd_bus_process (bus, NULL);

      if (rc < 0)
        die ("sd_bus_process", -rc);
      if (rc == 0 && !wanted_seen && (rc = sd_bus_wait (bus, 20 * 1000000)) <= 0)
        {
          printf ("error no InterfacesAdded for %s\n", path);
          free (request);
          return;
        }
    }
  t1 = now_us ();
  status = read_response (c);
  printf ("%lld %d\n", t1 - t0, status);
  free (request);
}

int
main (int argc, char **argv)
{
  Conn http;
  Conn publisher;
  Conn stream = { .fd = -1 };
  char line[4096];
  int rc;

  if (argc != 4)
    {
      fprintf (stderr, "usage: bench-client BUS-ADDRESS SERVER-HOST SERVER-PORT\n");
      return 2;
    }
  host = argv[2];
  port = argv[3];
  if ((rc = sd_bus_new (&bus)) < 0 || (rc = sd_bus_set_address (bus, argv[1])) < 0
      || (rc = sd_bus_set_bus_client (bus, 1)) < 0 || (rc = sd_bus_start (bus)) < 0)
    die ("the bus", -rc);
  rc = sd_bus_match_signal (bus, NULL, VPUSH_DBUS_NAME, VPUSH_DBUS_PATH,
                            VPUSH_DBUS_OBJECT_MANAGER_IFACE, VPUSH_DBUS_INTERFACES_ADDED,
                            on_interfaces_added, NULL);
  if (rc < 0)
    die ("AddMatch", -rc);
  conn_open (&http);
  conn_open (&publisher);
  setvbuf (stdout, NULL, _IOLBF, 0);
  printf ("ready\n");

  while (fgets (line, sizeof line, stdin) != NULL)
    {
      char word[64];
      char arg[2048];
      size_t n1;
      size_t n2;
      size_t n3;

      line[strcspn (line, "\n")] = '\0';
      /* signals that came with earlier replies: dispatched outside any timing */
      while (sd_bus_process (bus, NULL) > 0)
        ;
      if (sscanf (line, "approve %2047s", arg) == 1)
        approve (arg);
      else if (sscanf (line, "ping %2047s", arg) == 1)
        call_empty (arg, VPUSH_DBUS_PEER_IFACE, VPUSH_DBUS_PEER_PING);
      else if (sscanf (line, "nop %2047s", arg) == 1)
        call_empty (arg, VPUSH_BENCH_BASELINE_IFACE, VPUSH_BENCH_BASELINE_NOP);
      else if (sscanf (line, "http %zu", &n1) == 1)
        {
          char *request = read_bytes (n1);
          long long t0 = now_us ();
          int status;

          send_all (&http, request, n1);
          status = read_response (&http);
          printf ("%lld %d\n", now_us () - t0, status);
          free (request);
        }
      else if (sscanf (line, "flow %zu %zu %zu", &n1, &n2, &n3) == 3)
        {
          char *r1 = read_bytes (n1);
          char *r2 = read_bytes (n2);
          char *r3 = read_bytes (n3);
          long long t0 = now_us ();
          int s1;
          int s2;
          int s3;

          send_all (&http, r1, n1);
          s1 = read_response (&http);
          send_all (&http, r2, n2);
          s2 = read_response (&http);
          send_all (&http, r3, n3);
          s3 = read_response (&http);
          printf ("%lld %d,%d,%d\n", now_us () - t0, s1, s2, s3);
          free (r1);
          free (r2);
          free (r3);
        }
      else if (sscanf (line, "push %2047s %zu", arg, &n1) == 2)
        push (&publisher, arg, n1);
      else if (sscanf (line, "subscribe %zu", &n1) == 1)
        {
          char *request = read_bytes (n1);

          if (stream.fd >= 0)
            printf ("error a stream is subscribed already\n");
          else
            {
              conn_open (&stream);
              send_all (&stream, request, n1);
              printf ("0 %d\n", read_stream_head (&stream));
            }
          free (request);
        }
      else if (sscanf (line, "hint %2047s %zu", arg, &n1) == 2)
        {
          if (stream.fd < 0)
            printf ("error no stream subscribed\n");
          else
            hint (&publisher, &stream, arg, n1);
        }
      else if (sscanf (line, "%63s", word) == 1)
        printf ("error unknown command %s\n", word);
    }
  sd_bus_flush_close_unref (bus);
  return 0;
}
