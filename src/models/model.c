/* The model interface (include/ibx/model.h): configuration, validation,
 * construction, forward/backward dispatch to the head, the loss, the
 * gradient-ready hook, attention maps and the summary table. Backbones are
 * in model_backbone.c, heads in head_*.c; docs/models.md describes them. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/memory.h"
#include "ibx/model_testing.h"
#include "model_internal.h"

/* ---- configuration ------------------------------------------------------ */

void ibx_model_config_defaults(ibx_model_config *cfg) {
  char backbone[16], head[16];
  snprintf(backbone, sizeof backbone, "%s", cfg->backbone[0] ? cfg->backbone : "vgg16");
  snprintf(head, sizeof head, "%s", cfg->head[0] ? cfg->head : "aib");
  memset(cfg, 0, sizeof *cfg);
  memcpy(cfg->backbone, backbone, sizeof backbone);
  memcpy(cfg->head, head, sizeof head);
  cfg->in_channels = 3, cfg->in_height = 32, cfg->in_width = 32;
  cfg->num_classes = 10;
  cfg->width = 1.0f;
  cfg->wrn_depth = 28, cfg->wrn_widen = 10;
  cfg->K = 256;
  cfg->beta = 0.01f;
  cfg->Q = 30;
  cfg->lambda_q = 0.4f, cfg->lambda_c = 0.1f;
  cfg->attention_layer = 0;
  cfg->seed = 0;
  cfg->tf_layers = 2, cfg->tf_d_model = 128, cfg->tf_heads = 4, cfg->tf_d_ff = 512;
  cfg->tf_max_len = 128, cfg->tf_vocab = 4000, cfg->tf_dropout = 0.1f;
}

/* ---- the head registry (IBX_MODEL_HEADS in ibx/model.h) ------------------ */

#define HEAD_ROW_(id, name) {name, &ibx_head_##id}
#define HEAD_COMMA_ ,
static const struct {
  const char *name;
  const head_ops *ops;
} heads[] = {IBX_MODEL_HEADS(HEAD_ROW_, HEAD_COMMA_)};
#define NHEADS ((int)(sizeof heads / sizeof heads[0]))

static const head_ops *find_head(const char *name) {
  for (int i = 0; i < NHEADS; i++)
    if (!strcmp(heads[i].name, name))
      return heads[i].ops;
  return NULL;
}

int ibx_model_head_uses_key(const char *head, const char *key) {
  const head_ops *hi = find_head(head);
  if (!hi)
    return 1;
  if (!strcmp(key, "K") || !strcmp(key, "beta") || !strcmp(key, "beta_warmup_epochs"))
    return hi->uses_K;
  if (!strcmp(key, "Q") || !strcmp(key, "lambda_q") || !strcmp(key, "lambda_c"))
    return hi->uses_Q;
  if (!strcmp(key, "attention_layer"))
    return hi->span > 0;
  return 1;
}

int ibx_model_head_names(char *buf, size_t len, const char *sep, int with_attention_only) {
  size_t at = 0;
  if (len)
    buf[0] = 0;
  for (int i = 0; i < NHEADS; i++) {
    if (with_attention_only && !heads[i].ops->span)
      continue;
    const int k = snprintf(buf + at, len - at, "%s%s", at ? sep : "", heads[i].name);
    if (k < 0 || (size_t)k >= len - at)
      return ibx_fail(IBX_ERR_ARG, "model: head list longer than %zu bytes", len);
    at += (size_t)k;
  }
  return IBX_OK;
}

