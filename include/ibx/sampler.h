/* Epoch sampling and sharding across ranks.
 *
 * Every epoch has one global order of the n samples: a permutation that is a
 * pure function of (seed, epoch) (Fisher-Yates driven by Philox, ibx/rng.h),
 * identical on every rank and for every world size. Rank r of W owns the
 * positions p of that order with p % W == r, so across ranks every sample
 * appears exactly once per epoch, and rank shares differ by at most one.
 *
 * Global batch j of size B is positions [j*B, min((j+1)*B, n)) of the
 * order; rank r's part of it is the positions in that range congruent to r
 * mod W. The composition of every global batch is therefore the same for any
 * W (each rank holds B/W of it when W divides B). */
#ifndef IBX_SAMPLER_H
#define IBX_SAMPLER_H

#include <stdint.h>

/* perm[0..n) = the global order of epoch `epoch` (identity when shuffle is
 * 0). */
int ibx_epoch_permutation(long n, uint64_t seed, uint64_t epoch, int shuffle, long *perm);

/* How many of n positions rank r of W owns: ceil((n - r) / W). */
long ibx_shard_count(long n, int world, int rank);

typedef struct {
  long n;
  int world, rank;
  int shuffle;
  uint64_t seed;
  uint64_t epoch;
  long *perm;  /* the global order of the current epoch, n entries */
  long *local; /* this rank's samples in order, ibx_shard_count entries */
  long count;  /* entries in local */
} ibx_sampler;

/* A sampler over n samples for rank `rank` of `world`; epoch 0 is set. */
int ibx_sampler_init(ibx_sampler *s, long n, int world, int rank, uint64_t seed, int shuffle);
/* Recomputes the order for another epoch. */
int ibx_sampler_set_epoch(ibx_sampler *s, uint64_t epoch);
/* This rank's k-th sample index of the epoch (0 <= k < s->count). */
static inline long ibx_sampler_index(const ibx_sampler *s, long k) { return s->local[k]; }
/* Number of global batches of size B per epoch: ceil(n / B). */
long ibx_sampler_num_batches(const ibx_sampler *s, long batch);
/* This rank's part of global batch j (of size `batch`): writes up to
 * ceil(batch / world) sample indices to idx and their number to *count (may
 * be 0 for the last, partial batch). */
int ibx_sampler_local_batch(const ibx_sampler *s, long j, long batch, long *idx, long *count);
void ibx_sampler_free(ibx_sampler *s);

#endif
