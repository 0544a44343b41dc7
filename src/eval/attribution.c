/* Attribution methods (include/ibx/attribution.h): one table of methods, all
 * built on three primitives -- the input gradient of the target logit (with
 * or without the guided ReLU rule), the target probability of a batch, and a
 * layer intercept (Grad-CAM's activations and their gradients). */
#include "ibx/attribution.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/attrib_metrics.h"
#include "ibx/error.h"
#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/rng.h"

#define RANDOM_STREAM 0x52414e44ULL     /* "RAND" */
#define SMOOTHGRAD_STREAM 0x534d4f4fULL /* "SMOO" */

typedef enum {
  M_RANDOM, M_GRADIENT, M_SALIENCY, M_GXI, M_IG, M_SMOOTHGRAD, M_GUIDED, M_GRADCAM,
  M_GUIDED_GRADCAM, M_OCC8, M_OCC14, M_IBA1, M_IBA10, M_IBA100, M_READOUT, M_COUNT
} method_id;

static const char *const names[M_COUNT] = {
    "random", "gradient", "saliency", "grad_x_input", "integrated_gradients", "smoothgrad",
    "guided_backprop", "gradcam", "guided_gradcam", "occlusion_8", "occlusion_14",
    "iba_per_sample_beta1", "iba_per_sample_beta10", "iba_per_sample_beta100", "iba_readout"};

struct ibx_attributor {
  ibx_model *m;
  ibx_attr_config cfg;
  char gradcam_layer[96], iba_layer[96];
  int C, H, W, classes, B;
  size_t in_n;
  ibx_iba *iba;
  ibx_readout *readout; /* set by ibx_attributor_set_readout (not owned) */
  float *xb, *gb, *acc, *tmp, *dlogits, *probs; /* scratch */
  /* Grad-CAM intercept: activations and gradients of sample 0 */
  int cam_dim[3];
  float *cam_a, *cam_g;
};

void ibx_attr_default(ibx_attr_config *c) {
  memset(c, 0, sizeof *c);
  c->gradcam_layer = "features.42";
  c->iba_layer = "features.22";
  c->ig_steps = 50;
  c->smoothgrad_samples = 50;
  c->smoothgrad_noise = 0.15f;
  c->batch = 10;
  ibx_iba_default(&c->iba);
}

int ibx_attr_method_count(void) { return M_COUNT; }

const char *ibx_attr_method_name(int method) {
  return method >= 0 && method < M_COUNT ? names[method] : NULL;
}

int ibx_attr_find(const char *name, int *method) {
  for (int i = 0; i < M_COUNT; i++)
    if (!strcmp(names[i], name)) {
      *method = i;
      return IBX_OK;
    }
  return ibx_fail(IBX_ERR_ARG,
                  "attribute: unknown method '%.64s' (random, gradient, saliency, grad_x_input, "
                  "integrated_gradients, smoothgrad, guided_backprop, gradcam, guided_gradcam, "
                  "occlusion_8, occlusion_14, iba_per_sample_beta1/10/100, iba_readout)",
                  name);
}

int ibx_attr_needs_iba(int method) { return method >= M_IBA1 && method <= M_READOUT; }

int ibx_attr_is_readout(int method) { return method == M_READOUT; }

void ibx_attributor_set_readout(ibx_attributor *a, ibx_readout *r) { a->readout = r; }

int ibx_attributor_create(ibx_model *m, const ibx_attr_config *cfg, ibx_attributor **out) {
  *out = NULL;
  if (cfg->batch < 1 || cfg->ig_steps < 1 || cfg->smoothgrad_samples < 1 ||
      !(cfg->smoothgrad_noise >= 0.0f))
    return ibx_fail(IBX_ERR_ARG, "attribute: bad configuration (batch %d, ig steps %d, "
                                 "smoothgrad samples %d)",
                    cfg->batch, cfg->ig_steps, cfg->smoothgrad_samples);
  const ibx_model_config *mc = ibx_model_config_of(m);
  ibx_attributor *a = ibx_calloc(sizeof *a, "attributor");
  if (!a)
    return IBX_ERR_NOMEM;
  a->m = m, a->cfg = *cfg;
  snprintf(a->gradcam_layer, sizeof a->gradcam_layer, "%s", cfg->gradcam_layer);
  snprintf(a->iba_layer, sizeof a->iba_layer, "%s", cfg->iba_layer);
  a->C = mc->in_channels, a->H = mc->in_height, a->W = mc->in_width;
  a->classes = mc->num_classes, a->B = cfg->batch;
  a->in_n = (size_t)a->C * a->H * a->W;
  int idx, rc = ibx_model_find_layer(m, a->gradcam_layer, &idx);
  if (!rc)
    rc = ibx_model_layer(m, idx, NULL, 0, a->cam_dim);
  if (!rc) /* also makes m an attribution model (ibx/iba.h) */
    rc = ibx_iba_create(m, a->iba_layer, &cfg->iba, &a->iba);
  const size_t B = (size_t)a->B, cam = (size_t)a->cam_dim[0] * a->cam_dim[1] * a->cam_dim[2];
  if (!rc) {
    a->xb = ibx_alloc((4 * B * a->in_n + 2 * B * a->classes + 2 * cam) * sizeof(float),
                      "attribution scratch");
    if (!a->xb)
      rc = IBX_ERR_NOMEM;
  }
  if (rc) {
    ibx_attributor_free(a);
    return rc;
  }
  a->gb = a->xb + B * a->in_n, a->acc = a->gb + B * a->in_n, a->tmp = a->acc + B * a->in_n;
  a->dlogits = a->tmp + B * a->in_n, a->probs = a->dlogits + B * a->classes;
  a->cam_a = a->probs + B * a->classes, a->cam_g = a->cam_a + cam;
  *out = a;
  return IBX_OK;
}

