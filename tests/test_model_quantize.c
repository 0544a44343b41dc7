/* The aib-qt quantiser (ibx/quantize.h) on its own: nearest-anchor
 * assignment and ties, the straight-through gradient and the commitment
 * term by finite differences of the straight-through surrogate, the anchor
 * gradient of the vq term by finite differences, and that an SGD step on
 * the anchors moves them towards the scores assigned to them (the anchor
 * update of Eq. 10). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/quantize.h"
#include "testutil.h"

#define N 40
#define Q 5

static void test_nearest_and_ties(void **state) {
  (void)state;
  const float v[Q] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f};
  const float a[6] = {-0.3f, 0.1f, 0.125f, 0.62f, 0.9f, 7.0f};
  float aq[6];
  int idx[6];
  double mse;
  assert_ibx_ok(ibx_quantize_forward(a, 6, v, Q, aq, idx, &mse));
  const int want[6] = {0, 0, 0 /* tie 0.125: the lower anchor */, 2, 4, 4};
  double acc = 0.0;
  for (int i = 0; i < 6; i++) {
    assert_int_equal(idx[i], want[i]);
    assert_true(aq[i] == v[want[i]]);
    acc += ((double)a[i] - aq[i]) * ((double)a[i] - aq[i]);
  }
  assert_true(fabs(mse - acc / 6) < 1e-9);
  /* unsorted anchors work too */
  const float w[3] = {0.9f, -0.2f, 0.4f};
  assert_ibx_ok(ibx_quantize_forward(a, 6, w, 3, aq, idx, NULL));
  assert_int_equal(idx[0], 1);
  assert_int_equal(idx[3], 2);
  assert_int_equal(idx[5], 0);
  assert_int_equal(ibx_quantize_forward(a, 6, w, 0, aq, idx, NULL), IBX_ERR_ARG);
}

typedef struct {
  float *a, *v, *G, *a0, *q0;
  int *idx0;
  float lq, lc;
} qctx;

/* The straight-through surrogate at the recorded point (a0, idx0, q0):
 * L = sum(G .* (a + q0 - a0)) + lq mean (a0 - v_idx0)^2 + lc mean (a - q0)^2. */
static double surrogate(void *p) {
  qctx *c = p;
  double s = 0.0, vq = 0.0, cm = 0.0;
  for (int e = 0; e < N; e++) {
    s += (double)c->G[e] * (c->a[e] + (c->q0[e] - c->a0[e]));
    const double rq = (double)c->a0[e] - c->v[c->idx0[e]], rc = (double)c->a[e] - c->q0[e];
    vq += rq * rq, cm += rc * rc;
  }
  return s + c->lq * vq / N + c->lc * cm / N;
}

static void test_straight_through_and_anchor_gradients(void **state) {
  (void)state;
  float a[N], v[Q] = {0.05f, 0.3f, 0.45f, 0.7f, 0.95f}, aq[N], da[N], dv[Q] = {0};
  float G[N], a0[N], q0[N];
  int idx[N];
  tu_randn(a, N, 0.3f, 1);
  for (int e = 0; e < N; e++)
    a[e] += 0.5f;
  tu_randn(G, N, 1.0f, 2);
  assert_ibx_ok(ibx_quantize_forward(a, N, v, Q, aq, idx, NULL));
  memcpy(a0, a, sizeof a);
  memcpy(q0, aq, sizeof aq);
  const float lq = 0.4f, lc = 0.1f;
  assert_ibx_ok(ibx_quantize_backward(a, aq, idx, N, Q, G, lq, lc, 1, da, dv));
  /* straight-through: da = G + 2 lc (a - aq) / N exactly */
  for (int e = 0; e < N; e++)
    assert_true(fabsf(da[e] - (G[e] + 2.0f * lc * (a[e] - aq[e]) / N)) < 1e-6f);
  qctx c = {a, v, G, a0, q0, idx, lq, lc};
  tu_check_grad("quantiser da", surrogate, &c, a, da, N, 1e-3f, 1e-3, 1e-5, 0);
  tu_check_grad("quantiser d anchors", surrogate, &c, v, dv, Q, 1e-3f, 1e-3, 1e-5, 0);
  /* without the loss terms: pure straight-through, no anchor gradient */
  float da2[N], dv2[Q] = {0};
  assert_ibx_ok(ibx_quantize_backward(a, aq, idx, N, Q, G, lq, lc, 0, da2, dv2));
  tu_assert_close("da without loss", da2, G, N, 0, 0);
  for (int j = 0; j < Q; j++)
    assert_true(dv2[j] == 0.0f);
}

/* A gradient step on the anchors reduces the vq loss and moves every used
 * anchor towards the mean of its scores; unused anchors stay. */
static void test_anchor_update(void **state) {
  (void)state;
  float a[N], v[Q] = {0.0f, 0.25f, 0.5f, 0.75f, 5.0f}, aq[N], dv[Q] = {0};
  int idx[N];
  tu_randn(a, N, 0.2f, 3);
  for (int e = 0; e < N; e++)
    a[e] = 0.4f + a[e];
  double mse0, mse1;
  assert_ibx_ok(ibx_quantize_forward(a, N, v, Q, aq, idx, &mse0));
  assert_ibx_ok(ibx_quantize_backward(a, aq, idx, N, Q, NULL, 0.4f, 0.1f, 1, NULL, dv));
  assert_true(dv[4] == 0.0f); /* anchor 5.0 is nobody's nearest */
  float mean[Q] = {0}, cnt[Q] = {0};
  for (int e = 0; e < N; e++)
    mean[idx[e]] += a[e], cnt[idx[e]] += 1;
  float v1[Q];
  for (int j = 0; j < Q; j++) {
    v1[j] = v[j] - 0.5f * dv[j];
    if (cnt[j] > 0) {
      mean[j] /= cnt[j];
      assert_true(fabsf(v1[j] - mean[j]) < fabsf(v[j] - mean[j]));
    }
  }
  /* same assignment, smaller error */
  double acc = 0.0;
  for (int e = 0; e < N; e++)
    acc += ((double)a[e] - v1[idx[e]]) * ((double)a[e] - v1[idx[e]]);
  mse1 = acc / N;
  assert_true(mse1 < mse0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nearest_and_ties),
      cmocka_unit_test(test_straight_through_and_anchor_gradients),
      cmocka_unit_test(test_anchor_update),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
