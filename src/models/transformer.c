/* The transformer text classifier (include/ibx/transformer.h): a BERT-style
 * post-LN encoder built from the core layers (ibx/transformer_layers.h),
 * with one parameter store and explicit forward/backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/transformer.h"
#include "ibx/transformer_layers.h"

#define LN_EPS 1e-5f
#define INIT_STD 0.02f

enum { IN_W, IN_B, OUT_W, OUT_B, L1_W, L1_B, L2_W, L2_B, N1_W, N1_B, N2_W, N2_B, NLP };

typedef struct {
  int p[NLP];
  float *qkv, *probs, *drop, *ctx; /* attention (ibx_mha_saved) */
  float *r1, *m1, *s1, *u;         /* h + dropout(attn), LayerNorm1 stats and output */
  float *fh, *fa, *r2, *m2, *s2;   /* feed-forward saved, u + dropout(ffn), LN2 stats */
  float *out;                      /* h_{l+1} */
} layer_state;

struct ibx_transformer {
  ibx_transformer_config cfg;
  ibx_params params;
  int max_batch;
  int p_tok, p_pos, p_eln_w, p_eln_b, p_pool_w, p_pool_b, p_cls_w, p_cls_b;
  int p_mlm_w, p_mlm_b, p_mlm_nw, p_mlm_nb, p_mlm_db; /* cfg.mlm */
  /* the MLM head's last forward: M predicted positions (rows n * T + t) */
  int mlm_m, mlm_cap;
  int *mlm_rows, *mlm_tgt;
  float *mlm_x, *mlm_a, *mlm_g, *mlm_y, *mlm_rstd, *mlm_logits, *mlm_dy; /* grown to mlm_cap */
  layer_state *ls;

  /* last forward */
  int B, T, training;
  int ext_emb; /* the last forward was given token embeddings */
  int from;    /* the last forward started after layer `from` (-1: at the ids) */
  uint64_t seed;
  int32_t *ids;
  int *len;
  uint8_t *pad;
  float *tok, *e0, *em, *es, *h0; /* token embeddings, + positions, LN stats, output */
  float *hz;                      /* the intercept's rewritten hidden states */
  float *cls, *pool, *poold, *logits;
  /* backward */
  float *dh, *dh2, *dtmp, *dpool;
  ibx_scratch scratch;

  ibx_transformer_grad_fn hook;
  void *hook_ctx;
  int param_grads;
  int icpt_layer, icpt_stop;
  ibx_transformer_icpt_fwd icpt_fwd;
  ibx_transformer_icpt_bwd icpt_bwd;
  void *icpt_ctx;
};

void ibx_transformer_config_defaults(ibx_transformer_config *c) {
  memset(c, 0, sizeof *c);
  c->layers = 2, c->d_model = 128, c->heads = 4, c->d_ff = 512, c->max_len = 128;
  c->vocab = 8192, c->num_classes = 2, c->dropout = 0.1f, c->seed = 0;
}

int ibx_transformer_config_check(const ibx_transformer_config *c) {
  if (c->layers < 1 || c->layers > 48)
    return ibx_fail(IBX_ERR_ARG, "model.layers = %d must be in 1..48", c->layers);
  if (c->d_model < 1 || c->d_model > 8192)
    return ibx_fail(IBX_ERR_ARG, "model.d_model = %d must be in 1..8192", c->d_model);
  if (c->heads < 1 || c->d_model % c->heads)
    return ibx_fail(IBX_ERR_ARG, "model.heads = %d must divide model.d_model = %d", c->heads,
                    c->d_model);
  if (c->d_ff < 1 || c->d_ff > 65536)
    return ibx_fail(IBX_ERR_ARG, "model.d_ff = %d must be in 1..65536", c->d_ff);
  if (c->max_len < 2 || c->max_len > 8192)
    return ibx_fail(IBX_ERR_ARG, "model.max_len = %d must be in 2..8192", c->max_len);
  if (c->vocab < 5 || c->vocab > (1 << 24))
    return ibx_fail(IBX_ERR_ARG,
                    "model.vocab = %d must be in 5..16777216 (5 special tokens at least)",
                    c->vocab);
  if (!c->mlm && c->num_classes < 2)
    return ibx_fail(IBX_ERR_ARG, "model.num_classes = %d must be >= 2", c->num_classes);
  if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
    return ibx_fail(IBX_ERR_ARG, "model.dropout = %g must be in [0, 1)", (double)c->dropout);
  return IBX_OK;
}

static int declare(ibx_transformer *t, const char *name, int d0, int d1, int *index) {
  const int dim[2] = {d0, d1};
  return ibx_params_declare(&t->params, name, d1 ? 2 : 1, dim, index);
}

static ibx_tensor val(const ibx_transformer *t, int i) { return ibx_params_value(&t->params, i); }
static ibx_tensor grad(const ibx_transformer *t, int i) {
  if (!t->param_grads)
    return (ibx_tensor){0};
  return ibx_params_grad(&t->params, i);
}

