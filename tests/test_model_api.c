/* The model interface (ibx/model.h) apart from gradients:
 *  - parameter counts equal PyTorch's: VGG-16-BN 14,728,266 (10 classes,
 *    3x32x32) and WRN-28-10 36,479,194 (torch, scripts/make_golden_models.py
 *    --counts prints both), and the summary table's total equals them;
 *  - bad configurations fail with IBX_ERR_ARG and a one-line message naming
 *    the key;
 *  - every head exposes its attention maps (count and shapes), none for
 *    plain/gap/dvib; Fashion-MNIST-shaped input (1x32x32) works;
 *  - noise: a pure function of noise_seed (same seed, same loss; another
 *    seed, another loss in training; evaluation ignores it);
 *  - the gradient-ready hook: called with non-increasing offsets ending at
 *    0, and at every call all gradients at offsets >= ready_from already
 *    have their final values;
 *  - backbone parameters are declared before head parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ibx/model.h"
#include "testutil.h"

static ibx_model_config cfg_of(const char *backbone, const char *head) {
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "%s", backbone);
  snprintf(c.head, sizeof c.head, "%s", head);
  ibx_model_config_defaults(&c);
  return c;
}

static void test_parameter_counts(void **state) {
  (void)state;
  ibx_model *m;
  ibx_model_config c = cfg_of("vgg16", "plain");
  assert_ibx_ok(ibx_model_create(&c, 1, &m));
  assert_int_equal(ibx_params_count(ibx_model_params(m)), 14728266);
  char *buf = malloc(1 << 16);
  assert_ibx_ok(ibx_model_summary(m, buf, 1 << 16));
  assert_non_null(strstr(buf, "14728266"));
  assert_non_null(strstr(buf, "features.0 conv3x3 3->64"));
  assert_int_equal(ibx_model_summary(m, buf, 100), IBX_ERR_ARG);
  ibx_model_free(m);
  /* quarter width on Fashion-MNIST padded to 32x32 (as ibx_vgg_build) */
  c.width = 0.25f, c.in_channels = 1;
  assert_ibx_ok(ibx_model_create(&c, 1, &m));
  assert_int_equal(ibx_params_count(ibx_model_params(m)), 923898);
  ibx_model_free(m);
  c = cfg_of("wrn", "plain");
  assert_ibx_ok(ibx_model_create(&c, 1, &m));
  assert_int_equal(ibx_params_count(ibx_model_params(m)), 36479194);
  assert_ibx_ok(ibx_model_summary(m, buf, 1 << 16));
  assert_non_null(strstr(buf, "36479194"));
  ibx_model_free(m);
  c.wrn_depth = 16, c.wrn_widen = 4;
  assert_ibx_ok(ibx_model_create(&c, 1, &m));
  assert_int_equal(ibx_params_count(ibx_model_params(m)), 2748890);
  ibx_model_free(m);
  free(buf);
}

/* Expects IBX_ERR_ARG with a single-line message containing key. */
static void expect_bad(const ibx_model_config *c, const char *key) {
  ibx_model *m = (ibx_model *)0x1;
  ibx_clear_error();
  assert_int_equal(ibx_model_create(c, 4, &m), IBX_ERR_ARG);
  assert_null(m);
  const char *msg = ibx_errmsg();
  if (!strstr(msg, key))
    fail_msg("message '%s' does not name %s", msg, key);
  assert_null(strchr(msg, '\n'));
}

