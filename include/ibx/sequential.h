/* A sequential stack of layers (Darknet's cfg idea, without global state):
 * the backbone builder that VGG and the small CNNs are made of.
 *
 * Lifecycle:
 *   ibx_seq_create -> ibx_seq_add_* ... -> ibx_seq_declare (names parameters
 *   "<prefix>.<index>.weight" etc., as torch.nn.Sequential would) ->
 *   ibx_params_allocate on the stores -> ibx_seq_bind (activation memory for
 *   max_batch) -> ibx_seq_init -> forward/backward as often as needed.
 *
 * Memory: the seq owns its activations and scratch; parameters and batch-norm
 * running statistics live in the caller's ibx_params stores. */
#ifndef IBX_SEQUENTIAL_H
#define IBX_SEQUENTIAL_H

#include <stdint.h>

#include "ibx/layers.h"
#include "ibx/params.h"

typedef struct ibx_seq ibx_seq;

int ibx_seq_create(int in_channels, int in_height, int in_width, ibx_seq **out);
/* A stack whose input is already flat, [N, features] (e.g. a classifier on a
 * latent vector): its first layer may be a linear one. */
int ibx_seq_create_flat(int features, ibx_seq **out);
void ibx_seq_free(ibx_seq *s);

/* Appending layers; each checks its input shape at once. */
int ibx_seq_add_conv(ibx_seq *s, int out_channels, int kernel, int stride, int pad, int bias);
int ibx_seq_add_batchnorm(ibx_seq *s);
int ibx_seq_add_relu(ibx_seq *s);
int ibx_seq_add_maxpool(ibx_seq *s, int kernel, int stride);
int ibx_seq_add_avgpool(ibx_seq *s, int kernel, int stride);
int ibx_seq_add_global_avgpool(ibx_seq *s);
int ibx_seq_add_flatten(ibx_seq *s);
int ibx_seq_add_linear(ibx_seq *s, int out_features, int bias);
int ibx_seq_add_dropout(ibx_seq *s, float p);

/* Names and declares parameters/buffers with the given prefix ("" for none). */
int ibx_seq_declare(ibx_seq *s, const char *prefix, ibx_params *params, ibx_params *buffers);
/* Same, numbering the layers from first_index ("<prefix>.<first_index+i>."),
 * so a network split into several stacks keeps one naming sequence. */
int ibx_seq_declare_from(ibx_seq *s, const char *prefix, int first_index, ibx_params *params,
                         ibx_params *buffers);
/* After allocation: takes views and allocates activations for max_batch. */
int ibx_seq_bind(ibx_seq *s, ibx_params *params, ibx_params *buffers, int max_batch);
/* torchvision VGG's init: conv kaiming-normal (fan_out), zero bias; BN weight
 * 1, bias 0, running var 1; linear N(0, 0.01), zero bias. */
void ibx_seq_init(ibx_seq *s, uint64_t seed);

/* Forward on x [batch, C, H, W]; batch <= max_batch. The output view is
 * returned in *out (valid until the next forward). dropout_seed varies the
 * dropout masks per step. */
int ibx_seq_forward(ibx_seq *s, const float *x, int batch, int training, uint64_t dropout_seed,
                    ibx_tensor *out);
/* Backward from dout (gradient of the last output, same shape), in the mode
 * (training or evaluation) of the last forward. Parameter
 * gradients accumulate into the params store; dx (input gradient, same shape
 * as x) is written when non-NULL. */
int ibx_seq_backward(ibx_seq *s, const float *dout, float *dx);

/* Called during backward after each layer with parameters: every gradient at
 * offset >= ready_from (floats into the gradient buffer) is final. Parameters
 * are declared in forward order, so readiness grows from the end of the
 * buffer towards its start -- what bucketed, overlapped allreduce needs. */
typedef void (*ibx_seq_grad_ready_fn)(void *ctx, size_t ready_from);
void ibx_seq_set_grad_hook(ibx_seq *s, ibx_seq_grad_ready_fn fn, void *ctx);

