/* Every layer in ibx/layers.h (except dropout, whose mask stream is ibx's
 * own) against PyTorch: tests/fixtures/golden_layers.h5, written by
 * scripts/make_golden.py. For each case the forward output and the gradients
 * of x and of every parameter (autograd of sum(y * dy)) are compared.
 *
 * Tolerances (see tests/support/golden.h): 1e-5 relative per element plus
 * 1e-5 of the tensor's largest magnitude. The references are float64 results
 * rounded to float32, so this bounds ibx's float32 error alone; the largest
 * reductions here (weight gradients over N*OH*OW <= 3*11*11 positions) stay
 * well inside it. Conv runs with algo IM2COL and AUTO (AUTO may pick
 * Winograd for 3x3 stride-1 pad-1 layers; the same tolerance applies).
 *
 * The cases are one table (golden_cases at the end): a row names a fixture
 * group and the runner that checks it. Adding a layer means a fixture group
 * in scripts/make_golden.py plus one row; a layer with one input and no
 * parameters (x -> y, dy -> dx) reuses run_unary with a unary_layer entry. */
#include <math.h>
#include <string.h>

#include "golden.h"
#include "ibx/layers.h"

#define FIXTURE "golden_layers.h5"

G_FIXTURE(F, FIXTURE)

/* One row of the table: the fixture group and how to check it. */
typedef struct golden_case {
  const char *group;                         /* e.g. "conv2d/k3_p1_s1_bias_n1" */
  void (*run)(const char *grp, const void *arg);
  const void *arg;                           /* runner-specific (a unary_layer, ...) */
} golden_case;

static void vprint(const char *grp) {
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("%s\n", grp);
}

static void free_all(float **bufs, size_t n) {
  for (size_t i = 0; i < n; i++)
    ibx_free(bufs[i]);
}
#define FREE_ALL(...)                                                                              \
  do {                                                                                             \
    float *bufs_[] = {__VA_ARGS__};                                                                \
    free_all(bufs_, sizeof bufs_ / sizeof bufs_[0]);                                               \
  } while (0)

/* ---- one input, no parameters: x -> y, dy -> dx ------------------------------ */

/* Forward and backward of such a layer; grp lets them read attributes
 * (pooling geometry, align_corners). Backward gets x and y and uses what it
 * needs. in_place: the header allows y over x and dx over dy; check that too. */
typedef struct unary_layer {
  int (*forward)(const char *grp, const ibx_tensor *x, ibx_tensor *y);
  int (*backward)(const char *grp, const ibx_tensor *x, const ibx_tensor *y, const ibx_tensor *dy,
                  ibx_tensor *dx);
  int in_place;
} unary_layer;