static int build(ibx_transformer *t) {
  const ibx_transformer_config *c = &t->cfg;
  const int D = c->d_model, F = c->d_ff;
  IBX_TRY(declare(t, "embedding.token.weight", c->vocab, D, &t->p_tok));
  IBX_TRY(declare(t, "embedding.position.weight", c->max_len, D, &t->p_pos));
  IBX_TRY(declare(t, "embedding.norm.weight", D, 0, &t->p_eln_w));
  IBX_TRY(declare(t, "embedding.norm.bias", D, 0, &t->p_eln_b));
  static const char *const names[NLP] = {
      "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
      "self_attn.out_proj.bias",  "linear1.weight",         "linear1.bias",
      "linear2.weight",           "linear2.bias",           "norm1.weight",
      "norm1.bias",               "norm2.weight",           "norm2.bias"};
  const int d0[NLP] = {3 * D, 3 * D, D, D, F, F, D, D, D, D, D, D};
  const int d1[NLP] = {D, 0, D, 0, D, 0, F, 0, 0, 0, 0, 0};
  for (int l = 0; l < c->layers; l++)
    for (int k = 0; k < NLP; k++) {
      char name[IBX_PARAM_NAME_MAX];
      snprintf(name, sizeof name, "encoder.layers.%d.%s", l, names[k]);
      IBX_TRY(declare(t, name, d0[k], d1[k], &t->ls[l].p[k]));
    }
  if (c->mlm) { /* BERT's LM head; the decoder's weight is embedding.token.weight */
    IBX_TRY(declare(t, "mlm.dense.weight", D, D, &t->p_mlm_w));
    IBX_TRY(declare(t, "mlm.dense.bias", D, 0, &t->p_mlm_b));
    IBX_TRY(declare(t, "mlm.norm.weight", D, 0, &t->p_mlm_nw));
    IBX_TRY(declare(t, "mlm.norm.bias", D, 0, &t->p_mlm_nb));
    IBX_TRY(declare(t, "mlm.decoder.bias", c->vocab, 0, &t->p_mlm_db));
    return ibx_params_allocate(&t->params);
  }
  IBX_TRY(declare(t, "pooler.weight", D, D, &t->p_pool_w));
  IBX_TRY(declare(t, "pooler.bias", D, 0, &t->p_pool_b));
  IBX_TRY(declare(t, "classifier.weight", c->num_classes, D, &t->p_cls_w));
  IBX_TRY(declare(t, "classifier.bias", c->num_classes, 0, &t->p_cls_b));
  return ibx_params_allocate(&t->params);
}

static void init_params(ibx_transformer *t) {
  for (int i = 0; i < t->params.count; i++) {
    const ibx_param_info *p = &t->params.info[i];
    float *v = t->params.values + p->offset;
    const char *dot = strrchr(p->name, '.');
    const int is_norm = strstr(p->name, "norm") != NULL;
    if (is_norm && !strcmp(dot, ".weight"))
      ibx_init_constant(v, p->numel, 1.0f);
    else if (p->ndim == 1)
      ibx_init_constant(v, p->numel, 0.0f);
    else
      ibx_init_normal(v, p->numel, INIT_STD, t->cfg.seed, 0x5458000ULL + (uint64_t)i);
  }
}

int ibx_transformer_create(const ibx_transformer_config *c, int max_batch,
                           ibx_transformer **out) {
  *out = NULL;
  IBX_TRY(ibx_transformer_config_check(c));
  if (max_batch <= 0)
    return ibx_fail(IBX_ERR_ARG, "transformer: max_batch = %d must be > 0", max_batch);
  ibx_transformer *t = calloc(1, sizeof *t);
  if (!t)
    return ibx_fail(IBX_ERR_NOMEM, "transformer: out of memory");
  t->cfg = *c;
  t->max_batch = max_batch;
  t->param_grads = 1;
  t->icpt_layer = -1;
  ibx_params_init(&t->params, 1);
  const size_t B = (size_t)max_batch, T = (size_t)c->max_len, D = (size_t)c->d_model,
               F = (size_t)c->d_ff, H = (size_t)c->heads, BT = B * T;
  int rc = IBX_OK;
  t->ls = calloc((size_t)c->layers, sizeof *t->ls);
  t->ids = calloc(BT, sizeof *t->ids);
  t->len = calloc(B, sizeof *t->len);
  t->pad = calloc(BT, 1);
  if (!t->ls || !t->ids || !t->len || !t->pad)
    rc = ibx_fail(IBX_ERR_NOMEM, "transformer: out of memory");
  if (!rc)
    rc = build(t);
  /* one activation arena: sizes in floats */
  const size_t per_layer = BT * 3 * D + 2 * B * H * T * T + BT * D /* ctx */ + 3 * BT * D +
                           2 * BT * F + 4 * BT + 2 * BT * D;
  const size_t fixed = 4 * BT * D + 2 * BT + BT * D /* hz */ + 3 * B * D +
                       (size_t)c->num_classes * B + 3 * BT * D + B * D;
  float *a = NULL;
  if (!rc) {
    a = ibx_calloc((fixed + per_layer * (size_t)c->layers) * sizeof(float),
                   "transformer activations");
    if (!a)
      rc = IBX_ERR_NOMEM;
  }
  if (rc) {
    ibx_transformer_free(t);
    return rc;
  }
  t->tok = a, a += BT * D;
  t->e0 = a, a += BT * D;
  t->h0 = a, a += BT * D;
  t->hz = a, a += BT * D;
  t->em = a, a += BT;
  t->es = a, a += BT;
  t->cls = a, a += B * D;
  t->pool = a, a += B * D;
  t->poold = a, a += B * D;
  t->logits = a, a += (size_t)c->num_classes * B;
  t->dh = a, a += BT * D;
  t->dh2 = a, a += BT * D;
  t->dtmp = a, a += BT * D;
  t->dpool = a, a += B * D;
  for (int l = 0; l < c->layers; l++) {
    layer_state *s = &t->ls[l];
    s->qkv = a, a += BT * 3 * D;
    s->probs = a, a += B * H * T * T;
    s->drop = a, a += B * H * T * T;
    s->ctx = a, a += BT * D;
    s->r1 = a, a += BT * D;
    s->u = a, a += BT * D;
    s->r2 = a, a += BT * D;
    s->fh = a, a += BT * F;
    s->fa = a, a += BT * F;
    s->m1 = a, a += BT;
    s->s1 = a, a += BT;
    s->m2 = a, a += BT;
    s->s2 = a, a += BT;
    s->out = a, a += BT * D;
    a += BT * D; /* spare, keeps the arithmetic above honest */
  }
  init_params(t);
  *out = t;
  return IBX_OK;
}

