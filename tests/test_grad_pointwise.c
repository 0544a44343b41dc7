/* Finite-difference gradient checks for the point-wise and small layers:
 * relu / sigmoid / tanh, dropout (training), add and mul with broadcasting
 * (gradients of both operands), bilinear resampling, softmax, softmax +
 * cross-entropy (w.r.t. the logits, with a loss scale), the Gaussian KL term
 * (w.r.t. mu and logvar) and linear (x, w, b).
 *
 * Method: L = sum(y .* G) for a fixed random G (dL/dy = G), summed in double
 * by tu_dot; for the two losses (xent, KL) L = scale * loss. Each input is
 * perturbed by +-eps and the central difference compared with backward.
 *
 * Tolerance: eps = 1e-2, |fd - an| <= 1e-3 + 1e-2 * max(|fd|, |an|).
 * Why: the forward passes run in float32, so L carries ~6e-8 relative
 * rounding per output touched; dividing by 2*eps = 2e-2 turns that into at
 * most ~1e-4 here, under atol. The smooth non-linear layers (sigmoid, tanh,
 * softmax, exp in KL) add an O(eps^2 f''') truncation error of ~2e-5. rtol
 * covers float32 arithmetic in backward. ReLU inputs are kept at |x| >= 0.1
 * so a +-1e-2 step never crosses the kink.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"

#define EPS 1e-2f
#define RTOL 1e-2
#define ATOL 1e-3

/* ---- activations --------------------------------------------------------- */

typedef int (*act_fwd)(const ibx_tensor *, ibx_tensor *);
typedef int (*act_bwd)(const ibx_tensor *, const ibx_tensor *, ibx_tensor *);

typedef struct {
  act_fwd fwd;
  ibx_tensor x, y;
  float *G;
} act_ctx;

