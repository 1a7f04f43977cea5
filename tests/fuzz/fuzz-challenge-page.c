/* vpush_verify_parse_challenge_page(): the body of a list-challenges response (#6). */
#include "fuzz-common.h"

#include <gio/gio.h>

#include "vpush-json.h"
#include "vpush-verify-private.h"

#define BASE_URL   "https://verify.twilio.com/v2/"
#define FACTOR_SID "YF0123456789abcdef0123456789abcdef"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (VpushFactorRecord) factor = vpush_factor_record_new ();
  g_autoptr (VpushChallengePage) page = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) dropped
      = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_json_dropped_free);
  g_autofree gchar *checked = NULL;
  gsize checked_len = 0;
  VpushHttpResponse response = { 0 };
  JsonArray *items;
  guint kept = 0;

  fuzz_init ();
  factor->sid = g_strdup (FACTOR_SID);
  response.status = 200;
  response.body = g_bytes_new_static (data, size);
  page = vpush_verify_parse_challenge_page (BASE_URL, factor, 1000, &response, &error);
  g_bytes_unref (response.body);
  if (page == NULL)
    {
      fuzz_check_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return 0;
    }
  FUZZ_CHECK (error == NULL);

  /* in order, one challenge per item that the challenge mapping reads as one of this
   * factor; the other items are left out, and only they. An item holding an escape
   * json-glib misreads is not read at all: the text read has null in its place. */
  checked = vpush_json_check_list ((const gchar *)data, size, VPUSH_JSON_MAX_DEPTH, "challenges",
                                   dropped, &checked_len, NULL);
  FUZZ_CHECK (checked != NULL);
  root = fuzz_parse_json ((const uint8_t *)checked, checked_len);
  FUZZ_CHECK (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  items = json_object_get_array_member (json_node_get_object (root), "challenges");
  FUZZ_CHECK (page->challenges != NULL);
  FUZZ_CHECK (dropped->len == 0 || page->incomplete);
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      g_autoptr (VpushChallenge) alone
          = vpush_challenge_new_from_json (json_array_get_element (items, i), NULL);
      VpushChallenge *challenge;

      if (alone == NULL || !g_str_equal (alone->factor_sid, FACTOR_SID))
        continue;
      /* no challenge is read from an item dropped */
      for (guint j = 0; j < dropped->len; j++)
        FUZZ_CHECK (((VpushJsonDropped *)g_ptr_array_index (dropped, j))->index != i);
      FUZZ_CHECK (kept < page->challenges->len);
      challenge = g_ptr_array_index (page->challenges, kept++);
      FUZZ_CHECK (g_str_equal (challenge->factor_sid, FACTOR_SID));
      FUZZ_CHECK (vpush_sid_is_valid (challenge->sid, "YC"));
      FUZZ_CHECK (g_str_equal (alone->sid, challenge->sid));
      FUZZ_CHECK (challenge->signature_fields == NULL);
    }
  FUZZ_CHECK (kept == page->challenges->len);
  /* an item left out is said, so that no poll takes the absence of a challenge as final */
  FUZZ_CHECK (page->incomplete == (kept < json_array_get_length (items)));

  /* the token goes back into a query and out on the bus as a D-Bus string */
  if (page->next_page_token != NULL)
    {
      FUZZ_CHECK (g_utf8_validate (page->next_page_token, -1, NULL));
      /* "" on the bus means there is no next page */
      FUZZ_CHECK (*page->next_page_token != '\0');
      FUZZ_CHECK (json_object_has_member (json_node_get_object (root), "meta"));
    }
  return 0;
}