void ibx_attributor_free(ibx_attributor *a) {
  if (!a)
    return;
  ibx_iba_free(a->iba);
  ibx_free(a->xb);
  ibx_free(a);
}

ibx_iba *ibx_attributor_iba(ibx_attributor *a) { return a->iba; }

/* ---- primitives --------------------------------------------------------- */

int ibx_attr_input_grad(ibx_attributor *a, const float *x, int n, int target, float *dx,
                        float *s) {
  for (int k = 0; k < n; k += a->B) {
    const int nb = n - k < a->B ? n - k : a->B;
    ibx_tensor lg;
    IBX_TRY(ibx_model_forward(a->m, x + (size_t)k * a->in_n, NULL, nb, 0, 0, NULL, &lg));
    memset(a->dlogits, 0, (size_t)nb * a->classes * sizeof(float));
    for (int i = 0; i < nb; i++) {
      a->dlogits[i * a->classes + target] = 1.0f;
      if (s)
        s[k + i] = lg.data[i * a->classes + target];
    }
    IBX_TRY(ibx_model_backward_from_logits(a->m, a->dlogits, dx + (size_t)k * a->in_n));
  }
  return IBX_OK;
}

int ibx_attr_target_prob(ibx_model *m, const float *x, int n, int target, float *p) {
  ibx_tensor lg;
  IBX_TRY(ibx_model_forward(m, x, NULL, n, 0, 0, NULL, &lg));
  const int K = lg.dim[1];
  for (int i = 0; i < n; i++) {
    const float *l = lg.data + (size_t)i * K;
    float mx = l[0], sum = 0.0f;
    for (int c = 1; c < K; c++)
      mx = l[c] > mx ? l[c] : mx;
    for (int c = 0; c < K; c++)
      sum += expf(l[c] - mx);
    p[i] = expf(l[target] - mx) / sum;
  }
  return IBX_OK;
}

/* heat[p] = sum_c v[c,p] (abs: |v|) or max_c |v[c,p]| (max) */
static void reduce_channels(const ibx_attributor *a, const float *v, int abs_sum, int max_abs,
                            float *heat) {
  const size_t P = (size_t)a->H * a->W;
  for (size_t p = 0; p < P; p++) {
    float r = 0.0f;
    for (int c = 0; c < a->C; c++) {
      const float e = v[c * P + p];
      if (max_abs)
        r = fmaxf(r, fabsf(e));
      else
        r += abs_sum ? fabsf(e) : e;
    }
    heat[p] = r;
  }
}

/* ---- methods -------------------------------------------------------------- */

static int m_random(ibx_attributor *a, long id, float *heat) {
  const size_t P = (size_t)a->H * a->W;
  ibx_rng_fill_uniform(heat, P, a->cfg.seed, RANDOM_STREAM, (uint64_t)id * P);
  return IBX_OK;
}

static int m_gradient(ibx_attributor *a, const float *x, int target, int kind, float *heat) {
  IBX_TRY(ibx_attr_input_grad(a, x, 1, target, a->gb, NULL));
  if (kind == M_GXI)
    for (size_t i = 0; i < a->in_n; i++)
      a->gb[i] *= x[i];
  reduce_channels(a, a->gb, 0, kind == M_SALIENCY, heat);
  return IBX_OK;
}