void ibx_transformer_free(ibx_transformer *t) {
  if (!t)
    return;
  ibx_free(t->tok);
  ibx_scratch_free(&t->scratch);
  ibx_params_free(&t->params);
  free(t->ls), free(t->ids), free(t->len), free(t->pad);
  free(t->mlm_rows), free(t->mlm_tgt), free(t->mlm_x);
  free(t);
}

ibx_params *ibx_transformer_params(ibx_transformer *t) { return &t->params; }
const ibx_transformer_config *ibx_transformer_config_of(const ibx_transformer *t) {
  return &t->cfg;
}
int ibx_transformer_seq_len(const ibx_transformer *t) { return t->T; }

void ibx_transformer_set_grad_hook(ibx_transformer *t, ibx_transformer_grad_fn fn, void *ctx) {
  t->hook = fn, t->hook_ctx = ctx;
}
void ibx_transformer_set_param_grads(ibx_transformer *t, int on) { t->param_grads = on != 0; }

int ibx_transformer_set_intercept(ibx_transformer *t, int layer, ibx_transformer_icpt_fwd fwd,
                                  ibx_transformer_icpt_bwd bwd, void *ctx, int stop) {
  if (layer < 0) {
    t->icpt_layer = -1, t->icpt_fwd = NULL, t->icpt_bwd = NULL, t->icpt_ctx = NULL;
    return IBX_OK;
  }
  if (layer > t->cfg.layers)
    return ibx_fail(IBX_ERR_ARG, "transformer: intercept layer %d outside 0..%d", layer,
                    t->cfg.layers);
  t->icpt_layer = layer, t->icpt_fwd = fwd, t->icpt_bwd = bwd, t->icpt_ctx = ctx;
  t->icpt_stop = stop != 0;
  return IBX_OK;
}

/* Hidden states after layer l of the last forward (before the intercept). */
static float *hidden(const ibx_transformer *t, int l) { return l ? t->ls[l - 1].out : t->h0; }

int ibx_transformer_hidden(const ibx_transformer *t, int layer, ibx_tensor *out) {
  if (!t->B)
    return ibx_fail(IBX_ERR_ARG, "transformer: no forward yet");
  if (layer < 0 || layer > t->cfg.layers)
    return ibx_fail(IBX_ERR_ARG, "transformer: layer %d outside 0..%d", layer, t->cfg.layers);
  *out = ibx_t3(hidden(t, layer), t->B, t->T, t->cfg.d_model);
  return IBX_OK;
}

int ibx_transformer_token_embeddings(const ibx_transformer *t, ibx_tensor *out) {
  if (!t->B)
    return ibx_fail(IBX_ERR_ARG, "transformer: no forward yet");
  *out = ibx_t3(t->tok, t->B, t->T, t->cfg.d_model);
  return IBX_OK;
}

int ibx_transformer_cls_attention(const ibx_transformer *t, float *out) {
  if (!t->B)
    return ibx_fail(IBX_ERR_ARG, "transformer: no forward yet");
  const int B = t->B, T = t->T, H = t->cfg.heads;
  const float *P = t->ls[t->cfg.layers - 1].probs;
  for (int n = 0; n < B; n++)
    for (int j = 0; j < T; j++) {
      double s = 0.0;
      for (int h = 0; h < H; h++)
        s += P[(((size_t)n * H + h) * T + 0) * T + j];
      out[(size_t)n * T + j] = (float)(s / H);
    }
  return IBX_OK;
}

/* Dropout site k of layer l (l = -1: embedding/classifier). */
static ibx_dropout drop_site(const ibx_transformer *t, int l, int k) {
  return (ibx_dropout){t->cfg.dropout, t->seed, 0x44524f50ULL + (uint64_t)(l + 1) * 16 + k};
}

/* ---- forward ------------------------------------------------------------- */

/* y += x (the residual adds) */
static void add_into(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    y[i] += x[i];
}

