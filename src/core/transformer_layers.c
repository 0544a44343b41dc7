/* Transformer layers (include/ibx/transformer_layers.h): embeddings,
 * LayerNorm, GELU, masked multi-head self-attention, feed-forward. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/transformer_layers.h"
#include "isa_clones.h"
#include "reduce.h"

/* ---- embeddings ---------------------------------------------------------- */

static int check_embedding(const int32_t *ids, int n, const ibx_tensor *w, const ibx_tensor *y,
                           const char *op, const char *yname) {
  IBX_TRY(ibx_check_ndim(w, 2, op, "w"));
  IBX_TRY(ibx_check_ndim(y, 2, op, yname));
  if (!ids || n <= 0 || y->dim[0] != n || y->dim[1] != w->dim[1])
    return ibx_fail(IBX_ERR_SHAPE, "%s: %d ids, %s [%d,%d] and w [%d,%d] do not fit", op, n,
                    yname, y->dim[0], y->dim[1], w->dim[0], w->dim[1]);
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= w->dim[0])
      return ibx_fail(IBX_ERR_ARG, "%s: token id %d at %d outside the vocabulary [0,%d)", op,
                      (int)ids[i], i, w->dim[0]);
  return IBX_OK;
}

int ibx_embedding_forward(const int32_t *ids, int n, const ibx_tensor *w, ibx_tensor *y) {
  IBX_TRY(check_embedding(ids, n, w, y, "embedding_forward", "y"));
  const int D = w->dim[1];
  for (int i = 0; i < n; i++)
    memcpy(y->data + (size_t)i * D, w->data + (size_t)ids[i] * D, (size_t)D * sizeof(float));
  return IBX_OK;
}

int ibx_embedding_backward(const int32_t *ids, int n, const ibx_tensor *dy, ibx_tensor *dw) {
  IBX_TRY(check_embedding(ids, n, dw, dy, "embedding_backward", "dy"));
  const int D = dw->dim[1];
  for (int i = 0; i < n; i++) {
    float *row = dw->data + (size_t)ids[i] * D;
    const float *g = dy->data + (size_t)i * D;
    for (int d = 0; d < D; d++)
      row[d] += g[d];
  }
  return IBX_OK;
}

static int check_seq(const ibx_tensor *t, const char *op, const char *name) {
  return ibx_check_ndim(t, 3, op, name);
}

int ibx_position_add_forward(const ibx_tensor *x, const ibx_tensor *pos, ibx_tensor *y) {
  const char *op = "position_add_forward";
  IBX_TRY(check_seq(x, op, "x"));
  IBX_TRY(ibx_check_same(x, y, op, "x", "y"));
  IBX_TRY(ibx_check_ndim(pos, 2, op, "pos"));
  const int N = x->dim[0], T = x->dim[1], D = x->dim[2];
  if (pos->dim[0] < T || pos->dim[1] != D)
    return ibx_fail(IBX_ERR_SHAPE, "%s: pos [%d,%d] does not cover %d positions of %d features",
                    op, pos->dim[0], pos->dim[1], T, D);
  for (int n = 0; n < N; n++)
    for (int t = 0; t < T; t++) {
      const size_t o = ((size_t)n * T + t) * D;
      const float *p = pos->data + (size_t)t * D;
      for (int d = 0; d < D; d++)
        y->data[o + d] = x->data[o + d] + p[d];
    }
  return IBX_OK;
}

int ibx_position_add_backward(const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dpos) {
  const char *op = "position_add_backward";
  IBX_TRY(check_seq(dy, op, "dy"));
  const int N = dy->dim[0], T = dy->dim[1], D = dy->dim[2];
  if (dx && dx->data) {
    IBX_TRY(ibx_check_same(dy, dx, op, "dy", "dx"));
    if (dx->data != dy->data)
      memcpy(dx->data, dy->data, (size_t)N * T * D * sizeof(float));
  }
  if (dpos && dpos->data) {
    IBX_TRY(ibx_check_ndim(dpos, 2, op, "dpos"));
    if (dpos->dim[0] < T || dpos->dim[1] != D)
      return ibx_fail(IBX_ERR_SHAPE, "%s: dpos [%d,%d] does not cover %d positions of %d", op,
                      dpos->dim[0], dpos->dim[1], T, D);
    for (int n = 0; n < N; n++)
      for (int t = 0; t < T; t++) {
        const float *g = dy->data + ((size_t)n * T + t) * D;
        float *p = dpos->data + (size_t)t * D;
        for (int d = 0; d < D; d++)
          p[d] += g[d];
      }
  }
  return IBX_OK;
}

