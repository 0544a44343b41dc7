/* bf16 GEMMs (ibx/precision.h) against fp32 on odd shapes, all four
 * transpose combinations, blocking edges (K across the 384-deep block, N
 * across the 512-wide block, M across the 96-row block), submatrix strides,
 * alpha/beta, threads; the convolutions (im2col and Winograd) and the linear
 * layer in bf16 against fp32 within the documented bf16 tolerance; the
 * precision setting and its error when the CPU lacks AVX512-BF16 (simulated
 * with IBX_CPU_NO_BF16=1).
 *
 * Tolerances (docs/performance.md): each operand is rounded to bf16 with
 * relative error <= 2^-9, so a product is off by <= ~2^-8 relative and a dot
 * product by <= 2^-8 sum_k |a_k b_k|; accumulation is fp32. The GEMM checks
 * use exactly that bound (plus fp32 rounding); with bf16-representable
 * integer inputs the result must be exact. The GEMM tests run both kernels
 * (AMX tiles and AVX512-BF16) where the CPU has AMX. Tests that run the
 * kernels skip on CPUs without avx512_bf16. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/precision.h"
#include "testutil.h"

static void need_bf16(void) {
  if (!ibx_cpu_has_bf16()) {
    print_message("this CPU has no avx512_bf16: skipped\n");
    skip();
  }
}

/* Reference: C = alpha op(A) op(B) + beta C in double, with the inputs as
 * given (round them first for the exact checks); also sum |a||b| per entry. */
static void ref_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, double *absdot) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0, sa = 0;
      for (int k = 0; k < K; k++) {
        const double a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
        const double b = tb ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
        s += a * b, sa += fabs(a * b);
      }
      float *c = C + (long)i * ldc + j;
      *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
      if (absdot)
        absdot[(long)i * N + j] = fabs((double)alpha) * sa;
    }
}

static float *alloc_ints(size_t n, unsigned seed) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    x[i] = (float)((int)((seed >> 16) % 9) - 4);
  }
  return x;
}

/* Small-integer operands: every product and partial sum is exact in fp32,
 * so any packing or indexing slip shows as an exact mismatch. Leading
 * dimensions exceed the shapes (submatrices); C's padding must stay put. */
static void exact_case(int ta, int tb, int M, int N, int K, float alpha, float beta) {
  const int rows_a = ta ? K : M, cols_a = ta ? M : K, rows_b = tb ? N : K, cols_b = tb ? K : N;
  const int lda = cols_a + 3, ldb = cols_b + 5, ldc = N + 2;
  float *A = alloc_ints((size_t)rows_a * lda, 1u + (unsigned)M);
  float *B = alloc_ints((size_t)rows_b * ldb, 7u + (unsigned)N);
  float *C = alloc_ints((size_t)M * ldc, 11u), *R = malloc((size_t)M * ldc * sizeof(float));
  if (beta == 0.0f)
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(long)i * ldc + j] = NAN; /* beta 0: C must not be read */
  memcpy(R, C, (size_t)M * ldc * sizeof(float));
  ibx_gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  ref_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc, NULL);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++)
      if (!(C[(long)i * ldc + j] == R[(long)i * ldc + j]) &&
          !(j >= N && isnan(C[(long)i * ldc + j]) && isnan(R[(long)i * ldc + j])))
        fail_msg("ta=%d tb=%d M=%d N=%d K=%d: C[%d][%d] = %g, expected %g", ta, tb, M, N, K, i, j,
                 (double)C[(long)i * ldc + j], (double)R[(long)i * ldc + j]);
  free(A), free(B), free(C), free(R);
}

/* Both kernels where the CPU has AMX: the tile kernel and AVX512-BF16. */
static int kernel_count(void) { return ibx_bf16_has_amx() ? 2 : 1; }
static void use_kernel(int k) { ibx_bf16_set_amx(k == 0 && ibx_bf16_has_amx()); }