static void run_unary(const char *grp, const void *arg) {
  const unary_layer *op = arg;
  char what[192];
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  assert_ibx_ok(op->forward(grp, &x, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(op->backward(grp, &x, &y, &dy, &dx));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  if (op->in_place) {
    assert_ibx_ok(op->forward(grp, &x, &x));
    g_check(G_WHAT(what, grp, "y in place"), x.data, y_ref.data, g_numel(&y));
    assert_ibx_ok(op->backward(grp, NULL, &x, &dy, &dy));
    g_check(G_WHAT(what, grp, "dx in place"), dy.data, dx_ref.data, g_numel(&dx));
  }
  FREE_ALL(x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data);
}

static int relu_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  (void)g;
  return ibx_relu_forward(x, y);
}
static int relu_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y, const ibx_tensor *dy,
                    ibx_tensor *dx) {
  (void)g, (void)x;
  return ibx_relu_backward(y, dy, dx);
}
static int sigmoid_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  (void)g;
  return ibx_sigmoid_forward(x, y);
}
static int sigmoid_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y,
                       const ibx_tensor *dy, ibx_tensor *dx) {
  (void)g, (void)x;
  return ibx_sigmoid_backward(y, dy, dx);
}
static int tanh_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  (void)g;
  return ibx_tanh_forward(x, y);
}
static int tanh_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y, const ibx_tensor *dy,
                    ibx_tensor *dx) {
  (void)g, (void)x;
  return ibx_tanh_backward(y, dy, dx);
}
static ibx_pool2d pool_of(const char *grp) {
  return (ibx_pool2d){.kernel = (int)g_attr_i(&F, grp, "kernel"),
                      .stride = (int)g_attr_i(&F, grp, "stride"),
                      .pad = (int)g_attr_i(&F, grp, "pad")};
}
static int maxpool_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  ibx_pool2d L = pool_of(g);
  return ibx_maxpool2d_forward(&L, x, y);
}
static int maxpool_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y,
                       const ibx_tensor *dy, ibx_tensor *dx) {
  (void)y;
  ibx_pool2d L = pool_of(g);
  return ibx_maxpool2d_backward(&L, x, dy, dx);
}
static int avgpool_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  ibx_pool2d L = pool_of(g);
  return ibx_avgpool2d_forward(&L, x, y);
}
static int avgpool_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y,
                       const ibx_tensor *dy, ibx_tensor *dx) {
  (void)x, (void)y;
  ibx_pool2d L = pool_of(g);
  return ibx_avgpool2d_backward(&L, dy, dx);
}
static int gap_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  (void)g;
  return ibx_global_avgpool_forward(x, y);
}
static int gap_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y, const ibx_tensor *dy,
                   ibx_tensor *dx) {
  (void)g, (void)x, (void)y;
  return ibx_global_avgpool_backward(dy, dx);
}
static int bilinear_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  return ibx_bilinear_forward((int)g_attr_i(&F, g, "align_corners"), x, y);
}
static int bilinear_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y,
                        const ibx_tensor *dy, ibx_tensor *dx) {
  (void)x, (void)y;
  return ibx_bilinear_backward((int)g_attr_i(&F, g, "align_corners"), dy, dx);
}
static int softmax_fwd(const char *g, const ibx_tensor *x, ibx_tensor *y) {
  (void)g;
  return ibx_softmax_forward(x, y);
}
static int softmax_bwd(const char *g, const ibx_tensor *x, const ibx_tensor *y,
                       const ibx_tensor *dy, ibx_tensor *dx) {
  (void)g, (void)x;
  return ibx_softmax_backward(y, dy, dx);
}

static const unary_layer RELU = {relu_fwd, relu_bwd, 1};
static const unary_layer SIGMOID = {sigmoid_fwd, sigmoid_bwd, 1};
static const unary_layer TANH = {tanh_fwd, tanh_bwd, 1};
static const unary_layer MAXPOOL = {maxpool_fwd, maxpool_bwd, 0};
static const unary_layer AVGPOOL = {avgpool_fwd, avgpool_bwd, 0};
static const unary_layer GLOBAL_AVGPOOL = {gap_fwd, gap_bwd, 0};
static const unary_layer BILINEAR = {bilinear_fwd, bilinear_bwd, 0};
static const unary_layer SOFTMAX = {softmax_fwd, softmax_bwd, 0};

/* ---- conv2d ------------------------------------------------------------- */