/* ---- row reductions ---------------------------------------------------------
 * The row and element loops (LayerNorm, GELU, the attention softmax) carry
 * IBX_ISA_CLONES (isa_clones.h): in the portable build SSE2 runs them 4 lanes
 * wide. They are plain functions called from inside the parallel loops. */

/* Row reductions as IBX_SUM_LANES interleaved partial sums, combined
 * pairwise in a fixed order (reduce.h): they vectorise at any vector width
 * and every clone adds in the same order. */
#define LANES IBX_SUM_LANES

static inline double row_mean(const float *x, int D) {
  double a[LANES] = {0};
  int d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++)
      a[l] += x[d + l];
  for (int l = 0; d < D; d++, l++)
    a[l] += x[d];
  return ibx_lanes_total_d(a) / D;
}

/* ---- LayerNorm ----------------------------------------------------------- */

/* One row: statistics in double (a float mean would carry half an ulp of the
 * offset, 3e-5 at 1e3, into every normalised value), output in float. */
IBX_ISA_CLONES static void ln_forward_row(const float *x, int D, float eps, const float *gamma,
                                     const float *beta, float *y, float *mean, float *rstd) {
  const double m = row_mean(x, D);
  double a[LANES] = {0};
  int d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++) {
      const double c = x[d + l] - m;
      a[l] += c * c;
    }
  for (int l = 0; d < D; d++, l++) {
    const double c = x[d] - m;
    a[l] += c * c;
  }
  const double v = ibx_lanes_total_d(a) / D;
  const float rs = (float)(1.0 / sqrt(v + (double)eps));
  *mean = (float)m, *rstd = rs;
  for (d = 0; d < D; d++)
    y[d] = (float)(x[d] - m) * rs * gamma[d] + beta[d];
}

/* One row of dx; dx may alias dy. */
IBX_ISA_CLONES static void ln_backward_row(const float *x, const float *dy, const float *gamma,
                                      float rstd, int D, float *dx) {
  const double m = row_mean(x, D);
  double a[LANES] = {0}, b[LANES] = {0};
  int d = 0;
  for (; d + LANES <= D; d += LANES)
    for (int l = 0; l < LANES; l++) {
      const double g = (double)dy[d + l] * gamma[d + l], xh = (x[d + l] - m) * rstd;
      a[l] += g, b[l] += g * xh;
    }
  for (int l = 0; d < D; d++, l++) {
    const double g = (double)dy[d] * gamma[d], xh = (x[d] - m) * rstd;
    a[l] += g, b[l] += g * xh;
  }
  const double sg = ibx_lanes_total_d(a) / D, sgx = ibx_lanes_total_d(b) / D;
  for (d = 0; d < D; d++) {
    const double g = (double)dy[d] * gamma[d], xh = (x[d] - m) * rstd;
    dx[d] = (float)(rstd * (g - sg - xh * sgx));
  }
}


static int check_ln(const ibx_tensor *x, const ibx_tensor *gamma, const char *op, int64_t *R,
                    int *D) {
  if (!x || !x->data || x->ndim < 1)
    return ibx_fail(IBX_ERR_SHAPE, "%s: x is missing", op);
  IBX_TRY(ibx_check_ndim(gamma, 1, op, "gamma"));
  *D = x->dim[x->ndim - 1];
  if (gamma->dim[0] != *D)
    return ibx_fail(IBX_ERR_SHAPE, "%s: gamma [%d] does not match %d features", op,
                    gamma->dim[0], *D);
  *R = ibx_numel(x) / *D;
  return IBX_OK;
}

