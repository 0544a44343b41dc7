/* Finite-difference gradient checks for batch normalisation (2-D and 1-D,
 * training and eval) and pooling (max, average with padding, global average),
 * plus the running-statistics update of batch norm.
 *
 * Method: L = sum(y .* G) for a fixed random G (dL/dy = G), summed in double
 * by tu_dot; central differences with step eps against backward.
 *
 * Tolerances (|fd - an| <= atol + rtol * max(|fd|, |an|)):
 *  - pooling: eps 1e-2, rtol 1e-2, atol 1e-3. Pooling is piecewise linear, so
 *    the difference is exact as long as no window's argmax changes; max-pool
 *    inputs are a shuffled grid of values 0.05 apart (no ties, no swap under a
 *    1e-2 step). What is left is float32 rounding of the few outputs one input
 *    touches (~1e-6 in L, ~1e-4 after dividing by 2*eps).
 *  - batch norm: eps 1e-2, rtol 1e-2, atol 2e-3. Training mode is non-linear
 *    (the batch mean and variance depend on x), so the central difference has
 *    an O(eps^2) truncation error (~1e-5 here), and one input moves every
 *    output of its channel: float32 rounding of invstd and of all M outputs
 *    of the channel enters L coherently, ~M * 6e-8 * |G| ~ 1e-5, i.e. ~5e-4
 *    after dividing by 2*eps. atol 2e-3 leaves a 4x margin; rtol 1e-2 covers
 *    the float32 sums in backward. Eval mode is affine, so it is as exact as
 *    pooling but uses the same tolerance.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/rng.h"

#define EPS 1e-2f

/* ---- batch norm ---------------------------------------------------------- */

typedef struct {
  ibx_batchnorm L;
  ibx_tensor x, y; /* x is [N,C] or [N,C,H,W] */
  float *gamma, *beta, *rmean, *rvar, *G;
  float *save_mean, *save_invstd;
  int training;
} bn_ctx;

