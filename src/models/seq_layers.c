/* The layer kinds of the sequential stack (the registry SEQ_LAYER_KINDS in
 * sequential_internal.h): for each, its parameter declaration and
 * initialisation, forward, backward, description and parameter count. */
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/memory.h"
#include "sequential_internal.h"

size_t seq_dim_size(const int d[3]) { return (size_t)d[0] * d[1] * d[2]; }

ibx_tensor seq_view(float *data, int N, const int d[3], int flat) {
  return flat ? ibx_t2(data, N, d[0]) : ibx_t4(data, N, d[0], d[1], d[2]);
}

ibx_tensor seq_param(const ibx_seq *s, int index) {
  return index >= 0 ? ibx_params_value(s->params, index) : (ibx_tensor){0};
}
ibx_tensor seq_grad(const ibx_seq *s, int index) {
  return index >= 0 ? ibx_params_grad(s->params, index) : (ibx_tensor){0};
}

static int declare(ibx_params *store, const char *prefix, int index, const char *leaf, int ndim,
                   const int *dim, int *out) {
  char name[IBX_PARAM_NAME_MAX];
  snprintf(name, sizeof name, "%s%s%d.%s", prefix, *prefix ? "." : "", index, leaf);
  return ibx_params_declare(store, name, ndim, dim, out);
}

/* ---- conv ---- */
static int conv_declare(node *n, const char *prefix, int i, ibx_params *params,
                        ibx_params *buffers) {
  (void)buffers;
  const int wd[4] = {n->conv.out_channels, n->conv.in_channels, n->conv.kernel_h, n->conv.kernel_w};
  IBX_TRY(declare(params, prefix, i, "weight", 4, wd, &n->w));
  if (n->has_bias)
    IBX_TRY(declare(params, prefix, i, "bias", 1, wd, &n->b));
  return IBX_OK;
}
static void conv_init_weight(const node *n, float *w, size_t nw, uint64_t seed, int i) {
  ibx_init_kaiming_normal(w, nw, n->conv.out_channels * n->conv.kernel_h * n->conv.kernel_w, seed,
                          (uint64_t)i);
}
static int conv_bind(node *n, int max_batch) {
  if (!n->feeds_bn)
    return IBX_OK;
  ibx_free(n->bn_planes);
  n->bn_planes = ibx_alloc((size_t)max_batch * n->conv.out_channels * sizeof(ibx_bn_moments),
                           "conv output moments");
  return n->bn_planes ? IBX_OK : IBX_ERR_NOMEM;
}
static int conv_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                        uint64_t dropout_seed) {
  (void)dropout_seed;
  ibx_tensor w = seq_param(s, n->w), b = seq_param(s, n->b);
  n->bn_planes_of = NULL;
  /* batch norm sums small planes by channel itself (IBX_BN_COLUMN_PLANE) */
  if (!(training && n->bn_planes && n->out_dim[1] * n->out_dim[2] >= IBX_BN_COLUMN_PLANE))
    return ibx_conv2d_forward(&n->conv, in, &w, n->b >= 0 ? &b : NULL, y, &s->scratch);
  IBX_TRY(ibx_conv2d_forward_moments(&n->conv, in, &w, n->b >= 0 ? &b : NULL, y, &s->scratch,
                                     n->bn_planes));
  n->bn_planes_of = y->data, n->bn_planes_batch = y->dim[0];
  return IBX_OK;
}
static int conv_backward(ibx_seq *s, node *n, layer_bwd *b) {
  ibx_tensor w = seq_param(s, n->w), gw = seq_grad(s, n->w), gb = seq_grad(s, n->b);
  if (s->no_param_grads)
    return ibx_conv2d_backward(&n->conv, &b->in, &w, &b->dy, b->dxp, NULL, NULL, &s->scratch);
  return ibx_conv2d_backward(&n->conv, &b->in, &w, &b->dy, b->dxp, &gw, n->b >= 0 ? &gb : NULL,
                             &s->scratch);
}
static void conv_describe(const node *n, char *buf, int len, double *macs) {
  snprintf(buf, len, "conv%dx%d %d->%d s%d p%d", n->conv.kernel_h, n->conv.kernel_w,
           n->conv.in_channels, n->conv.out_channels, n->conv.stride, n->conv.pad_h);
  *macs =
      (double)seq_dim_size(n->out_dim) * n->conv.in_channels * n->conv.kernel_h * n->conv.kernel_w;
}
static size_t conv_param_count(const node *n) {
  return (size_t)n->conv.out_channels * n->conv.in_channels * n->conv.kernel_h * n->conv.kernel_w +
         (n->has_bias ? (size_t)n->conv.out_channels : 0);
}
static const layer_ops conv_ops = {.declare = conv_declare,
                                   .bind = conv_bind,
                                   .init_weight = conv_init_weight,
                                   .forward = conv_forward,
                                   .backward = conv_backward,
                                   .describe = conv_describe,
                                   .param_count = conv_param_count};