static void test_bad_config(void **state) {
  (void)state;
  ibx_model_config c = cfg_of("vgg16", "aib");
  snprintf(c.head, sizeof c.head, "attn9");
  expect_bad(&c, "model.head");
  c = cfg_of("resnet", "aib");
  expect_bad(&c, "model.backbone");
  c = cfg_of("vgg16", "aib");
  c.K = 0;
  expect_bad(&c, "model.K");
  c = cfg_of("wrn", "dvib");
  c.K = -3;
  expect_bad(&c, "model.K");
  c = cfg_of("vgg16", "aib-qt");
  c.Q = 1;
  expect_bad(&c, "model.Q");
  c = cfg_of("vgg16", "aib");
  c.attention_layer = 6;
  expect_bad(&c, "model.attention_layer");
  c.attention_layer = -1;
  expect_bad(&c, "model.attention_layer");
  c = cfg_of("wrn", "aib");
  c.attention_layer = 4;
  expect_bad(&c, "model.attention_layer");
  c = cfg_of("vgg16", "att3");
  c.attention_layer = 4; /* needs blocks 4, 5, 6 */
  expect_bad(&c, "model.attention_layer");
  c = cfg_of("vgg16", "abn");
  expect_bad(&c, "model.head");
  c = cfg_of("wrn", "att2");
  expect_bad(&c, "model.head");
  c = cfg_of("wrn", "plain");
  c.wrn_depth = 27;
  expect_bad(&c, "model.wrn_depth");
  c = cfg_of("vgg16", "plain");
  c.width = 0.0f;
  expect_bad(&c, "model.width");
  c = cfg_of("vgg16", "plain");
  c.in_height = c.in_width = 16; /* five pools need 32 */
  ibx_model *m = NULL;
  assert_int_equal(ibx_model_create(&c, 4, &m), IBX_ERR_ARG);
  assert_null(m);
  /* K and Q only matter to the heads that use them */
  c = cfg_of("vgg16", "plain");
  c.K = 0, c.Q = 0, c.width = 1.0f / 16;
  assert_ibx_ok(ibx_model_create(&c, 2, &m));
  ibx_model_free(m);
}

typedef struct {
  const char *backbone, *head;
  int maps;
} head_case;

static const head_case cases[] = {
    {"vgg16", "plain", 0}, {"vgg16", "gap", 0},  {"vgg16", "dvib", 0},  {"vgg16", "att2", 2},
    {"vgg16", "att3", 3},  {"vgg16", "pan", 3},  {"vgg16", "aib", 1},   {"vgg16", "aib-qt", 1},
    {"wrn", "plain", 0},   {"wrn", "gap", 0},    {"wrn", "dvib", 0},    {"wrn", "aib", 1},
    {"wrn", "aib-qt", 1},  {"wrn", "abn", 1},
};

/* The registry (IBX_MODEL_HEADS) and the cases above agree: every
 * registered head has a case here, and the heads listed as having attention
 * are exactly those whose cases produce maps. */
static void test_head_registry(void **state) {
  (void)state;
  char all[256], att[256];
  assert_ibx_ok(ibx_model_head_names(all, sizeof all, " ", 0));
  assert_ibx_ok(ibx_model_head_names(att, sizeof att, " ", 1));
  assert_int_equal(ibx_model_head_names(all, 8, " ", 0), IBX_ERR_ARG);
  assert_ibx_ok(ibx_model_head_names(all, sizeof all, " ", 0));
  int n = 0;
  for (char *save = NULL, *h = strtok_r(all, " ", &save); h; h = strtok_r(NULL, " ", &save), n++) {
    int found = 0, maps = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
      if (!strcmp(cases[k].head, h))
        found = 1, maps |= cases[k].maps > 0;
    if (!found)
      fail_msg("head %s is registered but has no case in test_model_api.c", h);
    char padded[64], list[260];
    snprintf(padded, sizeof padded, " %s ", h);
    snprintf(list, sizeof list, " %s ", att);
    if (maps != (strstr(list, padded) != NULL))
      fail_msg("head %s: attention maps %d, listed as attention head %d", h, maps, !maps);
  }
  assert_true(n > 0);
}

static ibx_model *small(const head_case *hc, int batch) {
  ibx_model_config c = cfg_of(hc->backbone, hc->head);
  c.in_channels = 1; /* Fashion-MNIST padded to 32x32 */
  c.width = 1.0f / 16, c.wrn_depth = 10, c.wrn_widen = 1, c.K = 8, c.Q = 6;
  ibx_model *m;
  assert_ibx_ok(ibx_model_create(&c, batch, &m));
  return m;
}

