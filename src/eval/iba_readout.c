/* Readout bottleneck (include/ibx/iba.h): a 1x1-convolution network on
 * normalised, resized feature maps predicts alpha per image; it is trained
 * with the per-sample bottleneck's loss through the frozen classifier. The
 * bottleneck here has one lambda per sample, so it has its own intercept
 * callbacks; statistics, blur and capacity are the per-sample IBA's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/iba.h"
#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/optim.h"
#include "ibx/rng.h"
#include "ibx/sequential.h"

#define READOUT_NOISE_STREAM 0x52444f4eULL /* "RDON" */
#define MAX_FEATURES 8

struct ibx_readout {
  ibx_iba *iba;
  ibx_model *m;
  ibx_iba_config cfg;
  int dim[3], k, B, in_n, classes, H, W;
  int nf, fc[MAX_FEATURES], ctot;
  char feat[MAX_FEATURES][96];
  double *sum, *sumsq; /* per feature channel */
  long norm_n;
  float *fstd;         /* [ctot] */
  ibx_seq *net;
  ibx_params P, Pbuf;
  float *adam_m, *adam_v;
  long step;
  float *xr, *alpha, *lam_raw, *lam, *dlam, *tmp, *noise, *eps, *dlogits, *cap;
  const float *r; /* R of the bottleneck forward */
};

static int ro_forward(void *ctx, const ibx_tensor *r, ibx_tensor *z) {
  ibx_readout *o = ctx;
  const size_t n = (size_t)r->dim[0] * o->k;
  const float *mu = ibx_iba_mean(o->iba), *sd = ibx_iba_std(o->iba);
  o->r = r->data;
  for (size_t i = 0; i < n; i++) {
    const size_t e = i % (size_t)o->k;
    o->eps[i] = mu[e] + sd[e] * o->noise[i];
    z->data[i] = o->lam[i] * r->data[i] + (1.0f - o->lam[i]) * o->eps[i];
  }
  return IBX_OK;
}

static int ro_backward(void *ctx, ibx_tensor *dz) {
  ibx_readout *o = ctx;
  const size_t n = (size_t)dz->dim[0] * o->k;
  for (size_t i = 0; i < n; i++)
    o->dlam[i] = dz->data[i] * (o->r[i] - o->eps[i]);
  return IBX_OK;
}

