/* A bag-of-words logistic-regression baseline for text datasets
 * (docs/text.md): the reference a sequence model has to beat.
 *
 * Features: for every vocabulary id except [PAD], [CLS] and [SEP], log(1 +
 * its count) among the sequence's ids (the same truncated sequence a model
 * sees), the vector scaled to unit L2 norm. Model: softmax(W^T x + b),
 * W [vocab x classes]. Training: mean cross-entropy + l2/2 |W|^2, Adam
 * (beta 0.9/0.999) on minibatches in an order shuffled by seed each epoch,
 * fixed epochs; deterministic. With l2 < 0 the L2 strength is chosen from
 * {1e-5, 1e-4, 1e-3, 1e-2} by accuracy on a stratified val_fraction of the
 * training split (the rest trains), and the model is then retrained on the
 * whole training split; the test split is never looked at. */
#ifndef IBX_TEXT_BASELINE_H
#define IBX_TEXT_BASELINE_H

#include <stdint.h>

#include "ibx/text.h"

typedef struct {
  int epochs;         /* 30 */
  int batch;          /* 32 */
  float lr;           /* Adam learning rate (0.01) */
  float l2;           /* L2 strength; < 0: choose on a validation split (-1) */
  float val_fraction; /* for choosing l2 (0.1) */
  uint64_t seed;      /* shuffling and the validation split (1) */
} ibx_bow_options;
void ibx_bow_options_default(ibx_bow_options *opt);

typedef struct ibx_bow ibx_bow;

int ibx_bow_train(const ibx_text_dataset *train, const ibx_bow_options *opt, ibx_bow **out);
/* Accuracy (arg-max == label) and mean cross-entropy on ds (either output
 * may be NULL). ds must share the training split's vocabulary size. */
int ibx_bow_evaluate(const ibx_bow *m, const ibx_text_dataset *ds, double *accuracy,
                     double *mean_loss);
/* An ibx_text_classify_fn (text_degradation.h): ctx is the ibx_bow. */
int ibx_bow_classify(void *ctx, const int32_t *ids, const int *lengths, int batch, int max_len,
                     float *probs);
int ibx_bow_num_classes(const ibx_bow *m);
int ibx_bow_vocab_size(const ibx_bow *m);
/* The L2 strength used (chosen or given). */
float ibx_bow_l2(const ibx_bow *m);
/* W [vocab x classes], row-major, and b [classes]. */
const float *ibx_bow_weights(const ibx_bow *m);
const float *ibx_bow_bias(const ibx_bow *m);
void ibx_bow_free(ibx_bow *m);

#endif
