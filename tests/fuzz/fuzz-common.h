/* Shared by the libFuzzer harnesses (tests/fuzz/README.md). */
#pragma once

#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

G_BEGIN_DECLS

/* The libFuzzer entry point each harness defines. */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* An invariant of the code under test. Not g_assert(): that one can be compiled out. */
#define FUZZ_CHECK(cond)                                                                           \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (G_UNLIKELY (!(cond)))                                                                      \
      fuzz_fail (__FILE__, __LINE__, #cond, NULL);                                                 \
  }                                                                                                \
  G_STMT_END

/* As FUZZ_CHECK, with an explanation (e.g. an error message) printed on failure. */
#define FUZZ_CHECK_MSG(cond, msg)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (G_UNLIKELY (!(cond)))                                                                      \
      fuzz_fail (__FILE__, __LINE__, #cond, (msg));                                                \
  }                                                                                                \
  G_STMT_END

G_NORETURN void fuzz_fail (const gchar *file, int line, const gchar *what, const gchar *msg);

/* Once per process: a log writer that aborts on a critical (a precondition the input broke
 * is a bug) and drops the rest (warnings about the input are expected). */
void fuzz_init (void);

/* The input as a NUL-terminated string (it may hold NULs of its own). */
gchar *fuzz_strndup (const uint8_t *data, size_t size);

/* The input parsed as JSON by json-glib, or NULL when it is not JSON. */
JsonNode *fuzz_parse_json (const uint8_t *data, size_t size);

/* A failed parse: an error is set, of the expected domain and code (< 0: any), and says
 * something in UTF-8. */
void fuzz_check_error (const GError *error, GQuark domain, gint code);

G_END_DECLS
