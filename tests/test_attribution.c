/* Attribution building blocks: the IBA capacity (zero at lambda = 0,
 * increasing in lambda, equal to a numerically integrated KL, derivative
 * against finite differences), the blur and its adjoint, the bottleneck at
 * alpha -> +inf leaving the network unchanged, layer intercepts not changing
 * forward or backward, Integrated Gradients completeness, Grad-CAM against a
 * hand computation, the bounding-box ratio of oracle and random heatmaps,
 * and the degradation score's normalisation and integral. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ibx/attrib_metrics.h"
#include "ibx/attribution.h"
#include "ibx/iba.h"
#include "ibx/memory.h"
#include "ibx/model.h"
#include "ibx/rng.h"
#include "testutil.h"

static ibx_model *small_vgg(float width, int max_batch) {
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "vgg16");
  snprintf(c.head, sizeof c.head, "plain");
  ibx_model_config_defaults(&c);
  c.width = width;
  c.in_channels = 1, c.in_height = c.in_width = 32;
  c.num_classes = 10;
  c.seed = 3;
  ibx_model *m = NULL;
  assert_ibx_ok(ibx_model_create(&c, max_batch, &m));
  /* non-trivial batch-norm statistics and biases, so eval mode is not identity-like */
  ibx_params *P = ibx_model_params(m);
  for (int i = 0; i < P->count; i++)
    if (P->info[i].ndim == 1) { /* biases N(0, 0.2^2), batch-norm gammas 1 + N(0, 0.2^2) */
      float *v = P->values + P->info[i].offset;
      tu_randn(v, P->info[i].numel, 0.2f, 100 + (uint64_t)i);
      if (strstr(P->info[i].name, ".weight"))
        for (size_t e = 0; e < P->info[i].numel; e++)
          v[e] += 1.0f;
    }
    else if (P->info[i].ndim == 2) /* the classifier: torchvision's N(0, 0.01) gives flat logits */
      tu_randn(P->values + P->info[i].offset, P->info[i].numel, 1.0f, 100 + (uint64_t)i);
  return m;
}

static void test_capacity_zero_and_monotone(void **state) {
  (void)state;
  const float rs[] = {0.0f, 0.5f, -1.3f, 3.0f};
  for (int k = 0; k < 4; k++) {
    assert_true(fabsf(ibx_iba_capacity(0.0f, rs[k])) < 1e-7f);
    float prev = 0.0f;
    for (int i = 1; i < 100; i++) {
      const float c = ibx_iba_capacity(i / 100.0f, rs[k]);
      assert_true(c > prev);
      prev = c;
    }
  }
}

/* KL(N(m, s^2) || N(0,1)) = int p log(p/q) by Simpson's rule. */
static double kl_integral(double m, double s) {
  const int n = 20000;
  const double a = m - 14 * s, b = m + 14 * s, h = (b - a) / n;
  double sum = 0.0;
  for (int i = 0; i <= n; i++) {
    const double x = a + i * h;
    const double lp = -0.5 * ((x - m) / s) * ((x - m) / s) - log(s) - 0.5 * log(2 * 3.14159265358979323846);
    const double lq = -0.5 * x * x - 0.5 * log(2 * 3.14159265358979323846);
    const double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    sum += w * exp(lp) * (lp - lq);
  }
  return sum * h / 3.0;
}

static void test_capacity_matches_integral(void **state) {
  (void)state;
  const float lams[] = {0.1f, 0.5f, 0.8f, 0.95f}, rs[] = {-2.0f, 0.0f, 0.7f, 2.5f};
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      const double ref = kl_integral((double)lams[i] * rs[j], 1.0 - lams[i]);
      const double got = ibx_iba_capacity(lams[i], rs[j]);
      if (fabs(got - ref) > 1e-5 * (1.0 + fabs(ref)))
        fail_msg("capacity(%g, %g) = %.8g, integral %.8g", (double)lams[i], (double)rs[j], got,
                 ref);
    }
}