int ibx_readout_create(ibx_iba *b, const char *const *feature_layers, int n_layers, int hidden,
                       ibx_readout **out) {
  *out = NULL;
  if (n_layers < 1 || n_layers > MAX_FEATURES || hidden < 1)
    return ibx_fail(IBX_ERR_ARG, "readout: 1..%d feature layers and hidden > 0 needed", MAX_FEATURES);
  ibx_readout *o = ibx_calloc(sizeof *o, "readout");
  if (!o)
    return IBX_ERR_NOMEM;
  o->iba = b, o->m = ibx_iba_model(b), o->cfg = *ibx_iba_config_of(b);
  ibx_iba_shape(b, o->dim);
  o->k = o->dim[0] * o->dim[1] * o->dim[2], o->B = o->cfg.batch;
  const ibx_model_config *mc = ibx_model_config_of(o->m);
  o->H = mc->in_height, o->W = mc->in_width, o->classes = mc->num_classes;
  o->in_n = mc->in_channels * o->H * o->W;
  int rc = IBX_OK;
  for (int i = 0; i < n_layers && !rc; i++) {
    int idx, d[3];
    rc = ibx_model_find_layer(o->m, feature_layers[i], &idx);
    if (!rc)
      rc = ibx_model_layer(o->m, idx, o->feat[i], sizeof o->feat[i], d);
    o->fc[i] = d[0], o->ctot += d[0], o->nf++;
  }
  ibx_params_init(&o->P, 1);
  ibx_params_init(&o->Pbuf, 0);
  if (!rc)
    rc = ibx_seq_create(o->ctot, o->dim[1], o->dim[2], &o->net);
  if (!rc)
    rc = ibx_seq_add_conv(o->net, hidden, 1, 1, 0, 1);
  if (!rc)
    rc = ibx_seq_add_relu(o->net);
  if (!rc)
    rc = ibx_seq_add_conv(o->net, hidden, 1, 1, 0, 1);
  if (!rc)
    rc = ibx_seq_add_relu(o->net);
  if (!rc)
    rc = ibx_seq_add_conv(o->net, o->dim[0], 1, 1, 0, 1);
  if (!rc)
    rc = ibx_seq_declare(o->net, "readout", &o->P, &o->Pbuf);
  if (!rc)
    rc = ibx_params_allocate(&o->P);
  if (!rc)
    rc = ibx_seq_bind(o->net, &o->P, &o->Pbuf, o->B);
  const size_t Bk = (size_t)o->B * o->k, xr_n = (size_t)o->B * o->ctot * o->dim[1] * o->dim[2];
  float *mem = NULL;
  if (!rc) {
    o->sum = ibx_calloc(2 * (size_t)o->ctot * sizeof(double), "readout norm");
    mem = ibx_calloc((xr_n + 8 * Bk + (size_t)o->B * o->classes + (size_t)o->ctot +
                      2 * o->P.total) * sizeof(float), "readout state");
    if (!o->sum || !mem)
      rc = IBX_ERR_NOMEM;
  }
  if (rc) {
    ibx_free(mem);
    ibx_readout_free(o);
    return rc;
  }
  o->sumsq = o->sum + o->ctot;
  o->xr = mem, o->alpha = o->xr + xr_n, o->lam_raw = o->alpha + Bk, o->lam = o->lam_raw + Bk;
  o->dlam = o->lam + Bk, o->tmp = o->dlam + Bk, o->noise = o->tmp + Bk, o->eps = o->noise + Bk;
  o->cap = o->eps + Bk, o->dlogits = o->cap + Bk, o->fstd = o->dlogits + (size_t)o->B * o->classes;
  o->adam_m = o->fstd + o->ctot, o->adam_v = o->adam_m + o->P.total;
  for (int c = 0; c < o->ctot; c++)
    o->fstd[c] = 1.0f;
  ibx_seq_init(o->net, o->cfg.seed ^ 0x524541444f5554ULL);
  /* last layer: weight 0, bias init_alpha -> the per-sample initial mask */
  const int wl = ibx_params_find(&o->P, "readout.4.weight"), bl = ibx_params_find(&o->P, "readout.4.bias");
  ibx_tensor w = ibx_params_value(&o->P, wl), bias = ibx_params_value(&o->P, bl);
  memset(w.data, 0, (size_t)ibx_numel(&w) * sizeof(float));
  for (int c = 0; c < o->dim[0]; c++)
    bias.data[c] = o->cfg.init_alpha;
  *out = o;
  return IBX_OK;
}

void ibx_readout_free(ibx_readout *o) {
  if (!o)
    return;
  ibx_seq_free(o->net);
  ibx_params_free(&o->P);
  ibx_params_free(&o->Pbuf);
  ibx_free(o->sum);
  ibx_free(o->xr);
  ibx_free(o);
}

float *ibx_readout_values(ibx_readout *o, size_t *n) {
  *n = o->P.total;
  return o->P.values;
}

float *ibx_readout_feature_std(ibx_readout *o, int *n) {
  *n = o->ctot;
  return o->fstd;
}

/* Plain forward of n inputs; xr <- the concatenated, normalised, resized
 * feature maps. */
static int readout_input(ibx_readout *o, const float *x, int n) {
  IBX_TRY(ibx_model_forward(o->m, x, NULL, n, 0, 0, NULL, NULL));
  const int h = o->dim[1], w = o->dim[2];
  int c0 = 0;
  for (int f = 0; f < o->nf; f++) {
    ibx_tensor t;
    IBX_TRY(ibx_model_layer_output(o->m, o->feat[f], &t));
    for (int s = 0; s < n; s++) {
      ibx_tensor src = ibx_t4(t.data + (size_t)s * o->fc[f] * t.dim[2] * t.dim[3], 1, o->fc[f],
                              t.dim[2], t.dim[3]);
      float *dst_data = o->xr + ((size_t)s * o->ctot + c0) * h * w;
      ibx_tensor dst = ibx_t4(dst_data, 1, o->fc[f], h, w);
      IBX_TRY(ibx_bilinear_forward(0, &src, &dst));
      for (int c = 0; c < o->fc[f]; c++)
        for (int p = 0; p < h * w; p++)
          dst_data[(size_t)c * h * w + p] /= o->fstd[c0 + c];
    }
    c0 += o->fc[f];
  }
  return IBX_OK;
}