static double bn_loss(void *p) {
  bn_ctx *c = p;
  const int C = c->L.channels;
  ibx_tensor g = ibx_t1(c->gamma, C), b = ibx_t1(c->beta, C);
  ibx_tensor rm = ibx_t1(c->rmean, C), rv = ibx_t1(c->rvar, C);
  assert_ibx_ok(ibx_batchnorm_forward(&c->L, &c->x, &g, &b, &rm, &rv, c->training, &c->y,
                                      c->save_mean, c->save_invstd));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void run_bn(const char *name, int ndim, int N, int C, int H, int W, int training) {
  bn_ctx c;
  memset(&c, 0, sizeof c);
  c.L = (ibx_batchnorm){.channels = C, .eps = 1e-5f, .momentum = 0.1f};
  c.training = training;
  const size_t n = (size_t)N * C * (ndim == 4 ? H * W : 1);
  float *xd = tu_alloc_randn(n, 1.5f, 21);
  for (size_t i = 0; i < n; i++) /* per-channel offsets so mean != 0 */
    xd[i] += 0.3f * (float)((i / (ndim == 4 ? (size_t)H * W : 1)) % (size_t)C);
  float *yd = calloc(n, sizeof(float));
  c.x = ndim == 4 ? ibx_t4(xd, N, C, H, W) : ibx_t2(xd, N, C);
  c.y = ndim == 4 ? ibx_t4(yd, N, C, H, W) : ibx_t2(yd, N, C);
  c.gamma = tu_alloc_randn((size_t)C, 0.5f, 22);
  for (int i = 0; i < C; i++)
    c.gamma[i] += 1.0f;
  c.beta = tu_alloc_randn((size_t)C, 0.5f, 23);
  c.rmean = tu_alloc_randn((size_t)C, 0.3f, 24);
  c.rvar = tu_alloc_randn((size_t)C, 0.3f, 25);
  for (int i = 0; i < C; i++)
    c.rvar[i] = 0.5f + fabsf(c.rvar[i]);
  c.G = tu_alloc_randn(n, 1.0f, 26);
  c.save_mean = calloc((size_t)C, sizeof(float));
  c.save_invstd = calloc((size_t)C, sizeof(float));
  float *dx = calloc(n, sizeof(float));
  float *dgamma = calloc((size_t)C, sizeof(float));
  float *dbeta = calloc((size_t)C, sizeof(float));
  assert_true(yd && c.save_mean && c.save_invstd && dx && dgamma && dbeta);

  (void)bn_loss(&c);
  ibx_tensor dy = c.x, dxt = c.x, dg = ibx_t1(dgamma, C), dbt = ibx_t1(dbeta, C);
  dy.data = c.G;
  dxt.data = dx;
  ibx_tensor gamma = ibx_t1(c.gamma, C);
  assert_ibx_ok(ibx_batchnorm_backward(&c.L, &c.x, &gamma, c.save_mean, c.save_invstd, training,
                                       &dy, &dxt, &dg, &dbt));

  char what[160];
  const double rtol = 1e-2, atol = 2e-3;
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, bn_loss, &c, xd, dx, n, EPS, rtol, atol, 0);
  snprintf(what, sizeof what, "%s: dgamma", name);
  tu_check_grad(what, bn_loss, &c, c.gamma, dgamma, (size_t)C, EPS, rtol, atol, 0);
  snprintf(what, sizeof what, "%s: dbeta", name);
  tu_check_grad(what, bn_loss, &c, c.beta, dbeta, (size_t)C, EPS, rtol, atol, 0);

  if (training) { /* the batch-statistics gradient sums to zero per channel */
    const size_t S = ndim == 4 ? (size_t)H * W : 1;
    for (int ch = 0; ch < C; ch++) {
      double sum = 0.0;
      for (int i = 0; i < N; i++)
        for (size_t s = 0; s < S; s++)
          sum += dx[((size_t)i * C + ch) * S + s];
      assert_true(fabs(sum) < 1e-4);
    }
  }

  free(xd), free(yd), free(c.gamma), free(c.beta), free(c.rmean), free(c.rvar), free(c.G);
  free(c.save_mean), free(c.save_invstd), free(dx), free(dgamma), free(dbeta);
}

static void test_bn2d_train(void **state) {
  (void)state;
  run_bn("bn2d train", 4, 3, 4, 3, 5, 1);
}
static void test_bn2d_train_batch1(void **state) {
  (void)state;
  run_bn("bn2d train N1", 4, 1, 3, 4, 3, 1);
}
static void test_bn2d_eval(void **state) {
  (void)state;
  run_bn("bn2d eval", 4, 2, 3, 4, 5, 0);
}
static void test_bn1d_train(void **state) {
  (void)state;
  run_bn("bn1d train", 2, 6, 5, 1, 1, 1);
}
static void test_bn1d_eval(void **state) {
  (void)state;
  run_bn("bn1d eval", 2, 4, 5, 1, 1, 0);
}

/* Running statistics: running = (1-m)*running + m*batch with the unbiased
 * batch variance (PyTorch); eval then normalises with them. */
