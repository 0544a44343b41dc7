/* Per-sample IBA (include/ibx/iba.h): the bottleneck lives in a model
 * intercept; alpha is optimised with Adam on CE + beta * mean capacity.
 * dL/dlambda = sum_b dL/dZ_b (R - eps_b) + beta/k dC/dlambda, then through
 * the blur's adjoint and the sigmoid. Backward stops at the bottleneck:
 * nothing before it needs gradients. */
#include "ibx/iba.h"
#include "ibx/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/rng.h"

#define IBA_NOISE_STREAM 0x4942414eULL /* "IBAN" */

float ibx_iba_capacity(float lambda, float r_norm) {
  const float one_minus = 1.0f - lambda, lr = lambda * r_norm;
  return -0.5f * (1.0f + logf(one_minus * one_minus) - lr * lr - one_minus * one_minus);
}

float ibx_iba_capacity_dlambda(float lambda, float r_norm) {
  const float one_minus = 1.0f - lambda;
  return 1.0f / one_minus + lambda * r_norm * r_norm - one_minus;
}

/* ---- Welford ------------------------------------------------------------- */

int ibx_welford_init(ibx_welford *w, int k) {
  memset(w, 0, sizeof *w);
  w->k = k;
  w->mean = ibx_calloc(2 * (size_t)k * sizeof(double), "welford");
  if (!w->mean)
    return IBX_ERR_NOMEM;
  w->m2 = w->mean + k;
  return IBX_OK;
}

void ibx_welford_add(ibx_welford *w, const float *x) {
  w->n++;
  for (int e = 0; e < w->k; e++) {
    const double d = x[e] - w->mean[e];
    w->mean[e] += d / (double)w->n;
    w->m2[e] += d * (x[e] - w->mean[e]);
  }
}

void ibx_welford_result(const ibx_welford *w, float std_floor, float *mean, float *std) {
  for (int e = 0; e < w->k; e++) {
    const double var = w->n ? w->m2[e] / (double)w->n : 0.0;
    const float sd = (float)sqrt(var);
    mean[e] = (float)w->mean[e];
    std[e] = sd > std_floor ? sd : std_floor;
  }
}

void ibx_welford_merge(ibx_welford *w, long n, const double *mean, const double *m2) {
  if (n <= 0)
    return;
  const double na = (double)w->n, nb = (double)n, nt = na + nb;
  for (int e = 0; e < w->k; e++) {
    const double d = mean[e] - w->mean[e];
    w->mean[e] += d * nb / nt;
    w->m2[e] += m2[e] + d * d * na * nb / nt;
  }
  w->n += n;
}

void ibx_welford_free(ibx_welford *w) {
  ibx_free(w->mean);
  memset(w, 0, sizeof *w);
}

/* ---- blur ------------------------------------------------------------------ */

static int reflect(int i, int n) {
  if (i < 0)
    i = -i;
  if (i >= n)
    i = 2 * (n - 1) - i;
  return i;
}

static void gauss_kernel(int kernel, float sigma, float *g) {
  double sum = 0.0, t[64];
  for (int i = 0; i < kernel; i++) {
    const double d = i - (kernel - 1) / 2.0;
    t[i] = exp(-d * d / (2.0 * sigma * sigma));
    sum += t[i];
  }
  for (int i = 0; i < kernel; i++)
    g[i] = (float)(t[i] / sum);
}

/* adjoint = 0: y = K x; adjoint = 1: y = K^T x (scatter). y is overwritten. */
static void blur_apply(const float *x, int c, int h, int w, int kernel, float sigma, float *y,
                       int adjoint) {
  const size_t plane = (size_t)h * w;
  if (kernel <= 1) {
    memcpy(y, x, (size_t)c * plane * sizeof(float));
    return;
  }
  float g[64];
  gauss_kernel(kernel, sigma, g);
  const int r = kernel / 2;
  memset(y, 0, (size_t)c * plane * sizeof(float));
  for (int ch = 0; ch < c; ch++) {
    const float *xp = x + ch * plane;
    float *yp = y + ch * plane;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++)
        for (int a = 0; a < kernel; a++) {
          const int si = reflect(i + a - r, h);
          for (int b = 0; b < kernel; b++) {
            const int sj = reflect(j + b - r, w);
            const float k = g[a] * g[b];
            if (adjoint)
              yp[si * w + sj] += k * xp[i * w + j];
            else
              yp[i * w + j] += k * xp[si * w + sj];
          }
        }
  }
}

