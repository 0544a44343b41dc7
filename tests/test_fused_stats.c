/* Reductions fused into the convolution (conv2d.c, conv2d_winograd.c):
 * - ibx_conv2d_forward_moments: the batch-norm moments of every output plane,
 *   computed from the planes while the Winograd output phase has them in
 *   cache (where a block is a whole plane) or by a separate pass otherwise,
 *   must equal ibx_bn_moments_of on the output exactly (the same computation
 *   on the same values), and the output must equal ibx_conv2d_forward's;
 * - batch norm started from those moments gives exactly what it computes on
 *   its own;
 * - the Winograd bias gradient (plane sums from the dy transform) equals the
 *   separate ibx_conv_bias_grad pass (the im2col path) exactly;
 * - ibx_bn_moments_merge against the moments of the union;
 * - batch norm's sums down the batch by channel for small planes (forward
 *   statistics, backward dgamma/dbeta) against a double-precision reference;
 * each with the AVX-512 and the portable transforms (IBX_CPU_NO_AVX512=1) and
 * with 1 and 2 threads, on odd shapes, several chunks, and a layer whose
 * blocks are not whole planes (the separate pass). */
#include <math.h>
#include <omp.h>
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

static void same_floats(const char *what, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
      fail_msg("%s: value %zu differs: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

static void same_moments(const char *what, const ibx_bn_moments *a, const ibx_bn_moments *b,
                         size_t n) {
  if (memcmp(a, b, n * sizeof *a) != 0)
    for (size_t i = 0; i < n; i++)
      if (memcmp(&a[i], &b[i], sizeof *a) != 0)
        fail_msg("%s: plane %zu: count %g sum %.17g mean %.9g sqdev %.17g vs count %g sum "
                 "%.17g mean %.9g sqdev %.17g",
                 what, i, a[i].count, a[i].sum, a[i].mean, a[i].sqdev, b[i].count, b[i].sum,
                 b[i].mean, b[i].sqdev);
}

/* Forward with moments against forward + ibx_bn_moments_of, one shape, algo. */
static void check_forward_moments(ibx_conv_algo algo, int N, int C, int O, int H, int W,
                                  uint64_t seed) {
  const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * H * W, S = (size_t)H * W;
  float *x = tu_alloc_randn(nx, 1.0f, seed), *w = tu_alloc_randn((size_t)O * C * 9, 0.3f, seed + 1);
  float *b = tu_alloc_randn((size_t)O, 3.0f, seed + 2); /* means away from 0 */
  float *y0 = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
  ibx_bn_moments *fused = malloc((size_t)N * O * sizeof *fused);
  ibx_bn_moments *ref = malloc((size_t)N * O * sizeof *ref);
  ibx_scratch s = {0};
  ibx_conv2d L = layer(C, O, algo);
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tb = ibx_t1(b, O);
  ibx_tensor t0 = ibx_t4(y0, N, O, H, W), t1 = ibx_t4(y1, N, O, H, W);
  assert_ibx_ok(ibx_conv2d_forward(&L, &tx, &tw, &tb, &t0, &s));
  memset(fused, 0xff, (size_t)N * O * sizeof *fused); /* NaN: must be overwritten */
  assert_ibx_ok(ibx_conv2d_forward_moments(&L, &tx, &tw, &tb, &t1, &s, fused));
  same_floats("output with moments", y1, y0, ny);
  for (size_t p = 0; p < (size_t)N * O; p++)
    ibx_bn_moments_of(y0 + p * S, (long)S, &ref[p]);
  same_moments("fused moments", fused, ref, (size_t)N * O);
  free(x), free(w), free(b), free(y0), free(y1), free(fused), free(ref);
  ibx_scratch_free(&s);
}

/* Winograd's fused bias gradient against im2col's separate pass. */
static void check_bias_grad(int N, int C, int O, int H, int W, uint64_t seed) {
  const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, seed), *w = tu_alloc_randn((size_t)O * C * 9, 0.3f, seed + 1);
  float *dy = tu_alloc_randn(ny, 1.0f, seed + 2), *dx = malloc(nx * sizeof(float));
  float *db0 = tu_alloc_randn((size_t)O, 1.0f, seed + 3), *db[2];
  float *dw = calloc((size_t)O * C * 9, sizeof(float));
  ibx_scratch s = {0};
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tdy = ibx_t4(dy, N, O, H, W);
  ibx_tensor tdx = ibx_t4(dx, N, C, H, W), tdw = ibx_t4(dw, O, C, 3, 3);
  for (int a = 0; a < 2; a++) {
    ibx_conv2d L = layer(C, O, a ? IBX_CONV_WINOGRAD : IBX_CONV_IM2COL);
    db[a] = malloc((size_t)O * sizeof(float));
    memcpy(db[a], db0, (size_t)O * sizeof(float)); /* accumulates */
    ibx_tensor tdb = ibx_t1(db[a], O);
    assert_ibx_ok(ibx_conv2d_backward(&L, &tx, &tw, &tdy, a ? &tdx : NULL, &tdw, &tdb, &s));
  }
  same_floats("bias gradient", db[1], db[0], (size_t)O);
  free(x), free(w), free(dy), free(dx), free(db0), free(db[0]), free(db[1]), free(dw);
  ibx_scratch_free(&s);
}

/* N C O H W: odd and non-square maps, one pixel, a private-mode layer with
 * many chunks (N 24 of 16 x 16 with few channels), the quarter-width VGG's
 * deepest shapes, and 3 x 131 (rows wider than a transform block: blocks are
 * not whole planes, the separate pass). */
static const int shapes[][5] = {{2, 8, 5, 7, 5},    {3, 9, 4, 1, 1},    {1, 8, 3, 2, 3},
                                {24, 8, 8, 16, 16}, {5, 16, 12, 9, 11}, {4, 32, 32, 4, 4},
                                {6, 32, 24, 2, 2},  {2, 8, 3, 3, 131}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static void run_all(void) {
  for (size_t k = 0; k < NSHAPES; k++) {
    const int *d = shapes[k];
    check_forward_moments(IBX_CONV_WINOGRAD, d[0], d[1], d[2], d[3], d[4], 700 + 10 * k);
    check_forward_moments(IBX_CONV_IM2COL, d[0], d[1], d[2], d[3], d[4], 800 + 10 * k);
    check_bias_grad(d[0], d[1], d[2], d[3], d[4], 900 + 10 * k);
  }
}

static void test_fused_equals_separate(void **state) {
  (void)state;
  const int threads = omp_get_max_threads();
  for (int t = 1; t <= 2; t++) {
    omp_set_num_threads(t);
    assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
    run_all();
    assert_int_equal(setenv("IBX_CPU_NO_AVX512", "1", 1), 0);
    run_all();
    assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
  }
  omp_set_num_threads(threads);
}

/* Batch norm (+ ReLU) from the conv's moments gives bit for bit what it
 * computes itself: statistics, running statistics and output. */
static void test_batchnorm_from_moments(void **state) {
  (void)state;
  const int N = 6, C = 16, O = 12, H = 9, W = 8; /* 72 >= IBX_BN_COLUMN_PLANE */
  const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * H * W;
  float *x = tu_alloc_randn(nx, 1.0f, 40), *w = tu_alloc_randn((size_t)O * C * 9, 0.3f, 41);
  float *b = tu_alloc_randn((size_t)O, 5.0f, 42), *z = malloc(ny * sizeof(float));
  float *gamma = tu_alloc_randn((size_t)O, 1.0f, 43), *beta = tu_alloc_randn((size_t)O, 1.0f, 44);
  ibx_bn_moments *planes = malloc((size_t)N * O * sizeof *planes);
  ibx_scratch s = {0};
  ibx_conv2d L = layer(C, O, IBX_CONV_WINOGRAD);
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tw = ibx_t4(w, O, C, 3, 3), tb = ibx_t1(b, O);
  ibx_tensor tz = ibx_t4(z, N, O, H, W), tg = ibx_t1(gamma, O), tbe = ibx_t1(beta, O);
  assert_ibx_ok(ibx_conv2d_forward_moments(&L, &tx, &tw, &tb, &tz, &s, planes));
  ibx_batchnorm bn = {O, 1e-5f, 0.1f, NULL, NULL};
  float *out[2], *rs[2], *save[2];
  for (int a = 0; a < 2; a++) {
    out[a] = malloc(ny * sizeof(float));
    rs[a] = malloc(2 * (size_t)O * sizeof(float)); /* running mean, var */
    save[a] = malloc(2 * (size_t)O * sizeof(float));
    for (int c = 0; c < O; c++)
      rs[a][c] = 0.5f, rs[a][O + c] = 2.0f;
    ibx_tensor ty = ibx_t4(out[a], N, O, H, W), rm = ibx_t1(rs[a], O), rv = ibx_t1(rs[a] + O, O);
    if (a)
      assert_ibx_ok(ibx_batchnorm_forward_moments(&bn, &tz, &tg, &tbe, &rm, &rv, 1, 1, planes,
                                                  &ty, save[a], save[a] + O));
    else
      assert_ibx_ok(ibx_batchnorm_relu_forward(&bn, &tz, &tg, &tbe, &rm, &rv, 1, &ty, save[a],
                                               save[a] + O));
  }
  same_floats("batch-norm output", out[1], out[0], ny);
  same_floats("running statistics", rs[1], rs[0], 2 * (size_t)O);
  same_floats("saved statistics", save[1], save[0], 2 * (size_t)O);
  for (int a = 0; a < 2; a++)
    free(out[a]), free(rs[a]), free(save[a]);
  free(x), free(w), free(b), free(z), free(gamma), free(beta), free(planes);
  ibx_scratch_free(&s);
}

/* Merging parts gives the moments of the union: the sum and the count
 * exactly (integers here), the squared deviations to the float rounding of
 * the parts' own sums (~1e-7), also for values with a mean far from 0 (where
 * sum x^2 - n mean^2 in float would lose everything). */
static void test_moments_merge(void **state) {
  (void)state;
  enum { N = 1000 };
  float *v = malloc(N * sizeof(float));
  for (int shift = 0; shift < 2; shift++) {
    for (int i = 0; i < N; i++)
      v[i] = (float)((i * 37) % 101 - 50) + (shift ? 1.0e4f : 0.0f);
    double mean = 0.0, sq = 0.0;
    for (int i = 0; i < N; i++)
      mean += v[i];
    mean /= N;
    for (int i = 0; i < N; i++)
      sq += (v[i] - mean) * (v[i] - mean);
    static const int cuts[] = {0, 1, 7, 300, 301, 999, N};
    ibx_bn_moments parts[6], all, whole;
    for (int k = 0; k < 6; k++)
      ibx_bn_moments_of(v + cuts[k], cuts[k + 1] - cuts[k], &parts[k]);
    ibx_bn_moments_merge(parts, 6, &all);
    ibx_bn_moments_of(v, N, &whole);
    assert_true(all.count == N);
    assert_true(all.sum == whole.sum);
    assert_true(all.mean == whole.mean);
    assert_true(fabs(all.sqdev - sq) <= 1e-6 * sq);
    assert_true(fabs(whole.sqdev - sq) <= 1e-6 * sq);
    ibx_bn_moments one;
    ibx_bn_moments_merge(&whole, 1, &one);
    assert_memory_equal(&one, &whole, sizeof one);
  }
  free(v);
}


/* Small planes (fewer than IBX_BN_COLUMN_PLANE values) take the column sums:
 * batch statistics and dgamma, dbeta against a double-precision reference,
 * with a mean far from 0 in some channels, with 1 and 2 threads. */
static void test_batchnorm_small_planes(void **state) {
  (void)state;
  static const int sizes[][2] = {{1, 1}, {2, 2}, {4, 4}, {3, 5}, {7, 9}};
  const int threads = omp_get_max_threads();
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (int t = 1; t <= 2; t++) {
      omp_set_num_threads(t);
      const int N = 70, C = 37, H = sizes[k][0], W = sizes[k][1], S = H * W;
      const size_t n = (size_t)N * C * S;
      float *x = tu_alloc_randn(n, 1.0f, 60 + k), *dy = tu_alloc_randn(n, 1.0f, 70 + k);
      float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
      for (size_t i = 0; i < n; i++)
        x[i] += (float)((i / S) % C % 3 == 0 ? 1000 : 0); /* channels with mean ~1000 */
      float gamma[37], beta[37], rm[37], rv[37], sm[37], si[37], dg[37] = {0}, db[37] = {0};
      for (int c = 0; c < C; c++)
        gamma[c] = 1.0f + 0.01f * c, beta[c] = 0.1f * c, rm[c] = 0.0f, rv[c] = 1.0f;
      ibx_batchnorm bn = {C, 1e-5f, 0.1f, NULL, NULL};
      ibx_tensor tx = ibx_t4(x, N, C, H, W), ty = ibx_t4(y, N, C, H, W), tdy = ibx_t4(dy, N, C, H, W);
      ibx_tensor tdx = ibx_t4(dx, N, C, H, W), tg = ibx_t1(gamma, C), tb = ibx_t1(beta, C);
      ibx_tensor trm = ibx_t1(rm, C), trv = ibx_t1(rv, C), tdg = ibx_t1(dg, C), tdb = ibx_t1(db, C);
      assert_ibx_ok(ibx_batchnorm_forward(&bn, &tx, &tg, &tb, &trm, &trv, 1, &ty, sm, si));
      assert_ibx_ok(ibx_batchnorm_backward(&bn, &tx, &tg, sm, si, 1, &tdy, &tdx, &tdg, &tdb));
      for (int c = 0; c < C; c++) {
        double mean = 0.0, var = 0.0, sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < N; i++)
          for (int j = 0; j < S; j++)
            mean += x[((size_t)i * C + c) * S + j];
        mean /= (double)N * S;
        for (int i = 0; i < N; i++)
          for (int j = 0; j < S; j++) {
            const size_t at = ((size_t)i * C + c) * S + j;
            var += (x[at] - mean) * (x[at] - mean);
          }
        var /= (double)N * S;
        const double invstd = 1.0 / sqrt(var + 1e-5);
        for (int i = 0; i < N; i++)
          for (int j = 0; j < S; j++) {
            const size_t at = ((size_t)i * C + c) * S + j;
            sdy += dy[at], sdyx += dy[at] * (x[at] - mean) * invstd;
          }
        if (fabs(sm[c] - mean) > 1e-6 * (1.0 + fabs(mean)) || fabs(si[c] - invstd) > 1e-5 * invstd ||
            fabs(db[c] - sdy) > 1e-4 * (1.0 + fabs(sdy)) || fabs(dg[c] - sdyx) > 1e-3 * (1.0 + fabs(sdyx)))
          fail_msg("S %d threads %d channel %d: mean %.9g vs %.9g, invstd %.9g vs %.9g, dbeta %.9g "
                   "vs %.9g, dgamma %.9g vs %.9g",
                   S, t, c, (double)sm[c], mean, (double)si[c], invstd, (double)db[c], sdy,
                   (double)dg[c], sdyx);
      }
      free(x), free(dy), free(y), free(dx);
    }
  omp_set_num_threads(threads);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fused_equals_separate),
      cmocka_unit_test(test_batchnorm_from_moments),
      cmocka_unit_test(test_moments_merge),
      cmocka_unit_test(test_batchnorm_small_planes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
