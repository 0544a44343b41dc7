/* Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11). Counter = (index lo, index hi, stream lo, stream
 * hi), key = seed: every value is addressable, so no state is shared. */
#include "ibx/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

void ibx_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
    uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void ibx_rng_u32x4(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
  const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream,
                           (uint32_t)(stream >> 32)};
  /* Fold the seed's high half in so 64-bit seeds differ. */
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  ibx_philox4x32_10(ctr, key, out);
}

/* 23 random bits -> (0,1): (k + 0.5) / 2^23 for k < 2^23 needs 24 significant
 * bits, so it is exact in float and lies in [2^-24, 1 - 2^-24], never 0 or 1.
 * (With 24 bits, k + 0.5 is not representable for k >= 2^23 and k = 2^24-1
 * rounded up to exactly 1.0f.) */
static inline float to_open_unit(uint32_t u) {
  return ((float)(u >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

float ibx_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t r[4];
  ibx_rng_u32x4(seed, stream, index, r);
  return to_open_unit(r[0]);
}

float ibx_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t r[4];
  ibx_rng_u32x4(seed, stream, index, r);
  /* Box-Muller in double so the tails are not truncated by float rounding. */
  double u1 = ((double)r[0] + 0.5) / 4294967296.0;
  double u2 = ((double)r[1] + 0.5) / 4294967296.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2));
}

void ibx_rng_fill_uniform(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++)
    out[i] = ibx_rng_uniform(seed, stream, first + i);
}

void ibx_rng_fill_normal(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t first) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++)
    out[i] = ibx_rng_normal(seed, stream, first + i);
}
