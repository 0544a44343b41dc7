/* Per-sample IBA on the transformer's hidden states (include/ibx/iba_text.h).
 * R is computed once per sequence; every Adam step feeds the batch of Z
 * draws to the layers after the bottleneck (ibx_transformer_forward_from)
 * and gets dL/dZ back (ibx_transformer_backward_hidden):
 *   dL/dlambda = sum_b dL/dZ_b (R - eps_b) + beta/k dC/dlambda,
 *   dL/dalpha  = dL/dlambda lambda (1 - lambda). */
#include "ibx/iba_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/rng.h"

#define IBA_TEXT_NOISE_STREAM 0x49424154ULL /* "IBAT" */
#define STATS_BATCH 16

struct ibx_iba_text {
  ibx_transformer *t;
  ibx_iba_text_config cfg;
  int layer, D, max_len, classes;
  ibx_welford wf;
  float *mu, *sd;                           /* [D] */
  float *r, *alpha, *lam, *dlam, *m, *v, *cap; /* [max_len * D] */
  float *om;                                /* [max_len * D] 1 - lambda = sigmoid(-alpha) */
  float *noise, *eps, *z, *dz;              /* [batch * max_len * D] */
  float *dlogits;                           /* [batch * classes] */
  int *lengths;                             /* [batch] */
};

void ibx_iba_text_default(ibx_iba_text_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->beta = 1e-5f, cfg->iterations = 10, cfg->batch = 10, cfg->lr = 1.0f;
  cfg->init_alpha = 5.0f, cfg->std_floor = 0.01f, cfg->seed = 0;
}

int ibx_iba_text_default_layer(int layers) {
  const int l = (2 * layers + 1) / 3;
  return l < 1 ? 1 : l;
}

int ibx_iba_text_create(ibx_transformer *t, int layer, const ibx_iba_text_config *cfg,
                        ibx_iba_text **out) {
  *out = NULL;
  const ibx_transformer_config *tc = ibx_transformer_config_of(t);
  if (layer < 0 || layer > tc->layers)
    return ibx_fail(IBX_ERR_ARG, "iba: layer %d outside 0..%d (the transformer's layers)", layer,
                    tc->layers);
  if (cfg->iterations < 1 || cfg->batch < 1 || !(cfg->lr > 0.0f) || !(cfg->beta >= 0.0f) ||
      !(cfg->std_floor > 0.0f))
    return ibx_fail(IBX_ERR_ARG, "iba: iterations, batch, lr and std_floor must be > 0 and "
                    "beta >= 0");
  ibx_iba_text *b = calloc(1, sizeof *b);
  if (!b)
    return ibx_fail(IBX_ERR_NOMEM, "iba: out of memory");
  b->t = t, b->cfg = *cfg, b->layer = layer;
  b->D = tc->d_model, b->max_len = tc->max_len, b->classes = tc->num_classes;
  const size_t k = (size_t)b->max_len * b->D, Bk = (size_t)cfg->batch * k;
  int rc = ibx_welford_init(&b->wf, b->D);
  float *a = rc ? NULL
                : ibx_calloc((2 * (size_t)b->D + 8 * k + 4 * Bk +
                              (size_t)cfg->batch * b->classes) * sizeof(float),
                             "iba buffers");
  b->lengths = calloc((size_t)cfg->batch, sizeof(int));
  if (!a || !b->lengths) {
    ibx_free(a);
    ibx_iba_text_free(b);
    return rc ? rc : ibx_fail(IBX_ERR_NOMEM, "iba: out of memory");
  }
  b->mu = a, a += b->D;
  b->sd = a, a += b->D;
  b->r = a, a += k;
  b->alpha = a, a += k;
  b->lam = a, a += k;
  b->dlam = a, a += k;
  b->m = a, a += k;
  b->v = a, a += k;
  b->cap = a, a += k;
  b->om = a, a += k;
  b->noise = a, a += Bk;
  b->eps = a, a += Bk;
  b->z = a, a += Bk;
  b->dz = a, a += Bk;
  b->dlogits = a;
  for (int d = 0; d < b->D; d++)
    b->sd[d] = 1.0f;
  ibx_transformer_set_param_grads(t, 0);
  *out = b;
  return IBX_OK;
}

void ibx_iba_text_free(ibx_iba_text *b) {
  if (!b)
    return;
  ibx_free(b->mu);
  ibx_welford_free(&b->wf);
  free(b->lengths);
  free(b);
}

int ibx_iba_text_layer(const ibx_iba_text *b) { return b->layer; }
void ibx_iba_text_set_beta(ibx_iba_text *b, float beta) { b->cfg.beta = beta; }
ibx_welford *ibx_iba_text_welford(ibx_iba_text *b) { return &b->wf; }
const float *ibx_iba_text_mean(const ibx_iba_text *b) { return b->mu; }
const float *ibx_iba_text_std(const ibx_iba_text *b) { return b->sd; }