/* Right Riemann sum of the path integral from the baseline 0. */
static int m_integrated(ibx_attributor *a, const float *x, int target, float *heat) {
  const int steps = a->cfg.ig_steps;
  memset(a->acc, 0, a->in_n * sizeof(float));
  for (int k0 = 0; k0 < steps; k0 += a->B) {
    const int nb = steps - k0 < a->B ? steps - k0 : a->B;
    for (int i = 0; i < nb; i++) {
      const float t = (float)(k0 + i + 1) / (float)steps;
      for (size_t e = 0; e < a->in_n; e++)
        a->xb[i * a->in_n + e] = t * x[e];
    }
    IBX_TRY(ibx_attr_input_grad(a, a->xb, nb, target, a->gb, NULL));
    for (int i = 0; i < nb; i++)
      for (size_t e = 0; e < a->in_n; e++)
        a->acc[e] += a->gb[i * a->in_n + e];
  }
  for (size_t e = 0; e < a->in_n; e++)
    a->acc[e] *= x[e] / (float)steps;
  reduce_channels(a, a->acc, 0, 0, heat);
  return IBX_OK;
}

static int m_smoothgrad(ibx_attributor *a, const float *x, int target, long id, float *heat) {
  float lo = x[0], hi = x[0];
  for (size_t e = 1; e < a->in_n; e++)
    lo = fminf(lo, x[e]), hi = fmaxf(hi, x[e]);
  const float sigma = a->cfg.smoothgrad_noise * (hi - lo);
  const int n = a->cfg.smoothgrad_samples;
  memset(a->acc, 0, a->in_n * sizeof(float));
  for (int k0 = 0; k0 < n; k0 += a->B) {
    const int nb = n - k0 < a->B ? n - k0 : a->B;
    ibx_rng_fill_normal(a->xb, (size_t)nb * a->in_n, a->cfg.seed, SMOOTHGRAD_STREAM,
                        ((uint64_t)id * n + k0) * a->in_n);
    for (int i = 0; i < nb; i++)
      for (size_t e = 0; e < a->in_n; e++)
        a->xb[i * a->in_n + e] = x[e] + sigma * a->xb[i * a->in_n + e];
    IBX_TRY(ibx_attr_input_grad(a, a->xb, nb, target, a->gb, NULL));
    for (int i = 0; i < nb; i++)
      for (size_t e = 0; e < a->in_n; e++)
        a->acc[e] += a->gb[i * a->in_n + e] / (float)n;
  }
  reduce_channels(a, a->acc, 1, 0, heat);
  return IBX_OK;
}

static int m_guided(ibx_attributor *a, const float *x, int target, float *heat) {
  ibx_model_set_guided_relu(a->m, 1);
  const int rc = ibx_attr_input_grad(a, x, 1, target, a->gb, NULL);
  ibx_model_set_guided_relu(a->m, 0);
  IBX_TRY(rc);
  reduce_channels(a, a->gb, 1, 0, heat);
  return IBX_OK;
}

static int cam_forward(void *ctx, const ibx_tensor *r, ibx_tensor *z) {
  ibx_attributor *a = ctx;
  const size_t n = (size_t)ibx_numel(r);
  memcpy(z->data, r->data, n * sizeof(float));
  memcpy(a->cam_a, r->data, (n / (size_t)r->dim[0]) * sizeof(float));
  return IBX_OK;
}

static int cam_backward(void *ctx, ibx_tensor *dz) {
  ibx_attributor *a = ctx;
  memcpy(a->cam_g, dz->data, (size_t)(ibx_numel(dz) / dz->dim[0]) * sizeof(float));
  return IBX_OK;
}

static int m_gradcam(ibx_attributor *a, const float *x, int target, float *heat) {
  IBX_TRY(ibx_model_set_intercept(a->m, a->gradcam_layer, cam_forward, cam_backward, a, 1));
  int rc = ibx_attr_input_grad(a, x, 1, target, a->gb, NULL);
  ibx_model_set_intercept(a->m, NULL, NULL, NULL, NULL, 0);
  IBX_TRY(rc);
  const int K = a->cam_dim[0], P = a->cam_dim[1] * a->cam_dim[2];
  float *cam = a->tmp;
  memset(cam, 0, (size_t)P * sizeof(float));
  for (int k = 0; k < K; k++) {
    float w = 0.0f;
    for (int p = 0; p < P; p++)
      w += a->cam_g[k * P + p];
    w /= (float)P;
    for (int p = 0; p < P; p++)
      cam[p] += w * a->cam_a[k * P + p];
  }
  for (int p = 0; p < P; p++)
    cam[p] = cam[p] > 0.0f ? cam[p] : 0.0f;
  ibx_tensor src = ibx_t4(cam, 1, 1, a->cam_dim[1], a->cam_dim[2]);
  ibx_tensor dst = ibx_t4(heat, 1, 1, a->H, a->W);
  return ibx_bilinear_forward(0, &src, &dst);
}

