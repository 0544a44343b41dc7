/* Bad input must come back as an error code with a message, never a crash:
 *  - a wrong shape passed to any layer -> IBX_ERR_SHAPE, and ibx_errmsg()
 *    names the operation;
 *  - a bad configuration (conv stride 0, pool kernel 0, dropout p = 1, ...)
 *    -> IBX_ERR_ARG;
 *  - an injected allocation failure (ibx_alloc_fail_after) -> IBX_ERR_NOMEM
 *    with a message, leaving the objects freeable and usable after a retry;
 *  - softmax cross-entropy labels outside [0, K) -> IBX_ERR_ARG.
 * Every buffer here is sized for the *correct* shape, so a layer that wrote
 * before validating would show up under AddressSanitizer.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/params.h"

/* Runs expr and checks its status, that a message was recorded and that the
 * message contains `names` (the operation). */
#define EXPECT(code, names, expr)                                                              \
  do {                                                                                         \
    ibx_clear_error();                                                                         \
    const int rc_ = (expr);                                                                    \
    if (rc_ != (code))                                                                         \
      fail_msg("line %d: %s returned %s (\"%s\"), expected %s", __LINE__, #expr,               \
               ibx_errname(rc_), ibx_errmsg(), ibx_errname(code));                             \
    if (ibx_errmsg()[0] == '\0')                                                               \
      fail_msg("line %d: %s recorded no message", __LINE__, #expr);                            \
    if (!strstr(ibx_errmsg(), (names)))                                                        \
      fail_msg("line %d: message \"%s\" does not name \"%s\"", __LINE__, ibx_errmsg(), (names)); \
  } while (0)

#define SHAPE(names, expr) EXPECT(IBX_ERR_SHAPE, names, expr)
#define ARG(names, expr) EXPECT(IBX_ERR_ARG, names, expr)

/* A zeroed buffer big enough for any tensor in this file. */
static float *buf(void) {
  float *p = calloc(4096, sizeof(float));
  assert_non_null(p);
  return p;
}

/* ---- conv2d -------------------------------------------------------------- */

static void test_conv2d(void **state) {
  (void)state;
  float *X = buf(), *Wt = buf(), *B = buf(), *Y = buf(), *DX = buf(), *DW = buf(), *DB = buf();
  ibx_scratch s = {0};
  ibx_conv2d L = {3, 4, 3, 3, 1, 1, 1, IBX_CONV_IM2COL};
  ibx_tensor x = ibx_t4(X, 2, 3, 6, 6), w = ibx_t4(Wt, 4, 3, 3, 3), b = ibx_t1(B, 4);
  ibx_tensor y = ibx_t4(Y, 2, 4, 6, 6);
  ibx_tensor dx = ibx_t4(DX, 2, 3, 6, 6), dw = ibx_t4(DW, 4, 3, 3, 3), db = ibx_t1(DB, 4);
  assert_ibx_ok(ibx_conv2d_forward(&L, &x, &w, &b, &y, &s));
  assert_ibx_ok(ibx_conv2d_backward(&L, &x, &w, &y, &dx, &dw, &db, &s));

  ibx_tensor t;
  t = ibx_t4(X, 2, 2, 6, 6); /* channels */
  SHAPE("conv2d", ibx_conv2d_forward(&L, &t, &w, &b, &y, &s));
  t = ibx_t4(Wt, 4, 3, 5, 5); /* kernel size */
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &t, &b, &y, &s));
  t = ibx_t4(Wt, 5, 3, 3, 3); /* out channels */
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &t, &b, &y, &s));
  t = ibx_t1(B, 3);
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &w, &t, &y, &s));
  t = ibx_t2(B, 1, 4);
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &w, &t, &y, &s));
  t = ibx_t4(Y, 2, 4, 5, 6);
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &w, &b, &t, &s));
  t = ibx_t4(Y, 1, 4, 6, 6);
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &w, &b, &t, &s));
  t = ibx_t2(X, 2, 108); /* rank */
  SHAPE("conv2d", ibx_conv2d_forward(&L, &t, &w, &b, &y, &s));
  t = ibx_t4(X, 2, 3, 0, 6); /* empty */
  SHAPE("conv2d", ibx_conv2d_forward(&L, &t, &w, &b, &y, &s));
  SHAPE("conv2d", ibx_conv2d_forward(&L, NULL, &w, &b, &y, &s));
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, NULL, &b, &y, &s));
  SHAPE("conv2d", ibx_conv2d_forward(&L, &x, &w, &b, NULL, &s));
  t = ibx_t4(NULL, 2, 3, 6, 6);
  SHAPE("conv2d", ibx_conv2d_forward(&L, &t, &w, &b, &y, &s));
  { /* input smaller than the kernel */
    ibx_conv2d L5 = {3, 4, 5, 5, 1, 0, 0, IBX_CONV_IM2COL};
    ibx_tensor small = ibx_t4(X, 1, 3, 3, 3), w5 = ibx_t4(Wt, 4, 3, 5, 5);
    ibx_tensor y1 = ibx_t4(Y, 1, 4, 1, 1);
    SHAPE("conv2d", ibx_conv2d_forward(&L5, &small, &w5, NULL, &y1, &s));
  }
  /* backward */
  t = ibx_t4(DW, 4, 3, 3, 2);
  SHAPE("conv2d", ibx_conv2d_backward(&L, &x, &w, &y, &dx, &t, &db, &s));
  /* dw = NULL is allowed: no weight gradient (frozen weights, attribution) */
  assert_ibx_ok(ibx_conv2d_backward(&L, &x, &w, &y, &dx, NULL, &db, &s));
  t = ibx_t4(DX, 2, 3, 6, 5);
  SHAPE("conv2d", ibx_conv2d_backward(&L, &x, &w, &y, &t, &dw, &db, &s));
  t = ibx_t1(DB, 5);
  SHAPE("conv2d", ibx_conv2d_backward(&L, &x, &w, &y, &dx, &dw, &t, &s));
  t = ibx_t4(Y, 2, 4, 6, 7);
  SHAPE("conv2d", ibx_conv2d_backward(&L, &x, &w, &t, &dx, &dw, &db, &s));

  /* configuration */
  ibx_conv2d bad = L;
  bad.stride = 0;
  ARG("conv2d", ibx_conv2d_forward(&bad, &x, &w, &b, &y, &s));
  ARG("conv2d", ibx_conv2d_backward(&bad, &x, &w, &y, &dx, &dw, &db, &s));
  bad = L, bad.stride = -1;
  ARG("conv2d", ibx_conv2d_forward(&bad, &x, &w, &b, &y, &s));
  bad = L, bad.kernel_h = 0;
  ARG("conv2d", ibx_conv2d_forward(&bad, &x, &w, &b, &y, &s));
  bad = L, bad.pad_w = -1;
  ARG("conv2d", ibx_conv2d_forward(&bad, &x, &w, &b, &y, &s));
  bad = L, bad.in_channels = 0;
  ARG("conv2d", ibx_conv2d_forward(&bad, &x, &w, &b, &y, &s));
  { /* Winograd forced on a shape it cannot do */
    ibx_conv2d wl = {3, 4, 3, 3, 2, 1, 1, IBX_CONV_WINOGRAD};
    ibx_tensor y2 = ibx_t4(Y, 2, 4, 3, 3);
    ARG("conv2d", ibx_conv2d_forward(&wl, &x, &w, &b, &y2, &s));
    ARG("conv2d", ibx_conv2d_backward(&wl, &x, &w, &y2, &dx, &dw, &db, &s));
  }
  assert_int_equal(ibx_conv2d_out_size(5, 3, 0, 0), 0);
  assert_int_equal(ibx_conv2d_out_size(2, 5, 1, 0), 0);

  ibx_scratch_free(&s);
  free(X), free(Wt), free(B), free(Y), free(DX), free(DW), free(DB);
}