static void test_bn_running_stats(void **state) {
  (void)state;
  float x[8] = {1, 2, 3, 6, /* channel 0 */ -1, -1, 1, 1 /* channel 1 */};
  /* [N=4, C=2] laid out as rows (x0c0, x0c1), ... */
  float xr[8];
  for (int n = 0; n < 4; n++)
    xr[n * 2 + 0] = x[n], xr[n * 2 + 1] = x[4 + n];
  float y[8], gamma[2] = {1, 1}, beta[2] = {0, 0}, rm[2] = {0.5f, 0}, rv[2] = {1, 2};
  float sm[2], si[2];
  ibx_batchnorm L = {.channels = 2, .eps = 1e-5f, .momentum = 0.1f};
  ibx_tensor xt = ibx_t2(xr, 4, 2), yt = ibx_t2(y, 4, 2);
  ibx_tensor g = ibx_t1(gamma, 2), b = ibx_t1(beta, 2), rmt = ibx_t1(rm, 2), rvt = ibx_t1(rv, 2);
  assert_ibx_ok(ibx_batchnorm_forward(&L, &xt, &g, &b, &rmt, &rvt, 1, &yt, sm, si));
  /* channel 0: mean 3, biased var (4+1+0+9)/4 = 3.5, unbiased 14/3 */
  assert_float_equal(sm[0], 3.0f, 1e-6f);
  assert_float_equal(si[0], 1.0f / sqrtf(3.5f + 1e-5f), 1e-6f);
  assert_float_equal(rm[0], 0.9f * 0.5f + 0.1f * 3.0f, 1e-6f);
  assert_float_equal(rv[0], 0.9f * 1.0f + 0.1f * (14.0f / 3.0f), 1e-6f);
  /* channel 1: mean 0, biased var 1, unbiased 4/3 */
  assert_float_equal(rm[1], 0.0f, 1e-6f);
  assert_float_equal(rv[1], 0.9f * 2.0f + 0.1f * (4.0f / 3.0f), 1e-6f);
  assert_float_equal(y[0 * 2 + 1], -1.0f / sqrtf(1.0f + 1e-5f), 1e-6f);

  /* eval uses the running statistics and leaves them alone */
  const float rm0 = rm[0], rv0 = rv[0];
  assert_ibx_ok(ibx_batchnorm_forward(&L, &xt, &g, &b, &rmt, &rvt, 0, &yt, sm, si));
  assert_float_equal(rm[0], rm0, 0.0f);
  assert_float_equal(rv[0], rv0, 0.0f);
  assert_float_equal(y[3 * 2 + 0], (6.0f - rm0) / sqrtf(rv0 + 1e-5f), 1e-5f);
}

/* ---- pooling ------------------------------------------------------------- */

typedef enum { POOL_MAX, POOL_AVG, POOL_GLOBAL } pool_kind;

typedef struct {
  pool_kind kind;
  ibx_pool2d L;
  ibx_tensor x, y;
  float *G;
} pool_ctx;

static double pool_loss(void *p) {
  pool_ctx *c = p;
  switch (c->kind) {
  case POOL_MAX:
    assert_ibx_ok(ibx_maxpool2d_forward(&c->L, &c->x, &c->y));
    break;
  case POOL_AVG:
    assert_ibx_ok(ibx_avgpool2d_forward(&c->L, &c->x, &c->y));
    break;
  case POOL_GLOBAL:
    assert_ibx_ok(ibx_global_avgpool_forward(&c->x, &c->y));
    break;
  }
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

/* n distinct values 0.05 apart (centred on 0), in a shuffled order. */
static void fill_distinct(float *x, size_t n, uint64_t stream) {
  for (size_t i = 0; i < n; i++)
    x[i] = 0.05f * ((float)i - 0.5f * (float)n);
  for (size_t i = n - 1; i > 0; i--) {
    const size_t j = (size_t)(ibx_rng_uniform(99, stream, i) * (float)(i + 1)) % (i + 1);
    const float t = x[i];
    x[i] = x[j], x[j] = t;
  }
}

static void run_pool(const char *name, pool_kind kind, int N, int C, int H, int W, int k, int s,
                     int pad) {
  pool_ctx c;
  memset(&c, 0, sizeof c);
  c.kind = kind;
  c.L = (ibx_pool2d){k, s, pad};
  const size_t n = (size_t)N * C * H * W;
  float *xd = malloc(n * sizeof(float));
  fill_distinct(xd, n, 31);
  c.x = ibx_t4(xd, N, C, H, W);
  int OH = 1, OW = 1;
  if (kind == POOL_GLOBAL) {
    c.y = ibx_t2(NULL, N, C);
  } else {
    OH = ibx_pool2d_out_size(H, &c.L), OW = ibx_pool2d_out_size(W, &c.L);
    c.y = ibx_t4(NULL, N, C, OH, OW);
  }
  const size_t m = (size_t)ibx_numel(&c.y);
  c.y.data = calloc(m, sizeof(float));
  c.G = tu_alloc_randn(m, 1.0f, 32);
  float *dx = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    dx[i] = NAN; /* backward must overwrite every element */
  assert_true(xd && c.y.data && dx);

  (void)pool_loss(&c);
  ibx_tensor dy = c.y, dxt = c.x;
  dy.data = c.G;
  dxt.data = dx;
  switch (kind) {
  case POOL_MAX:
    assert_ibx_ok(ibx_maxpool2d_backward(&c.L, &c.x, &dy, &dxt));
    break;
  case POOL_AVG:
    assert_ibx_ok(ibx_avgpool2d_backward(&c.L, &dy, &dxt));
    break;
  case POOL_GLOBAL:
    assert_ibx_ok(ibx_global_avgpool_backward(&dy, &dxt));
    break;
  }
  for (size_t i = 0; i < n; i++)
    assert_false(isnan(dx[i]));
  char what[160];
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, pool_loss, &c, xd, dx, n, EPS, 1e-2, 1e-3, 0);
  free(xd), free(c.y.data), free(c.G), free(dx);
}