static void test_attention_maps_and_noise(void **state) {
  (void)state;
  const int B = 3;
  float *x = tu_alloc_randn((size_t)B * 32 * 32, 1.0f, 9);
  int y[3] = {0, 7, 9};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ibx_model *m = small(&cases[k], B);
    ibx_loss_parts l1, l2, l3;
    ibx_tensor lg;
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 1, 5, &l1, &lg));
    assert_int_equal(lg.dim[0], B);
    assert_int_equal(lg.dim[1], 10);
    assert_int_equal(ibx_model_attention_count(m), cases[k].maps);
    for (int i = 0; i < cases[k].maps; i++) {
      ibx_tensor a;
      assert_ibx_ok(ibx_model_attention(m, i, &a));
      assert_int_equal(a.dim[0], B);
      assert_int_equal(a.dim[1], 1);
      assert_true(a.dim[2] >= 1 && a.dim[3] >= 1);
      for (int64_t j = 0; j < ibx_numel(&a); j++)
        assert_true(isfinite(a.data[j]));
    }
    ibx_tensor none;
    assert_int_equal(ibx_model_attention(m, cases[k].maps, &none), IBX_ERR_ARG);
    assert_true(fabsf(l1.total - (l1.ce + l1.kl + l1.vq + l1.commit + l1.aux)) <=
                1e-5f * fabsf(l1.total));
    const int vib = strstr(cases[k].head, "vib") || strstr(cases[k].head, "aib");
    assert_true(vib ? l1.kl > 0.0f : l1.kl == 0.0f);
    assert_true(!strcmp(cases[k].head, "abn") ? l1.aux > 0.0f : l1.aux == 0.0f);
    /* same noise seed -> same loss (batch statistics are the same too) */
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 1, 5, &l2, &lg));
    assert_true(l1.total == l2.total);
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 1, 6, &l3, &lg));
    if (vib)
      assert_true(l3.total != l1.total);
    else
      assert_true(l3.total == l1.total);
    /* evaluation ignores the seed */
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 0, 5, &l2, &lg));
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 0, 99, &l3, &lg));
    assert_true(l2.total == l3.total);
    /* the KL weight can change between forwards (warm-up schedules) without
     * changing the model's config */
    assert_int_equal(ibx_model_forward_beta(m, x, y, B, 1, 5, -1.0f, &l2, &lg), IBX_ERR_ARG);
    assert_ibx_ok(ibx_model_forward_beta(m, x, y, B, 1, 5, 0.0f, &l2, &lg));
    assert_true(l2.kl == 0.0f && l2.ce == l1.ce);
    const float beta = ibx_model_config_of(m)->beta;
    assert_ibx_ok(ibx_model_forward_beta(m, x, y, B, 1, 5, 2.0f * beta, &l2, &lg));
    assert_true(l2.ce == l1.ce && l2.kl == (vib ? 2.0f * l1.kl : 0.0f));
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 1, 5, &l2, &lg));
    assert_true(l2.total == l1.total);
    /* backward needs a forward with labels */
    assert_ibx_ok(ibx_model_forward(m, x, NULL, B, 1, 5, NULL, &lg));
    assert_int_equal(ibx_model_backward(m, NULL), IBX_ERR_ARG);
    assert_int_equal(ibx_model_forward(m, x, y, B + 1, 1, 5, NULL, &lg), IBX_ERR_ARG);
    ibx_model_free(m);
  }
  free(x);
}

typedef struct {
  ibx_params *P;
  size_t last;
  int calls, bad_order;
  size_t *from;
  float **snap;
} hook_log;

static void hook(void *ctx, size_t ready_from) {
  hook_log *h = ctx;
  if (ready_from > h->last)
    h->bad_order = 1;
  h->last = ready_from;
  if (h->calls < 512) {
    h->from[h->calls] = ready_from;
    h->snap[h->calls] = malloc(h->P->total * sizeof(float));
    memcpy(h->snap[h->calls], h->P->grads, h->P->total * sizeof(float));
  }
  h->calls++;
}

