/* The aib, aib-qt, dvib and att3 heads on a 1/32-width VGG-16 against
 * PyTorch (tests/fixtures/golden_models.h5, written by
 * scripts/make_golden_models.py): one training-mode forward with the
 * fixture's weights, batch-norm statistics and reparameterisation noise,
 * then the backward of the total loss. Checked: logits, every loss part,
 * the intermediates (attention mean/log-variance/map, quantised map, g, z
 * mean/log-variance/sample, compatibility scores, global feature), the
 * running statistics after the forward, every parameter gradient and dx.
 *
 * Tolerance (tests/support/golden.h): 1e-5 relative plus 1e-5 of each
 * tensor's scale. Gradients that are zero by construction are pure float32
 * cancellation noise in ibx (and ~1e-17 in the float64 reference): the conv
 * biases followed by training-mode batch norm, and att3's global feature
 * ("dense"), which the softmax's shift invariance removes from the
 * attention. Those are checked against 1e-5 of the largest gradient of the
 * model instead.
 *
 * Parameter gradients get GRAD_RTOL (5e-5) instead of 1e-5: they are the
 * end of a float32 backward through every layer of the model, and their
 * rounding depends on OpenBLAS's sgemm kernel. With the Haswell kernel all
 * four models meet 1e-5; with the AVX-512 kernels (SkylakeX, Cooperlake,
 * SapphireRapids, chosen on CPUs that have AVX-512) the first batch-norm
 * weight of aib-qt lands 2.2e-5 from the float64 reference (-0.79002988 vs
 * -0.79001248): float32 noise, not a defect (forward values, losses and dx
 * still meet 1e-5 on every kernel). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "golden.h"
#include "ibx/model.h"
#include "ibx/model_testing.h"

#define FIXTURE "golden_models.h5"
#define GRAD_RTOL 5e-5

G_FIXTURE(F, FIXTURE)

static void load_store(const char *grp, const char *sub, ibx_params *S) {
  char p[128];
  for (int i = 0; i < S->count; i++) {
    ibx_tensor v = ibx_params_value(S, i);
    snprintf(p, sizeof p, "%s/%s/%s", grp, sub, S->info[i].name);
    if (!ibx_h5_exists(&F, p))
      fail_msg("fixture has no %s", p);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &v));
  }
}

static void check_ref(const char *grp, const char *name, const float *got, size_t n) {
  char what[256];
  ibx_tensor ref;
  g_read(&F, grp, name, &ref);
  if (g_numel(&ref) != n)
    fail_msg("%s/%s: %zu elements, ibx has %zu", grp, name, g_numel(&ref), n);
  g_check(G_WHAT(what, grp, name), got, ref.data, n);
  ibx_free(ref.data);
}

static void run(const char *grp, const char *head) {
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("%s\n", grp);
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "vgg16");
  snprintf(c.head, sizeof c.head, "%s", head);
  ibx_model_config_defaults(&c);
  c.width = (float)g_attr_f(&F, grp, "width");
  c.in_channels = (int)g_attr_i(&F, grp, "in_channels");
  c.in_height = c.in_width = 32;
  c.num_classes = (int)g_attr_i(&F, grp, "classes");
  c.K = (int)g_attr_i(&F, grp, "K");
  c.Q = (int)g_attr_i(&F, grp, "Q");
  c.beta = (float)g_attr_f(&F, grp, "beta");
  c.lambda_q = (float)g_attr_f(&F, grp, "lambda_q");
  c.lambda_c = (float)g_attr_f(&F, grp, "lambda_c");
  c.attention_layer = (int)g_attr_i(&F, grp, "attention_layer");
  if (!strcmp(head, "dvib"))
    c.attention_layer = 0;
  const int N = (int)g_attr_i(&F, grp, "batch");
  ibx_model *m;
  assert_ibx_ok(ibx_model_create(&c, N, &m));
  ibx_params *P = ibx_model_params(m), *B = ibx_model_buffers(m);
  assert_int_equal(P->count, g_attr_i(&F, grp, "n_params"));
  assert_int_equal(B->count, g_attr_i(&F, grp, "n_buffers"));
  load_store(grp, "params", P);
  load_store(grp, "buffers_initial", B);

  ibx_tensor x, ea, ez;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "eps_attention", &ea);
  g_read(&F, grp, "eps_z", &ez);
  int32_t labels[16];
  char p[128];
  snprintf(p, sizeof p, "%s/labels", grp);
  assert_ibx_ok(ibx_h5_read_i32(&F, p, labels, (size_t)N));
  ibx_model_test_set_noise(m, ea.data, ez.data);

  ibx_loss_parts lp;
  ibx_tensor lg;
  assert_ibx_ok(ibx_model_forward(m, x.data, labels, N, 1, 0, &lp, &lg));
  check_ref(grp, "logits", lg.data, g_numel(&lg));
  const struct {
    const char *name;
    float v;
  } parts[] = {{"loss/total", lp.total}, {"loss/ce", lp.ce},        {"loss/kl", lp.kl},
               {"loss/vq", lp.vq},       {"loss/commit", lp.commit}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    check_ref(grp, parts[i].name, &parts[i].v, 1);
  static const char *inter[] = {"attention_mean", "attention_logvar", "attention",
                                "attention_q",    "g",                "z_mean",
                                "z_logvar",       "z",                "compat0",
                                "compat1",        "compat2",          "global"};
  int ninter = 0;
  for (size_t i = 0; i < sizeof inter / sizeof inter[0]; i++) {
    char name[48];
    snprintf(name, sizeof name, "inter/%s", inter[i]);
    if (!g_has(&F, grp, name))
      continue;
    ibx_tensor t;
    assert_ibx_ok(ibx_model_test_tensor(m, inter[i], &t));
    check_ref(grp, name, t.data, g_numel(&t));
    ninter++;
  }
  assert_true(ninter >= 3);
  for (int i = 0; i < B->count; i++) {
    ibx_tensor v = ibx_params_value(B, i);
    snprintf(p, sizeof p, "buffers/%s", B->info[i].name);
    check_ref(grp, p, v.data, g_numel(&v));
  }

  /* backward of the total loss */
  float *dx = ibx_calloc(g_numel(&x) * sizeof(float), "dx");
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_model_backward(m, dx));
  check_ref(grp, "dx", dx, g_numel(&x));
  double scale = 0.0;
  for (int i = 0; i < P->count; i++) {
    ibx_tensor r;
    g_read(&F, grp, (snprintf(p, sizeof p, "grads/%s", P->info[i].name), p), &r);
    scale = fmax(scale, g_maxabs(r.data, g_numel(&r)));
    ibx_free(r.data);
  }
  for (int i = 0; i < P->count; i++) {
    const ibx_param_info *pi = &P->info[i];
    ibx_tensor gr = ibx_params_grad(P, i), ref;
    snprintf(p, sizeof p, "grads/%s", pi->name);
    g_read(&F, grp, p, &ref);
    assert_int_equal(g_numel(&ref), pi->numel);
    char what[256];
    if (g_maxabs(ref.data, pi->numel) <= 1e-9 * scale)
      g_check_abs(G_WHAT(what, grp, p), gr.data, ref.data, pi->numel, 0.0, G_ATOL_SCALE * scale);
    else
      g_check_tol(G_WHAT(what, grp, p), gr.data, ref.data, pi->numel, GRAD_RTOL, G_ATOL_SCALE);
    ibx_free(ref.data);
  }
  ibx_free(dx);
  ibx_free(x.data);
  ibx_free(ea.data);
  ibx_free(ez.data);
  ibx_model_free(m);
}

static void test_aib(void **state) {
  (void)state;
  run("aib", "aib");
}
static void test_aib_qt(void **state) {
  (void)state;
  run("aib_qt", "aib-qt");
}
static void test_dvib(void **state) {
  (void)state;
  run("dvib", "dvib");
}
static void test_att3(void **state) {
  (void)state;
  run("att3", "att3");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aib),
      cmocka_unit_test(test_aib_qt),
      cmocka_unit_test(test_dvib),
      cmocka_unit_test(test_att3),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
