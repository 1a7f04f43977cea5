/* vpush_json_check(): what json-glib is not given */
#include <json-glib/json-glib.h>
#include <string.h>

#include "vpush-json-write.h"
#include "vpush-json.h"

static gboolean
check (const gchar *text, GError **error)
{
  return vpush_json_check (text, strlen (text), VPUSH_JSON_MAX_DEPTH, error);
}

/* Documents the Verify API and push servers send, and the JSON values json-glib reads
 * whole: each passes, and json-glib agrees that it is JSON. */
static void
test_json_valid (void)
{
  static const gchar *const docs[] = {
    "{}",
    "  {\"sid\": \"YC1\", \"n\": [1, 2.5e3, -0], \"ok\": true, \"x\": null}\r\n",
    "[[], {}]",
    "\"text\"",
    "12",
    " false ",
    "{\"a\": \"\\u0041\\u00e9\\ud83d\\ude00 \\\" \\\\u \\/\"}",
    "{\"brackets in a string\": \"}{][\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (docs); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonParser) parser = json_parser_new ();

      g_test_message ("%s", docs[i]);
      g_assert_true (check (docs[i], &error));
      g_assert_no_error (error);
      g_assert_true (json_parser_load_from_data (parser, docs[i], -1, NULL));
    }
}

/* More than one value, which json-glib 1.6 reads and leaks all but the last of: a push
 * server sending "{}{…60 KB…}" made vpushd grow by hundreds of MiB in seconds. */
static void
test_json_one_value (void)
{
  static const gchar *const docs[] = {
    "{}{}", "{} []", "[1] 2", "1 2", "\"a\" \"b\"", "{}\"x\"", "true false", "{\"a\":1}}{",
  };

  for (guint i = 0; i < G_N_ELEMENTS (docs); i++)
    {
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", docs[i]);
      g_assert_false (check (docs[i], &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "more than one value"));
    }
}

/* \u escapes that are not four hex digits or half a surrogate pair: json-glib 1.6 leaks
 * its string buffer on the second kind and reads odd things on the first. */
static void
test_json_escapes (void)
{
  static const gchar *const docs[] = {
    "\"\\ud800\"",        "\"\\udc00\"",          "\"\\ud800\\u0041\"", "\"\\udc00\\udc00\"",
    "\"\\ud800\\ud800\"", "{\"a\": \"\\u12g4\"}", "\"\\u12\"",          "\"\\u",
  };

  static const gchar *const other[] = {
    "\"bad \\762\"", "\"\\x41\"", "\"\\a\"", "\"\\", "{\"a\\'\": 1}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (docs); i++)
    {
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", docs[i]);
      g_assert_false (check (docs[i], &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "\\u escape"));
    }
  /* escapes JSON does not have: json-glib reads "\\762" as octal, a byte that is not
   * UTF-8, which reached a factor's name and the bus */
  for (guint i = 0; i < G_N_ELEMENTS (other); i++)
    {
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", other[i]);
      g_assert_false (check (other[i], &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "is not one of JSON's"));
    }
  /* json-glib cuts a string at \u0000: "T\u0000x" would read as "T" */
  {
    static const gchar *const nul[] = {
      "\"T\\u0000x\"",
      "{\"hidden_details\": {\"transaction_id\": \"T\\u0000x\"}}",
      "\"\\u0000\"",
    };

    for (guint i = 0; i < G_N_ELEMENTS (nul); i++)
      {
        g_autoptr (GError) error = NULL;

        g_test_message ("%s", nul[i]);
        g_assert_false (check (nul[i], &error));
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        g_assert_nonnull (strstr (error->message, "\\u0000"));
      }
    /* an escaped backslash followed by "u0000" is no such escape */
    g_assert_true (check ("\"T\\\\u0000\"", NULL));
    g_assert_true (check ("\"\\u0001\"", NULL));
  }
}

/* Nesting is counted outside strings only, and json-glib's extensions are refused */
static void
test_json_depth (void)
{
  g_autoptr (GString) deep = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < VPUSH_JSON_MAX_DEPTH; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < VPUSH_JSON_MAX_DEPTH; i++)
    g_string_append_c (deep, ']');
  g_assert_true (check (deep->str, &error));
  g_assert_no_error (error);

  g_string_prepend_c (deep, '[');
  g_string_append_c (deep, ']');
  g_assert_false (check (deep->str, &error));
  g_assert_nonnull (strstr (error->message, "nested deeper than 32 levels"));
  g_clear_error (&error);

  g_assert_false (check ("['a']", &error));
  g_assert_nonnull (strstr (error->message, "outside a string"));
}

/* An object of at most 1024 characters with as many members as fit */
static gchar *
fullest_object (void)
{
  GString *object = g_string_new ("{");

  for (guint k = 0; object->len + 8 < 1024; k++)
    g_string_append_printf (object, "%s\"%x\":\"\"", k ? "," : "", k);
  g_string_append_c (object, '}');
  return g_string_free (object, FALSE);
}

