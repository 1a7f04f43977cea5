/* JSON that vpush writes: json-glib's generator, with one mend. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* json-glib 1.6 escapes every byte below 0x20 in a string but 0x1f (U+001F), which it
 * writes as it is: that is no JSON (RFC 8259 §7), and the Verify API refuses an answer or
 * metadata holding it. These write node as json-glib does, with that byte escaped; a
 * json-glib that escapes it itself leaves them nothing to do. */
void vpush_json_write (GString *out, JsonNode *node, gboolean pretty);
gchar *vpush_json_to_string (JsonNode *node, gboolean pretty, gsize *length);

G_END_DECLS
