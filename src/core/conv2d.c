/* conv2d: shape checks and algorithm dispatch, plus the general im2col + sgemm
 * path. The 3x3 stride-1 case goes to Winograd (conv2d_winograd.c). */
#include <string.h>

#include "conv_internal.h"
#include "ibx/error.h"
#include "ibx/precision.h"
#include "ibx/layers.h"
#include "reduce.h"

int ibx_conv2d_out_size(int in, int kernel, int stride, int pad) {
  int span = in + 2 * pad - kernel;
  return span < 0 || stride <= 0 ? 0 : span / stride + 1;
}

static int check_config(const ibx_conv2d *L) {
  if (L->in_channels <= 0 || L->out_channels <= 0 || L->kernel_h <= 0 || L->kernel_w <= 0 ||
      L->stride <= 0 || L->pad_h < 0 || L->pad_w < 0)
    return ibx_fail(IBX_ERR_ARG, "conv2d: bad config (in %d, out %d, kernel %dx%d, stride %d, pad %d,%d)",
                    L->in_channels, L->out_channels, L->kernel_h, L->kernel_w, L->stride,
                    L->pad_h, L->pad_w);
  return IBX_OK;
}

/* Validates x, w, b against the config and y (or dy) against the output size. */
static int check_shapes(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                        const ibx_tensor *b, const ibx_tensor *y, const char *op) {
  char s[64];
  IBX_TRY(check_config(L));
  IBX_TRY(ibx_check_ndim(x, 4, op, "x"));
  IBX_TRY(ibx_check_ndim(w, 4, op, "w"));
  IBX_TRY(ibx_check_ndim(y, 4, op, "y"));
  if (x->dim[1] != L->in_channels)
    return ibx_fail(IBX_ERR_SHAPE, "%s: x %s has %d channels, layer expects %d", op,
                    ibx_shape_str(x, s, sizeof s), x->dim[1], L->in_channels);
  if (w->dim[0] != L->out_channels || w->dim[1] != L->in_channels || w->dim[2] != L->kernel_h ||
      w->dim[3] != L->kernel_w)
    return ibx_fail(IBX_ERR_SHAPE, "%s: w %s, expected [%d,%d,%d,%d]", op,
                    ibx_shape_str(w, s, sizeof s), L->out_channels, L->in_channels, L->kernel_h,
                    L->kernel_w);
  if (b && b->data && (b->ndim != 1 || b->dim[0] != L->out_channels))
    return ibx_fail(IBX_ERR_SHAPE, "%s: bias %s, expected [%d]", op, ibx_shape_str(b, s, sizeof s),
                    L->out_channels);
  int oh = ibx_conv2d_out_size(x->dim[2], L->kernel_h, L->stride, L->pad_h);
  int ow = ibx_conv2d_out_size(x->dim[3], L->kernel_w, L->stride, L->pad_w);
  if (oh <= 0 || ow <= 0)
    return ibx_fail(IBX_ERR_SHAPE, "%s: input %s is smaller than the %dx%d kernel", op,
                    ibx_shape_str(x, s, sizeof s), L->kernel_h, L->kernel_w);
  if (y->dim[0] != x->dim[0] || y->dim[1] != L->out_channels || y->dim[2] != oh || y->dim[3] != ow)
    return ibx_fail(IBX_ERR_SHAPE, "%s: output %s, expected [%d,%d,%d,%d]", op,
                    ibx_shape_str(y, s, sizeof s), x->dim[0], L->out_channels, oh, ow);
  return IBX_OK;
}

static int use_winograd(const ibx_conv2d *L) {
  int eligible = L->kernel_h == 3 && L->kernel_w == 3 && L->stride == 1 && L->pad_h == 1 &&
                 L->pad_w == 1;
  if (L->algo == IBX_CONV_WINOGRAD)
    return eligible ? 1 : -1;
  return L->algo == IBX_CONV_AUTO && eligible && IBX_HAVE_WINOGRAD &&
         L->in_channels >= IBX_WINOGRAD_MIN_CHANNELS;
}

/* ---- im2col path --------------------------------------------------------
 * cols[(c*KH + i)*KW + j][oy*OW + ox] = x[c][oy*s - ph + i][ox*s - pw + j]. */
