/* Winograd F(2x2,3x3) conv2d against the im2col reference: forward, dx, dw
 * (accumulating), db, on odd, tiny, non-square and multi-chunk shapes; one
 * finite-difference check of the Winograd path itself; and the argument
 * checks for kernels Winograd cannot do. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/memory.h"
#include "testutil.h"

static ibx_conv2d layer(int C, int O, ibx_conv_algo algo) {
  ibx_conv2d L = {.in_channels = C, .out_channels = O, .kernel_h = 3, .kernel_w = 3,
                  .stride = 1, .pad_h = 1, .pad_w = 1, .algo = algo};
  return L;
}

static float max_abs(const float *a, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; i++)
    m = fmaxf(m, fabsf(a[i]));
  return m;
}

/* Winograd vs im2col; float32 agreement to ~1e-5 of the output's scale. */
static void close_to(const char *what, const float *a, const float *ref, size_t n) {
  tu_assert_close(what, a, ref, n, 1e-4, 2e-5 * (1.0 + max_abs(ref, n)));
}

/* algo (WINOGRAD, or AUTO on a layer that picks Winograd) against im2col. */
static void compare_algo(ibx_conv_algo algo, int N, int C, int O, int H, int W, int with_dx,
                         uint64_t seed) {
  const size_t nx = (size_t)N * C * H * W, nw = (size_t)O * C * 9, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, seed);
  float *w = tu_alloc_randn(nw, 0.3f, seed + 1);
  float *b = tu_alloc_randn((size_t)O, 1.0f, seed + 2);
  float *dy = tu_alloc_randn(ny, 1.0f, seed + 3);
  float *dw0 = tu_alloc_randn(nw, 1.0f, seed + 4); /* gradients accumulate onto this */
  float *db0 = tu_alloc_randn((size_t)O, 1.0f, seed + 5);
  float *y[2], *dx[2], *dw[2], *db[2];
  ibx_scratch s = {0};
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tb = ibx_t1(b, O);
  ibx_tensor tdy = ibx_t4(dy, N, O, H, W);
  for (int a = 0; a < 2; a++) {
    ibx_conv2d L = layer(C, O, a ? algo : IBX_CONV_IM2COL);
    y[a] = malloc(ny * sizeof(float));
    dx[a] = malloc(nx * sizeof(float));
    dw[a] = malloc(nw * sizeof(float));
    db[a] = malloc((size_t)O * sizeof(float));
    memcpy(dw[a], dw0, nw * sizeof(float));
    memcpy(db[a], db0, (size_t)O * sizeof(float));
    memset(dx[a], 0xff, nx * sizeof(float)); /* NaN: dx must be overwritten */
    memset(y[a], 0xff, ny * sizeof(float));
    ibx_tensor ty = ibx_t4(y[a], N, O, H, W), tdx = ibx_t4(dx[a], N, C, H, W);
    ibx_tensor tdw = ibx_t4(dw[a], O, C, 3, 3), tdb = ibx_t1(db[a], O);
    assert_ibx_ok(ibx_conv2d_forward(&L, &tx, &tw, &tb, &ty, &s));
    assert_ibx_ok(ibx_conv2d_backward(&L, &tx, &tw, &tdy, with_dx ? &tdx : NULL, &tdw, &tdb, &s));
  }
  close_to("forward", y[1], y[0], ny);
  if (with_dx)
    close_to("dx", dx[1], dx[0], nx);
  close_to("dw", dw[1], dw[0], nw);
  close_to("db", db[1], db[0], (size_t)O);
  for (int a = 0; a < 2; a++) {
    free(y[a]), free(dx[a]), free(dw[a]), free(db[a]);
  }
  free(x), free(w), free(b), free(dy), free(dw0), free(db0);
  ibx_scratch_free(&s);
}

static void compare(int N, int C, int O, int H, int W, int with_dx, uint64_t seed) {
  compare_algo(IBX_CONV_WINOGRAD, N, C, O, H, W, with_dx, seed);
}

static void test_matches_im2col_small(void **state) {
  (void)state;
  compare(1, 1, 1, 1, 1, 1, 10);   /* one pixel */
  compare(1, 3, 5, 7, 5, 1, 20);   /* odd, non-square */
  compare(3, 3, 5, 2, 3, 1, 30);   /* batch 3, 2x3 */
  compare(3, 1, 5, 5, 7, 1, 40);   /* C = 1 */
  compare(2, 4, 1, 3, 1, 1, 50);   /* O = 1, one column */
  compare(1, 2, 3, 1, 6, 1, 60);   /* one row */
  compare(2, 6, 5, 4, 4, 0, 70);   /* dx not wanted */
}

