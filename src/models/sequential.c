/* Sequential layer stack: shapes are fixed when layers are added, activations
 * are preallocated for max_batch, backward ping-pongs between two gradient
 * buffers. See include/ibx/sequential.h. */
#include "ibx/sequential.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/memory.h"
#include "sequential_internal.h"

static const layer_ops *ops_of(const node *n) { return seq_layer_ops(n); }

void ibx_seq_set_grad_hook(ibx_seq *s, ibx_seq_grad_ready_fn fn, void *ctx) {
  s->grad_ready = fn, s->grad_ready_ctx = ctx;
}

void ibx_seq_set_bn_reduce(ibx_seq *s, ibx_bn_reduce_fn fn, void *ctx) {
  for (int i = 0; i < s->count; i++)
    if (s->nodes[i].kind == BATCHNORM)
      s->nodes[i].bn.reduce = fn, s->nodes[i].bn.reduce_ctx = ctx;
}

int ibx_seq_create(int in_channels, int in_height, int in_width, ibx_seq **out) {
  if (in_channels <= 0 || in_height <= 0 || in_width <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: bad input shape %dx%dx%d", in_channels, in_height,
                    in_width);
  ibx_seq *s = calloc(1, sizeof *s);
  if (!s)
    return ibx_fail(IBX_ERR_NOMEM, "sequential: out of memory");
  s->in_dim[0] = in_channels, s->in_dim[1] = in_height, s->in_dim[2] = in_width;
  *out = s;
  return IBX_OK;
}