/* ---- batch norm ---------------------------------------------------------- */

static void test_batchnorm(void **state) {
  (void)state;
  float *X = buf(), *Y = buf(), *G = buf(), *Bt = buf(), *RM = buf(), *RV = buf();
  float *DX = buf(), *DG = buf(), *DB = buf();
  float sm[8], si[8];
  for (int i = 0; i < 8; i++)
    G[i] = 1.0f, RV[i] = 1.0f;
  ibx_batchnorm L = {.channels = 3, .eps = 1e-5f, .momentum = 0.1f};
  ibx_tensor x = ibx_t4(X, 2, 3, 4, 4), y = ibx_t4(Y, 2, 3, 4, 4);
  ibx_tensor g = ibx_t1(G, 3), b = ibx_t1(Bt, 3), rm = ibx_t1(RM, 3), rv = ibx_t1(RV, 3);
  ibx_tensor dx = ibx_t4(DX, 2, 3, 4, 4), dg = ibx_t1(DG, 3), db = ibx_t1(DB, 3);
  assert_ibx_ok(ibx_batchnorm_forward(&L, &x, &g, &b, &rm, &rv, 1, &y, sm, si));
  assert_ibx_ok(ibx_batchnorm_backward(&L, &x, &g, sm, si, 1, &y, &dx, &dg, &db));

  ibx_tensor t;
  t = ibx_t4(X, 2, 4, 4, 4);
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &t, &g, &b, &rm, &rv, 1, &t, sm, si));
  t = (ibx_tensor){X, 3, {2, 3, 16, 1}};
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &t, &g, &b, &rm, &rv, 1, &t, sm, si));
  t = ibx_t4(Y, 2, 3, 4, 5);
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &g, &b, &rm, &rv, 1, &t, sm, si));
  t = ibx_t1(G, 2);
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &t, &b, &rm, &rv, 1, &y, sm, si));
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &g, &t, &rm, &rv, 1, &y, sm, si));
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &g, &b, &t, &rv, 0, &y, sm, si));
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &g, &b, &rm, NULL, 1, &y, sm, si));
  SHAPE("batchnorm_forward", ibx_batchnorm_forward(&L, NULL, &g, &b, &rm, &rv, 1, &y, sm, si));
  ARG("batchnorm_forward", ibx_batchnorm_forward(&L, &x, &g, &b, &rm, &rv, 1, &y, NULL, si));
  { /* training needs more than one value per channel */
    ibx_tensor one = ibx_t2(X, 1, 3), yone = ibx_t2(Y, 1, 3);
    SHAPE("batchnorm_forward",
          ibx_batchnorm_forward(&L, &one, &g, &b, &rm, &rv, 1, &yone, sm, si));
    assert_ibx_ok(ibx_batchnorm_forward(&L, &one, &g, &b, &rm, &rv, 0, &yone, sm, si));
  }
  t = ibx_t1(DG, 4);
  SHAPE("batchnorm_backward", ibx_batchnorm_backward(&L, &x, &g, sm, si, 1, &y, &dx, &t, &db));
  SHAPE("batchnorm_backward", ibx_batchnorm_backward(&L, &x, &g, sm, si, 1, &y, &dx, &dg, &t));
  t = ibx_t4(DX, 2, 3, 4, 3);
  SHAPE("batchnorm_backward", ibx_batchnorm_backward(&L, &x, &g, sm, si, 1, &y, &t, &dg, &db));
  SHAPE("batchnorm_backward", ibx_batchnorm_backward(&L, &x, &g, sm, si, 1, &t, &dx, &dg, &db));
  ARG("batchnorm_backward", ibx_batchnorm_backward(&L, &x, &g, NULL, si, 1, &y, &dx, &dg, &db));

  /* fused batch norm + ReLU: the same checks, plus its output y in backward */
  float *DY = buf();
  ibx_tensor dy = ibx_t4(DY, 2, 3, 4, 4);
  assert_ibx_ok(ibx_batchnorm_relu_forward(&L, &x, &g, &b, &rm, &rv, 1, &y, sm, si));
  assert_ibx_ok(ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, 1, &y, &dy, &dx, &dg, &db));
  t = ibx_t4(X, 2, 4, 4, 4);
  SHAPE("batchnorm_relu_forward",
        ibx_batchnorm_relu_forward(&L, &t, &g, &b, &rm, &rv, 1, &t, sm, si));
  t = ibx_t4(Y, 2, 3, 4, 5);
  SHAPE("batchnorm_relu_forward",
        ibx_batchnorm_relu_forward(&L, &x, &g, &b, &rm, &rv, 1, &t, sm, si));
  SHAPE("batchnorm_relu_backward",
        ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, 1, &t, &dy, &dx, &dg, &db));
  SHAPE("batchnorm_relu_backward",
        ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, 1, NULL, &dy, &dx, &dg, &db));
  SHAPE("batchnorm_relu_backward",
        ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, 1, &y, &t, &dx, &dg, &db));
  t = ibx_t1(DG, 2);
  SHAPE("batchnorm_relu_backward",
        ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, 1, &y, &dy, &dx, &t, &db));
  free(DY);
  free(X), free(Y), free(G), free(Bt), free(RM), free(RV), free(DX), free(DG), free(DB);
}

