/* Float sums whose bits do not depend on the vector width.
 *
 * A sum with one accumulator does not vectorise (the compiler may not
 * reorder the additions), and `#pragma omp simd reduction` reorders them by
 * the vector width: the SSE2, AVX2 and AVX-512 clones (isa_clones.h) then
 * give different bits: batch-norm statistics and bias gradients differed
 * between node types of one cluster for that reason alone. (OpenBLAS also
 * picks its GEMM kernels by CPU: whole runs can be bit-identical across CPU
 * types only if OPENBLAS_CORETYPE pins one kernel.) Instead every sum here
 * keeps IBX_SUM_LANES interleaved partial sums (lane l takes the values at
 * l mod IBX_SUM_LANES), which vectorise at any width, and adds the lanes
 * pairwise in a fixed order. tests/test_reduce_isa.c builds them for each
 * ISA and compares the bits. */
#ifndef IBX_CORE_REDUCE_H
#define IBX_CORE_REDUCE_H

#include <stddef.h>

#define IBX_SUM_LANES 16
_Static_assert(IBX_SUM_LANES == 16, "ibx_lanes_total_f/_d below add exactly 16 lanes");

/* Float lanes are summed over blocks of at most IBX_SUM_BLOCK values (64
 * per lane) and the blocks added in double: rounding stays near that of 64
 * float additions, whatever n. */
#define IBX_SUM_BLOCK 1024

/* a[0] + ... + a[15], pairwise: lane l + w onto lane l for w = 8, 4, 2, 1,
 * written out level by level (fixed trip counts: straight-line vector code,
 * where a loop over w was a generic loop per level). */
static inline float ibx_lanes_total_f(const float *a) {
  float h8[8], h4[4];
  for (int l = 0; l < 8; l++)
    h8[l] = a[l] + a[l + 8];
  for (int l = 0; l < 4; l++)
    h4[l] = h8[l] + h8[l + 4];
  return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

static inline double ibx_lanes_total_d(const double *a) {
  double h8[8], h4[4];
  for (int l = 0; l < 8; l++)
    h8[l] = a[l] + a[l + 8];
  for (int l = 0; l < 4; l++)
    h4[l] = h8[l] + h8[l + 4];
  return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* sum of p[0 .. n-1] */
double ibx_sum_f32(const float *p, long n);

/* sum of (p[i] - mean)^2: the second pass of a two-pass variance */
double ibx_sum_sq_dev_f32(const float *p, long n, float mean);

/* *sg += sum g, *sgx += sum g (x - mean), g = dy, or dy masked by y > 0
 * where y (a fused ReLU's output) is given: batch norm's backward sums */
void ibx_sum_grad_f32(const float *x, const float *dy, const float *y, long n, float mean,
                      double *sg, double *sgx);

/* sum of p[i]^2 in 16 double lanes (no blocks): the gradient norm's blocks */
double ibx_sum_squares_f64(const float *p, size_t n);

#endif
