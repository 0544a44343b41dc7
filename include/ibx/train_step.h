/* A classifier and its training step: one sequential network, its parameter
 * and buffer stores, SGD state, and the softmax cross-entropy head. The
 * distributed trainer (src/train) drives this; benchmarks and the demo use it
 * directly. */
#ifndef IBX_TRAIN_STEP_H
#define IBX_TRAIN_STEP_H

#include "ibx/optim.h"
#include "ibx/sequential.h"

typedef struct {
  ibx_seq *net;
  ibx_params params, buffers;
  float *velocity;        /* SGD momentum buffer, params.total floats */
  float *probs, *dlogits; /* [max_batch, classes] */
  int max_batch, classes;
  long step;              /* optimiser steps taken */
  ibx_sgd sgd;
} ibx_classifier;

/* Takes ownership of net (already built with layers ending in [N,classes]):
 * declares and allocates parameters, binds activations, initialises. */
int ibx_classifier_create(ibx_classifier *c, ibx_seq *net, int max_batch, uint64_t seed,
                          const ibx_sgd *sgd);
void ibx_classifier_free(ibx_classifier *c);

/* forward + cross-entropy + backward + SGD step with learning rate lr.
 * *loss receives the mean loss, *correct the number of right predictions. */
int ibx_classifier_train_step(ibx_classifier *c, const float *x, const int *labels, int batch,
                              float lr, float *loss, int *correct);
/* Evaluation-mode forward; writes the arg-max class per sample. */
int ibx_classifier_predict(ibx_classifier *c, const float *x, int batch, int *pred);

#endif
