/* Nearest-anchor scalar quantisation with the straight-through gradient
 * (see include/ibx/quantize.h). */
#include "ibx/quantize.h"

#include <math.h>

#include "ibx/error.h"

int ibx_quantize_forward(const float *a, size_t n, const float *anchors, int Q, float *aq,
                         int *idx, double *mse) {
  if (!a || !anchors || !aq || !idx || Q < 1)
    return ibx_fail(IBX_ERR_ARG, "quantize: missing buffer or Q = %d < 1", Q);
  double acc = 0.0;
  for (size_t e = 0; e < n; e++) {
    int best = 0;
    float bd = fabsf(a[e] - anchors[0]);
    for (int j = 1; j < Q; j++) {
      const float d = fabsf(a[e] - anchors[j]);
      if (d < bd)
        bd = d, best = j;
    }
    idx[e] = best;
    aq[e] = anchors[best];
    const double r = (double)a[e] - aq[e];
    acc += r * r;
  }
  if (mse)
    *mse = n ? acc / (double)n : 0.0;
  return IBX_OK;
}

int ibx_quantize_backward(const float *a, const float *aq, const int *idx, size_t n, int Q,
                          const float *daq, float lambda_q, float lambda_c, int with_loss,
                          float *da, float *danchors) {
  if (!a || !aq || !idx || Q < 1)
    return ibx_fail(IBX_ERR_ARG, "quantize backward: missing buffer or Q = %d < 1", Q);
  const float kc = n ? 2.0f * lambda_c / (float)n : 0.0f;
  const double kq = n ? 2.0 * lambda_q / (double)n : 0.0;
  if (da)
    for (size_t e = 0; e < n; e++)
      da[e] = (daq ? daq[e] : 0.0f) + (with_loss ? kc * (a[e] - aq[e]) : 0.0f);
  if (with_loss && danchors) {
    double acc[4096];
    double *sum = acc;
    if (Q > 4096)
      return ibx_fail(IBX_ERR_ARG, "quantize backward: Q = %d > 4096", Q);
    for (int j = 0; j < Q; j++)
      sum[j] = 0.0;
    for (size_t e = 0; e < n; e++) {
      if (idx[e] < 0 || idx[e] >= Q)
        return ibx_fail(IBX_ERR_ARG, "quantize backward: index %d outside 0..%d", idx[e], Q - 1);
      sum[idx[e]] += (double)aq[e] - a[e];
    }
    for (int j = 0; j < Q; j++)
      danchors[j] += (float)(kq * sum[j]);
  }
  return IBX_OK;
}
