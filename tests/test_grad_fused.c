/* Fused batch norm + ReLU: forward equals batchnorm then relu exactly, and
 * backward matches both the unfused composition and finite differences.
 * FD tolerance: |diff| <= 2e-3 + 2e-2 * max(|fd|, |analytic|) with eps 1e-3
 * (float32 forward through batch statistics). */
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "testutil.h"

enum { N = 3, C = 4, H = 5, W = 3, SZ = N * C * H * W };

typedef struct {
  ibx_batchnorm L;
  float x[SZ], y[SZ], g[SZ], gamma[C], beta[C], rm[C], rv[C], mean[C], invstd[C];
} ctx;

static double loss(void *p) {
  ctx *c = p;
  ibx_tensor x = ibx_t4(c->x, N, C, H, W), y = ibx_t4(c->y, N, C, H, W);
  ibx_tensor ga = ibx_t1(c->gamma, C), be = ibx_t1(c->beta, C), rm = ibx_t1(c->rm, C),
             rv = ibx_t1(c->rv, C);
  if (ibx_batchnorm_relu_forward(&c->L, &x, &ga, &be, &rm, &rv, 1, &y, c->mean, c->invstd))
    fail_msg("%s", ibx_errmsg());
  return tu_dot(c->y, c->g, SZ);
}

static void test_fused_matches_unfused_and_fd(void **state) {
  (void)state;
  ctx *c = calloc(1, sizeof *c);
  c->L = (ibx_batchnorm){.channels = C, .eps = 1e-5f, .momentum = 0.1f};
  tu_randn(c->x, SZ, 1.0f, 1);
  tu_randn(c->g, SZ, 1.0f, 2);
  tu_randn(c->gamma, C, 0.5f, 3);
  tu_randn(c->beta, C, 0.5f, 4);
  for (int i = 0; i < C; i++)
    c->rv[i] = 1.0f;
  ibx_tensor x = ibx_t4(c->x, N, C, H, W), y = ibx_t4(c->y, N, C, H, W);
  ibx_tensor ga = ibx_t1(c->gamma, C), be = ibx_t1(c->beta, C), rm = ibx_t1(c->rm, C),
             rv = ibx_t1(c->rv, C);

  /* unfused reference */
  float ref_y[SZ], ref_dx[SZ], masked[SZ], ref_dg[C] = {0}, ref_db[C] = {0}, m[C], is[C];
  float rm2[C] = {0}, rv2[C] = {1, 1, 1, 1};
  ibx_tensor ry = ibx_t4(ref_y, N, C, H, W), rdx = ibx_t4(ref_dx, N, C, H, W),
             md = ibx_t4(masked, N, C, H, W), g = ibx_t4(c->g, N, C, H, W);
  ibx_tensor rm2t = ibx_t1(rm2, C), rv2t = ibx_t1(rv2, C), rdg = ibx_t1(ref_dg, C),
             rdb = ibx_t1(ref_db, C);
  assert_ibx_ok(ibx_batchnorm_forward(&c->L, &x, &ga, &be, &rm2t, &rv2t, 1, &ry, m, is));
  assert_ibx_ok(ibx_relu_forward(&ry, &ry));
  assert_ibx_ok(ibx_relu_backward(&ry, &g, &md));
  assert_ibx_ok(ibx_batchnorm_backward(&c->L, &x, &ga, m, is, 1, &md, &rdx, &rdg, &rdb));

  float dx[SZ], dg[C] = {0}, db[C] = {0};
  ibx_tensor dxt = ibx_t4(dx, N, C, H, W), dgt = ibx_t1(dg, C), dbt = ibx_t1(db, C);
  assert_ibx_ok(ibx_batchnorm_relu_forward(&c->L, &x, &ga, &be, &rm, &rv, 1, &y, c->mean, c->invstd));
  assert_memory_equal(c->y, ref_y, sizeof ref_y);
  tu_assert_close("running_var", c->rv, rv2, C, 0, 0);
  assert_ibx_ok(ibx_batchnorm_relu_backward(&c->L, &x, &ga, c->mean, c->invstd, 1, &y, &g, &dxt,
                                            &dgt, &dbt));
  tu_assert_close("dx vs unfused", dx, ref_dx, SZ, 1e-6, 1e-7);
  tu_assert_close("dgamma vs unfused", dg, ref_dg, C, 1e-6, 1e-7);
  tu_assert_close("dbeta vs unfused", db, ref_db, C, 1e-6, 1e-7);

  tu_check_grad("dx", loss, c, c->x, dx, SZ, 1e-3f, 2e-2, 2e-3, 0);
  tu_check_grad("dgamma", loss, c, c->gamma, dg, C, 1e-3f, 2e-2, 2e-3, 0);
  tu_check_grad("dbeta", loss, c, c->beta, db, C, 1e-3f, 2e-2, 2e-3, 0);
  free(c);
}

static void test_fused_backward_needs_y(void **state) {
  (void)state;
  float x[SZ] = {0}, dy[SZ] = {0}, dx[SZ], gamma[C] = {1, 1, 1, 1}, dg[C], db[C], m[C] = {0},
        is[C] = {1, 1, 1, 1};
  ibx_batchnorm L = {.channels = C, .eps = 1e-5f, .momentum = 0.1f};
  ibx_tensor xt = ibx_t4(x, N, C, H, W), dyt = ibx_t4(dy, N, C, H, W), dxt = ibx_t4(dx, N, C, H, W);
  ibx_tensor ga = ibx_t1(gamma, C), dgt = ibx_t1(dg, C), dbt = ibx_t1(db, C);
  assert_int_equal(ibx_batchnorm_relu_backward(&L, &xt, &ga, m, is, 1, NULL, &dyt, &dxt, &dgt, &dbt),
                   IBX_ERR_SHAPE);
  ibx_tensor wrong = ibx_t4(dx, N, C, W, H);
  assert_int_equal(ibx_batchnorm_relu_backward(&L, &xt, &ga, m, is, 1, &wrong, &dyt, &dxt, &dgt, &dbt),
                   IBX_ERR_SHAPE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fused_matches_unfused_and_fd),
      cmocka_unit_test(test_fused_backward_needs_y),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