int ibx_iba_text_add_samples(ibx_iba_text *b, const int32_t *ids, int stride, const int *lengths,
                             int n) {
  const int cap = b->cfg.batch < STATS_BATCH ? b->cfg.batch : STATS_BATCH;
  for (int s = 0; s < n; s += cap) {
    const int nb = n - s < cap ? n - s : cap;
    IBX_TRY(ibx_transformer_forward(b->t, ids + (size_t)s * stride, stride, lengths + s, NULL, nb,
                                    0, 0, NULL));
    ibx_tensor h;
    IBX_TRY(ibx_transformer_hidden(b->t, b->layer, &h));
    const int T = h.dim[1];
    for (int i = 0; i < nb; i++)
      for (int p = 0; p < lengths[s + i]; p++)
        ibx_welford_add(&b->wf, h.data + ((size_t)i * T + p) * b->D);
  }
  return IBX_OK;
}

int ibx_iba_text_finish_stats(ibx_iba_text *b) {
  if (b->wf.n < 2)
    return ibx_fail(IBX_ERR_ARG, "iba: statistics of layer %d need at least 2 token positions, "
                    "got %ld", b->layer, b->wf.n);
  ibx_welford_result(&b->wf, b->cfg.std_floor, b->mu, b->sd);
  return IBX_OK;
}

int ibx_iba_text_set_stats(ibx_iba_text *b, const float *mean, const float *std) {
  for (int d = 0; d < b->D; d++)
    if (!(std[d] > 0.0f) || !isfinite(mean[d]))
      return ibx_fail(IBX_ERR_ARG, "iba: statistics element %d: mean %g, std %g (std must be > 0)",
                      d, (double)mean[d], (double)std[d]);
  memcpy(b->mu, mean, (size_t)b->D * sizeof(float));
  memcpy(b->sd, std, (size_t)b->D * sizeof(float));
  return IBX_OK;
}

static double sigmoid(double a) {
  return a >= 0.0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));
}

/* Capacity and its lambda-derivative from lambda and 1 - lambda computed
 * separately: after a few Adam steps at lr 1, alpha reaches ~15, where
 * 1 - sigmoid(alpha) ~ 3e-7 is not representable as 1 - (float)lambda. */
static double capacity_of(double lam, double om, double rn) {
  return -0.5 * (1.0 + 2.0 * log(om) - lam * lam * rn * rn - om * om);
}
static double capacity_dlambda(double lam, double om, double rn) {
  return 1.0 / om + lam * rn * rn - om;
}

/* Four N(0,1) draws per Philox call (both Box-Muller outputs of two uniform
 * pairs, in float: the noise was 9 % of an IBA step in double); draw i of
 * step t is a pure function of (seed, t, i). */
static void normals(float *out, size_t n, uint64_t seed, uint64_t first_block) {
  const float two_pi = 6.28318530717958647693f, scale = 1.0f / 16777216.0f;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t r[4];
    ibx_rng_u32x4(seed, IBA_TEXT_NOISE_STREAM, first_block + i / 4, r);
    float z[4];
    for (int h = 0; h < 2; h++) { /* 24-bit uniforms in float: tails to 5.8 sigma */
      const float u1 = ((float)(r[2 * h] >> 8) + 0.5f) * scale;
      const float u2 = ((float)(r[2 * h + 1] >> 8) + 0.5f) * scale;
      const float rad = sqrtf(-2.0f * logf(u1));
      z[2 * h] = rad * cosf(two_pi * u2);
      z[2 * h + 1] = rad * sinf(two_pi * u2);
    }
    for (size_t j = 0; j < 4 && i + j < n; j++)
      out[i + j] = z[j];
  }
}

/* d(mean CE over the batch)/dlogits for the target class. */
static void ce_grad(const float *logits, int n, int classes, int target, float *d) {
  for (int s = 0; s < n; s++) {
    const float *l = logits + (size_t)s * classes;
    float mx = l[0];
    double sum = 0.0;
    for (int c = 1; c < classes; c++)
      mx = l[c] > mx ? l[c] : mx;
    for (int c = 0; c < classes; c++)
      sum += exp((double)l[c] - mx);
    for (int c = 0; c < classes; c++)
      d[s * classes + c] = (float)((exp((double)l[c] - mx) / sum - (c == target)) / n);
  }
}

