/* Unit tests for the Verify client: the one retry after a 401 with the API's Date (§6), the
 * clock offset it corrects, and the calls it is not for. The clocks are those of
 * suspend-clock-shim.c, linked in: step_clock() moves them. */
#include <glib/gstdio.h>

#include "vpush-error.h"
#include "vpush-jwt.h"

#include "test-verify-common.h"

/* The wall clock (VPUSH_TEST_CLOCK_STEP) or the boot clock (VPUSH_TEST_SUSPENDED) reads
 * seconds later than it is from now on */
static void
step_clock (const gchar *variable, gint64 seconds)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *text = g_strdup_printf ("%" G_GINT64_FORMAT, seconds);

  g_file_set_contents (g_getenv (variable), text, -1, &error);
  g_assert_no_error (error);
}

static void
test_create_factor_no_retry (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushFactorRecord) record = NULL;
  g_autofree gchar *date = rfc1123 (g_get_real_time () / G_USEC_PER_SEC + 3600);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"Authenticate\", \"more_info\": "
                "\"https://www.twilio.com/docs/errors/20003\", \"status\": 401}");
  server_reply (fx->server, 201, NULL, factor_response);
  record = create_factor (fx, NULL, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 401, code 20003: Authenticate");
  g_assert_null (record);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 1);
  g_assert_cmpuint (fx->n_corrections, ==, 0);
}

static void
test_delete_factor_double_401 (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *date = rfc1123 (g_get_real_time () / G_USEC_PER_SEC - 120);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 204, NULL, NULL);
  g_assert_true (delete (fx, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (ABS (fx->last_correction + 120), <=, 2);
}

static void
test_clock_skew_retry (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autoptr (VpushChallenge) again = NULL;
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  gint64 first_nbf;
  gint64 second_nbf;

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_nonnull (challenge);

  /* exactly one retry, with a JWT minted on the server's clock */
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (ABS (fx->last_correction - 3600), <=, 2);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, fx->last_correction);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - server_now), <=, 2);
  first_nbf = assert_device_auth (fx, 0);
  second_nbf = assert_device_auth (fx, 1);
  g_assert_cmpint (ABS (first_nbf + 3600 - second_nbf), <=, 2);
  g_assert_cmpstr (server_request (fx->server, 0)->path, ==, server_request (fx->server, 1)->path);

  /* a second 401 after the retry is final */
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 401, headers, "{\"code\": 20003, \"message\": \"still no\"}");
  server_reply (fx->server, 200, NULL, body);
  again = fetch (fx, CHALLENGE_SID, &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
  g_assert_cmpstr (error->message, ==, "HTTP 401, code 20003: still no");
  g_assert_null (again);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 4);
  /* the same Date, seconds later by the local clock: the offset moves by that much at most */
  g_assert_cmpint (ABS (vpush_verify_get_clock_offset (fx->verify) - 3600), <=, 2);
}

/* A clock a second fast is refused by an API without an allowance for it, and Date has
 * whole seconds: that second is a correction all the same (§6 takes any difference). */
static void
test_clock_skew_one_second (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC - 1;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"JWT nbf is in the future\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_nonnull (challenge);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  /* -1, or -2 if the local clock passed a second meanwhile */
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), <=, -1);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), >=, -2);
  g_assert_cmpint (assert_device_auth (fx, 1), <=, server_now + 1);
}

/* The clock-skew retry of an answer: by the corrected clock the challenge has expired, so
 * the answer is not sent again (dbus-api.md: never an answer for an expired challenge). */
