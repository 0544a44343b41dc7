/* Point-wise activations. Backward reads the forward output y, so forward may
 * run in place (y == x) and backward may run in place (dx == dy). */
#include <math.h>

#include "ibx/error.h"
#include "ibx/layers.h"

static int check_pair(const ibx_tensor *a, const ibx_tensor *b, const char *op, const char *na,
                      const char *nb) {
  if (!a || !a->data || a->ndim < 1)
    return ibx_fail(IBX_ERR_SHAPE, "%s: tensor %s is missing", op, na);
  return ibx_check_same(a, b, op, na, nb);
}

int ibx_relu_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_pair(x, y, "relu_forward", "x", "y"));
  const int64_t n = ibx_numel(x);
  const float *xs = x->data; /* locals: the stores cannot alias them, so this vectorises */
  float *ys = y->data;
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++)
    ys[i] = xs[i] > 0.0f ? xs[i] : 0.0f;
  return IBX_OK;
}

int ibx_relu_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check_pair(y, dy, "relu_backward", "y", "dy"));
  IBX_TRY(ibx_check_same(y, dx, "relu_backward", "y", "dx"));
  const int64_t n = ibx_numel(y);
  const float *ys = y->data, *g = dy->data;
  float *d = dx->data;
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++)
    d[i] = ys[i] > 0.0f ? g[i] : 0.0f;
  return IBX_OK;
}

int ibx_sigmoid_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_pair(x, y, "sigmoid_forward", "x", "y"));
  const int64_t n = ibx_numel(x);
  for (int64_t i = 0; i < n; i++) {
    const float v = x->data[i];
    /* Split by sign so exp never overflows. */
    if (v >= 0.0f) {
      y->data[i] = 1.0f / (1.0f + expf(-v));
    } else {
      const float e = expf(v);
      y->data[i] = e / (1.0f + e);
    }
  }
  return IBX_OK;
}

int ibx_sigmoid_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check_pair(y, dy, "sigmoid_backward", "y", "dy"));
  IBX_TRY(ibx_check_same(y, dx, "sigmoid_backward", "y", "dx"));
  const int64_t n = ibx_numel(y);
  for (int64_t i = 0; i < n; i++)
    dx->data[i] = dy->data[i] * y->data[i] * (1.0f - y->data[i]);
  return IBX_OK;
}

int ibx_tanh_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_pair(x, y, "tanh_forward", "x", "y"));
  const int64_t n = ibx_numel(x);
  for (int64_t i = 0; i < n; i++)
    y->data[i] = tanhf(x->data[i]);
  return IBX_OK;
}

int ibx_tanh_backward(const ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check_pair(y, dy, "tanh_backward", "y", "dy"));
  IBX_TRY(ibx_check_same(y, dx, "tanh_backward", "y", "dx"));
  const int64_t n = ibx_numel(y);
  for (int64_t i = 0; i < n; i++)
    dx->data[i] = dy->data[i] * (1.0f - y->data[i] * y->data[i]);
  return IBX_OK;
}
