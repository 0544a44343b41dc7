/* Aligned allocation with failure injection, and the grow-only scratch. */
#include "ibx/memory.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"

#define IBX_ALIGN 64

static atomic_long fail_countdown; /* 0: never fail */

void ibx_alloc_fail_after(long n) { atomic_store(&fail_countdown, n > 0 ? n : 0); }

static int injected_failure(void) {
  long c = atomic_load(&fail_countdown);
  while (c > 0) {
    if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
      return c == 1;
  }
  return 0;
}

void *ibx_alloc(size_t bytes, const char *what) {
  void *p = NULL;
  size_t rounded = (bytes + IBX_ALIGN - 1) / IBX_ALIGN * IBX_ALIGN;
  if (rounded == 0)
    rounded = IBX_ALIGN;
  if (!injected_failure())
    p = aligned_alloc(IBX_ALIGN, rounded);
  if (!p)
    ibx_fail(IBX_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes,
             what ? what : "a buffer");
  return p;
}

void *ibx_calloc(size_t bytes, const char *what) {
  void *p = ibx_alloc(bytes, what);
  if (p)
    memset(p, 0, bytes);
  return p;
}

void ibx_free(void *p) { free(p); }

float *ibx_scratch_get(ibx_scratch *s, size_t n) {
  if (n > s->peak)
    s->peak = n;
  if (n <= s->capacity)
    return s->data;
  float *fresh = ibx_alloc(n * sizeof(float), "layer scratch");
  if (!fresh)
    return NULL;
  ibx_free(s->data);
  s->data = fresh;
  s->capacity = n;
  return fresh;
}

void ibx_scratch_free(ibx_scratch *s) {
  ibx_free(s->data);
  s->data = NULL;
  s->capacity = 0;
}
