/* Float sums with the same bits in every ISA clone (see reduce.h). */
#include "reduce.h"

#include "isa_clones.h"

/* The lanes of one block: the full groups of IBX_SUM_LANES values are one
 * vector add each (a[] stays in registers), the tail goes to lanes 0, 1, ...
 * in turn, as if it were a short group. TERM is an expression in i: the
 * value at index i. */
#define LANE_BLOCK(a, b, e, TERM)                                                                  \
  do {                                                                                             \
    long i_ = (b);                                                                                 \
    for (; i_ + IBX_SUM_LANES <= (e); i_ += IBX_SUM_LANES)                                         \
      _Pragma("omp simd") for (int l_ = 0; l_ < IBX_SUM_LANES; l_++) {                             \
        const long i = i_ + l_;                                                                    \
        (a)[l_] += (TERM);                                                                         \
      }                                                                                            \
    for (int l_ = 0; i_ < (e); i_++, l_++) {                                                       \
      const long i = i_;                                                                           \
      (a)[l_] += (TERM);                                                                           \
    }                                                                                              \
  } while (0)

IBX_ISA_CLONES
double ibx_sum_f32(const float *p, long n) {
  double total = 0.0;
  for (long b = 0; b < n; b += IBX_SUM_BLOCK) {
    const long e = b + IBX_SUM_BLOCK < n ? b + IBX_SUM_BLOCK : n;
    float a[IBX_SUM_LANES] = {0};
    LANE_BLOCK(a, b, e, p[i]);
    total += ibx_lanes_total_f(a);
  }
  return total;
}

IBX_ISA_CLONES
double ibx_sum_sq_dev_f32(const float *p, long n, float mean) {
  double total = 0.0;
  for (long b = 0; b < n; b += IBX_SUM_BLOCK) {
    const long e = b + IBX_SUM_BLOCK < n ? b + IBX_SUM_BLOCK : n;
    float a[IBX_SUM_LANES] = {0};
    LANE_BLOCK(a, b, e, (p[i] - mean) * (p[i] - mean));
    total += ibx_lanes_total_f(a);
  }
  return total;
}

/* g (dy, masked by y > 0 where y is set) and g (x - mean), into lanes a
 * and ax in one pass, grouped as LANE_BLOCK */
#define GRAD_TERMS(i)                                                                              \
  const float g = y ? (y[i] > 0.0f ? dy[i] : 0.0f) : dy[i];                                       \
  a[l] += g;                                                                                       \
  ax[l] += g * (x[i] - mean)

IBX_ISA_CLONES
void ibx_sum_grad_f32(const float *x, const float *dy, const float *y, long n, float mean,
                      double *sg, double *sgx) {
  for (long b = 0; b < n; b += IBX_SUM_BLOCK) {
    const long e = b + IBX_SUM_BLOCK < n ? b + IBX_SUM_BLOCK : n;
    float a[IBX_SUM_LANES] = {0}, ax[IBX_SUM_LANES] = {0};
    long i = b;
    for (; i + IBX_SUM_LANES <= e; i += IBX_SUM_LANES) {
#pragma omp simd
      for (int l = 0; l < IBX_SUM_LANES; l++) {
        GRAD_TERMS(i + l);
      }
    }
    for (int l = 0; i < e; i++, l++) {
      GRAD_TERMS(i);
    }
    *sg += ibx_lanes_total_f(a);
    *sgx += ibx_lanes_total_f(ax);
  }
}

/* Double lanes: each square is exact in double, and the sum runs over a
 * whole gradient block (65536 values and more). */
IBX_ISA_CLONES
double ibx_sum_squares_f64(const float *p, size_t n) {
  double lane[IBX_SUM_LANES] = {0};
  size_t i = 0;
  for (; i + IBX_SUM_LANES <= n; i += IBX_SUM_LANES)
#pragma omp simd
    for (int l = 0; l < IBX_SUM_LANES; l++)
      lane[l] += (double)p[i + l] * p[i + l];
  for (int l = 0; i + l < n; l++)
    lane[l] += (double)p[i + l] * p[i + l];
  return ibx_lanes_total_d(lane);
}
