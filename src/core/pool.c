/* Max, average and global-average pooling over NCHW maps. */
#include <float.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"
#include "pool_internal.h"

int ibx_pool2d_out_size(int in, const ibx_pool2d *L) {
  int span = in + 2 * L->pad - L->kernel;
  return span < 0 || L->stride <= 0 ? 0 : span / L->stride + 1;
}

static int check_pool(const ibx_pool2d *L, const ibx_tensor *x, const ibx_tensor *y,
                      const char *op) {
  char sx[64], sy[64];
  if (L->kernel <= 0 || L->stride <= 0 || L->pad < 0 || 2 * L->pad > L->kernel)
    return ibx_fail(IBX_ERR_ARG, "%s: bad config (kernel %d, stride %d, pad %d)", op, L->kernel,
                    L->stride, L->pad);
  IBX_TRY(ibx_check_ndim(x, 4, op, "x"));
  IBX_TRY(ibx_check_ndim(y, 4, op, "y"));
  const int oh = ibx_pool2d_out_size(x->dim[2], L), ow = ibx_pool2d_out_size(x->dim[3], L);
  if (oh <= 0 || ow <= 0 || y->dim[0] != x->dim[0] || y->dim[1] != x->dim[1] || y->dim[2] != oh ||
      y->dim[3] != ow)
    return ibx_fail(IBX_ERR_SHAPE, "%s: input %s gives output [%d,%d,%d,%d], got %s", op,
                    ibx_shape_str(x, sx, sizeof sx), x->dim[0], x->dim[1], oh, ow,
                    ibx_shape_str(y, sy, sizeof sy));
  return IBX_OK;
}

/* Index (into the H*W plane) of the first maximum of window (oy, ox); -1 if
 * the window lies entirely in padding. */
static inline int window_argmax(const float *plane, int H, int W, const ibx_pool2d *L, int oy,
                                int ox, float *max_out) {
  int best = -1;
  float m = -FLT_MAX;
  const int y0 = oy * L->stride - L->pad, x0 = ox * L->stride - L->pad;
  for (int i = 0; i < L->kernel; i++) {
    const int iy = y0 + i;
    if (iy < 0 || iy >= H)
      continue;
    for (int j = 0; j < L->kernel; j++) {
      const int ix = x0 + j;
      if (ix < 0 || ix >= W)
        continue;
      const float v = plane[iy * W + ix];
      if (best < 0 || v > m || v != v) { /* NaN propagates, as in PyTorch */
        m = v;
        best = iy * W + ix;
        if (v != v)
          goto done;
      }
    }
  }
done:
  *max_out = m;
  return best;
}

/* Per-plane 2x2 loops, vectorised across the windows of a row (selects, no
 * index arithmetic); AVX-512 and AVX2 clones picked at load time in a
 * portable build. */

/* out = the maxima of the 2x2 windows (the value of the first maximum in
 * row-major window order, as window_argmax picks it: ties have equal
 * values); returns 1 if a maximum is NaN. */
IBX_ISA_CLONES
static int max2x2_plane(const float *plane, int W, int OH, int OW, float *out) {
  int nan_seen = 0;
  for (int oy = 0; oy < OH; oy++) {
    const float *r0 = plane + (size_t)(2 * oy) * W, *r1 = r0 + W;
    float *o = out + (size_t)oy * OW;
#pragma omp simd reduction(| : nan_seen)
    for (int ox = 0; ox < OW; ox++) {
      float v = r0[2 * ox];
      v = r0[2 * ox + 1] > v ? r0[2 * ox + 1] : v;
      v = r1[2 * ox] > v ? r1[2 * ox] : v;
      v = r1[2 * ox + 1] > v ? r1[2 * ox + 1] : v;
      o[ox] = v;
      nan_seen |= v != v;
    }
  }
  return nan_seen;
}

/* d = the gradient routed to each window's first maximum (row-major order,
 * as window_argmax), zero elsewhere, including a last odd row or column. */
