/* Pooling kernels shared between pool.c and pool_avx512.c; not public API. */
#ifndef IBX_POOL_INTERNAL_H
#define IBX_POOL_INTERNAL_H

#include "isa_clones.h"

/* Built where IBX_AVX512_KERNELS (isa_clones.h). 2x2 stride-2 max pooling
 * where every plane has H = 2 OH, W = 2 OW and OW is 1, 2, 4, 8 or a
 * multiple of 16 (run only where ibx_cpu_use_avx512), over outputs
 * q0 .. q1-1 of the whole tensor (q0 a multiple of 16; q1 a multiple of
 * OW): y[q] = the first maximum of window q, whose floats lie in
 * x[4q .. 4q + 4 OW + ...]. Returns 1 if a maximum is NaN. The backward writes dx[4 q0 .. 4 q1 - 1] whole: the gradient at
 * each window's first maximum, zero elsewhere. */
int ibx_max2x2_flat_avx512(const float *x, int OW, long q0, long q1, float *y);
void ibx_max2x2_grad_flat_avx512(const float *x, const float *g, int OW, long q0, long q1,
                                 float *dx);

#endif