void ibx_iba_blur(const float *x, int c, int h, int w, int kernel, float sigma, float *y) {
  blur_apply(x, c, h, w, kernel, sigma, y, 0);
}

void ibx_iba_blur_adjoint(const float *dy, int c, int h, int w, int kernel, float sigma,
                          float *dx) {
  blur_apply(dy, c, h, w, kernel, sigma, dx, 1);
}

/* ---- the bottleneck -------------------------------------------------------- */

typedef enum { MODE_STATS, MODE_BOTTLENECK } iba_mode;

struct ibx_iba {
  ibx_model *m;
  char layer[96];
  ibx_iba_config cfg;
  int dim[3], k, classes, C, H, W, max_batch;
  iba_mode mode;
  int reuse_ok;               /* the model can skip the layers before the bottleneck */
  ibx_welford wf;
  float *mu, *sd;             /* [k] */
  float *alpha, *lam_raw, *lam, *dlam, *dtmp, *adam_m, *adam_v; /* [k] */
  float *noise;               /* [batch * k] N(0,1) of the current step */
  float *eps;                 /* [batch * k] mu + sd * noise */
  const float *r;             /* R of the current forward (sample-major) */
  size_t r_stride;            /* k, or 0 when one R serves every sample */
  float *cap;                 /* [k] capacity (nats) of the last forward */
  float *xb, *dlogits;        /* batch copies of the input, logit gradient */
};

static int icpt_forward(void *ctx, const ibx_tensor *r, ibx_tensor *z) {
  ibx_iba *b = ctx;
  const int n = r->dim[0], k = b->k;
  if (b->mode == MODE_STATS) {
    for (int s = 0; s < n; s++)
      ibx_welford_add(&b->wf, r->data + (size_t)s * k);
    memcpy(z->data, r->data, (size_t)n * k * sizeof(float));
    return IBX_OK;
  }
  /* R of a one-image prefix serves the whole batch (ibx_seq_set_reuse_prefix) */
  const int nz = z->dim[0];
  b->r = r->data, b->r_stride = n == nz ? (size_t)k : 0;
  for (int s = 0; s < nz; s++) {
    const float *rs = r->data + s * b->r_stride, *ns = b->noise + (size_t)s * k;
    float *es = b->eps + (size_t)s * k, *zs = z->data + (size_t)s * k;
    for (int e = 0; e < k; e++) {
      es[e] = b->mu[e] + b->sd[e] * ns[e];
      zs[e] = b->lam[e] * rs[e] + (1.0f - b->lam[e]) * es[e];
    }
  }
  return IBX_OK;
}

/* dZ -> dlambda (summed over the batch); backward stops here. */
static int icpt_backward(void *ctx, ibx_tensor *dz) {
  ibx_iba *b = ctx;
  const int n = dz->dim[0], k = b->k;
  for (int s = 0; s < n; s++) {
    const float *d = dz->data + (size_t)s * k, *rs = b->r + s * b->r_stride;
    const float *es = b->eps + (size_t)s * k;
    for (int e = 0; e < k; e++)
      b->dlam[e] += d[e] * (rs[e] - es[e]);
  }
  return IBX_OK;
}

void ibx_iba_default(ibx_iba_config *c) {
  memset(c, 0, sizeof *c);
  c->beta = 10.0f;
  c->iterations = 10;
  c->batch = 10;
  c->lr = 1.0f;
  c->init_alpha = 5.0f;
  c->blur_kernel = 5;
  c->blur_sigma = 1.0f;
  c->std_floor = 0.01f;
}