static void
test_answer_expired_by_corrected_clock (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) pending = NULL;
  g_autoptr (VpushChallenge) answered = NULL;
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

  server_reply (fx->server, 200,
                "Twilio-Verify-Signature-Fields: sid,factor_sid,status,details,hidden_details\r\n",
                pending_json);
  pending = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  pending->expires_at = vpush_verify_now (fx->verify) + 60;

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  answered = answer (fx, pending, "approved", &error);
  g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_EXPIRED);
  g_assert_null (answered);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpuint (server_n_requests (fx->server), ==, 2);
  g_clear_error (&error);

  /* nor are retries of a transient failure sent past the expiry by a clock corrected
   * during the call: an hour and 2 s left, then (by the API's Date) 2 s */
  enable_retries (fx, 20000);
  pending->expires_at = vpush_verify_now (fx->verify) + 3602;
  g_free (headers);
  g_free (date);
  date = rfc1123 (server_now + 3600);
  headers = g_strdup_printf ("Date: %s\r\n", date);
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  for (guint i = 0; i < 1000; i++)
    server_reply (fx->server, 503, NULL, "{\"code\": 20503, \"message\": \"busy\"}");
  {
    gint64 started = g_get_monotonic_time ();
    g_autoptr (VpushChallenge) retried = answer (fx, pending, "approved", &error);

    g_assert_error (error, VPUSH_ERROR, VPUSH_ERROR_API);
    g_assert_null (retried);
    /* the 20 s of retrying it would otherwise have had */
    g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);
  }
}

/* A fetched challenge's age and expiry go by the API's Date when it is ahead of ours by
 * less than a device JWT lives (no 401 would tell); README: "A `Date` more than a device
 * JWT's lifetime and a minute ahead of the local clock is of no clock that took the JWT,
 * and is not taken (it would have every challenge expired)". Either side of that bound,
 * 10 s off it (time for the fetch), and far past it. */
static void
test_fetch_date_far_ahead_not_taken (Fixture *fx, gconstpointer user_data)
{
  g_autofree gchar *pending_json = challenge_json (FACTOR_SID, "pending");
  gint64 now = vpush_verify_now (fx->verify);
  gint64 bound = now + VPUSH_JWT_DEVICE_LIFETIME_S + 60;
  const struct
  {
    gint64 date;
    gboolean taken;
  } cases[] = {
    { now + 300, TRUE },            /* within a JWT's life */
    { bound - 10, TRUE },           /* just inside the bound */
    { bound + 10, FALSE },          /* just past it */
    { now + 7 * 24 * 3600, FALSE }, /* a week */
    { 253402300799, FALSE },        /* Fri, 31 Dec 9999 23:59:59 GMT */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VpushChallenge) pending = NULL;
      g_autofree gchar *date = rfc1123 (cases[i].date);
      g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);

      server_reply (fx->server, 200, headers, pending_json);
      pending = fetch (fx, CHALLENGE_SID, &error);
      g_assert_no_error (error);
      if (cases[i].taken)
        g_assert_cmpint (vpush_challenge_now (pending, now), >, cases[i].date);
      else
        g_assert_cmpint (vpush_challenge_now (pending, now), ==, now);
    }
}

/* Date has whole seconds: the same clocks measure a second apart from one 401 to the
 * next. A second later is not taken, so the offset does not flip between the two. */
static void
test_clock_offset_does_not_flip (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  /* learnt at an earlier 401: a second behind */
  vpush_verify_set_clock_offset (fx->verify, -1);
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  /* this Date says 0 (or -1, had a second passed): neither moves it */
  g_assert_cmpuint (fx->n_corrections, ==, 0);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, -1);
}

/* ... but two seconds later are a correction: the clock went that far behind */
static void
test_clock_offset_two_seconds_later (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  g_autofree gchar *date = NULL;
  g_autofree gchar *headers = NULL;
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");
  gint64 server_now;

  /* early in a second, so that the one the Date names is still the local one when
   * vpushd reads it (a second later, it would be one second) */
  g_usleep (G_USEC_PER_SEC - g_get_real_time () % G_USEC_PER_SEC + 10000);
  server_now = g_get_real_time () / G_USEC_PER_SEC;
  date = rfc1123 (server_now);
  headers = g_strdup_printf ("Date: %s\r\n", date);
  vpush_verify_set_clock_offset (fx->verify, -2);
  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  if (g_get_real_time () / G_USEC_PER_SEC != server_now)
    {
      g_test_skip ("a second passed before vpushd read the Date");
      return;
    }
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, 0);
}