static int layer_forward(ibx_transformer *t, int l, const float *x) {
  layer_state *s = &t->ls[l];
  const int B = t->B, T = t->T, D = t->cfg.d_model, F = t->cfg.d_ff, R = B * T;
  const ibx_mha L = {D, t->cfg.heads, drop_site(t, l, 0)};
  const ibx_mha_saved sv = {s->qkv, s->probs, s->drop, s->ctx};
  ibx_tensor xt = ibx_t3((float *)x, B, T, D), r1 = ibx_t3(s->r1, B, T, D);
  ibx_tensor iw = val(t, s->p[IN_W]), ib = val(t, s->p[IN_B]), ow = val(t, s->p[OUT_W]),
             ob = val(t, s->p[OUT_B]);
  IBX_TRY(ibx_mha_forward(&L, t->training, &xt, t->pad, &iw, &ib, &ow, &ob, &r1, &sv));
  ibx_dropout d1 = drop_site(t, l, 1);
  IBX_TRY(ibx_dropout_forward(&d1, t->training, &r1, &r1));
  add_into(s->r1, x, (size_t)R * D);
  ibx_tensor g1 = val(t, s->p[N1_W]), b1 = val(t, s->p[N1_B]), u = ibx_t3(s->u, B, T, D);
  IBX_TRY(ibx_layernorm_forward(LN_EPS, &r1, &g1, &b1, &u, s->m1, s->s1));
  const ibx_ffn FL = {D, F, drop_site(t, l, 2)};
  ibx_tensor u2 = ibx_t2(s->u, R, D), r2 = ibx_t2(s->r2, R, D);
  ibx_tensor w1 = val(t, s->p[L1_W]), bb1 = val(t, s->p[L1_B]), w2 = val(t, s->p[L2_W]),
             bb2 = val(t, s->p[L2_B]);
  IBX_TRY(ibx_ffn_forward(&FL, t->training, &u2, &w1, &bb1, &w2, &bb2, &r2, s->fh, s->fa));
  ibx_dropout d3 = drop_site(t, l, 3);
  IBX_TRY(ibx_dropout_forward(&d3, t->training, &r2, &r2));
  add_into(s->r2, s->u, (size_t)R * D);
  ibx_tensor g2 = val(t, s->p[N2_W]), b2 = val(t, s->p[N2_B]), o = ibx_t2(s->out, R, D);
  return ibx_layernorm_forward(LN_EPS, &r2, &g2, &b2, &o, s->m2, s->s2);
}

/* Input of layer l (the intercept's rewrite when it sits at l). */
static const float *layer_input(const ibx_transformer *t, int l) {
  return t->icpt_layer == l && t->icpt_fwd ? t->hz : hidden(t, l);
}

static int run_from(ibx_transformer *t, int first, ibx_tensor *logits);
static int embed(ibx_transformer *t, const int32_t *ids, int stride, const int *lengths,
                 const float *tok_emb, int batch, int training, uint64_t noise_seed);
static int run_layers(ibx_transformer *t, int first);

int ibx_transformer_forward(ibx_transformer *t, const int32_t *ids, int stride,
                            const int *lengths, const float *tok_emb, int batch, int training,
                            uint64_t noise_seed, ibx_tensor *logits) {
  if (t->cfg.mlm)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: a masked-language model has no "
                    "classifier (ibx_transformer_forward_mlm)");
  IBX_TRY(embed(t, ids, stride, lengths, tok_emb, batch, training, noise_seed));
  return run_from(t, 0, logits);
}

static int embed(ibx_transformer *t, const int32_t *ids, int stride, const int *lengths,
                 const float *tok_emb, int batch, int training, uint64_t noise_seed) {
  const ibx_transformer_config *c = &t->cfg;
  if (batch <= 0 || batch > t->max_batch)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: batch %d outside 1..%d", batch,
                    t->max_batch);
  if (!lengths || (!ids && !tok_emb))
    return ibx_fail(IBX_ERR_ARG, "transformer forward: token ids or lengths missing");
  int T = 0;
  for (int n = 0; n < batch; n++) {
    if (lengths[n] < 1 || lengths[n] > c->max_len || (ids && lengths[n] > stride))
      return ibx_fail(IBX_ERR_ARG, "transformer forward: length %d of sample %d outside 1..%d",
                      lengths[n], n, ids && stride < c->max_len ? stride : c->max_len);
    if (lengths[n] > T)
      T = lengths[n];
  }
  const int D = c->d_model, B = batch;
  t->B = B, t->T = T, t->training = training != 0, t->seed = noise_seed;
  t->ext_emb = tok_emb != NULL;
  t->from = -1;
  for (int n = 0; n < B; n++) {
    t->len[n] = lengths[n];
    for (int i = 0; i < T; i++) {
      const int real = i < lengths[n];
      t->pad[(size_t)n * T + i] = !real;
      t->ids[(size_t)n * T + i] = ids && real ? ids[(size_t)n * stride + i] : 0;
    }
  }
  if (tok_emb) {
    memcpy(t->tok, tok_emb, (size_t)B * T * D * sizeof(float));
  } else {
    ibx_tensor w = val(t, t->p_tok), y = ibx_t2(t->tok, B * T, D);
    IBX_TRY(ibx_embedding_forward(t->ids, B * T, &w, &y));
  }
  ibx_tensor tok = ibx_t3(t->tok, B, T, D), e0 = ibx_t3(t->e0, B, T, D),
             pos = val(t, t->p_pos), h0 = ibx_t3(t->h0, B, T, D);
  IBX_TRY(ibx_position_add_forward(&tok, &pos, &e0));
  ibx_tensor g = val(t, t->p_eln_w), b = val(t, t->p_eln_b);
  IBX_TRY(ibx_layernorm_forward(LN_EPS, &e0, &g, &b, &h0, t->em, t->es));
  ibx_dropout d = drop_site(t, -1, 0);
  return ibx_dropout_forward(&d, t->training, &h0, &h0);
}