static void test_capacity_derivative(void **state) {
  (void)state;
  const float lams[] = {0.05f, 0.3f, 0.6f, 0.9f}, rs[] = {-1.5f, 0.2f, 2.0f};
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) {
      const double h = 1e-3, l = lams[i];
      const double fd = ((double)ibx_iba_capacity((float)(l + h), rs[j]) -
                         ibx_iba_capacity((float)(l - h), rs[j])) / (2 * h);
      const double an = ibx_iba_capacity_dlambda(lams[i], rs[j]);
      if (fabs(fd - an) > 2e-3 * (1 + fabs(an)))
        fail_msg("dC/dlambda(%g, %g): analytic %g, finite difference %g", l, (double)rs[j], an, fd);
    }
}

static void test_blur_adjoint_and_constant(void **state) {
  (void)state;
  enum { C = 3, H = 6, W = 7, N = C * H * W };
  float x[N], y[N], kx[N], kty[N], one[N];
  tu_randn(x, N, 1.0f, 1), tu_randn(y, N, 1.0f, 2);
  ibx_iba_blur(x, C, H, W, 5, 1.0f, kx);
  ibx_iba_blur_adjoint(y, C, H, W, 5, 1.0f, kty);
  double a = 0.0, b = 0.0;
  for (int i = 0; i < N; i++)
    a += (double)kx[i] * y[i], b += (double)x[i] * kty[i];
  assert_true(fabs(a - b) < 1e-4 * (fabs(a) + 1));
  for (int i = 0; i < N; i++)
    x[i] = 0.75f;
  ibx_iba_blur(x, C, H, W, 5, 1.0f, one);
  for (int i = 0; i < N; i++)
    assert_true(fabsf(one[i] - 0.75f) < 1e-6f);
  /* and it does smooth: a single spike spreads */
  memset(x, 0, sizeof x);
  x[3 * W + 3] = 1.0f;
  ibx_iba_blur(x, 1, H, W, 5, 1.0f, one);
  assert_true(one[3 * W + 3] < 0.2f && one[3 * W + 4] > 0.05f);
}

static void test_bottleneck_open_is_identity(void **state) {
  (void)state;
  ibx_model *m = small_vgg(1.0f / 16, 4);
  ibx_iba_config cfg;
  ibx_iba_default(&cfg);
  cfg.batch = 4;
  ibx_iba *b = NULL;
  assert_ibx_ok(ibx_iba_create(m, "features.22", &cfg, &b));
  float *x = tu_alloc_randn(4 * 32 * 32, 1.0f, 9);
  assert_ibx_ok(ibx_iba_add_samples(b, x, 4));
  assert_ibx_ok(ibx_iba_finish_stats(b));
  ibx_tensor lg;
  assert_ibx_ok(ibx_model_forward(m, x, NULL, 4, 0, 0, NULL, &lg));
  float ref[40], got[40], closed[40];
  memcpy(ref, lg.data, sizeof ref);
  assert_ibx_ok(ibx_iba_forward_alpha(b, x, 4, 40.0f, 1, got));
  tu_assert_close("logits, alpha = 40", got, ref, 40, 1e-5, 1e-5);
  /* the bottleneck is really in the path: closing it changes the output */
  assert_ibx_ok(ibx_iba_forward_alpha(b, x, 4, -40.0f, 1, closed));
  double diff = 0.0;
  for (int i = 0; i < 40; i++)
    diff = fmax(diff, fabs((double)closed[i] - ref[i]));
  assert_true(diff > 1e-2);
  /* and after the IBA calls the model is back to normal */
  assert_ibx_ok(ibx_model_forward(m, x, NULL, 4, 0, 0, NULL, &lg));
  tu_assert_close("logits after", lg.data, ref, 40, 0, 0);
  ibx_free(x);
  ibx_iba_free(b);
  ibx_model_free(m);
}