static double act_loss(void *p) {
  act_ctx *c = p;
  assert_ibx_ok(c->fwd(&c->x, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void run_act(const char *name, act_fwd fwd, act_bwd bwd, int keep_from_zero) {
  const int N = 2, C = 3, H = 4, W = 5;
  const size_t n = (size_t)N * C * H * W;
  act_ctx c = {fwd, ibx_t4(tu_alloc_randn(n, 1.5f, 41), N, C, H, W),
               ibx_t4(calloc(n, sizeof(float)), N, C, H, W), tu_alloc_randn(n, 1.0f, 42)};
  if (keep_from_zero)
    for (size_t i = 0; i < n; i++)
      c.x.data[i] = c.x.data[i] >= 0.0f ? 0.1f + c.x.data[i] : -0.1f + c.x.data[i];
  float *dx = calloc(n, sizeof(float));
  assert_true(c.y.data && dx);
  (void)act_loss(&c);
  ibx_tensor dy = ibx_t4(c.G, N, C, H, W), dxt = ibx_t4(dx, N, C, H, W);
  assert_ibx_ok(bwd(&c.y, &dy, &dxt));
  char what[120];
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, act_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);

  /* In place: forward with y == x and backward with dx == dy match. */
  float *xy = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
  memcpy(xy, c.x.data, n * sizeof(float));
  memcpy(g, c.G, n * sizeof(float));
  ibx_tensor xyt = ibx_t4(xy, N, C, H, W), gt = ibx_t4(g, N, C, H, W);
  assert_ibx_ok(fwd(&xyt, &xyt));
  assert_ibx_ok(fwd(&c.x, &c.y));
  tu_assert_close("in-place forward", xy, c.y.data, n, 0.0, 0.0);
  assert_ibx_ok(bwd(&xyt, &gt, &gt));
  tu_assert_close("in-place backward", g, dx, n, 0.0, 0.0);
  free(xy), free(g);
  free(c.x.data), free(c.y.data), free(c.G), free(dx);
}

static void test_relu(void **state) {
  (void)state;
  run_act("relu", ibx_relu_forward, ibx_relu_backward, 1);
}
static void test_sigmoid(void **state) {
  (void)state;
  run_act("sigmoid", ibx_sigmoid_forward, ibx_sigmoid_backward, 0);
}
static void test_tanh(void **state) {
  (void)state;
  run_act("tanh", ibx_tanh_forward, ibx_tanh_backward, 0);
}

/* Sigmoid must not overflow for large |x|. */
static void test_sigmoid_extremes(void **state) {
  (void)state;
  float x[4] = {-200.0f, -30.0f, 30.0f, 200.0f}, y[4];
  ibx_tensor xt = ibx_t1(x, 4), yt = ibx_t1(y, 4);
  assert_ibx_ok(ibx_sigmoid_forward(&xt, &yt));
  assert_true(y[0] >= 0.0f && y[0] < 1e-12f);
  assert_true(y[1] > 0.0f && y[1] < 1e-12f);
  assert_float_equal(y[2], 1.0f, 1e-7f);
  assert_float_equal(y[3], 1.0f, 0.0f);
}

/* ---- dropout ------------------------------------------------------------- */

typedef struct {
  ibx_dropout L;
  ibx_tensor x, y;
  float *G;
} drop_ctx;

static double drop_loss(void *p) {
  drop_ctx *c = p;
  assert_ibx_ok(ibx_dropout_forward(&c->L, 1, &c->x, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_dropout(void **state) {
  (void)state;
  const int N = 4, C = 3, H = 5, W = 6;
  const size_t n = (size_t)N * C * H * W;
  drop_ctx c = {{0.3f, 1234, 7}, ibx_t4(tu_alloc_randn(n, 1.0f, 51), N, C, H, W),
                ibx_t4(calloc(n, sizeof(float)), N, C, H, W), tu_alloc_randn(n, 1.0f, 52)};
  float *dx = calloc(n, sizeof(float));
  (void)drop_loss(&c);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (c.y.data[i] != 0.0f) {
      kept++;
      assert_float_equal(c.y.data[i], c.x.data[i] / 0.7f, 1e-6f);
    }
  }
  /* 360 draws, keep probability 0.7: 252 expected, sd ~8.7. */
  assert_true(kept > 252 - 45 && kept < 252 + 45);
  ibx_tensor dy = ibx_t4(c.G, N, C, H, W), dxt = ibx_t4(dx, N, C, H, W);
  assert_ibx_ok(ibx_dropout_backward(&c.L, 1, &dy, &dxt));
  tu_check_grad("dropout: dx", drop_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);

  /* The mask is a function of (seed, stream, i): same again, different for
   * another stream. (c.y is recomputed first: the gradient check left the
   * output of its last, perturbed evaluation in it.) */
  (void)drop_loss(&c);
  float *y2 = calloc(n, sizeof(float));
  ibx_tensor y2t = ibx_t4(y2, N, C, H, W);
  assert_ibx_ok(ibx_dropout_forward(&c.L, 1, &c.x, &y2t));
  assert_memory_equal(y2, c.y.data, n * sizeof(float));
  ibx_dropout other = c.L;
  other.stream = 8;
  assert_ibx_ok(ibx_dropout_forward(&other, 1, &c.x, &y2t));
  assert_memory_not_equal(y2, c.y.data, n * sizeof(float));
  /* Eval: identity, forward and backward. */
  assert_ibx_ok(ibx_dropout_forward(&c.L, 0, &c.x, &y2t));
  assert_memory_equal(y2, c.x.data, n * sizeof(float));
  assert_ibx_ok(ibx_dropout_backward(&c.L, 0, &dy, &y2t));
  assert_memory_equal(y2, c.G, n * sizeof(float));
  free(y2), free(c.x.data), free(c.y.data), free(c.G), free(dx);
}

/* ---- add / mul with broadcasting ----------------------------------------- */

typedef struct {
  int mul;
  ibx_tensor a, b, y;
  float *G;
} bin_ctx;

static double bin_loss(void *p) {
  bin_ctx *c = p;
  if (c->mul)
    assert_ibx_ok(ibx_mul_forward(&c->a, &c->b, &c->y));
  else
    assert_ibx_ok(ibx_add_forward(&c->a, &c->b, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void run_bin(int mul, int B0, int B1, int B2, int B3) {
  const int N = 2, C = 3, H = 4, W = 5;
  const size_t n = (size_t)N * C * H * W, nb = (size_t)B0 * B1 * B2 * B3;
  bin_ctx c = {mul, ibx_t4(tu_alloc_randn(n, 1.0f, 61), N, C, H, W),
               ibx_t4(tu_alloc_randn(nb, 1.0f, 62), B0, B1, B2, B3),
               ibx_t4(calloc(n, sizeof(float)), N, C, H, W), tu_alloc_randn(n, 1.0f, 63)};
  float *da = calloc(n, sizeof(float)), *db = malloc(nb * sizeof(float));
  for (size_t i = 0; i < nb; i++)
    db[i] = 123.0f; /* db is written, not accumulated */
  (void)bin_loss(&c);
  ibx_tensor dy = ibx_t4(c.G, N, C, H, W), dat = ibx_t4(da, N, C, H, W);
  ibx_tensor dbt = ibx_t4(db, B0, B1, B2, B3);
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&c.a, &c.b, &dy, &dat, &dbt));
  else
    assert_ibx_ok(ibx_add_backward(&dy, &dat, &dbt));
  char what[120];
  snprintf(what, sizeof what, "%s b[%d,%d,%d,%d]: da", mul ? "mul" : "add", B0, B1, B2, B3);
  tu_check_grad(what, bin_loss, &c, c.a.data, da, n, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s b[%d,%d,%d,%d]: db", mul ? "mul" : "add", B0, B1, B2, B3);
  tu_check_grad(what, bin_loss, &c, c.b.data, db, nb, EPS, RTOL, ATOL, 0);

  /* da may alias dy, and either gradient may be skipped. */
  float *g = malloc(n * sizeof(float)), *db2 = malloc(nb * sizeof(float));
  memcpy(g, c.G, n * sizeof(float));
  ibx_tensor gt = ibx_t4(g, N, C, H, W), db2t = ibx_t4(db2, B0, B1, B2, B3);
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&c.a, &c.b, &gt, &gt, &db2t));
  else
    assert_ibx_ok(ibx_add_backward(&gt, &gt, &db2t));
  tu_assert_close("aliased da", g, da, n, 0.0, 0.0);
  tu_assert_close("db with aliased da", db2, db, nb, 0.0, 0.0);
  memset(db2, 0, nb * sizeof(float));
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&c.a, &c.b, &dy, NULL, &db2t));
  else
    assert_ibx_ok(ibx_add_backward(&dy, NULL, &db2t));
  tu_assert_close("db alone", db2, db, nb, 0.0, 0.0);
  memset(g, 0, n * sizeof(float));
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&c.a, &c.b, &dy, &gt, NULL));
  else
    assert_ibx_ok(ibx_add_backward(&dy, &gt, NULL));
  tu_assert_close("da alone", g, da, n, 0.0, 0.0);

  free(g), free(db2), free(c.a.data), free(c.b.data), free(c.y.data), free(c.G), free(da),
      free(db);
}