static int m_guided_gradcam(ibx_attributor *a, const float *x, int target, float *heat) {
  const size_t P = (size_t)a->H * a->W;
  float *cam = a->acc; /* m_gradcam uses tmp, m_guided gb */
  IBX_TRY(m_gradcam(a, x, target, cam));
  IBX_TRY(m_guided(a, x, target, heat));
  for (size_t p = 0; p < P; p++)
    heat[p] *= cam[p];
  return IBX_OK;
}


static void channel_means(const ibx_attributor *a, const float *x, float *mean) {
  const size_t P = (size_t)a->H * a->W;
  for (int c = 0; c < a->C; c++) {
    double s = 0.0;
    for (size_t p = 0; p < P; p++)
      s += x[c * P + p];
    mean[c] = (float)(s / (double)P);
  }
}

static int m_occlusion(ibx_attributor *a, const float *x, int target, int ref, float *heat) {
  const int w = ibx_scaled_tile(ref, a->H < a->W ? a->H : a->W);
  const int gy = (a->H + w - 1) / w, gx = (a->W + w - 1) / w, n = gy * gx;
  const size_t P = (size_t)a->H * a->W;
  float mean[8], p0;
  if (a->C > 8)
    return ibx_fail(IBX_ERR_ARG, "attribute: occlusion supports up to 8 channels");
  channel_means(a, x, mean);
  IBX_TRY(ibx_attr_target_prob(a->m, x, 1, target, &p0));
  for (int k0 = 0; k0 < n; k0 += a->B) {
    const int nb = n - k0 < a->B ? n - k0 : a->B;
    for (int i = 0; i < nb; i++) {
      float *xi = a->xb + i * a->in_n;
      memcpy(xi, x, a->in_n * sizeof(float));
      const int ty = (k0 + i) / gx, tx = (k0 + i) % gx;
      for (int c = 0; c < a->C; c++)
        for (int yy = ty * w; yy < ty * w + w && yy < a->H; yy++)
          for (int xx = tx * w; xx < tx * w + w && xx < a->W; xx++)
            xi[c * P + (size_t)yy * a->W + xx] = mean[c];
    }
    IBX_TRY(ibx_attr_target_prob(a->m, a->xb, nb, target, a->probs));
    for (int i = 0; i < nb; i++) {
      const int ty = (k0 + i) / gx, tx = (k0 + i) % gx;
      for (int yy = ty * w; yy < ty * w + w && yy < a->H; yy++)
        for (int xx = tx * w; xx < tx * w + w && xx < a->W; xx++)
          heat[(size_t)yy * a->W + xx] = p0 - a->probs[i];
    }
  }
  return IBX_OK;
}

static int m_iba(ibx_attributor *a, const float *x, int target, float beta, float *heat) {
  ibx_iba_set_beta(a->iba, beta);
  return ibx_iba_heatmap(a->iba, x, target, heat, NULL);
}

int ibx_attribute(ibx_attributor *a, int method, const float *x, int target, long image_id,
                  float *heat) {
  if (target < 0 || target >= a->classes)
    return ibx_fail(IBX_ERR_ARG, "attribute: target %d outside 0..%d", target, a->classes - 1);
  switch ((method_id)method) {
  case M_RANDOM: return m_random(a, image_id, heat);
  case M_GRADIENT:
  case M_SALIENCY:
  case M_GXI: return m_gradient(a, x, target, method, heat);
  case M_IG: return m_integrated(a, x, target, heat);
  case M_SMOOTHGRAD: return m_smoothgrad(a, x, target, image_id, heat);
  case M_GUIDED: return m_guided(a, x, target, heat);
  case M_GRADCAM: return m_gradcam(a, x, target, heat);
  case M_GUIDED_GRADCAM: return m_guided_gradcam(a, x, target, heat);
  case M_OCC8: return m_occlusion(a, x, target, 8, heat);
  case M_OCC14: return m_occlusion(a, x, target, 14, heat);
  case M_IBA1: return m_iba(a, x, target, 1.0f, heat);
  case M_IBA10: return m_iba(a, x, target, 10.0f, heat);
  case M_IBA100: return m_iba(a, x, target, 100.0f, heat);
  case M_READOUT:
    if (!a->readout)
      return ibx_fail(IBX_ERR_ARG, "attribute: iba_readout needs a trained readout "
                                   "(ibx_attributor_set_readout)");
    return ibx_readout_heatmap(a->readout, x, heat, NULL); /* predicts for the image; target unused */
  case M_COUNT: break;
  }
  return ibx_fail(IBX_ERR_ARG, "attribute: method %d outside 0..%d", method, M_COUNT - 1);
}