/* ---- batch norm (runs fused with a following relu) ---- */
static int batchnorm_declare(node *n, const char *prefix, int i, ibx_params *params,
                             ibx_params *buffers) {
  const int c = n->bn.channels;
  IBX_TRY(declare(params, prefix, i, "weight", 1, &c, &n->w));
  IBX_TRY(declare(params, prefix, i, "bias", 1, &c, &n->b));
  IBX_TRY(declare(buffers, prefix, i, "running_mean", 1, &c, &n->rmean));
  IBX_TRY(declare(buffers, prefix, i, "running_var", 1, &c, &n->rvar));
  return IBX_OK;
}
static int batchnorm_bind(node *n, int max_batch) {
  (void)max_batch;
  n->save_mean = ibx_alloc(2 * (size_t)n->bn.channels * sizeof(float), "batchnorm stats");
  if (!n->save_mean)
    return IBX_ERR_NOMEM;
  n->save_invstd = n->save_mean + n->bn.channels;
  return IBX_OK;
}
static void batchnorm_init_weight(const node *n, float *w, size_t nw, uint64_t seed, int i) {
  (void)n, (void)seed, (void)i;
  ibx_init_constant(w, nw, 1.0f);
}
static int batchnorm_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y,
                             int training, uint64_t dropout_seed) {
  (void)dropout_seed;
  ibx_tensor w = seq_param(s, n->w), b = seq_param(s, n->b);
  ibx_tensor rm = ibx_params_value(s->buffers, n->rmean),
             rv = ibx_params_value(s->buffers, n->rvar);
  /* the moments the conv before computed, if they describe this input */
  node *conv = n > s->nodes && n[-1].kind == CONV ? &n[-1] : NULL;
  const ibx_bn_moments *planes = NULL;
  if (conv && conv->bn_planes_of == in->data && conv->bn_planes_batch == in->dim[0])
    planes = conv->bn_planes;
  if (conv)
    conv->bn_planes_of = NULL; /* used once */
  return ibx_batchnorm_forward_moments(&n->bn, in, &w, &b, &rm, &rv, training, n->fused_relu,
                                       planes, y, n->save_mean, n->save_invstd);
}
static int batchnorm_backward(ibx_seq *s, node *n, layer_bwd *b) {
  ibx_tensor w = seq_param(s, n->w), gw = seq_grad(s, n->w), gb = seq_grad(s, n->b);
  if (n->fused_relu)
    return ibx_batchnorm_relu_backward(&n->bn, &b->in, &w, n->save_mean, n->save_invstd,
                                       s->training, &b->y, &b->dy, b->dxp, &gw, &gb);
  return ibx_batchnorm_backward(&n->bn, &b->in, &w, n->save_mean, n->save_invstd, s->training,
                                &b->dy, b->dxp, &gw, &gb);
}
static void batchnorm_describe(const node *n, char *buf, int len, double *macs) {
  (void)macs;
  snprintf(buf, len, "batchnorm %d", n->bn.channels);
}
static size_t batchnorm_param_count(const node *n) { return 2 * (size_t)n->bn.channels; }
static const layer_ops batchnorm_ops = {.declare = batchnorm_declare,
                                        .bind = batchnorm_bind,
                                        .init_weight = batchnorm_init_weight,
                                        .forward = batchnorm_forward,
                                        .backward = batchnorm_backward,
                                        .describe = batchnorm_describe,
                                        .param_count = batchnorm_param_count};

