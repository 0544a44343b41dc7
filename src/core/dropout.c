/* Inverted dropout with a counter-based mask: element i is kept iff its
 * uniform (16 bits of Philox(seed, stream, i / 8)) >= p, so backward
 * regenerates the mask. */
#include <string.h>

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
  if (!training || L->p == 0.0f) {
    if (out->data != in->data)
      memcpy(out->data, in->data, (size_t)n * sizeof(float));
    return IBX_OK;
  }
  /* Element i's uniform comes from 16 bits of Philox(seed, stream, i / 8):
   * half-word i % 8, u = (h + 0.5) / 65536, kept iff u >= p. One generator
   * call per eight elements (one per element made the mask 45 % of a
   * transformer step); p is thereby resolved to 1/65536. */
  const int64_t blocks = (n + 7) / 8;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t blk = 0; blk < blocks; blk++) {
    uint32_t r[4];
    ibx_rng_u32x4(L->seed, L->stream, (uint64_t)blk, r);
    const int64_t i0 = blk * 8, m = n - i0 < 8 ? n - i0 : 8;
    for (int j = 0; j < m; j++) {
      const uint32_t h = (r[j >> 1] >> ((j & 1) * 16)) & 0xffffu;
      const float u = ((float)h + 0.5f) * (1.0f / 65536.0f);
      out->data[i0 + j] = u >= L->p ? in->data[i0 + j] * keep_scale : 0.0f;
    }
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