int ibx_iba_create(ibx_model *m, const char *layer, const ibx_iba_config *cfg, ibx_iba **out) {
  *out = NULL;
  int index;
  IBX_TRY(ibx_model_find_layer(m, layer, &index));
  if (cfg->iterations < 1 || cfg->batch < 1 || !(cfg->lr > 0.0f) || !(cfg->beta >= 0.0f) ||
      cfg->blur_kernel < 0 || cfg->blur_kernel > 63 || !(cfg->blur_sigma > 0.0f))
    return ibx_fail(IBX_ERR_ARG, "iba: bad configuration (iterations %d, batch %d, lr %g, "
                                 "beta %g, blur %d/%g)",
                    cfg->iterations, cfg->batch, (double)cfg->lr, (double)cfg->beta,
                    cfg->blur_kernel, (double)cfg->blur_sigma);
  const ibx_model_config *mc = ibx_model_config_of(m);
  ibx_iba *b = ibx_calloc(sizeof *b, "iba");
  if (!b)
    return IBX_ERR_NOMEM;
  b->m = m, b->cfg = *cfg;
  snprintf(b->layer, sizeof b->layer, "%s", layer);
  IBX_TRY(ibx_model_layer(m, index, NULL, 0, b->dim));
  b->k = b->dim[0] * b->dim[1] * b->dim[2];
  b->C = mc->in_channels, b->H = mc->in_height, b->W = mc->in_width;
  b->classes = mc->num_classes;
  if (cfg->blur_kernel > 1 && (b->dim[1] <= cfg->blur_kernel / 2 || b->dim[2] <= cfg->blur_kernel / 2)) {
    ibx_free(b);
    return ibx_fail(IBX_ERR_ARG, "iba: layer %s is %dx%d, too small for a %d-wide blur", layer,
                    b->dim[1], b->dim[2], cfg->blur_kernel);
  }
  const size_t k = (size_t)b->k, B = (size_t)cfg->batch;
  float *mem = ibx_calloc((10 * k + 2 * B * k + B * (size_t)b->C * b->H * b->W +
                           B * (size_t)b->classes) * sizeof(float), "iba state");
  int rc = mem ? ibx_welford_init(&b->wf, b->k) : IBX_ERR_NOMEM;
  if (rc) {
    ibx_free(mem), ibx_free(b);
    return rc;
  }
  b->mu = mem, b->sd = b->mu + k, b->alpha = b->sd + k, b->lam_raw = b->alpha + k;
  b->lam = b->lam_raw + k, b->dlam = b->lam + k, b->dtmp = b->dlam + k;
  b->adam_m = b->dtmp + k, b->adam_v = b->adam_m + k, b->cap = b->adam_v + k;
  b->noise = b->cap + k, b->eps = b->noise + B * k, b->xb = b->eps + B * k;
  b->dlogits = b->xb + B * (size_t)b->C * b->H * b->W;
  for (size_t e = 0; e < k; e++)
    b->sd[e] = 1.0f;
  /* frozen weights, batches of 10 on small maps (ibx/model.h) */
  ibx_model_set_param_grads(m, 0);
  ibx_model_set_conv_algo(m, IBX_CONV_IM2COL);
  *out = b;
  return IBX_OK;
}

void ibx_iba_free(ibx_iba *b) {
  if (!b)
    return;
  ibx_welford_free(&b->wf);
  ibx_free(b->mu);
  ibx_free(b);
}

void ibx_iba_shape(const ibx_iba *b, int dim[3]) { memcpy(dim, b->dim, sizeof b->dim); }
long ibx_iba_samples_seen(const ibx_iba *b) { return b->wf.n; }
ibx_welford *ibx_iba_welford(ibx_iba *b) { return &b->wf; }
const float *ibx_iba_mean(const ibx_iba *b) { return b->mu; }
const float *ibx_iba_std(const ibx_iba *b) { return b->sd; }
void ibx_iba_set_beta(ibx_iba *b, float beta) { b->cfg.beta = beta; }
ibx_model *ibx_iba_model(ibx_iba *b) { return b->m; }
const char *ibx_iba_layer(const ibx_iba *b) { return b->layer; }
const ibx_iba_config *ibx_iba_config_of(const ibx_iba *b) { return &b->cfg; }

static int attach(ibx_iba *b, iba_mode mode) {
  b->mode = mode;
  IBX_TRY(ibx_model_set_intercept(b->m, b->layer, icpt_forward, icpt_backward, b, 1));
  /* can the prefix be reused on this model? (a VGG stage; else every step runs it) */
  b->reuse_ok = ibx_model_set_reuse_prefix(b->m, 1) == IBX_OK;
  if (!b->reuse_ok)
    ibx_clear_error();
  return ibx_model_set_reuse_prefix(b->m, 0);
}

static int detach(ibx_iba *b, int rc) {
  ibx_model_set_intercept(b->m, NULL, NULL, NULL, NULL, 0);
  return rc;
}

