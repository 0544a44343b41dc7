/* Layers with explicit forward and backward passes.
 *
 * Conventions (every layer):
 *  - Tensors are NCHW float32 views (ibx_tensor); shapes are checked and a
 *    mismatch returns IBX_ERR_SHAPE with a message, never crashes.
 *  - Backward takes the upstream gradient dy and writes the input gradient dx
 *    (overwriting; dx may be NULL when nobody needs it, e.g. the first layer).
 *    Parameter gradients are *accumulated* (+=) into the caller's gradient
 *    buffer, as in PyTorch, so a model zeroes its one gradient buffer per step.
 *  - Every layer can return dx, which the attribution methods need.
 *  - Temporary memory comes from an ibx_scratch owned by the caller.
 */
#ifndef IBX_LAYERS_H
#define IBX_LAYERS_H

#include <stdint.h>

#include "ibx/memory.h"
#include "ibx/tensor.h"

/* Moments of a set of values, the form in which batch norm combines
 * statistics without a second pass over the data: count, sum, mean m
 * (rounded to float) and sum (x - m)^2 (a two-pass variance's numerator,
 * no cancellation). */
typedef struct {
  double count, sum, mean, sqdev;
} ibx_bn_moments;

/* ---- conv2d (groups = 1) -------------------------------------------------
 * x [N,C,H,W], w [O,C,KH,KW], b [O] (NULL for no bias) -> y [N,O,OH,OW],
 * OH = (H + 2*pad_h - KH)/stride + 1. With algo AUTO, Winograd F(2x2,3x3) is
 * used for 3x3, stride-1, pad-1 convolutions with at least 8 input channels
 * (fewer channels are faster with im2col); im2col + sgemm otherwise. */
typedef enum { IBX_CONV_AUTO = 0, IBX_CONV_IM2COL, IBX_CONV_WINOGRAD } ibx_conv_algo;

typedef struct {
  int in_channels, out_channels;
  int kernel_h, kernel_w;
  int stride;
  int pad_h, pad_w;
  ibx_conv_algo algo;
} ibx_conv2d;

int ibx_conv2d_out_size(int in, int kernel, int stride, int pad);
int ibx_conv2d_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                       const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s);
/* ibx_conv2d_forward that also writes planes [N*O], the batch-norm moments
 * of every output plane y[n][o] (index n*O + o): fused into Winograd's output
 * transform (while the tiles are in cache), a separate pass otherwise. */
int ibx_conv2d_forward_moments(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                               const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s,
                               ibx_bn_moments *planes);
/* dx may be NULL; db may be NULL (no bias). dw, db accumulate. dw may be
 * NULL too (frozen weights, e.g. attribution): only dx (and db) is computed.
 * Maps of fewer than 64 output pixels in the im2col path are done as one
 * GEMM over the batch. */
int ibx_conv2d_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                        const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw,
                        ibx_tensor *db, ibx_scratch *s);

/* ---- batch normalisation --------------------------------------------------
 * 2-D: x [N,C,H,W]; 1-D: x [N,C]. Training normalises with batch statistics
 * (biased variance) and updates running statistics with PyTorch's momentum
 * convention: running = (1 - momentum) * running + momentum * batch, using the
 * unbiased variance. Evaluation normalises with the running statistics.
 * save_mean / save_invstd [C] are written in training (and in eval, with the
 * running values) and must be passed unchanged to backward. */
/* Synchronised batch norm (training mode only): when a layer has a reduce
 * hook, it calls it between its local per-channel sums and their use, and the
 * hook must replace buf[0..n) by the element-wise sum of every replica's buf
 * (the trainer: MPI_Allreduce with MPI_SUM on a duplicate of its
 * communicator; a test: a fake that adds a second half-batch). All replicas
 * must run the same layers in the same order (it is a collective). The
 * result is batch norm over the union of the replicas' batches:
 *   forward, 2 calls: [sum x per channel, count] (n = C + 1), then
 *     sum (x - global mean)^2 per channel (n = C): the two-pass variance over
 *     the global batch, as one process computes it (see batchnorm.c for why
 *     not sum/sum-of-squares);
 *   backward, 1 call: [sum dy, sum dy*xhat per channel, count] (n = 2C + 1).
 * Running statistics use the global mean and the global variance unbiased
 * with the global count. dgamma/dbeta stay local sums (over this replica's
 * samples): averaging gradients over replicas, as data parallelism does,
 * then gives the global-batch gradient. A non-zero return is passed on. */