int ibx_layernorm_forward(float eps, const ibx_tensor *x, const ibx_tensor *gamma,
                          const ibx_tensor *beta, ibx_tensor *y, float *mean, float *rstd) {
  const char *op = "layernorm_forward";
  int64_t R;
  int D;
  IBX_TRY(check_ln(x, gamma, op, &R, &D));
  IBX_TRY(ibx_check_same(gamma, beta, op, "gamma", "beta"));
  IBX_TRY(ibx_check_same(x, y, op, "x", "y"));
  if (!(eps > 0.0f))
    return ibx_fail(IBX_ERR_ARG, "%s: eps = %g must be > 0", op, (double)eps);
#pragma omp parallel for schedule(static) if (R * D > 65536)
  for (int64_t r = 0; r < R; r++) {
    float mr;
    ln_forward_row(x->data + r * D, D, eps, gamma->data, beta->data, y->data + r * D, &mr,
                   &rstd[r]);
    if (mean)
      mean[r] = mr;
  }
  return IBX_OK;
}

int ibx_layernorm_backward(const ibx_tensor *x, const ibx_tensor *gamma, const float *rstd, const ibx_tensor *dy, ibx_tensor *dx,
                           ibx_tensor *dgamma, ibx_tensor *dbeta) {
  const char *op = "layernorm_backward";
  int64_t R;
  int D;
  IBX_TRY(check_ln(x, gamma, op, &R, &D));
  IBX_TRY(ibx_check_same(x, dy, op, "x", "dy"));
  if (dgamma && dgamma->data)
    IBX_TRY(ibx_check_same(gamma, dgamma, op, "gamma", "dgamma"));
  if (dbeta && dbeta->data)
    IBX_TRY(ibx_check_same(gamma, dbeta, op, "gamma", "dbeta"));
  if (dx && dx->data)
    IBX_TRY(ibx_check_same(x, dx, op, "x", "dx"));
  /* The row mean is recomputed in double: a float32 copy of it would carry
   * half an ulp of the offset (3e-5 at 1e3) into every normalised value. */
  /* Parameter gradients first (serial over rows: they are shared), then dx
   * row by row, so dx may alias dy. */
  const int param_grads = (dgamma && dgamma->data) || (dbeta && dbeta->data);
  for (int64_t r = 0; param_grads && r < R; r++) {
    const float *xr = x->data + r * D, *gr = dy->data + r * D;
    const double m = row_mean(xr, D);
    for (int d = 0; d < D; d++) {
      if (dgamma && dgamma->data)
        dgamma->data[d] += (float)((double)gr[d] * (xr[d] - m) * rstd[r]);
      if (dbeta && dbeta->data)
        dbeta->data[d] += gr[d];
    }
  }
  if (!dx || !dx->data)
    return IBX_OK;
#pragma omp parallel for schedule(static) if (R * D > 65536)
  for (int64_t r = 0; r < R; r++)
    ln_backward_row(x->data + r * D, dy->data + r * D, gamma->data, rstd[r], D, dx->data + r * D);
  return IBX_OK;
}

/* ---- branch-free exp and erf that the compiler vectorises -------------------
 * glibc's expf/erff are scalar calls; the softmax and GELU loops spend most
 * of their time in them. exp: x = n ln2 + r, |r| <= ln2/2 (n rounded), a degree-6
 * polynomial for e^r (relative error < 2e-7 over the float range used), 2^n
 * by exponent bits; inputs below -87 give 0. erf: Abramowitz & Stegun
 * 7.1.26 (absolute error < 1.5e-7), with the exp above. */
static inline float fast_expf(float x) {
  x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
  /* round to nearest by the 1.5 * 2^23 trick (no floorf: SSE2 has no
   * vector floor, and a libm call stops vectorisation) */
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union {
    float f;
    int32_t i;
  } u = {p};
  u.i += (int32_t)n << 23;
  return x <= -87.0f ? 0.0f : u.f;
}

static inline float fast_erff(float x) {
  const float ax = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * ax);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f +
                                                                        t * 1.061405429f))));
  const float y = 1.0f - poly * fast_expf(-ax * ax);
  return x < 0.0f ? -y : y;
}

/* ---- GELU ----------------------------------------------------------------- */

#define GELU_CHUNK 4096 /* elements per call of a span kernel */

IBX_ISA_CLONES static void gelu_forward_span(const float *x, float *y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + fast_erff(v * 0.70710678118654752440f));
  }
}