/* ---- relu (in place; a no-op when its batch norm applies it) ---- */
static int relu_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                        uint64_t dropout_seed) {
  (void)s, (void)training, (void)dropout_seed;
  return n->fused_relu ? IBX_OK : ibx_relu_forward(in, y);
}
static int relu_backward(ibx_seq *s, node *n, layer_bwd *b) {
  (void)s;
  /* In place: dx overwrites dy, no swap needed except into the caller's dx.
   * A fused relu passes dy on untouched: its batch norm applies the mask. */
  if (n->fused_relu && b->dx_is_scratch) {
    b->swap = 0;
  } else if (n->fused_relu) {
    if (b->dxp)
      memcpy(b->dx.data, b->dy.data, (size_t)ibx_numel(&b->dy) * sizeof(float));
  } else if (b->dx_is_scratch) {
    IBX_TRY(ibx_relu_backward(&b->y, &b->dy, &b->dy));
    b->swap = 0;
  } else if (b->dxp) {
    IBX_TRY(ibx_relu_backward(&b->y, &b->dy, &b->dx));
  }
  return IBX_OK;
}
static void relu_describe(const node *n, char *buf, int len, double *macs) {
  (void)n, (void)macs;
  snprintf(buf, len, "relu");
}
static const layer_ops relu_ops = {
    .in_place = 1, .forward = relu_forward, .backward = relu_backward, .describe = relu_describe};

/* ---- pooling ---- */
static int maxpool_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                           uint64_t dropout_seed) {
  (void)s, (void)training, (void)dropout_seed;
  return ibx_maxpool2d_forward(&n->pool, in, y);
}
static int maxpool_backward(ibx_seq *s, node *n, layer_bwd *b) {
  (void)s;
  return b->dxp ? ibx_maxpool2d_backward(&n->pool, &b->in, &b->dy, &b->dx) : IBX_OK;
}
static void maxpool_describe(const node *n, char *buf, int len, double *macs) {
  (void)macs;
  snprintf(buf, len, "maxpool %dx%d s%d", n->pool.kernel, n->pool.kernel, n->pool.stride);
}
static const layer_ops maxpool_ops = {
    .forward = maxpool_forward, .backward = maxpool_backward, .describe = maxpool_describe};

static int avgpool_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                           uint64_t dropout_seed) {
  (void)s, (void)training, (void)dropout_seed;
  return ibx_avgpool2d_forward(&n->pool, in, y);
}
static int avgpool_backward(ibx_seq *s, node *n, layer_bwd *b) {
  (void)s;
  return b->dxp ? ibx_avgpool2d_backward(&n->pool, &b->dy, &b->dx) : IBX_OK;
}
static void avgpool_describe(const node *n, char *buf, int len, double *macs) {
  (void)macs;
  snprintf(buf, len, "avgpool %dx%d s%d", n->pool.kernel, n->pool.kernel, n->pool.stride);
}
static const layer_ops avgpool_ops = {
    .forward = avgpool_forward, .backward = avgpool_backward, .describe = avgpool_describe};

static int global_avgpool_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y,
                                  int training, uint64_t dropout_seed) {
  (void)s, (void)n, (void)training, (void)dropout_seed;
  return ibx_global_avgpool_forward(in, y);
}
static int global_avgpool_backward(ibx_seq *s, node *n, layer_bwd *b) {
  (void)s, (void)n;
  return b->dxp ? ibx_global_avgpool_backward(&b->dy, &b->dx) : IBX_OK;
}
static void global_avgpool_describe(const node *n, char *buf, int len, double *macs) {
  (void)n, (void)macs;
  snprintf(buf, len, "global avgpool");
}
static const layer_ops global_avgpool_ops = {.forward = global_avgpool_forward,
                                             .backward = global_avgpool_backward,
                                             .describe = global_avgpool_describe};