/* ---- activations --------------------------------------------------------- */

typedef int (*act_fwd)(const ibx_tensor *, ibx_tensor *);
typedef int (*act_bwd)(const ibx_tensor *, const ibx_tensor *, ibx_tensor *);

static void check_act(const char *fname, const char *bname, act_fwd f, act_bwd bw) {
  float *X = buf(), *Y = buf(), *D = buf();
  ibx_tensor x = ibx_t4(X, 2, 3, 4, 4), y = ibx_t4(Y, 2, 3, 4, 4), d = ibx_t4(D, 2, 3, 4, 4);
  ibx_tensor wrong = ibx_t4(Y, 2, 3, 4, 5), flat = ibx_t2(Y, 2, 48);
  assert_ibx_ok(f(&x, &y));
  assert_ibx_ok(bw(&y, &x, &d));
  SHAPE(fname, f(&x, &wrong));
  SHAPE(fname, f(&x, &flat)); /* same numel, other shape */
  SHAPE(fname, f(NULL, &y));
  SHAPE(fname, f(&x, NULL));
  SHAPE(bname, bw(&y, &wrong, &d));
  SHAPE(bname, bw(&y, &x, &wrong));
  SHAPE(bname, bw(&y, &x, NULL));
  free(X), free(Y), free(D);
}

