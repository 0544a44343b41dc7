/* Heads without attention: plain (the backbone's own classifier), gap
 * (global average pooling + linear, Zhou et al. 2016) and dvib (deep
 * variational information bottleneck, Alemi et al. 2017), plus the
 * variational bottleneck shared by dvib and aib. docs/models.md. */
#include <math.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/layers.h"
#include "ibx/rng.h"
#include "model_internal.h"

/* Head layers: weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's
 * default bound), biases 0, batch-norm gamma 1 (kept from the stack init). */
void head_init_unit(ibx_model *m, unit *u) {
  for (int i = u->p_first; i < u->p_end; i++) {
    const ibx_param_info *p = &m->params.info[i];
    if (p->ndim < 2)
      continue;
    const size_t fan_in = p->numel / (size_t)p->dim[0];
    ibx_init_uniform(m->params.values + p->offset, p->numel, 1.0f / sqrtf((float)fan_in),
                     m->cfg.seed ^ u->seed_salt, 0x484541440000ULL + (uint64_t)i);
  }
}

static int is_vgg(const ibx_model *m) { return m->nst == 5; }

static int last_stage(const ibx_model *m) { return m->nst - 1; }

/* The classifier/encoder tail on the last stage's output, ending in a
 * linear layer with out features: VGG: max-pool (features.43), flatten,
 * linear; WRN: BN-ReLU, global average pool, linear. */
int head_tail_new(ibx_model *m, const char *prefix, int out, unit **u_out) {
  const stage *st = &m->st[last_stage(m)];
  unit *u;
  IBX_TRY(unit_new(m, prefix, st->out_dim[0], st->out_dim[1], st->out_dim[2], &u));
  if (is_vgg(m)) {
    IBX_TRY(ibx_seq_add_maxpool(u->seq, 2, 2));
    IBX_TRY(ibx_seq_add_flatten(u->seq));
  } else {
    IBX_TRY(ibx_seq_add_batchnorm(u->seq));
    IBX_TRY(ibx_seq_add_relu(u->seq));
    IBX_TRY(ibx_seq_add_global_avgpool(u->seq));
  }
  IBX_TRY(ibx_seq_add_linear(u->seq, out, 1));
  /* VGG plain keeps ibx_vgg_build's names (features.43 pool .. 45 linear) */
  IBX_TRY(unit_declare(m, u, prefix, is_vgg(m) && !strcmp(prefix, "features") ? 43 : 0));
  *u_out = u;
  return IBX_OK;
}

/* ---- plain ----------------------------------------------------------------- */

typedef struct {
  unit *tail;
} plain_state;

static int plain_build(ibx_model *m) {
  plain_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  return head_tail_new(m, is_vgg(m) ? "features" : "classifier", m->classes, &h->tail);
}

static int plain_forward(ibx_model *m, const float *x, const int *labels, int training,
                         uint64_t seed) {
  (void)labels;
  plain_state *h = m->head;
  IBX_TRY(backbone_forward(m, 0, last_stage(m), x, training, seed));
  IBX_TRY(unit_forward(h->tail, m->st[last_stage(m)].out, m->batch, training, seed));
  memcpy(m->logits, h->tail->out, (size_t)m->batch * m->classes * sizeof(float));
  return IBX_OK;
}

static int plain_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  (void)with_aux;
  plain_state *h = m->head;
  IBX_TRY(unit_backward(h->tail, dlogits, m->st[last_stage(m)].dout));
  return backbone_backward(m, last_stage(m), 0, dx);
}

const head_ops ibx_head_plain = {.name = "plain",
    .on_vgg = 1, .on_wrn = 1,
    .build = plain_build, .init = NULL, .forward = plain_forward, .backward = plain_backward};

/* ---- gap --------------------------------------------------------------------
 * VGG: global average pool of the last block's features (before the fifth
 * max-pool) + linear. WRN's own classifier already is BN-ReLU-GAP-linear,
 * so gap equals plain there. */

static int gap_build(ibx_model *m) {
  if (!is_vgg(m))
    return plain_build(m);
  plain_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  const stage *st = &m->st[last_stage(m)];
  IBX_TRY(unit_new(m, "classifier", st->out_dim[0], st->out_dim[1], st->out_dim[2], &h->tail));
  IBX_TRY(ibx_seq_add_global_avgpool(h->tail->seq));
  IBX_TRY(ibx_seq_add_linear(h->tail->seq, m->classes, 1));
  return unit_declare(m, h->tail, "classifier", 0);
}

const head_ops ibx_head_gap = {.name = "gap",
    .on_vgg = 1, .on_wrn = 1,
    .build = gap_build, .init = NULL, .forward = plain_forward, .backward = plain_backward};

/* ---- the variational bottleneck ------------------------------------------ */