void ibx_im2col(const float *x, int C, int H, int W, int KH, int KW, int stride, int ph, int pw,
                int OH, int OW, float *cols) {
  for (int c = 0; c < C; c++)
    for (int i = 0; i < KH; i++)
      for (int j = 0; j < KW; j++) {
        float *row = cols + ((size_t)(c * KH + i) * KW + j) * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
          int iy = oy * stride - ph + i;
          float *dst = row + (size_t)oy * OW;
          if (iy < 0 || iy >= H) {
            memset(dst, 0, (size_t)OW * sizeof(float));
            continue;
          }
          const float *src = x + ((size_t)c * H + iy) * W;
          for (int ox = 0; ox < OW; ox++) {
            int ix = ox * stride - pw + j;
            dst[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
          }
        }
      }
}

/* The adjoint of im2col: accumulates columns back into an image. */
void ibx_col2im(const float *cols, int C, int H, int W, int KH, int KW, int stride, int ph,
                int pw, int OH, int OW, float *x) {
  memset(x, 0, (size_t)C * H * W * sizeof(float));
  for (int c = 0; c < C; c++)
    for (int i = 0; i < KH; i++)
      for (int j = 0; j < KW; j++) {
        const float *row = cols + ((size_t)(c * KH + i) * KW + j) * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
          int iy = oy * stride - ph + i;
          if (iy < 0 || iy >= H)
            continue;
          float *dst = x + ((size_t)c * H + iy) * W;
          const float *src = row + (size_t)oy * OW;
          for (int ox = 0; ox < OW; ox++) {
            int ix = ox * stride - pw + j;
            if (ix >= 0 && ix < W)
              dst[ix] += src[ox];
          }
        }
      }
}

/* ---- small maps: one GEMM over the whole batch ---------------------------
 * Per-image GEMMs with only a few output pixels (a 4x4 or 2x2 map) spend
 * their time packing operands, so below SMALL_MAP output pixels the columns
 * of all images sit side by side: cols [K, N*P], Y [O, N*P] = w . cols.
 * Only the im2col path gets here: Winograd takes 3x3 convolutions with 8 or
 * more input channels unless a model forces im2col (attribution does). */
#define SMALL_MAP 64

static int small_map(int N, int P) { return N > 1 && P < SMALL_MAP; }

/* cols [K, N*P]: image n's im2col in columns n*P .. n*P+P-1; tmp [K*P]. */
static void im2col_batch(const ibx_conv2d *L, const ibx_tensor *x, int OH, int OW, float *tmp,
                         float *cols) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int K = C * L->kernel_h * L->kernel_w, P = OH * OW;
  for (int n = 0; n < N; n++) {
    ibx_im2col(x->data + (size_t)n * C * H * W, C, H, W, L->kernel_h, L->kernel_w, L->stride,
               L->pad_h, L->pad_w, OH, OW, tmp);
    for (int k = 0; k < K; k++)
      memcpy(cols + (size_t)k * N * P + (size_t)n * P, tmp + (size_t)k * P, (size_t)P * sizeof(float));
  }
}

static int small_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                         const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s) {
  const int N = x->dim[0], O = y->dim[1], OH = y->dim[2], OW = y->dim[3];
  const int K = L->in_channels * L->kernel_h * L->kernel_w, P = OH * OW;
  const size_t NP = (size_t)N * P;
  float *cols = ibx_scratch_get(s, (size_t)K * NP + (size_t)O * NP + (size_t)K * P);
  if (!cols)
    return IBX_ERR_NOMEM;
  float *Y = cols + (size_t)K * NP, *tmp = Y + (size_t)O * NP;
  im2col_batch(L, x, OH, OW, tmp, cols);
  ibx_gemm(0, 0, O, (int)NP, K, 1.0f, w->data, K, cols,
              (int)NP, 0.0f, Y, (int)NP);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      const float bias = (b && b->data) ? b->data[o] : 0.0f;
      const float *src = Y + (size_t)o * NP + (size_t)n * P;
      float *dst = y->data + ((size_t)n * O + o) * P;
      for (int p = 0; p < P; p++)
        dst[p] = src[p] + bias;
    }
  return IBX_OK;
}

