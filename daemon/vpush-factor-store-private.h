/* Internal parts of the factor store, shared by vpush-factor-store.c (the store, its writer
 * thread, the factor records, leftover temporary files and the clock correction) and
 * vpush-factor-store-journal.c (the enrollment journal); not API. */
#pragma once

#include <json-glib/json-glib.h>

#include "vpush-factor-store.h"

G_BEGIN_DECLS

#define RECORD_SUFFIX ".json"

struct _VpushFactorStore
{
  GObject parent_instance;

  gchar *dir;
  gchar *factors_dir;
  gchar *enrolling_dir;
  gchar *clock_path;
  /* one thread, so writes and removals happen one at a time, in the order asked for */
  GThreadPool *writer;
  GMutex lock;
  GCond idle;   /* queued is 0 */
  guint queued; /* writes asked for and not done yet */
  int lock_fd;  /* LOCK_FILE, locked for as long as the store lives */
};

typedef struct
{
  gchar *path;
  gchar *text; /* NULL: remove path */
  gsize length;
  gchar *dir;       /* nullable: created first */
  gboolean warn;    /* nobody asked for the outcome: a failure is logged here */
  GPtrArray *names; /* not a write: find_unowned()'s key names */
  gboolean check;   /* not a write: whether path is there (record_exists()) */
} StoreWrite;

/* vpush-factor-store.c */
void vpush_factor_store_queue_task (VpushFactorStore *self, StoreWrite *w, GTask *task);
void vpush_factor_store_queue_write (VpushFactorStore *self, StoreWrite *w,
                                     GAsyncReadyCallback callback, gpointer user_data);
void vpush_factor_store_report_error (VpushFactorStore *self, GAsyncReadyCallback callback,
                                      gpointer user_data, GError *error);
StoreWrite *vpush_factor_store_write_new_json (gchar *path, JsonNode *node);
StoreWrite *vpush_factor_store_write_new_removal (gchar *path);
gboolean vpush_factor_store_load_json (JsonParser *parser, const gchar *path, GError **error);

/* vpush-factor-store-journal.c */
GPtrArray *vpush_factor_store_find_unowned (VpushFactorStore *self, GPtrArray *names,
                                            GError **error);

G_END_DECLS