/* Validates cfg; *layer receives the resolved attention layer. */
static int validate(const ibx_model_config *c, const head_ops **hi_out, int *layer) {
  const int vgg = !strcmp(c->backbone, "vgg16"), wrn = !strcmp(c->backbone, "wrn");
  if (!vgg && !wrn)
    return ibx_fail(IBX_ERR_ARG, "model.backbone: unknown backbone '%.16s' (vgg16|wrn|transformer)",
                    c->backbone);
  const head_ops *hi = find_head(c->head);
  if (!hi)
    return ibx_fail(IBX_ERR_ARG, "model.head: unknown head '%.16s' (" IBX_MODEL_HEAD_CHOICES ")",
                    c->head);
  if (strcmp(hi->name, c->head)) /* a registry row pointing at the wrong head file */
    return ibx_fail(IBX_ERR_ARG, "model.head: registry entry '%s' holds head '%s'", c->head,
                    hi->name);
  if ((vgg && !hi->on_vgg) || (wrn && !hi->on_wrn))
    return ibx_fail(IBX_ERR_ARG, "model.head: head '%s' needs backbone %s, not %s", c->head,
                    vgg ? "wrn" : "vgg16", c->backbone);
  if (c->in_channels <= 0 || c->in_height <= 0 || c->in_width <= 0)
    return ibx_fail(IBX_ERR_ARG, "model: input shape %dx%dx%d must be positive",
                    c->in_channels, c->in_height, c->in_width);
  if (c->num_classes < 2)
    return ibx_fail(IBX_ERR_ARG, "model.num_classes = %d must be >= 2", c->num_classes);
  if (vgg && !(c->width > 0.0f && c->width <= 64.0f))
    return ibx_fail(IBX_ERR_ARG, "model.width = %g must be in (0, 64]", (double)c->width);
  if (wrn && (c->wrn_depth < 10 || (c->wrn_depth - 4) % 6))
    return ibx_fail(IBX_ERR_ARG, "model.wrn_depth = %d must be 6n+4 with n >= 1",
                    c->wrn_depth);
  if (wrn && c->wrn_widen < 1)
    return ibx_fail(IBX_ERR_ARG, "model.wrn_widen = %d must be >= 1", c->wrn_widen);
  if (hi->uses_K && c->K <= 0)
    return ibx_fail(IBX_ERR_ARG, "model.K = %d must be > 0", c->K);
  if (hi->uses_K && !(c->beta >= 0.0f))
    return ibx_fail(IBX_ERR_ARG, "model.beta = %g must be >= 0", (double)c->beta);
  if (hi->uses_Q && c->Q < 2)
    return ibx_fail(IBX_ERR_ARG, "model.Q = %d must be >= 2", c->Q);
  if (hi->uses_Q && c->Q > 4096)
    return ibx_fail(IBX_ERR_ARG, "model.Q = %d must be <= 4096", c->Q);
  if (hi->uses_Q && !(c->lambda_q >= 0.0f && c->lambda_c >= 0.0f))
    return ibx_fail(IBX_ERR_ARG, "model.lambda_q/lambda_c = %g/%g must be >= 0",
                    (double)c->lambda_q, (double)c->lambda_c);
  const int nlayers = vgg ? 5 : 3;
  int L = c->attention_layer;
  if (L < 0 || L > nlayers)
    return ibx_fail(IBX_ERR_ARG, "model.attention_layer = %d out of range 1..%d for %s", L,
                    nlayers, c->backbone);
  if (!L)
    L = vgg ? hi->default_layer_vgg : hi->default_layer_wrn;
  if (hi->span && L + hi->span - 1 > nlayers)
    return ibx_fail(IBX_ERR_ARG,
                    "model.attention_layer = %d out of range 1..%d for head %s on %s (it uses "
                    "%d layers)",
                    L, nlayers - hi->span + 1, c->head, c->backbone, hi->span);
  *hi_out = hi;
  *layer = L;
  return IBX_OK;
}

/* ---- memory and units ---------------------------------------------------- */

void *model_alloc_bytes(ibx_model *m, size_t bytes, const char *what) {
  if (m->nallocs == (int)(sizeof m->allocs / sizeof m->allocs[0]))
    return ibx_fail(IBX_ERR_NOMEM, "model: too many buffers"), NULL;
  void *p = ibx_calloc(bytes ? bytes : 16, what);
  if (p)
    m->allocs[m->nallocs++] = p;
  return p;
}