/* Synchronised batch norm: every batch-norm layer of the stack reduces its
 * training-mode statistics through fn (see ibx_bn_reduce_fn in layers.h);
 * NULL returns to local statistics. */
void ibx_seq_set_bn_reduce(ibx_seq *s, ibx_bn_reduce_fn fn, void *ctx);

/* Intercept (for attribution): the output R of layer `layer` is handed to
 * forward(ctx, r, z), which writes the tensor Z the following layers see
 * instead (same shape; the bottleneck of IBA, or a copy for Grad-CAM). In
 * backward, backward(ctx, dz) receives dL/dZ and turns it in place into
 * dL/dR before layer `layer`'s own backward runs. With stop != 0 backward
 * ends there (earlier layers get no gradients, dx is not written) and
 * ibx_seq_backward_stopped() says so. The layer after `layer` must not be an
 * in-place one (relu, flatten): intercept the relu itself, not the batch
 * norm before it. Needs bind (Z memory for max_batch); layer = -1 removes
 * it. Without an intercept forward and backward are unchanged. */
typedef int (*ibx_seq_intercept_fwd)(void *ctx, const ibx_tensor *r, ibx_tensor *z);
typedef int (*ibx_seq_intercept_bwd)(void *ctx, ibx_tensor *dz);
int ibx_seq_set_intercept(ibx_seq *s, int layer, ibx_seq_intercept_fwd forward,
                          ibx_seq_intercept_bwd backward, void *ctx, int stop);
int ibx_seq_backward_stopped(const ibx_seq *s);
/* With on != 0, forwards start at the intercept: the intercepted layer's
 * output R and everything before it are taken from the last forward that
 * computed them (the caller guarantees the same input). The intercept's r
 * then has that forward's batch; another batch than now is allowed only
 * with a stopping intercept (backward never reaches the stale prefix). For
 * optimisations that change only what comes after the intercept (IBA's
 * alpha), the prefix is computed once, even for one image broadcast to a
 * batch of noise draws. */
void ibx_seq_set_reuse_prefix(ibx_seq *s, int on);
/* Guided backpropagation (Springenberg et al.): with on != 0 every ReLU's
 * backward also zeroes negative upstream gradients, dx = dy * (y > 0) *
 * (dy > 0). Forward is unchanged. */
void ibx_seq_set_guided_relu(ibx_seq *s, int on);
/* With on = 0 backward skips the convolutions' weight and bias gradients
 * (frozen weights: attribution); default on. */
void ibx_seq_set_param_grads(ibx_seq *s, int on);
/* Convolution algorithm of every conv layer (default IBX_CONV_AUTO). */
void ibx_seq_set_conv_algo(ibx_seq *s, ibx_conv_algo algo);
/* Output shape of layer i (without batch; flat outputs are [F,1,1]) and
 * whether it may carry an intercept (the next layer is not in-place). */
void ibx_seq_layer_shape(const ibx_seq *s, int i, int dim[3], int *flat);
/* Layer i's output of the last forward ([batch, C, H, W]; an intercepted
 * layer's R, not Z); valid until the next forward. */
int ibx_seq_layer_output(const ibx_seq *s, int i, ibx_tensor *out);
int ibx_seq_can_intercept(const ibx_seq *s, int i);

/* Shape after the last layer, and layer introspection for summaries. */
void ibx_seq_output_shape(const ibx_seq *s, int *ndim, int dim[IBX_MAX_DIMS]);
int ibx_seq_length(const ibx_seq *s);
/* Short description of layer i ("conv3x3 64->128 s1 p1"), its output shape
 * (without batch) and forward multiply-adds per sample. */
void ibx_seq_describe(const ibx_seq *s, int i, char *buf, int len, int out_dim[3],
                      double *macs);
/* Trainable parameters of layer i (weights + bias, or BN's gamma + beta). */
size_t ibx_seq_layer_params(const ibx_seq *s, int i);
/* Peak scratch floats used so far (memory accounting). */
size_t ibx_seq_activation_floats(const ibx_seq *s);

#endif