static void test_exact_on_odd_shapes(void **state) {
  (void)state;
  need_bf16();
  for (int kern = 0; kern < kernel_count(); kern++) {
    use_kernel(kern);
    static const int shapes[][3] = {{1, 1, 1},    {1, 1, 2},    {7, 5, 3},
                                    {13, 37, 19}, {9, 33, 385}, {100, 31, 7},
                                    {97, 530, 5}, {8, 32, 768}, {17, 65, 1001}};
    omp_set_num_threads(1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
          exact_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
          exact_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 2.0f, 1.0f);
          exact_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], -0.5f, 0.25f);
        exact_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 1.0f);
        }
    exact_case(0, 0, 5, 6, 0, 1.0f, 0.5f); /* K = 0: C = beta C */
    omp_set_num_threads(2);
  }
  use_kernel(0);
}

/* Random normal operands against the fp32-exact (double) product of the
 * unrounded inputs: |C - ref| <= 2^-8 sum |a b| + fp32 slack; and against
 * the rounded inputs' product: only fp32 accumulation error. */
static void tolerance_case(int ta, int tb, int M, int N, int K, int threads) {
  const int rows_a = ta ? K : M, cols_a = ta ? M : K, rows_b = tb ? N : K, cols_b = tb ? K : N;
  float *A = tu_alloc_randn((size_t)rows_a * cols_a, 1.0f, 300 + (uint64_t)M);
  float *B = tu_alloc_randn((size_t)rows_b * cols_b, 1.0f, 400 + (uint64_t)N);
  float *C = malloc((size_t)M * N * sizeof(float)), *R = malloc((size_t)M * N * sizeof(float));
  double *absdot = malloc((size_t)M * N * sizeof(double));
  omp_set_num_threads(threads);
  ibx_gemm_bf16(ta, tb, M, N, K, 1.0f, A, cols_a, B, cols_b, 0.0f, C, N);
  omp_set_num_threads(2);
  ref_gemm(ta, tb, M, N, K, 1.0f, A, cols_a, B, cols_b, 0.0f, R, N, absdot);
  for (long i = 0; i < (long)M * N; i++) {
    const double bound = ldexp(1.0, -8) * absdot[i] + 1e-6 * (1.0 + absdot[i]);
    if (!(fabs((double)C[i] - R[i]) <= bound))
      fail_msg("ta=%d tb=%d %dx%dx%d: entry %ld off by %g > bf16 bound %g", ta, tb, M, N, K, i,
               fabs((double)C[i] - R[i]), bound);
  }
  /* the rounded inputs, fp32 accumulation: relative 1e-5 of sum |a b| */
  for (long i = 0; i < (long)rows_a * cols_a; i++)
    A[i] = ibx_round_bf16(A[i]);
  for (long i = 0; i < (long)rows_b * cols_b; i++)
    B[i] = ibx_round_bf16(B[i]);
  ref_gemm(ta, tb, M, N, K, 1.0f, A, cols_a, B, cols_b, 0.0f, R, N, absdot);
  for (long i = 0; i < (long)M * N; i++)
    if (!(fabs((double)C[i] - R[i]) <= 1e-5 * (1.0 + absdot[i])))
      fail_msg("ta=%d tb=%d %dx%dx%d: entry %ld differs from the bf16-rounded "
               "product by %g",
               ta, tb, M, N, K, i, fabs((double)C[i] - R[i]));
  free(A), free(B), free(C), free(R), free(absdot);
}

static void test_within_bf16_tolerance(void **state) {
  (void)state;
  need_bf16();
  for (int kern = 0; kern < kernel_count(); kern++) {
    use_kernel(kern);
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        tolerance_case(ta, tb, 23, 45, 67, 1);
        tolerance_case(ta, tb, 130, 300, 401, 2); /* big enough for the threaded split */
        tolerance_case(ta, tb, 300, 70, 129, 2);  /* split by rows */
      }
  }
  use_kernel(0);
}

