/* Per-sample IBA on the transformer text classifier against a PyTorch
 * implementation written from the paper (tests/fixtures/golden_iba_text.h5,
 * scripts/make_golden_iba_text.py): same weights, same fixed noise, autograd
 * and torch.optim.Adam in float64. Checks the Welford statistics of the
 * hidden states at the non-padding positions against torch's population
 * mean/std (1e-5), then the per-token capacity (bits) and the min-max
 * normalised heatmap for beta = 1e-5 (the text-IBA default) and beta = 10,
 * within 1e-4 relative + 1e-4 of the map's scale. Plus: the default layer
 * (two thirds of the depth) and bad arguments. */
#include "testutil.h"

#include "golden.h"
#include "ibx/iba_text.h"
#include "ibx/transformer.h"

#define FIXTURE "golden_iba_text.h5"

G_FIXTURE(F, FIXTURE)

static ibx_transformer *load_model(void) {
  ibx_transformer_config c;
  ibx_transformer_config_defaults(&c);
  c.layers = (int)g_attr_i(&F, "/", "layers");
  c.d_model = (int)g_attr_i(&F, "/", "d");
  c.heads = (int)g_attr_i(&F, "/", "heads");
  c.d_ff = (int)g_attr_i(&F, "/", "d_ff");
  c.max_len = (int)g_attr_i(&F, "/", "max_len");
  c.vocab = (int)g_attr_i(&F, "/", "vocab");
  c.num_classes = (int)g_attr_i(&F, "/", "classes");
  c.dropout = 0.0f;
  ibx_transformer *t;
  assert_ibx_ok(ibx_transformer_create(&c, 10, &t));
  ibx_params *P = ibx_transformer_params(t);
  assert_int_equal(P->count, g_attr_i(&F, "/", "n_params"));
  for (int i = 0; i < P->count; i++) {
    char p[160];
    ibx_tensor v = ibx_params_value(P, i);
    snprintf(p, sizeof p, "params/%s", P->info[i].name);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &v));
  }
  return t;
}

static void test_golden(void **state) {
  (void)state;
  ibx_transformer *t = load_model();
  const int layer = (int)g_attr_i(&F, "/", "layer");
  assert_int_equal(ibx_iba_text_default_layer(ibx_transformer_config_of(t)->layers), layer);
  assert_int_equal(ibx_iba_text_default_layer(12), 8);
  assert_int_equal(ibx_iba_text_default_layer(2), 1);
  ibx_iba_text_config cfg;
  ibx_iba_text_default(&cfg);
  ibx_tensor noise;
  g_read(&F, "/", "noise", &noise);
  cfg.noise = noise.data;
  ibx_iba_text *b;
  assert_ibx_ok(ibx_iba_text_create(t, layer, &cfg, &b));
  /* statistics: Welford over the non-padding positions */
  int32_t sids[64], slen[8];
  const int T = ibx_transformer_config_of(t)->max_len;
  assert_ibx_ok(ibx_h5_read_i32(&F, "stats_ids", sids, (size_t)5 * T));
  assert_ibx_ok(ibx_h5_read_i32(&F, "stats_lengths", slen, 5));
  assert_ibx_ok(ibx_iba_text_add_samples(b, sids, T, slen, 5));
  assert_ibx_ok(ibx_iba_text_finish_stats(b));
  const int D = ibx_transformer_config_of(t)->d_model;
  char what[64];
  ibx_tensor ref;
  g_read(&F, "/", "mean", &ref);
  g_check(G_WHAT(what, "stats", "mean"), ibx_iba_text_mean(b), ref.data, (size_t)D);
  ibx_free(ref.data);
  g_read(&F, "/", "std", &ref);
  g_check(G_WHAT(what, "stats", "std"), ibx_iba_text_std(b), ref.data, (size_t)D);
  ibx_free(ref.data);

  int32_t ids[16];
  const int L = 7;
  assert_ibx_ok(ibx_h5_read_i32(&F, "ids", ids, L));
  const int target = (int)g_attr_i(&F, "/", "target");
  const char *cases[] = {"beta1e-5", "beta10"};
  for (int c = 0; c < 2; c++) {
    ibx_iba_text_set_beta(b, (float)g_attr_f(&F, cases[c], "beta"));
    float heat[16], cap[16];
    assert_ibx_ok(ibx_iba_text_heatmap(b, ids, L, target, heat, cap));
    g_read(&F, cases[c], "capacity_bits", &ref);
    g_check_tol(G_WHAT(what, cases[c], "capacity_bits"), cap, ref.data, L, 1e-4, 1e-4);
    ibx_free(ref.data);
    g_read(&F, cases[c], "heat", &ref);
    g_check_tol(G_WHAT(what, cases[c], "heat"), heat, ref.data, L, 1e-4, 1e-4);
    ibx_free(ref.data);
  }
  /* bad arguments */
  float heat[16];
  assert_int_equal(ibx_iba_text_heatmap(b, ids, L, 3, heat, NULL), IBX_ERR_ARG);
  assert_int_equal(ibx_iba_text_heatmap(b, ids, 0, 0, heat, NULL), IBX_ERR_ARG);
  assert_int_equal(ibx_iba_text_heatmap(b, ids, T + 1, 0, heat, NULL), IBX_ERR_ARG);
  ibx_iba_text *bad;
  assert_int_equal(ibx_iba_text_create(t, 4, &cfg, &bad), IBX_ERR_ARG);
  ibx_iba_text_free(b);
  ibx_free(noise.data);
  ibx_transformer_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