IBX_ISA_CLONES static void gelu_backward_span(const float *x, const float *dy, float *dx, int64_t n) {
  const float inv_sqrt_2pi = 0.39894228040143267794f;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + fast_erff(v * 0.70710678118654752440f));
    const float pdf = inv_sqrt_2pi * fast_expf(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

int ibx_gelu_forward(const ibx_tensor *x, ibx_tensor *y) {
  IBX_TRY(ibx_check_same(x, y, "gelu_forward", "x", "y"));
  const int64_t n = ibx_numel(x), chunks = (n + GELU_CHUNK - 1) / GELU_CHUNK;
  const float *xd = x->data;
  float *yd = y->data;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i0 = c * GELU_CHUNK;
    gelu_forward_span(xd + i0, yd + i0, n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK);
  }
  return IBX_OK;
}

int ibx_gelu_backward(const ibx_tensor *x, const ibx_tensor *dy, ibx_tensor *dx) {
  IBX_TRY(ibx_check_same(x, dy, "gelu_backward", "x", "dy"));
  IBX_TRY(ibx_check_same(x, dx, "gelu_backward", "x", "dx"));
  const int64_t n = ibx_numel(x), chunks = (n + GELU_CHUNK - 1) / GELU_CHUNK;
  const float *xd = x->data, *gd = dy->data;
  float *dd = dx->data;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i0 = c * GELU_CHUNK;
    gelu_backward_span(xd + i0, gd + i0, dd + i0, n - i0 < GELU_CHUNK ? n - i0 : GELU_CHUNK);
  }
  return IBX_OK;
}

/* ---- small GEMM helpers (row-major) -------------------------------------- */

/* y[R,O] = x[R,In] w[O,In]^T + b */
static void gemm_xwt_b(int R, int In, int O, const float *x, const float *w, const float *b,
                       float *y) {
  float beta = 0.0f;
  if (b) {
    for (int r = 0; r < R; r++)
      memcpy(y + (size_t)r * O, b, (size_t)O * sizeof(float));
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, O, In, 1.0f, x, In, w, In, beta, y, O);
}

/* Backward of gemm_xwt_b: dx[R,In] = dy w (written, if dx); dw += dy^T x (if
 * dw); db += column sums of dy (if db). */
static void gemm_xwt_b_backward(int R, int In, int O, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db) {
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, In, O, 1.0f, dy, O, w, In, 0.0f, dx,
                In);
  if (dw)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, R, 1.0f, dy, O, x, In, 1.0f, dw, In);
  if (db) { /* row by row (contiguous), in double */
    double stack[512], *acc = O <= 512 ? stack : calloc((size_t)O, sizeof *acc);
    if (!acc) { /* out of memory: the strided order, same sums */
      for (int o = 0; o < O; o++) {
        double a = 0.0;
        for (int r = 0; r < R; r++)
          a += dy[(size_t)r * O + o];
        db[o] += (float)a;
      }
      return;
    }
    memset(acc, 0, (size_t)O * sizeof *acc);
    for (int r = 0; r < R; r++) {
      const float *row = dy + (size_t)r * O;
      for (int o = 0; o < O; o++)
        acc[o] += row[o];
    }
    for (int o = 0; o < O; o++)
      db[o] += (float)acc[o];
    if (acc != stack)
      free(acc);
  }
}

static float *data_or_null(const ibx_tensor *t) { return t && t->data ? t->data : NULL; }

/* ---- multi-head self-attention ------------------------------------------- */

void ibx_mha_saved_sizes(const ibx_mha *L, int N, int T, size_t sizes[4]) {
  const size_t D = (size_t)L->d_model, NT = (size_t)N * T;
  sizes[0] = NT * 3 * D;
  sizes[1] = NT * (size_t)L->heads * T;
  sizes[2] = sizes[1];
  sizes[3] = NT * D;
}