int ibx_seq_create_flat(int features, ibx_seq **out) {
  if (features <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: bad flat input size %d", features);
  IBX_TRY(ibx_seq_create(features, 1, 1, out));
  (*out)->in_flat = 1;
  return IBX_OK;
}

void ibx_seq_free(ibx_seq *s) {
  if (!s)
    return;
  for (int i = 0; i < s->count; i++)
    ibx_free(s->nodes[i].save_mean), ibx_free(s->nodes[i].bn_planes);
  ibx_free(s->arena);
  ibx_free(s->grad_a);
  ibx_free(s->icpt_buf);
  ibx_scratch_free(&s->scratch);
  free(s->nodes);
  free(s);
}

/* Appends a node whose input is the previous output; returns it or NULL. */
static node *push(ibx_seq *s, node_kind kind) {
  if (s->params)
    return ibx_fail(IBX_ERR_ARG, "sequential: cannot add layers after declare"), NULL;
  if (s->count == s->capacity) {
    int cap = s->capacity ? 2 * s->capacity : 16;
    node *grown = realloc(s->nodes, (size_t)cap * sizeof *grown);
    if (!grown)
      return ibx_fail(IBX_ERR_NOMEM, "sequential: out of memory"), NULL;
    s->nodes = grown, s->capacity = cap;
  }
  node *n = &s->nodes[s->count];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->w = n->b = n->rmean = n->rvar = -1;
  if (s->count) {
    const node *p = &s->nodes[s->count - 1];
    memcpy(n->in_dim, p->out_dim, sizeof n->in_dim);
    n->flat_in = p->flat_out;
  } else {
    memcpy(n->in_dim, s->in_dim, sizeof n->in_dim);
    n->flat_in = s->in_flat;
  }
  memcpy(n->out_dim, n->in_dim, sizeof n->out_dim);
  n->flat_out = n->flat_in;
  return n;
}

static int need_map(ibx_seq *s, node *n, const char *what) {
  if (n->flat_in)
    return ibx_fail(IBX_ERR_ARG, "sequential: layer %d (%s) needs a [C,H,W] input, got flat",
                    s->count, what);
  return IBX_OK;
}

int ibx_seq_add_conv(ibx_seq *s, int out_channels, int kernel, int stride, int pad, int bias) {
  node *n = push(s, CONV);
  if (!n)
    return IBX_ERR_NOMEM;
  IBX_TRY(need_map(s, n, "conv"));
  n->conv = (ibx_conv2d){n->in_dim[0], out_channels, kernel, kernel, stride, pad, pad,
                         IBX_CONV_AUTO};
  const int oh = ibx_conv2d_out_size(n->in_dim[1], kernel, stride, pad);
  const int ow = ibx_conv2d_out_size(n->in_dim[2], kernel, stride, pad);
  if (out_channels <= 0 || kernel <= 0 || stride <= 0 || pad < 0 || oh <= 0 || ow <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: conv %d->%d k%d s%d p%d does not fit input %dx%d",
                    n->in_dim[0], out_channels, kernel, stride, pad, n->in_dim[1], n->in_dim[2]);
  n->out_dim[0] = out_channels, n->out_dim[1] = oh, n->out_dim[2] = ow;
  n->has_bias = bias;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_batchnorm(ibx_seq *s) {
  node *n = push(s, BATCHNORM);
  if (!n)
    return IBX_ERR_NOMEM;
  n->bn = (ibx_batchnorm){n->in_dim[0], 1e-5f, 0.1f, NULL, NULL};
  /* a conv before it computes the statistics' plane moments while writing */
  if (s->count && s->nodes[s->count - 1].kind == CONV && !n->flat_in)
    s->nodes[s->count - 1].feeds_bn = 1;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_relu(ibx_seq *s) {
  node *n = push(s, RELU);
  if (!n)
    return IBX_ERR_NOMEM;
  /* batch norm + relu run fused: one pass over memory instead of three */
  if (s->count && s->nodes[s->count - 1].kind == BATCHNORM)
    n->fused_relu = s->nodes[s->count - 1].fused_relu = 1;
  s->count++;
  return IBX_OK;
}

static int add_pool(ibx_seq *s, node_kind kind, int kernel, int stride) {
  node *n = push(s, kind);
  if (!n)
    return IBX_ERR_NOMEM;
  IBX_TRY(need_map(s, n, "pool"));
  n->pool = (ibx_pool2d){kernel, stride, 0};
  const int oh = ibx_pool2d_out_size(n->in_dim[1], &n->pool);
  const int ow = ibx_pool2d_out_size(n->in_dim[2], &n->pool);
  if (kernel <= 0 || stride <= 0 || oh <= 0 || ow <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: pool k%d s%d does not fit input %dx%d", kernel,
                    stride, n->in_dim[1], n->in_dim[2]);
  n->out_dim[1] = oh, n->out_dim[2] = ow;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_maxpool(ibx_seq *s, int kernel, int stride) {
  return add_pool(s, MAXPOOL, kernel, stride);
}
int ibx_seq_add_avgpool(ibx_seq *s, int kernel, int stride) {
  return add_pool(s, AVGPOOL, kernel, stride);
}

int ibx_seq_add_global_avgpool(ibx_seq *s) {
  node *n = push(s, GAP);
  if (!n)
    return IBX_ERR_NOMEM;
  IBX_TRY(need_map(s, n, "global avgpool"));
  n->out_dim[1] = n->out_dim[2] = 1;
  n->flat_out = 1;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_flatten(ibx_seq *s) {
  node *n = push(s, FLATTEN);
  if (!n)
    return IBX_ERR_NOMEM;
  n->out_dim[0] = (int)seq_dim_size(n->in_dim), n->out_dim[1] = n->out_dim[2] = 1;
  n->flat_out = 1;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_linear(ibx_seq *s, int out_features, int bias) {
  node *n = push(s, LINEAR);
  if (!n)
    return IBX_ERR_NOMEM;
  if (!n->flat_in)
    return ibx_fail(IBX_ERR_ARG, "sequential: linear needs a flat input (add flatten first)");
  if (out_features <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: linear needs out_features > 0");
  n->out_dim[0] = out_features, n->out_dim[1] = n->out_dim[2] = 1;
  n->has_bias = bias;
  s->count++;
  return IBX_OK;
}

int ibx_seq_add_dropout(ibx_seq *s, float p) {
  node *n = push(s, DROPOUT);
  if (!n)
    return IBX_ERR_NOMEM;
  if (!(p >= 0.0f && p < 1.0f))
    return ibx_fail(IBX_ERR_ARG, "sequential: dropout p = %g must be in [0,1)", (double)p);
  n->drop = (ibx_dropout){p, 0, (uint64_t)s->count};
  s->count++;
  return IBX_OK;
}

int ibx_seq_declare(ibx_seq *s, const char *prefix, ibx_params *params, ibx_params *buffers) {
  return ibx_seq_declare_from(s, prefix, 0, params, buffers);
}

int ibx_seq_declare_from(ibx_seq *s, const char *prefix, int first_index, ibx_params *params,
                         ibx_params *buffers) {
  if (s->params)
    return ibx_fail(IBX_ERR_ARG, "sequential: declared twice");
  for (int li = 0; li < s->count; li++) {
    node *n = &s->nodes[li];
    if (ops_of(n)->declare)
      IBX_TRY(ops_of(n)->declare(n, prefix, first_index + li, params, buffers));
  }
  s->params = params, s->buffers = buffers;
  return IBX_OK;
}

/* In-place nodes reuse their input's memory: relu, flatten, dropout in eval
 * (dropout always gets its own buffer so backward can see the mask input). */
static int in_place(const node *n) { return ops_of(n)->in_place; }

int ibx_seq_bind(ibx_seq *s, ibx_params *params, ibx_params *buffers, int max_batch) {
  if (!s->params || s->params != params || s->buffers != buffers || !params->values ||
      (buffers->count && !buffers->values))
    return ibx_fail(IBX_ERR_ARG, "sequential: bind needs the declared, allocated stores");
  if (max_batch <= 0)
    return ibx_fail(IBX_ERR_ARG, "sequential: max_batch must be > 0");
  size_t arena = 0, widest = seq_dim_size(s->in_dim);
  for (int i = 0; i < s->count; i++) {
    const size_t sz = seq_dim_size(s->nodes[i].out_dim);
    if (!in_place(&s->nodes[i]))
      arena += (sz + 15) / 16 * 16;
    if (sz > widest)
      widest = sz;
  }
  s->arena = ibx_alloc(arena * max_batch * sizeof(float), "activations");
  s->grad_a = ibx_alloc(2 * widest * max_batch * sizeof(float), "activation gradients");
  if (!s->arena || !s->grad_a)
    return IBX_ERR_NOMEM;
  s->grad_b = s->grad_a + widest * max_batch;
  s->arena_floats = arena * max_batch, s->grad_floats = 2 * widest * max_batch;
  float *cursor = s->arena;
  for (int i = 0; i < s->count; i++) {
    node *n = &s->nodes[i];
    if (in_place(n)) {
      n->out = i ? s->nodes[i - 1].out : NULL; /* NULL: the network input */
    } else {
      n->out = cursor;
      cursor += (seq_dim_size(n->out_dim) + 15) / 16 * 16 * max_batch;
    }
    if (ops_of(n)->bind)
      IBX_TRY(ops_of(n)->bind(n, max_batch));
  }
  s->max_batch = max_batch;
  return IBX_OK;
}

void ibx_seq_init(ibx_seq *s, uint64_t seed) {
  for (int i = 0; i < s->count; i++) {
    node *n = &s->nodes[i];
    if (n->w < 0)
      continue;
    ibx_tensor w = ibx_params_value(s->params, n->w);
    const size_t nw = (size_t)ibx_numel(&w);
    ops_of(n)->init_weight(n, w.data, nw, seed, i);
    if (n->b >= 0) {
      ibx_tensor b = ibx_params_value(s->params, n->b);
      ibx_init_constant(b.data, (size_t)ibx_numel(&b), 0.0f);
    }
    if (n->rvar >= 0) {
      ibx_tensor rm = ibx_params_value(s->buffers, n->rmean), rv = ibx_params_value(s->buffers, n->rvar);
      ibx_init_constant(rm.data, (size_t)ibx_numel(&rm), 0.0f);
      ibx_init_constant(rv.data, (size_t)ibx_numel(&rv), 1.0f);
    }
  }
}

static float *node_input(const ibx_seq *s, int i) {
  if (s->icpt_on && i - 1 == s->icpt_layer)
    return s->icpt_buf;
  return i ? s->nodes[i - 1].out : (float *)s->input;
}

int ibx_seq_forward(ibx_seq *s, const float *x, int batch, int training, uint64_t dropout_seed,
                    ibx_tensor *out) {
  if (!s->arena)
    return ibx_fail(IBX_ERR_ARG, "sequential: forward before bind");
  if (batch <= 0 || batch > s->max_batch)
    return ibx_fail(IBX_ERR_ARG, "sequential: batch %d outside 1..%d", batch, s->max_batch);
  const int reuse = s->reuse_prefix && s->icpt_on;
  if (reuse && batch != s->prefix_batch && !s->icpt_stop)
    return ibx_fail(IBX_ERR_ARG,
                    "sequential: reusing the prefix with another batch (%d, computed for %d) "
                    "needs a stopping intercept",
                    batch, s->prefix_batch);
  if (!reuse)
    s->prefix_batch = batch;
  s->input = x, s->batch = batch;
  s->training = training != 0;
  for (int i = reuse ? s->icpt_layer : 0; i < s->count; i++) {
    node *n = &s->nodes[i];
    float *in_data = node_input(s, i);
    if (in_place(n) && !i)
      return ibx_fail(IBX_ERR_ARG, "sequential: an in-place layer cannot come first");
    ibx_tensor in = seq_view(in_data, batch, n->in_dim, n->flat_in);
    ibx_tensor y = seq_view(n->out, batch, n->out_dim, n->flat_out);
    if (!(reuse && i == s->icpt_layer)) /* a reused layer's output is there already */
      IBX_TRY(ops_of(n)->forward(s, n, &in, &y, training, dropout_seed));
    if (s->icpt_on && i == s->icpt_layer) {
      ibx_tensor z = seq_view(s->icpt_buf, batch, n->out_dim, n->flat_out);
      /* a reused R has the batch it was computed with */
      ibx_tensor r = reuse ? seq_view(n->out, s->prefix_batch, n->out_dim, n->flat_out) : y;
      IBX_TRY(s->icpt_fwd(s->icpt_ctx, &r, &z));
    }
  }
  const node *last = &s->nodes[s->count - 1];
  float *last_out = s->icpt_on && s->icpt_layer == s->count - 1 ? s->icpt_buf : last->out;
  if (out)
    *out = seq_view(last_out, batch, last->out_dim, last->flat_out);
  return IBX_OK;
}

int ibx_seq_backward(ibx_seq *s, const float *dout, float *dx_out) {
  if (!s->input)
    return ibx_fail(IBX_ERR_ARG, "sequential: backward before forward");
  const int N = s->batch;
  s->stopped = 0;
  float *dy_buf = s->grad_a, *dx_buf = s->grad_b;
  const node *last = &s->nodes[s->count - 1];
  memcpy(dy_buf, dout, (size_t)N * seq_dim_size(last->out_dim) * sizeof(float));
  for (int i = s->count - 1; i >= 0; i--) {
    node *n = &s->nodes[i];
    /* The first layer writes straight into the caller's dx, or nowhere. */
    float *dx_data = i ? dx_buf : dx_out;
    layer_bwd b = {.in = seq_view(node_input(s, i), N, n->in_dim, n->flat_in),
                   .y = seq_view(n->out, N, n->out_dim, n->flat_out),
                   .dy = seq_view(dy_buf, N, n->out_dim, n->flat_out),
                   .dx = seq_view(dx_data, N, n->in_dim, n->flat_in),
                   .dx_is_scratch = dx_data == dx_buf,
                   .swap = 1};
    b.dxp = dx_data ? &b.dx : NULL;
    if (s->icpt_on && i == s->icpt_layer) {
      IBX_TRY(s->icpt_bwd(s->icpt_ctx, &b.dy)); /* dL/dZ -> dL/dR, in place */
      if (s->icpt_stop) {
        s->stopped = 1;
        return IBX_OK;
      }
    }
    if (n->kind == RELU && s->guided)
      for (int64_t k = 0, nk = ibx_numel(&b.dy); k < nk; k++)
        b.dy.data[k] = b.dy.data[k] > 0.0f ? b.dy.data[k] : 0.0f;
    IBX_TRY(ops_of(n)->backward(s, n, &b));
    if (s->grad_ready && n->w >= 0)
      s->grad_ready(s->grad_ready_ctx, s->params->info[n->w].offset);
    if (b.swap) {
      float *t = dy_buf;
      dy_buf = dx_buf, dx_buf = t;
    }
  }
  return IBX_OK;
}

void ibx_seq_output_shape(const ibx_seq *s, int *ndim, int dim[IBX_MAX_DIMS]) {
  const node *last = s->count ? &s->nodes[s->count - 1] : NULL;
  const int *d = last ? last->out_dim : s->in_dim;
  const int flat = last ? last->flat_out : 0;
  *ndim = flat ? 2 : 4;
  dim[0] = -1, dim[1] = d[0], dim[2] = flat ? 1 : d[1], dim[3] = flat ? 1 : d[2];
}

int ibx_seq_length(const ibx_seq *s) { return s->count; }

void ibx_seq_describe(const ibx_seq *s, int i, char *buf, int len, int out_dim[3], double *macs) {
  const node *n = &s->nodes[i];
  double m = 0.0;
  ops_of(n)->describe(n, buf, len, &m);
  memcpy(out_dim, n->out_dim, 3 * sizeof(int));
  if (macs)
    *macs = m;
}

size_t ibx_seq_layer_params(const ibx_seq *s, int i) {
  const node *n = &s->nodes[i];
  size_t k = ops_of(n)->param_count ? ops_of(n)->param_count(n) : 0;
  return k;
}

size_t ibx_seq_activation_floats(const ibx_seq *s) {
  return s->arena_floats + s->grad_floats + s->scratch.peak;
}

void ibx_seq_set_guided_relu(ibx_seq *s, int on) { s->guided = on != 0; }

void ibx_seq_set_reuse_prefix(ibx_seq *s, int on) { s->reuse_prefix = on != 0; }

void ibx_seq_set_param_grads(ibx_seq *s, int on) { s->no_param_grads = !on; }

void ibx_seq_set_conv_algo(ibx_seq *s, ibx_conv_algo algo) {
  for (int i = 0; i < s->count; i++)
    if (s->nodes[i].kind == CONV)
      s->nodes[i].conv.algo = algo;
}

int ibx_seq_backward_stopped(const ibx_seq *s) { return s->stopped; }

void ibx_seq_layer_shape(const ibx_seq *s, int i, int dim[3], int *flat) {
  memcpy(dim, s->nodes[i].out_dim, 3 * sizeof(int));
  if (flat)
    *flat = s->nodes[i].flat_out;
}

int ibx_seq_layer_output(const ibx_seq *s, int i, ibx_tensor *out) {
  if (i < 0 || i >= s->count || !s->input)
    return ibx_fail(IBX_ERR_ARG, "sequential: no output of layer %d (out of range or no forward)", i);
  const node *n = &s->nodes[i];
  *out = seq_view(n->out ? n->out : (float *)s->input, s->batch, n->out_dim, n->flat_out);
  return IBX_OK;
}

int ibx_seq_can_intercept(const ibx_seq *s, int i) {
  return i >= 0 && i < s->count && (i == s->count - 1 || !in_place(&s->nodes[i + 1]));
}

int ibx_seq_set_intercept(ibx_seq *s, int layer, ibx_seq_intercept_fwd forward,
                          ibx_seq_intercept_bwd backward, void *ctx, int stop) {
  s->icpt_on = 0;
  if (layer < 0)
    return IBX_OK;
  if (!s->arena)
    return ibx_fail(IBX_ERR_ARG, "sequential: intercept before bind");
  if (!forward || !backward)
    return ibx_fail(IBX_ERR_ARG, "sequential: intercept needs forward and backward callbacks");
  if (!ibx_seq_can_intercept(s, layer))
    return ibx_fail(IBX_ERR_ARG,
                    "sequential: layer %d cannot be intercepted (out of range, or the next "
                    "layer works in place on its output)",
                    layer);
  const size_t need = seq_dim_size(s->nodes[layer].out_dim) * (size_t)s->max_batch;
  if (need > s->icpt_floats) {
    ibx_free(s->icpt_buf);
    s->icpt_buf = ibx_alloc(need * sizeof(float), "intercept output");
    s->icpt_floats = s->icpt_buf ? need : 0;
    if (!s->icpt_buf)
      return IBX_ERR_NOMEM;
  }
  s->icpt_on = 1, s->icpt_layer = layer, s->icpt_stop = stop != 0;
  s->icpt_fwd = forward, s->icpt_bwd = backward, s->icpt_ctx = ctx;
  return IBX_OK;
}