static void test_matches_im2col_larger(void **state) {
  (void)state;
  compare(2, 3, 5, 33, 32, 1, 80);  /* CIFAR-sized, odd height */
  compare(1, 2, 3, 3, 131, 1, 90);  /* rows wider than one transform block */
  compare(2, 32, 32, 64, 64, 1, 100); /* several chunks */
  compare(4, 40, 24, 8, 8, 1, 110);
  compare(20, 6, 5, 4, 4, 1, 112); /* small planes: lane groups across images */
  compare(17, 5, 7, 3, 5, 1, 114);
  compare(130, 16, 24, 2, 2, 1, 116);
  compare_algo(IBX_CONV_AUTO, 3, 16, 8, 9, 10, 1, 120);
}

/* ---- AVX-512 transforms against the portable ones --------------------------
 * conv2d_winograd_avx512.c computes the same expressions in the same order,
 * so the results must be bit-identical; IBX_CPU_NO_AVX512=1 selects the
 * portable kernels. (On a CPU without AVX-512 both runs are portable.) */

/* y, dx, dw, db of one Winograd forward + backward, in one buffer. */
static float *wino_outputs(int N, int C, int O, int H, int W, uint64_t seed, size_t *n) {
  const size_t nx = (size_t)N * C * H * W, nw = (size_t)O * C * 9, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, seed), *w = tu_alloc_randn(nw, 0.3f, seed + 1);
  float *b = tu_alloc_randn((size_t)O, 1.0f, seed + 2), *dy = tu_alloc_randn(ny, 1.0f, seed + 3);
  *n = ny + nx + nw + (size_t)O;
  float *out = tu_alloc_randn(*n, 1.0f, seed + 4); /* dw, db accumulate onto random values */
  float *y = out, *dx = y + ny, *dw = dx + nx, *db = dw + nw;
  ibx_scratch s = {0};
  ibx_conv2d L = layer(C, O, IBX_CONV_WINOGRAD);
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tb = ibx_t1(b, O);
  ibx_tensor tdy = ibx_t4(dy, N, O, H, W), ty = ibx_t4(y, N, O, H, W);
  ibx_tensor tdx = ibx_t4(dx, N, C, H, W), tdw = ibx_t4(dw, O, C, 3, 3), tdb = ibx_t1(db, O);
  assert_ibx_ok(ibx_conv2d_forward(&L, &tx, &tw, &tb, &ty, &s));
  assert_ibx_ok(ibx_conv2d_backward(&L, &tx, &tw, &tdy, &tdx, &tdw, &tdb, &s));
  free(x), free(w), free(b), free(dy);
  ibx_scratch_free(&s);
  return out;
}

static void test_avx512_kernels_match_portable(void **state) {
  (void)state;
  /* every tile-row width 1 .. 18 (masks, odd W), 33 (a 16-lane block plus
   * tails), odd H, 1000+ filter pairs (several gather blocks with a tail) */
  static const int shapes[][5] = {{2, 3, 5, 7, 1},    {1, 2, 3, 2, 2},    {3, 3, 5, 5, 3},
                                  {2, 4, 4, 4, 4},    {1, 5, 3, 9, 7},    {2, 3, 2, 8, 8},
                                  {1, 2, 5, 11, 15},  {2, 3, 4, 6, 16},   {1, 3, 3, 5, 17},
                                  {1, 2, 2, 3, 31},   {1, 2, 3, 32, 32},  {1, 2, 2, 4, 35},
                                  {1, 3, 2, 3, 66},   {2, 37, 29, 6, 6},  {1, 64, 40, 4, 4},
                                  {1, 20, 30, 2, 2},
                                  /* small planes in lane groups of 16 tiles that span
                                   * images: 1, 4, 9 (straddling planes), 6, 16, 64 tiles
                                   * per plane, short last groups */
                                  {9, 5, 6, 2, 2},    {20, 3, 7, 4, 4},   {7, 4, 3, 3, 3},
                                  {5, 3, 4, 6, 6},    {6, 4, 5, 7, 5},    {3, 6, 5, 16, 16},
                                  {33, 17, 9, 1, 1},  {70, 24, 40, 4, 4}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    const int *d = shapes[k];
    size_t n = 0, n2 = 0;
    assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
    float *fast = wino_outputs(d[0], d[1], d[2], d[3], d[4], 300 + 10 * k, &n);
    assert_int_equal(setenv("IBX_CPU_NO_AVX512", "1", 1), 0);
    float *portable = wino_outputs(d[0], d[1], d[2], d[3], d[4], 300 + 10 * k, &n2);
    assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
    assert_int_equal(n, n2);
    for (size_t i = 0; i < n; i++)
      if (memcmp(&fast[i], &portable[i], sizeof(float)) != 0)
        fail_msg("shape N%d C%d O%d H%d W%d: value %zu differs: %.9g (AVX-512) vs %.9g", d[0],
                 d[1], d[2], d[3], d[4], i, (double)fast[i], (double)portable[i]);
    free(fast), free(portable);
  }
}

/* The im2col comparisons again with the portable transforms. */
static void test_portable_kernels_match_im2col(void **state) {
  assert_int_equal(setenv("IBX_CPU_NO_AVX512", "1", 1), 0);
  test_matches_im2col_small(state);
  test_matches_im2col_larger(state);
  assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
}