IBX_ISA_CLONES
static void max2x2_grad_plane(const float *plane, int H, int W, const float *g, int OH, int OW,
                              float *d) {
  for (int oy = 0; oy < OH; oy++) {
    const float *r0 = plane + (size_t)(2 * oy) * W, *r1 = r0 + W;
    float *d0 = d + (size_t)(2 * oy) * W, *d1 = d0 + W;
    const float *go = g + (size_t)oy * OW;
#pragma omp simd
    for (int ox = 0; ox < OW; ox++) {
      const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1];
      float m = a;
      int k = 0;
      k = b > m ? 1 : k, m = b > m ? b : m;
      k = c > m ? 2 : k, m = c > m ? c : m;
      k = e > m ? 3 : k;
      const float gv = go[ox];
      d0[2 * ox] = k == 0 ? gv : 0.0f;
      d0[2 * ox + 1] = k == 1 ? gv : 0.0f;
      d1[2 * ox] = k == 2 ? gv : 0.0f;
      d1[2 * ox + 1] = k == 3 ? gv : 0.0f;
    }
    if (W > 2 * OW) {
      d0[W - 1] = 0.0f;
      d1[W - 1] = 0.0f;
    }
  }
  if (H > 2 * OH)
    memset(d + (size_t)(H - 1) * W, 0, (size_t)W * sizeof(float));
}

static int is_2x2(const ibx_pool2d *L) { return L->kernel == 2 && L->stride == 2 && L->pad == 0; }

#if IBX_AVX512_KERNELS
/* Even planes with OW 1, 2, 4, 8 or a multiple of 16 go to the AVX-512
 * kernels over the flat tensor (pool_avx512.c) in units of FLAT_UNIT
 * outputs. */
#define FLAT_UNIT 1024
static int use_flat(const ibx_pool2d *L, const ibx_tensor *x, int OH, int OW) {
  return is_2x2(L) && x->dim[2] == 2 * OH && x->dim[3] == 2 * OW &&
         (OW == 1 || OW == 2 || OW == 4 || OW == 8 || OW % 16 == 0) && ibx_cpu_use_avx512();
}
#endif

int ibx_maxpool2d_forward(const ibx_pool2d *L, const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_pool(L, x, y, "maxpool2d_forward"));
  if (is_2x2(L)) {
    const int NC = x->dim[0] * x->dim[1], H = x->dim[2], W = x->dim[3];
    const int OH = y->dim[2], OW = y->dim[3];
    const float *xs = x->data;
    float *ys = y->data;
    int nan_seen = 0;
#if IBX_AVX512_KERNELS
    if (use_flat(L, x, OH, OW)) {
      const long Q = (long)NC * OH * OW, units = (Q + FLAT_UNIT - 1) / FLAT_UNIT;
#pragma omp parallel for schedule(static) reduction(| : nan_seen)
      for (long u = 0; u < units; u++)
        nan_seen |= ibx_max2x2_flat_avx512(xs, OW, u * FLAT_UNIT,
                                           u + 1 < units ? (u + 1) * FLAT_UNIT : Q, ys);
    } else
#endif
    {
#pragma omp parallel for schedule(static) reduction(| : nan_seen)
      for (int p = 0; p < NC; p++)
        nan_seen |= max2x2_plane(xs + (size_t)p * H * W, W, OH, OW, ys + (size_t)p * OH * OW);
    }
    if (!nan_seen)
      return IBX_OK; /* otherwise redo with NaN propagation below */
  }
  const int NC = x->dim[0] * x->dim[1], H = x->dim[2], W = x->dim[3];
  const int OH = y->dim[2], OW = y->dim[3];
#pragma omp parallel for schedule(static)
  for (int p = 0; p < NC; p++) {
    const float *plane = x->data + (size_t)p * H * W;
    float *out = y->data + (size_t)p * OH * OW;
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++)
        window_argmax(plane, H, W, L, oy, ox, &out[oy * OW + ox]);
  }
  return IBX_OK;
}

int ibx_maxpool2d_backward(const ibx_pool2d *L, const ibx_tensor *x, const ibx_tensor *dy,
                           ibx_tensor *dx) {
  IBX_TRY(check_pool(L, x, dy, "maxpool2d_backward"));
  IBX_TRY(ibx_check_same(x, dx, "maxpool2d_backward", "x", "dx"));
  const int NC = x->dim[0] * x->dim[1], H = x->dim[2], W = x->dim[3];
  const int OH = dy->dim[2], OW = dy->dim[3];
  /* Fast path. With NaN in a window the gradient goes to its first non-NaN
   * maximum rather than to the NaN; a NaN loss stops training anyway. */
  if (is_2x2(L)) {
    const float *xs = x->data, *gs = dy->data;
    float *ds = dx->data;
#if IBX_AVX512_KERNELS
    if (use_flat(L, x, OH, OW)) {
      const long Q = (long)NC * OH * OW, units = (Q + FLAT_UNIT - 1) / FLAT_UNIT;
#pragma omp parallel for schedule(static)
      for (long u = 0; u < units; u++)
        ibx_max2x2_grad_flat_avx512(xs, gs, OW, u * FLAT_UNIT,
                                    u + 1 < units ? (u + 1) * FLAT_UNIT : Q, ds);
      return IBX_OK;
    }
#endif
#pragma omp parallel for schedule(static)
    for (int p = 0; p < NC; p++)
      max2x2_grad_plane(xs + (size_t)p * H * W, H, W, gs + (size_t)p * OH * OW, OH, OW,
                        ds + (size_t)p * H * W);
    return IBX_OK;
  }
#pragma omp parallel for schedule(static)
  for (int p = 0; p < NC; p++) {
    const float *plane = x->data + (size_t)p * H * W;
    const float *g = dy->data + (size_t)p * OH * OW;
    float *d = dx->data + (size_t)p * H * W;
    memset(d, 0, (size_t)H * W * sizeof(float));
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++) {
        float m;
        const int at = window_argmax(plane, H, W, L, oy, ox, &m);
        if (at >= 0)
          d[at] += g[oy * OW + ox];
      }
  }
  return IBX_OK;
}