/* dW += dY . cols^T (when dw is given); dcols = w^T . dY, then col2im per
 * image into dx (when given). */
static int small_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                          ibx_scratch *s) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int O = dy->dim[1], OH = dy->dim[2], OW = dy->dim[3];
  const int K = C * L->kernel_h * L->kernel_w, P = OH * OW;
  const size_t NP = (size_t)N * P;
  float *cols = ibx_scratch_get(s, (size_t)K * NP + (size_t)O * NP + (size_t)K * P);
  if (!cols)
    return IBX_ERR_NOMEM;
  float *dY = cols + (size_t)K * NP, *tmp = dY + (size_t)O * NP;
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++)
      memcpy(dY + (size_t)o * NP + (size_t)n * P, dy->data + ((size_t)n * O + o) * P,
             (size_t)P * sizeof(float));
  if (dw && dw->data) {
    im2col_batch(L, x, OH, OW, tmp, cols);
    ibx_gemm(0, 1, O, K, (int)NP, 1.0f, dY, (int)NP, cols,
                (int)NP, 1.0f, dw->data, K);
  }
  if (dx && dx->data) {
    ibx_gemm(1, 0, K, (int)NP, O, 1.0f, w->data, K, dY,
                (int)NP, 0.0f, cols, (int)NP);
    for (int n = 0; n < N; n++) {
      for (int k = 0; k < K; k++)
        memcpy(tmp + (size_t)k * P, cols + (size_t)k * NP + (size_t)n * P, (size_t)P * sizeof(float));
      ibx_col2im(tmp, C, H, W, L->kernel_h, L->kernel_w, L->stride, L->pad_h, L->pad_w, OH, OW,
                 dx->data + (size_t)n * C * H * W);
    }
  }
  if (db && db->data)
    ibx_conv_bias_grad(dy, db);
  return IBX_OK;
}

/* Per image: y[n] (O x OHW) = w (O x CKK) . cols (CKK x OHW) + b. Images are
 * split across threads, each with its own slice of the scratch. */
static int im2col_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int O = y->dim[1], OH = y->dim[2], OW = y->dim[3];
  const int K = C * L->kernel_h * L->kernel_w, P = OH * OW;
  if (small_map(N, P))
    return small_forward(L, x, w, b, y, s);
  const int threads = ibx_conv_threads(N);
  float *cols = ibx_scratch_get(s, (size_t)threads * K * P);
  if (!cols)
    return IBX_ERR_NOMEM;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    float *my = cols + (size_t)ibx_conv_thread_id() * K * P;
    float *yn = y->data + (size_t)n * O * P;
    ibx_im2col(x->data + (size_t)n * C * H * W, C, H, W, L->kernel_h, L->kernel_w, L->stride,
               L->pad_h, L->pad_w, OH, OW, my);
    for (int o = 0; o < O; o++) {
      float bias = (b && b->data) ? b->data[o] : 0.0f;
      for (int p = 0; p < P; p++)
        yn[(size_t)o * P + p] = bias;
    }
    ibx_gemm(0, 0, O, P, K, 1.0f, w->data, K, my, P, 1.0f,
                yn, P);
  }
  return IBX_OK;
}

/* dW += dy[n] . cols^T over images; dx[n] = col2im(W^T . dy[n]). Each thread
 * keeps a private dW partial in scratch so accumulation needs no locks. */