/* NTP steps the wall clock after a 401 corrected vpushd's: the correction was of the wall
 * clock then, and taken again now would put vpushd's clock off by the step. */
static void
test_clock_step_after_correction (Fixture *fx, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VpushChallenge) challenge = NULL;
  gint64 server_now = g_get_real_time () / G_USEC_PER_SEC + 3600;
  g_autofree gchar *date = rfc1123 (server_now);
  g_autofree gchar *headers = g_strdup_printf ("Date: %s\r\n", date);
  g_autofree gchar *body = challenge_json (FACTOR_SID, "pending");

  server_reply (fx->server, 401, headers,
                "{\"code\": 20003, \"message\": \"no\", \"status\": 401}");
  server_reply (fx->server, 200, NULL, body);
  challenge = fetch (fx, CHALLENGE_SID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fx->n_corrections, ==, 1);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - server_now), <=, 2);

  step_clock ("VPUSH_TEST_CLOCK_STEP", 3600);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - server_now), <=, 2);
  /* what is kept for a restart is still the offset as it was learnt */
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, fx->last_correction);
  /* a suspend is time the API's clock went on through */
  step_clock ("VPUSH_TEST_SUSPENDED", 600);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - (server_now + 600)), <=, 2);

  step_clock ("VPUSH_TEST_CLOCK_STEP", 0);
  step_clock ("VPUSH_TEST_SUSPENDED", 0);
}

/* An offset set (from clock.json, at start) is taken against the wall clock of that
 * moment; with none, the wall clock is the API's, steps and all. */
static void
test_clock_step_after_set_offset (Fixture *fx, gconstpointer user_data)
{
  gint64 expected = g_get_real_time () / G_USEC_PER_SEC - 300;

  vpush_verify_set_clock_offset (fx->verify, -300);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - expected), <=, 2);
  step_clock ("VPUSH_TEST_CLOCK_STEP", 3600);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - expected), <=, 2);
  g_assert_cmpint (vpush_verify_get_clock_offset (fx->verify), ==, -300);

  vpush_verify_set_clock_offset (fx->verify, 0);
  g_assert_cmpint (ABS (vpush_verify_now (fx->verify) - (expected + 300 + 3600)), <=, 2);

  step_clock ("VPUSH_TEST_CLOCK_STEP", 0);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("vpush-clock-XXXXXX", &error);
  g_autofree gchar *wall = NULL;
  g_autofree gchar *boot = NULL;
  int ret;

  g_assert_no_error (error);
  wall = g_build_filename (dir, "wall", NULL);
  boot = g_build_filename (dir, "boot", NULL);
  g_setenv ("VPUSH_TEST_CLOCK_STEP", wall, TRUE);
  g_setenv ("VPUSH_TEST_SUSPENDED", boot, TRUE);
  g_test_init (&argc, &argv, NULL);

  ADD ("create-factor-no-retry", test_create_factor_no_retry);
  ADD ("delete-factor-double-401", test_delete_factor_double_401);
  ADD ("clock-skew-retry", test_clock_skew_retry);
  ADD ("clock-skew-one-second", test_clock_skew_one_second);
  ADD ("clock-offset-does-not-flip", test_clock_offset_does_not_flip);
  ADD ("clock-offset-two-seconds-later", test_clock_offset_two_seconds_later);
  ADD ("answer-expired-by-corrected-clock", test_answer_expired_by_corrected_clock);
  ADD ("fetch-date-far-ahead-not-taken", test_fetch_date_far_ahead_not_taken);
  ADD ("clock-step-after-correction", test_clock_step_after_correction);
  ADD ("clock-step-after-set-offset", test_clock_step_after_set_offset);

  ret = g_test_run ();
  g_unlink (wall);
  g_unlink (boot);
  g_rmdir (dir);
  return ret;
}