/* The largest challenge the API makes, as far as the count of values goes: 20 fields, and
 * hidden details and metadata of 1024 characters each made of as many members as fit
 * (protocol doc §11, OpenAPI) */
static void
append_largest_challenge (GString *out, guint n)
{
  g_autofree gchar *fullest = fullest_object ();

  g_string_append_printf (out,
                          "{\"sid\":\"YC%032x\",\"account_sid\":\"AC0\",\"service_sid\":"
                          "\"VA0\",\"entity_sid\":\"YE0\",\"identity\":\"i\",\"factor_sid\":"
                          "\"YF0\",\"date_created\":\"d\",\"date_updated\":\"d\","
                          "\"date_responded\":null,\"expiration_date\":\"d\",\"status\":"
                          "\"pending\",\"responded_reason\":\"none\",\"factor_type\":"
                          "\"push\",\"url\":\"u\",\"links\":{\"notifications\":\"u\"},"
                          "\"hidden_details\":%s,\"metadata\":%s,\"details\":{\"message\":"
                          "\"m\",\"date\":\"d\",\"fields\":[",
                          n, fullest, fullest);
  for (guint f = 0; f < 20; f++)
    g_string_append_printf (out, "%s{\"label\":\"l\",\"value\":\"v\"}", f ? "," : "");
  g_string_append (out, "]}}");
}

/* What json-glib would build of a text is bounded: a page of 50 of the largest
 * challenges passes (some 20000 values), but not a short text of many empty values */
static void
test_json_values (void)
{
  g_autoptr (GString) page = g_string_new ("{\"challenges\":[");
  g_autoptr (GString) many = g_string_new ("[");
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < 50; i++)
    {
      if (i > 0)
        g_string_append_c (page, ',');
      append_largest_challenge (page, i);
    }
  g_string_append (page, "],\"meta\":{\"page\":0,\"page_size\":50,\"first_page_url\":"
                         "\"u\",\"previous_page_url\":null,\"url\":\"u\",\"next_page_url\":"
                         "null,\"key\":\"challenges\"}}");
  g_assert_true (check (page->str, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < VPUSH_JSON_MAX_VALUES / 2 - 1; i++)
    g_string_append (many, "{},");
  g_string_append (many, "{}]");
  g_assert_true (check (many->str, &error));
  g_assert_no_error (error);
  g_string_insert (many, 1, "{},");
  g_assert_false (check (many->str, &error));
  g_assert_nonnull (strstr (error->message, "more than 32768 values"));
}

/* One item of a list with an escape json-glib misreads costs that item only; the text
 * left passes the whole check, the item's place is null. */