static int im2col_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                           const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                           ibx_scratch *s) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int O = dy->dim[1], OH = dy->dim[2], OW = dy->dim[3];
  const int K = C * L->kernel_h * L->kernel_w, P = OH * OW;
  if (small_map(N, P) || !dw || !dw->data)
    return small_backward(L, x, w, dy, dx, dw, db, s);
  const int threads = ibx_conv_threads(N);
  const size_t per_thread = (size_t)K * P + (size_t)O * K;
  float *buf = ibx_scratch_get(s, (size_t)threads * per_thread);
  if (!buf)
    return IBX_ERR_NOMEM;
  memset(buf, 0, (size_t)threads * per_thread * sizeof(float));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int n = 0; n < N; n++) {
    float *cols = buf + (size_t)ibx_conv_thread_id() * per_thread;
    float *dw_part = cols + (size_t)K * P;
    const float *dyn = dy->data + (size_t)n * O * P;
    ibx_im2col(x->data + (size_t)n * C * H * W, C, H, W, L->kernel_h, L->kernel_w, L->stride,
               L->pad_h, L->pad_w, OH, OW, cols);
    ibx_gemm(0, 1, O, K, P, 1.0f, dyn, P, cols, P, 1.0f,
                dw_part, K);
    if (dx && dx->data) {
      ibx_gemm(1, 0, K, P, O, 1.0f, w->data, K, dyn, P, 0.0f,
                  cols, P);
      ibx_col2im(cols, C, H, W, L->kernel_h, L->kernel_w, L->stride, L->pad_h, L->pad_w, OH, OW,
                 dx->data + (size_t)n * C * H * W);
    }
  }
  for (int t = 0; t < threads; t++) {
    const float *dw_part = buf + (size_t)t * per_thread + (size_t)K * P;
    for (size_t i = 0; i < (size_t)O * K; i++)
      dw->data[i] += dw_part[i];
  }
  if (db && db->data)
    ibx_conv_bias_grad(dy, db);
  return IBX_OK;
}

/* Per channel, plane sums in a fixed order; channels are split over threads. */
void ibx_conv_bias_grad(const ibx_tensor *dy, ibx_tensor *db) {
  const int N = dy->dim[0], O = dy->dim[1], P = dy->dim[2] * dy->dim[3];
  const int threads = (size_t)N * O * P < ((size_t)1 << 16) ? 1 : ibx_conv_threads(O);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int o = 0; o < O; o++) {
    double acc = 0.0;
    for (int n = 0; n < N; n++)
      acc += ibx_sum_f32(dy->data + ((size_t)n * O + o) * P, P);
    db->data[o] += (float)acc;
  }
}

/* planes: NULL, or the output planes' batch-norm moments (fused into
 * Winograd; a pass over y after im2col). */
static int conv_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                        const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s,
                        ibx_bn_moments *planes, const char *op) {
  IBX_TRY(check_shapes(L, x, w, b, y, op));
  int wino = use_winograd(L);
  if (wino < 0)
    return ibx_fail(IBX_ERR_ARG, "%s: Winograd needs a 3x3 kernel, stride 1, pad 1", op);
  int done = 0;
  if (wino)
    IBX_TRY(ibx_winograd_forward(L, x, w, b, y, s, planes, &done));
  else
    IBX_TRY(im2col_forward(L, x, w, b, y, s));
  if (planes && !done) {
    const long np = (long)y->dim[0] * y->dim[1], S = (long)y->dim[2] * y->dim[3];
#pragma omp parallel for schedule(static)
    for (long p = 0; p < np; p++)
      ibx_bn_moments_of(y->data + (size_t)p * S, S, &planes[p]);
  }
  return IBX_OK;
}

int ibx_conv2d_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                       const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s) {
  return conv_forward(L, x, w, b, y, s, NULL, "conv2d_forward");
}

int ibx_conv2d_forward_moments(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                               const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s,
                               ibx_bn_moments *planes) {
  if (!planes)
    return ibx_fail(IBX_ERR_ARG, "conv2d_forward_moments: the planes buffer is missing");
  return conv_forward(L, x, w, b, y, s, planes, "conv2d_forward_moments");
}

int ibx_conv2d_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                        const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                        ibx_scratch *s) {
  IBX_TRY(check_shapes(L, x, w, db, dy, "conv2d_backward"));
  if (dw) /* NULL: no weight gradient (frozen weights: attribution) */
    IBX_TRY(ibx_check_same(w, dw, "conv2d_backward", "w", "dw"));
  if (dx && dx->data)
    IBX_TRY(ibx_check_same(x, dx, "conv2d_backward", "x", "dx"));
  int wino = use_winograd(L);
  if (wino < 0)
    return ibx_fail(IBX_ERR_ARG, "conv2d_backward: Winograd needs a 3x3 kernel, stride 1, pad 1");
  /* without dw the batched im2col backward does the input gradient alone */
  return wino && dw ? ibx_winograd_backward(L, x, w, dy, dx, dw, db, s)
                    : im2col_backward(L, x, w, dy, dx, dw, db, s);
}
