/* OpenSSL's secure heap filled for a test (test-crypto.c, test-keystore-faults.c) */
#pragma once

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

/* Takes every block left, the large ones first (the heap splits blocks in halves), and
 * clears the errors the last tries queued. Give them back with secure_heap_release(). */
static inline GPtrArray *
secure_heap_fill (void)
{
  GPtrArray *blocks = g_ptr_array_new ();

  for (gsize size = 64 * 1024; size >= 16; size /= 2)
    {
      gpointer block;

      while ((block = OPENSSL_secure_malloc (size)) != NULL)
        g_ptr_array_add (blocks, block);
    }
  ERR_clear_error ();
  return blocks;
}

static inline void
secure_heap_release (GPtrArray *blocks)
{
  for (guint i = 0; i < blocks->len; i++)
    OPENSSL_secure_free (blocks->pdata[i]);
  g_ptr_array_unref (blocks);
}