static void test_activations(void **state) {
  (void)state;
  check_act("relu_forward", "relu_backward", ibx_relu_forward, ibx_relu_backward);
  check_act("sigmoid_forward", "sigmoid_backward", ibx_sigmoid_forward, ibx_sigmoid_backward);
  check_act("tanh_forward", "tanh_backward", ibx_tanh_forward, ibx_tanh_backward);
}

/* ---- pooling ------------------------------------------------------------- */

static void test_pooling(void **state) {
  (void)state;
  float *X = buf(), *Y = buf(), *DX = buf();
  ibx_pool2d L = {2, 2, 0};
  ibx_tensor x = ibx_t4(X, 1, 2, 6, 6), y = ibx_t4(Y, 1, 2, 3, 3), dx = ibx_t4(DX, 1, 2, 6, 6);
  assert_ibx_ok(ibx_maxpool2d_forward(&L, &x, &y));
  assert_ibx_ok(ibx_maxpool2d_backward(&L, &x, &y, &dx));
  assert_ibx_ok(ibx_avgpool2d_forward(&L, &x, &y));
  assert_ibx_ok(ibx_avgpool2d_backward(&L, &y, &dx));

  ibx_tensor t;
  t = ibx_t4(Y, 1, 2, 3, 4);
  SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L, &x, &t));
  SHAPE("avgpool2d_forward", ibx_avgpool2d_forward(&L, &x, &t));
  SHAPE("maxpool2d_backward", ibx_maxpool2d_backward(&L, &x, &t, &dx));
  SHAPE("avgpool2d_backward", ibx_avgpool2d_backward(&L, &t, &dx));
  t = ibx_t4(Y, 1, 3, 3, 3);
  SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L, &x, &t));
  SHAPE("avgpool2d_forward", ibx_avgpool2d_forward(&L, &x, &t));
  t = ibx_t4(Y, 2, 2, 3, 3);
  SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L, &x, &t));
  t = ibx_t4(DX, 1, 2, 6, 5);
  SHAPE("maxpool2d_backward", ibx_maxpool2d_backward(&L, &x, &y, &t));
  SHAPE("avgpool2d_backward", ibx_avgpool2d_backward(&L, &y, &t)); /* dy no longer fits */
  t = ibx_t2(X, 2, 36);
  SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L, &t, &y));
  SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L, NULL, &y));
  SHAPE("avgpool2d_forward", ibx_avgpool2d_forward(&L, &x, NULL));
  { /* input smaller than the window */
    ibx_pool2d L3 = {3, 1, 0};
    ibx_tensor tiny = ibx_t4(X, 1, 2, 2, 2), y1 = ibx_t4(Y, 1, 2, 1, 1);
    SHAPE("maxpool2d_forward", ibx_maxpool2d_forward(&L3, &tiny, &y1));
  }

  /* configuration */
  ibx_pool2d bad = {0, 2, 0};
  ARG("maxpool2d_forward", ibx_maxpool2d_forward(&bad, &x, &y));
  ARG("avgpool2d_forward", ibx_avgpool2d_forward(&bad, &x, &y));
  ARG("maxpool2d_backward", ibx_maxpool2d_backward(&bad, &x, &y, &dx));
  ARG("avgpool2d_backward", ibx_avgpool2d_backward(&bad, &y, &dx));
  bad = (ibx_pool2d){2, 0, 0};
  ARG("maxpool2d_forward", ibx_maxpool2d_forward(&bad, &x, &y));
  bad = (ibx_pool2d){3, 2, 2}; /* pad > kernel / 2 */
  ARG("maxpool2d_forward", ibx_maxpool2d_forward(&bad, &x, &y));
  bad = (ibx_pool2d){2, 2, -1};
  ARG("avgpool2d_forward", ibx_avgpool2d_forward(&bad, &x, &y));

  /* global average pool: x [N,C,H,W] -> y [N,C] */
  ibx_tensor gy = ibx_t2(Y, 1, 2);
  assert_ibx_ok(ibx_global_avgpool_forward(&x, &gy));
  assert_ibx_ok(ibx_global_avgpool_backward(&gy, &dx));
  t = ibx_t2(Y, 1, 3);
  SHAPE("global_avgpool_forward", ibx_global_avgpool_forward(&x, &t));
  SHAPE("global_avgpool_backward", ibx_global_avgpool_backward(&t, &dx));
  t = ibx_t4(Y, 1, 2, 1, 1);
  SHAPE("global_avgpool_forward", ibx_global_avgpool_forward(&x, &t));
  t = ibx_t2(X, 2, 36);
  SHAPE("global_avgpool_forward", ibx_global_avgpool_forward(&t, &gy));
  free(X), free(Y), free(DX);
}

