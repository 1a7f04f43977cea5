/* Internal parts of the Secret Service key store, shared by vpush-keystore.c (the object,
 * per-call state, and the store/delete/list operations), vpush-keystore-service.c
 * (following the Secret Service: availability, reconnects, lock state),
 * vpush-keystore-load.c (loading a key), vpush-keystore-delete.c (deleting one) and
 * vpush-keystore-label.c (relabelling); not API. */
#pragma once

#include <libsecret/secret.h>

#include "vpush-keystore.h"
#include "vpush-names.h"

G_BEGIN_DECLS

#define LOCKED_MESSAGE      "the login keyring is locked"
#define NOT_RUNNING_MESSAGE "the Secret Service (" VPUSH_SECRETS_NAME ") is not running"
#define NOT_STARTED_MESSAGE "not connected to the Secret Service yet"
#define NO_COLLECTION_MESSAGE                                                                      \
  "the Secret Service has no default collection (no login keyring has been created)"

typedef enum
{
  CALL_INIT,
  CALL_STORE,
  CALL_LOAD,
  CALL_DELETE,
  CALL_LIST,
  CALL_RELABEL,
} CallKind;

/* The label of a factor's key item */
#define KEY_LABEL_FORMAT "vpush factor key (%s)"

/* One try to reach the Secret Service: SecretService, then the default collection. Owned by
 * the libsecret callbacks; abandoned (self = NULL) on a deadline, an owner change or dispose,
 * after which the callbacks only free it. */
typedef struct
{
  VpushKeystore *self;
  GCancellable *cancellable;
  GSource *deadline;
  SecretService *service;
} Attempt;

struct _VpushKeystore
{
  GObject parent_instance;

  guint timeout_ms;

  guint watch_id;          /* of org.freedesktop.secrets */
  gboolean watch_reported; /* the watch has said whether it has an owner */
  gchar *owner;            /* its unique name; NULL while it has none */

  SecretService *service;
  gulong service_signal_handler;
  SecretCollection *collection; /* the "default" alias */
  gulong locked_handler;
  gulong collection_signal_handler;

  Attempt *attempt;       /* in flight */
  gboolean attempt_again; /* something changed during the attempt: make another one */
  guint retry_source;

  gboolean available;
  gboolean locked;
  gchar *reason; /* why not available */

  gboolean settled;  /* the first connection attempt has an outcome */
  GPtrArray *parked; /* GTask (a reference each): calls made before that, to send then */

  GPtrArray *calls;      /* GTask: unanswered calls (no reference) */
  GPtrArray *init_tasks; /* GTask: init calls waiting for the first outcome */
  GHashTable *doubtful;  /* factor sid → clearing: stores whose outcome is unknown */
  GHashTable *relabels;  /* factor sid → Relabel: labels not confirmed by the keyring yet */
  gboolean clearing;     /* a delete is with libsecret */
  GQueue deletes;        /* GTask (a reference each): deletes waiting for it to finish */
};

/* The label a factor's key should have, from the last relabel asked for, until the keyring
 * has taken it; while not sending, it waits for the keyring to be usable. */
typedef struct
{
  gchar *label;
  gboolean sending;
} Relabel;

void vpush_keystore_relabel_free (Relabel *relabel);

/* One deadline for the whole call, however many D-Bus round trips it takes. */
typedef struct
{
  CallKind kind;
  GCancellable *cancellable; /* handed to libsecret; cancelled by the caller or the deadline */
  GCancellable *caller_cancellable;
  gulong caller_handler;
  GSource *deadline;
  gboolean done; /* the task has been answered; a late libsecret reply is dropped */
  gboolean sent; /* handed to libsecret (not only parked) */
  gchar *factor_sid;
  /* what is sent, kept while the call is parked */
  GHashTable *attributes;
  SecretValue *value;      /* store only */
  gchar *label;            /* store and relabel */
  guint deleting;          /* delete: its item Deletes still unanswered */
  GError *delete_error;    /* delete: the first of them that failed */
  gboolean saw_locked;     /* delete: an item under the sid was locked, and left */
  gboolean searched_again; /* load: an item came without its secret, and was looked for again */
} KeystoreCall;

/* vpush-keystore.c */
void vpush_keystore_set_state (VpushKeystore *self, gboolean available, gboolean locked,
                               const gchar *reason);
/* Called first on every way a call is answered. FALSE when it was answered already. */
gboolean vpush_keystore_call_begin_answer (GTask *task);
/* The same for the callback of a search whose items answer the call: FALSE also when it is
 * answered now with the search's error; otherwise *items are the caller's. */
gboolean vpush_keystore_begin_search_answer (GTask *task, GObject *source, GAsyncResult *result,
                                             GList **items);
/* Whether the error of a call on an item says the item is not there (any more) */
gboolean vpush_keystore_error_is_item_gone (const GError *error);
/* The same for a search already finished: its *items, or its error (taken) */
gboolean vpush_keystore_begin_items_answer (GTask *task, GList **items, GError *error);
gchar *vpush_keystore_timeout_message (VpushKeystore *self);
void vpush_keystore_settle (VpushKeystore *self);
GTask *vpush_keystore_task_new (VpushKeystore *self, CallKind kind, gpointer source_tag,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
const SecretSchema *vpush_keystore_get_schema (void);
/* The same attributes, without the schema's name among them: gnome-keyring shows an item of
 * a collection locked since it started with xdg:schema "org.freedesktop.Secret.Generic"
 * (the real one is hashed), so a search that names the schema misses it, locked or not. */
const SecretSchema *vpush_keystore_get_search_schema (void);
/* Sends the call, or parks it until the key store has settled. Takes the task reference. */
void vpush_keystore_dispatch (VpushKeystore *self, GTask *task);
/* Answers the task with error (taken), turned into ours. */
void vpush_keystore_return_error (GTask *task, GError *error);
/* Answers a call whose reply says only whether it worked: TRUE, or error (taken); nothing
 * if it was answered already. */
void vpush_keystore_answer_done (GTask *task, GError *error);

/* Ends a delete: answers it with error (taken; NULL: done) unless answered already, and
 * sends the next waiting delete. */
void vpush_keystore_deleted (GTask *task, GError *error);

/* vpush-keystore-delete.c */
void vpush_keystore_send_delete (VpushKeystore *self, GTask *task);

/* vpush-keystore-load.c */
void vpush_keystore_send_load (VpushKeystore *self, GTask *task);

/* vpush-keystore-label.c */
void vpush_keystore_send_relabel (VpushKeystore *self, GTask *task);
/* Sends again the relabels that failed while the keyring was not usable. */
void vpush_keystore_redo_relabels (VpushKeystore *self);

/* vpush-keystore-service.c */
void vpush_keystore_answer_init_tasks (VpushKeystore *self);
void vpush_keystore_connect (VpushKeystore *self);
void vpush_keystore_drop_connection (VpushKeystore *self);
void vpush_keystore_abandon_attempt (VpushKeystore *self);
void vpush_keystore_attempt_timed_out (VpushKeystore *self);
void vpush_keystore_mark_unresponsive (VpushKeystore *self, const gchar *reason);
void vpush_keystore_note_doubtful (VpushKeystore *self, const gchar *factor_sid);
void vpush_keystore_clear_doubtful (VpushKeystore *self);

G_END_DECLS
