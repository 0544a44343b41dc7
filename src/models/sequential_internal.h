/* Internals of the sequential stack (src/models/sequential.c, seq_layers.c):
 * the node and stack structs and the layer registry. A new layer kind: one
 * X line in SEQ_LAYER_KINDS, its layer_ops (`<name>_ops`) in seq_layers.c,
 * and its ibx_seq_add_* in sequential.c (which fills the node's fields). */
#ifndef IBX_SEQUENTIAL_INTERNAL_H
#define IBX_SEQUENTIAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ibx/sequential.h"

/* ---- the layer registry ------------------------------------------------------
 * Every layer kind a stack can hold, as X(KIND, name): KIND is its node_kind,
 * name_ops (seq_layers.c) its operations. A new layer is one line here, one
 * layer_ops definition, and its ibx_seq_add_* function (which fills the
 * node's fields); the stack itself does not switch on the kind. */
#define SEQ_LAYER_KINDS(X)                                                                        \
  X(CONV, conv)                                                                                   \
  X(BATCHNORM, batchnorm)                                                                         \
  X(RELU, relu)                                                                                   \
  X(MAXPOOL, maxpool)                                                                             \
  X(AVGPOOL, avgpool)                                                                             \
  X(GAP, global_avgpool)                                                                          \
  X(FLATTEN, flatten)                                                                             \
  X(LINEAR, linear)                                                                               \
  X(DROPOUT, dropout)

#define SEQ_KIND_ENUM_(kind, name) kind,
typedef enum { SEQ_LAYER_KINDS(SEQ_KIND_ENUM_) NODE_KIND_COUNT } node_kind;

typedef struct {
  node_kind kind;
  int in_dim[3], out_dim[3]; /* per-sample shape; flat outputs use [F,1,1] */
  int flat_in, flat_out;     /* 1 when the tensor is [N,F] rather than [N,C,H,W] */
  ibx_conv2d conv;
  ibx_batchnorm bn;
  ibx_pool2d pool;
  ibx_dropout drop;
  int has_bias;
  int fused_relu;        /* batchnorm: applies the following relu itself; relu: no-op */
  int feeds_bn;          /* conv: a batch norm follows (see bn_planes) */
  int w, b, rmean, rvar; /* indices into the stores, -1 if none */
  /* bound state */
  float *out;            /* activation (may alias the input for in-place nodes) */
  float *save_mean, *save_invstd;
  /* conv feeding a batch norm: in training, the conv computes the moments of
   * its output planes while writing them ([batch * channels]), and the batch
   * norm uses them if they describe its input (bn_planes_of, batch), which
   * an intercept between the two replaces: then it computes them itself. */
  ibx_bn_moments *bn_planes;
  const float *bn_planes_of;
  int bn_planes_batch;
} node;

struct ibx_seq {
  int in_dim[3];
  node *nodes;
  int count, capacity;
  ibx_params *params, *buffers;
  int max_batch, batch;
  const float *input;
  float *arena, *grad_a, *grad_b;
  size_t arena_floats, grad_floats;
  ibx_scratch scratch;
  ibx_seq_grad_ready_fn grad_ready;
  void *grad_ready_ctx;
  int in_flat;  /* the input is [N,F] (ibx_seq_create_flat) */
  int training; /* mode of the last forward, used by backward */
  /* intercept (ibx_seq_set_intercept): Z lives in its own buffer so that
   * R, which the intercepted layer's backward may need (ReLU masks), stays */
  int icpt_on, icpt_layer, icpt_stop, stopped;
  ibx_seq_intercept_fwd icpt_fwd;
  ibx_seq_intercept_bwd icpt_bwd;
  void *icpt_ctx;
  float *icpt_buf;
  size_t icpt_floats;
  int guided; /* guided-backprop ReLU rule */
  int reuse_prefix; /* ibx_seq_set_reuse_prefix */
  int prefix_batch; /* batch of the last forward that computed the layers */
  int no_param_grads; /* ibx_seq_set_param_grads(s, 0) */
};

size_t seq_dim_size(const int d[3]);
/* View of a per-sample shape d with batch N over data. */
ibx_tensor seq_view(float *data, int N, const int d[3], int flat);
/* Value and gradient of parameter index (an empty tensor for -1). */
ibx_tensor seq_param(const ibx_seq *s, int index);
ibx_tensor seq_grad(const ibx_seq *s, int index);

/* What a layer's backward sees. dx is written only through dxp (NULL: the
 * caller wants no input gradient). dx_is_scratch: dx is the stack's second
 * ping-pong buffer (every layer but the first), so a layer that works in
 * place may leave the gradient in dy and set swap = 0. */
typedef struct {
  ibx_tensor in, y, dy, dx;
  ibx_tensor *dxp;
  int dx_is_scratch;
  int swap; /* in: 1; out: 0 when the input gradient stayed in dy's buffer */
} layer_bwd;

/* One layer kind's operations; NULL members do nothing (a layer without
 * parameters has no declare, init_weight or param_count). */
typedef struct {
  int in_place; /* the output is the input's memory (no activation buffer) */
  /* Declares the parameters ("weight", "bias") and buffers of layer index. */
  int (*declare)(node *n, const char *prefix, int index, ibx_params *params, ibx_params *buffers);
  /* After declare and allocation: per-layer state (batch-norm statistics). */
  int (*bind)(node *n, int max_batch);
  /* Initialises the weight (layer position i); biases are zeroed, running
   * means 0 and variances 1 for every kind. */
  void (*init_weight)(const node *n, float *w, size_t nw, uint64_t seed, int i);
  int (*forward)(ibx_seq *s, node *n, const ibx_tensor *in, ibx_tensor *y, int training,
                 uint64_t dropout_seed);
  int (*backward)(ibx_seq *s, node *n, layer_bwd *b);
  /* One-line description and forward multiply-adds. */
  void (*describe)(const node *n, char *buf, int len, double *macs);
  size_t (*param_count)(const node *n);
} layer_ops;

/* The layer_ops of n's kind. */
const layer_ops *seq_layer_ops(const node *n);

#endif