static void
test_json_list_items (void)
{
  static const gchar text[]
      = "{\"challenges\": [{\"sid\": \"YC1\"}, {\"sid\": \"YC2\", \"hidden_details\": "
        "{\"transaction_id\": \"T\\u0000other\"}} , \"\\ud800\", {\"\\udc00\": 1}, "
        "{\"s\": \"\\ud83d\\ude00\"}], \"meta\": {\"next_page_url\": \"x\"}}";
  g_autoptr (GPtrArray) dropped
      = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_json_dropped_free);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *left = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  VpushJsonDropped *item;
  gsize len = 0;

  left = vpush_json_check_list (text, strlen (text), VPUSH_JSON_MAX_DEPTH, "challenges", dropped,
                                &len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (left, ==,
                   "{\"challenges\": [{\"sid\": \"YC1\"}, null , null, null, "
                   "{\"s\": \"\\ud83d\\ude00\"}], \"meta\": {\"next_page_url\": \"x\"}}");
  g_assert_cmpuint (len, ==, strlen (left));
  g_assert_true (check (left, NULL));
  g_assert_true (json_parser_load_from_data (parser, left, -1, NULL));
  g_assert_cmpuint (dropped->len, ==, 3);
  item = g_ptr_array_index (dropped, 0);
  g_assert_cmpuint (item->index, ==, 1);
  g_assert_cmpstr (
      item->text, ==,
      "{\"sid\": \"YC2\", \"hidden_details\": {\"transaction_id\": \"T\\u0000other\"}}");
  g_assert_nonnull (strstr (item->why, "\\u0000"));
  item = g_ptr_array_index (dropped, 1);
  g_assert_cmpuint (item->index, ==, 2);
  g_assert_cmpstr (item->text, ==, "\"\\ud800\"");
  g_assert_nonnull (strstr (item->why, "surrogate"));
  g_assert_cmpuint (((VpushJsonDropped *)g_ptr_array_index (dropped, 2))->index, ==, 3);

  /* the list's name as json-glib reads it, escapes and all */
  {
    static const gchar named[] = "{\"chall\\u0065nge\\u0073\": [\"\\u0000\", 1]}";
    g_autofree gchar *named_left = NULL;

    g_ptr_array_set_size (dropped, 0);
    named_left = vpush_json_check_list (named, strlen (named), VPUSH_JSON_MAX_DEPTH, "challenges",
                                        dropped, &len, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (named_left, ==, "{\"chall\\u0065nge\\u0073\": [null, 1]}");
    g_assert_cmpuint (dropped->len, ==, 1);
  }

  /* what is left of an item, for a warning: the escapes made U+FFFD */
  {
    static const gchar bad[]
        = "{\"a\": \"T\\u0000x\\\\u0000\", \"b\": \"\\ud800\\ud83d\\ude00\\udc00\"}";
    g_autofree gchar *defused = vpush_json_defuse (bad, strlen (bad));

    g_assert_cmpstr (defused, ==,
                     "{\"a\": \"T\\ufffdx\\\\u0000\", \"b\": \"\\ufffd\\ud83d\\ude00\\ufffd\"}");
  }
}

/* Whatever vpush_json_check() refuses outside the list's items, or that leaves the place
 * of a string unsure, still refuses it all */
static void
test_json_list_refused (void)
{
  static const gchar *const docs[] = {
    /* outside the items */
    "{\"challenges\": [], \"meta\": {\"next_page_url\": \"x\\u0000y\"}}",
    "{\"challenges\\u0000\": [\"\\u0000\"]}",
    "{\"x\\ud800\": 1, \"challenges\": []}",
    "{\"meta\": {\"challenges\": [\"\\u0000\"]}}",
    "{\"other\": [\"\\u0000\"], \"challenges\": []}",
    "[\"\\u0000\"]",
    "{\"a\": \"challenges\", \"b\": [\"\\u0000\"]}",
    /* not JSON at all, item or not */
    "{\"challenges\": [\"\\u12\"]}",
    "{\"challenges\": [\"\\762\"]}",
    "{\"challenges\": [\"\\u0000\"",
    "{\"challenges\": [\"\\u0000\"]} {}",
    /* which of the two json-glib keeps is its own affair */
    "{\"challenges\": [\"\\u0000\"], \"challenges\": [{}]}",
    "{\"challenges\": [\"\\u0000\"], \"chall\\u0065nges\": [{}]}",
    "{\"chall\\u0065nges\": [{}], \"challenges\": [\"\\u0000\"]}",
    /* an item dropped that is not one value: the text would become JSON */
    "{\"challenges\": [\"\\u0000\" \"x\", {}]}",
    "{\"challenges\": [{\"a\" \"\\u0000\"}, {}]}",
    "{\"challenges\": [{\"a\": \"\\ud800\"}}, {}]}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (docs); i++)
    {
      g_autoptr (GPtrArray) dropped
          = g_ptr_array_new_with_free_func ((GDestroyNotify)vpush_json_dropped_free);
      g_autoptr (GError) error = NULL;
      g_autofree gchar *left = NULL;
      gsize len = 0;

      g_test_message ("%s", docs[i]);
      left = vpush_json_check_list (docs[i], strlen (docs[i]), VPUSH_JSON_MAX_DEPTH, "challenges",
                                    dropped, &len, &error);
      g_assert_null (left);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_cmpuint (dropped->len, ==, 0);
    }
}

/* What vpush writes is JSON: every control character in a string escaped (json-glib 1.6
 * wrote U+001F as it is), keys included, compact or pretty; read back, the same value. */
static void
test_json_write (void)
{
  g_autoptr (JsonObject) object = json_object_new ();
  g_autoptr (JsonArray) array = json_array_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (GString) all = g_string_new (NULL);

  for (gchar c = 0x01; c < 0x20; c++)
    g_string_append_c (all, c);
  json_object_set_string_member (object, "all", all->str);
  json_array_add_string_element (array, "\x1f€\x1f");
  json_array_add_int_element (array, 31);
  json_object_set_array_member (object, "k\x1f", json_array_ref (array));
  json_node_set_object (node, object);

  for (gint pretty = 0; pretty <= 1; pretty++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GString) out = g_string_new ("[");
      g_autofree gchar *text = NULL;
      gsize len = 0;

      text = vpush_json_to_string (node, pretty, &len);
      g_test_message ("%s", text);
      g_assert_cmpuint (len, ==, strlen (text));
      for (gsize i = 0; i < len; i++)
        if ((guchar)text[i] < 0x20)
          g_assert_true (pretty && text[i] == '\n');
      g_assert_true (check (text, &error));
      g_assert_no_error (error);
      g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
      g_assert_no_error (error);
      g_assert_true (json_node_equal (json_parser_get_root (parser), node));

      /* appended: what is in out is kept */
      vpush_json_write (out, node, pretty);
      g_assert_cmpstr (out->str + 1, ==, text);
      g_assert_cmpint (out->str[0], ==, '[');
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/valid", test_json_valid);
  g_test_add_func ("/json/one-value", test_json_one_value);
  g_test_add_func ("/json/escapes", test_json_escapes);
  g_test_add_func ("/json/depth", test_json_depth);
  g_test_add_func ("/json/values", test_json_values);
  g_test_add_func ("/json/list-items", test_json_list_items);
  g_test_add_func ("/json/list-refused", test_json_list_refused);
  g_test_add_func ("/json/write", test_json_write);
  return g_test_run ();
}
