/* src/core/reduce.c under other names, for one ISA: tests/CMakeLists.txt
 * builds this file with -mavx2, -mavx512f or neither (SSE2) and
 * -DIBX_REDUCE_ISA=avx2 (...) -DIBX_NO_ISA_CLONES; test_reduce_isa.c compares
 * the three builds' bits. */
#define IBX_CAT2(a, b) a##_##b
#define IBX_CAT(a, b) IBX_CAT2(a, b)
#define ibx_sum_f32 IBX_CAT(ibx_sum_f32, IBX_REDUCE_ISA)
#define ibx_sum_sq_dev_f32 IBX_CAT(ibx_sum_sq_dev_f32, IBX_REDUCE_ISA)
#define ibx_sum_grad_f32 IBX_CAT(ibx_sum_grad_f32, IBX_REDUCE_ISA)
#define ibx_sum_squares_f64 IBX_CAT(ibx_sum_squares_f64, IBX_REDUCE_ISA)
#include "../../src/core/reduce.c"