/* An identity intercept changes neither logits nor input gradients. */
static int copy_fwd(void *ctx, const ibx_tensor *r, ibx_tensor *z) {
  (*(int *)ctx)++;
  memcpy(z->data, r->data, (size_t)ibx_numel(r) * sizeof(float));
  return IBX_OK;
}
static int pass_bwd(void *ctx, ibx_tensor *dz) {
  (*(int *)ctx) += 100;
  (void)dz;
  return IBX_OK;
}

static void test_intercept_transparent(void **state) {
  (void)state;
  ibx_model *m = small_vgg(1.0f / 16, 2);
  float *x = tu_alloc_randn(2 * 32 * 32, 1.0f, 4);
  float d[20] = {0}, dx0[2048], dx1[2048], lg0[20];
  d[3] = 1.0f, d[10 + 7] = -0.5f;
  ibx_tensor lg;
  assert_ibx_ok(ibx_model_forward(m, x, NULL, 2, 0, 0, NULL, &lg));
  memcpy(lg0, lg.data, sizeof lg0);
  assert_ibx_ok(ibx_model_backward_from_logits(m, d, dx0));
  const char *layers[] = {"features.5", "features.22", "features.42", "features.45"};
  for (int k = 0; k < 4; k++) {
    int calls = 0;
    assert_ibx_ok(ibx_model_set_intercept(m, layers[k], copy_fwd, pass_bwd, &calls, 0));
    assert_ibx_ok(ibx_model_forward(m, x, NULL, 2, 0, 0, NULL, &lg));
    tu_assert_close(layers[k], lg.data, lg0, 20, 0, 0);
    assert_ibx_ok(ibx_model_backward_from_logits(m, d, dx1));
    tu_assert_close(layers[k], dx1, dx0, 2048, 0, 0);
    assert_int_equal(calls, 101);
  }
  assert_ibx_ok(ibx_model_set_intercept(m, NULL, NULL, NULL, NULL, 0));
  /* a batch norm followed by its fused ReLU cannot be intercepted */
  assert_int_equal(ibx_model_set_intercept(m, "features.1", copy_fwd, pass_bwd, NULL, 0),
                   IBX_ERR_ARG);
  ibx_free(x);
  ibx_model_free(m);
}

static void test_integrated_gradients_completeness(void **state) {
  (void)state;
  ibx_model *m = small_vgg(1.0f / 16, 10);
  ibx_attr_config cfg;
  ibx_attr_default(&cfg);
  cfg.ig_steps = 400;
  ibx_attributor *a = NULL;
  assert_ibx_ok(ibx_attributor_create(m, &cfg, &a));
  int ig;
  assert_ibx_ok(ibx_attr_find("integrated_gradients", &ig));
  float *x = tu_alloc_randn(32 * 32, 1.0f, 21), zero[32 * 32] = {0}, heat[32 * 32], g[32 * 32];
  float fx, f0;
  assert_ibx_ok(ibx_attr_input_grad(a, x, 1, 2, g, &fx));
  assert_ibx_ok(ibx_attr_input_grad(a, zero, 1, 2, g, &f0));
  assert_ibx_ok(ibx_attribute(a, ig, x, 2, 0, heat));
  double sum = 0.0;
  for (int i = 0; i < 32 * 32; i++)
    sum += heat[i];
  /* a ReLU network is piecewise linear: the Riemann sum's error is from the
   * kinks along the path, O(1/steps) */
  if (fabs(sum - (fx - f0)) > 0.02 * fabs((double)fx - f0) + 1e-3)
    fail_msg("IG: sum %g, f(x) - f(0) = %g", sum, (double)fx - f0);
  assert_true(fabs((double)fx - f0) > 1e-2); /* not vacuous */
  ibx_free(x);
  ibx_attributor_free(a);
  ibx_model_free(m);
}

static int grab_fwd(void *ctx, const ibx_tensor *r, ibx_tensor *z) {
  memcpy(ctx, r->data, (size_t)ibx_numel(r) * sizeof(float));
  memcpy(z->data, r->data, (size_t)ibx_numel(r) * sizeof(float));
  return IBX_OK;
}
static int grab_bwd(void *ctx, ibx_tensor *dz) {
  (void)ctx, (void)dz;
  return IBX_OK;
}

