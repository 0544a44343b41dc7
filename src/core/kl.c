/* KL divergence of a diagonal Gaussian from the standard normal, the
 * information term of the (attentive) variational information bottleneck. */
#include <math.h>

#include "ibx/error.h"
#include "ibx/layers.h"

int ibx_gaussian_kl_forward(const ibx_tensor *mu, const ibx_tensor *logvar, float *kl) {
  IBX_TRY(ibx_check_ndim(mu, 2, "gaussian_kl_forward", "mu"));
  IBX_TRY(ibx_check_same(mu, logvar, "gaussian_kl_forward", "mu", "logvar"));
  if (!kl)
    return ibx_fail(IBX_ERR_ARG, "gaussian_kl_forward: the kl output pointer is missing");
  const int64_t n = ibx_numel(mu);
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double m = mu->data[i], lv = logvar->data[i];
    acc += 0.5 * (m * m + exp(lv) - 1.0 - lv);
  }
  *kl = (float)(acc / mu->dim[0]);
  return IBX_OK;
}

int ibx_gaussian_kl_backward(const ibx_tensor *mu, const ibx_tensor *logvar, float scale,
                             ibx_tensor *dmu, ibx_tensor *dlogvar) {
  IBX_TRY(ibx_check_ndim(mu, 2, "gaussian_kl_backward", "mu"));
  IBX_TRY(ibx_check_same(mu, logvar, "gaussian_kl_backward", "mu", "logvar"));
  IBX_TRY(ibx_check_same(mu, dmu, "gaussian_kl_backward", "mu", "dmu"));
  IBX_TRY(ibx_check_same(mu, dlogvar, "gaussian_kl_backward", "mu", "dlogvar"));
  const int64_t n = ibx_numel(mu);
  const float s = scale / (float)mu->dim[0];
  for (int64_t i = 0; i < n; i++) {
    dmu->data[i] += s * mu->data[i];
    dlogvar->data[i] += s * 0.5f * (expf(logvar->data[i]) - 1.0f);
  }
  return IBX_OK;
}
