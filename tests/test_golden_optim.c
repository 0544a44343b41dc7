/* Optimisers and learning-rate schedules against torch.optim:
 * tests/fixtures/golden_optim.h5, written by scripts/make_golden.py.
 *
 * Optimisers: a 37-float parameter vector takes 4 steps on fixed gradients;
 * the parameters after every step are compared (so the momentum / moment
 * buffers are checked indirectly, including torch's first-step rule).
 * Schedules: the lr of every step is compared with torch's schedulers
 * (MultiStepLR, CosineAnnealingLR, LinearLR warm-up chained by SequentialLR)
 * and with a hand-computed warm-up + multi-step sequence.
 *
 * Tolerances (tests/support/golden.h): 1e-5 relative plus 1e-5 of the
 * tensor's scale. The updates are a few float32 operations per element; the
 * observed error is far below this. */
#include <string.h>

#include "golden.h"
#include "ibx/optim.h"

#define FIXTURE "golden_optim.h5"

G_FIXTURE(F, FIXTURE)

typedef enum { OPT_SGD, OPT_ADAM } opt_kind;

static void run_opt(const char *grp, opt_kind kind) {
  char what[192];
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("%s\n", grp);
  const long steps = g_attr_i(&F, grp, "steps");
  const float lr = (float)g_attr_f(&F, grp, "lr");
  ibx_tensor hist, grads;
  g_read(&F, grp, "params", &hist);
  g_read(&F, grp, "grads", &grads);
  assert_int_equal(hist.ndim, 2);
  assert_int_equal(hist.dim[0], steps + 1);
  assert_int_equal(grads.dim[0], steps);
  const size_t n = (size_t)hist.dim[1];
  assert_int_equal(grads.dim[1], (int)n);
  float *p = g_copy(hist.data, n);
  float *b1 = ibx_calloc(n * sizeof(float), "buf1");
  float *b2 = ibx_calloc(n * sizeof(float), "buf2");
  ibx_sgd sgd = {0};
  ibx_adam adam = {0};
  if (kind == OPT_SGD) {
    sgd.momentum = (float)g_attr_f(&F, grp, "momentum");
    sgd.weight_decay = (float)g_attr_f(&F, grp, "weight_decay");
    sgd.nesterov = (int)g_attr_i(&F, grp, "nesterov");
    sgd.dampening = (float)g_attr_f(&F, grp, "dampening");
  } else {
    adam.beta1 = (float)g_attr_f(&F, grp, "beta1");
    adam.beta2 = (float)g_attr_f(&F, grp, "beta2");
    adam.eps = (float)g_attr_f(&F, grp, "eps");
    adam.weight_decay = (float)g_attr_f(&F, grp, "weight_decay");
    adam.decoupled = (int)g_attr_i(&F, grp, "decoupled");
  }
  for (long k = 0; k < steps; k++) {
    const float *g = grads.data + (size_t)k * n;
    if (kind == OPT_SGD)
      assert_ibx_ok(ibx_sgd_step(&sgd, lr, p, g, sgd.momentum > 0.0f ? b1 : NULL, n, k));
    else
      assert_ibx_ok(ibx_adam_step(&adam, lr, p, g, b1, b2, n, k));
    snprintf(what, sizeof what, "%s params after step %ld", grp, k + 1);
    g_check(what, p, hist.data + (size_t)(k + 1) * n, n);
  }
  ibx_free(p);
  ibx_free(b1);
  ibx_free(b2);
  ibx_free(hist.data);
  ibx_free(grads.data);
}

static void test_sgd(void **state) {
  (void)state;
  run_opt("sgd/momentum", OPT_SGD);
  run_opt("sgd/nesterov", OPT_SGD);
  run_opt("sgd/plain", OPT_SGD);
  run_opt("sgd/dampening", OPT_SGD);
}

static void test_adam(void **state) {
  (void)state;
  run_opt("adam/adam", OPT_ADAM);
  run_opt("adam/adam_l2", OPT_ADAM);
  run_opt("adam/adamw", OPT_ADAM);
}

/* Builds the ibx schedule a fixture group describes and compares lr[k]. */
static void run_schedule(const char *grp, ibx_sched_kind kind) {
  char p[192], what[192];
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("%s\n", grp);
  ibx_schedule s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.base_lr = (float)g_attr_f(&F, grp, "base_lr");
  s.warmup_steps = g_attr_i(&F, grp, "warmup_steps");
  s.warmup_start = (float)g_attr_f(&F, grp, "warmup_start");
  if (kind == IBX_SCHED_MULTISTEP) {
    int64_t ms[IBX_SCHED_MAX_MILESTONES];
    size_t nm;
    snprintf(p, sizeof p, "%s/milestones", grp);
    assert_ibx_ok(ibx_h5_numel(&F, p, &nm));
    assert_true(nm <= IBX_SCHED_MAX_MILESTONES);
    assert_ibx_ok(ibx_h5_read_i64(&F, p, ms, nm));
    for (size_t i = 0; i < nm; i++)
      s.milestones[i] = (long)ms[i];
    s.n_milestones = (int)nm;
    s.gamma = (float)g_attr_f(&F, grp, "gamma");
  } else if (kind == IBX_SCHED_COSINE) {
    s.total_steps = g_attr_i(&F, grp, "total_steps");
    s.min_lr = (float)g_attr_f(&F, grp, "min_lr");
  }
  assert_ibx_ok(ibx_schedule_check(&s));
  ibx_tensor ref;
  g_read(&F, grp, "lr", &ref);
  const size_t n = g_numel(&ref);
  float *lr = ibx_alloc(n * sizeof(float), "lr");
  assert_non_null(lr);
  for (size_t k = 0; k < n; k++)
    lr[k] = ibx_schedule_lr(&s, (long)k);
  snprintf(what, sizeof what, "%s lr per step", grp);
  g_check_tol(what, lr, ref.data, n, G_RTOL, 0.0); /* lrs: purely relative */
  ibx_free(lr);
  ibx_free(ref.data);
}

static void test_schedules(void **state) {
  (void)state;
  run_schedule("schedule/multistep", IBX_SCHED_MULTISTEP);
  run_schedule("schedule/cosine", IBX_SCHED_COSINE);
  run_schedule("schedule/warmup_cosine", IBX_SCHED_COSINE);
  run_schedule("schedule/warmup_multistep", IBX_SCHED_MULTISTEP);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd),
      cmocka_unit_test(test_adam),
      cmocka_unit_test(test_schedules),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