float *model_alloc(ibx_model *m, size_t n, const char *what) {
  return model_alloc_bytes(m, n * sizeof(float), what);
}

typedef struct {
  unit *u;   /* a stack, or */
  int param; /* a hand-declared parameter */
} row_ref;

/* Summary rows in declaration order (file-static per model would need a
 * field; keep them in the head-independent part of the struct). */
#define MAX_ROWS (2 * MAX_UNITS)
typedef struct {
  row_ref r[MAX_ROWS];
  int n;
} rows_t;

static rows_t *rows_of(ibx_model *m) { return (rows_t *)m->rows; }

static void add_row(ibx_model *m, unit *u, int param) {
  rows_t *r = rows_of(m);
  if (r && r->n < MAX_ROWS)
    r->r[r->n++] = (row_ref){u, param};
}

int unit_new(ibx_model *m, const char *name, int c, int h, int w, unit **out) {
  if (m->nunits == MAX_UNITS)
    return ibx_fail(IBX_ERR_ARG, "model: too many layer stacks");
  unit *u = model_alloc_bytes(m, sizeof *u, "layer stack");
  if (!u)
    return IBX_ERR_NOMEM;
  if (h > 0)
    IBX_TRY(ibx_seq_create(c, h, w, &u->seq));
  else
    IBX_TRY(ibx_seq_create_flat(c, &u->seq));
  u->m = m;
  snprintf(u->name, sizeof u->name, "%s", name);
  u->in_dim[0] = c, u->in_dim[1] = h > 0 ? h : 1, u->in_dim[2] = h > 0 ? w : 1;
  u->in_n = (size_t)u->in_dim[0] * u->in_dim[1] * u->in_dim[2];
  u->p_first = u->p_end = -1;
  u->seed_salt = 0x9e3779b97f4a7c15ULL * (uint64_t)(m->nunits + 1);
  m->units[m->nunits++] = u;
  *out = u;
  return IBX_OK;
}

static void unit_hook(void *ctx, size_t ready_from) {
  unit *u = ctx;
  ibx_model *m = u->m;
  int first = u->p_end;
  for (int i = u->p_first; i < u->p_end; i++)
    if (m->params.info[i].offset >= ready_from) {
      first = i;
      break;
    }
  model_grads_done(m, first, u->p_end);
}

int unit_declare(ibx_model *m, unit *u, const char *prefix, int first_index) {
  int nd, d[IBX_MAX_DIMS];
  ibx_seq_output_shape(u->seq, &nd, d);
  u->out_dim[0] = d[1], u->out_dim[1] = d[2], u->out_dim[2] = d[3];
  u->out_n = (size_t)d[1] * d[2] * d[3];
  snprintf(u->name, sizeof u->name, "%s", prefix);
  u->first_index = first_index;
  u->p_first = m->params.count;
  IBX_TRY(ibx_seq_declare_from(u->seq, prefix, first_index, &m->params, &m->buffers));
  u->p_end = m->params.count;
  ibx_seq_set_grad_hook(u->seq, unit_hook, u);
  add_row(m, u, -1);
  return IBX_OK;
}

int unit_forward(unit *u, const float *x, int batch, int training, uint64_t seed) {
  ibx_tensor y;
  IBX_TRY(ibx_seq_forward(u->seq, x, batch, training, seed ^ u->seed_salt, &y));
  u->out = y.data;
  return IBX_OK;
}

int unit_backward(unit *u, const float *dy, float *dx) {
  if (u->m->bwd_stopped)
    return IBX_OK; /* before a stopping intercept: nobody wants these gradients */
  IBX_TRY(ibx_seq_backward(u->seq, dy, dx));
  u->m->bwd_stopped = ibx_seq_backward_stopped(u->seq);
  return IBX_OK;
}

int model_param(ibx_model *m, const char *name, int ndim, const int *dim, int *index) {
  IBX_TRY(ibx_params_declare(&m->params, name, ndim, dim, index));
  add_row(m, NULL, *index);
  return IBX_OK;
}

