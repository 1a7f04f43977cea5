#include "vpush-push.h"
#include "vpush-push-private.h"

#include "vpush-factor.h"
#include "vpush-names.h"
#include "vpush-poller.h"

static const gchar *const state_names[] = {
  VPUSH_PUSH_STATE_CONNECTED,
  VPUSH_PUSH_STATE_CONNECTING,
  VPUSH_PUSH_STATE_RETRYING,
};

G_DEFINE_TYPE (VpushPush, vpush_push, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_STATE,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

/* State */

void
vpush_push_update_state (VpushPush *self)
{
  GHashTableIter iter;
  Stream *stream;
  gint worst = -1;
  const gchar *state;

  /* the stream of [Push] Url counts while no factor uses it only when it is the only one:
   * it then tells whether push would work; beside the factors' own it tells nothing */
  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&stream))
    if (stream->state != STREAM_STOPPED
        && (g_hash_table_size (stream->factors) > 0 || g_hash_table_size (self->streams) == 1))
      worst = MAX (worst, (gint)stream->state);
  state = worst < 0 ? VPUSH_PUSH_STATE_DISABLED : state_names[worst];
  if (g_strcmp0 (self->state, state) == 0)
    return;
  self->state = state;
  g_debug ("push state: %s", state);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

void
vpush_push_reconnect (VpushPush *self)
{
  GHashTableIter iter;
  Stream *stream;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&stream))
    vpush_push_stream_reconnect_now (stream);
}

/* Factors */

static const gchar *
factor_url (VpushPush *self, const gchar *factor_sid)
{
  VpushFactor *factor = vpush_manager_lookup_factor (self->manager, factor_sid);
  const VpushFactorRecord *record;

  if (factor == NULL)
    return NULL;
  record = vpush_factor_get_record (factor);
  if (record->push_url != NULL && *record->push_url != '\0')
    return record->push_url;
  return vpush_manager_get_config (self->manager)->push_url;
}

/* The stream of [Push] Url stays open without factors: PushState then says whether push
 * works before the first enrollment, and "disabled" keeps meaning no URL configured. */
static gboolean
is_configured (VpushPush *self, const gchar *url)
{
  return g_strcmp0 (url, vpush_manager_get_config (self->manager)->push_url) == 0;
}

static Stream *
open_stream (VpushPush *self, const gchar *url)
{
  Stream *stream = g_hash_table_lookup (self->streams, url);

  if (stream != NULL)
    return stream;
  stream = vpush_push_stream_new (self, url);
  g_hash_table_insert (self->streams, stream->url, stream);
  vpush_push_stream_connect (stream);
  return stream;
}

static void
leave_stream (VpushPush *self, const gchar *factor_sid)
{
  const gchar *url = g_hash_table_lookup (self->factor_urls, factor_sid);
  Stream *stream;

  if (url == NULL)
    return;
  stream = g_hash_table_lookup (self->streams, url);
  g_hash_table_remove (stream->factors, factor_sid);
  if (g_hash_table_size (stream->factors) == 0 && !is_configured (self, url))
    {
      g_debug ("push stream to %s closed: no factor uses it", stream->label);
      g_hash_table_remove (self->streams, url);
    }
  g_hash_table_remove (self->factor_urls, factor_sid);
}

void
vpush_push_update_factor (VpushPush *self, const gchar *factor_sid)
{
  const gchar *url;
  Stream *stream;

  g_return_if_fail (VPUSH_IS_PUSH (self));

  url = factor_url (self, factor_sid);
  if (g_strcmp0 (url, g_hash_table_lookup (self->factor_urls, factor_sid)) == 0)
    return;
  leave_stream (self, factor_sid);
  if (url != NULL)
    {
      g_hash_table_insert (self->factor_urls, g_strdup (factor_sid), g_strdup (url));
      stream = g_hash_table_lookup (self->streams, url);
      if (stream == NULL)
        {
          stream = open_stream (self, url);
          g_hash_table_add (stream->factors, g_strdup (factor_sid));
        }
      else
        {
          g_hash_table_add (stream->factors, g_strdup (factor_sid));
          /* it heard none of the hints this stream had before */
          if (stream->state == STREAM_CONNECTED)
            vpush_hint_fetcher_poll (self->fetcher, factor_sid);
        }
    }
  vpush_poller_reschedule (vpush_manager_get_poller (self->manager), factor_sid);
  vpush_push_update_state (self);
}

void
vpush_push_start (VpushPush *self)
{
  const gchar *url;

  g_return_if_fail (VPUSH_IS_PUSH (self));

  url = vpush_manager_get_config (self->manager)->push_url;
  if (url != NULL && *url != '\0')
    open_stream (self, url);
  vpush_push_update_state (self);
}

void
vpush_push_remove_factor (VpushPush *self, const gchar *factor_sid)
{
  g_return_if_fail (VPUSH_IS_PUSH (self));

  leave_stream (self, factor_sid);
  vpush_hint_fetcher_remove_factor (self->fetcher, factor_sid);
  vpush_push_update_state (self);
}

VpushHintFetcher *
vpush_push_get_hint_fetcher (VpushPush *self)
{
  return self->fetcher;
}

gboolean
vpush_push_factor_connected (VpushPush *self, const gchar *factor_sid)
{
  const gchar *url = g_hash_table_lookup (self->factor_urls, factor_sid);
  Stream *stream = url ? g_hash_table_lookup (self->streams, url) : NULL;

  return stream != NULL && stream->state == STREAM_CONNECTED;
}

const gchar *
vpush_push_get_state (VpushPush *self)
{
  return self->state;
}

/* GObject */

static void
vpush_push_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VpushPush *self = VPUSH_PUSH (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_string (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vpush_push_finalize (GObject *object)
{
  VpushPush *self = VPUSH_PUSH (object);

  vpush_hint_fetcher_free (self->fetcher);
  g_hash_table_unref (self->streams);
  g_hash_table_unref (self->factor_urls);
  g_object_unref (self->http);
  G_OBJECT_CLASS (vpush_push_parent_class)->finalize (object);
}

static void
vpush_push_class_init (VpushPushClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = vpush_push_get_property;
  object_class->finalize = vpush_push_finalize;
  props[PROP_STATE]
      = g_param_spec_string ("state", NULL, NULL, VPUSH_PUSH_STATE_DISABLED,
                             G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vpush_push_init (VpushPush *self)
{
  self->state = VPUSH_PUSH_STATE_DISABLED;
  self->streams = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)vpush_push_stream_free);
  self->factor_urls = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

VpushPush *
vpush_push_new (VpushManager *manager, VpushHttp *http)
{
  VpushPush *self = g_object_new (VPUSH_TYPE_PUSH, NULL);

  self->manager = manager;
  self->http = g_object_ref (http);
  self->fetcher = vpush_hint_fetcher_new (manager);
  return self;
}