/* Layers from `first` on (its input, hidden(first), is in place). */
static int run_layers(ibx_transformer *t, int first) {
  const ibx_transformer_config *c = &t->cfg;
  const int D = c->d_model, B = t->B, T = t->T;
  for (int l = first; l <= c->layers; l++) {
    if (t->icpt_layer == l && t->icpt_fwd) {
      memcpy(t->hz, hidden(t, l), (size_t)B * T * D * sizeof(float));
      ibx_tensor hz = ibx_t3(t->hz, B, T, D);
      IBX_TRY(t->icpt_fwd(t->icpt_ctx, &hz));
    }
    if (l < c->layers)
      IBX_TRY(layer_forward(t, l, layer_input(t, l)));
  }
  return IBX_OK;
}

/* Layers from `first` on and the classifier. */
static int run_from(ibx_transformer *t, int first, ibx_tensor *logits) {
  const ibx_transformer_config *c = &t->cfg;
  const int D = c->d_model, B = t->B, T = t->T;
  IBX_TRY(run_layers(t, first));
  const float *top = layer_input(t, c->layers);
  for (int n = 0; n < B; n++)
    if (!c->pool_mean) {
      memcpy(t->cls + (size_t)n * D, top + (size_t)n * T * D, (size_t)D * sizeof(float));
    } else { /* mean over the sequence's positions (the ablation) */
      float *o = t->cls + (size_t)n * D;
      memset(o, 0, (size_t)D * sizeof(float));
      for (int p = 0; p < t->len[n]; p++)
        for (int d = 0; d < D; d++)
          o[d] += top[((size_t)n * T + p) * D + d];
      for (int d = 0; d < D; d++)
        o[d] /= (float)t->len[n];
    }
  ibx_tensor cls = ibx_t2(t->cls, B, D), pool = ibx_t2(t->pool, B, D),
             poold = ibx_t2(t->poold, B, D), lg = ibx_t2(t->logits, B, c->num_classes);
  ibx_tensor pw = val(t, t->p_pool_w), pb = val(t, t->p_pool_b), cw = val(t, t->p_cls_w),
             cb = val(t, t->p_cls_b);
  IBX_TRY(ibx_linear_forward(&cls, &pw, &pb, &pool));
  IBX_TRY(ibx_tanh_forward(&pool, &pool));
  ibx_dropout dc = drop_site(t, -1, 1);
  IBX_TRY(ibx_dropout_forward(&dc, t->training, &pool, &poold));
  IBX_TRY(ibx_linear_forward(&poold, &cw, &cb, &lg));
  if (logits)
    *logits = lg;
  return IBX_OK;
}

/* ---- backward ------------------------------------------------------------ */

/* Parameters [first, end) are final: tell the hook the lowest offset from
 * which everything is done (parameters are declared in forward order, so
 * backward finishes them from the end). */
static void grads_done(ibx_transformer *t, int first) {
  if (t->hook && t->param_grads)
    t->hook(t->hook_ctx, t->params.info[first].offset);
}

/* dh (dL/d layer output) -> dh (dL/d layer input). */
static int layer_backward(ibx_transformer *t, int l, const float *x, float *dh) {
  layer_state *s = &t->ls[l];
  const int B = t->B, T = t->T, D = t->cfg.d_model, F = t->cfg.d_ff, R = B * T;
  ibx_tensor r2 = ibx_t2(s->r2, R, D), g2 = val(t, s->p[N2_W]), dg2 = grad(t, s->p[N2_W]),
             db2 = grad(t, s->p[N2_B]), d = ibx_t2(dh, R, D);
  /* dr2 (in dh) = LN2 backward; du = dr2 + ffn_backward(dropout_backward(dr2)) */
  IBX_TRY(ibx_layernorm_backward(&r2, &g2, s->s2, &d, &d, &dg2, &db2));
  float *df = t->dtmp;
  ibx_tensor dft = ibx_t2(df, R, D);
  ibx_dropout d3 = drop_site(t, l, 3);
  IBX_TRY(ibx_dropout_backward(&d3, t->training, &d, &dft));
  const ibx_ffn FL = {D, F, drop_site(t, l, 2)};
  ibx_tensor u = ibx_t2(s->u, R, D), w1 = val(t, s->p[L1_W]), w2 = val(t, s->p[L2_W]);
  ibx_tensor dw1 = grad(t, s->p[L1_W]), db1 = grad(t, s->p[L1_B]), dw2 = grad(t, s->p[L2_W]),
             dbb2 = grad(t, s->p[L2_B]);
  ibx_tensor dut = ibx_t2(df, R, D); /* in place: df -> du contribution */
  IBX_TRY(ibx_ffn_backward(&FL, t->training, &u, &w1, &w2, s->fh, s->fa, &dft, &dut, &dw1, &db1,
                           &dw2, &dbb2, &t->scratch));
  for (size_t i = 0; i < (size_t)R * D; i++)
    dh[i] += df[i];
  /* LN1 backward: dr1 (in dh) */
  ibx_tensor r1 = ibx_t2(s->r1, R, D), g1 = val(t, s->p[N1_W]), dg1 = grad(t, s->p[N1_W]),
             dbn1 = grad(t, s->p[N1_B]);
  IBX_TRY(ibx_layernorm_backward(&r1, &g1, s->s1, &d, &d, &dg1, &dbn1));
  /* dx = dr1 + mha_backward(dropout_backward(dr1)) */
  ibx_dropout d1 = drop_site(t, l, 1);
  ibx_tensor da = ibx_t3(df, B, T, D), d3t = ibx_t3(dh, B, T, D);
  IBX_TRY(ibx_dropout_backward(&d1, t->training, &d3t, &da));
  const ibx_mha L = {D, t->cfg.heads, drop_site(t, l, 0)};
  const ibx_mha_saved sv = {s->qkv, s->probs, s->drop, s->ctx};
  ibx_tensor xt = ibx_t3((float *)x, B, T, D), iw = val(t, s->p[IN_W]), ow = val(t, s->p[OUT_W]);
  ibx_tensor diw = grad(t, s->p[IN_W]), dib = grad(t, s->p[IN_B]), dow = grad(t, s->p[OUT_W]),
             dob = grad(t, s->p[OUT_B]);
  ibx_tensor dxt = ibx_t3(t->dh2, B, T, D);
  IBX_TRY(ibx_mha_backward(&L, t->training, &xt, t->pad, &iw, &ow, &sv, &da, &dxt, &diw, &dib,
                           &dow, &dob, &t->scratch));
  for (size_t i = 0; i < (size_t)R * D; i++)
    dh[i] += t->dh2[i];
  grads_done(t, s->p[0]);
  return IBX_OK;
}

