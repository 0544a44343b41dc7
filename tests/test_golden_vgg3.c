/* A 3-block VGG-like network composed by hand from ibx/layers.h, one
 * training step against PyTorch (tests/fixtures/golden_vgg3.h5, written by
 * scripts/make_golden.py):
 *
 *   x[4,3,16,16] -> (conv3x3 pad1 + bias -> batch norm (training) -> ReLU ->
 *   maxpool 2x2) x 3, widths 8,16,16 -> flatten [4,64] -> linear 64->10 ->
 *   mean softmax cross-entropy
 *
 * Checked: every block's output, the logits and loss, the BN running
 * statistics after the forward, the gradient of every parameter and of x,
 * and every parameter after one SGD step (momentum 0.9, weight decay 5e-4,
 * lr 0.05, through ibx_params' single contiguous buffer). Runs with conv
 * algo IM2COL and AUTO (Winograd for these 3x3 stride-1 layers when built).
 *
 * Tolerances (tests/support/golden.h): 1e-5 relative plus 1e-5 of each
 * tensor's scale, except the conv biases' gradients: a conv bias followed by
 * training-mode batch norm has an exactly zero gradient (BN subtracts the
 * batch mean), so the reference is ~1e-10 and ibx's value is pure float32
 * cancellation noise from summing 4*H*W terms of dL/d(conv out). Those are
 * checked against an absolute bound of 1e-5 times the scale of the layer's
 * weight gradient (observed noise ~6e-8 against a bound of ~6e-6). */
#include <string.h>

#include "golden.h"
#include "ibx/layers.h"
#include "ibx/optim.h"
#include "ibx/params.h"

#define FIXTURE "golden_vgg3.h5"
#define NB 3

static const int widths[NB] = {8, 16, 16};

static const char *param_names[] = {
    "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
    "features.4.weight", "features.4.bias", "features.5.weight", "features.5.bias",
    "features.8.weight", "features.8.bias", "features.9.weight", "features.9.bias",
    "classifier.weight", "classifier.bias"};
#define NPARAM ((int)(sizeof param_names / sizeof param_names[0]))

G_FIXTURE(F, FIXTURE)

/* One activation buffer with its shape. */
static ibx_tensor act4(int n, int c, int h, int w) {
  float *d = ibx_calloc((size_t)n * c * h * w * sizeof(float), "activation");
  assert_non_null(d);
  return ibx_t4(d, n, c, h, w);
}

/* Declares the parameters with the fixture's shapes and loads their values. */
static void load_params(ibx_params *P) {
  char p[192];
  ibx_params_init(P, 1);
  for (int i = 0; i < NPARAM; i++) {
    int nd;
    int64_t d[IBX_H5_MAX_DIMS];
    int dim[IBX_MAX_DIMS];
    snprintf(p, sizeof p, "vgg3/params/%s", param_names[i]);
    assert_ibx_ok(ibx_h5_shape(&F, p, &nd, d));
    for (int k = 0; k < nd; k++)
      dim[k] = (int)d[k];
    int idx;
    assert_ibx_ok(ibx_params_declare(P, param_names[i], nd, dim, &idx));
    assert_int_equal(idx, i);
  }
  assert_ibx_ok(ibx_params_allocate(P));
  for (int i = 0; i < NPARAM; i++) {
    ibx_tensor v = ibx_params_value(P, i);
    snprintf(p, sizeof p, "vgg3/params/%s", param_names[i]);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &v));
  }
}

static void check_named(const char *sub, const char *name, const float *got, size_t n,
                        const char *algo) {
  char grp[128], what[192];
  ibx_tensor ref;
  snprintf(grp, sizeof grp, "vgg3/%s", sub);
  g_read(&F, grp, name, &ref);
  assert_int_equal(g_numel(&ref), n);
  snprintf(what, sizeof what, "%s/%s (%s)", sub, name, algo);
  g_check(what, got, ref.data, n);
  ibx_free(ref.data);
}

