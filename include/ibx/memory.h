/* Memory ownership: every buffer ibx allocates goes through ibx_alloc, which
 * aligns to 64 bytes (AVX-512 friendly), reports failure as IBX_ERR_NOMEM, and
 * can be told to fail on purpose so tests can prove out-of-memory paths. */
#ifndef IBX_MEMORY_H
#define IBX_MEMORY_H

#include <stddef.h>

/* Returns 64-byte-aligned memory of `bytes`, or NULL with IBX_ERR_NOMEM
 * recorded. `what` names the buffer in the message. */
void *ibx_alloc(size_t bytes, const char *what);
/* Same, zero-filled. */
void *ibx_calloc(size_t bytes, const char *what);
void ibx_free(void *p);

/* Test hook: make the n-th allocation from now fail (n >= 1); 0 disables. */
void ibx_alloc_fail_after(long n);

/* Scratch: a reusable temporary buffer owned by the caller. A layer asks for
 * what it needs for the duration of one call; the buffer only grows. */
typedef struct {
  float *data;
  size_t capacity; /* in floats */
  size_t peak;     /* largest request seen, in floats */
} ibx_scratch;

/* Returns a buffer of at least n floats (contents undefined), or NULL with
 * IBX_ERR_NOMEM recorded. Invalidates pointers from earlier calls. */
float *ibx_scratch_get(ibx_scratch *s, size_t n);
void ibx_scratch_free(ibx_scratch *s);

#endif
