/* LD_PRELOAD shim for test_vpushctl.py: a block freed while it still holds the text of
 * VPUSH_TEST_SECRET is reported on standard error, so that a test can tell that vpushctl
 * wipes the access token before it gives its memory back. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void free (void *block);

static void (*real_free) (void *);
static const char *secret;
static size_t secret_len;

static void
say (const char *text)
{
  if (write (STDERR_FILENO, text, strlen (text)) < 0)
    return;
}

__attribute__ ((constructor)) static void
wipe_check_init (void)
{
  real_free = (void (*) (void *))dlsym (RTLD_NEXT, "free");
  secret = getenv ("VPUSH_TEST_SECRET");
  secret_len = secret != NULL ? strlen (secret) : 0;
  /* so that a test can tell the shim was there */
  say ("wipe-check: loaded\n");
}

void
free (void *block)
{
  /* before the constructor (dlsym's own frees): kept, a few bytes */
  if (real_free == NULL)
    return;
  if (block != NULL && secret_len > 0
      && memmem (block, malloc_usable_size (block), secret, secret_len) != NULL)
    say ("wipe-check: a block freed unwiped holds the secret\n");
  real_free (block);
}