/* ---- finite differences of the Winograd path ----------------------------- */

typedef struct {
  ibx_conv2d L;
  ibx_tensor x, w, b, y;
  const float *G;
  ibx_scratch *s;
} fd_ctx;

static double fd_loss(void *p) {
  fd_ctx *c = p;
  if (ibx_conv2d_forward(&c->L, &c->x, &c->w, &c->b, &c->y, c->s) != IBX_OK)
    fail_msg("forward failed: %s", ibx_errmsg());
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_finite_difference(void **state) {
  (void)state;
  const int N = 2, C = 2, O = 3, H = 5, W = 4;
  const size_t nx = (size_t)N * C * H * W, nw = (size_t)O * C * 9, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, 200), *w = tu_alloc_randn(nw, 0.5f, 201);
  float *b = tu_alloc_randn((size_t)O, 1.0f, 202), *G = tu_alloc_randn(ny, 1.0f, 203);
  float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  float *dw = calloc(nw, sizeof(float)), *db = calloc((size_t)O, sizeof(float));
  ibx_scratch s = {0};
  fd_ctx c = {.L = layer(C, O, IBX_CONV_WINOGRAD), .x = ibx_t4(x, N, C, H, W),
              .w = ibx_t4(w, O, C, 3, 3), .b = ibx_t1(b, O), .y = ibx_t4(y, N, O, H, W),
              .G = G, .s = &s};
  ibx_tensor tG = ibx_t4(G, N, O, H, W), tdx = ibx_t4(dx, N, C, H, W);
  ibx_tensor tdw = ibx_t4(dw, O, C, 3, 3), tdb = ibx_t1(db, O);
  fd_loss(&c);
  assert_ibx_ok(ibx_conv2d_backward(&c.L, &c.x, &c.w, &tG, &tdx, &tdw, &tdb, &s));
  tu_check_grad("winograd dx", fd_loss, &c, x, dx, nx, 1e-2f, 1e-3, 1e-3, 0);
  tu_check_grad("winograd dw", fd_loss, &c, w, dw, nw, 1e-2f, 1e-3, 1e-3, 0);
  tu_check_grad("winograd db", fd_loss, &c, b, db, (size_t)O, 1e-2f, 1e-3, 1e-3, 0);
  free(x), free(w), free(b), free(G), free(y), free(dx), free(dw), free(db);
  ibx_scratch_free(&s);
}

/* ---- Winograd only does 3x3, stride 1, pad 1 ------------------------------ */

static void expect_arg_error(int k, int stride, int pad) {
  const int N = 1, C = 2, O = 2, H = 8, W = 8;
  ibx_conv2d L = {.in_channels = C, .out_channels = O, .kernel_h = k, .kernel_w = k,
                  .stride = stride, .pad_h = pad, .pad_w = pad, .algo = IBX_CONV_WINOGRAD};
  const int OH = ibx_conv2d_out_size(H, k, stride, pad), OW = ibx_conv2d_out_size(W, k, stride, pad);
  float *x = calloc((size_t)N * C * H * W, sizeof(float)), *dx = calloc((size_t)N * C * H * W, 4);
  float *w = calloc((size_t)O * C * k * k, sizeof(float)), *dw = calloc((size_t)O * C * k * k, 4);
  float *y = calloc((size_t)N * O * OH * OW, sizeof(float));
  ibx_scratch s = {0};
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, k, k), ty = ibx_t4(y, N, O, OH, OW);
  ibx_tensor tdx = ibx_t4(dx, N, C, H, W), tdw = ibx_t4(dw, O, C, k, k);
  assert_int_equal(ibx_conv2d_forward(&L, &tx, &tw, NULL, &ty, &s), IBX_ERR_ARG);
  assert_int_equal(ibx_conv2d_backward(&L, &tx, &tw, &ty, &tdx, &tdw, NULL, &s), IBX_ERR_ARG);
  /* The same layer with AUTO falls back to im2col. */
  L.algo = IBX_CONV_AUTO;
  assert_ibx_ok(ibx_conv2d_forward(&L, &tx, &tw, NULL, &ty, &s));
  free(x), free(dx), free(w), free(dw), free(y);
  ibx_scratch_free(&s);
}

static void test_rejects_other_kernels(void **state) {
  (void)state;
  expect_arg_error(5, 1, 2); /* 5x5 */
  expect_arg_error(3, 2, 1); /* stride 2 */
  expect_arg_error(3, 1, 0); /* no padding */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_im2col_small),
      cmocka_unit_test(test_matches_im2col_larger),
      cmocka_unit_test(test_avx512_kernels_match_portable),
      cmocka_unit_test(test_portable_kernels_match_im2col),
      cmocka_unit_test(test_finite_difference),
      cmocka_unit_test(test_rejects_other_kernels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