static void test_grad_ready_hook(void **state) {
  (void)state;
  const int B = 2;
  float *x = tu_alloc_randn((size_t)B * 32 * 32, 1.0f, 10);
  int y[2] = {3, 1};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ibx_model *m = small(&cases[k], B);
    ibx_params *P = ibx_model_params(m);
    /* backbone before head: every backbone name comes first */
    int seen_head = 0;
    for (int i = 0; i < P->count; i++) {
      const char *n = P->info[i].name;
      const int bb = !strncmp(n, "features.", 9) || !strncmp(n, "conv1.", 6) ||
                     (!strncmp(n, "block", 5) && n[5] >= '1' && n[5] <= '3');
      const int plain_tail = !strcmp(n, "features.45.weight") || !strcmp(n, "features.45.bias");
      if (!bb || plain_tail)
        seen_head = 1;
      else if (seen_head)
        fail_msg("%s/%s: backbone parameter %s after a head parameter", cases[k].backbone,
                 cases[k].head, n);
    }
    hook_log h = {P, P->total, 0, 0, calloc(512, sizeof(size_t)), calloc(512, sizeof(float *))};
    ibx_model_set_grad_hook(m, hook, &h);
    ibx_tensor lg;
    assert_ibx_ok(ibx_model_forward(m, x, y, B, 1, 1, NULL, &lg));
    ibx_params_zero_grads(P);
    assert_ibx_ok(ibx_model_backward(m, NULL));
    assert_false(h.bad_order);
    assert_true(h.calls >= 2);
    assert_int_equal(h.last, 0);
    for (int c = 0; c < h.calls && c < 512; c++) {
      for (size_t i = h.from[c]; i < P->total; i++)
        if (h.snap[c][i] != P->grads[i])
          fail_msg("%s/%s: hook call %d said offsets >= %zu were final, but %zu changed later",
                   cases[k].backbone, cases[k].head, c, h.from[c], i);
      free(h.snap[c]);
    }
    free(h.from);
    free(h.snap);
    ibx_model_free(m);
  }
  free(x);
}

static const char *owner(const ibx_params *P, size_t off) {
  for (int i = P->count - 1; i >= 0; i--)
    if (P->info[i].offset <= off)
      return P->info[i].name;
  return "?";
}

/* Backward does not disturb the forward's state: a second backward after the
 * same forward adds exactly the same gradients (attribution code calls
 * backward_from_logits repeatedly, once per class). */
static void test_repeated_backward(void **state) {
  (void)state;
  const int B = 2;
  float *x = tu_alloc_randn((size_t)B * 32 * 32, 1.0f, 12);
  int y[2] = {5, 2};
  float dl[2 * 10] = {0};
  dl[3] = 1.0f, dl[10 + 7] = 1.0f;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    for (int mode = 0; mode < 2; mode++) {
      ibx_model *m = small(&cases[k], B);
      ibx_params *P = ibx_model_params(m);
      ibx_tensor lg;
      float dx1[2 * 32 * 32], dx2[2 * 32 * 32];
      assert_ibx_ok(ibx_model_forward(m, x, y, B, mode, 3, NULL, &lg));
      ibx_params_zero_grads(P);
      if (mode)
        assert_ibx_ok(ibx_model_backward(m, dx1));
      else
        assert_ibx_ok(ibx_model_backward_from_logits(m, dl, dx1));
      float *g1 = malloc(P->total * sizeof(float));
      memcpy(g1, P->grads, P->total * sizeof(float));
      if (mode)
        assert_ibx_ok(ibx_model_backward(m, dx2));
      else
        assert_ibx_ok(ibx_model_backward_from_logits(m, dl, dx2));
      for (size_t i = 0; i < P->total; i++)
        if (P->grads[i] != 2.0f * g1[i])
          fail_msg("%s/%s (%s): gradient %zu (%s) differs on the second backward: %g vs 2 x %g",
                   cases[k].backbone, cases[k].head, mode ? "train" : "eval", i,
                   owner(P, i), (double)P->grads[i], (double)g1[i]);
      assert_memory_equal(dx1, dx2, sizeof dx1);
      free(g1);
      ibx_model_free(m);
    }
  }
  free(x);
}

int main(void) {
  omp_set_num_threads(1); /* small tensors: threads only add overhead here */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parameter_counts),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_head_registry),
      cmocka_unit_test(test_attention_maps_and_noise),
      cmocka_unit_test(test_grad_ready_hook),
      cmocka_unit_test(test_repeated_backward),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