static void run_conv_algo(const char *grp, ibx_conv_algo algo) {
  char what[192];
  ibx_conv2d L = {.in_channels = (int)g_attr_i(&F, grp, "in_channels"),
                  .out_channels = (int)g_attr_i(&F, grp, "out_channels"),
                  .kernel_h = (int)g_attr_i(&F, grp, "kernel_h"),
                  .kernel_w = (int)g_attr_i(&F, grp, "kernel_w"),
                  .stride = (int)g_attr_i(&F, grp, "stride"),
                  .pad_h = (int)g_attr_i(&F, grp, "pad_h"),
                  .pad_w = (int)g_attr_i(&F, grp, "pad_w"),
                  .algo = algo};
  const int has_bias = (int)g_attr_i(&F, grp, "has_bias");
  const char *an = algo == IBX_CONV_IM2COL ? "im2col" : "auto";
  ibx_tensor x, w, b = {0}, y_ref, dy, dx_ref, dw_ref, db_ref = {0}, y, dx, dw, db = {0};
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "w", &w);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_read(&F, grp, "dw", &dw_ref);
  if (has_bias) {
    g_read(&F, grp, "b", &b);
    g_read(&F, grp, "db", &db_ref);
    g_zeros_like(&b, &db);
  }
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  g_zeros_like(&w, &dw);
  ibx_scratch s = {0};

  assert_ibx_ok(ibx_conv2d_forward(&L, &x, &w, has_bias ? &b : NULL, &y, &s));
  g_check(G_WHAT(what, grp, an), y.data, y_ref.data, g_numel(&y));

  assert_ibx_ok(ibx_conv2d_backward(&L, &x, &w, &dy, &dx, &dw, has_bias ? &db : NULL, &s));
  snprintf(what, sizeof what, "%s dx (%s)", grp, an);
  g_check(what, dx.data, dx_ref.data, g_numel(&dx));
  snprintf(what, sizeof what, "%s dw (%s)", grp, an);
  g_check(what, dw.data, dw_ref.data, g_numel(&dw));
  if (has_bias) {
    snprintf(what, sizeof what, "%s db (%s)", grp, an);
    g_check(what, db.data, db_ref.data, g_numel(&db));
  }

  /* Parameter gradients accumulate: a second backward (without dx) doubles
   * them. Compared against 2*ref. */
  assert_ibx_ok(ibx_conv2d_backward(&L, &x, &w, &dy, NULL, &dw, has_bias ? &db : NULL, &s));
  for (size_t i = 0; i < g_numel(&dw); i++)
    dw_ref.data[i] *= 2.0f;
  snprintf(what, sizeof what, "%s dw accumulated (%s)", grp, an);
  g_check(what, dw.data, dw_ref.data, g_numel(&dw));
  if (has_bias) {
    for (size_t i = 0; i < g_numel(&db); i++)
      db_ref.data[i] *= 2.0f;
    snprintf(what, sizeof what, "%s db accumulated (%s)", grp, an);
    g_check(what, db.data, db_ref.data, g_numel(&db));
  }

  ibx_scratch_free(&s);
  FREE_ALL(x.data, w.data, b.data, y_ref.data, dy.data, dx_ref.data, dw_ref.data, db_ref.data, y.data, dx.data, dw.data, db.data);
}

/* Conv runs with IM2COL and with AUTO (Winograd where it applies). */
static void run_conv(const char *grp, const void *arg) {
  (void)arg;
  run_conv_algo(grp, IBX_CONV_IM2COL);
  run_conv_algo(grp, IBX_CONV_AUTO);
}

/* ---- batch norm ----------------------------------------------------------- */

