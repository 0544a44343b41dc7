/* Inverted dropout with a counter-based mask: element i is kept iff
 * uniform(seed, stream, i) >= p, so backward regenerates the mask. */
#include "ibx/error.h"
#include "ibx/layers.h"
#include "ibx/rng.h"

static int apply(const ibx_dropout *L, int training, const ibx_tensor *in, ibx_tensor *out,
                 const char *op) {
  if (!in || !in->data || in->ndim < 1)
    return ibx_fail(IBX_ERR_SHAPE, "%s: input tensor is missing", op);
  IBX_TRY(ibx_check_same(in, out, op, "input", "output"));
  if (!(L->p >= 0.0f && L->p < 1.0f))
    return ibx_fail(IBX_ERR_ARG, "%s: p = %g must be in [0, 1)", op, (double)L->p);
  const int64_t n = ibx_numel(in);
  const float keep_scale = 1.0f / (1.0f - L->p);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    float v = in->data[i];
    if (training && L->p > 0.0f)
      v = ibx_rng_uniform(L->seed, L->stream, (uint64_t)i) >= L->p ? v * keep_scale : 0.0f;
    out->data[i] = v;
  }
  return IBX_OK;
}

int ibx_dropout_forward(const ibx_dropout *L, int training, const ibx_tensor *x, ibx_tensor *y) {
  return apply(L, training, x, y, "dropout_forward");
}

int ibx_dropout_backward(const ibx_dropout *L, int training, const ibx_tensor *dy,
                         ibx_tensor *dx) {
  return apply(L, training, dy, dx, "dropout_backward");
}
