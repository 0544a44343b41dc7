/* Epoch permutation and rank shards (include/ibx/sampler.h). */
#include "ibx/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/rng.h"

/* Philox stream of the sampler: "SAMP" in the high word, the epoch below. */
#define SAMPLER_STREAM (0x53414D50ull << 32)

int ibx_epoch_permutation(long n, uint64_t seed, uint64_t epoch, int shuffle, long *perm) {
  if (n < 0 || (n > 0 && !perm))
    return ibx_fail(IBX_ERR_ARG, "sampler: bad permutation size %ld", n);
  for (long i = 0; i < n; i++)
    perm[i] = i;
  if (!shuffle)
    return IBX_OK;
  const uint64_t stream = SAMPLER_STREAM ^ epoch;
  for (long i = n - 1; i > 0; i--) {
    uint32_t r[4];
    ibx_rng_u32x4(seed, stream, (uint64_t)i, r);
    uint64_t u = ((uint64_t)r[0] << 32) | r[1];
    long j = (long)(u % (uint64_t)(i + 1)); /* bias < 2^-32 for n < 2^32 */
    long t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  return IBX_OK;
}

long ibx_shard_count(long n, int world, int rank) {
  if (n <= 0 || world <= 0 || rank < 0 || rank >= world || rank >= n)
    return 0;
  return (n - rank + world - 1) / world;
}

int ibx_sampler_init(ibx_sampler *s, long n, int world, int rank, uint64_t seed, int shuffle) {
  if (!s)
    return ibx_fail(IBX_ERR_ARG, "sampler: NULL sampler");
  memset(s, 0, sizeof *s);
  if (n < 0)
    return ibx_fail(IBX_ERR_ARG, "sampler: negative sample count %ld", n);
  if (world <= 0 || rank < 0 || rank >= world)
    return ibx_fail(IBX_ERR_ARG, "sampler: rank %d is not in a world of %d", rank, world);
  s->n = n, s->world = world, s->rank = rank, s->seed = seed, s->shuffle = shuffle;
  size_t cap = n > 0 ? (size_t)n : 1;
  s->perm = ibx_alloc(cap * sizeof(long), "sampler permutation");
  s->local = ibx_alloc(cap * sizeof(long), "sampler shard");
  if (!s->perm || !s->local) {
    ibx_sampler_free(s);
    return IBX_ERR_NOMEM;
  }
  return ibx_sampler_set_epoch(s, 0);
}

int ibx_sampler_set_epoch(ibx_sampler *s, uint64_t epoch) {
  if (!s || (!s->perm && s->n > 0))
    return ibx_fail(IBX_ERR_ARG, "sampler: not initialised");
  IBX_TRY(ibx_epoch_permutation(s->n, s->seed, epoch, s->shuffle, s->perm));
  s->epoch = epoch;
  s->count = 0;
  for (long p = s->rank; p < s->n; p += s->world)
    s->local[s->count++] = s->perm[p];
  return IBX_OK;
}

long ibx_sampler_num_batches(const ibx_sampler *s, long batch) {
  if (!s || batch <= 0)
    return 0;
  return (s->n + batch - 1) / batch;
}

int ibx_sampler_local_batch(const ibx_sampler *s, long j, long batch, long *idx, long *count) {
  if (!s || !idx || !count || batch <= 0)
    return ibx_fail(IBX_ERR_ARG, "sampler: bad local batch request");
  long nb = ibx_sampler_num_batches(s, batch);
  if (j < 0 || j >= nb)
    return ibx_fail(IBX_ERR_ARG, "sampler: batch %ld out of range [0, %ld)", j, nb);
  long lo = j * batch, hi = lo + batch < s->n ? lo + batch : s->n;
  /* first position >= lo that is congruent to rank mod world */
  long p = lo + ((s->rank - lo % s->world) % s->world + s->world) % s->world;
  long k = 0;
  for (; p < hi; p += s->world)
    idx[k++] = s->perm[p];
  *count = k;
  return IBX_OK;
}

void ibx_sampler_free(ibx_sampler *s) {
  if (!s)
    return;
  ibx_free(s->perm);
  ibx_free(s->local);
  s->perm = s->local = NULL;
  s->count = 0;
}