/* ---- flatten (in place: same memory, new shape) ---- */
static int flatten_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                           uint64_t dropout_seed) {
  (void)s, (void)n, (void)in, (void)y, (void)training, (void)dropout_seed;
  return IBX_OK;
}
static int flatten_backward(ibx_seq *s, node *n, layer_bwd *b) {
  (void)s, (void)n;
  if (b->dx_is_scratch)
    b->swap = 0; /* same memory, new shape */
  else if (b->dxp)
    memcpy(b->dx.data, b->dy.data, (size_t)ibx_numel(&b->dy) * sizeof(float));
  return IBX_OK;
}
static void flatten_describe(const node *n, char *buf, int len, double *macs) {
  (void)n, (void)macs;
  snprintf(buf, len, "flatten");
}
static const layer_ops flatten_ops = {.in_place = 1,
                                      .forward = flatten_forward,
                                      .backward = flatten_backward,
                                      .describe = flatten_describe};

/* ---- linear ---- */
static int linear_declare(node *n, const char *prefix, int i, ibx_params *params,
                          ibx_params *buffers) {
  (void)buffers;
  const int wd[2] = {n->out_dim[0], n->in_dim[0]};
  IBX_TRY(declare(params, prefix, i, "weight", 2, wd, &n->w));
  if (n->has_bias)
    IBX_TRY(declare(params, prefix, i, "bias", 1, wd, &n->b));
  return IBX_OK;
}
static void linear_init_weight(const node *n, float *w, size_t nw, uint64_t seed, int i) {
  (void)n;
  ibx_init_normal(w, nw, 0.01f, seed, (uint64_t)i);
}
static int linear_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                          uint64_t dropout_seed) {
  (void)training, (void)dropout_seed;
  ibx_tensor w = seq_param(s, n->w), b = seq_param(s, n->b);
  return ibx_linear_forward(in, &w, n->b >= 0 ? &b : NULL, y);
}
static int linear_backward(ibx_seq *s, node *n, layer_bwd *b) {
  ibx_tensor w = seq_param(s, n->w), gw = seq_grad(s, n->w), gb = seq_grad(s, n->b);
  return ibx_linear_backward(&b->in, &w, &b->dy, b->dxp, &gw, n->b >= 0 ? &gb : NULL);
}
static void linear_describe(const node *n, char *buf, int len, double *macs) {
  snprintf(buf, len, "linear %d->%d", n->in_dim[0], n->out_dim[0]);
  *macs = (double)n->in_dim[0] * n->out_dim[0];
}
static size_t linear_param_count(const node *n) {
  return (size_t)n->out_dim[0] * n->in_dim[0] + (n->has_bias ? (size_t)n->out_dim[0] : 0);
}
static const layer_ops linear_ops = {.declare = linear_declare,
                                     .init_weight = linear_init_weight,
                                     .forward = linear_forward,
                                     .backward = linear_backward,
                                     .describe = linear_describe,
                                     .param_count = linear_param_count};

/* ---- dropout (its own output buffer, so backward sees the mask input) ---- */
static int dropout_forward(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                           uint64_t dropout_seed) {
  (void)s;
  n->drop.seed = dropout_seed;
  return ibx_dropout_forward(&n->drop, training, in, y);
}
static int dropout_backward(ibx_seq *s, node *n, layer_bwd *b) {
  return b->dxp ? ibx_dropout_backward(&n->drop, s->training, &b->dy, &b->dx) : IBX_OK;
}
static void dropout_describe(const node *n, char *buf, int len, double *macs) {
  (void)macs;
  snprintf(buf, len, "dropout p=%.2f", (double)n->drop.p);
}
static const layer_ops dropout_ops = {
    .forward = dropout_forward, .backward = dropout_backward, .describe = dropout_describe};

#define SEQ_KIND_OPS_(kind, name) [kind] = &name##_ops,
static const layer_ops *const layer_kinds[] = {SEQ_LAYER_KINDS(SEQ_KIND_OPS_)};
_Static_assert(sizeof layer_kinds / sizeof layer_kinds[0] == NODE_KIND_COUNT,
               "every node_kind needs a row in layer_kinds");

const layer_ops *seq_layer_ops(const node *n) { return layer_kinds[n->kind]; }