ibx_tensor model_value(ibx_model *m, int index) { return ibx_params_value(&m->params, index); }
ibx_tensor model_grad(ibx_model *m, int index) { return ibx_params_grad(&m->params, index); }

void model_grads_done(ibx_model *m, int first, int end) {
  if (!m->hook || !m->done)
    return;
  for (int i = first; i < end; i++)
    if (i >= 0 && i < m->params.count)
      m->done[i] = 1;
  const int before = m->frontier;
  while (m->frontier > 0 && m->done[m->frontier - 1])
    m->frontier--;
  if (m->frontier < before)
    m->hook(m->hook_ctx, m->frontier < m->params.count ? m->params.info[m->frontier].offset
                                                       : m->params.total);
}

float model_sigmoid(float x) {
  return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

/* ---- construction ------------------------------------------------------- */

int ibx_model_create(const ibx_model_config *cfg, int max_batch, ibx_model **out) {
  *out = NULL;
  if (!strcmp(cfg->backbone, "transformer"))
    return text_model_new(cfg, max_batch, out);
  const head_ops *hi = NULL;
  int layer = 0;
  IBX_TRY(validate(cfg, &hi, &layer));
  if (max_batch <= 0)
    return ibx_fail(IBX_ERR_ARG, "model: max_batch = %d must be > 0", max_batch);
  ibx_model *m = calloc(1, sizeof *m);
  if (!m)
    return ibx_fail(IBX_ERR_NOMEM, "model: out of memory");
  m->cfg = *cfg;
  m->cfg.attention_layer = layer;
  m->ops = hi;
  m->max_batch = max_batch;
  m->classes = cfg->num_classes;
  m->in_n = cfg->in_channels * cfg->in_height * cfg->in_width;
  ibx_params_init(&m->params, 1);
  ibx_params_init(&m->buffers, 0);
  int rc = IBX_OK;
  m->rows = calloc(1, sizeof(rows_t));
  if (!m->rows)
    rc = ibx_fail(IBX_ERR_NOMEM, "model: out of memory");
  if (!rc)
    rc = backbone_build(m);
  if (!rc) {
    m->att_stage = layer ? (m->nst == 5 ? layer - 1 : layer) : -1;
    rc = m->ops->build(m);
  }
  const size_t B = (size_t)max_batch;
  if (!rc) {
    m->logits = model_alloc(m, 3 * B * m->classes, "logits");
    m->gtmp = model_alloc(m, (m->gtmp_n ? m->gtmp_n : 1) * B, "gradient scratch");
    if (!m->logits || !m->gtmp)
      rc = IBX_ERR_NOMEM;
    else
      m->probs = m->logits + B * m->classes, m->dlogits = m->probs + B * m->classes;
  }
  if (!rc)
    rc = ibx_params_allocate(&m->params);
  if (!rc && m->buffers.count)
    rc = ibx_params_allocate(&m->buffers);
  for (int i = 0; !rc && i < m->nunits; i++)
    rc = ibx_seq_bind(m->units[i]->seq, &m->params, &m->buffers, max_batch);
  if (!rc) {
    m->done = calloc((size_t)m->params.count + 1, 1);
    if (!m->done)
      rc = ibx_fail(IBX_ERR_NOMEM, "model: out of memory");
  }
  if (rc) {
    ibx_model_free(m);
    return rc;
  }
  for (int i = 0; i < m->nunits; i++)
    ibx_seq_init(m->units[i]->seq, cfg->seed ^ m->units[i]->seed_salt);
  if (m->ops->init)
    m->ops->init(m);
  *out = m;
  return IBX_OK;
}

void ibx_model_free(ibx_model *m) {
  if (!m)
    return;
  for (int i = 0; i < m->nunits; i++)
    ibx_seq_free(m->units[i]->seq);
  for (int i = 0; i < m->nallocs; i++)
    ibx_free(m->allocs[i]);
  ibx_params_free(&m->params);
  ibx_params_free(&m->buffers);
  text_model_free(m);
  free(m->done);
  free(m->rows);
  free(m);
}

ibx_params *ibx_model_params(ibx_model *m) { return m->tf ? text_model_params(m) : &m->params; }
ibx_params *ibx_model_buffers(ibx_model *m) { return &m->buffers; }
const ibx_model_config *ibx_model_config_of(const ibx_model *m) { return &m->cfg; }

void ibx_model_set_grad_hook(ibx_model *m, ibx_grad_ready_fn fn, void *ctx) {
  m->hook = fn, m->hook_ctx = ctx;
  text_model_set_grad_hook(m, fn, ctx);
}

void ibx_model_set_bn_reduce(ibx_model *m, ibx_bn_reduce_fn fn, void *ctx) {
  for (int i = 0; i < m->nunits; i++)
    ibx_seq_set_bn_reduce(m->units[i]->seq, fn, ctx);
}

/* ---- forward / backward ------------------------------------------------- */

int ibx_model_forward(ibx_model *m, const float *x, const int *labels, int batch, int training,
                      uint64_t noise_seed, ibx_loss_parts *loss, ibx_tensor *logits) {
  return ibx_model_forward_beta(m, x, labels, batch, training, noise_seed, m->cfg.beta, loss,
                                logits);
}

int ibx_model_forward_beta(ibx_model *m, const float *x, const int *labels, int batch,
                           int training, uint64_t noise_seed, float beta, ibx_loss_parts *loss,
                           ibx_tensor *logits) {
  const ibx_model_input in = {.images = x};
  return ibx_model_forward_input_beta(m, &in, labels, batch, training, noise_seed, beta, loss,
                                      logits);
}

int ibx_model_forward_input(ibx_model *m, const ibx_model_input *in, const int *labels, int batch,
                            int training, uint64_t noise_seed, ibx_loss_parts *loss,
                            ibx_tensor *logits) {
  return ibx_model_forward_input_beta(m, in, labels, batch, training, noise_seed, m->cfg.beta,
                                      loss, logits);
}

int ibx_model_forward_input_beta(ibx_model *m, const ibx_model_input *in, const int *labels,
                                 int batch, int training, uint64_t noise_seed, float beta,
                                 ibx_loss_parts *loss, ibx_tensor *logits) {
  if (!(beta >= 0.0f) || !isfinite(beta))
    return ibx_fail(IBX_ERR_ARG, "model.beta = %g must be >= 0", (double)beta);
  if (!in || (m->tf ? !in->tokens || !in->lengths : !in->images))
    return ibx_fail(IBX_ERR_ARG, "model forward: input is NULL (the %s backbone reads %s)",
                    m->cfg.backbone, m->tf ? "token ids and lengths" : "images");
  if (batch <= 0 || batch > m->max_batch)
    return ibx_fail(IBX_ERR_ARG, "model forward: batch %d outside 1..%d", batch, m->max_batch);
  if (labels)
    for (int n = 0; n < batch; n++)
      if (labels[n] < 0 || labels[n] >= m->classes)
        return ibx_fail(IBX_ERR_ARG, "model forward: label %d of sample %d outside 0..%d",
                        labels[n], n, m->classes - 1);
  m->batch = batch, m->training = training != 0;
  m->beta = beta;
  m->labels = labels;
  m->has_loss = 0;
  memset(&m->loss, 0, sizeof m->loss);
  m->nmaps = 0;
  m->nnamed = 0;
  if (m->tf)
    IBX_TRY(text_model_forward(m, in, m->training, noise_seed));
  else
    IBX_TRY(m->ops->forward(m, in->images, labels, m->training, noise_seed));
  const ibx_tensor lg = ibx_t2(m->logits, batch, m->classes);
  if (labels) {
    ibx_tensor probs = ibx_t2(m->probs, batch, m->classes);
    IBX_TRY(ibx_softmax_xent_forward(&lg, labels, &m->loss.ce, &probs));
    m->loss.total = m->loss.ce + m->loss.kl + m->loss.vq + m->loss.commit + m->loss.aux;
    if (!isfinite(m->loss.total))
      return ibx_fail(IBX_ERR_NUMERIC, "model forward: loss is %g (ce %g, kl %g)",
                      (double)m->loss.total, (double)m->loss.ce, (double)m->loss.kl);
    m->has_loss = 1;
    if (loss)
      *loss = m->loss;
  } else if (loss) {
    memset(loss, 0, sizeof *loss);
  }
  if (logits)
    *logits = lg;
  return IBX_OK;
}

static void hook_begin(ibx_model *m) {
  if (!m->hook)
    return;
  memset(m->done, 0, (size_t)m->params.count);
  m->frontier = m->params.count;
}

static int run_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  hook_begin(m);
  m->bwd_stopped = 0;
  if (m->tf)
    IBX_TRY(text_model_backward(m, dlogits, dx));
  else
    IBX_TRY(m->ops->backward(m, dlogits, with_aux, dx));
  model_grads_done(m, 0, m->params.count); /* parameters the path never reached */
  return IBX_OK;
}