typedef int (*ibx_bn_reduce_fn)(void *ctx, double *buf, int n);

typedef struct {
  int channels;
  float eps;      /* default 1e-5 */
  float momentum; /* default 0.1 */
  ibx_bn_reduce_fn reduce; /* NULL: statistics of the local batch only */
  void *reduce_ctx;
} ibx_batchnorm;

int ibx_batchnorm_forward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                          const ibx_tensor *beta, ibx_tensor *running_mean,
                          ibx_tensor *running_var, int training, ibx_tensor *y,
                          float *save_mean, float *save_invstd);
/* training selects the batch-statistics gradient (true backward of training
 * mode) or the affine eval-mode gradient. */
int ibx_batchnorm_backward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                           const float *save_mean, const float *save_invstd, int training,
                           const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dgamma,
                           ibx_tensor *dbeta);

/* Fused batch norm + ReLU: y = max(0, batchnorm(x)), one pass over memory.
 * Backward needs the fused output y (it holds the ReLU mask) and gives the
 * same gradients as batchnorm_backward applied to dy * (y > 0). */
int ibx_batchnorm_relu_forward(const ibx_batchnorm *L, const ibx_tensor *x,
                               const ibx_tensor *gamma, const ibx_tensor *beta,
                               ibx_tensor *running_mean, ibx_tensor *running_var, int training,
                               ibx_tensor *y, float *save_mean, float *save_invstd);
int ibx_batchnorm_relu_backward(const ibx_batchnorm *L, const ibx_tensor *x,
                                const ibx_tensor *gamma, const float *save_mean,
                                const float *save_invstd, int training, const ibx_tensor *y,
                                const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dgamma,
                                ibx_tensor *dbeta);

/* The moments of p[0 .. n-1] (float partial sums in blocks of 1024,
 * combined in double). */
void ibx_bn_moments_of(const float *p, long n, ibx_bn_moments *out);
/* The moments of the union of k parts, exactly up to rounding (their mean
 * is re-rounded to float); one part is returned unchanged. */
void ibx_bn_moments_merge(const ibx_bn_moments *parts, int k, ibx_bn_moments *out);

/* Planes of fewer values than this (4 x 4 and smaller maps): batch norm sums
 * down the batch by channel (no per-plane reductions) and does not use
 * plane moments, so producers need not compute them. */
#define IBX_BN_COLUMN_PLANE 64

/* Batch norm (relu: fused ReLU as ibx_batchnorm_relu_forward) whose training
 * statistics start from planes [N*C], the moments of every plane x[n][c]
 * (index n*C + c), when the producer of x computed them while writing it
 * (ibx_conv2d_forward_moments): x is then read once instead of twice. planes
 * NULL: computed here, as ibx_batchnorm_forward does. Eval, and planes of
 * fewer than IBX_BN_COLUMN_PLANE values, ignore planes. */
int ibx_batchnorm_forward_moments(const ibx_batchnorm *L, const ibx_tensor *x,
                                  const ibx_tensor *gamma, const ibx_tensor *beta,
                                  ibx_tensor *running_mean, ibx_tensor *running_var, int training,
                                  int relu, const ibx_bn_moments *planes, ibx_tensor *y,
                                  float *save_mean, float *save_invstd);

/* ---- point-wise activations (any shape; y may alias x, dx may alias dy).
 * Backward uses the forward *output* y, so in-place forward is fine. */
int ibx_relu_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_relu_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx);
int ibx_sigmoid_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_sigmoid_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx);
int ibx_tanh_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_tanh_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx);

/* ---- pooling --------------------------------------------------------------
 * Max: the gradient goes to the first maximum of each window (PyTorch's
 * choice); backward recomputes it from x instead of storing indices.
 * Average: padding counts toward the divisor (count_include_pad = true). */
typedef struct {
  int kernel, stride, pad;
} ibx_pool2d;

int ibx_pool2d_out_size(int in, const ibx_pool2d *L);
int ibx_maxpool2d_forward(const ibx_pool2d *L, const ibx_tensor *x, ibx_tensor *y);
int ibx_maxpool2d_backward(const ibx_pool2d *L, const ibx_tensor *x, const ibx_tensor *dy,
                           ibx_tensor *dx);