static void run_vgg3(ibx_conv_algo algo) {
  const char *an = algo == IBX_CONV_IM2COL ? "im2col" : "auto";
  char what[192], p[192];
  if (getenv("IBX_GOLDEN_VERBOSE"))
    printf("vgg3 (%s)\n", an);
  ibx_params P;
  load_params(&P);

  ibx_tensor x, logits_ref, loss_ref, dx_ref;
  g_read(&F, "vgg3", "x", &x);
  g_read(&F, "vgg3", "logits", &logits_ref);
  g_read(&F, "vgg3", "loss", &loss_ref);
  g_read(&F, "vgg3", "dx", &dx_ref);
  const int N = x.dim[0], K = logits_ref.dim[1];
  int32_t labels[16];
  assert_true(N <= 16);
  assert_ibx_ok(ibx_h5_read_i32(&F, "vgg3/labels", labels, (size_t)N));

  /* layers and activations */
  ibx_conv2d conv[NB];
  ibx_batchnorm bn[NB];
  const ibx_pool2d pool = {.kernel = 2, .stride = 2, .pad = 0};
  ibx_tensor in[NB], c[NB], r[NB], out[NB], dc[NB], dr[NB], dout[NB], din[NB];
  ibx_tensor rmean[NB], rvar[NB];
  float *save_mean[NB], *save_invstd[NB];
  int cin = x.dim[1], h = x.dim[2], w = x.dim[3];
  for (int b = 0; b < NB; b++) {
    const int co = widths[b];
    conv[b] = (ibx_conv2d){.in_channels = cin, .out_channels = co, .kernel_h = 3, .kernel_w = 3,
                           .stride = 1, .pad_h = 1, .pad_w = 1, .algo = algo};
    bn[b] = (ibx_batchnorm){.channels = co, .eps = 1e-5f, .momentum = 0.1f};
    in[b] = b == 0 ? x : out[b - 1];
    c[b] = act4(N, co, h, w);
    r[b] = act4(N, co, h, w);
    out[b] = act4(N, co, h / 2, w / 2);
    dc[b] = act4(N, co, h, w);
    dr[b] = act4(N, co, h, w);
    dout[b] = act4(N, co, h / 2, w / 2);
    din[b] = act4(N, cin, h, w);
    rmean[b] = ibx_t1(ibx_calloc(co * sizeof(float), "rm"), co);
    rvar[b] = ibx_t1(ibx_calloc(co * sizeof(float), "rv"), co);
    snprintf(p, sizeof p, "vgg3/buffers_initial/features.%d.running_mean", 4 * b + 1);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &rmean[b]));
    snprintf(p, sizeof p, "vgg3/buffers_initial/features.%d.running_var", 4 * b + 1);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &rvar[b]));
    save_mean[b] = ibx_calloc(co * sizeof(float), "save_mean");
    save_invstd[b] = ibx_calloc(co * sizeof(float), "save_invstd");
    cin = co, h /= 2, w /= 2;
  }
  const int feat = cin * h * w;
  ibx_tensor flat = ibx_t2(out[NB - 1].data, N, feat);
  ibx_tensor dflat = ibx_t2(dout[NB - 1].data, N, feat);
  ibx_tensor logits = ibx_t2(ibx_calloc((size_t)N * K * sizeof(float), "logits"), N, K);
  ibx_tensor probs = ibx_t2(ibx_calloc((size_t)N * K * sizeof(float), "probs"), N, K);
  ibx_tensor dlogits = ibx_t2(ibx_calloc((size_t)N * K * sizeof(float), "dlogits"), N, K);
  ibx_scratch s = {0};

  /* forward */
  for (int b = 0; b < NB; b++) {
    ibx_tensor wt = ibx_params_value(&P, 4 * b), bias = ibx_params_value(&P, 4 * b + 1);
    ibx_tensor gamma = ibx_params_value(&P, 4 * b + 2), beta = ibx_params_value(&P, 4 * b + 3);
    assert_ibx_ok(ibx_conv2d_forward(&conv[b], &in[b], &wt, &bias, &c[b], &s));
    assert_ibx_ok(ibx_batchnorm_forward(&bn[b], &c[b], &gamma, &beta, &rmean[b], &rvar[b], 1,
                                        &r[b], save_mean[b], save_invstd[b]));
    assert_ibx_ok(ibx_relu_forward(&r[b], &r[b]));
    assert_ibx_ok(ibx_maxpool2d_forward(&pool, &r[b], &out[b]));
    snprintf(p, sizeof p, "block%d", b + 1);
    check_named("acts", p, out[b].data, g_numel(&out[b]), an);
    snprintf(p, sizeof p, "features.%d.running_mean", 4 * b + 1);
    check_named("buffers", p, rmean[b].data, (size_t)widths[b], an);
    snprintf(p, sizeof p, "features.%d.running_var", 4 * b + 1);
    check_named("buffers", p, rvar[b].data, (size_t)widths[b], an);
  }
  ibx_tensor fc_w = ibx_params_value(&P, 12), fc_b = ibx_params_value(&P, 13);
  assert_ibx_ok(ibx_linear_forward(&flat, &fc_w, &fc_b, &logits));
  snprintf(what, sizeof what, "vgg3 logits (%s)", an);
  g_check(what, logits.data, logits_ref.data, g_numel(&logits));
  float loss = 0.0f;
  assert_ibx_ok(ibx_softmax_xent_forward(&logits, labels, &loss, &probs));
  snprintf(what, sizeof what, "vgg3 loss (%s)", an);
  g_check(what, &loss, loss_ref.data, 1);

  /* backward */
  ibx_params_zero_grads(&P);
  assert_ibx_ok(ibx_softmax_xent_backward(&probs, labels, 1.0f, &dlogits));
  ibx_tensor fc_dw = ibx_params_grad(&P, 12), fc_db = ibx_params_grad(&P, 13);
  assert_ibx_ok(ibx_linear_backward(&flat, &fc_w, &dlogits, &dflat, &fc_dw, &fc_db));
  for (int b = NB - 1; b >= 0; b--) {
    ibx_tensor wt = ibx_params_value(&P, 4 * b), gamma = ibx_params_value(&P, 4 * b + 2);
    ibx_tensor dw = ibx_params_grad(&P, 4 * b), dbias = ibx_params_grad(&P, 4 * b + 1);
    ibx_tensor dgamma = ibx_params_grad(&P, 4 * b + 2), dbeta = ibx_params_grad(&P, 4 * b + 3);
    assert_ibx_ok(ibx_maxpool2d_backward(&pool, &r[b], &dout[b], &dr[b]));
    assert_ibx_ok(ibx_relu_backward(&r[b], &dr[b], &dr[b]));
    assert_ibx_ok(ibx_batchnorm_backward(&bn[b], &c[b], &gamma, save_mean[b], save_invstd[b], 1,
                                         &dr[b], &dc[b], &dgamma, &dbeta));
    /* the first layer's dx goes to din[0]; later ones into the previous
     * block's output gradient */
    ibx_tensor *dx = b == 0 ? &din[0] : &dout[b - 1];
    assert_ibx_ok(ibx_conv2d_backward(&conv[b], &in[b], &wt, &dc[b], dx, &dw, &dbias, &s));
  }
  snprintf(what, sizeof what, "vgg3 dx (%s)", an);
  g_check(what, din[0].data, dx_ref.data, g_numel(&din[0]));
  for (int i = 0; i < NPARAM; i++) {
    ibx_tensor gr = ibx_params_grad(&P, i);
    const int conv_bias = i < 12 && i % 4 == 1;
    if (!conv_bias) {
      check_named("grads", param_names[i], gr.data, g_numel(&gr), an);
      continue;
    }
    /* conv bias before training-mode BN: true gradient 0 (see top) */
    ibx_tensor ref, wref;
    g_read(&F, "vgg3/grads", param_names[i], &ref);
    g_read(&F, "vgg3/grads", param_names[i - 1], &wref);
    snprintf(what, sizeof what, "grads/%s (%s, zero by BN)", param_names[i], an);
    g_check_abs(what, gr.data, ref.data, g_numel(&gr), 0.0,
                G_ATOL_SCALE * g_maxabs(wref.data, g_numel(&wref)));
    ibx_free(ref.data);
    ibx_free(wref.data);
  }

  /* one SGD step over the whole contiguous buffer */
  const ibx_sgd sgd = {.momentum = (float)g_attr_f(&F, "vgg3", "momentum"),
                       .weight_decay = (float)g_attr_f(&F, "vgg3", "weight_decay")};
  const float lr = (float)g_attr_f(&F, "vgg3", "lr");
  float *vel = ibx_calloc(P.total * sizeof(float), "velocity");
  assert_ibx_ok(ibx_sgd_step(&sgd, lr, P.values, P.grads, vel, P.total, 0));
  for (int i = 0; i < NPARAM; i++) {
    ibx_tensor v = ibx_params_value(&P, i);
    check_named("after_sgd", param_names[i], v.data, g_numel(&v), an);
  }

  ibx_free(vel);
  ibx_scratch_free(&s);
  for (int b = 0; b < NB; b++) {
    ibx_tensor *ts[] = {&c[b], &r[b], &out[b], &dc[b], &dr[b], &dout[b], &din[b], &rmean[b],
                        &rvar[b]};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
      ibx_free(ts[i]->data);
    ibx_free(save_mean[b]);
    ibx_free(save_invstd[b]);
  }
  ibx_free(logits.data);
  ibx_free(probs.data);
  ibx_free(dlogits.data);
  ibx_free(x.data);
  ibx_free(logits_ref.data);
  ibx_free(loss_ref.data);
  ibx_free(dx_ref.data);
  ibx_params_free(&P);
}

static void test_vgg3_im2col(void **state) {
  (void)state;
  run_vgg3(IBX_CONV_IM2COL);
}

static void test_vgg3_auto(void **state) {
  (void)state;
  run_vgg3(IBX_CONV_AUTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vgg3_im2col),
      cmocka_unit_test(test_vgg3_auto),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