int ibx_model_backward(ibx_model *m, float *dx) {
  if (ibx_model_is_mlm(m)) {
    hook_begin(m);
    IBX_TRY(text_model_backward_mlm(m));
    model_grads_done(m, 0, m->params.count);
    return IBX_OK;
  }
  if (!m->has_loss)
    return ibx_fail(IBX_ERR_ARG, "model backward: the last forward had no labels (no loss)");
  ibx_tensor probs = ibx_t2(m->probs, m->batch, m->classes);
  ibx_tensor dl = ibx_t2(m->dlogits, m->batch, m->classes);
  IBX_TRY(ibx_softmax_xent_backward(&probs, m->labels, 1.0f, &dl));
  return run_backward(m, m->dlogits, 1, dx);
}

int ibx_model_backward_from_logits(ibx_model *m, const float *dlogits, float *dx) {
  if (!m->batch)
    return ibx_fail(IBX_ERR_ARG, "model backward: no forward yet");
  if (!dlogits)
    return ibx_fail(IBX_ERR_ARG, "model backward: dlogits is NULL");
  memcpy(m->dlogits, dlogits, (size_t)m->batch * m->classes * sizeof(float));
  return run_backward(m, m->dlogits, 0, dx);
}

/* ---- attention ----------------------------------------------------------- */