static void test_add_broadcast(void **state) {
  (void)state;
  run_bin(0, 2, 3, 4, 5); /* same shape */
  run_bin(0, 2, 1, 4, 5); /* [N,1,H,W] attention map */
  run_bin(0, 2, 3, 1, 1); /* [N,C,1,1] gate */
  run_bin(0, 1, 3, 1, 1); /* [1,C,1,1] per-channel */
  run_bin(0, 1, 1, 1, 5); /* last dim only */
}

static void test_mul_broadcast(void **state) {
  (void)state;
  run_bin(1, 2, 3, 4, 5);
  run_bin(1, 2, 1, 4, 5);
  run_bin(1, 2, 3, 1, 1);
  run_bin(1, 1, 3, 1, 1);
  run_bin(1, 1, 1, 1, 5);
}

/* ---- bilinear ------------------------------------------------------------ */

typedef struct {
  int align;
  ibx_tensor x, y;
  float *G;
} bil_ctx;

static double bil_loss(void *p) {
  bil_ctx *c = p;
  assert_ibx_ok(ibx_bilinear_forward(c->align, &c->x, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void run_bil(int align, int H, int W, int OH, int OW) {
  const int N = 2, C = 2;
  const size_t n = (size_t)N * C * H * W, m = (size_t)N * C * OH * OW;
  bil_ctx c = {align, ibx_t4(tu_alloc_randn(n, 1.0f, 71), N, C, H, W),
               ibx_t4(calloc(m, sizeof(float)), N, C, OH, OW), tu_alloc_randn(m, 1.0f, 72)};
  float *dx = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    dx[i] = NAN;
  (void)bil_loss(&c);
  ibx_tensor dy = ibx_t4(c.G, N, C, OH, OW), dxt = ibx_t4(dx, N, C, H, W);
  assert_ibx_ok(ibx_bilinear_backward(align, &dy, &dxt));
  char what[120];
  snprintf(what, sizeof what, "bilinear align %d %dx%d -> %dx%d: dx", align, H, W, OH, OW);
  tu_check_grad(what, bil_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);
  free(c.x.data), free(c.y.data), free(c.G), free(dx);
}

static void test_bilinear(void **state) {
  (void)state;
  for (int align = 0; align <= 1; align++) {
    run_bil(align, 3, 4, 7, 9);   /* up */
    run_bil(align, 8, 9, 3, 5);   /* down */
    run_bil(align, 4, 6, 8, 12);  /* exact 2x up */
    run_bil(align, 5, 7, 10, 3);  /* up in H, down in W */
    run_bil(align, 1, 3, 4, 1);   /* degenerate 1-pixel dims */
  }
}

/* Known values: align_corners=1 maps corners to corners; align_corners=0
 * doubles a 2-pixel row [0, 1] to [0, 0.25, 0.75, 1] as PyTorch does. */
static void test_bilinear_values(void **state) {
  (void)state;
  float x[2] = {0.0f, 1.0f}, y[4];
  ibx_tensor xt = ibx_t4(x, 1, 1, 1, 2), yt = ibx_t4(y, 1, 1, 1, 4);
  assert_ibx_ok(ibx_bilinear_forward(0, &xt, &yt));
  assert_float_equal(y[0], 0.0f, 1e-6f);
  assert_float_equal(y[1], 0.25f, 1e-6f);
  assert_float_equal(y[2], 0.75f, 1e-6f);
  assert_float_equal(y[3], 1.0f, 1e-6f);
  assert_ibx_ok(ibx_bilinear_forward(1, &xt, &yt));
  assert_float_equal(y[0], 0.0f, 1e-6f);
  assert_float_equal(y[1], 1.0f / 3.0f, 1e-6f);
  assert_float_equal(y[2], 2.0f / 3.0f, 1e-6f);
  assert_float_equal(y[3], 1.0f, 1e-6f);
}

/* ---- softmax ------------------------------------------------------------- */

typedef struct {
  ibx_tensor x, y;
  float *G;
} sm_ctx;

static double sm_loss(void *p) {
  sm_ctx *c = p;
  assert_ibx_ok(ibx_softmax_forward(&c->x, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_softmax(void **state) {
  (void)state;
  const int N = 4, K = 7;
  const size_t n = (size_t)N * K;
  sm_ctx c = {ibx_t2(tu_alloc_randn(n, 2.0f, 81), N, K), ibx_t2(calloc(n, sizeof(float)), N, K),
              tu_alloc_randn(n, 1.0f, 82)};
  float *dx = calloc(n, sizeof(float));
  (void)sm_loss(&c);
  for (int i = 0; i < N; i++) {
    double s = 0.0;
    for (int k = 0; k < K; k++)
      s += c.y.data[i * K + k];
    assert_true(fabs(s - 1.0) < 1e-6);
  }
  ibx_tensor dy = ibx_t2(c.G, N, K), dxt = ibx_t2(dx, N, K);
  assert_ibx_ok(ibx_softmax_backward(&c.y, &dy, &dxt));
  tu_check_grad("softmax: dx", sm_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);
  free(c.x.data), free(c.y.data), free(c.G), free(dx);
}

/* ---- softmax + cross-entropy --------------------------------------------- */

typedef struct {
  ibx_tensor logits;
  const int *labels;
  float scale;
} xent_ctx;

static double xent_loss(void *p) {
  xent_ctx *c = p;
  float loss;
  assert_ibx_ok(ibx_softmax_xent_forward(&c->logits, c->labels, &loss, NULL));
  return (double)c->scale * loss;
}

static void test_softmax_xent(void **state) {
  (void)state;
  const int N = 5, K = 6;
  const size_t n = (size_t)N * K;
  const int labels[5] = {0, 5, 2, 2, 3};
  xent_ctx c = {ibx_t2(tu_alloc_randn(n, 2.0f, 91), N, K), labels, 0.7f};
  float *probs = calloc(n, sizeof(float)), *sm = calloc(n, sizeof(float));
  float *dl = calloc(n, sizeof(float));
  float loss;
  ibx_tensor pt = ibx_t2(probs, N, K), smt = ibx_t2(sm, N, K), dlt = ibx_t2(dl, N, K);
  assert_ibx_ok(ibx_softmax_xent_forward(&c.logits, labels, &loss, &pt));
  assert_ibx_ok(ibx_softmax_forward(&c.logits, &smt));
  tu_assert_close("xent probs == softmax", probs, sm, n, 1e-6, 1e-7);
  double ref = 0.0;
  for (int i = 0; i < N; i++)
    ref -= log(sm[i * K + labels[i]]);
  assert_true(fabs(loss - ref / N) < 1e-5);
  assert_ibx_ok(ibx_softmax_xent_backward(&pt, labels, c.scale, &dlt));
  tu_check_grad("softmax_xent: dlogits", xent_loss, &c, c.logits.data, dl, n, EPS, RTOL, ATOL, 0);

  /* Large logits stay finite. */
  float big[3] = {1000.0f, -1000.0f, 0.0f};
  int lab = 1;
  ibx_tensor bt = ibx_t2(big, 1, 3);
  assert_ibx_ok(ibx_softmax_xent_forward(&bt, &lab, &loss, NULL));
  assert_float_equal(loss, 2000.0f, 1e-2f);
  free(c.logits.data), free(probs), free(sm), free(dl);
}

/* ---- Gaussian KL --------------------------------------------------------- */

typedef struct {
  ibx_tensor mu, logvar;
  float scale;
} kl_ctx;

static double kl_loss(void *p) {
  kl_ctx *c = p;
  float kl;
  assert_ibx_ok(ibx_gaussian_kl_forward(&c->mu, &c->logvar, &kl));
  return (double)c->scale * kl;
}

static void test_gaussian_kl(void **state) {
  (void)state;
  const int N = 4, K = 6;
  const size_t n = (size_t)N * K;
  kl_ctx c = {ibx_t2(tu_alloc_randn(n, 1.0f, 101), N, K),
              ibx_t2(tu_alloc_randn(n, 0.7f, 102), N, K), 0.3f};
  float *dmu = calloc(n, sizeof(float)), *dlv = calloc(n, sizeof(float));
  ibx_tensor dmut = ibx_t2(dmu, N, K), dlvt = ibx_t2(dlv, N, K);
  assert_ibx_ok(ibx_gaussian_kl_backward(&c.mu, &c.logvar, c.scale, &dmut, &dlvt));
  tu_check_grad("kl: dmu", kl_loss, &c, c.mu.data, dmu, n, EPS, RTOL, ATOL, 0);
  tu_check_grad("kl: dlogvar", kl_loss, &c, c.logvar.data, dlv, n, EPS, RTOL, ATOL, 0);

  /* KL of N(0, 1) is zero; backward accumulates. */
  float z[4] = {0}, kl = -1.0f;
  ibx_tensor zt = ibx_t2(z, 2, 2);
  assert_ibx_ok(ibx_gaussian_kl_forward(&zt, &zt, &kl));
  assert_float_equal(kl, 0.0f, 0.0f);
  float *again = malloc(n * sizeof(float));
  memcpy(again, dmu, n * sizeof(float));
  ibx_tensor againt = ibx_t2(again, N, K);
  assert_ibx_ok(ibx_gaussian_kl_backward(&c.mu, &c.logvar, c.scale, &againt, &dlvt));
  for (size_t i = 0; i < n; i++)
    assert_float_equal(again[i], 2.0f * dmu[i], 1e-6f);
  free(again), free(c.mu.data), free(c.logvar.data), free(dmu), free(dlv);
}

/* ---- linear -------------------------------------------------------------- */

typedef struct {
  ibx_tensor x, w, b, y;
  int bias;
  float *G;
} lin_ctx;

static double lin_loss(void *p) {
  lin_ctx *c = p;
  assert_ibx_ok(ibx_linear_forward(&c->x, &c->w, c->bias ? &c->b : NULL, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void run_linear(int bias) {
  const int N = 3, In = 7, O = 4;
  lin_ctx c = {ibx_t2(tu_alloc_randn((size_t)N * In, 1.0f, 111), N, In),
               ibx_t2(tu_alloc_randn((size_t)O * In, 0.5f, 112), O, In),
               ibx_t1(tu_alloc_randn((size_t)O, 0.5f, 113), O),
               ibx_t2(malloc((size_t)N * O * sizeof(float)), N, O), bias,
               tu_alloc_randn((size_t)N * O, 1.0f, 114)};
  /* Garbage in y: forward must overwrite it, with or without bias. */
  for (int i = 0; i < N * O; i++)
    c.y.data[i] = NAN;
  float *dx = calloc((size_t)N * In, sizeof(float)), *dw = calloc((size_t)O * In, sizeof(float));
  float *db = calloc((size_t)O, sizeof(float));
  (void)lin_loss(&c);
  for (int i = 0; i < N * O; i++)
    assert_false(isnan(c.y.data[i]));
  ibx_tensor dy = ibx_t2(c.G, N, O), dxt = ibx_t2(dx, N, In), dwt = ibx_t2(dw, O, In);
  ibx_tensor dbt = ibx_t1(db, O);
  assert_ibx_ok(ibx_linear_backward(&c.x, &c.w, &dy, &dxt, &dwt, bias ? &dbt : NULL));
  const char *tag = bias ? "linear+bias" : "linear";
  char what[80];
  snprintf(what, sizeof what, "%s: dx", tag);
  tu_check_grad(what, lin_loss, &c, c.x.data, dx, (size_t)N * In, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: dw", tag);
  tu_check_grad(what, lin_loss, &c, c.w.data, dw, (size_t)O * In, EPS, RTOL, ATOL, 0);
  if (bias)
    tu_check_grad("linear: db", lin_loss, &c, c.b.data, db, (size_t)O, EPS, RTOL, ATOL, 0);
  /* dw accumulates, dx may be NULL */
  assert_ibx_ok(ibx_linear_backward(&c.x, &c.w, &dy, NULL, &dwt, bias ? &dbt : NULL));
  float *dw1 = calloc((size_t)O * In, sizeof(float));
  ibx_tensor dw1t = ibx_t2(dw1, O, In);
  assert_ibx_ok(ibx_linear_backward(&c.x, &c.w, &dy, NULL, &dw1t, NULL));
  for (int i = 0; i < O * In; i++)
    assert_float_equal(dw[i], 2.0f * dw1[i], 1e-5f);
  free(dw1), free(c.x.data), free(c.w.data), free(c.b.data), free(c.y.data), free(c.G);
  free(dx), free(dw), free(db);
}

static void test_linear(void **state) {
  (void)state;
  run_linear(1);
  run_linear(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relu),
      cmocka_unit_test(test_sigmoid),
      cmocka_unit_test(test_tanh),
      cmocka_unit_test(test_sigmoid_extremes),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_add_broadcast),
      cmocka_unit_test(test_mul_broadcast),
      cmocka_unit_test(test_bilinear),
      cmocka_unit_test(test_bilinear_values),
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_softmax_xent),
      cmocka_unit_test(test_gaussian_kl),
      cmocka_unit_test(test_linear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