int ibx_avgpool2d_forward(const ibx_pool2d *L, const ibx_tensor *x, ibx_tensor *y);
int ibx_avgpool2d_backward(const ibx_pool2d *L, const ibx_tensor *dy, ibx_tensor *dx);
/* Global average pool: x [N,C,H,W] -> y [N,C]. */
int ibx_global_avgpool_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_global_avgpool_backward(const ibx_tensor *dy, ibx_tensor *dx);

/* ---- linear: x [N,in], w [out,in], b [out] or NULL -> y [N,out] ---------- */
int ibx_linear_forward(const ibx_tensor *x, const ibx_tensor *w, const ibx_tensor *b,
                       ibx_tensor *y);
int ibx_linear_backward(const ibx_tensor *x, const ibx_tensor *w, const ibx_tensor *dy,
                        ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db);

/* ---- dropout (inverted): y = x * keep / (1 - p). The keep mask of element i
 * is a pure function of (seed, stream, i), regenerated in backward, so no
 * mask is stored. training = 0 makes it the identity. */
typedef struct {
  float p;
  uint64_t seed, stream;
} ibx_dropout;

int ibx_dropout_forward(const ibx_dropout *L, int training, const ibx_tensor *x, ibx_tensor *y);
int ibx_dropout_backward(const ibx_dropout *L, int training, const ibx_tensor *dy,
                         ibx_tensor *dx);

/* ---- element-wise add and multiply with broadcasting of b ---------------
 * a and y have the same shape; each dim of b equals a's or is 1 (e.g. an
 * attention map [N,1,H,W] masking features [N,C,H,W], or [N,C,1,1] gates).
 * Backward: da may alias dy; db is *written* (reduced over broadcast dims);
 * either may be NULL. Multiply's backward needs a and b. */
int ibx_add_forward(const ibx_tensor *a, const ibx_tensor *b, ibx_tensor *y);
int ibx_add_backward(const ibx_tensor *dy, ibx_tensor *da, ibx_tensor *db);
int ibx_mul_forward(const ibx_tensor *a, const ibx_tensor *b, ibx_tensor *y);
int ibx_mul_backward(const ibx_tensor *a, const ibx_tensor *b, const ibx_tensor *dy,
                     ibx_tensor *da, ibx_tensor *db);

/* ---- bilinear up/down-sampling: x [N,C,H,W] -> y [N,C,OH,OW] -------------
 * Same sampling grid as torch.nn.functional.interpolate(mode="bilinear")
 * with the given align_corners. */
int ibx_bilinear_forward(int align_corners, const ibx_tensor *x, ibx_tensor *y);
int ibx_bilinear_backward(int align_corners, const ibx_tensor *dy, ibx_tensor *dx);

/* ---- softmax over the last dim of x [N,K] (spatial softmax: reshape) ----- */
int ibx_softmax_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_softmax_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx);

/* ---- softmax + cross-entropy, mean over the batch ------------------------
 * logits [N,K], labels[N] in [0,K). *loss = mean_i -log softmax(logits_i)[y_i].
 * probs [N,K] (may be NULL) receives the softmax. Backward writes
 * dlogits = scale * (softmax - onehot) / N, where scale is the loss weight
 * (1 for plain training); it needs the probs from forward. */
int ibx_softmax_xent_forward(const ibx_tensor *logits, const int *labels, float *loss,
                             ibx_tensor *probs);
int ibx_softmax_xent_backward(const ibx_tensor *probs, const int *labels, float scale,
                              ibx_tensor *dlogits);

/* ---- KL( N(mu, exp(logvar)) || N(0, I) ), summed over K, mean over N -----
 * mu, logvar [N,K]. KL = mean_i sum_k 0.5 (mu^2 + exp(logvar) - 1 - logvar).
 * Backward accumulates scale * dKL into dmu and dlogvar (scale = beta). */
int ibx_gaussian_kl_forward(const ibx_tensor *mu, const ibx_tensor *logvar, float *kl);
int ibx_gaussian_kl_backward(const ibx_tensor *mu, const ibx_tensor *logvar, float scale,
                             ibx_tensor *dmu, ibx_tensor *dlogvar);

#endif