static void test_maxpool_2x2_s2(void **state) {
  (void)state;
  run_pool("maxpool 2x2 s2", POOL_MAX, 2, 3, 6, 8, 2, 2, 0);
  run_pool("maxpool 2x2 s2 odd", POOL_MAX, 1, 2, 7, 5, 2, 2, 0);
}
static void test_maxpool_3x3_s2_p1(void **state) {
  (void)state;
  run_pool("maxpool 3x3 s2 p1", POOL_MAX, 2, 2, 7, 6, 3, 2, 1);
}
static void test_avgpool(void **state) {
  (void)state;
  run_pool("avgpool 2x2 s2", POOL_AVG, 2, 2, 6, 7, 2, 2, 0);
  run_pool("avgpool 3x3 s2 p1", POOL_AVG, 2, 3, 7, 6, 3, 2, 1);
  run_pool("avgpool 3x3 s1 p1", POOL_AVG, 1, 2, 5, 4, 3, 1, 1);
  run_pool("avgpool 2x2 s1 p1", POOL_AVG, 1, 2, 4, 5, 2, 1, 1);
}
static void test_global_avgpool(void **state) {
  (void)state;
  run_pool("global avgpool", POOL_GLOBAL, 3, 4, 5, 3, 0, 0, 0);
}

/* Padding counts toward the divisor (count_include_pad = true): a corner
 * window of a 3x3 pad-1 pool over ones averages 4 ones over 9. */
static void test_avgpool_count_include_pad(void **state) {
  (void)state;
  float x[16], y[4];
  for (int i = 0; i < 16; i++)
    x[i] = 1.0f;
  ibx_pool2d L = {3, 2, 1};
  ibx_tensor xt = ibx_t4(x, 1, 1, 4, 4), yt = ibx_t4(y, 1, 1, 2, 2);
  assert_ibx_ok(ibx_avgpool2d_forward(&L, &xt, &yt));
  assert_float_equal(y[0], 4.0f / 9.0f, 1e-6f);
  assert_float_equal(y[1], 6.0f / 9.0f, 1e-6f);
  assert_float_equal(y[3], 1.0f, 1e-6f);
}

/* With ties, the gradient goes to the first maximum (PyTorch's choice). */
static void test_maxpool_ties_first(void **state) {
  (void)state;
  float x[4] = {1, 3, 3, 0}, y[1], g[1] = {2.0f}, dx[4];
  ibx_pool2d L = {2, 2, 0};
  ibx_tensor xt = ibx_t4(x, 1, 1, 2, 2), yt = ibx_t4(y, 1, 1, 1, 1);
  ibx_tensor gt = ibx_t4(g, 1, 1, 1, 1), dxt = ibx_t4(dx, 1, 1, 2, 2);
  assert_ibx_ok(ibx_maxpool2d_forward(&L, &xt, &yt));
  assert_float_equal(y[0], 3.0f, 0.0f);
  assert_ibx_ok(ibx_maxpool2d_backward(&L, &xt, &gt, &dxt));
  assert_float_equal(dx[0], 0.0f, 0.0f);
  assert_float_equal(dx[1], 2.0f, 0.0f);
  assert_float_equal(dx[2], 0.0f, 0.0f);
  assert_float_equal(dx[3], 0.0f, 0.0f);
}