static void run_bn(const char *grp, const void *arg) {
  (void)arg;
  char what[192];
  ibx_batchnorm L = {.channels = (int)g_attr_i(&F, grp, "channels"),
                     .eps = (float)g_attr_f(&F, grp, "eps"),
                     .momentum = (float)g_attr_f(&F, grp, "momentum")};
  const int training = (int)g_attr_i(&F, grp, "training");
  const int relu = (int)g_attr_i(&F, grp, "relu"); /* fused batchnorm_relu */
  const int C = L.channels;
  ibx_tensor x, gamma, beta, rm, rv, rm_ref, rv_ref, sm_ref, si_ref, y_ref, dy, dx_ref, dg_ref,
      db_ref, y, dx, dg, dbt;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "gamma", &gamma);
  g_read(&F, grp, "beta", &beta);
  g_read(&F, grp, "running_mean_before", &rm);
  g_read(&F, grp, "running_var_before", &rv);
  g_read(&F, grp, "running_mean", &rm_ref);
  g_read(&F, grp, "running_var", &rv_ref);
  g_read(&F, grp, "save_mean", &sm_ref);
  g_read(&F, grp, "save_invstd", &si_ref);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_read(&F, grp, "dgamma", &dg_ref);
  g_read(&F, grp, "dbeta", &db_ref);
  g_zeros_like(&x, &y);
  g_zeros_like(&x, &dx);
  g_zeros_like(&gamma, &dg);
  g_zeros_like(&beta, &dbt);
  float *save_mean = ibx_calloc(C * sizeof(float), "save_mean");
  float *save_invstd = ibx_calloc(C * sizeof(float), "save_invstd");

  if (relu)
    assert_ibx_ok(ibx_batchnorm_relu_forward(&L, &x, &gamma, &beta, &rm, &rv, training, &y,
                                             save_mean, save_invstd));
  else
    assert_ibx_ok(ibx_batchnorm_forward(&L, &x, &gamma, &beta, &rm, &rv, training, &y, save_mean,
                                        save_invstd));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  g_check(G_WHAT(what, grp, "running_mean"), rm.data, rm_ref.data, C);
  g_check(G_WHAT(what, grp, "running_var"), rv.data, rv_ref.data, C);
  g_check(G_WHAT(what, grp, "save_mean"), save_mean, sm_ref.data, C);
  g_check(G_WHAT(what, grp, "save_invstd"), save_invstd, si_ref.data, C);

  if (relu)
    assert_ibx_ok(ibx_batchnorm_relu_backward(&L, &x, &gamma, save_mean, save_invstd, training, &y,
                                              &dy, &dx, &dg, &dbt));
  else
    assert_ibx_ok(ibx_batchnorm_backward(&L, &x, &gamma, save_mean, save_invstd, training, &dy,
                                         &dx, &dg, &dbt));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  g_check(G_WHAT(what, grp, "dgamma"), dg.data, dg_ref.data, C);
  g_check(G_WHAT(what, grp, "dbeta"), dbt.data, db_ref.data, C);

  ibx_free(save_mean);
  ibx_free(save_invstd);
  FREE_ALL(x.data, gamma.data, beta.data, rm.data, rv.data, rm_ref.data, rv_ref.data, sm_ref.data, si_ref.data, y_ref.data, dy.data, dx_ref.data, dg_ref.data, db_ref.data, y.data, dx.data, dg.data, dbt.data);
}

/* ---- linear --------------------------------------------------------------- */

