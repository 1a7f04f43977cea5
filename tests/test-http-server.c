/* The server of test-http-server.h: one thread accepts, one thread serves each connection. */
#include <arpa/inet.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-http-server.h"

typedef struct
{
  GBytes *raw;
  gboolean hang; /* read and never answer */
  gboolean drop; /* read and close the connection */
  /* else a reply whose body func makes from the request */
  guint status;
  gchar *headers;
  ServerReplyFunc func;
  gconstpointer user_data;
} ServerReply;

struct _Server
{
  int fd;
  guint16 port;
  gchar *url; /* http://127.0.0.1:<port>/ */
  int wake[2];
  GThread *acceptor;
  GMutex lock;
  GQueue replies;
  GPtrArray *requests;
  GPtrArray *threads;
  guint n_connections;
};

typedef struct
{
  Server *server;
  int fd;
  guint id;
} ServerConnection;

static void
server_request_free (ServerRequest *req)
{
  g_free (req->method);
  g_free (req->path);
  g_free (req->head);
  g_bytes_unref (req->body);
  g_free (req);
}

static void
server_reply_free (ServerReply *reply)
{
  g_clear_pointer (&reply->raw, g_bytes_unref);
  g_free (reply->headers);
  g_free (reply);
}

gchar *
head_get (const gchar *head, const gchar *name)
{
  g_auto (GStrv) lines = g_strsplit (head, "\r\n", -1);
  gsize len = strlen (name);

  for (guint i = 1; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], name, len) == 0 && lines[i][len] == ':')
      return g_strstrip (g_strdup (lines[i] + len + 1));
  return NULL;
}

/* Offset of the blank line ending a header block in buf, or -1. */
static gssize
head_end (GByteArray *buf)
{
  for (gsize i = 0; i + 4 <= buf->len; i++)
    if (memcmp (buf->data + i, "\r\n\r\n", 4) == 0)
      return i;
  return -1;
}

/* -1 when the server stops or the peer is gone */
static gssize
server_read (Server *server, int fd, guint8 *buf, gsize len)
{
  struct pollfd fds[2] = { { fd, POLLIN, 0 }, { server->wake[0], POLLIN, 0 } };

  if (poll (fds, 2, -1) < 0 || fds[1].revents != 0)
    return -1;
  return recv (fd, buf, len, 0);
}

static GBytes *
reply_raw (guint status, const gchar *headers, const void *body, gsize body_len)
{
  GByteArray *raw = g_byte_array_new ();
  g_autofree gchar *head
      = g_strdup_printf ("HTTP/1.1 %u Canned\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n%s\r\n",
                         status, body_len, headers != NULL ? headers : "");

  g_byte_array_append (raw, (const guint8 *)head, strlen (head));
  g_byte_array_append (raw, body, body_len);
  return g_byte_array_free_to_bytes (raw);
}

static gpointer
server_connection_thread (gpointer data)
{
  g_autofree ServerConnection *conn = data;
  Server *server = conn->server;
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[65536];
  gssize n;

  for (;;)
    {
      ServerRequest *req;
      ServerReply *reply;
      g_autofree gchar *length = NULL;
      g_auto (GStrv) request_line = NULL;
      gssize end;
      gsize head_len;
      gsize body_len;

      while ((end = head_end (buf)) < 0)
        {
          if ((n = server_read (server, conn->fd, chunk, sizeof chunk)) <= 0)
            goto out;
          g_byte_array_append (buf, chunk, n);
        }
      head_len = end + 4;
      req = g_new0 (ServerRequest, 1);
      req->head = g_strndup ((const gchar *)buf->data, head_len - 4);
      req->connection = conn->id;
      request_line = g_strsplit (req->head, " ", 3);
      req->method = g_strdup (request_line[0]);
      req->path = g_strdup (request_line[1]);
      length = head_get (req->head, "Content-Length");
      body_len = length != NULL ? g_ascii_strtoull (length, NULL, 10) : 0;
      while (buf->len < head_len + body_len)
        {
          if ((n = server_read (server, conn->fd, chunk, sizeof chunk)) <= 0)
            {
              server_request_free (req);
              goto out;
            }
          g_byte_array_append (buf, chunk, n);
        }
      req->body = g_bytes_new (buf->data + head_len, body_len);
      g_byte_array_remove_range (buf, 0, head_len + body_len);

      g_mutex_lock (&server->lock);
      g_ptr_array_add (server->requests, req);
      reply = g_queue_pop_head (&server->replies);
      g_mutex_unlock (&server->lock);

      if (reply == NULL)
        {
          static const gchar none[] = "HTTP/1.1 599 No Canned Reply\r\nContent-Length: 0\r\n\r\n";

          send (conn->fd, none, strlen (none), MSG_NOSIGNAL);
          continue;
        }
      if (reply->drop)
        {
          server_reply_free (reply);
          goto out;
        }
      if (reply->hang)
        {
          while (server_read (server, conn->fd, chunk, sizeof chunk) > 0)
            ;
          server_reply_free (reply);
          goto out;
        }
      if (reply->func != NULL)
        {
          g_autofree gchar *body = reply->func (req, reply->user_data);

          reply->raw = reply_raw (reply->status, reply->headers, body, strlen (body));
        }
      {
        gsize len;
        const guint8 *raw = g_bytes_get_data (reply->raw, &len);

        while (len > 0 && (n = send (conn->fd, raw, len, MSG_NOSIGNAL)) > 0)
          {
            raw += n;
            len -= n;
          }
      }
      server_reply_free (reply);
    }

out:
  close (conn->fd);
  return NULL;
}

