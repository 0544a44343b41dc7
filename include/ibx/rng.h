/* Counter-based random numbers (Philox4x32-10, Salmon et al. SC'11).
 * Every random value is a pure function of (seed, stream, index): no hidden
 * state, so results do not depend on thread count, chunking, or (later) the
 * number of MPI ranks. Streams separate independent uses (dropout of layer 3,
 * augmentation, reparameterisation noise, ...). */
#ifndef IBX_RNG_H
#define IBX_RNG_H

#include <stddef.h>
#include <stdint.h>

/* The raw generator: 4x32-bit counter, 2x32-bit key, 10 rounds. */
void ibx_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Four uniform 32-bit words for (seed, stream, index). */
void ibx_rng_u32x4(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);

/* Uniform in the open interval (0, 1). */
float ibx_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal (Box-Muller on the generator's words). */
float ibx_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* out[i] = f(seed, stream, first + i) for i < n; parallel-safe. */
void ibx_rng_fill_uniform(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first);
void ibx_rng_fill_normal(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first);

#endif