static int backward_encoder(ibx_transformer *t, float *d_tok_emb);

int ibx_transformer_backward(ibx_transformer *t, const float *dlogits, float *d_tok_emb) {
  if (t->cfg.mlm)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: a masked-language model has no "
                    "classifier (ibx_transformer_backward_mlm)");
  if (!t->B)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: no forward yet");
  if (!dlogits)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: dlogits is NULL");
  const ibx_transformer_config *c = &t->cfg;
  const int B = t->B, T = t->T, D = c->d_model, K = c->num_classes;
  /* classifier and pooler */
  ibx_tensor poold = ibx_t2(t->poold, B, D), pool = ibx_t2(t->pool, B, D),
             cls = ibx_t2(t->cls, B, D), dl = ibx_t2((float *)dlogits, B, K),
             dp = ibx_t2(t->dpool, B, D);
  ibx_tensor cw = val(t, t->p_cls_w), dcw = grad(t, t->p_cls_w), dcb = grad(t, t->p_cls_b);
  if (t->param_grads) {
    IBX_TRY(ibx_linear_backward(&poold, &cw, &dl, &dp, &dcw, &dcb));
  } else {
    float *sw = ibx_scratch_get(&t->scratch, (size_t)K * D); /* thrown away */
    if (!sw)
      return IBX_ERR_NOMEM;
    memset(sw, 0, (size_t)K * D * sizeof(float));
    ibx_tensor scratch_w = ibx_t2(sw, K, D);
    IBX_TRY(ibx_linear_backward(&poold, &cw, &dl, &dp, &scratch_w, NULL));
  }
  grads_done(t, t->p_cls_w);
  ibx_dropout dc = drop_site(t, -1, 1);
  IBX_TRY(ibx_dropout_backward(&dc, t->training, &dp, &dp));
  IBX_TRY(ibx_tanh_backward(&pool, &dp, &dp));
  ibx_tensor pw = val(t, t->p_pool_w), dpw = grad(t, t->p_pool_w), dpb = grad(t, t->p_pool_b),
             dcls = ibx_t2(t->dtmp, B, D);
  if (t->param_grads) {
    IBX_TRY(ibx_linear_backward(&cls, &pw, &dp, &dcls, &dpw, &dpb));
  } else {
    float *sw = ibx_scratch_get(&t->scratch, (size_t)D * D);
    if (!sw)
      return IBX_ERR_NOMEM;
    memset(sw, 0, (size_t)D * D * sizeof(float));
    ibx_tensor swt = ibx_t2(sw, D, D);
    IBX_TRY(ibx_linear_backward(&cls, &pw, &dp, &dcls, &swt, NULL));
  }
  grads_done(t, t->p_pool_w);
  memset(t->dh, 0, (size_t)B * T * D * sizeof(float));
  for (int n = 0; n < B; n++) {
    const float *g = t->dtmp + (size_t)n * D;
    if (!c->pool_mean) {
      memcpy(t->dh + (size_t)n * T * D, g, (size_t)D * sizeof(float));
      continue;
    }
    for (int p = 0; p < t->len[n]; p++)
      for (int d = 0; d < D; d++)
        t->dh[((size_t)n * T + p) * D + d] = g[d] / (float)t->len[n];
  }
  return backward_encoder(t, d_tok_emb);
}