static void run_linear(const char *grp, const void *arg) {
  (void)arg;
  char what[192];
  const int has_bias = (int)g_attr_i(&F, grp, "has_bias");
  ibx_tensor x, w, b = {0}, y_ref, dy, dx_ref, dw_ref, db_ref = {0}, y, dx, dw, db = {0};
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "w", &w);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_read(&F, grp, "dw", &dw_ref);
  if (has_bias) {
    g_read(&F, grp, "b", &b);
    g_read(&F, grp, "db", &db_ref);
    g_zeros_like(&b, &db);
  }
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  g_zeros_like(&w, &dw);
  assert_ibx_ok(ibx_linear_forward(&x, &w, has_bias ? &b : NULL, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(ibx_linear_backward(&x, &w, &dy, &dx, &dw, has_bias ? &db : NULL));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  g_check(G_WHAT(what, grp, "dw"), dw.data, dw_ref.data, g_numel(&dw));
  if (has_bias)
    g_check(G_WHAT(what, grp, "db"), db.data, db_ref.data, g_numel(&db));
  /* accumulation: a second backward doubles dw and db */
  assert_ibx_ok(ibx_linear_backward(&x, &w, &dy, NULL, &dw, has_bias ? &db : NULL));
  for (size_t i = 0; i < g_numel(&dw); i++)
    dw_ref.data[i] *= 2.0f;
  g_check(G_WHAT(what, grp, "dw accumulated"), dw.data, dw_ref.data, g_numel(&dw));
  if (has_bias) {
    for (size_t i = 0; i < g_numel(&db); i++)
      db_ref.data[i] *= 2.0f;
    g_check(G_WHAT(what, grp, "db accumulated"), db.data, db_ref.data, g_numel(&db));
  }
  FREE_ALL(x.data, w.data, b.data, y_ref.data, dy.data, dx_ref.data, dw_ref.data, db_ref.data, y.data, dx.data, dw.data, db.data);
}

/* ---- element-wise add / mul with broadcasting -------------------------------- */

/* arg: "add" or "mul" */
static void run_elementwise(const char *grp, const void *arg) {
  char what[192];
  const int mul = strcmp(arg, "mul") == 0;
  ibx_tensor a, b, y_ref, dy, da_ref, db_ref, y, da, db;
  g_read(&F, grp, "a", &a);
  g_read(&F, grp, "b", &b);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "da", &da_ref);
  g_read(&F, grp, "db", &db_ref);
  g_zeros_like(&a, &y);
  g_zeros_like(&a, &da);
  g_zeros_like(&b, &db);
  /* db is written, not accumulated: start from garbage to prove it */
  for (size_t i = 0; i < g_numel(&db); i++)
    db.data[i] = 123.0f;
  if (mul) {
    assert_ibx_ok(ibx_mul_forward(&a, &b, &y));
    g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
    assert_ibx_ok(ibx_mul_backward(&a, &b, &dy, &da, &db));
  } else {
    assert_ibx_ok(ibx_add_forward(&a, &b, &y));
    g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
    assert_ibx_ok(ibx_add_backward(&dy, &da, &db));
  }
  g_check(G_WHAT(what, grp, "da"), da.data, da_ref.data, g_numel(&da));
  g_check(G_WHAT(what, grp, "db"), db.data, db_ref.data, g_numel(&db));
  /* da may alias dy (the header allows it) */
  ibx_tensor g2;
  g_zeros_like(&dy, &g2);
  memcpy(g2.data, dy.data, g_numel(&dy) * sizeof(float));
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&a, &b, &g2, &g2, &db));
  else
    assert_ibx_ok(ibx_add_backward(&g2, &g2, &db));
  g_check(G_WHAT(what, grp, "da aliasing dy"), g2.data, da_ref.data, g_numel(&da));
  g_check(G_WHAT(what, grp, "db with da aliasing dy"), db.data, db_ref.data, g_numel(&db));
  /* either gradient may be NULL */
  memset(da.data, 0, g_numel(&da) * sizeof(float));
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&a, &b, &dy, &da, NULL));
  else
    assert_ibx_ok(ibx_add_backward(&dy, &da, NULL));
  g_check(G_WHAT(what, grp, "da alone"), da.data, da_ref.data, g_numel(&da));
  memset(db.data, 0, g_numel(&db) * sizeof(float));
  if (mul)
    assert_ibx_ok(ibx_mul_backward(&a, &b, &dy, NULL, &db));
  else
    assert_ibx_ok(ibx_add_backward(&dy, NULL, &db));
  g_check(G_WHAT(what, grp, "db alone"), db.data, db_ref.data, g_numel(&db));
  FREE_ALL(a.data, b.data, y_ref.data, dy.data, da_ref.data, db_ref.data, y.data, da.data, db.data, g2.data);
}

/* ---- softmax cross-entropy ------------------------------------------------- */