int ibx_readout_add_norm_samples(ibx_readout *o, const float *x, int n) {
  for (int s0 = 0; s0 < n; s0 += o->B) {
    const int nb = n - s0 < o->B ? n - s0 : o->B;
    IBX_TRY(ibx_model_forward(o->m, x + (size_t)s0 * o->in_n, NULL, nb, 0, 0, NULL, NULL));
    int c0 = 0;
    for (int f = 0; f < o->nf; f++) {
      ibx_tensor t;
      IBX_TRY(ibx_model_layer_output(o->m, o->feat[f], &t));
      const size_t P = (size_t)t.dim[2] * t.dim[3];
      for (int s = 0; s < nb; s++)
        for (int c = 0; c < o->fc[f]; c++)
          for (size_t p = 0; p < P; p++) {
            const double v = t.data[((size_t)s * o->fc[f] + c) * P + p];
            o->sum[c0 + c] += v, o->sumsq[c0 + c] += v * v;
          }
      c0 += o->fc[f];
    }
    o->norm_n += nb;
  }
  /* per channel over every pixel of every sample seen so far */
  int c0 = 0;
  for (int f = 0; f < o->nf; f++) {
    int idx, d[3];
    IBX_TRY(ibx_model_find_layer(o->m, o->feat[f], &idx));
    IBX_TRY(ibx_model_layer(o->m, idx, NULL, 0, d));
    const double cnt = (double)o->norm_n * d[1] * d[2];
    for (int c = c0; c < c0 + o->fc[f]; c++) {
      const double mean = o->sum[c] / cnt, var = o->sumsq[c] / cnt - mean * mean;
      o->fstd[c] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    c0 += o->fc[f];
  }
  return IBX_OK;
}

static float sigm(float a) { return a >= 0.0f ? 1.0f / (1.0f + expf(-a)) : expf(a) / (1.0f + expf(a)); }

/* alpha = net(xr) for n samples; lam = blur(sigmoid(alpha)) per sample. */
static int predict_lambda(ibx_readout *o, int n) {
  ibx_tensor a;
  IBX_TRY(ibx_seq_forward(o->net, o->xr, n, 0, 0, &a));
  const size_t nk = (size_t)n * o->k;
  memcpy(o->alpha, a.data, nk * sizeof(float));
  for (size_t i = 0; i < nk; i++)
    o->lam_raw[i] = sigm(o->alpha[i]);
  for (int s = 0; s < n; s++)
    ibx_iba_blur(o->lam_raw + (size_t)s * o->k, o->dim[0], o->dim[1], o->dim[2],
                 o->cfg.blur_kernel, o->cfg.blur_sigma, o->lam + (size_t)s * o->k);
  return IBX_OK;
}

static int train_step(ibx_readout *o, const float *x, const int *labels, int n, float lr,
                      float *loss) {
  IBX_TRY(readout_input(o, x, n));
  IBX_TRY(predict_lambda(o, n));
  const size_t nk = (size_t)n * o->k;
  ibx_rng_fill_normal(o->noise, nk, o->cfg.seed, READOUT_NOISE_STREAM, (uint64_t)o->step * o->B * o->k);
  IBX_TRY(ibx_model_set_intercept(o->m, ibx_iba_layer(o->iba), ro_forward, ro_backward, o, 1));
  /* the layers before the bottleneck are those of the feature pass */
  if (ibx_model_set_reuse_prefix(o->m, 1))
    ibx_clear_error();
  ibx_tensor lg;
  IBX_TRY(ibx_model_forward(o->m, x, NULL, n, 0, 0, NULL, &lg));
  double ce = 0.0, capsum = 0.0;
  for (int s = 0; s < n; s++) {
    const float *l = lg.data + (size_t)s * o->classes;
    float mx = l[0], sum = 0.0f;
    for (int c = 1; c < o->classes; c++)
      mx = l[c] > mx ? l[c] : mx;
    for (int c = 0; c < o->classes; c++)
      sum += expf(l[c] - mx);
    ce += -(l[labels[s]] - mx - logf(sum)) / n;
    for (int c = 0; c < o->classes; c++)
      o->dlogits[s * o->classes + c] = (expf(l[c] - mx) / sum - (c == labels[s])) / (float)n;
  }
  IBX_TRY(ibx_model_backward_from_logits(o->m, o->dlogits, NULL));
  const float *mu = ibx_iba_mean(o->iba), *sd = ibx_iba_std(o->iba);
  const float wcap = o->cfg.beta / ((float)o->k * n);
  for (size_t i = 0; i < nk; i++) {
    const size_t e = i % (size_t)o->k;
    const float rn = (o->r[i] - mu[e]) / sd[e];
    capsum += ibx_iba_capacity(o->lam[i], rn);
    o->dlam[i] += wcap * ibx_iba_capacity_dlambda(o->lam[i], rn);
  }
  if (loss)
    *loss = (float)(ce + o->cfg.beta * capsum / (double)nk);
  for (int s = 0; s < n; s++)
    ibx_iba_blur_adjoint(o->dlam + (size_t)s * o->k, o->dim[0], o->dim[1], o->dim[2],
                         o->cfg.blur_kernel, o->cfg.blur_sigma, o->tmp + (size_t)s * o->k);
  for (size_t i = 0; i < nk; i++)
    o->tmp[i] *= o->lam_raw[i] * (1.0f - o->lam_raw[i]);
  ibx_params_zero_grads(&o->P);
  IBX_TRY(ibx_seq_backward(o->net, o->tmp, NULL));
  const ibx_adam adam = {0.9f, 0.999f, 1e-8f, 0.0f, 0};
  IBX_TRY(ibx_adam_step(&adam, lr, o->P.values, o->P.grads, o->adam_m, o->adam_v, o->P.total,
                        o->step));
  o->step++;
  return IBX_OK;
}

int ibx_readout_train_step(ibx_readout *o, const float *x, const int *labels, int n, float lr,
                           float *loss) {
  if (n < 1 || n > o->B)
    return ibx_fail(IBX_ERR_ARG, "readout: batch %d outside 1..%d", n, o->B);
  for (int s = 0; s < n; s++)
    if (labels[s] < 0 || labels[s] >= o->classes)
      return ibx_fail(IBX_ERR_ARG, "readout: label %d outside 0..%d", labels[s], o->classes - 1);
  const int rc = train_step(o, x, labels, n, lr, loss);
  ibx_model_set_intercept(o->m, NULL, NULL, NULL, NULL, 0);
  return rc;
}

int ibx_readout_heatmap(ibx_readout *o, const float *x, float *heat, float *capacity) {
  IBX_TRY(readout_input(o, x, 1));
  IBX_TRY(predict_lambda(o, 1));
  ibx_tensor R;
  IBX_TRY(ibx_model_layer_output(o->m, ibx_iba_layer(o->iba), &R));
  const float *mu = ibx_iba_mean(o->iba), *sd = ibx_iba_std(o->iba);
  const int c = o->dim[0], hw = o->dim[1] * o->dim[2];
  for (int p = 0; p < hw; p++) {
    double sum = 0.0;
    for (int ch = 0; ch < c; ch++) {
      const int e = ch * hw + p;
      sum += ibx_iba_capacity(o->lam[e], (R.data[e] - mu[e]) / sd[e]);
    }
    o->cap[p] = (float)(sum / log(2.0));
  }
  if (capacity)
    memcpy(capacity, o->cap, (size_t)hw * sizeof(float));
  if (heat) {
    ibx_tensor src = ibx_t4(o->cap, 1, 1, o->dim[1], o->dim[2]), dst = ibx_t4(heat, 1, 1, o->H, o->W);
    IBX_TRY(ibx_bilinear_forward(0, &src, &dst));
  }
  return IBX_OK;
}
