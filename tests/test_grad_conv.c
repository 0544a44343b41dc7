/* Finite-difference gradient checks for conv2d (im2col + sgemm path).
 *
 * Method: L = sum(y .* G) for a fixed random G (so dL/dy = G), accumulated in
 * double by tu_dot; every element of x, w and b is perturbed by +-eps and the
 * central difference (L(+eps) - L(-eps)) / 2eps is compared with backward.
 *
 * Tolerance: eps = 1e-2, |fd - an| <= 1e-3 + 1e-2 * max(|fd|, |an|).
 * Why: conv is linear in each of x, w, b, so the central difference has no
 * truncation error; what remains is float32 rounding in the forward pass.
 * Perturbing one input changes at most O*KH*KW outputs of magnitude ~3, each
 * rounded at ~6e-8 relative, so the loss noise is ~1e-5 and divided by
 * 2*eps = 2e-2 gives ~5e-4 worst case in the difference: atol 1e-3 covers it,
 * and rtol 1e-2 covers sgemm's float32 accumulation order in backward for the
 * larger (w, b) gradients, which sum over N*OH*OW terms.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/memory.h"

#define EPS 1e-2f
#define RTOL 1e-2
#define ATOL 1e-3

typedef struct {
  ibx_conv2d L;
  int N, C, H, W, O, OH, OW;
  float *x, *w, *b, *y, *G;
  ibx_scratch s;
} conv_ctx;

static size_t nx(const conv_ctx *c) { return (size_t)c->N * c->C * c->H * c->W; }
static size_t nw(const conv_ctx *c) { return (size_t)c->O * c->C * c->L.kernel_h * c->L.kernel_w; }
static size_t ny(const conv_ctx *c) { return (size_t)c->N * c->O * c->OH * c->OW; }

static double conv_loss(void *p) {
  conv_ctx *c = p;
  ibx_tensor x = ibx_t4(c->x, c->N, c->C, c->H, c->W);
  ibx_tensor w = ibx_t4(c->w, c->O, c->C, c->L.kernel_h, c->L.kernel_w);
  ibx_tensor b = ibx_t1(c->b, c->O);
  ibx_tensor y = ibx_t4(c->y, c->N, c->O, c->OH, c->OW);
  assert_ibx_ok(ibx_conv2d_forward(&c->L, &x, &w, c->b ? &b : NULL, &y, &c->s));
  return tu_dot(c->y, c->G, ny(c));
}

/* Builds the case, runs backward once (dx, dw, db), checks all three by finite
 * differences, then checks that dw/db accumulate and that dx = NULL gives the
 * same parameter gradients. */
