/* Shared by tests/test_model_grad_{vgg,wrn}.c.
 *
 * Finite-difference gradient tests of every head on small VGG-16 and WRN
 * backbones: the total loss (CE + beta KL + vq + commit + aux) of a
 * training-mode forward, with the reparameterisation noise a fixed Philox
 * draw (same noise_seed every forward), against ibx_model_backward's
 * parameter and input gradients; and the same in evaluation mode (running
 * batch-norm statistics, means instead of samples) for a logit-gradient
 * objective through ibx_model_backward_from_logits.
 *
 * aib-qt uses the quantiser's straight-through surrogate
 * (ibx_model_test_freeze_quantiser): equal to the real forward at the base
 * point, with exact derivatives equal to the straight-through gradients.
 *
 * Tolerance: |fd - analytic| <= 1.5e-3 + 3e-2 * max(|fd|, |analytic|) with
 * eps = 2e-3 (float32 forwards through training-mode batch norm, as in
 * test_sequential). A few elements of every parameter tensor are checked. */
#ifndef IBX_TEST_MODEL_GRAD_COMMON_H
#define IBX_TEST_MODEL_GRAD_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/model.h"
#include "ibx/model_testing.h"
#include "testutil.h"

#define BATCH 3
static float EPS = 2e-3f;
#define ATOL 1.5e-3
#define RTOL 3e-2
#define CHECKS 2

typedef struct {
  ibx_model *m;
  float *x;
  int labels[BATCH];
  int training;
  float *G; /* logit weights for the evaluation-mode objective */
  int classes;
} ctx;

static double loss_fn(void *p) {
  ctx *c = p;
  ibx_loss_parts lp;
  ibx_tensor lg;
  if (c->training) {
    if (ibx_model_forward(c->m, c->x, c->labels, BATCH, 1, 77, &lp, &lg) != IBX_OK)
      fail_msg("forward: %s", ibx_errmsg());
    return lp.total;
  }
  if (ibx_model_forward(c->m, c->x, NULL, BATCH, 0, 0, NULL, &lg) != IBX_OK)
    fail_msg("forward: %s", ibx_errmsg());
  return tu_dot(lg.data, c->G, (size_t)BATCH * c->classes);
}

/* Central differences at eps and eps/2 combined by Richardson extrapolation
 * (error O(eps^4)): the deep training-mode batch-norm stacks of these tiny
 * networks are strongly curved, so a plain central difference is off by
 * O(eps^2) terms well above float32 noise. */
static int failures;
static void check_grad(const char *what, ctx *c, float *var, const float *an, size_t n,
                       size_t max_checks) {
  const size_t stride = (max_checks && n > max_checks) ? n / max_checks : 1;
  for (size_t i = 0; i < n; i += stride) {
    const float saved = var[i];
    double d[2];
    const int nk = c->training ? 2 : 1; /* evaluation mode is near piecewise linear */
    for (int k = 0; k < nk; k++) {
      const float e = k ? EPS / 2 : EPS;
      var[i] = saved + e;
      const double up = loss_fn(c);
      var[i] = saved - e;
      const double down = loss_fn(c);
      var[i] = saved;
      d[k] = (up - down) / (2.0 * (double)e);
    }
    const double fd = nk == 2 ? (4.0 * d[1] - d[0]) / 3.0 : d[0], a = an[i];
    const double tol = ATOL + RTOL * fmax(fabs(fd), fabs(a));
    if (fabs(fd - a) > tol && ++failures)
      print_message("%s: gradient element %zu of %zu: analytic %.8g, finite difference %.8g "
               "(eps %g: %.8g, eps/2: %.8g; |diff| %.3g > tol %.3g)\n",
               what, i, n, a, fd, (double)EPS, d[0], nk == 2 ? d[1] : d[0], fabs(fd - a), tol);
  }
}

static void config(ibx_model_config *cfg, const char *backbone, const char *head) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->backbone, sizeof cfg->backbone, "%s", backbone);
  snprintf(cfg->head, sizeof cfg->head, "%s", head);
  ibx_model_config_defaults(cfg);
  cfg->num_classes = 5;
  cfg->K = 6;
  cfg->Q = 5;
  cfg->beta = 0.05f;
  cfg->seed = 11;
  if (!strcmp(backbone, "vgg16")) {
    cfg->width = 1.0f / 16, cfg->in_channels = 2;
    cfg->in_height = cfg->in_width = getenv("FD_HW") ? atoi(getenv("FD_HW")) : 32;
  } else {
    cfg->wrn_depth = 10, cfg->wrn_widen = 1, cfg->in_channels = 3;
    cfg->in_height = cfg->in_width = 16;
  }
}