/* VGG plain at 32x32: features.42 (block 5, [K,2,2]) -> 2x2 max-pool ->
 * linear. S = sum_k W[t,k] max_p A_k[p] + b, so dS/dA_k is W[t,k] at the
 * maximum of A_k, the Grad-CAM weight is W[t,k] / 4 and the map is
 * relu(sum_k W[t,k] / 4 A_k[p]). Upsampled 2x2 -> 32x32 (align_corners
 * false) the corners keep the four values and the centre is their mean. */
static void test_gradcam_by_hand(void **state) {
  (void)state;
  ibx_model *m = small_vgg(1.0f / 16, 10);
  ibx_params *P = ibx_model_params(m);
  const int wi = ibx_params_find(P, "features.45.weight");
  assert_true(wi >= 0);
  float *W = P->values + P->info[wi].offset;
  const int K = P->info[wi].dim[1];
  const int t = 4;
  for (int k = 0; k < K; k++)
    W[t * K + k] = (k % 3 == 0 ? 1.0f : -0.4f) * (1.0f + 0.1f * k);
  ibx_attr_config cfg;
  ibx_attr_default(&cfg);
  ibx_attributor *a = NULL;
  assert_ibx_ok(ibx_attributor_create(m, &cfg, &a));
  int gc;
  assert_ibx_ok(ibx_attr_find("gradcam", &gc));
  float *x = tu_alloc_randn(32 * 32, 1.0f, 33), heat[32 * 32];
  assert_ibx_ok(ibx_attribute(a, gc, x, t, 0, heat));
  float A[512];
  assert_true(K * 4 <= 512);
  assert_ibx_ok(ibx_model_set_intercept(m, "features.42", grab_fwd, grab_bwd, A, 0));
  assert_ibx_ok(ibx_model_forward(m, x, NULL, 1, 0, 0, NULL, NULL));
  assert_ibx_ok(ibx_model_set_intercept(m, NULL, NULL, NULL, NULL, 0));
  float cam[4];
  int nonzero = 0;
  for (int p = 0; p < 4; p++) {
    double s = 0.0;
    for (int k = 0; k < K; k++)
      s += W[t * K + k] / 4.0 * A[k * 4 + p];
    cam[p] = s > 0 ? (float)s : 0.0f;
    nonzero += cam[p] > 0;
  }
  assert_true(nonzero > 0);
  const float corners[4] = {heat[0], heat[31], heat[31 * 32], heat[32 * 32 - 1]};
  tu_assert_close("gradcam corners", corners, cam, 4, 1e-5, 1e-6);
  const float centre = 0.25f * (cam[0] + cam[1] + cam[2] + cam[3]);
  const float got_centre[1] = {0.25f * (heat[15 * 32 + 15] + heat[15 * 32 + 16] +
                                        heat[16 * 32 + 15] + heat[16 * 32 + 16])};
  tu_assert_close("gradcam centre", got_centre, &centre, 1, 1e-5, 1e-6);
  ibx_free(x);
  ibx_attributor_free(a);
  ibx_model_free(m);
}

static void test_bbox_oracle_and_random(void **state) {
  (void)state;
  enum { H = 48, W = 48 };
  const float box[4] = {10.0f, 5.0f, 20.0f, 15.0f}; /* 300 of 2304 pixels */
  float heat[H * W];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      heat[y * W + x] = (x >= 10 && x < 30 && y >= 5 && y < 20) ? 1.0f + 0.01f * x : 0.0f;
  double r;
  assert_int_equal(ibx_box_pixels(box, H, W), 300);
  assert_true(ibx_box_eligible(box, H, W, 0.33));
  assert_ibx_ok(ibx_bbox_ratio(heat, H, W, box, &r));
  assert_true(r == 1.0);
  double mean = 0.0;
  for (int s = 0; s < 200; s++) {
    ibx_rng_fill_uniform(heat, H * W, 7, (uint64_t)s, 0);
    assert_ibx_ok(ibx_bbox_ratio(heat, H, W, box, &r));
    mean += r / 200;
  }
  const double expect = 300.0 / (H * W);
  if (fabs(mean - expect) > 0.01)
    fail_msg("random heatmaps: mean ratio %g, box fraction %g", mean, expect);
  const float big[4] = {0, 0, 40, 40};
  assert_false(ibx_box_eligible(big, H, W, 0.33));
}