static void run_case(const char *name, int N, int C, int H, int W, int O, int KH, int KW,
                     int stride, int ph, int pw, int bias) {
  conv_ctx c;
  memset(&c, 0, sizeof c);
  c.L = (ibx_conv2d){C, O, KH, KW, stride, ph, pw, IBX_CONV_IM2COL};
  c.N = N, c.C = C, c.H = H, c.W = W, c.O = O;
  c.OH = ibx_conv2d_out_size(H, KH, stride, ph);
  c.OW = ibx_conv2d_out_size(W, KW, stride, pw);
  assert_true(c.OH > 0 && c.OW > 0);
  c.x = tu_alloc_randn(nx(&c), 1.0f, 11);
  c.w = tu_alloc_randn(nw(&c), 0.5f, 12);
  c.b = bias ? tu_alloc_randn((size_t)O, 0.5f, 13) : NULL;
  c.G = tu_alloc_randn(ny(&c), 1.0f, 14);
  c.y = calloc(ny(&c), sizeof(float));
  float *dx = calloc(nx(&c), sizeof(float));
  float *dw = calloc(nw(&c), sizeof(float));
  float *db = calloc((size_t)O, sizeof(float));
  float *dw2 = calloc(nw(&c), sizeof(float));
  float *db2 = calloc((size_t)O, sizeof(float));
  assert_true(c.y && dx && dw && db && dw2 && db2);

  ibx_tensor x = ibx_t4(c.x, N, C, H, W), w = ibx_t4(c.w, O, C, KH, KW);
  ibx_tensor dyt = ibx_t4(c.G, N, O, c.OH, c.OW);
  ibx_tensor dxt = ibx_t4(dx, N, C, H, W), dwt = ibx_t4(dw, O, C, KH, KW);
  ibx_tensor dbt = ibx_t1(db, O);
  (void)conv_loss(&c);
  assert_ibx_ok(
      ibx_conv2d_backward(&c.L, &x, &w, &dyt, &dxt, &dwt, bias ? &dbt : NULL, &c.s));

  char what[160];
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, conv_loss, &c, c.x, dx, nx(&c), EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: dw", name);
  tu_check_grad(what, conv_loss, &c, c.w, dw, nw(&c), EPS, RTOL, ATOL, 0);
  if (bias) {
    snprintf(what, sizeof what, "%s: db", name);
    tu_check_grad(what, conv_loss, &c, c.b, db, (size_t)O, EPS, RTOL, ATOL, 0);
  }

  /* Parameter gradients accumulate: a second backward (this time without
   * dx) adds the same amount again. */
  memcpy(dw2, dw, nw(&c) * sizeof(float));
  memcpy(db2, db, (size_t)O * sizeof(float));
  ibx_tensor dw2t = ibx_t4(dw2, O, C, KH, KW), db2t = ibx_t1(db2, O);
  assert_ibx_ok(ibx_conv2d_backward(&c.L, &x, &w, &dyt, NULL, &dw2t, bias ? &db2t : NULL, &c.s));
  for (size_t i = 0; i < nw(&c); i++)
    dw[i] *= 2.0f;
  for (int i = 0; i < O; i++)
    db[i] *= 2.0f;
  snprintf(what, sizeof what, "%s: dw accumulates", name);
  tu_assert_close(what, dw2, dw, nw(&c), 1e-5, 1e-6);
  if (bias) {
    snprintf(what, sizeof what, "%s: db accumulates", name);
    tu_assert_close(what, db2, db, (size_t)O, 1e-5, 1e-6);
  }

  ibx_scratch_free(&c.s);
  free(c.x), free(c.w), free(c.b), free(c.G), free(c.y);
  free(dx), free(dw), free(db), free(dw2), free(db2);
}

static void test_3x3_s1_p1_batch1(void **state) {
  (void)state;
  run_case("3x3 s1 p1 N1", 1, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1);
}

static void test_5x5_s2_p2_batch3_bias(void **state) {
  (void)state;
  run_case("5x5 s2 p2 N3", 3, 2, 9, 7, 3, 5, 5, 2, 2, 2, 1);
}

static void test_5x5_s1_p0_nonsquare_nobias(void **state) {
  (void)state;
  run_case("5x5 s1 p0 6x10", 1, 2, 6, 10, 3, 5, 5, 1, 0, 0, 0);
}

static void test_1x1_s1_batch3_nobias(void **state) {
  (void)state;
  run_case("1x1 s1 N3", 3, 4, 5, 3, 5, 1, 1, 1, 0, 0, 0);
}

static void test_1x1_s2_bias(void **state) {
  (void)state;
  run_case("1x1 s2", 3, 3, 7, 6, 2, 1, 1, 2, 0, 0, 1);
}

/* (10 - 3) / 2 + 1 = 4 rows: the last input row is never read, so its
 * gradient must be exactly what the finite difference says, zero. */
static void test_3x3_s2_p0_leftover_rows(void **state) {
  (void)state;
  run_case("3x3 s2 p0 10x11", 3, 2, 10, 11, 3, 3, 3, 2, 0, 0, 1);
}

static void test_nonsquare_kernel_and_padding(void **state) {
  (void)state;
  run_case("3x1 s1 pad 1,0", 2, 3, 5, 4, 2, 3, 1, 1, 1, 0, 1);
  run_case("2x4 s2 pad 0,1", 3, 2, 7, 9, 3, 2, 4, 2, 0, 1, 0);
}

static void test_3x3_s2_p1_batch3(void **state) {
  (void)state;
  run_case("3x3 s2 p1 N3", 3, 3, 8, 7, 4, 3, 3, 2, 1, 1, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_3x3_s1_p1_batch1),
      cmocka_unit_test(test_5x5_s2_p2_batch3_bias),
      cmocka_unit_test(test_5x5_s1_p0_nonsquare_nobias),
      cmocka_unit_test(test_1x1_s1_batch3_nobias),
      cmocka_unit_test(test_1x1_s2_bias),
      cmocka_unit_test(test_3x3_s2_p0_leftover_rows),
      cmocka_unit_test(test_nonsquare_kernel_and_padding),
      cmocka_unit_test(test_3x3_s2_p1_batch3),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