/* ---- linear -------------------------------------------------------------- */

static void test_linear(void **state) {
  (void)state;
  float *X = buf(), *Wt = buf(), *B = buf(), *Y = buf(), *DX = buf(), *DW = buf(), *DB = buf();
  ibx_tensor x = ibx_t2(X, 2, 5), w = ibx_t2(Wt, 3, 5), b = ibx_t1(B, 3), y = ibx_t2(Y, 2, 3);
  ibx_tensor dx = ibx_t2(DX, 2, 5), dw = ibx_t2(DW, 3, 5), db = ibx_t1(DB, 3);
  assert_ibx_ok(ibx_linear_forward(&x, &w, &b, &y));
  assert_ibx_ok(ibx_linear_backward(&x, &w, &y, &dx, &dw, &db));
  ibx_tensor t;
  t = ibx_t2(Wt, 3, 4);
  SHAPE("linear_forward", ibx_linear_forward(&x, &t, &b, &y));
  t = ibx_t2(Y, 2, 4);
  SHAPE("linear_forward", ibx_linear_forward(&x, &w, &b, &t));
  t = ibx_t2(Y, 3, 3);
  SHAPE("linear_forward", ibx_linear_forward(&x, &w, &b, &t));
  t = ibx_t1(B, 4);
  SHAPE("linear_forward", ibx_linear_forward(&x, &w, &t, &y));
  t = ibx_t4(X, 2, 5, 1, 1); /* must be flattened first */
  SHAPE("linear_forward", ibx_linear_forward(&t, &w, &b, &y));
  SHAPE("linear_forward", ibx_linear_forward(NULL, &w, &b, &y));
  t = ibx_t2(DW, 3, 4);
  SHAPE("linear_backward", ibx_linear_backward(&x, &w, &y, &dx, &t, &db));
  SHAPE("linear_backward", ibx_linear_backward(&x, &w, &y, &dx, NULL, &db));
  t = ibx_t2(DX, 2, 4);
  SHAPE("linear_backward", ibx_linear_backward(&x, &w, &y, &t, &dw, &db));
  t = ibx_t2(Y, 2, 4);
  SHAPE("linear_backward", ibx_linear_backward(&x, &w, &t, &dx, &dw, &db));
  t = ibx_t1(DB, 2);
  SHAPE("linear_backward", ibx_linear_backward(&x, &w, &y, &dx, &dw, &t));
  free(X), free(Wt), free(B), free(Y), free(DX), free(DW), free(DB);
}

/* ---- dropout ------------------------------------------------------------- */

static void test_dropout(void **state) {
  (void)state;
  float *X = buf(), *Y = buf();
  ibx_dropout L = {0.5f, 1, 2};
  ibx_tensor x = ibx_t4(X, 2, 3, 4, 4), y = ibx_t4(Y, 2, 3, 4, 4), t = ibx_t4(Y, 2, 3, 4, 5);
  assert_ibx_ok(ibx_dropout_forward(&L, 1, &x, &y));
  SHAPE("dropout_forward", ibx_dropout_forward(&L, 1, &x, &t));
  SHAPE("dropout_backward", ibx_dropout_backward(&L, 1, &x, &t));
  SHAPE("dropout_forward", ibx_dropout_forward(&L, 1, NULL, &y));
  const float bad_p[4] = {1.0f, 1.5f, -0.1f, NAN};
  for (int i = 0; i < 4; i++) {
    ibx_dropout bad = {bad_p[i], 1, 2};
    ARG("dropout_forward", ibx_dropout_forward(&bad, 1, &x, &y));
    ARG("dropout_forward", ibx_dropout_forward(&bad, 0, &x, &y));
    ARG("dropout_backward", ibx_dropout_backward(&bad, 1, &x, &y));
  }
  ibx_dropout zero = {0.0f, 1, 2}; /* p = 0 is fine: identity */
  assert_ibx_ok(ibx_dropout_forward(&zero, 1, &x, &y));
  free(X), free(Y);
}