static int check_mha(const ibx_mha *L, const ibx_tensor *x, const ibx_tensor *in_w,
                     const ibx_tensor *out_w, const char *op) {
  IBX_TRY(check_seq(x, op, "x"));
  IBX_TRY(ibx_check_ndim(in_w, 2, op, "in_proj_weight"));
  IBX_TRY(ibx_check_ndim(out_w, 2, op, "out_proj.weight"));
  const int D = L->d_model;
  if (L->heads <= 0 || D <= 0 || D % L->heads)
    return ibx_fail(IBX_ERR_ARG, "%s: d_model %d is not a multiple of heads %d", op, D,
                    L->heads);
  if (x->dim[2] != D || in_w->dim[0] != 3 * D || in_w->dim[1] != D || out_w->dim[0] != D ||
      out_w->dim[1] != D)
    return ibx_fail(IBX_ERR_SHAPE, "%s: x, in_proj_weight or out_proj.weight do not fit d_model %d",
                    op, D);
  if (!(L->attn_dropout.p >= 0.0f && L->attn_dropout.p < 1.0f))
    return ibx_fail(IBX_ERR_ARG, "%s: attention dropout %g must be in [0, 1)", op,
                    (double)L->attn_dropout.p);
  return IBX_OK;
}

static int dropping(const ibx_mha *L, int training) {
  return training && L->attn_dropout.p > 0.0f;
}

/* Row-wise softmax of the T x T scores P in place, keys with pad[j] != 0
 * excluded (weight 0; a row whose keys are all padded becomes 0). */
IBX_ISA_CLONES static void softmax_rows(float *P, int T, const uint8_t *pad) {
  for (int i = 0; i < T; i++) {
    float *row = P + (size_t)i * T;
    float lm[LANES]; /* the row maximum, lane by lane (exact in any order) */
    for (int l = 0; l < LANES; l++)
      lm[l] = -INFINITY;
    int j0 = 0;
    for (; j0 + LANES <= T; j0 += LANES)
      for (int l = 0; l < LANES; l++) {
        const float v = pad && pad[j0 + l] ? -INFINITY : row[j0 + l];
        lm[l] = v > lm[l] ? v : lm[l];
      }
    for (int l = 0; j0 < T; j0++, l++) {
      const float v = pad && pad[j0] ? -INFINITY : row[j0];
      lm[l] = v > lm[l] ? v : lm[l];
    }
    float mx = -INFINITY;
    for (int l = 0; l < LANES; l++)
      mx = lm[l] > mx ? lm[l] : mx;
    if (mx == -INFINITY) { /* every key padded */
      memset(row, 0, (size_t)T * sizeof(float));
      continue;
    }
    for (int j = 0; j < T; j++)
      row[j] = fast_expf(row[j] - mx);
    if (pad)
      for (int j = 0; j < T; j++)
        row[j] = pad[j] ? 0.0f : row[j];
    float ls[LANES] = {0}; /* terms in (0, 1], the largest 1: float suffices */
    j0 = 0;
    for (; j0 + LANES <= T; j0 += LANES)
      for (int l = 0; l < LANES; l++)
        ls[l] += row[j0 + l];
    for (int l = 0; j0 < T; j0++, l++)
      ls[l] += row[j0];
    const float inv = 1.0f / ibx_lanes_total_f(ls);
    for (int j = 0; j < T; j++)
      row[j] *= inv;
  }
}

/* Softmax backward in place: G <- P (G - sum_j P G) row by row. */
IBX_ISA_CLONES static void softmax_rows_backward(const float *P, float *G, int T) {
  for (int i = 0; i < T; i++) {
    const float *pr = P + (size_t)i * T;
    float *gr = G + (size_t)i * T;
    double a[LANES] = {0};
    int j = 0;
    for (; j + LANES <= T; j += LANES)
      for (int l = 0; l < LANES; l++)
        a[l] += (double)pr[j + l] * gr[j + l];
    for (int l = 0; j < T; j++, l++)
      a[l] += (double)pr[j] * gr[j];
    const float dot = (float)ibx_lanes_total_d(a);
    for (j = 0; j < T; j++)
      gr[j] = pr[j] * (gr[j] - dot);
  }
}

