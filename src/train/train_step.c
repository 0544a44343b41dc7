/* Single-process classifier training step (see include/ibx/train_step.h). */
#include "ibx/train_step.h"

#include <math.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/memory.h"

int ibx_classifier_create(ibx_classifier *c, ibx_seq *net, int max_batch, uint64_t seed,
                          const ibx_sgd *sgd) {
  memset(c, 0, sizeof *c);
  c->net = net;
  c->sgd = *sgd;
  c->max_batch = max_batch;
  int ndim, dim[IBX_MAX_DIMS];
  ibx_seq_output_shape(net, &ndim, dim);
  if (ndim != 2)
    return ibx_fail(IBX_ERR_ARG, "classifier: the network must end in a flat [N,classes] output");
  c->classes = dim[1];
  ibx_params_init(&c->params, 1);
  ibx_params_init(&c->buffers, 0);
  IBX_TRY(ibx_seq_declare(net, "features", &c->params, &c->buffers));
  IBX_TRY(ibx_params_allocate(&c->params));
  if (c->buffers.count)
    IBX_TRY(ibx_params_allocate(&c->buffers));
  IBX_TRY(ibx_seq_bind(net, &c->params, &c->buffers, max_batch));
  ibx_seq_init(net, seed);
  c->velocity = ibx_calloc(c->params.total * sizeof(float), "SGD momentum");
  c->probs = ibx_alloc(2 * (size_t)max_batch * c->classes * sizeof(float), "class probabilities");
  if (!c->velocity || !c->probs)
    return IBX_ERR_NOMEM;
  c->dlogits = c->probs + (size_t)max_batch * c->classes;
  return IBX_OK;
}

void ibx_classifier_free(ibx_classifier *c) {
  ibx_seq_free(c->net);
  ibx_params_free(&c->params);
  ibx_params_free(&c->buffers);
  ibx_free(c->velocity);
  ibx_free(c->probs);
  memset(c, 0, sizeof *c);
}

static int count_correct(const float *scores, const int *labels, int batch, int classes,
                         int *pred) {
  int correct = 0;
  for (int n = 0; n < batch; n++) {
    const float *row = scores + (size_t)n * classes;
    int best = 0;
    for (int k = 1; k < classes; k++)
      if (row[k] > row[best])
        best = k;
    if (pred)
      pred[n] = best;
    if (labels)
      correct += best == labels[n];
  }
  return correct;
}

int ibx_classifier_train_step(ibx_classifier *c, const float *x, const int *labels, int batch,
                              float lr, float *loss, int *correct) {
  ibx_tensor logits;
  IBX_TRY(ibx_seq_forward(c->net, x, batch, 1, (uint64_t)c->step, &logits));
  ibx_tensor probs = ibx_t2(c->probs, batch, c->classes);
  ibx_tensor dlogits = ibx_t2(c->dlogits, batch, c->classes);
  float l;
  IBX_TRY(ibx_softmax_xent_forward(&logits, labels, &l, &probs));
  if (!isfinite(l))
    return ibx_fail(IBX_ERR_NUMERIC, "training step %ld: loss is %g", c->step, (double)l);
  IBX_TRY(ibx_softmax_xent_backward(&probs, labels, 1.0f, &dlogits));
  ibx_params_zero_grads(&c->params);
  IBX_TRY(ibx_seq_backward(c->net, c->dlogits, NULL));
  IBX_TRY(ibx_sgd_step(&c->sgd, lr, c->params.values, c->params.grads, c->velocity,
                       c->params.total, c->step));
  c->step++;
  if (loss)
    *loss = l;
  if (correct)
    *correct = count_correct(c->probs, labels, batch, c->classes, NULL);
  return IBX_OK;
}

int ibx_classifier_predict(ibx_classifier *c, const float *x, int batch, int *pred) {
  ibx_tensor logits;
  IBX_TRY(ibx_seq_forward(c->net, x, batch, 0, 0, &logits));
  count_correct(logits.data, NULL, batch, c->classes, pred);
  return IBX_OK;
}
