/* What the factor store's unit tests share: a store in a directory of its own, removed
 * afterwards, and its writes waited for as a caller's callback would be */
#pragma once

#include "test-files.h"
#include "vpush-factor-store.h"

#define SID_A    "YF0123456789abcdef0123456789abcdef"
#define SID_B    "YFfedcba9876543210fedcba9876543210"
#define BASE_URL "https://verify.twilio.com/v2/"

typedef struct
{
  gchar *tmp; /* removed afterwards */
  gchar *dir; /* the store's directory, not created yet */
  gchar *factors;
} Fixture;

/* The store's writes, waited for as a caller's callback would be */
typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} Wait;

void fixture_setup (Fixture *fixture, gconstpointer data);
void fixture_teardown (Fixture *fixture, gconstpointer data);
VpushFactorRecord *make_record (const gchar *sid, const gchar *friendly_name);
VpushFactorStore *new_store (Fixture *fixture);
void write_done_cb (GObject *source, GAsyncResult *result, gpointer user_data);
gboolean wait_write (Wait *wait, GError **error);
gboolean store_save (VpushFactorStore *store, const VpushFactorRecord *record, GError **error);
gboolean store_remove (VpushFactorStore *store, const gchar *sid, GError **error);
gboolean store_save_enrollment (VpushFactorStore *store, const VpushEnrollment *enrollment,
                                GError **error);
gboolean store_remove_enrollment (VpushFactorStore *store, const gchar *id, GError **error);
/* vpush_factor_store_find_unowned_async() of names (NULL-terminated), waited for in
 * two steps: what it found, joined by spaces, or NULL and the error */
typedef struct
{
  GPtrArray *unowned;
  GError *error;
  gboolean done;
} Unowned;

void store_find_unowned_async (VpushFactorStore *store, const gchar *const *names, Unowned *u);
gchar *store_find_unowned_wait (Unowned *u, GError **error);
gchar *store_find_unowned (VpushFactorStore *store, const gchar *const *names, GError **error);
/* an enrollment journal entry of the test service, no factor yet */
VpushEnrollment *make_enrollment (void);
/* the journal's entries, expected_unreadable of them skipped */
GPtrArray *load_enrollments (VpushFactorStore *store, guint expected_unreadable);
/* path has exactly these permission bits */
void assert_mode (const gchar *path, guint mode);
/* dir/name with text in it */
void write_file (const gchar *dir, const gchar *name, const gchar *text);
