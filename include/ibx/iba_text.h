/* Per-sample information bottleneck attribution for the transformer text
 * classifier (Schulz et al., ICLR 2020, as extended to BERT by the text-IBA
 * work; docs/attribution.md, "Text"). On one sequence of L tokens:
 *
 *   R       = hidden states after encoder layer `layer`, [L, D]
 *   lambda  = sigmoid(alpha), alpha [L, D] (no smoothing over tokens), init 5
 *   Z       = lambda R + (1 - lambda) eps, eps = mu + sigma n, n ~ N(0, 1)
 *   C       = KL(N(lambda r~, (1-lambda)^2) || N(0,1)) per element,
 *             r~ = (R - mu) / sigma
 *   loss    = mean over a batch of noise draws of CE(target)
 *             + beta * mean over the L x D elements of C
 *
 * mu, sigma [D] are per hidden dimension, estimated with Welford over the
 * non-padding positions of training sequences (population sigma, floored at
 * std_floor). alpha is optimised with Adam (lr 1, PyTorch's bias correction)
 * for 10 steps of 10 noise draws. The token heatmap is C of the last step's
 * forward summed over the hidden dimensions (bits), min-max normalised over
 * the sequence. */
#ifndef IBX_IBA_TEXT_H
#define IBX_IBA_TEXT_H

#include <stdint.h>

#include "ibx/iba.h"
#include "ibx/transformer.h"

typedef struct {
  float beta;       /* weight of the mean capacity (1e-5, the text-IBA code's) */
  int iterations;   /* Adam steps (10) */
  int batch;        /* noise draws per step (10); the transformer's max_batch must be >= */
  float lr;         /* Adam learning rate (1) */
  float init_alpha; /* initial alpha (5) */
  float std_floor;  /* sigma floor (0.01) */
  uint64_t seed;    /* noise: Philox (seed, stream "IBAT") */
  /* Test hook: noise [iterations, batch, L, D] N(0,1) draws used instead. */
  const float *noise;
} ibx_iba_text_config;
void ibx_iba_text_default(ibx_iba_text_config *cfg);

typedef struct ibx_iba_text ibx_iba_text;

/* A bottleneck after encoder layer `layer` (1..layers; 0 = the embedding
 * output) of t (used, not owned). */
int ibx_iba_text_create(ibx_transformer *t, int layer, const ibx_iba_text_config *cfg,
                        ibx_iba_text **out);
void ibx_iba_text_free(ibx_iba_text *b);
/* The default layer: round(2/3 of the depth), at least 1 (layer 8 of 12). */
int ibx_iba_text_default_layer(int layers);
int ibx_iba_text_layer(const ibx_iba_text *b);
void ibx_iba_text_set_beta(ibx_iba_text *b, float beta);

/* Statistics: n sequences (ids [n, stride], lengths [n]; evaluation-mode
 * forwards in batches) add every non-padding position's hidden state; then
 * finish (>= 2 positions) or set mu, sigma [D] directly. */
int ibx_iba_text_add_samples(ibx_iba_text *b, const int32_t *ids, int stride, const int *lengths,
                             int n);
int ibx_iba_text_finish_stats(ibx_iba_text *b);
ibx_welford *ibx_iba_text_welford(ibx_iba_text *b);
int ibx_iba_text_set_stats(ibx_iba_text *b, const float *mean, const float *std);
const float *ibx_iba_text_mean(const ibx_iba_text *b);
const float *ibx_iba_text_std(const ibx_iba_text *b);

/* Per-sample IBA on ids[0..length) for class target: heat [length] (min-max
 * normalised to [0, 1]; may be NULL) and capacity [length] (bits summed over
 * the hidden dimensions; may be NULL). */
int ibx_iba_text_heatmap(ibx_iba_text *b, const int32_t *ids, int length, int target, float *heat,
                         float *capacity);

#endif