int ibx_model_attention_count(const ibx_model *m) { return m->nmaps; }

int ibx_model_attention(const ibx_model *m, int i, ibx_tensor *map) {
  if (i < 0 || i >= m->nmaps)
    return ibx_fail(IBX_ERR_ARG, "model attention: map %d outside 0..%d (head %s)", i,
                    m->nmaps - 1, m->cfg.head);
  *map = ibx_t4(m->map[i], m->batch, 1, m->map_h[i], m->map_w[i]);
  return IBX_OK;
}

/* ---- summary ------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, used;
  int overflow;
} out_buf;

static void put(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_buf *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const size_t room = o->used < o->len ? o->len - o->used : 0;
  const int k = vsnprintf(o->buf + (room ? o->used : 0), room, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= room)
    o->overflow = 1, o->used = o->len;
  else
    o->used += (size_t)k;
}

int ibx_model_summary(const ibx_model *mc, char *buf, size_t len) {
  ibx_model *m = (ibx_model *)mc;
  if (!buf || !len)
    return ibx_fail(IBX_ERR_ARG, "model summary: no buffer");
  if (m->tf)
    return text_model_summary(m, buf, len);
  out_buf o = {buf, len, 0, 0};
  buf[0] = 0;
  const ibx_model_config *c = &m->cfg;
  if (!strcmp(c->backbone, "wrn"))
    put(&o, "model: wrn-%d-%d", c->wrn_depth, c->wrn_widen);
  else
    put(&o, "model: vgg16 (width %g)", (double)c->width);
  put(&o, " head %s, input %dx%dx%d, %d classes", c->head, c->in_channels, c->in_height,
      c->in_width, c->num_classes);
  if (c->attention_layer)
    put(&o, ", attention layer %d", c->attention_layer);
  put(&o, "\n%-44s %-14s %12s %15s\n", "layer", "output", "params", "MACs");
  double total_macs = 0.0;
  size_t total_params = 0;
  const rows_t *r = rows_of(m);
  for (int k = 0; k < r->n; k++) {
    if (r->r[k].u) {
      const unit *u = r->r[k].u;
      for (int i = 0; i < ibx_seq_length(u->seq); i++) {
        char desc[64], name[160], shape[32];
        int od[3];
        double macs = 0.0;
        ibx_seq_describe(u->seq, i, desc, sizeof desc, od, &macs);
        if (snprintf(name, sizeof name, "%s.%d %s", u->name, u->first_index + i, desc) >=
            (int)sizeof name)
          name[sizeof name - 1] = 0;
        if (od[1] == 1 && od[2] == 1)
          snprintf(shape, sizeof shape, "%d", od[0]);
        else
          snprintf(shape, sizeof shape, "%dx%dx%d", od[0], od[1], od[2]);
        const size_t np = ibx_seq_layer_params(u->seq, i);
        put(&o, "%-44.44s %-14s %12zu %15.0f\n", name, shape, np, macs);
        total_params += np;
        total_macs += macs;
      }
    } else {
      const ibx_param_info *p = &m->params.info[r->r[k].param];
      char shape[48] = "";
      for (int d = 0; d < p->ndim; d++) {
        char t[16];
        snprintf(t, sizeof t, d ? "x%d" : "%d", p->dim[d]);
        strncat(shape, t, sizeof shape - strlen(shape) - 1);
      }
      char name[160];
      if (snprintf(name, sizeof name, "%s [%s]", p->name, shape) >= (int)sizeof name)
        name[sizeof name - 1] = 0;
      put(&o, "%-44.44s %-14s %12zu %15s\n", name, "-", p->numel, "-");
      total_params += p->numel;
    }
  }
  put(&o, "%-44s %-14s %12zu %15.0f\n", "total", "", total_params, total_macs);
  put(&o, "(MACs: forward multiply-adds per sample of the convolution and linear layers; the "
          "heads' element-wise products, softmaxes and sampling are not counted)\n");
  if (o.overflow)
    return ibx_fail(IBX_ERR_ARG, "model summary: buffer of %zu bytes is too short", len);
  return IBX_OK;
}

/* ---- test hooks (ibx/model_testing.h) ------------------------------------ */

void ibx_model_test_set_noise(ibx_model *m, const float *eps_attention, const float *eps_z) {
  m->noise_override[0] = eps_attention, m->noise_override[1] = eps_z;
}

void ibx_model_test_freeze_quantiser(ibx_model *m, int on) { m->freeze_quantiser = on; }

void model_expose(ibx_model *m, const char *name, const float *data, int d0, int d1, int d2,
                  int d3) {
  if (m->nnamed == (int)(sizeof m->named / sizeof m->named[0]))
    return;
  m->named[m->nnamed].name = name;
  m->named[m->nnamed].data = data;
  const int d[4] = {d0, d1, d2, d3};
  memcpy(m->named[m->nnamed].dim, d, sizeof d);
  m->nnamed++;
}

int ibx_model_test_tensor(const ibx_model *m, const char *name, ibx_tensor *t) {
  for (int i = 0; i < m->nnamed; i++)
    if (!strcmp(m->named[i].name, name)) {
      const int *d = m->named[i].dim;
      *t = ibx_t4((float *)m->named[i].data, d[0], d[1], d[2], d[3]);
      return IBX_OK;
    }
  return ibx_fail(IBX_ERR_ARG, "model: no intermediate '%s' for head %s", name, m->cfg.head);
}