/* Threads split whole register tiles: results are bit-identical to one thread.
 */
static void test_threads_bit_identical(void **state) {
  (void)state;
  need_bf16();
  for (int kern = 0; kern < kernel_count(); kern++) {
    use_kernel(kern);
    const int M = 77, N = 650, K = 300;
    float *A = tu_alloc_randn((size_t)M * K, 1.0f, 1), *B = tu_alloc_randn((size_t)K * N, 1.0f, 2);
    float *C1 = malloc((size_t)M * N * sizeof(float)), *C2 = malloc((size_t)M * N * sizeof(float));
    omp_set_num_threads(1);
    ibx_gemm_bf16(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
    omp_set_num_threads(2);
    ibx_gemm_bf16(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C2, N);
    assert_memory_equal(C1, C2, (size_t)M * N * sizeof(float));
    free(A), free(B), free(C1), free(C2);
  }
  use_kernel(0);
}

static void test_round_bf16(void **state) {
  (void)state;
  assert_true(ibx_round_bf16(1.0f) == 1.0f);
  assert_true(ibx_round_bf16(1.0f + 0x1p-8f) == 1.0f);               /* tie: to even */
  assert_true(ibx_round_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f); /* tie: to even */
  assert_true(ibx_round_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
  assert_true(ibx_round_bf16(-3.0f) == -3.0f);
  assert_true(isnan(ibx_round_bf16(NAN)));
  assert_true(isinf(ibx_round_bf16(INFINITY)));
}

/* ---- layers in bf16 against fp32 ------------------------------------------
 */

static float max_abs(const float *a, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; i++)
    m = fmaxf(m, fabsf(a[i]));
  return m;
}

/* A layer output in bf16 vs fp32: each entry is a sum of K products of unit
 * scale, so its bf16 error is ~2^-8 sqrt(K) typically and 2^-8 K at worst;
 * we allow 2^-8 * 4 sqrt(K) absolute on unit-variance data (well above the
 * typical, far below an indexing error, which is O(sqrt(K))). */
static void close_bf16(const char *what, const float *a, const float *ref, size_t n, int K) {
  const double scale = 1.0 + max_abs(ref, n) / sqrt((double)K);
  tu_assert_close(what, a, ref, n, 0.0, ldexp(1.0, -8) * 4.0 * sqrt((double)K) * scale);
}

static void conv_case(ibx_conv_algo algo, int N, int C, int O, int H, int W, uint64_t seed) {
  const size_t nx = (size_t)N * C * H * W, nw = (size_t)O * C * 9, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, seed), *w = tu_alloc_randn(nw, 1.0f, seed + 1);
  float *b = tu_alloc_randn((size_t)O, 1.0f, seed + 2), *dy = tu_alloc_randn(ny, 1.0f, seed + 3);
  float *y[2], *dx[2], *dw[2], *db[2];
  ibx_scratch s = {0};
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tb = ibx_t1(b, O);
  ibx_tensor tdy = ibx_t4(dy, N, O, H, W);
  ibx_conv2d L = {.in_channels = C,
                  .out_channels = O,
                  .kernel_h = 3,
                  .kernel_w = 3,
                  .stride = 1,
                  .pad_h = 1,
                  .pad_w = 1,
                  .algo = algo};
  for (int p = 0; p < 2; p++) {
    assert_ibx_ok(ibx_precision_set(p ? IBX_PRECISION_BF16 : IBX_PRECISION_FP32));
    y[p] = malloc(ny * sizeof(float)), dx[p] = malloc(nx * sizeof(float));
    dw[p] = calloc(nw, sizeof(float)), db[p] = calloc((size_t)O, sizeof(float));
    ibx_tensor ty = ibx_t4(y[p], N, O, H, W), tdx = ibx_t4(dx[p], N, C, H, W);
    ibx_tensor tdw = ibx_t4(dw[p], O, C, 3, 3), tdb = ibx_t1(db[p], O);
    assert_ibx_ok(ibx_conv2d_forward(&L, &tx, &tw, &tb, &ty, &s));
    assert_ibx_ok(ibx_conv2d_backward(&L, &tx, &tw, &tdy, &tdx, &tdw, &tdb, &s));
  }
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_FP32));
  close_bf16("conv forward", y[1], y[0], ny, 9 * C);
  close_bf16("conv dx", dx[1], dx[0], nx, 9 * O);
  close_bf16("conv dw", dw[1], dw[0], nw, N * H * W);
  assert_memory_equal(db[1], db[0], (size_t)O * sizeof(float)); /* a reduction: fp32 */
  for (int p = 0; p < 2; p++)
    free(y[p]), free(dx[p]), free(dw[p]), free(db[p]);
  free(x), free(w), free(b), free(dy);
  ibx_scratch_free(&s);
}

