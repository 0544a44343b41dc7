/* Per-sample information bottleneck attribution (IBA; Schulz et al., ICLR
 * 2020, "Restricting the flow"), at any interceptable layer of any ibx model.
 *
 * At the layer, R is replaced by Z = lambda R + (1 - lambda) eps with eps ~
 * N(mu, sigma^2) (mu, sigma: per-element statistics of R over a dataset) and
 * lambda = blur(sigmoid(alpha)), one alpha per element of R (initial 5), the
 * blur a fixed Gaussian (sigma 1, 5x5, reflection padding) over each channel.
 * The information R passes, per element, is bounded by
 *     C = KL(N(lambda r~, (1-lambda)^2) || N(0,1))
 *       = -1/2 [1 + ln (1-lambda)^2 - (lambda r~)^2 - (1-lambda)^2],
 * r~ = (R - mu)/sigma. alpha minimises CE(target) + beta * mean_elements(C)
 * (beta = 10 is the paper's beta = 10/k on the sum) with Adam (lr 1) for 10
 * iterations, each on a batch of 10 noise draws. The heatmap is C of the
 * last iteration's forward summed over channels, in bits, resized
 * bilinearly (align_corners false) to the input. docs/attribution.md. */
#ifndef IBX_IBA_H
#define IBX_IBA_H

#include <stdint.h>

#include "ibx/model.h"

/* Per-element capacity C(lambda, r~) in nats and dC/dlambda. */
float ibx_iba_capacity(float lambda, float r_norm);
float ibx_iba_capacity_dlambda(float lambda, float r_norm);

/* Running mean and variance (Welford) of k-element samples. */
typedef struct {
  long n;
  int k;
  double *mean, *m2;
} ibx_welford;
int ibx_welford_init(ibx_welford *w, int k);
void ibx_welford_add(ibx_welford *w, const float *x);
/* Population standard deviation, floored at std_floor. */
void ibx_welford_result(const ibx_welford *w, float std_floor, float *mean, float *std);
void ibx_welford_free(ibx_welford *w);
/* Adds another accumulator's (n, mean, m2) (Chan et al.'s parallel update),
 * e.g. one gathered from another MPI rank. */
void ibx_welford_merge(ibx_welford *w, long n, const double *mean, const double *m2);

/* The fixed smoothing of lambda: y = blur(x) over each of c channels of
 * h x w (reflection padding; h, w > kernel/2), and its adjoint (dx =
 * blur^T dy). kernel 0 or 1 is the identity. */
void ibx_iba_blur(const float *x, int c, int h, int w, int kernel, float sigma, float *y);
void ibx_iba_blur_adjoint(const float *dy, int c, int h, int w, int kernel, float sigma,
                          float *dx);

typedef struct {
  float beta;        /* weight of the mean capacity (10 = 10/k) */
  int iterations;    /* Adam steps (10) */
  int batch;         /* noise draws per step (10); the model's max_batch must be >= */
  float lr;          /* Adam learning rate (1) */
  float init_alpha;  /* initial alpha (5: lambda ~ 0.993) */
  int blur_kernel;   /* 5 (0: no smoothing) */
  float blur_sigma;  /* 1 */
  float std_floor;   /* sigma floor of the statistics (0.01) */
  uint64_t seed;     /* noise: Philox (seed, stream "IBAN"), four Box-Muller draws per counter */
  /* Test hook: noise [iterations, batch, k] N(0,1) draws used instead of Philox. */
  const float *noise;
} ibx_iba_config;
void ibx_iba_default(ibx_iba_config *cfg);

typedef struct ibx_iba ibx_iba;
/* A bottleneck at `layer` of m (see ibx_model_layer). The model is used,
 * not owned; its intercept is set only while ibx_iba_* calls run. Creating
 * it turns m into an attribution model: no weight gradients, im2col
 * convolutions (ibx_model_set_param_grads / ibx_model_set_conv_algo). */