int ibx_iba_add_samples(ibx_iba *b, const float *x, int n) {
  IBX_TRY(attach(b, MODE_STATS));
  const size_t in_n = (size_t)b->C * b->H * b->W;
  int rc = IBX_OK;
  for (int s = 0; s < n && !rc; s += b->cfg.batch) {
    const int nb = n - s < b->cfg.batch ? n - s : b->cfg.batch;
    rc = ibx_model_forward(b->m, x + (size_t)s * in_n, NULL, nb, 0, 0, NULL, NULL);
  }
  return detach(b, rc);
}

int ibx_iba_finish_stats(ibx_iba *b) {
  if (b->wf.n < 2)
    return ibx_fail(IBX_ERR_ARG, "iba: statistics of layer %s need at least 2 samples, got %ld",
                    b->layer, b->wf.n);
  ibx_welford_result(&b->wf, b->cfg.std_floor, b->mu, b->sd);
  return IBX_OK;
}

int ibx_iba_set_stats(ibx_iba *b, const float *mean, const float *std) {
  for (int e = 0; e < b->k; e++)
    if (!(std[e] > 0.0f) || !isfinite(mean[e]))
      return ibx_fail(IBX_ERR_ARG, "iba: statistics element %d: mean %g, std %g (std must be > 0)",
                      e, (double)mean[e], (double)std[e]);
  memcpy(b->mu, mean, (size_t)b->k * sizeof(float));
  memcpy(b->sd, std, (size_t)b->k * sizeof(float));
  return IBX_OK;
}

static float sigmoid(float a) { return a >= 0.0f ? 1.0f / (1.0f + expf(-a)) : expf(a) / (1.0f + expf(a)); }

/* lambda = blur(sigmoid(alpha)) */
static void make_lambda(ibx_iba *b) {
  for (int e = 0; e < b->k; e++)
    b->lam_raw[e] = sigmoid(b->alpha[e]);
  ibx_iba_blur(b->lam_raw, b->dim[0], b->dim[1], b->dim[2], b->cfg.blur_kernel,
               b->cfg.blur_sigma, b->lam);
}

/* Four N(0,1) draws per Philox call (both Box-Muller outputs of two
 * uniform pairs, in double so the tails are not cut): noise is a fifth of
 * an IBA step's time when drawn one per call. Draw i of step t is a pure
 * function of (seed, t, i). */
static void normals(float *out, size_t n, uint64_t seed, uint64_t first_block) {
  const double two_pi = 6.283185307179586476925, scale = 1.0 / 4294967296.0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t r[4];
    ibx_rng_u32x4(seed, IBA_NOISE_STREAM, first_block + i / 4, r);
    float z[4];
    for (int h = 0; h < 2; h++) {
      const double u1 = ((double)r[2 * h] + 0.5) * scale, u2 = ((double)r[2 * h + 1] + 0.5) * scale;
      const double rad = sqrt(-2.0 * log(u1));
      z[2 * h] = (float)(rad * cos(two_pi * u2));
      z[2 * h + 1] = (float)(rad * sin(two_pi * u2));
    }
    for (size_t j = 0; j < 4 && i + j < n; j++)
      out[i + j] = z[j];
  }
}

static void draw_noise(ibx_iba *b, int step, int n, uint64_t seed) {
  const size_t kn = (size_t)n * b->k;
  if (b->cfg.noise)
    memcpy(b->noise, b->cfg.noise + (size_t)step * kn, kn * sizeof(float));
  else
    normals(b->noise, kn, seed, (uint64_t)step * ((kn + 3) / 4));
}

int ibx_iba_forward_alpha(ibx_iba *b, const float *x, int n, float alpha, uint64_t seed,
                          float *logits) {
  if (n < 1 || n > b->cfg.batch)
    return ibx_fail(IBX_ERR_ARG, "iba: %d inputs outside 1..%d", n, b->cfg.batch);
  for (int e = 0; e < b->k; e++)
    b->alpha[e] = alpha;
  make_lambda(b);
  ibx_iba_config saved = b->cfg;
  b->cfg.noise = NULL;
  draw_noise(b, 0, n, seed);
  b->cfg = saved;
  IBX_TRY(attach(b, MODE_BOTTLENECK));
  ibx_tensor lg;
  int rc = ibx_model_forward(b->m, x, NULL, n, 0, 0, NULL, &lg);
  if (!rc)
    memcpy(logits, lg.data, (size_t)n * b->classes * sizeof(float));
  return detach(b, rc);
}