/* ---- add / mul ----------------------------------------------------------- */

static void test_add_mul(void **state) {
  (void)state;
  float *A = buf(), *B = buf(), *Y = buf(), *DA = buf(), *DB = buf();
  ibx_tensor a = ibx_t4(A, 2, 3, 4, 5), b = ibx_t4(B, 2, 1, 4, 5), y = ibx_t4(Y, 2, 3, 4, 5);
  ibx_tensor da = ibx_t4(DA, 2, 3, 4, 5), db = ibx_t4(DB, 2, 1, 4, 5);
  assert_ibx_ok(ibx_add_forward(&a, &b, &y));
  assert_ibx_ok(ibx_mul_forward(&a, &b, &y));
  assert_ibx_ok(ibx_add_backward(&y, &da, &db));
  assert_ibx_ok(ibx_mul_backward(&a, &b, &y, &da, &db));

  ibx_tensor t;
  t = ibx_t4(B, 2, 2, 4, 5); /* 2 is neither 3 nor 1 */
  SHAPE("add_forward", ibx_add_forward(&a, &t, &y));
  SHAPE("mul_forward", ibx_mul_forward(&a, &t, &y));
  SHAPE("add_backward", ibx_add_backward(&y, &da, &t));
  SHAPE("mul_backward", ibx_mul_backward(&a, &t, &y, &da, &db));
  t = ibx_t4(B, 4, 1, 4, 5); /* b larger than a */
  SHAPE("add_forward", ibx_add_forward(&a, &t, &y));
  t = ibx_t2(B, 4, 5); /* rank */
  SHAPE("add_forward", ibx_add_forward(&a, &t, &y));
  SHAPE("mul_forward", ibx_mul_forward(&a, &t, &y));
  t = ibx_t4(Y, 2, 3, 4, 4);
  SHAPE("add_forward", ibx_add_forward(&a, &b, &t));
  SHAPE("mul_forward", ibx_mul_forward(&a, &b, &t));
  SHAPE("add_forward", ibx_add_forward(NULL, &b, &y));
  SHAPE("mul_forward", ibx_mul_forward(&a, NULL, &y));
  /* backward */
  t = ibx_t4(DA, 2, 3, 4, 4);
  SHAPE("add_backward", ibx_add_backward(&y, &t, &db));
  SHAPE("add_backward", ibx_add_backward(&y, &t, NULL));
  SHAPE("mul_backward", ibx_mul_backward(&a, &b, &y, &t, &db));
  t = ibx_t4(A, 2, 3, 4, 4);
  SHAPE("mul_backward", ibx_mul_backward(&t, &b, &y, &da, &db));
  SHAPE("mul_backward", ibx_mul_backward(&a, NULL, &y, &da, &db));
  SHAPE("mul_backward", ibx_mul_backward(NULL, &b, &y, &da, &db));
  SHAPE("add_backward", ibx_add_backward(NULL, &da, &db));
  /* db broadcast-compatible with dy but not b's shape: must be rejected,
   * not written with b's strides (db here is smaller than b) */
  {
    ibx_tensor bfull = ibx_t4(B, 2, 3, 4, 5), dbsmall = ibx_t4(DB, 2, 1, 4, 5);
    float *guard = DB + 40;
    for (int i = 0; i < 200; i++)
      guard[i] = 7.0f;
    SHAPE("mul_backward", ibx_mul_backward(&a, &bfull, &y, &da, &dbsmall));
    for (int i = 0; i < 200; i++)
      assert_true(guard[i] == 7.0f);
    ibx_tensor dbbig = ibx_t4(DB, 2, 3, 4, 5);
    SHAPE("mul_backward", ibx_mul_backward(&a, &b, &y, &da, &dbbig));
  }
  free(A), free(B), free(Y), free(DA), free(DB);
}

/* ---- bilinear ------------------------------------------------------------ */