int ibx_mha_forward(const ibx_mha *L, int training, const ibx_tensor *x, const uint8_t *key_pad,
                    const ibx_tensor *in_w, const ibx_tensor *in_b, const ibx_tensor *out_w,
                    const ibx_tensor *out_b, ibx_tensor *y, const ibx_mha_saved *sv) {
  const char *op = "mha_forward";
  IBX_TRY(check_mha(L, x, in_w, out_w, op));
  IBX_TRY(ibx_check_same(x, y, op, "x", "y"));
  const int N = x->dim[0], T = x->dim[1], D = L->d_model, H = L->heads, hd = D / H;
  const int drop = dropping(L, training);
  const float scale = 1.0f / sqrtf((float)hd);
  gemm_xwt_b(N * T, D, 3 * D, x->data, in_w->data, data_or_null(in_b), sv->qkv);
#pragma omp parallel for schedule(static) if (N * H > 1)
  for (int nh = 0; nh < N * H; nh++) {
    const int n = nh / H, h = nh % H;
    const float *q = sv->qkv + (size_t)n * T * 3 * D + (size_t)h * hd;
    const float *k = q + D, *v = q + 2 * D;
    float *P = sv->probs + (size_t)nh * T * T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, 3 * D, k, 3 * D,
                0.0f, P, T);
    softmax_rows(P, T, key_pad ? key_pad + (size_t)n * T : NULL);
    const float *Pu = P;
    if (drop) {
      float *Pd = sv->drop + (size_t)nh * T * T;
      ibx_tensor pin = ibx_t1(P, T * T), pout = ibx_t1(Pd, T * T);
      ibx_dropout dl = L->attn_dropout;
      dl.stream = L->attn_dropout.stream * 0x100000001b3ULL + (uint64_t)nh;
      (void)ibx_dropout_forward(&dl, 1, &pin, &pout);
      Pu = Pd;
    }
    float *c = sv->ctx + (size_t)n * T * D + (size_t)h * hd;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, Pu, T, v, 3 * D, 0.0f,
                c, D);
  }
  gemm_xwt_b(N * T, D, D, sv->ctx, out_w->data, data_or_null(out_b), y->data);
  return IBX_OK;
}

int ibx_mha_backward(const ibx_mha *L, int training, const ibx_tensor *x, const uint8_t *key_pad,
                     const ibx_tensor *in_w, const ibx_tensor *out_w, const ibx_mha_saved *sv,
                     const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *din_w, ibx_tensor *din_b,
                     ibx_tensor *dout_w, ibx_tensor *dout_b, ibx_scratch *s) {
  const char *op = "mha_backward";
  IBX_TRY(check_mha(L, x, in_w, out_w, op));
  IBX_TRY(ibx_check_same(x, dy, op, "x", "dy"));
  if (dx && dx->data)
    IBX_TRY(ibx_check_same(x, dx, op, "x", "dx"));
  (void)key_pad; /* padded keys have P = 0, which zeroes their gradients */
  const int N = x->dim[0], T = x->dim[1], D = L->d_model, H = L->heads, hd = D / H;
  const int drop = dropping(L, training);
  const float scale = 1.0f / sqrtf((float)hd);
  const size_t NT = (size_t)N * T;
  float *buf = ibx_scratch_get(s, NT * D + NT * 3 * D + (size_t)N * H * T * T);
  if (!buf)
    return IBX_ERR_NOMEM;
  float *dctx = buf, *dqkv = buf + NT * D, *dP = dqkv + NT * 3 * D;
  gemm_xwt_b_backward((int)NT, D, D, sv->ctx, out_w->data, dy->data, dctx, data_or_null(dout_w),
                      data_or_null(dout_b));
#pragma omp parallel for schedule(static) if (N * H > 1)
  for (int nh = 0; nh < N * H; nh++) {
    const int n = nh / H, h = nh % H;
    const size_t base = (size_t)n * T * 3 * D + (size_t)h * hd;
    const float *q = sv->qkv + base, *k = q + D, *v = q + 2 * D;
    float *dq = dqkv + base, *dk = dq + D, *dv = dq + 2 * D;
    const float *P = sv->probs + (size_t)nh * T * T;
    const float *Pu = drop ? sv->drop + (size_t)nh * T * T : P;
    const float *dc = dctx + (size_t)n * T * D + (size_t)h * hd;
    float *G = dP + (size_t)nh * T * T;
    /* dV = Pu^T dctx; dPu = dctx V^T */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, Pu, T, dc, D, 0.0f, dv,
                3 * D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dc, D, v, 3 * D, 0.0f, G,
                T);
    if (drop) {
      /* the mask from the saved weights instead of the generator: where
       * P > 0, kept iff P_drop != 0; where P = 0 the softmax backward below
       * multiplies by P, so the mask does not matter there */
      const float keep_scale = 1.0f / (1.0f - L->attn_dropout.p);
      for (size_t e = 0; e < (size_t)T * T; e++)
        G[e] = Pu[e] != 0.0f ? G[e] * keep_scale : 0.0f;
    }
    /* softmax backward: dS = P (dP - sum_j P dP) */
    softmax_rows_backward(P, G, T);
    /* S = scale q k^T: dq = scale dS k, dk = scale dS^T q */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, G, T, k, 3 * D, 0.0f,
                dq, 3 * D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, G, T, q, 3 * D, 0.0f, dk,
                3 * D);
  }
  gemm_xwt_b_backward((int)NT, D, 3 * D, x->data, in_w->data, dqkv, data_or_null(dx),
                      data_or_null(din_w), data_or_null(din_b));
  return IBX_OK;
}

