/* Per-sample IBA against the PyTorch bottleneck of scripts/make_golden_iba.py
 * (tests/fixtures/golden_iba.h5): same weights, statistics and noise draws,
 * 10 Adam steps on a batch of 10, on a width-1/32 VGG-16-BN at two layers
 * and betas. The capacity map and the resized heatmap must agree to 1e-4
 * (relative, plus 1e-4 of the map's scale); float32 rounding moves through
 * ten data-dependent Adam steps, so 1e-5 would be too tight. Also checks the
 * Welford statistics of a layer over 20 inputs against torch's population
 * mean/std. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "golden.h"
#include "ibx/iba.h"
#include "ibx/model.h"

G_FIXTURE(F, "golden_iba.h5")

static void load_store(const char *grp, const char *sub, ibx_params *S) {
  char p[160];
  for (int i = 0; i < S->count; i++) {
    ibx_tensor v = ibx_params_value(S, i);
    snprintf(p, sizeof p, "%s/%s/%s", grp, sub, S->info[i].name);
    if (!ibx_h5_exists(&F, p))
      fail_msg("fixture has no %s", p);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &v));
  }
}

static ibx_model *make_model(const char *grp, int max_batch) {
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "vgg16");
  snprintf(c.head, sizeof c.head, "plain");
  ibx_model_config_defaults(&c);
  c.width = (float)g_attr_f(&F, grp, "width");
  c.in_channels = 1, c.in_height = c.in_width = 32;
  c.num_classes = (int)g_attr_i(&F, grp, "classes");
  ibx_model *m = NULL;
  assert_ibx_ok(ibx_model_create(&c, max_batch, &m));
  load_store(grp, "params", ibx_model_params(m));
  load_store(grp, "buffers", ibx_model_buffers(m));
  return m;
}

static void run_case(const char *grp) {
  ibx_model *m = make_model(grp, 10);
  char layer[64];
  assert_ibx_ok(ibx_h5_read_attr_str(&F, grp, "layer", layer, sizeof layer));
  ibx_iba_config cfg;
  ibx_iba_default(&cfg);
  cfg.beta = (float)g_attr_f(&F, grp, "beta");
  cfg.iterations = (int)g_attr_i(&F, grp, "iterations");
  cfg.batch = (int)g_attr_i(&F, grp, "batch");
  float *noise = g_read(&F, grp, "noise", NULL);
  cfg.noise = noise;
  ibx_iba *b = NULL;
  assert_ibx_ok(ibx_iba_create(m, layer, &cfg, &b));
  float *mean = g_read(&F, grp, "mean", NULL), *std = g_read(&F, grp, "std", NULL);
  assert_ibx_ok(ibx_iba_set_stats(b, mean, std));
  int dim[3];
  ibx_iba_shape(b, dim);
  float *x = g_read(&F, grp, "x", NULL);
  float heat[32 * 32], *cap = ibx_alloc((size_t)dim[1] * dim[2] * sizeof(float), "cap");
  assert_ibx_ok(ibx_iba_heatmap(b, x, (int)g_attr_i(&F, grp, "target"), heat, cap));
  ibx_tensor rcap, rheat;
  g_read(&F, grp, "capacity", &rcap);
  g_read(&F, grp, "heat", &rheat);
  assert_int_equal(g_numel(&rcap), (size_t)dim[1] * dim[2]);
  char what[128];
  g_check_tol(G_WHAT(what, grp, "capacity"), cap, rcap.data, g_numel(&rcap), 1e-4, 1e-4);
  g_check_tol(G_WHAT(what, grp, "heat"), heat, rheat.data, 32 * 32, 1e-4, 1e-4);
  /* the map is not trivially flat: the test would pass a constant otherwise */
  double lo = 1e30, hi = -1e30;
  for (int i = 0; i < 32 * 32; i++)
    lo = fmin(lo, rheat.data[i]), hi = fmax(hi, rheat.data[i]);
  assert_true(hi - lo > 0.1 * hi);
  ibx_free(rcap.data), ibx_free(rheat.data), ibx_free(cap), ibx_free(x);
  ibx_free(mean), ibx_free(std), ibx_free(noise);
  ibx_iba_free(b);
  ibx_model_free(m);
}

static void test_block3_beta10(void **state) {
  (void)state;
  run_case("iba_b3");
}

static void test_block4_beta100(void **state) {
  (void)state;
  run_case("iba_b4_beta100");
}

static void test_welford_stats(void **state) {
  (void)state;
  ibx_model *m = make_model("iba_b3", 10);
  ibx_iba_config cfg;
  ibx_iba_default(&cfg);
  ibx_iba *b = NULL;
  char layer[64];
  assert_ibx_ok(ibx_h5_read_attr_str(&F, "stats", "layer", layer, sizeof layer));
  assert_ibx_ok(ibx_iba_create(m, layer, &cfg, &b));
  ibx_tensor xs, rm, rs;
  g_read(&F, "stats", "xs", &xs);
  g_read(&F, "stats", "mean", &rm);
  g_read(&F, "stats", "std", &rs);
  assert_ibx_ok(ibx_iba_add_samples(b, xs.data, 13)); /* two calls: chunks of 10 and 3, then 7 */
  assert_ibx_ok(ibx_iba_add_samples(b, xs.data + 13 * 32 * 32, 7));
  assert_int_equal(ibx_iba_samples_seen(b), 20);
  assert_ibx_ok(ibx_iba_finish_stats(b));
  g_check("stats mean", ibx_iba_mean(b), rm.data, g_numel(&rm));
  g_check("stats std", ibx_iba_std(b), rs.data, g_numel(&rs));
  ibx_free(xs.data), ibx_free(rm.data), ibx_free(rs.data);
  ibx_iba_free(b);
  ibx_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_block3_beta10),
      cmocka_unit_test(test_block4_beta100),
      cmocka_unit_test(test_welford_stats),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
