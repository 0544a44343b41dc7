/* Bilinear resampling with PyTorch's sampling grid:
 *  align_corners=1: src = dst * (in-1)/(out-1)
 *  align_corners=0: src = (dst + 0.5) * in/out - 0.5, clamped at 0.
 * Forward gathers 4 neighbours; backward scatters the same weights. */
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"

typedef struct {
  int i0, i1;
  float w0, w1;
} tap;

static void make_taps(int in, int out, int align_corners, tap *t) {
  for (int d = 0; d < out; d++) {
    float src;
    if (align_corners)
      src = out > 1 ? (float)d * (float)(in - 1) / (float)(out - 1) : 0.0f;
    else {
      src = ((float)d + 0.5f) * (float)in / (float)out - 0.5f;
      if (src < 0.0f)
        src = 0.0f;
    }
    int i0 = (int)src;
    if (i0 > in - 1)
      i0 = in - 1;
    const int i1 = i0 < in - 1 ? i0 + 1 : i0;
    const float frac = src - (float)i0;
    t[d] = (tap){i0, i1, 1.0f - frac, frac};
  }
}

static int check(const ibx_tensor *small_or_in, const ibx_tensor *out, const char *op) {
  char s1[64], s2[64];
  IBX_TRY(ibx_check_ndim(small_or_in, 4, op, "x"));
  IBX_TRY(ibx_check_ndim(out, 4, op, "y"));
  if (small_or_in->dim[0] != out->dim[0] || small_or_in->dim[1] != out->dim[1])
    return ibx_fail(IBX_ERR_SHAPE, "%s: x %s and y %s differ in N or C", op,
                    ibx_shape_str(small_or_in, s1, sizeof s1), ibx_shape_str(out, s2, sizeof s2));
  if (out->dim[2] > 4096 || out->dim[3] > 4096 || small_or_in->dim[2] > 4096 ||
      small_or_in->dim[3] > 4096)
    return ibx_fail(IBX_ERR_SHAPE, "%s: maps larger than 4096 are not supported", op);
  return IBX_OK;
}

int ibx_bilinear_forward(int align_corners, const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check(x, y, "bilinear_forward"));
  const int NC = x->dim[0] * x->dim[1], H = x->dim[2], W = x->dim[3];
  const int OH = y->dim[2], OW = y->dim[3];
  tap ty[4096], tx[4096];
  make_taps(H, OH, align_corners, ty);
  make_taps(W, OW, align_corners, tx);
  for (int p = 0; p < NC; p++) {
    const float *src = x->data + (size_t)p * H * W;
    float *dst = y->data + (size_t)p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      const tap a = ty[oy];
      const float *r0 = src + (size_t)a.i0 * W, *r1 = src + (size_t)a.i1 * W;
      for (int ox = 0; ox < OW; ox++) {
        const tap b = tx[ox];
        dst[oy * OW + ox] = a.w0 * (b.w0 * r0[b.i0] + b.w1 * r0[b.i1]) +
                            a.w1 * (b.w0 * r1[b.i0] + b.w1 * r1[b.i1]);
      }
    }
  }
  return IBX_OK;
}

int ibx_bilinear_backward(int align_corners, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check(dx, dy, "bilinear_backward"));
  const int NC = dx->dim[0] * dx->dim[1], H = dx->dim[2], W = dx->dim[3];
  const int OH = dy->dim[2], OW = dy->dim[3];
  tap ty[4096], tx[4096];
  make_taps(H, OH, align_corners, ty);
  make_taps(W, OW, align_corners, tx);
  memset(dx->data, 0, (size_t)NC * H * W * sizeof(float));
  for (int p = 0; p < NC; p++) {
    const float *g = dy->data + (size_t)p * OH * OW;
    float *d = dx->data + (size_t)p * H * W;
    for (int oy = 0; oy < OH; oy++) {
      const tap a = ty[oy];
      float *r0 = d + (size_t)a.i0 * W, *r1 = d + (size_t)a.i1 * W;
      for (int ox = 0; ox < OW; ox++) {
        const tap b = tx[ox];
        const float v = g[oy * OW + ox];
        r0[b.i0] += a.w0 * b.w0 * v;
        r0[b.i1] += a.w0 * b.w1 * v;
        r1[b.i0] += a.w1 * b.w0 * v;
        r1[b.i1] += a.w1 * b.w1 * v;
      }
    }
  }
  return IBX_OK;
}
