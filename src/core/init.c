/* Deterministic parameter initialisers (see include/ibx/init.h). */
#include "ibx/init.h"

#include <math.h>

#include "ibx/rng.h"

void ibx_init_normal(float *w, size_t n, float std, uint64_t seed, uint64_t stream) {
  ibx_rng_fill_normal(w, n, seed, stream, 0);
  for (size_t i = 0; i < n; i++)
    w[i] *= std;
}

void ibx_init_kaiming_normal(float *w, size_t n, int fan, uint64_t seed, uint64_t stream) {
  ibx_init_normal(w, n, sqrtf(2.0f / (float)fan), seed, stream);
}

void ibx_init_uniform(float *w, size_t n, float bound, uint64_t seed, uint64_t stream) {
  ibx_rng_fill_uniform(w, n, seed, stream, 0);
  for (size_t i = 0; i < n; i++)
    w[i] = (2.0f * w[i] - 1.0f) * bound;
}

void ibx_init_constant(float *w, size_t n, float value) {
  for (size_t i = 0; i < n; i++)
    w[i] = value;
}