static void run_xent(const char *grp, const void *arg) {
  (void)arg;
  char what[192], p[192];
  const float scale = (float)g_attr_f(&F, grp, "scale");
  ibx_tensor logits, loss_ref, probs_ref, dl_ref, probs, dl;
  g_read(&F, grp, "logits", &logits);
  g_read(&F, grp, "loss", &loss_ref);
  g_read(&F, grp, "probs", &probs_ref);
  g_read(&F, grp, "dlogits", &dl_ref);
  const int N = logits.dim[0];
  int32_t labels[64];
  assert_true(N <= 64);
  assert_ibx_ok(ibx_h5_read_i32(&F, g_path(p, sizeof p, grp, "labels"), labels, (size_t)N));
  g_zeros_like(&logits, &probs);
  g_zeros_like(&logits, &dl);
  float loss = 0.0f;
  assert_ibx_ok(ibx_softmax_xent_forward(&logits, labels, &loss, &probs));
  g_check(G_WHAT(what, grp, "loss"), &loss, loss_ref.data, 1);
  g_check(G_WHAT(what, grp, "probs"), probs.data, probs_ref.data, g_numel(&probs));
  assert_ibx_ok(ibx_softmax_xent_backward(&probs, labels, scale, &dl));
  g_check(G_WHAT(what, grp, "dlogits"), dl.data, dl_ref.data, g_numel(&dl));
  FREE_ALL(logits.data, loss_ref.data, probs_ref.data, dl_ref.data, probs.data, dl.data);
}

/* ---- Gaussian KL ----------------------------------------------------------- */

static void run_gaussian_kl(const char *grp, const void *arg) {
  (void)arg;
  char what[192];
  const float scale = (float)g_attr_f(&F, grp, "scale");
  ibx_tensor mu, lv, kl_ref, dmu_ref, dlv_ref, dmu, dlv;
  g_read(&F, grp, "mu", &mu);
  g_read(&F, grp, "logvar", &lv);
  g_read(&F, grp, "kl", &kl_ref);
  g_read(&F, grp, "dmu", &dmu_ref);
  g_read(&F, grp, "dlogvar", &dlv_ref);
  g_zeros_like(&mu, &dmu);
  g_zeros_like(&mu, &dlv);
  float kl = 0.0f;
  assert_ibx_ok(ibx_gaussian_kl_forward(&mu, &lv, &kl));
  g_check(G_WHAT(what, grp, "kl"), &kl, kl_ref.data, 1);
  assert_ibx_ok(ibx_gaussian_kl_backward(&mu, &lv, scale, &dmu, &dlv));
  g_check(G_WHAT(what, grp, "dmu"), dmu.data, dmu_ref.data, g_numel(&mu));
  g_check(G_WHAT(what, grp, "dlogvar"), dlv.data, dlv_ref.data, g_numel(&mu));
  /* backward accumulates (+=): a second call doubles the gradients */
  assert_ibx_ok(ibx_gaussian_kl_backward(&mu, &lv, scale, &dmu, &dlv));
  for (size_t i = 0; i < g_numel(&mu); i++)
    dmu_ref.data[i] *= 2.0f, dlv_ref.data[i] *= 2.0f;
  g_check(G_WHAT(what, grp, "dmu accumulated"), dmu.data, dmu_ref.data, g_numel(&mu));
  g_check(G_WHAT(what, grp, "dlogvar accumulated"), dlv.data, dlv_ref.data, g_numel(&mu));
  FREE_ALL(mu.data, lv.data, kl_ref.data, dmu_ref.data, dlv_ref.data, dmu.data, dlv.data);
}

/* ---- the table --------------------------------------------------------------- */