/* From dL/d(top hidden states) in t->dh through the layers and embeddings. */
static int backward_encoder(ibx_transformer *t, float *d_tok_emb) {
  const ibx_transformer_config *c = &t->cfg;
  const int B = t->B, T = t->T, D = c->d_model;
  ibx_tensor dh = ibx_t3(t->dh, B, T, D);
  for (int l = c->layers; l >= 0; l--) {
    if (t->icpt_layer == l && t->icpt_bwd) {
      IBX_TRY(t->icpt_bwd(t->icpt_ctx, &dh));
      if (t->icpt_stop)
        return IBX_OK;
    }
    if (l == t->from) {
      if (d_tok_emb)
        memcpy(d_tok_emb, t->dh, (size_t)B * T * D * sizeof(float));
      return IBX_OK;
    }
    if (l > 0)
      IBX_TRY(layer_backward(t, l - 1, layer_input(t, l - 1), t->dh));
  }
  /* embeddings: dropout, LayerNorm, positions, token table */
  ibx_dropout d = drop_site(t, -1, 0);
  IBX_TRY(ibx_dropout_backward(&d, t->training, &dh, &dh));
  ibx_tensor e0 = ibx_t3(t->e0, B, T, D), g = val(t, t->p_eln_w), dg = grad(t, t->p_eln_w),
             db = grad(t, t->p_eln_b);
  IBX_TRY(ibx_layernorm_backward(&e0, &g, t->es, &dh, &dh, &dg, &db));
  ibx_tensor dpos = grad(t, t->p_pos);
  IBX_TRY(ibx_position_add_backward(&dh, NULL, &dpos));
  if (t->param_grads && !t->ext_emb) {
    /* padded positions carry gradient from nothing but the position-wise
     * layers; PyTorch accumulates them into their ids' rows the same way */
    ibx_tensor dw = grad(t, t->p_tok), dh2 = ibx_t2(t->dh, B * T, D);
    IBX_TRY(ibx_embedding_backward(t->ids, B * T, &dh2, &dw));
  }
  if (d_tok_emb)
    memcpy(d_tok_emb, t->dh, (size_t)B * T * D * sizeof(float));
  grads_done(t, 0);
  return IBX_OK;
}

int ibx_transformer_forward_from(ibx_transformer *t, int layer, const float *h, int T,
                                 const int *lengths, int batch, int training,
                                 uint64_t noise_seed, ibx_tensor *logits) {
  const ibx_transformer_config *c = &t->cfg;
  if (c->mlm)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: a masked-language model has no "
                    "classifier");
  if (layer < 0 || layer > c->layers)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: layer %d outside 0..%d", layer, c->layers);
  if (batch <= 0 || batch > t->max_batch || T < 1 || T > c->max_len || !h || !lengths)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: batch %d of %d positions does not fit "
                    "1..%d x 1..%d", batch, T, t->max_batch, c->max_len);
  for (int n = 0; n < batch; n++)
    if (lengths[n] < 1 || lengths[n] > T)
      return ibx_fail(IBX_ERR_ARG, "transformer forward: length %d of sample %d outside 1..%d",
                      lengths[n], n, T);
  const int D = c->d_model;
  t->B = batch, t->T = T, t->training = training != 0, t->seed = noise_seed;
  t->ext_emb = 1, t->from = layer;
  for (int n = 0; n < batch; n++) {
    t->len[n] = lengths[n];
    for (int i = 0; i < T; i++)
      t->pad[(size_t)n * T + i] = i >= lengths[n];
  }
  memcpy(hidden(t, layer), h, (size_t)batch * T * D * sizeof(float));
  return run_from(t, layer, logits);
}

int ibx_transformer_backward_hidden(ibx_transformer *t, const float *dlogits, float *dh) {
  if (t->from < 0)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: the last forward was not "
                    "ibx_transformer_forward_from");
  return ibx_transformer_backward(t, dlogits, dh);
}

/* ---- the masked-language-model head (cfg.mlm) -------------------------------
 *   x      = h_L at the M positions with a target
 *   y      = LayerNorm(gelu(mlm.dense(x)))           BERT's transform
 *   logits = y embedding.token.weight^T + mlm.decoder.bias   (tied decoder)
 *   loss   = mean over the M positions of -log softmax(logits)[target] */

static int mlm_reserve(ibx_transformer *t, int m) {
  if (m <= t->mlm_cap)
    return IBX_OK;
  const size_t D = (size_t)t->cfg.d_model, V = (size_t)t->cfg.vocab, M = (size_t)m;
  free(t->mlm_rows), free(t->mlm_tgt), free(t->mlm_x);
  t->mlm_cap = 0;
  t->mlm_rows = malloc(M * sizeof(int));
  t->mlm_tgt = malloc(M * sizeof(int));
  t->mlm_x = malloc((5 * M * D + M + M * V) * sizeof(float));
  if (!t->mlm_rows || !t->mlm_tgt || !t->mlm_x)
    return ibx_fail(IBX_ERR_NOMEM, "transformer: out of memory for %d masked positions", m);
  t->mlm_a = t->mlm_x + M * D;
  t->mlm_g = t->mlm_a + M * D;
  t->mlm_y = t->mlm_g + M * D;
  t->mlm_dy = t->mlm_y + M * D;
  t->mlm_rstd = t->mlm_dy + M * D;
  t->mlm_logits = t->mlm_rstd + M;
  t->mlm_cap = m;
  return IBX_OK;
}