static void test_degradation_score_by_hand(void **state) {
  (void)state;
  /* averaged raw curves: original 0.9, fully removed 0.1 */
  float morf[5] = {0.9f, 0.3f, 0.2f, 0.1f, 0.1f}, lerf[5] = {0.9f, 0.9f, 0.8f, 0.5f, 0.1f};
  double s;
  assert_ibx_ok(ibx_degradation_score(morf, lerf, 5, &s));
  /* normalised: morf 1, .25, .125, 0, 0; lerf 1, 1, .875, .5, 0; differences
   * 0, .75, .75, .5, 0; trapezoid over [0,1] with h = 1/4 */
  const double expect = 0.25 * (0.75 + 0.75 + 0.5);
  assert_true(fabs(s - expect) < 1e-6);
  assert_true(fabsf(morf[1] - 0.25f) < 1e-6f && fabsf(lerf[3] - 0.5f) < 1e-6f);
  float flat_m[3] = {0.5f, 0.5f, 0.5f}, flat_l[3] = {0.5f, 0.4f, 0.5f};
  assert_int_equal(ibx_degradation_score(flat_m, flat_l, 3, &s), IBX_ERR_NUMERIC);
}

/* On a real network the curves start at the original probability, end at
 * the fully removed one, and the reverse heatmap swaps MoRF and LeRF. */
static void test_degradation_curves(void **state) {
  (void)state;
  ibx_model *m = small_vgg(1.0f / 16, 10);
  float *x = tu_alloc_randn(32 * 32, 1.0f, 41), heat[32 * 32], rev[32 * 32];
  tu_randn(heat, 32 * 32, 1.0f, 42);
  for (int i = 0; i < 32 * 32; i++)
    rev[i] = -heat[i];
  float mo[9], le[9], mo2[9], le2[9], p0, pf;
  assert_ibx_ok(ibx_degradation_curves(m, 10, x, 1, heat, 4, 9, mo, le));
  assert_ibx_ok(ibx_degradation_curves(m, 10, x, 1, rev, 4, 9, mo2, le2));
  assert_ibx_ok(ibx_attr_target_prob(m, x, 1, 1, &p0));
  float full[32 * 32];
  double mean = 0.0;
  for (int i = 0; i < 32 * 32; i++)
    mean += x[i] / 1024.0;
  for (int i = 0; i < 32 * 32; i++)
    full[i] = (float)mean;
  assert_ibx_ok(ibx_attr_target_prob(m, full, 1, 1, &pf));
  assert_true(fabsf(mo[0] - p0) < 1e-6f && fabsf(le[0] - p0) < 1e-6f);
  assert_true(fabsf(mo[8] - pf) < 1e-6f && fabsf(le[8] - pf) < 1e-6f);
  tu_assert_close("reverse morf = lerf", mo2, le, 9, 1e-6, 1e-7);
  tu_assert_close("reverse lerf = morf", le2, mo, 9, 1e-6, 1e-7);
  ibx_free(x);
  ibx_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capacity_zero_and_monotone),
      cmocka_unit_test(test_capacity_matches_integral),
      cmocka_unit_test(test_capacity_derivative),
      cmocka_unit_test(test_blur_adjoint_and_constant),
      cmocka_unit_test(test_bottleneck_open_is_identity),
      cmocka_unit_test(test_intercept_transparent),
      cmocka_unit_test(test_integrated_gradients_completeness),
      cmocka_unit_test(test_gradcam_by_hand),
      cmocka_unit_test(test_bbox_oracle_and_random),
      cmocka_unit_test(test_degradation_score_by_hand),
      cmocka_unit_test(test_degradation_curves),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