int ibx_iba_text_heatmap(ibx_iba_text *b, const int32_t *ids, int length, int target, float *heat,
                         float *capacity) {
  if (length < 1 || length > b->max_len)
    return ibx_fail(IBX_ERR_ARG, "iba: sequence length %d outside 1..%d", length, b->max_len);
  if (target < 0 || target >= b->classes)
    return ibx_fail(IBX_ERR_ARG, "iba: target class %d outside 0..%d", target, b->classes - 1);
  const int B = b->cfg.batch, D = b->D, L = length;
  const size_t k = (size_t)L * D;
  /* R, once */
  IBX_TRY(ibx_transformer_forward(b->t, ids, length, &length, NULL, 1, 0, 0, NULL));
  ibx_tensor h;
  IBX_TRY(ibx_transformer_hidden(b->t, b->layer, &h));
  memcpy(b->r, h.data, k * sizeof(float));
  for (size_t e = 0; e < k; e++)
    b->alpha[e] = b->cfg.init_alpha, b->m[e] = b->v[e] = 0.0f;
  for (int s = 0; s < B; s++)
    b->lengths[s] = L;
  const double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  const float wcap = b->cfg.beta / (float)k;
  for (int step = 0; step < b->cfg.iterations; step++) {
    for (size_t e = 0; e < k; e++)
      b->lam[e] = (float)sigmoid(b->alpha[e]), b->om[e] = (float)sigmoid(-b->alpha[e]);
    if (b->cfg.noise)
      memcpy(b->noise, b->cfg.noise + (size_t)step * B * k, (size_t)B * k * sizeof(float));
    else
      normals(b->noise, (size_t)B * k, b->cfg.seed, (uint64_t)step * (((size_t)B * k + 3) / 4));
    for (int s = 0; s < B; s++)
      for (int p = 0; p < L; p++) {
        const size_t e0 = (size_t)p * D, i0 = (size_t)s * k + e0;
        for (int d = 0; d < D; d++) {
          b->eps[i0 + d] = b->mu[d] + b->sd[d] * b->noise[i0 + d];
          b->z[i0 + d] = b->lam[e0 + d] * b->r[e0 + d] + b->om[e0 + d] * b->eps[i0 + d];
        }
      }
    ibx_tensor lg;
    IBX_TRY(ibx_transformer_forward_from(b->t, b->layer, b->z, L, b->lengths, B, 0, 0, &lg));
    ce_grad(lg.data, B, b->classes, target, b->dlogits);
    IBX_TRY(ibx_transformer_backward_hidden(b->t, b->dlogits, b->dz));
    /* sum over the draws of dL/dZ_b (R - eps_b), draw by draw (contiguous) */
    memset(b->dlam, 0, k * sizeof(float));
    for (int s = 0; s < B; s++) {
      const float *dz = b->dz + (size_t)s * k, *ep = b->eps + (size_t)s * k;
      for (size_t e = 0; e < k; e++)
        b->dlam[e] += dz[e] * (b->r[e] - ep[e]);
    }
    for (int p = 0; p < L; p++)
      for (int d = 0; d < D; d++) {
        const size_t e = (size_t)p * D + d;
        const double rn = ((double)b->r[e] - b->mu[d]) / b->sd[d];
        b->cap[e] = (float)capacity_of(b->lam[e], b->om[e], rn);
        b->dlam[e] += (float)(wcap * capacity_dlambda(b->lam[e], b->om[e], rn));
      }
    const double bc1 = 1.0 - pow(beta1, step + 1), bc2 = 1.0 - pow(beta2, step + 1);
    for (size_t e = 0; e < k; e++) {
      const double gr = (double)b->dlam[e] * b->lam[e] * b->om[e];
      b->m[e] = (float)(beta1 * b->m[e] + (1.0 - beta1) * gr);
      b->v[e] = (float)(beta2 * b->v[e] + (1.0 - beta2) * gr * gr);
      const double denom = sqrt(b->v[e]) / sqrt(bc2) + adam_eps;
      b->alpha[e] -= (float)(b->cfg.lr / bc1 * b->m[e] / denom);
    }
  }
  /* capacity of the last step's forward, summed over the hidden dims */
  float lo = INFINITY, hi = -INFINITY;
  for (int p = 0; p < L; p++) {
    double s = 0.0;
    for (int d = 0; d < D; d++)
      s += b->cap[(size_t)p * D + d];
    const float bits = (float)(s / log(2.0));
    if (capacity)
      capacity[p] = bits;
    b->dlam[p] = bits; /* scratch */
    lo = bits < lo ? bits : lo, hi = bits > hi ? bits : hi;
  }
  if (heat)
    for (int p = 0; p < L; p++)
      heat[p] = hi > lo ? (b->dlam[p] - lo) / (hi - lo) : 0.0f;
  return IBX_OK;
}