static void test_conv_bf16_vs_fp32(void **state) {
  (void)state;
  need_bf16();
  conv_case(IBX_CONV_WINOGRAD, 3, 13, 7, 9, 11, 10);
  conv_case(IBX_CONV_WINOGRAD, 2, 32, 24, 16, 16, 20);
  conv_case(IBX_CONV_WINOGRAD, 2, 40, 48, 10, 12, 25); /* every GEMM in bf16 */
  conv_case(IBX_CONV_IM2COL, 3, 5, 9, 7, 6, 30);
  conv_case(IBX_CONV_IM2COL, 4, 16, 8, 4, 4, 40); /* small maps: one batched GEMM */
  conv_case(IBX_CONV_IM2COL, 2, 8, 20, 7, 6, 50);  /* every GEMM in bf16 */
}

/* ibx_gemm in bf16: products that ibx_gemm_bf16_pays goes to the bf16 kernel
 * (the same bits as calling it), the others to sgemm (the fp32 bits). */
static void check_dispatch(int M, int N, int K, int want_bf16) {
  float *A = tu_alloc_randn((size_t)M * K, 1.0f, 60), *B = tu_alloc_randn((size_t)K * N, 1.0f, 61);
  float *C = calloc((size_t)M * N, sizeof(float)), *R = calloc((size_t)M * N, sizeof(float));
  assert_int_equal(ibx_gemm_bf16_pays(M, N, K), want_bf16);
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_FP32));
  ibx_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N); /* fp32 */
  if (want_bf16)
    ibx_gemm_bf16(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_BF16));
  ibx_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_FP32));
  assert_memory_equal(C, R, (size_t)M * N * sizeof(float));
  free(A), free(B), free(C), free(R);
}

static void test_small_products_stay_fp32(void **state) {
  (void)state;
  need_bf16();
  check_dispatch(16, 16, 32, 1);
  check_dispatch(40, 50, 70, 1);
  check_dispatch(16, 300, 1, 0);  /* one input channel */
  check_dispatch(16, 300, 31, 0); /* K under one AMX step */
  check_dispatch(15, 300, 64, 0);
  check_dispatch(16, 1, 500, 0);  /* a one-column weight gradient */
  /* the bf16 kernel really differs from sgemm on such data */
  float *A = tu_alloc_randn(40 * 70, 1.0f, 60), *B = tu_alloc_randn(70 * 50, 1.0f, 61);
  float C[40 * 50], R[40 * 50];
  ibx_gemm_bf16(0, 0, 40, 50, 70, 1.0f, A, 70, B, 50, 0.0f, C, 50);
  ibx_gemm(0, 0, 40, 50, 70, 1.0f, A, 70, B, 50, 0.0f, R, 50);
  assert_memory_not_equal(C, R, sizeof C);
  free(A), free(B);
}

