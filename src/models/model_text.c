/* The text backbone behind the model interface (include/ibx/model.h):
 * backbone "transformer" wraps an ibx_transformer (ibx/transformer.h), whose
 * parameter store is the model's; the loss and the logits buffers are the
 * model's, so ibx_model_forward_input / _backward work as for images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/transformer.h"
#include "model_internal.h"

static void to_tf_config(const ibx_model_config *c, ibx_transformer_config *t) {
  ibx_transformer_config_defaults(t);
  t->layers = c->tf_layers, t->d_model = c->tf_d_model, t->heads = c->tf_heads;
  t->d_ff = c->tf_d_ff, t->max_len = c->tf_max_len, t->vocab = c->tf_vocab;
  t->num_classes = c->num_classes, t->dropout = c->tf_dropout, t->seed = c->seed;
  t->pool_mean = c->tf_pool_mean;
  t->mlm = c->tf_mlm;
}

int text_model_new(const ibx_model_config *cfg, int max_batch, ibx_model **out) {
  *out = NULL;
  ibx_transformer_config tc;
  to_tf_config(cfg, &tc);
  IBX_TRY(ibx_transformer_config_check(&tc));
  if (max_batch <= 0)
    return ibx_fail(IBX_ERR_ARG, "model: max_batch = %d must be > 0", max_batch);
  ibx_model *m = calloc(1, sizeof *m);
  if (!m)
    return ibx_fail(IBX_ERR_NOMEM, "model: out of memory");
  m->cfg = *cfg;
  snprintf(m->cfg.head, sizeof m->cfg.head, "cls");
  m->cfg.attention_layer = 0;
  m->max_batch = max_batch;
  m->classes = cfg->num_classes;
  ibx_params_init(&m->params, 1);
  ibx_params_init(&m->buffers, 0);
  const size_t B = (size_t)max_batch;
  int rc = ibx_transformer_create(&tc, max_batch, &m->tf);
  if (!rc && cfg->tf_mlm && cfg->num_classes < 1)
    m->classes = 1; /* no classifier: a logits buffer of one column */
  if (!rc) {
    m->logits = model_alloc(m, 3 * B * m->classes, "logits");
    m->done = calloc(1, 1);
    if (!m->logits || !m->done)
      rc = ibx_fail(IBX_ERR_NOMEM, "model: out of memory");
  }
  if (rc) {
    ibx_model_free(m);
    return rc;
  }
  m->probs = m->logits + B * m->classes, m->dlogits = m->probs + B * m->classes;
  *out = m;
  return IBX_OK;
}

void text_model_free(ibx_model *m) {
  ibx_transformer_free(m->tf);
  m->tf = NULL;
}

ibx_params *text_model_params(ibx_model *m) { return ibx_transformer_params(m->tf); }

void text_model_set_grad_hook(ibx_model *m, ibx_grad_ready_fn fn, void *ctx) {
  if (m->tf)
    ibx_transformer_set_grad_hook(m->tf, fn, ctx);
}

int text_model_forward(ibx_model *m, const ibx_model_input *in, int training,
                       uint64_t noise_seed) {
  ibx_tensor lg;
  IBX_TRY(ibx_transformer_forward(m->tf, in->tokens, in->stride, in->lengths, NULL, m->batch,
                                  training, noise_seed, &lg));
  memcpy(m->logits, lg.data, (size_t)m->batch * m->classes * sizeof(float));
  return IBX_OK;
}

int ibx_model_is_mlm(const ibx_model *m) { return m->tf && m->cfg.tf_mlm; }

int ibx_model_forward_mlm(ibx_model *m, const ibx_model_input *in, const int32_t *targets,
                          int batch, int training, uint64_t noise_seed, ibx_loss_parts *loss,
                          ibx_mlm_stats *stats) {
  if (!ibx_model_is_mlm(m))
    return ibx_fail(IBX_ERR_ARG, "model forward: not a masked-language model "
                    "(model.objective = mlm)");
  if (!in || !in->tokens || !in->lengths || !targets)
    return ibx_fail(IBX_ERR_ARG, "model forward: token ids, lengths or MLM targets missing");
  if (batch <= 0 || batch > m->max_batch)
    return ibx_fail(IBX_ERR_ARG, "model forward: batch %d outside 1..%d", batch, m->max_batch);
  m->batch = batch, m->training = training != 0;
  m->labels = NULL;
  m->has_loss = 0;
  memset(&m->loss, 0, sizeof m->loss);
  ibx_mlm_stats st;
  IBX_TRY(ibx_transformer_forward_mlm(m->tf, in->tokens, in->stride, in->lengths, targets, batch,
                                      m->training, noise_seed, &st));
  if (!isfinite(st.loss))
    return ibx_fail(IBX_ERR_NUMERIC, "model forward: MLM loss is %g", (double)st.loss);
  m->loss.ce = m->loss.total = st.loss;
  m->has_loss = 1;
  if (loss)
    *loss = m->loss;
  if (stats)
    *stats = st;
  return IBX_OK;
}

int text_model_backward_mlm(ibx_model *m) {
  if (!m->has_loss)
    return ibx_fail(IBX_ERR_ARG, "model backward: no masked-language-model forward yet");
  return ibx_transformer_backward_mlm(m->tf);
}

int text_model_backward(ibx_model *m, const float *dlogits, float *dx) {
  return ibx_transformer_backward(m->tf, dlogits, dx);
}

int text_model_summary(const ibx_model *m, char *buf, size_t len) {
  const ibx_model_config *c = &m->cfg;
  const ibx_params *P = ibx_transformer_params(m->tf);
  size_t used = 0;
  int k = snprintf(buf, len,
                   "model: transformer (%d layers, d_model %d, %d heads, d_ff %d, max_len %d, "
                   "vocab %d, dropout %g), %s, %d classes\n%-56s %-14s %12s\n",
                   c->tf_layers, c->tf_d_model, c->tf_heads, c->tf_d_ff, c->tf_max_len,
                   c->tf_vocab, (double)c->tf_dropout, c->tf_mlm ? "MLM head" : c->tf_pool_mean ? "mean pooler" : "[CLS] pooler",
                   c->num_classes, "parameter", "shape",
                   "params");
  for (int i = 0; k >= 0 && (size_t)k < len - used && i <= P->count; i++) {
    used += (size_t)k;
    if (i == P->count) {
      k = snprintf(buf + used, len - used, "%-56s %-14s %12zu\n", "total", "",
                   ibx_params_count(P));
      continue;
    }
    const ibx_param_info *p = &P->info[i];
    char shape[32];
    if (p->ndim == 2)
      snprintf(shape, sizeof shape, "%dx%d", p->dim[0], p->dim[1]);
    else
      snprintf(shape, sizeof shape, "%d", p->dim[0]);
    k = snprintf(buf + used, len - used, "%-56s %-14s %12zu\n", p->name, shape, p->numel);
  }
  if (k < 0 || (size_t)k >= len - used)
    return ibx_fail(IBX_ERR_ARG, "model summary: buffer of %zu bytes is too short", len);
  return IBX_OK;
}

int ibx_model_is_text(const ibx_model *m) { return m->tf != NULL; }
struct ibx_transformer *ibx_model_transformer(ibx_model *m) { return m->tf; }