/* The AVX-512 kernels for small even planes (pool_avx512.c) against the
 * portable per-plane ones (IBX_CPU_NO_AVX512=1): bit-identical outputs and
 * gradients, with many ties (values from {0, 1, 2}), short last blocks,
 * several units, and a NaN (both then take the NaN-propagating path). dx
 * starts as garbage, so every element must be written. */
static void pool_both(int N, int C, int H, int W, int ties, int with_nan, uint64_t seed) {
  const int OH = H / 2, OW = W / 2;
  const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
  float *x = tu_alloc_randn(nx, 1.0f, seed), *g = tu_alloc_randn(ny, 1.0f, seed + 1);
  if (ties)
    for (size_t i = 0; i < nx; i++)
      x[i] = (float)((int)fabsf(x[i] * 2.0f) % 3);
  if (with_nan)
    x[nx / 3] = NAN;
  float *y[2], *dx[2];
  ibx_pool2d L = {2, 2, 0};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(k ? setenv("IBX_CPU_NO_AVX512", "1", 1) : unsetenv("IBX_CPU_NO_AVX512"), 0);
    y[k] = malloc(ny * sizeof(float)), dx[k] = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++)
      dx[k][i] = 7.0f;
    ibx_tensor xt = ibx_t4(x, N, C, H, W), yt = ibx_t4(y[k], N, C, OH, OW);
    ibx_tensor gt = ibx_t4(g, N, C, OH, OW), dxt = ibx_t4(dx[k], N, C, H, W);
    assert_ibx_ok(ibx_maxpool2d_forward(&L, &xt, &yt));
    assert_ibx_ok(ibx_maxpool2d_backward(&L, &xt, &gt, &dxt));
  }
  assert_int_equal(unsetenv("IBX_CPU_NO_AVX512"), 0);
  if (memcmp(y[0], y[1], ny * sizeof(float)) || memcmp(dx[0], dx[1], nx * sizeof(float)))
    fail_msg("maxpool N%d C%d H%d W%d ties %d nan %d: AVX-512 and portable differ", N, C, H, W,
             ties, with_nan);
  free(x), free(g), free(y[0]), free(y[1]), free(dx[0]), free(dx[1]);
}

static void test_maxpool_avx512_matches_portable(void **state) {
  (void)state;
  static const int shapes[][4] = {{3, 5, 2, 2},  {7, 3, 4, 4},  {2, 37, 8, 8}, {1, 3, 16, 16},
                                  {5, 2, 6, 4},  {3, 2, 4, 8},  {1, 1, 2, 2},  {4, 300, 2, 2},
                                  {5, 3, 5, 4},  {2, 3, 4, 5},  {2, 2, 32, 32}, {1, 2, 4, 64},
                                  {3, 1, 2, 96}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
    for (int variant = 0; variant < 3; variant++)
      pool_both(shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3], variant == 1,
                variant == 2, 900 + 10 * k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn2d_train),
      cmocka_unit_test(test_bn2d_train_batch1),
      cmocka_unit_test(test_bn2d_eval),
      cmocka_unit_test(test_bn1d_train),
      cmocka_unit_test(test_bn1d_eval),
      cmocka_unit_test(test_bn_running_stats),
      cmocka_unit_test(test_maxpool_2x2_s2),
      cmocka_unit_test(test_maxpool_3x3_s2_p1),
      cmocka_unit_test(test_avgpool),
      cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_avgpool_count_include_pad),
      cmocka_unit_test(test_maxpool_ties_first),
      cmocka_unit_test(test_maxpool_avx512_matches_portable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
