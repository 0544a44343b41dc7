/* SGD (momentum, Nesterov, weight decay) and Adam, with torch.optim's exact
 * update order, over one contiguous buffer. */
#include "ibx/optim.h"

#include <math.h>

#include "ibx/error.h"
#include "reduce.h"

/* The sum of squares of the gradient, every step (the trainer logs the norm
 * even without clipping): one chained double add per value was latency-bound
 * and single-threaded (~5 % of a full-width bf16 step, 15M parameters). Now:
 * blocks of at least NORM_BLOCK values summed in parallel, each by
 * ibx_sum_squares_f64 (16 double lanes, reduce.h), blocks combined in a
 * fixed order: the bits depend on n only, not on threads or ISA clone. */
#define NORM_BLOCK 65536
#define NORM_MAX_BLOCKS 1024

static double sum_squares(const float *g, size_t n) {
  size_t block = (n + NORM_MAX_BLOCKS - 1) / NORM_MAX_BLOCKS;
  block = block < NORM_BLOCK ? NORM_BLOCK : (block + 15) / 16 * 16;
  const long blocks = (long)((n + block - 1) / block);
  double part[NORM_MAX_BLOCKS];
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (long b = 0; b < blocks; b++) {
    const size_t lo = (size_t)b * block;
    part[b] = ibx_sum_squares_f64(g + lo, n - lo < block ? n - lo : block);
  }
  double sq = 0.0;
  for (long b = 0; b < blocks; b++)
    sq += part[b];
  return sq;
}

void ibx_clip_grad_norm(float *grad, size_t n, float max_norm, double *norm_out) {
  const double norm = sqrt(sum_squares(grad, n));
  if (norm_out)
    *norm_out = norm;
  if (max_norm <= 0.0f || !(norm > max_norm))
    return;
  const float coef = (float)(max_norm / (norm + 1e-6));
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++)
    grad[i] *= coef;
}

int ibx_sgd_step(const ibx_sgd *o, float lr, float *param, const float *grad, float *velocity,
                 size_t n, long step) {
  if (o->momentum < 0.0f || o->weight_decay < 0.0f || (o->nesterov && o->momentum <= 0.0f) ||
      (o->nesterov && o->dampening != 0.0f))
    return ibx_fail(IBX_ERR_ARG, "sgd: bad settings (momentum %g, weight_decay %g, nesterov %d, "
                    "dampening %g)", (double)o->momentum, (double)o->weight_decay, o->nesterov,
                    (double)o->dampening);
  if (o->momentum > 0.0f && !velocity)
    return ibx_fail(IBX_ERR_ARG, "sgd: momentum needs a velocity buffer");
  const float mu = o->momentum, wd = o->weight_decay, damp = 1.0f - o->dampening;
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    float g = grad[i] + wd * param[i];
    if (mu > 0.0f) {
      const float v = step == 0 ? g : mu * velocity[i] + damp * g;
      velocity[i] = v;
      g = o->nesterov ? g + mu * v : v;
    }
    param[i] -= lr * g;
  }
  return IBX_OK;
}

int ibx_adam_step(const ibx_adam *o, float lr, float *param, const float *grad, float *m,
                  float *v, size_t n, long step) {
  if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f && o->beta2 >= 0.0f && o->beta2 < 1.0f &&
        o->eps > 0.0f && o->weight_decay >= 0.0f))
    return ibx_fail(IBX_ERR_ARG, "adam: bad settings (betas %g,%g, eps %g, weight_decay %g)",
                    (double)o->beta1, (double)o->beta2, (double)o->eps,
                    (double)o->weight_decay);
  const float b1 = o->beta1, b2 = o->beta2, eps = o->eps, wd = o->weight_decay;
  const double t = (double)step + 1.0;
  const float bc1 = (float)(1.0 - pow(b1, t));
  const float bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
  const float step_size = lr / bc1;
  const int decoupled = o->decoupled;
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    float g = grad[i];
    if (decoupled)
      param[i] *= 1.0f - lr * wd;
    else
      g += wd * param[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    param[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
  }
  return IBX_OK;
}
