/* URLs: which vpushd takes (https, or http to a loopback host; no credentials), and how
 * they appear in messages. */
#include "vpush-http.h"
#include "vpush-http-private.h"

#include <string.h>

static gboolean
host_is_loopback (const gchar *host)
{
  g_autofree gchar *bare = NULL;
  g_autoptr (GInetAddress) address = NULL;
  gsize len = strlen (host);

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  /* CURLU gives IPv6 literals with their brackets */
  if (len > 2 && host[0] == '[' && host[len - 1] == ']')
    bare = g_strndup (host + 1, len - 2);
  else
    bare = g_strdup (host);
  address = g_inet_address_new_from_string (bare);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

/* A part of a parsed URL as a GLib string (curl's own must go back to curl_free()). */
gchar *
vpush_http_url_part (CURLU *u, CURLUPart what)
{
  char *part = NULL;
  gchar *copy;

  if (curl_url_get (u, what, &part, 0) != CURLUE_OK)
    return NULL;
  copy = g_strdup (part);
  curl_free (part);
  return copy;
}

gchar *
vpush_http_url_redacted (const gchar *url)
{
  const gchar *scheme_end = strstr (url, "://");
  const gchar *start = scheme_end != NULL ? scheme_end + 3 : url;
  const gchar *at = strrchr (start, '@');

  /* Up to the last "@" anywhere: a password may hold "/", "?" or "#" unescaped, which
   * ends the authority for a URL parser but not for whoever reads the message. An "@"
   * in a path hides more than it needs to, which is the safe side. */
  if (at == NULL)
    return g_strdup (url);
  return g_strdup_printf ("%.*s…%s", (int)(start - url), url, at);
}

/* named: messages quote the URL (user and password left out); a URL whose path is a
 * secret, as a push topic is, must not be, and its messages name the host at most */
static gboolean
check_url (const gchar *url, gboolean named, gboolean *out_loopback, GError **error)
{
  g_autofree gchar *shown = NULL;
  g_autoptr (CURLU) u = curl_url ();
  g_autofree gchar *scheme = NULL;
  g_autofree gchar *host = NULL;
  g_autofree gchar *user = NULL;
  CURLUcode rc;
  gboolean loopback;

  if (url == NULL || *url == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "URL is empty");
      return FALSE;
    }
  if (u == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory parsing a URL");
      return FALSE;
    }
  if (named)
    {
      g_autofree gchar *redacted = vpush_http_url_redacted (url);

      shown = g_strdup_printf ("URL “%s”", redacted);
    }
  else
    shown = g_strdup ("the URL");

  rc = curl_url_set (u, CURLUPART_URL, url, 0);
  if (rc != CURLUE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s is not valid: %s", shown,
                   curl_url_strerror (rc));
      return FALSE;
    }
  scheme = vpush_http_url_part (u, CURLUPART_SCHEME);
  host = vpush_http_url_part (u, CURLUPART_HOST);
  user = vpush_http_url_part (u, CURLUPART_USER);
  if (scheme == NULL || host == NULL || *host == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s has no host", shown);
      return FALSE;
    }
  /* credentials belong in headers, never in a URL that ends up in logs */
  if (user != NULL)
    {
      /* nor in this message: the URL would carry them on */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the URL to “%s” must not carry a user name or password", host);
      return FALSE;
    }

  loopback = host_is_loopback (host);
  if (g_ascii_strcasecmp (scheme, "https") != 0 && g_ascii_strcasecmp (scheme, "http") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: scheme “%s” is not http or https", shown, scheme);
      return FALSE;
    }
  if (g_ascii_strcasecmp (scheme, "http") == 0 && !loopback)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: plain http:// is only allowed to a loopback host, not “%s”", shown, host);
      return FALSE;
    }

  if (out_loopback != NULL)
    *out_loopback = loopback;
  return TRUE;
}

gboolean
vpush_http_check_url_full (const gchar *url, gboolean named, gboolean *out_loopback, GError **error)
{
  return check_url (url, named, out_loopback, error);
}

static gboolean
check_url_length (const gchar *url, GError **error)
{
  /* a configured or caller's URL; curl would take up to 8 MB */
  if (url != NULL && strlen (url) > VPUSH_HTTP_URL_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "URL is longer than %d bytes",
                   VPUSH_HTTP_URL_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
vpush_http_check_url (const gchar *url, GError **error)
{
  return check_url_length (url, error) && check_url (url, TRUE, NULL, error);
}

gboolean
vpush_http_check_url_unnamed (const gchar *url, GError **error)
{
  return check_url_length (url, error) && check_url (url, FALSE, NULL, error);
}

gboolean
vpush_http_check_base_url (const gchar *url, GError **error)
{
  const gchar *mark;

  if (!vpush_http_check_url (url, error))
    return FALSE;
  /* paths are appended to it: "…/v2/?region=x" + "Services/…" would ask for "/v2/". By
   * the text, not by libcurl's parts: an empty fragment ("…/v2/#") is no part for it. */
  mark = strpbrk (url, "?#");
  if (mark != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "a base URL has no %s: each request's path is appended to it",
                   *mark == '?' ? "query (“?…”)" : "fragment (“#…”)");
      return FALSE;
    }
  return TRUE;
}

gchar *
vpush_http_url_origin (const gchar *url)
{
  g_autoptr (CURLU) u = curl_url ();
  g_autofree gchar *scheme = NULL;
  g_autofree gchar *host = NULL;
  g_autofree gchar *port = NULL;

  if (u == NULL || curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK)
    return g_strdup ("…");
  scheme = vpush_http_url_part (u, CURLUPART_SCHEME);
  host = vpush_http_url_part (u, CURLUPART_HOST);
  port = vpush_http_url_part (u, CURLUPART_PORT);
  if (scheme == NULL || host == NULL)
    return g_strdup ("…");
  return g_strdup_printf ("%s://%s%s%s/…", scheme, host, port != NULL ? ":" : "",
                          port != NULL ? port : "");
}