static gpointer
server_accept_thread (gpointer data)
{
  Server *server = data;

  for (;;)
    {
      struct pollfd fds[2] = { { server->fd, POLLIN, 0 }, { server->wake[0], POLLIN, 0 } };
      ServerConnection *conn;
      int fd;

      if (poll (fds, 2, -1) < 0 || fds[1].revents != 0)
        return NULL;
      fd = accept (server->fd, NULL, NULL);
      if (fd < 0)
        continue;
      conn = g_new0 (ServerConnection, 1);
      conn->server = server;
      conn->fd = fd;
      g_mutex_lock (&server->lock);
      conn->id = ++server->n_connections;
      g_ptr_array_add (server->threads,
                       g_thread_new ("test-http-conn", server_connection_thread, conn));
      g_mutex_unlock (&server->lock);
    }
}

Server *
server_new (void)
{
  Server *server = g_new0 (Server, 1);
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t addr_len = sizeof addr;

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  server->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (server->fd, >=, 0);
  g_assert_cmpint (bind (server->fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (server->fd, 16), ==, 0);
  g_assert_cmpint (getsockname (server->fd, (struct sockaddr *)&addr, &addr_len), ==, 0);
  server->port = ntohs (addr.sin_port);
  server->url = g_strdup_printf ("http://127.0.0.1:%u/", server->port);
  g_assert_true (g_unix_open_pipe (server->wake, FD_CLOEXEC, NULL));
  g_mutex_init (&server->lock);
  g_queue_init (&server->replies);
  server->requests = g_ptr_array_new_with_free_func ((GDestroyNotify)server_request_free);
  server->threads = g_ptr_array_new ();
  server->acceptor = g_thread_new ("test-http-accept", server_accept_thread, server);
  return server;
}

void
server_free (Server *server)
{
  g_assert_cmpint (write (server->wake[1], "x", 1), ==, 1);
  g_thread_join (server->acceptor);
  for (guint i = 0; i < server->threads->len; i++)
    g_thread_join (g_ptr_array_index (server->threads, i));
  g_ptr_array_unref (server->threads);
  g_ptr_array_unref (server->requests);
  g_queue_clear_full (&server->replies, (GDestroyNotify)server_reply_free);
  g_mutex_clear (&server->lock);
  close (server->wake[0]);
  close (server->wake[1]);
  close (server->fd);
  g_free (server->url);
  g_free (server);
}

static void
queue_reply (Server *server, ServerReply *reply)
{
  g_mutex_lock (&server->lock);
  g_queue_push_tail (&server->replies, reply);
  g_mutex_unlock (&server->lock);
}

static void
queue_raw (Server *server, GBytes *raw)
{
  ServerReply *reply = g_new0 (ServerReply, 1);

  reply->raw = raw;
  queue_reply (server, reply);
}

void
server_reply_bytes (Server *server, guint status, const gchar *headers, const void *body,
                    gsize body_len)
{
  queue_raw (server, reply_raw (status, headers, body, body_len));
}

void
server_reply_func (Server *server, guint status, const gchar *headers, ServerReplyFunc func,
                   gconstpointer user_data)
{
  ServerReply *reply = g_new0 (ServerReply, 1);

  reply->status = status;
  reply->headers = g_strdup (headers);
  reply->func = func;
  reply->user_data = user_data;
  queue_reply (server, reply);
}

void
server_reply_raw (Server *server, const gchar *response)
{
  queue_raw (server, g_bytes_new (response, strlen (response)));
}

void
server_reply (Server *server, guint status, const gchar *headers, const gchar *body)
{
  server_reply_bytes (server, status, headers, body, body != NULL ? strlen (body) : 0);
}

void
server_hang (Server *server)
{
  ServerReply *reply = g_new0 (ServerReply, 1);

  reply->hang = TRUE;
  queue_reply (server, reply);
}

void
server_drop (Server *server)
{
  ServerReply *reply = g_new0 (ServerReply, 1);

  reply->drop = TRUE;
  queue_reply (server, reply);
}

guint
server_n_requests (Server *server)
{
  guint n;

  g_mutex_lock (&server->lock);
  n = server->requests->len;
  g_mutex_unlock (&server->lock);
  return n;
}

ServerRequest *
server_request (Server *server, guint i)
{
  ServerRequest *req;

  g_mutex_lock (&server->lock);
  g_assert_cmpuint (i, <, server->requests->len);
  req = g_ptr_array_index (server->requests, i);
  g_mutex_unlock (&server->lock);
  return req;
}

gchar *
server_url (Server *server, const gchar *path)
{
  return g_strconcat (server->url, path, NULL);
}
