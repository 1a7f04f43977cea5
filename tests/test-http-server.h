/* An HTTP/1.1 server on 127.0.0.1 for the tests of the HTTP and Verify clients: it records every
 * request and answers each with the next canned reply, or 599 when none is queued. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *method;
  gchar *path;
  gchar *head; /* request line and headers */
  GBytes *body;
  guint connection; /* 1-based, in accept order */
} ServerRequest;

typedef struct _Server Server;

/* Listens on a free port; fails the test if it cannot. */
Server *server_new (void);
/* Stops it, hung replies included, and joins every thread. */
void server_free (Server *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Server, server_free)

/* The value of header name in a raw header block, or NULL. */
gchar *head_get (const gchar *head, const gchar *name);

/* Queues one reply; headers are "Name: value" lines each ending in \r\n, or NULL. */
void server_reply_bytes (Server *server, guint status, const gchar *headers, const void *body,
                         gsize body_len);
void server_reply (Server *server, guint status, const gchar *headers, const gchar *body);
/* Makes the body of a reply from the request it answers; runs in the server's thread. */
typedef gchar *(*ServerReplyFunc) (ServerRequest *req, gconstpointer user_data);
/* Queues a reply whose body func makes, as a server does that quotes the request. */
void server_reply_func (Server *server, guint status, const gchar *headers, ServerReplyFunc func,
                        gconstpointer user_data);
/* Queues a whole response, status line to body, sent as it is. */
void server_reply_raw (Server *server, const gchar *response);
/* Queues a reply that reads the request and never answers, to provoke timeouts. */
void server_hang (Server *server);
/* Queues a reply that reads the request and closes the connection without an answer, as a
 * server does that closes an idle kept-alive connection just as a request comes in. */
void server_drop (Server *server);

guint server_n_requests (Server *server);
/* The i-th request; the server never drops one, so the pointer stays valid. */
ServerRequest *server_request (Server *server, guint i);
/* The server's base URL with path appended; path has no leading slash. */
gchar *server_url (Server *server, const gchar *path);

G_END_DECLS