/* d(mean CE over the batch)/dlogits for the target class. */
static void ce_grad(const float *logits, int n, int classes, int target, float *d) {
  for (int s = 0; s < n; s++) {
    const float *l = logits + (size_t)s * classes;
    float mx = l[0], sum = 0.0f;
    for (int c = 1; c < classes; c++)
      mx = l[c] > mx ? l[c] : mx;
    for (int c = 0; c < classes; c++)
      sum += expf(l[c] - mx);
    for (int c = 0; c < classes; c++)
      d[s * classes + c] = (expf(l[c] - mx) / sum - (c == target)) / (float)n;
  }
}

static int optimise(ibx_iba *b, const float *x, int target) {
  const int B = b->cfg.batch, k = b->k;
  const size_t in_n = (size_t)b->C * b->H * b->W;
  for (int s = 0; s < B; s++)
    memcpy(b->xb + s * in_n, x, in_n * sizeof(float));
  for (int e = 0; e < k; e++)
    b->alpha[e] = b->cfg.init_alpha, b->adam_m[e] = b->adam_v[e] = 0.0f;
  const ibx_adam adam = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}; /* torch's defaults */
  const float wcap = b->cfg.beta / (float)k;
  /* R is the same in every step and for every noise draw: compute the
   * layers before the bottleneck once, for the one image */
  if (b->reuse_ok) {
    make_lambda(b);
    draw_noise(b, 0, 1, b->cfg.seed);
    IBX_TRY(ibx_model_forward(b->m, x, NULL, 1, 0, 0, NULL, NULL));
    IBX_TRY(ibx_model_set_reuse_prefix(b->m, 1));
  }
  for (int step = 0; step < b->cfg.iterations; step++) {
    make_lambda(b);
    draw_noise(b, step, B, b->cfg.seed);
    ibx_tensor lg;
    IBX_TRY(ibx_model_forward(b->m, b->xb, NULL, B, 0, 0, NULL, &lg));
    ce_grad(lg.data, B, b->classes, target, b->dlogits);
    memset(b->dlam, 0, (size_t)k * sizeof(float));
    IBX_TRY(ibx_model_backward_from_logits(b->m, b->dlogits, NULL));
    for (int e = 0; e < k; e++) {
      const float rn = (b->r[e] - b->mu[e]) / b->sd[e]; /* every sample has the same R */
      b->cap[e] = ibx_iba_capacity(b->lam[e], rn);
      b->dlam[e] += wcap * ibx_iba_capacity_dlambda(b->lam[e], rn);
    }
    ibx_iba_blur_adjoint(b->dlam, b->dim[0], b->dim[1], b->dim[2], b->cfg.blur_kernel,
                         b->cfg.blur_sigma, b->dtmp);
    for (int e = 0; e < k; e++) /* d/dalpha through the sigmoid, in place */
      b->dtmp[e] *= b->lam_raw[e] * (1.0f - b->lam_raw[e]);
    IBX_TRY(ibx_adam_step(&adam, (float)b->cfg.lr, b->alpha, b->dtmp, b->adam_m, b->adam_v,
                          (size_t)k, step));
  }
  return IBX_OK;
}

int ibx_iba_heatmap(ibx_iba *b, const float *x, int target, float *heat, float *capacity) {
  if (target < 0 || target >= b->classes)
    return ibx_fail(IBX_ERR_ARG, "iba: target %d outside 0..%d", target, b->classes - 1);
  IBX_TRY(attach(b, MODE_BOTTLENECK));
  int rc = optimise(b, x, target);
  rc = detach(b, rc);
  if (rc)
    return rc;
  const int c = b->dim[0], h = b->dim[1], w = b->dim[2];
  float *map = b->dtmp; /* [h*w] capacity in bits */
  const float inv_ln2 = (float)(1.0 / log(2.0));
  for (int p = 0; p < h * w; p++) {
    float sum = 0.0f;
    for (int ch = 0; ch < c; ch++)
      sum += b->cap[(size_t)ch * h * w + p];
    map[p] = sum * inv_ln2;
  }
  if (capacity)
    memcpy(capacity, map, (size_t)h * w * sizeof(float));
  if (heat) {
    ibx_tensor src = ibx_t4(map, 1, 1, h, w), dst = ibx_t4(heat, 1, 1, b->H, b->W);
    IBX_TRY(ibx_bilinear_forward(0, &src, &dst));
  }
  return IBX_OK;
}