int ibx_avgpool2d_forward(const ibx_pool2d *L, const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_pool(L, x, y, "avgpool2d_forward"));
  const int NC = x->dim[0] * x->dim[1], H = x->dim[2], W = x->dim[3];
  const int OH = y->dim[2], OW = y->dim[3];
  const float inv = 1.0f / (float)(L->kernel * L->kernel);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < NC; p++) {
    const float *plane = x->data + (size_t)p * H * W;
    float *out = y->data + (size_t)p * OH * OW;
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++) {
        float acc = 0.0f;
        for (int i = 0; i < L->kernel; i++) {
          const int iy = oy * L->stride - L->pad + i;
          if (iy < 0 || iy >= H)
            continue;
          for (int j = 0; j < L->kernel; j++) {
            const int ix = ox * L->stride - L->pad + j;
            if (ix >= 0 && ix < W)
              acc += plane[iy * W + ix];
          }
        }
        out[oy * OW + ox] = acc * inv;
      }
  }
  return IBX_OK;
}

int ibx_avgpool2d_backward(const ibx_pool2d *L, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check_pool(L, dx, dy, "avgpool2d_backward"));
  const int NC = dx->dim[0] * dx->dim[1], H = dx->dim[2], W = dx->dim[3];
  const int OH = dy->dim[2], OW = dy->dim[3];
  const float inv = 1.0f / (float)(L->kernel * L->kernel);
#pragma omp parallel for schedule(static)
  for (int p = 0; p < NC; p++) {
    const float *g = dy->data + (size_t)p * OH * OW;
    float *d = dx->data + (size_t)p * H * W;
    memset(d, 0, (size_t)H * W * sizeof(float));
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++) {
        const float v = g[oy * OW + ox] * inv;
        for (int i = 0; i < L->kernel; i++) {
          const int iy = oy * L->stride - L->pad + i;
          if (iy < 0 || iy >= H)
            continue;
          for (int j = 0; j < L->kernel; j++) {
            const int ix = ox * L->stride - L->pad + j;
            if (ix >= 0 && ix < W)
              d[iy * W + ix] += v;
          }
        }
      }
  }
  return IBX_OK;
}

static int check_gap(const ibx_tensor *x, const ibx_tensor *y, const char *op) {
  char sx[64], sy[64];
  IBX_TRY(ibx_check_ndim(x, 4, op, "x"));
  IBX_TRY(ibx_check_ndim(y, 2, op, "y"));
  if (y->dim[0] != x->dim[0] || y->dim[1] != x->dim[1])
    return ibx_fail(IBX_ERR_SHAPE, "%s: x %s needs y [%d,%d], got %s", op,
                    ibx_shape_str(x, sx, sizeof sx), x->dim[0], x->dim[1],
                    ibx_shape_str(y, sy, sizeof sy));
  return IBX_OK;
}

int ibx_global_avgpool_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(check_gap(x, y, "global_avgpool_forward"));
  const int NC = x->dim[0] * x->dim[1], S = x->dim[2] * x->dim[3];
  for (int p = 0; p < NC; p++) {
    double acc = 0.0;
    for (int i = 0; i < S; i++)
      acc += x->data[(size_t)p * S + i];
    y->data[p] = (float)(acc / S);
  }
  return IBX_OK;
}

int ibx_global_avgpool_backward(const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(check_gap(dx, dy, "global_avgpool_backward"));
  const int NC = dx->dim[0] * dx->dim[1], S = dx->dim[2] * dx->dim[3];
  for (int p = 0; p < NC; p++) {
    const float v = dy->data[p] / (float)S;
    for (int i = 0; i < S; i++)
      dx->data[(size_t)p * S + i] = v;
  }
  return IBX_OK;
}