int vib_build(ibx_model *m, vib_state *v, int K) {
  v->K = K;
  IBX_TRY(unit_new(m, "decoder", K, 0, 0, &v->dec));
  IBX_TRY(ibx_seq_add_linear(v->dec->seq, K, 1));
  IBX_TRY(ibx_seq_add_relu(v->dec->seq));
  IBX_TRY(ibx_seq_add_linear(v->dec->seq, m->classes, 1));
  IBX_TRY(unit_declare(m, v->dec, "decoder", 0));
  const size_t n = (size_t)m->max_batch * K;
  v->mu = model_alloc(m, 8 * n, "latent");
  if (!v->mu)
    return IBX_ERR_NOMEM;
  v->logvar = v->mu + n, v->eps = v->logvar + n, v->z = v->eps + n, v->dz = v->z + n;
  v->dlv = v->dz + n, v->de = v->dlv + n; /* 2n */
  return IBX_OK;
}

int vib_forward(ibx_model *m, vib_state *v, const float *e, int training, uint64_t noise_seed) {
  const int N = m->batch, K = v->K;
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++) {
      v->mu[(size_t)n * K + k] = e[(size_t)n * 2 * K + k];
      v->logvar[(size_t)n * K + k] = e[(size_t)n * 2 * K + K + k] + LOGVAR_SHIFT;
    }
  const size_t nk = (size_t)N * K;
  if (training) {
    if (m->noise_override[1])
      memcpy(v->eps, m->noise_override[1], nk * sizeof(float));
    else
      ibx_rng_fill_normal(v->eps, nk, noise_seed, NOISE_STREAM_Z, 0);
    for (size_t i = 0; i < nk; i++)
      v->z[i] = v->mu[i] + v->eps[i] * expf(0.5f * v->logvar[i]);
  } else {
    memcpy(v->z, v->mu, nk * sizeof(float));
  }
  const ibx_tensor mu = ibx_t2(v->mu, N, K), lv = ibx_t2(v->logvar, N, K);
  float kl = 0.0f;
  IBX_TRY(ibx_gaussian_kl_forward(&mu, &lv, &kl));
  m->loss.kl = m->beta * kl;
  IBX_TRY(unit_forward(v->dec, v->z, N, training, noise_seed));
  memcpy(m->logits, v->dec->out, (size_t)N * m->classes * sizeof(float));
  model_expose(m, "z_mean", v->mu, N, K, 1, 1);
  model_expose(m, "z_logvar", v->logvar, N, K, 1, 1);
  model_expose(m, "z", v->z, N, K, 1, 1);
  return IBX_OK;
}

int vib_backward(ibx_model *m, vib_state *v, const float *dlogits, int with_aux) {
  const int N = m->batch, K = v->K;
  IBX_TRY(unit_backward(v->dec, dlogits, v->dz));
  float *dmu = v->dz, *dlv = v->dlv;
  const size_t nk = (size_t)N * K;
  for (size_t i = 0; i < nk; i++)
    /* z = mu + eps exp(lv/2): dz/dlv = (z - mu)/2 */
    dlv[i] = m->training ? 0.5f * v->dz[i] * (v->z[i] - v->mu[i]) : 0.0f;
  if (with_aux) {
    const ibx_tensor mu = ibx_t2(v->mu, N, K), lv = ibx_t2(v->logvar, N, K);
    ibx_tensor tdmu = ibx_t2(dmu, N, K), tdlv = ibx_t2(dlv, N, K);
    IBX_TRY(ibx_gaussian_kl_backward(&mu, &lv, m->beta, &tdmu, &tdlv));
  }
  /* the encoder's output is [N, 2K]: mean then log-variance per sample */
  for (int n = 0; n < N; n++) {
    memcpy(v->de + (size_t)n * 2 * K, dmu + (size_t)n * K, (size_t)K * sizeof(float));
    memcpy(v->de + (size_t)n * 2 * K + K, dlv + (size_t)n * K, (size_t)K * sizeof(float));
  }
  return IBX_OK;
}

/* ---- dvib: encoder on the pooled feature, bottleneck, decoder ------------- */

typedef struct {
  unit *enc;
  vib_state v;
} dvib_state;

static int dvib_build(ibx_model *m) {
  dvib_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  IBX_TRY(head_tail_new(m, "encoder", 2 * m->cfg.K, &h->enc));
  return vib_build(m, &h->v, m->cfg.K);
}

static void dvib_init(ibx_model *m) {
  dvib_state *h = m->head;
  head_init_unit(m, h->enc);
  head_init_unit(m, h->v.dec);
}

static int dvib_forward(ibx_model *m, const float *x, const int *labels, int training,
                        uint64_t seed) {
  (void)labels;
  dvib_state *h = m->head;
  IBX_TRY(backbone_forward(m, 0, last_stage(m), x, training, seed));
  IBX_TRY(unit_forward(h->enc, m->st[last_stage(m)].out, m->batch, training, seed));
  return vib_forward(m, &h->v, h->enc->out, training, seed);
}

static int dvib_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  dvib_state *h = m->head;
  IBX_TRY(vib_backward(m, &h->v, dlogits, with_aux));
  IBX_TRY(unit_backward(h->enc, h->v.de, m->st[last_stage(m)].dout));
  return backbone_backward(m, last_stage(m), 0, dx);
}

const head_ops ibx_head_dvib = {.name = "dvib",
    .on_vgg = 1, .on_wrn = 1, .uses_K = 1,
    .build = dvib_build, .init = dvib_init, .forward = dvib_forward, .backward = dvib_backward};
