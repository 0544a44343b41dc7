/* Fully connected layer: y = x W^T + b, with W stored [out, in] as PyTorch. */

#include "ibx/error.h"
#include "ibx/precision.h"
#include "ibx/layers.h"

static int check_linear(const ibx_tensor *x, const ibx_tensor *w, const ibx_tensor *b,
                        const ibx_tensor *y, const char *op) {
  char sx[64], sw[64], sy[64];
  IBX_TRY(ibx_check_ndim(x, 2, op, "x"));
  IBX_TRY(ibx_check_ndim(w, 2, op, "w"));
  IBX_TRY(ibx_check_ndim(y, 2, op, "y"));
  if (w->dim[1] != x->dim[1] || y->dim[0] != x->dim[0] || y->dim[1] != w->dim[0])
    return ibx_fail(IBX_ERR_SHAPE, "%s: x %s, w %s and y %s do not fit", op,
                    ibx_shape_str(x, sx, sizeof sx), ibx_shape_str(w, sw, sizeof sw),
                    ibx_shape_str(y, sy, sizeof sy));
  if (b && b->data && (b->ndim != 1 || b->dim[0] != w->dim[0]))
    return ibx_fail(IBX_ERR_SHAPE, "%s: bias must be [%d]", op, w->dim[0]);
  return IBX_OK;
}

int ibx_linear_forward(const ibx_tensor *x, const ibx_tensor *w, const ibx_tensor *b,
                       ibx_tensor *y) {
  IBX_TRY(check_linear(x, w, b, y, "linear_forward"));
  const int N = x->dim[0], In = x->dim[1], O = w->dim[0];
  float beta = 0.0f;
  if (b && b->data) {
    for (int n = 0; n < N; n++)
      for (int o = 0; o < O; o++)
        y->data[(size_t)n * O + o] = b->data[o];
    beta = 1.0f;
  }
  ibx_gemm(0, 1, N, O, In, 1.0f, x->data, In, w->data, In, beta,
              y->data, O);
  return IBX_OK;
}

int ibx_linear_backward(const ibx_tensor *x, const ibx_tensor *w, const ibx_tensor *dy,
                        ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db) {
  IBX_TRY(check_linear(x, w, db, dy, "linear_backward"));
  IBX_TRY(ibx_check_same(w, dw, "linear_backward", "w", "dw"));
  const int N = x->dim[0], In = x->dim[1], O = w->dim[0];
  if (dx && dx->data) {
    IBX_TRY(ibx_check_same(x, dx, "linear_backward", "x", "dx"));
    ibx_gemm(0, 0, N, In, O, 1.0f, dy->data, O, w->data, In,
                0.0f, dx->data, In);
  }
  ibx_gemm(1, 0, O, In, N, 1.0f, dy->data, O, x->data, In,
              1.0f, dw->data, In);
  if (db && db->data)
    for (int o = 0; o < O; o++) {
      double acc = 0.0;
      for (int n = 0; n < N; n++)
        acc += dy->data[(size_t)n * O + o];
      db->data[o] += (float)acc;
    }
  return IBX_OK;
}
