/* Readout bottleneck: before training (last layer zero, bias init_alpha)
 * its heatmap is the capacity of lambda = sigmoid(5) everywhere with the
 * image's own R, computed here by hand; training on a fixed batch lowers
 * the loss; bad labels are refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ibx/iba.h"
#include "ibx/memory.h"
#include "ibx/model.h"
#include "testutil.h"

static ibx_model *small_vgg(void) {
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "vgg16");
  snprintf(c.head, sizeof c.head, "plain");
  ibx_model_config_defaults(&c);
  c.width = 1.0f / 16;
  c.in_channels = 1, c.in_height = c.in_width = 32;
  c.num_classes = 10;
  c.seed = 5;
  ibx_model *m = NULL;
  assert_ibx_ok(ibx_model_create(&c, 10, &m));
  ibx_params *P = ibx_model_params(m);
  for (int i = 0; i < P->count; i++)
    if (P->info[i].ndim == 2) /* a classifier with non-flat logits */
      tu_randn(P->values + P->info[i].offset, P->info[i].numel, 1.0f, 200 + (uint64_t)i);
  return m;
}

typedef struct {
  ibx_model *m;
  ibx_iba *b;
  ibx_readout *r;
  float *x;
} fixture;

static void make(fixture *f) {
  f->m = small_vgg();
  ibx_iba_config cfg;
  ibx_iba_default(&cfg);
  assert_ibx_ok(ibx_iba_create(f->m, "features.22", &cfg, &f->b));
  f->x = tu_alloc_randn(10 * 32 * 32, 1.0f, 61);
  assert_ibx_ok(ibx_iba_add_samples(f->b, f->x, 10));
  assert_ibx_ok(ibx_iba_finish_stats(f->b));
  const char *layers[] = {"features.12", "features.22", "features.32", "features.42"};
  assert_ibx_ok(ibx_readout_create(f->b, layers, 4, 16, &f->r));
  assert_ibx_ok(ibx_readout_add_norm_samples(f->r, f->x, 10));
}

static void destroy(fixture *f) {
  ibx_readout_free(f->r);
  ibx_iba_free(f->b);
  ibx_model_free(f->m);
  ibx_free(f->x);
}

static void test_initial_heatmap_by_hand(void **state) {
  (void)state;
  fixture f;
  make(&f);
  int d[3];
  ibx_iba_shape(f.b, d);
  const int hw = d[1] * d[2];
  float cap[64], want[64];
  assert_true(hw <= 64);
  assert_ibx_ok(ibx_readout_heatmap(f.r, f.x + 3 * 1024, NULL, cap));
  ibx_tensor R;
  assert_ibx_ok(ibx_model_forward(f.m, f.x + 3 * 1024, NULL, 1, 0, 0, NULL, NULL));
  assert_ibx_ok(ibx_model_layer_output(f.m, "features.22", &R));
  const float lam = 1.0f / (1.0f + expf(-5.0f));
  const float *mu = ibx_iba_mean(f.b), *sd = ibx_iba_std(f.b);
  for (int p = 0; p < hw; p++) {
    double s = 0.0;
    for (int c = 0; c < d[0]; c++) {
      const int e = c * hw + p;
      s += ibx_iba_capacity(lam, (R.data[e] - mu[e]) / sd[e]);
    }
    want[p] = (float)(s / log(2.0));
  }
  tu_assert_close("initial readout capacity", cap, want, (size_t)hw, 1e-4, 1e-6);
  destroy(&f);
}

static void test_training_lowers_loss(void **state) {
  (void)state;
  fixture f;
  make(&f);
  int labels[10];
  for (int i = 0; i < 10; i++)
    labels[i] = (i * 3) % 10;
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 60; step++) {
    float loss;
    assert_ibx_ok(ibx_readout_train_step(f.r, f.x, labels, 10, 1e-2f, &loss));
    assert_true(isfinite(loss));
    if (step < 5)
      first += loss / 5;
    if (step >= 55)
      last += loss / 5;
  }
  if (!(last < 0.8 * first))
    fail_msg("readout loss %g -> %g: training does not reduce it", first, last);
  labels[2] = 10;
  assert_int_equal(ibx_readout_train_step(f.r, f.x, labels, 10, 1e-2f, NULL), IBX_ERR_ARG);
  destroy(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_initial_heatmap_by_hand),
      cmocka_unit_test(test_training_lowers_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