static const golden_case golden_cases[] = {
    {"conv2d/k3_p1_s1_bias_n1", run_conv, NULL},
    {"conv2d/k3_p1_s1_nobias_n3", run_conv, NULL},
    {"conv2d/k3_p1_s1_bias_n3_odd", run_conv, NULL},
    {"conv2d/k5_p2_s1_bias_n3", run_conv, NULL},
    {"conv2d/k1_p0_s1_bias_n3", run_conv, NULL},
    {"conv2d/k1_p0_s2_nobias_n3", run_conv, NULL},
    {"conv2d/k3_p0_s2_nobias_n3", run_conv, NULL},
    {"conv2d/k3_p1_s2_bias_n1", run_conv, NULL},
    {"conv2d/k3x5_p1x2_s1_bias_n3", run_conv, NULL},
    {"batchnorm/bn2d_train", run_bn, NULL},
    {"batchnorm/bn2d_eval", run_bn, NULL},
    {"batchnorm/bn1d_train", run_bn, NULL},
    {"batchnorm/bn1d_eval", run_bn, NULL},
    {"batchnorm/bn2d_relu_train", run_bn, NULL},
    {"batchnorm/bn2d_relu_eval", run_bn, NULL},
    {"batchnorm/bn1d_relu_train", run_bn, NULL},
    {"activation/relu", run_unary, &RELU},
    {"activation/sigmoid", run_unary, &SIGMOID},
    {"activation/tanh", run_unary, &TANH},
    {"pool/max_k2_s2", run_unary, &MAXPOOL},
    {"pool/max_k3_s2_p1", run_unary, &MAXPOOL},
    {"pool/max_k2_s2_ties", run_unary, &MAXPOOL},
    {"pool/max_k3_s1_p1_ties", run_unary, &MAXPOOL},
    {"pool/max_k2_s2_odd", run_unary, &MAXPOOL},
    {"pool/max_k2_s2_odd_ties", run_unary, &MAXPOOL},
    {"pool/avg_k2_s2", run_unary, &AVGPOOL},
    {"pool/avg_k3_s2_p1", run_unary, &AVGPOOL},
    {"pool/avg_k3_s1_p1", run_unary, &AVGPOOL},
    {"pool/global_avg", run_unary, &GLOBAL_AVGPOOL},
    {"linear/bias", run_linear, NULL},
    {"linear/nobias", run_linear, NULL},
    {"elementwise/add_spatial", run_elementwise, "add"},
    {"elementwise/mul_spatial", run_elementwise, "mul"},
    {"elementwise/add_channel", run_elementwise, "add"},
    {"elementwise/mul_channel", run_elementwise, "mul"},
    {"elementwise/add_same", run_elementwise, "add"},
    {"elementwise/mul_same", run_elementwise, "mul"},
    {"elementwise/add_rows2d", run_elementwise, "add"},
    {"elementwise/mul_rows2d", run_elementwise, "mul"},
    {"elementwise/add_batch_channel", run_elementwise, "add"},
    {"elementwise/mul_batch_channel", run_elementwise, "mul"},
    {"elementwise/add_cols2d", run_elementwise, "add"},
    {"elementwise/mul_cols2d", run_elementwise, "mul"},
    {"bilinear/up_ac0", run_unary, &BILINEAR},
    {"bilinear/up_ac1", run_unary, &BILINEAR},
    {"bilinear/up2x_ac0", run_unary, &BILINEAR},
    {"bilinear/up2x_ac1", run_unary, &BILINEAR},
    {"bilinear/down_ac0", run_unary, &BILINEAR},
    {"bilinear/down_ac1", run_unary, &BILINEAR},
    {"bilinear/mixed_ac0", run_unary, &BILINEAR},
    {"bilinear/mixed_ac1", run_unary, &BILINEAR},
    {"softmax/rows", run_unary, &SOFTMAX},
    {"softmax/xent", run_xent, NULL},
    {"softmax/xent_scaled_large", run_xent, NULL},
    {"kl/gaussian", run_gaussian_kl, NULL},
};
#define N_CASES (sizeof golden_cases / sizeof golden_cases[0])

static void run_case(void **state) {
  const golden_case *c = *state;
  vprint(c->group);
  c->run(c->group, c->arg);
}

int main(void) {
  /* one cmocka test per row, named after its fixture group */
  struct CMUnitTest tests[N_CASES];
  for (size_t i = 0; i < N_CASES; i++)
    tests[i] = (struct CMUnitTest){.name = golden_cases[i].group,
                                   .test_func = run_case,
                                   .initial_state = (void *)&golden_cases[i]};
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