/* Non-trivial values for biases, BN affine parameters and anchors. Batch-norm
 * shifts of about +2 with scales of about 0.5 keep the pre-activations of
 * the ReLUs away from their kink (a ReLU crossing zero inside the
 * finite-difference step would make the difference meaningless; with the
 * deep VGG stack at this tiny width, a first-layer weight step of 1e-3
 * otherwise flips dozens of them). */
static void perturb_params(ibx_model *m) {
  ibx_params *P = ibx_model_params(m);
  for (int i = 0; i < P->count; i++) {
    const ibx_param_info *p = &P->info[i];
    if (p->ndim != 1)
      continue;
    float *v = P->values + p->offset;
    if (strstr(p->name, "anchors")) {
      for (size_t j = 0; j < p->numel; j++) /* distinct, sorted, spanning [0,1] */
        v[j] = (float)j / (float)(p->numel - 1) + 0.03f * (float)(j % 2);
      continue;
    }
    const int gamma = strstr(p->name, "weight") != NULL;
    tu_randn(v, p->numel, 0.1f, 500 + i);
    for (size_t j = 0; j < p->numel; j++)
      v[j] += gamma ? 0.5f : 2.0f;
  }
}

static void check_model(const char *backbone, const char *head, int training) {
  ibx_model_config cfg;
  failures = 0;
  config(&cfg, backbone, head);
  ibx_model *m;
  assert_ibx_ok(ibx_model_create(&cfg, BATCH, &m));
  perturb_params(m);
  const int in_n = cfg.in_channels * cfg.in_height * cfg.in_width;
  ctx c = {m, tu_alloc_randn((size_t)BATCH * in_n, 1.0f, 3), {1, 4, 2}, training,
           tu_alloc_randn((size_t)BATCH * cfg.num_classes, 1.0f, 4), cfg.num_classes};
  const int qt = !strcmp(head, "aib-qt");
  if (!training) {
    /* running statistics near the batch statistics: training forwards */
    for (int i = 0; i < 40; i++)
      loss_fn(&(ctx){m, c.x, {0, 1, 2}, 1, NULL, 0});
  }
  if (qt) {
    /* record the quantiser state; the surrogate equals the real forward there */
    ibx_model_test_freeze_quantiser(m, 1);
    const double real = loss_fn(&c), frozen = loss_fn(&c);
    assert_true(fabs(frozen - real) <= 1e-6 * fabs(real) + 1e-7);
  }
  ibx_params *P = ibx_model_params(m);
  float *dx = malloc((size_t)BATCH * in_n * sizeof(float));
  ibx_params_zero_grads(P);
  loss_fn(&c);
  if (training) {
    assert_ibx_ok(ibx_model_backward(m, dx));
  } else {
    assert_ibx_ok(ibx_model_backward_from_logits(m, c.G, dx));
  }
  float *grads = malloc(P->total * sizeof(float));
  memcpy(grads, P->grads, P->total * sizeof(float));
  char what[192];
  int checked = 0;
  for (int i = 0; i < P->count; i++) {
    const ibx_param_info *p = &P->info[i];
    snprintf(what, sizeof what, "%s/%s %s %s", backbone, head, training ? "train" : "eval",
             p->name);
    check_grad(what, &c, P->values + p->offset, grads + p->offset, p->numel, CHECKS);
    checked++;
  }
  snprintf(what, sizeof what, "%s/%s %s dx", backbone, head, training ? "train" : "eval");
  check_grad(what, &c, c.x, dx, (size_t)BATCH * in_n, 12);
  assert_true(checked == P->count);
  if (failures)
    fail_msg("%s/%s %s: %d gradient elements off", backbone, head, training ? "train" : "eval",
             failures);
  free(grads);
  free(dx);
  free(c.x);
  free(c.G);
  ibx_model_free(m);
}

#define HEAD_TEST(fn, bb, hd)                                                                  \
  static void fn(void **state) {                                                               \
    (void)state;                                                                               \
    check_model(bb, hd, 1);                                                                    \
    check_model(bb, hd, 0);                                                                    \
  }

static void grad_test_init(void) {
  if (getenv("FD_EPS"))
    EPS = (float)atof(getenv("FD_EPS"));
}

#endif
