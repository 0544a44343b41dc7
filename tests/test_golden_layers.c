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
 * Winograd for 3x3 stride-1 pad-1 layers; the same tolerance applies). */
#include <math.h>
#include <string.h>

#include "golden.h"
#include "ibx/layers.h"

#define FIXTURE "golden_layers.h5"

static ibx_h5 F;

static int setup(void **state) {
  (void)state;
  char path[IBX_H5_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", IBX_FIXTURE_DIR, FIXTURE);
  if (ibx_h5_open(&F, path) != IBX_OK) {
    fprintf(stderr, "%s\n", ibx_errmsg());
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return ibx_h5_close(&F) == IBX_OK ? 0 : -1;
}

static void vprint(const char *grp) {
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("%s\n", grp);
}

/* ---- conv2d ------------------------------------------------------------- */

static const char *conv_cases[] = {
    "k3_p1_s1_bias_n1",   "k3_p1_s1_nobias_n3", "k3_p1_s1_bias_n3_odd",
    "k5_p2_s1_bias_n3",   "k1_p0_s1_bias_n3",   "k1_p0_s2_nobias_n3",
    "k3_p0_s2_nobias_n3", "k3_p1_s2_bias_n1",   "k3x5_p1x2_s1_bias_n3"};

static void run_conv(const char *name, ibx_conv_algo algo) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "conv2d/%s", name);
  vprint(grp);
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
  float *bufs[] = {x.data,  w.data,  b.data,  y_ref.data, dy.data, dx_ref.data, dw_ref.data,
                   db_ref.data, y.data, dx.data, dw.data, db.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_conv2d_im2col(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
    run_conv(conv_cases[i], IBX_CONV_IM2COL);
}

static void test_conv2d_auto(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
    run_conv(conv_cases[i], IBX_CONV_AUTO);
}

/* ---- batch norm ----------------------------------------------------------- */

static void run_bn(const char *name) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "batchnorm/%s", name);
  vprint(grp);
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
  float *bufs[] = {x.data,      gamma.data, beta.data, rm.data,     rv.data,     rm_ref.data,
                   rv_ref.data, sm_ref.data, si_ref.data, y_ref.data, dy.data,     dx_ref.data,
                   dg_ref.data, db_ref.data, y.data,    dx.data,     dg.data,     dbt.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_batchnorm(void **state) {
  (void)state;
  run_bn("bn2d_train");
  run_bn("bn2d_eval");
  run_bn("bn1d_train");
  run_bn("bn1d_eval");
  run_bn("bn2d_relu_train");
  run_bn("bn2d_relu_eval");
  run_bn("bn1d_relu_train");
}

/* ---- activations ---------------------------------------------------------- */

typedef int (*act_fwd)(const ibx_tensor *, ibx_tensor *);
typedef int (*act_bwd)(const ibx_tensor *, const ibx_tensor *, ibx_tensor *);

static void run_act(const char *name, act_fwd fwd, act_bwd bwd) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "activation/%s", name);
  vprint(grp);
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&x, &y);
  g_zeros_like(&x, &dx);
  assert_ibx_ok(fwd(&x, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(bwd(&y, &dy, &dx));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  /* in place, as the header allows: y over x, dx over dy */
  assert_ibx_ok(fwd(&x, &x));
  g_check(G_WHAT(what, grp, "y in place"), x.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(bwd(&x, &dy, &dy));
  g_check(G_WHAT(what, grp, "dx in place"), dy.data, dx_ref.data, g_numel(&dx));
  float *bufs[] = {x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_activations(void **state) {
  (void)state;
  run_act("relu", ibx_relu_forward, ibx_relu_backward);
  run_act("sigmoid", ibx_sigmoid_forward, ibx_sigmoid_backward);
  run_act("tanh", ibx_tanh_forward, ibx_tanh_backward);
}

/* ---- pooling -------------------------------------------------------------- */

static void run_pool(const char *name) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "pool/%s", name);
  vprint(grp);
  const int is_max = strncmp(name, "max", 3) == 0;
  ibx_pool2d L = {.kernel = (int)g_attr_i(&F, grp, "kernel"),
                  .stride = (int)g_attr_i(&F, grp, "stride"),
                  .pad = (int)g_attr_i(&F, grp, "pad")};
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  if (is_max) {
    assert_ibx_ok(ibx_maxpool2d_forward(&L, &x, &y));
    g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
    assert_ibx_ok(ibx_maxpool2d_backward(&L, &x, &dy, &dx));
  } else {
    assert_ibx_ok(ibx_avgpool2d_forward(&L, &x, &y));
    g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
    assert_ibx_ok(ibx_avgpool2d_backward(&L, &dy, &dx));
  }
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  float *bufs[] = {x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_pooling(void **state) {
  (void)state;
  const char *cases[] = {"max_k2_s2",     "max_k3_s2_p1",       "max_k2_s2_ties",
                         "max_k3_s1_p1_ties", "max_k2_s2_odd", "max_k2_s2_odd_ties",
                         "avg_k2_s2",     "avg_k3_s2_p1",       "avg_k3_s1_p1"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_pool(cases[i]);
}

static void test_global_avgpool(void **state) {
  (void)state;
  const char *grp = "pool/global_avg";
  char what[192];
  vprint(grp);
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  assert_ibx_ok(ibx_global_avgpool_forward(&x, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(ibx_global_avgpool_backward(&dy, &dx));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  float *bufs[] = {x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

/* ---- linear --------------------------------------------------------------- */

static void run_linear(const char *name) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "linear/%s", name);
  vprint(grp);
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
  float *bufs[] = {x.data,      w.data,      b.data, y_ref.data, dy.data, dx_ref.data,
                   dw_ref.data, db_ref.data, y.data, dx.data,    dw.data, db.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_linear(void **state) {
  (void)state;
  run_linear("bias");
  run_linear("nobias");
}

/* ---- element-wise add / mul with broadcasting -------------------------------- */

static void run_elementwise(const char *name) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "elementwise/%s", name);
  vprint(grp);
  const int mul = strncmp(name, "mul", 3) == 0;
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
  float *bufs[] = {a.data,      b.data, y_ref.data, dy.data, da_ref.data,
                   db_ref.data, y.data, da.data,    db.data, g2.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_elementwise(void **state) {
  (void)state;
  const char *cases[] = {"add_spatial", "mul_spatial", "add_channel", "mul_channel",
                         "add_same",    "mul_same",    "add_rows2d",  "mul_rows2d",
                         "add_batch_channel", "mul_batch_channel", "add_cols2d", "mul_cols2d"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_elementwise(cases[i]);
}

/* ---- bilinear ------------------------------------------------------------- */

static void run_bilinear(const char *name) {
  char grp[128], what[192];
  snprintf(grp, sizeof grp, "bilinear/%s", name);
  vprint(grp);
  const int ac = (int)g_attr_i(&F, grp, "align_corners");
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&y_ref, &y);
  g_zeros_like(&x, &dx);
  assert_ibx_ok(ibx_bilinear_forward(ac, &x, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(ibx_bilinear_backward(ac, &dy, &dx));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  float *bufs[] = {x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_bilinear(void **state) {
  (void)state;
  const char *cases[] = {"up_ac0",   "up_ac1",   "up2x_ac0",  "up2x_ac1",
                         "down_ac0", "down_ac1", "mixed_ac0", "mixed_ac1"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_bilinear(cases[i]);
}

/* ---- softmax and cross-entropy ---------------------------------------------- */

static void test_softmax(void **state) {
  (void)state;
  const char *grp = "softmax/rows";
  char what[192];
  vprint(grp);
  ibx_tensor x, y_ref, dy, dx_ref, y, dx;
  g_read(&F, grp, "x", &x);
  g_read(&F, grp, "y", &y_ref);
  g_read(&F, grp, "dy", &dy);
  g_read(&F, grp, "dx", &dx_ref);
  g_zeros_like(&x, &y);
  g_zeros_like(&x, &dx);
  assert_ibx_ok(ibx_softmax_forward(&x, &y));
  g_check(G_WHAT(what, grp, "y"), y.data, y_ref.data, g_numel(&y));
  assert_ibx_ok(ibx_softmax_backward(&y, &dy, &dx));
  g_check(G_WHAT(what, grp, "dx"), dx.data, dx_ref.data, g_numel(&dx));
  float *bufs[] = {x.data, y_ref.data, dy.data, dx_ref.data, y.data, dx.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void run_xent(const char *name) {
  char grp[128], what[192], p[192];
  snprintf(grp, sizeof grp, "softmax/%s", name);
  vprint(grp);
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
  float *bufs[] = {logits.data, loss_ref.data, probs_ref.data, dl_ref.data, probs.data, dl.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_softmax_xent(void **state) {
  (void)state;
  run_xent("xent");
  run_xent("xent_scaled_large");
}

/* ---- Gaussian KL ----------------------------------------------------------- */

static void test_gaussian_kl(void **state) {
  (void)state;
  const char *grp = "kl/gaussian";
  char what[192];
  vprint(grp);
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
  float *bufs[] = {mu.data, lv.data, kl_ref.data, dmu_ref.data, dlv_ref.data, dmu.data, dlv.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv2d_im2col), cmocka_unit_test(test_conv2d_auto),
      cmocka_unit_test(test_batchnorm),     cmocka_unit_test(test_activations),
      cmocka_unit_test(test_pooling),       cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_linear),        cmocka_unit_test(test_elementwise),
      cmocka_unit_test(test_bilinear),      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_softmax_xent),  cmocka_unit_test(test_gaussian_kl),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