int ibx_transformer_forward_mlm(ibx_transformer *t, const int32_t *ids, int stride,
                                const int *lengths, const int32_t *targets, int batch,
                                int training, uint64_t noise_seed, ibx_mlm_stats *stats) {
  const ibx_transformer_config *c = &t->cfg;
  if (!c->mlm)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: no masked-language-model head "
                    "(model.objective = mlm)");
  if (!targets || !ids)
    return ibx_fail(IBX_ERR_ARG, "transformer forward: token ids or MLM targets missing");
  IBX_TRY(embed(t, ids, stride, lengths, NULL, batch, training, noise_seed));
  IBX_TRY(run_layers(t, 0));
  const int B = t->B, T = t->T, D = c->d_model, V = c->vocab;
  int m = 0;
  for (int n = 0; n < B; n++)
    for (int p = 0; p < lengths[n]; p++) {
      const int32_t y = targets[(size_t)n * stride + p];
      if (y >= V)
        return ibx_fail(IBX_ERR_ARG, "transformer forward: MLM target %d of sample %d outside "
                        "0..%d", (int)y, n, V - 1);
      m += y >= 0;
    }
  IBX_TRY(mlm_reserve(t, m > 0 ? m : 1));
  t->mlm_m = m;
  const float *top = layer_input(t, c->layers);
  int k = 0;
  for (int n = 0; n < B; n++)
    for (int p = 0; p < lengths[n]; p++) {
      const int32_t y = targets[(size_t)n * stride + p];
      if (y < 0)
        continue;
      t->mlm_rows[k] = n * T + p, t->mlm_tgt[k] = y;
      memcpy(t->mlm_x + (size_t)k * D, top + ((size_t)n * T + p) * D, (size_t)D * sizeof(float));
      k++;
    }
  ibx_mlm_stats st = {0.0f, 0, m};
  if (m > 0) {
    ibx_tensor x = ibx_t2(t->mlm_x, m, D), a = ibx_t2(t->mlm_a, m, D), g = ibx_t2(t->mlm_g, m, D),
               y = ibx_t2(t->mlm_y, m, D), lg = ibx_t2(t->mlm_logits, m, V);
    ibx_tensor w = val(t, t->p_mlm_w), b = val(t, t->p_mlm_b), nw = val(t, t->p_mlm_nw),
               nb = val(t, t->p_mlm_nb), emb = val(t, t->p_tok), db = val(t, t->p_mlm_db);
    IBX_TRY(ibx_linear_forward(&x, &w, &b, &a));
    IBX_TRY(ibx_gelu_forward(&a, &g));
    IBX_TRY(ibx_layernorm_forward(LN_EPS, &g, &nw, &nb, &y, NULL, t->mlm_rstd));
    IBX_TRY(ibx_linear_forward(&y, &emb, &db, &lg));
    double loss = 0.0;
    for (int i = 0; i < m; i++) { /* stable softmax in place: logits -> probabilities */
      float *r = t->mlm_logits + (size_t)i * V;
      int best = 0;
      for (int v = 1; v < V; v++)
        best = r[v] > r[best] ? v : best;
      const float mx = r[best];
      double sum = 0.0;
      for (int v = 0; v < V; v++)
        sum += exp((double)(r[v] - mx));
      loss += log(sum) - (double)(r[t->mlm_tgt[i]] - mx);
      for (int v = 0; v < V; v++)
        r[v] = (float)(exp((double)(r[v] - mx)) / sum);
      st.correct += best == t->mlm_tgt[i];
    }
    st.loss = (float)(loss / m);
  }
  if (stats)
    *stats = st;
  return IBX_OK;
}

int ibx_transformer_backward_mlm(ibx_transformer *t) {
  const ibx_transformer_config *c = &t->cfg;
  if (!c->mlm || !t->B)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: no masked-language-model forward yet");
  if (!t->param_grads)
    return ibx_fail(IBX_ERR_ARG, "transformer backward: the MLM head needs parameter gradients");
  const int m = t->mlm_m, D = c->d_model, V = c->vocab, B = t->B, T = t->T;
  memset(t->dh, 0, (size_t)B * T * D * sizeof(float));
  if (m > 0) {
    for (int i = 0; i < m; i++) { /* dlogits = (softmax - onehot) / M, in place */
      float *r = t->mlm_logits + (size_t)i * V;
      r[t->mlm_tgt[i]] -= 1.0f;
      for (int v = 0; v < V; v++)
        r[v] /= (float)m;
    }
    ibx_tensor x = ibx_t2(t->mlm_x, m, D), a = ibx_t2(t->mlm_a, m, D), g = ibx_t2(t->mlm_g, m, D),
               y = ibx_t2(t->mlm_y, m, D), dy = ibx_t2(t->mlm_dy, m, D),
               dlg = ibx_t2(t->mlm_logits, m, V);
    ibx_tensor emb = val(t, t->p_tok), demb = grad(t, t->p_tok), ddb = grad(t, t->p_mlm_db);
    IBX_TRY(ibx_linear_backward(&y, &emb, &dlg, &dy, &demb, &ddb));
    ibx_tensor nw = val(t, t->p_mlm_nw), dnw = grad(t, t->p_mlm_nw), dnb = grad(t, t->p_mlm_nb);
    IBX_TRY(ibx_layernorm_backward(&g, &nw, t->mlm_rstd, &dy, &dy, &dnw, &dnb));
    IBX_TRY(ibx_gelu_backward(&a, &dy, &dy));
    ibx_tensor w = val(t, t->p_mlm_w), dw = grad(t, t->p_mlm_w), db = grad(t, t->p_mlm_b);
    ibx_tensor dx = ibx_t2(t->mlm_g, m, D); /* g is no longer needed */
    IBX_TRY(ibx_linear_backward(&x, &w, &dy, &dx, &dw, &db));
    for (int i = 0; i < m; i++)
      memcpy(t->dh + (size_t)t->mlm_rows[i] * D, t->mlm_g + (size_t)i * D,
             (size_t)D * sizeof(float));
  }
  grads_done(t, t->p_mlm_w);
  return backward_encoder(t, NULL);
}