static void test_bilinear(void **state) {
  (void)state;
  float *X = buf(), *Y = buf();
  ibx_tensor x = ibx_t4(X, 1, 2, 4, 4), y = ibx_t4(Y, 1, 2, 8, 8);
  assert_ibx_ok(ibx_bilinear_forward(0, &x, &y));
  assert_ibx_ok(ibx_bilinear_backward(1, &y, &x));
  ibx_tensor t;
  t = ibx_t4(Y, 1, 3, 8, 8);
  SHAPE("bilinear_forward", ibx_bilinear_forward(0, &x, &t));
  SHAPE("bilinear_backward", ibx_bilinear_backward(0, &t, &x));
  t = ibx_t4(Y, 2, 2, 4, 4);
  SHAPE("bilinear_forward", ibx_bilinear_forward(1, &x, &t));
  t = ibx_t2(Y, 2, 64);
  SHAPE("bilinear_forward", ibx_bilinear_forward(1, &x, &t));
  t = ibx_t4(Y, 1, 2, 0, 8);
  SHAPE("bilinear_forward", ibx_bilinear_forward(1, &x, &t));
  t = ibx_t4(Y, 1, 2, 1, 5000); /* beyond the supported map size: refused before any access */
  SHAPE("bilinear_forward", ibx_bilinear_forward(1, &x, &t));
  SHAPE("bilinear_backward", ibx_bilinear_backward(1, &t, &x));
  SHAPE("bilinear_forward", ibx_bilinear_forward(1, NULL, &y));
  free(X), free(Y);
}

/* ---- softmax, cross-entropy, KL ------------------------------------------ */

static void test_softmax_xent_kl(void **state) {
  (void)state;
  float *X = buf(), *P = buf(), *D = buf();
  ibx_tensor x = ibx_t2(X, 3, 4), p = ibx_t2(P, 3, 4), d = ibx_t2(D, 3, 4);
  assert_ibx_ok(ibx_softmax_forward(&x, &p));
  assert_ibx_ok(ibx_softmax_backward(&p, &x, &d));
  ibx_tensor t;
  t = ibx_t2(P, 3, 5);
  SHAPE("softmax_forward", ibx_softmax_forward(&x, &t));
  SHAPE("softmax_backward", ibx_softmax_backward(&p, &x, &t));
  SHAPE("softmax_backward", ibx_softmax_backward(&p, &t, &d));
  t = ibx_t4(X, 3, 4, 1, 1);
  SHAPE("softmax_forward", ibx_softmax_forward(&t, &t));

  /* cross-entropy */
  int labels[3] = {0, 3, 1};
  float loss = -1.0f;
  assert_ibx_ok(ibx_softmax_xent_forward(&x, labels, &loss, &p));
  assert_true(fabsf(loss - logf(4.0f)) < 1e-6f); /* zero logits: uniform */
  assert_ibx_ok(ibx_softmax_xent_backward(&p, labels, 1.0f, &d));
  t = ibx_t2(P, 4, 4);
  SHAPE("softmax_xent_forward", ibx_softmax_xent_forward(&x, labels, &loss, &t));
  SHAPE("softmax_xent_backward", ibx_softmax_xent_backward(&p, labels, 1.0f, &t));
  t = ibx_t4(X, 3, 4, 1, 1);
  SHAPE("softmax_xent_forward", ibx_softmax_xent_forward(&t, labels, &loss, NULL));
  const int out_of_range[4] = {4, -1, 1000, -2147483647 - 1};
  for (int i = 0; i < 4; i++) {
    int bad[3] = {0, out_of_range[i], 1};
    ARG("softmax_xent_forward", ibx_softmax_xent_forward(&x, bad, &loss, &p));
    ARG("softmax_xent_backward", ibx_softmax_xent_backward(&p, bad, 1.0f, &d));
  }
  ARG("softmax_xent_forward", ibx_softmax_xent_forward(&x, NULL, &loss, &p));
  ARG("softmax_xent_backward", ibx_softmax_xent_backward(&p, NULL, 1.0f, &d));

  /* KL */
  float kl;
  float *LV = buf(), *DM = buf(), *DL = buf();
  ibx_tensor mu = ibx_t2(X, 3, 4), lv = ibx_t2(LV, 3, 4), dm = ibx_t2(DM, 3, 4);
  ibx_tensor dl = ibx_t2(DL, 3, 4);
  assert_ibx_ok(ibx_gaussian_kl_forward(&mu, &lv, &kl));
  assert_ibx_ok(ibx_gaussian_kl_backward(&mu, &lv, 1.0f, &dm, &dl));
  t = ibx_t2(LV, 3, 5);
  SHAPE("gaussian_kl_forward", ibx_gaussian_kl_forward(&mu, &t, &kl));
  SHAPE("gaussian_kl_backward", ibx_gaussian_kl_backward(&mu, &t, 1.0f, &dm, &dl));
  SHAPE("gaussian_kl_backward", ibx_gaussian_kl_backward(&mu, &lv, 1.0f, &t, &dl));
  SHAPE("gaussian_kl_backward", ibx_gaussian_kl_backward(&mu, &lv, 1.0f, &dm, &t));
  SHAPE("gaussian_kl_backward", ibx_gaussian_kl_backward(&mu, &lv, 1.0f, &dm, NULL));
  t = ibx_t4(X, 3, 4, 1, 1);
  SHAPE("gaussian_kl_forward", ibx_gaussian_kl_forward(&t, &t, &kl));
  ARG("gaussian_kl_forward", ibx_gaussian_kl_forward(&mu, &lv, NULL));
  free(X), free(P), free(D), free(LV), free(DM), free(DL);
}

