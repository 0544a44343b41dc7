/* Row softmax and the fused softmax + cross-entropy loss. */
#include <math.h>

#include "ibx/error.h"
#include "ibx/layers.h"

/* Numerically stable softmax of one row (max subtracted). */
static void softmax_row(const float *x, float *y, int K) {
  float m = x[0];
  for (int k = 1; k < K; k++)
    m = x[k] > m ? x[k] : m;
  double sum = 0.0;
  for (int k = 0; k < K; k++) {
    y[k] = expf(x[k] - m);
    sum += y[k];
  }
  const float inv = (float)(1.0 / sum);
  for (int k = 0; k < K; k++)
    y[k] *= inv;
}

int ibx_softmax_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(ibx_check_ndim(x, 2, "softmax_forward", "x"));
  IBX_TRY(ibx_check_same(x, y, "softmax_forward", "x", "y"));
  const int N = x->dim[0], K = x->dim[1];
  for (int n = 0; n < N; n++)
    softmax_row(x->data + (size_t)n * K, y->data + (size_t)n * K, K);
  return IBX_OK;
}

/* dx = y * (dy - sum(dy * y)). */
int ibx_softmax_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(ibx_check_ndim(y, 2, "softmax_backward", "y"));
  IBX_TRY(ibx_check_same(y, dy, "softmax_backward", "y", "dy"));
  IBX_TRY(ibx_check_same(y, dx, "softmax_backward", "y", "dx"));
  const int N = y->dim[0], K = y->dim[1];
  for (int n = 0; n < N; n++) {
    const float *yr = y->data + (size_t)n * K, *g = dy->data + (size_t)n * K;
    float *d = dx->data + (size_t)n * K;
    double dot = 0.0;
    for (int k = 0; k < K; k++)
      dot += (double)g[k] * yr[k];
    for (int k = 0; k < K; k++)
      d[k] = yr[k] * (g[k] - (float)dot);
  }
  return IBX_OK;
}

static int check_labels(const int *labels, int N, int K, const char *op) {
  if (!labels)
    return ibx_fail(IBX_ERR_ARG, "%s: labels are missing", op);
  for (int n = 0; n < N; n++)
    if (labels[n] < 0 || labels[n] >= K)
      return ibx_fail(IBX_ERR_ARG, "%s: label %d of sample %d is outside [0,%d)", op, labels[n],
                      n, K);
  return IBX_OK;
}

int ibx_softmax_xent_forward(const ibx_tensor *logits, const int *labels, float *loss,
                             ibx_tensor *probs) {
  const char *op = "softmax_xent_forward";
  IBX_TRY(ibx_check_ndim(logits, 2, op, "logits"));
  if (probs && probs->data)
    IBX_TRY(ibx_check_same(logits, probs, op, "logits", "probs"));
  const int N = logits->dim[0], K = logits->dim[1];
  IBX_TRY(check_labels(labels, N, K, op));
  double total = 0.0;
  for (int n = 0; n < N; n++) {
    const float *x = logits->data + (size_t)n * K;
    /* log-sum-exp in double: the loss itself stays exact for large logits. */
    float m = x[0];
    for (int k = 1; k < K; k++)
      m = x[k] > m ? x[k] : m;
    double sum = 0.0;
    for (int k = 0; k < K; k++)
      sum += exp((double)x[k] - m);
    total += log(sum) + m - x[labels[n]];
    if (probs && probs->data)
      softmax_row(x, probs->data + (size_t)n * K, K);
  }
  if (loss)
    *loss = (float)(total / N);
  return IBX_OK;
}

int ibx_softmax_xent_backward(const ibx_tensor *probs, const int *labels, float scale,
                              ibx_tensor *dlogits) {
  const char *op = "softmax_xent_backward";
  IBX_TRY(ibx_check_ndim(probs, 2, op, "probs"));
  IBX_TRY(ibx_check_same(probs, dlogits, op, "probs", "dlogits"));
  const int N = probs->dim[0], K = probs->dim[1];
  IBX_TRY(check_labels(labels, N, K, op));
  const float s = scale / (float)N;
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++) {
      const size_t i = (size_t)n * K + k;
      dlogits->data[i] = s * (probs->data[i] - (k == labels[n] ? 1.0f : 0.0f));
    }
  return IBX_OK;
}