/* ---- feed-forward --------------------------------------------------------- */

static int check_ffn(const ibx_ffn *L, const ibx_tensor *x, const ibx_tensor *w1,
                     const ibx_tensor *w2, const char *op) {
  IBX_TRY(ibx_check_ndim(x, 2, op, "x"));
  IBX_TRY(ibx_check_ndim(w1, 2, op, "linear1.weight"));
  IBX_TRY(ibx_check_ndim(w2, 2, op, "linear2.weight"));
  const int D = L->d_model, F = L->d_ff;
  if (x->dim[1] != D || w1->dim[0] != F || w1->dim[1] != D || w2->dim[0] != D ||
      w2->dim[1] != F)
    return ibx_fail(IBX_ERR_SHAPE, "%s: x, linear1 or linear2 do not fit d_model %d, d_ff %d", op,
                    D, F);
  return IBX_OK;
}

int ibx_ffn_forward(const ibx_ffn *L, int training, const ibx_tensor *x, const ibx_tensor *w1,
                    const ibx_tensor *b1, const ibx_tensor *w2, const ibx_tensor *b2,
                    ibx_tensor *y, float *h, float *a) {
  const char *op = "ffn_forward";
  IBX_TRY(check_ffn(L, x, w1, w2, op));
  IBX_TRY(ibx_check_same(x, y, op, "x", "y"));
  const int R = x->dim[0], D = L->d_model, F = L->d_ff;
  gemm_xwt_b(R, D, F, x->data, w1->data, data_or_null(b1), h);
  ibx_tensor ht = ibx_t2(h, R, F), at = ibx_t2(a, R, F);
  IBX_TRY(ibx_gelu_forward(&ht, &at));
  IBX_TRY(ibx_dropout_forward(&L->dropout, training, &at, &at));
  gemm_xwt_b(R, F, D, a, w2->data, data_or_null(b2), y->data);
  return IBX_OK;
}

int ibx_ffn_backward(const ibx_ffn *L, int training, const ibx_tensor *x, const ibx_tensor *w1,
                     const ibx_tensor *w2, const float *h, const float *a, const ibx_tensor *dy,
                     ibx_tensor *dx, ibx_tensor *dw1, ibx_tensor *db1, ibx_tensor *dw2,
                     ibx_tensor *db2, ibx_scratch *s) {
  const char *op = "ffn_backward";
  IBX_TRY(check_ffn(L, x, w1, w2, op));
  IBX_TRY(ibx_check_same(x, dy, op, "x", "dy"));
  if (dx && dx->data)
    IBX_TRY(ibx_check_same(x, dx, op, "x", "dx"));
  const int R = x->dim[0], D = L->d_model, F = L->d_ff;
  float *da = ibx_scratch_get(s, (size_t)R * F);
  if (!da)
    return IBX_ERR_NOMEM;
  gemm_xwt_b_backward(R, F, D, a, w2->data, dy->data, da, data_or_null(dw2), data_or_null(db2));
  ibx_tensor dat = ibx_t2(da, R, F), ht = ibx_t2((float *)h, R, F);
  IBX_TRY(ibx_dropout_backward(&L->dropout, training, &dat, &dat));
  IBX_TRY(ibx_gelu_backward(&ht, &dat, &dat));
  gemm_xwt_b_backward(R, D, F, x->data, w1->data, da, data_or_null(dx), data_or_null(dw1),
                      data_or_null(db1));
  return IBX_OK;
}