static void test_linear_bf16_vs_fp32(void **state) {
  (void)state;
  need_bf16();
  /* every product (y: 37 x 40 x 75, dx: 37 x 75 x 40, dw: 40 x 75 x 37) is
   * one ibx_gemm_bf16_pays sends to the bf16 kernel */
  enum { N = 37, In = 75, O = 40 };
  float *x = tu_alloc_randn((size_t)N * In, 1.0f, 5), *w = tu_alloc_randn((size_t)O * In, 1.0f, 6);
  float *b = tu_alloc_randn((size_t)O, 1.0f, 7), *dy = tu_alloc_randn((size_t)N * O, 1.0f, 8);
  static float y[2][N * O], dx[2][N * In], dw[2][O * In], db[2][O];
  ibx_tensor tx = ibx_t2(x, N, In), tw = ibx_t2(w, O, In), tb = ibx_t1(b, O);
  ibx_tensor tdy = ibx_t2(dy, N, O);
  for (int p = 0; p < 2; p++) {
    assert_ibx_ok(ibx_precision_set(p ? IBX_PRECISION_BF16 : IBX_PRECISION_FP32));
    memset(dw[p], 0, sizeof dw[p]), memset(db[p], 0, sizeof db[p]);
    ibx_tensor ty = ibx_t2(y[p], N, O), tdx = ibx_t2(dx[p], N, In), tdw = ibx_t2(dw[p], O, In);
    ibx_tensor tdb = ibx_t1(db[p], O);
    assert_ibx_ok(ibx_linear_forward(&tx, &tw, &tb, &ty));
    assert_ibx_ok(ibx_linear_backward(&tx, &tw, &tdy, &tdx, &tdw, &tdb));
  }
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_FP32));
  close_bf16("linear y", y[1], y[0], (size_t)N * O, In);
  close_bf16("linear dx", dx[1], dx[0], (size_t)N * In, O);
  close_bf16("linear dw", dw[1], dw[0], (size_t)O * In, N);
  assert_memory_not_equal(y[1], y[0], sizeof y[0]); /* bf16 did run */
  assert_memory_not_equal(dx[1], dx[0], sizeof dx[0]);
  assert_memory_not_equal(dw[1], dw[0], sizeof dw[0]);
  assert_memory_equal(db[1], db[0], sizeof db[0]);
  free(x), free(w), free(b), free(dy);
}

/* ---- the setting and its errors
 * ---------------------------------------------- */

static void test_parse_and_default(void **state) {
  (void)state;
  ibx_precision p;
  assert_int_equal(ibx_precision_get(), IBX_PRECISION_FP32);
  assert_ibx_ok(ibx_precision_parse("bf16", &p));
  assert_int_equal(p, IBX_PRECISION_BF16);
  assert_ibx_ok(ibx_precision_parse("fp32", &p));
  assert_int_equal(p, IBX_PRECISION_FP32);
  assert_int_equal(ibx_precision_parse("fp16", &p), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "fp16"));
  assert_string_equal(ibx_precision_name(IBX_PRECISION_BF16), "bf16");
}

static void test_missing_bf16_is_an_error(void **state) {
  (void)state;
  assert_int_equal(setenv("IBX_CPU_NO_BF16", "1", 1), 0);
  assert_int_equal(ibx_cpu_has_bf16(), 0);
  assert_int_equal(ibx_precision_set(IBX_PRECISION_BF16), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "avx512_bf16"));
  assert_int_equal(ibx_precision_get(), IBX_PRECISION_FP32); /* unchanged */
  assert_ibx_ok(ibx_precision_set(IBX_PRECISION_FP32));
  assert_int_equal(unsetenv("IBX_CPU_NO_BF16"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_bf16),
      cmocka_unit_test(test_parse_and_default),
      cmocka_unit_test(test_missing_bf16_is_an_error),
      cmocka_unit_test(test_exact_on_odd_shapes),
      cmocka_unit_test(test_within_bf16_tolerance),
      cmocka_unit_test(test_threads_bit_identical),
      cmocka_unit_test(test_conv_bf16_vs_fp32),
      cmocka_unit_test(test_linear_bf16_vs_fp32),
      cmocka_unit_test(test_small_products_stay_fp32),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