/* ---- allocation failures ------------------------------------------------- */

static void test_params_nomem(void **state) {
  (void)state;
  ibx_params p;
  ibx_params_init(&p, 1);
  const int d[2] = {8, 9};
  assert_ibx_ok(ibx_params_declare(&p, "fc.weight", 2, d, NULL));
  assert_ibx_ok(ibx_params_declare(&p, "fc.bias", 1, d, NULL));
  /* values fail */
  ibx_alloc_fail_after(1);
  EXPECT(IBX_ERR_NOMEM, "parameters", ibx_params_allocate(&p));
  assert_null(p.values);
  assert_null(p.grads);
  /* gradients fail: the values are given back */
  ibx_alloc_fail_after(2);
  EXPECT(IBX_ERR_NOMEM, "gradients", ibx_params_allocate(&p));
  assert_null(p.values);
  assert_null(p.grads);
  /* the store is intact: a retry works */
  assert_ibx_ok(ibx_params_allocate(&p));
  assert_non_null(p.values);
  assert_non_null(p.grads);
  assert_int_equal(ibx_params_find(&p, "fc.bias"), 1);
  ibx_params_free(&p);

  /* a failure that is never reached, then a store freed without allocating */
  ibx_params q;
  ibx_params_init(&q, 0);
  assert_ibx_ok(ibx_params_declare(&q, "bn.running_var", 1, d, NULL));
  ibx_alloc_fail_after(1);
  EXPECT(IBX_ERR_NOMEM, "out of memory", ibx_params_allocate(&q));
  ibx_params_free(&q);
  ibx_alloc_fail_after(0);
}

static void test_conv_scratch_nomem(void **state) {
  (void)state;
  float *X = buf(), *Wt = buf(), *Y = buf(), *DX = buf(), *DW = buf();
  ibx_conv2d L = {2, 3, 3, 3, 2, 1, 1, IBX_CONV_IM2COL};
  ibx_tensor x = ibx_t4(X, 2, 2, 7, 7), w = ibx_t4(Wt, 3, 2, 3, 3), y = ibx_t4(Y, 2, 3, 4, 4);
  ibx_tensor dx = ibx_t4(DX, 2, 2, 7, 7), dw = ibx_t4(DW, 3, 2, 3, 3);
  ibx_scratch s = {0};

  ibx_alloc_fail_after(1);
  EXPECT(IBX_ERR_NOMEM, "scratch", ibx_conv2d_forward(&L, &x, &w, NULL, &y, &s));
  assert_null(s.data);
  assert_int_equal(s.capacity, 0);
  ibx_scratch_free(&s); /* freeable */
  ibx_alloc_fail_after(1);
  EXPECT(IBX_ERR_NOMEM, "scratch", ibx_conv2d_backward(&L, &x, &w, &y, &dx, &dw, NULL, &s));
  assert_null(s.data);

  /* after the failure, the same scratch works */
  assert_ibx_ok(ibx_conv2d_forward(&L, &x, &w, NULL, &y, &s));
  assert_non_null(s.data);
  float *kept = s.data;
  /* growth failure keeps the smaller buffer (and it stays freeable) */
  ibx_conv2d big = {2, 3, 5, 5, 1, 2, 2, IBX_CONV_IM2COL};
  ibx_tensor wb = ibx_t4(Wt, 3, 2, 5, 5), yb = ibx_t4(Y, 2, 3, 7, 7);
  ibx_alloc_fail_after(1);
  EXPECT(IBX_ERR_NOMEM, "scratch", ibx_conv2d_forward(&big, &x, &wb, NULL, &yb, &s));
  assert_ptr_equal(s.data, kept);
  /* a call that fits in the scratch allocates nothing, so it succeeds */
  ibx_alloc_fail_after(1);
  assert_ibx_ok(ibx_conv2d_forward(&L, &x, &w, NULL, &y, &s));
  ibx_alloc_fail_after(0);
  ibx_scratch_free(&s);
  free(X), free(Wt), free(Y), free(DX), free(DW);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv2d),
      cmocka_unit_test(test_batchnorm),
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_pooling),
      cmocka_unit_test(test_linear),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_add_mul),
      cmocka_unit_test(test_bilinear),
      cmocka_unit_test(test_softmax_xent_kl),
      cmocka_unit_test(test_params_nomem),
      cmocka_unit_test(test_conv_scratch_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