int ibx_iba_create(ibx_model *m, const char *layer, const ibx_iba_config *cfg, ibx_iba **out);
void ibx_iba_free(ibx_iba *b);
/* Per-sample shape [C,h,w] of the bottleneck layer. */
void ibx_iba_shape(const ibx_iba *b, int dim[3]);
/* Statistics: accumulate n inputs (evaluation-mode forwards), then finish
 * (sigma floored at cfg.std_floor); or set mu and sigma directly. */
int ibx_iba_add_samples(ibx_iba *b, const float *x, int n);
int ibx_iba_finish_stats(ibx_iba *b);
long ibx_iba_samples_seen(const ibx_iba *b);
/* The statistics accumulator (to merge accumulators across ranks). */
ibx_welford *ibx_iba_welford(ibx_iba *b);
int ibx_iba_set_stats(ibx_iba *b, const float *mean, const float *std);
const float *ibx_iba_mean(const ibx_iba *b);
const float *ibx_iba_std(const ibx_iba *b);
void ibx_iba_set_beta(ibx_iba *b, float beta);
ibx_model *ibx_iba_model(ibx_iba *b);
const char *ibx_iba_layer(const ibx_iba *b);
const ibx_iba_config *ibx_iba_config_of(const ibx_iba *b);

/* Per-sample IBA on one input x [C,H,W] for class target: heat [H*W] (bits
 * per input pixel after resizing; may be NULL) and capacity [h*w] (bits
 * summed over channels at the layer's resolution; may be NULL). */
int ibx_iba_heatmap(ibx_iba *b, const float *x, int target, float *heat, float *capacity);

/* Evaluation forward of n inputs through the bottleneck with every alpha
 * set to `alpha` (lambda = blur(sigmoid(alpha))), noise from seed; logits
 * [n, classes]. For tests: alpha -> +inf must leave the network unchanged. */
int ibx_iba_forward_alpha(ibx_iba *b, const float *x, int n, float alpha, uint64_t seed,
                          float *logits);

/* ---- readout bottleneck ----------------------------------------------------
 * A small network predicts alpha for every image in one pass (Schulz et al.
 * Sec. 3.2): the outputs of `feature_layers` (e.g. the ends of VGG blocks
 * 2-5), each divided by its per-channel standard deviation and resized
 * bilinearly to the bottleneck's h x w, are concatenated and fed to 1x1
 * convolutions (Ctot -> hidden -> ReLU -> hidden -> ReLU -> C); the last
 * layer starts at weight 0, bias init_alpha, so training starts from the
 * per-sample bottleneck's initial mask. Training (frozen classifier): per
 * image, lambda = blur(sigmoid(alpha)), Z = lambda R + (1-lambda) eps, loss
 * = mean over the batch of CE(label) + beta * mean capacity, Adam on the
 * readout's parameters. The heatmap is the capacity of that lambda and the
 * image's own R, summed over channels in bits, resized to the input. */
typedef struct ibx_readout ibx_readout;
/* Uses b's layer, statistics, beta, batch, blur and seed. */
int ibx_readout_create(ibx_iba *b, const char *const *feature_layers, int n_layers, int hidden,
                       ibx_readout **out);
void ibx_readout_free(ibx_readout *r);
/* Per-channel feature standard deviations over n inputs (call before training). */
int ibx_readout_add_norm_samples(ibx_readout *r, const float *x, int n);
/* One Adam step (lr) on inputs x [n, C, H, W] (n <= batch) with labels;
 * *loss (may be NULL) gets the loss before the step. */
int ibx_readout_train_step(ibx_readout *r, const float *x, const int *labels, int n, float lr,
                           float *loss);
int ibx_readout_heatmap(ibx_readout *r, const float *x, float *heat, float *capacity);
/* The readout's parameters (to broadcast a trained readout to other ranks). */
float *ibx_readout_values(ibx_readout *r, size_t *n);
/* The norm statistics (Ctot floats), for broadcasting too. */
float *ibx_readout_feature_std(ibx_readout *r, int *n);

#endif
