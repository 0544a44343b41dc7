/* Batch normalisation, 2-D ([N,C,H,W]) and 1-D ([N,C]); statistics per channel,
 * optionally synchronised over replicas (ibx_bn_reduce_fn, layers.h).
 * Sums run in double so large batches do not lose precision. */
#include <math.h>
#include <omp.h>
#include <stdio.h>

#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/layers.h"
#include "isa_clones.h"
#include "reduce.h"

/* Views x as [N, C, S] where S = H*W (1 for 1-D). */
static int bn_dims(const ibx_batchnorm *L, const ibx_tensor *x, const char *op, int *N, int *S) {
  char s[64];
  if (!x || !x->data || (x->ndim != 2 && x->ndim != 4))
    return ibx_fail(IBX_ERR_SHAPE, "%s: x must be [N,C] or [N,C,H,W]", op);
  if (x->dim[1] != L->channels)
    return ibx_fail(IBX_ERR_SHAPE, "%s: x %s has %d channels, layer has %d", op,
                    ibx_shape_str(x, s, sizeof s), x->dim[1], L->channels);
  *N = x->dim[0];
  *S = x->ndim == 4 ? x->dim[2] * x->dim[3] : 1;
  return IBX_OK;
}

static int check_vec(const ibx_tensor *t, int C, const char *op, const char *name) {
  IBX_TRY(ibx_check_ndim(t, 1, op, name));
  if (t->dim[0] != C)
    return ibx_fail(IBX_ERR_SHAPE, "%s: %s has %d entries, expected %d", op, name, t->dim[0], C);
  return IBX_OK;
}

/* The per-plane loops get AVX-512 and AVX2 clones picked at load time when
 * the build is portable (no -march): the backward pass's two sweeps over x,
 * dy and the ReLU output are compute-bound with SSE2 (selects, 4 lanes). */

/* Per-plane reductions: ibx_sum_f32 and friends (reduce.h), whose bits do
 * not depend on the vector width of the clone that runs them. */

/* Small planes (fewer than BN_SMALL_PLANE values): the per-plane sums
 * (reduce.h) end in a horizontal sum per plane, which is most of their cost at 2 x 2 or
 * 4 x 4. Instead: the lanes j = (c - c0) * S + s of a group of channels are
 * summed down the batch (the rows of [N, C*S] are C*S apart), vectorised
 * across the lanes, in float over at most 64 samples then in double; the
 * lanes of a channel are added last. Each channel's sums are in a fixed order
 * whatever the grouping, so the result does not depend on the thread count. */
#define BN_SMALL_PLANE IBX_BN_COLUMN_PLANE
#define BN_COL_LANES 512

/* dg[j] += sum over n of g, dgx[j] += sum over n of g (x - meanx[j]) for the
 * L <= BN_COL_LANES lanes at x, dy, y (g: dy masked by y > 0 when y is set). */
IBX_ISA_CLONES
static void column_grad_sums(const float *x, const float *dy, const float *y, int N, size_t row,
                             int L, const float *meanx, double *dg, double *dgx) {
  float a[BN_COL_LANES], ax[BN_COL_LANES];
  for (int n0 = 0; n0 < N; n0 += 64) {
    const int n1 = n0 + 64 < N ? n0 + 64 : N;
    for (int j = 0; j < L; j++)
      a[j] = 0.0f, ax[j] = 0.0f;
    for (int n = n0; n < n1; n++) {
      const float *xr = x + (size_t)n * row, *gr = dy + (size_t)n * row;
      if (y) {
        const float *yr = y + (size_t)n * row;
#pragma omp simd
        for (int j = 0; j < L; j++) {
          const float g = yr[j] > 0.0f ? gr[j] : 0.0f;
          a[j] += g;
          ax[j] += g * (xr[j] - meanx[j]);
        }
      } else {
#pragma omp simd
        for (int j = 0; j < L; j++) {
          a[j] += gr[j];
          ax[j] += gr[j] * (xr[j] - meanx[j]);
        }
      }
    }
    for (int j = 0; j < L; j++)
      dg[j] += a[j], dgx[j] += ax[j];
  }
}

/* out[j] += sum over n of x (meanx NULL) or of (x - meanx[j])^2, for the L
 * lanes at x (rows `row` apart), as column_grad_sums. */
IBX_ISA_CLONES
static void column_moment(const float *x, int N, size_t row, int L, const float *meanx,
                          double *out) {
  float a[BN_COL_LANES];
  for (int n0 = 0; n0 < N; n0 += 64) {
    const int n1 = n0 + 64 < N ? n0 + 64 : N;
    for (int j = 0; j < L; j++)
      a[j] = 0.0f;
    for (int n = n0; n < n1; n++) {
      const float *xr = x + (size_t)n * row;
      if (meanx) {
#pragma omp simd
        for (int j = 0; j < L; j++)
          a[j] += (xr[j] - meanx[j]) * (xr[j] - meanx[j]);
      } else {
#pragma omp simd
        for (int j = 0; j < L; j++)
          a[j] += xr[j];
      }
    }
    for (int j = 0; j < L; j++)
      out[j] += a[j];
  }
}

/* Channels per group of the column sums: at most BN_COL_LANES lanes, and
 * enough groups for the threads (the results do not depend on it). */
static int column_group(int C, int S) {
  const int threads = omp_get_max_threads();
  const int G = BN_COL_LANES / S, per = (C + 4 * threads - 1) / (4 * threads);
  return G < per ? G : per < 1 ? 1 : per;
}

/* out[c] = sum over the batch and the plane of x (mean NULL) or of
 * (x - mean[c])^2, small planes: the two passes of the variance by columns. */
static void channel_moment_by_columns(const float *x, int N, int C, int S, const float *mean,
                                      double *out) {
  const int G = column_group(C, S), groups = (C + G - 1) / G;
#pragma omp parallel for schedule(static)
  for (int gi = 0; gi < groups; gi++) {
    const int c0 = gi * G, nc = C - c0 < G ? C - c0 : G, L = nc * S;
    float meanx[BN_COL_LANES];
    double acc[BN_COL_LANES] = {0};
    if (mean)
      for (int j = 0; j < L; j++)
        meanx[j] = mean[c0 + j / S];
    column_moment(x + (size_t)c0 * S, N, (size_t)C * S, L, mean ? meanx : NULL, acc);
    for (int c = 0; c < nc; c++) {
      double t = 0.0;
      for (int k = 0; k < S; k++)
        t += acc[c * S + k];
      out[c0 + c] = t;
    }
  }
}

/* cs[2c], cs[2c+1] = sum g, sum g (x - mean) of channel c, small planes. */
static void grad_sums_by_columns(const float *x, const float *dy, const float *y, int N, int C,
                                 int S, const float *mean, double *cs) {
  const int G = column_group(C, S), groups = (C + G - 1) / G;
#pragma omp parallel for schedule(static)
  for (int gi = 0; gi < groups; gi++) {
    const int c0 = gi * G, nc = C - c0 < G ? C - c0 : G, L = nc * S;
    float meanx[BN_COL_LANES];
    double dg[BN_COL_LANES] = {0}, dgx[BN_COL_LANES] = {0};
    for (int j = 0; j < L; j++)
      meanx[j] = mean[c0 + j / S];
    const size_t at = (size_t)c0 * S, row = (size_t)C * S;
    column_grad_sums(x + at, dy + at, y ? y + at : NULL, N, row, L, meanx, dg, dgx);
    for (int c = 0; c < nc; c++) {
      double sg = 0.0, sgx = 0.0;
      for (int k = 0; k < S; k++)
        sg += dg[c * S + k], sgx += dgx[c * S + k];
      cs[2 * (c0 + c)] = sg, cs[2 * (c0 + c) + 1] = sgx;
    }
  }
}

/* Synchronised statistics (ibx_bn_reduce_fn in layers.h) use the two-pass
 * variance over the global batch: one reduction of the per-channel sums and
 * counts gives the global mean, every replica then sums (x - global mean)^2
 * over its own values (from per-plane sums and deviations, see bn_forward:
 * no second pass over the data), and a second reduction adds those. Why not one
 * reduction of sum x and sum x^2 (var = E[x^2] - E[x]^2)? It cancels
 * catastrophically when |mean| >> std, e.g. a channel with mean 1e3 and std
 * 1 keeps ~10 of double's 16 digits. The parallel Welford/Chan combination
 * of per-replica (count, mean, M2) is stable too, but is not a sum: it needs
 * an allgather, or a shift common to all replicas. Two passes cost one more
 * small allreduce (C doubles) per layer, microseconds next to the layer's
 * compute, and give the same numbers as one process on the whole batch up to
 * summation order, which is what the equivalence tests check. */
static int reduce_stats(const ibx_batchnorm *L, double *buf, int n, const char *op) {
  const int rc = L->reduce(L->reduce_ctx, buf, n);
  if (rc) {
    char why[400];
    snprintf(why, sizeof why, "%s", ibx_errmsg()); /* ibx_fail overwrites it */
    return ibx_fail(rc, "%s: synchronised statistics: %s", op, why);
  }
  return IBX_OK;
}

/* y = max(x * scale + shift, lo) over one plane. */
IBX_ISA_CLONES
static void normalize_plane(const float *x, int S, float scale, float shift, float lo, float *y) {
#pragma omp simd
  for (int i = 0; i < S; i++) {
    const float v = x[i] * scale + shift;
    y[i] = v > lo ? v : lo;
  }
}

/* Moments of n values: sum, mean m rounded to float, sum (x - m)^2; the
 * squared deviations are summed while the values are still in cache. */
void ibx_bn_moments_of(const float *p, long n, ibx_bn_moments *out) {
  const double sum = ibx_sum_f32(p, n);
  const float m = (float)(sum / n);
  out->count = (double)n, out->sum = sum, out->mean = m;
  out->sqdev = ibx_sum_sq_dev_f32(p, n, m);
}

/* sum over part k of (x - mu)^2 = sqdev_k + 2 (m_k - mu) (sum_k - count_k m_k)
 * + count_k (m_k - mu)^2, exactly: every term is a small correction or
 * non-negative (no cancellation, unlike sum x^2 - count mu^2). */
static double sqdev_about(const ibx_bn_moments *p, double mu) {
  const double d = p->mean - mu;
  return p->sqdev + 2.0 * d * (p->sum - p->count * p->mean) + p->count * d * d;
}

void ibx_bn_moments_merge(const ibx_bn_moments *parts, int k, ibx_bn_moments *out) {
  double count = 0.0, sum = 0.0, sq = 0.0;
  for (int i = 0; i < k; i++)
    count += parts[i].count, sum += parts[i].sum;
  const float m = count > 0 ? (float)(sum / count) : 0.0f;
  for (int i = 0; i < k; i++)
    sq += sqdev_about(&parts[i], m);
  out->count = count, out->sum = sum, out->mean = m, out->sqdev = sq;
}

/* Moments of every plane p = (n, c) of x, in parallel over planes (memory is
 * streamed in order). */
static void plane_moments(const float *x, long planes, int S, ibx_bn_moments *out) {
#pragma omp parallel for schedule(static)
  for (long p = 0; p < planes; p++)
    ibx_bn_moments_of(x + (size_t)p * S, S, &out[p]);
}

/* Small planes: the element-wise passes go over whole samples (rows of C*S
 * values) with per-lane coefficients (lane j: channel j / S), one call per
 * sample instead of one per plane of 4 or 16 values; the same expressions on
 * the same values as the per-plane functions, so the same results. */
IBX_ISA_CLONES
static void normalize_row(const float *x, long L, const float *scale, const float *shift,
                          float lo, float *y) {
#pragma omp simd
  for (long j = 0; j < L; j++) {
    const float v = x[j] * scale[j] + shift[j];
    y[j] = v > lo ? v : lo;
  }
}

/* chan[0..C) holds the per-channel sums of this rank: with synchronised
 * batch norm sum them (and the value count, appended as chan[C]) over the
 * ranks; then the channel means. */
static int channel_means(const ibx_batchnorm *L, int sync, double *chan, int C, double *count,
                         float *save_mean, const char *op) {
  chan[C] = *count;
  if (sync) {
    IBX_TRY(reduce_stats(L, chan, C + 1, op));
    if (chan[C] < 2)
      return ibx_fail(IBX_ERR_SHAPE, "%s: training needs more than one value per channel", op);
    *count = chan[C];
  }
  for (int c = 0; c < C; c++)
    save_mean[c] = (float)(chan[c] / *count);
  return IBX_OK;
}

/* planes: the moments of x's planes when the caller has them (the conv that
 * produced x computed them while writing it), else NULL. */
static int bn_forward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                      const ibx_tensor *beta, ibx_tensor *running_mean, ibx_tensor *running_var,
                      int training, const ibx_bn_moments *planes, ibx_tensor *y,
                      float *save_mean, float *save_invstd, int relu, const char *op) {
  int N, S;
  const int C = L->channels;
  IBX_TRY(bn_dims(L, x, op, &N, &S));
  IBX_TRY(ibx_check_same(x, y, op, "x", "y"));
  IBX_TRY(check_vec(gamma, C, op, "gamma"));
  IBX_TRY(check_vec(beta, C, op, "beta"));
  IBX_TRY(check_vec(running_mean, C, op, "running_mean"));
  IBX_TRY(check_vec(running_var, C, op, "running_var"));
  if (!save_mean || !save_invstd)
    return ibx_fail(IBX_ERR_ARG, "%s: save_mean/save_invstd buffers are required", op);
  const int sync = training && L->reduce;
  double count = (double)N * S;
  if (training && !sync && count < 2)
    return ibx_fail(IBX_ERR_SHAPE, "%s: training needs more than one value per channel", op);

  /* Statistics: the moments of every (sample, channel) plane (each plane read
   * once, or not at all when given), reduced over samples in a fixed order, so
   * the result does not depend on the thread count; the channel's sum of
   * squared deviations from the channel mean follows exactly from those
   * (sqdev_about). chan holds the per-channel sums (and the count, for the
   * reduction). */
  void *own = NULL; /* this call's buffer: [plane moments], then chan */
  double *chan = NULL;
  const int columns = S < BN_SMALL_PLANE; /* then planes are not used */
  if (training && columns) {
    own = ibx_alloc((C + 1) * sizeof(double), "batchnorm channel sums");
    if (!own)
      return IBX_ERR_NOMEM;
    chan = own;
    channel_moment_by_columns(x->data, N, C, S, NULL, chan);
    const int rc = channel_means(L, sync, chan, C, &count, save_mean, op);
    if (rc) {
      ibx_free(own);
      return rc;
    }
    channel_moment_by_columns(x->data, N, C, S, save_mean, chan);
    if (sync) {
      const int rc = reduce_stats(L, chan, C, op);
      if (rc) {
        ibx_free(own);
        return rc;
      }
    }
  } else if (training) {
    own = ibx_alloc((planes ? 0 : (size_t)N * C) * sizeof(ibx_bn_moments) +
                        (C + 1) * sizeof(double),
                    "batchnorm plane sums");
    if (!own)
      return IBX_ERR_NOMEM;
    ibx_bn_moments *own_planes = own;
    chan = (double *)(own_planes + (planes ? 0 : (size_t)N * C));
    if (!planes) {
      plane_moments(x->data, (long)N * C, S, own_planes);
      planes = own_planes;
    }
    for (int c = 0; c < C; c++) {
      double sum = 0.0;
      for (int n = 0; n < N; n++)
        sum += planes[(size_t)n * C + c].sum;
      chan[c] = sum;
    }
    const int rc = channel_means(L, sync, chan, C, &count, save_mean, op);
    if (rc) {
      ibx_free(own);
      return rc;
    }
    /* no second pass over x: see sqdev_about */
    for (int c = 0; c < C; c++) {
      double sq = 0.0;
      for (int n = 0; n < N; n++)
        sq += sqdev_about(&planes[(size_t)n * C + c], save_mean[c]);
      chan[c] = sq;
    }
    if (sync) {
      const int rc = reduce_stats(L, chan, C, op);
      if (rc) {
        ibx_free(own);
        return rc;
      }
    }
  }
  for (int c = 0; c < C; c++) {
    double mean, var;
    if (training) {
      mean = save_mean[c];
      var = chan[c] / count;
      const double m = L->momentum;
      running_mean->data[c] = (float)((1.0 - m) * running_mean->data[c] + m * mean);
      running_var->data[c] =
          (float)((1.0 - m) * running_var->data[c] + m * var * count / (count - 1));
    } else {
      mean = running_mean->data[c];
      var = running_var->data[c];
    }
    save_mean[c] = (float)mean;
    save_invstd[c] = (float)(1.0 / sqrt(var + L->eps));
  }
  ibx_free(own);
  const float lo = relu ? 0.0f : -INFINITY;
  if (columns) {
    const long L = (long)C * S;
    float *lane = ibx_alloc(2 * (size_t)L * sizeof(float), "batchnorm lane coefficients");
    if (!lane)
      return IBX_ERR_NOMEM;
    for (long j = 0; j < L; j++) {
      const int c = (int)(j / S);
      lane[j] = gamma->data[c] * save_invstd[c];
      lane[L + j] = beta->data[c] - save_mean[c] * lane[j];
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
      normalize_row(x->data + (size_t)n * L, L, lane, lane + L, lo, y->data + (size_t)n * L);
    ibx_free(lane);
    return IBX_OK;
  }
#pragma omp parallel for schedule(static)
  for (long p = 0; p < (long)N * C; p++) {
    const int c = (int)(p % C);
    const float scale = gamma->data[c] * save_invstd[c];
    const float shift = beta->data[c] - save_mean[c] * scale;
    normalize_plane(x->data + (size_t)p * S, S, scale, shift, lo, y->data + (size_t)p * S);
  }
  return IBX_OK;
}

int ibx_batchnorm_forward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                          const ibx_tensor *beta, ibx_tensor *running_mean,
                          ibx_tensor *running_var, int training, ibx_tensor *y,
                          float *save_mean, float *save_invstd) {
  return bn_forward(L, x, gamma, beta, running_mean, running_var, training, NULL, y, save_mean,
                    save_invstd, 0, "batchnorm_forward");
}

int ibx_batchnorm_relu_forward(const ibx_batchnorm *L, const ibx_tensor *x,
                               const ibx_tensor *gamma, const ibx_tensor *beta,
                               ibx_tensor *running_mean, ibx_tensor *running_var, int training,
                               ibx_tensor *y, float *save_mean, float *save_invstd) {
  return bn_forward(L, x, gamma, beta, running_mean, running_var, training, NULL, y, save_mean,
                    save_invstd, 1, "batchnorm_relu_forward");
}

int ibx_batchnorm_forward_moments(const ibx_batchnorm *L, const ibx_tensor *x,
                                  const ibx_tensor *gamma, const ibx_tensor *beta,
                                  ibx_tensor *running_mean, ibx_tensor *running_var, int training,
                                  int relu, const ibx_bn_moments *planes, ibx_tensor *y,
                                  float *save_mean, float *save_invstd) {
  return bn_forward(L, x, gamma, beta, running_mean, running_var, training, planes, y, save_mean,
                    save_invstd, relu != 0, "batchnorm_forward_moments");
}

/* dx over one plane (k = gamma * invstd); y: the fused ReLU output or NULL. */
IBX_ISA_CLONES
static void dx_plane(const float *x, const float *dy, const float *y, int S, float k, float mean,
                     float invstd, float mean_dy, float mean_dy_xhat, float *dx) {
  if (y) {
#pragma omp simd
    for (int i = 0; i < S; i++) {
      const float g = y[i] > 0.0f ? dy[i] : 0.0f;
      dx[i] = k * (g - mean_dy - (x[i] - mean) * invstd * mean_dy_xhat);
    }
  } else {
#pragma omp simd
    for (int i = 0; i < S; i++)
      dx[i] = k * (dy[i] - mean_dy - (x[i] - mean) * invstd * mean_dy_xhat);
  }
}

/* dx over one sample of small planes; c: the per-lane coefficients k, mean,
 * invstd, mean dy, mean dy*xhat (L each), as dx_plane. */
IBX_ISA_CLONES
static void dx_row(const float *x, const float *dy, const float *y, long L, const float *c,
                   float *dx) {
  const float *k = c, *mean = c + L, *invstd = c + 2 * L, *mdy = c + 3 * L, *mdx = c + 4 * L;
  if (y) {
#pragma omp simd
    for (long j = 0; j < L; j++) {
      const float g = y[j] > 0.0f ? dy[j] : 0.0f;
      dx[j] = k[j] * (g - mdy[j] - (x[j] - mean[j]) * invstd[j] * mdx[j]);
    }
  } else {
#pragma omp simd
    for (long j = 0; j < L; j++)
      dx[j] = k[j] * (dy[j] - mdy[j] - (x[j] - mean[j]) * invstd[j] * mdx[j]);
  }
}

/* Training: dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)).
 * Eval: statistics are constants, dx = gamma*invstd*dy. */
/* relu_y: the fused forward's output; the upstream gradient is masked by
 * relu_y > 0 on the fly. NULL for plain batch norm. */
static int bn_backward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                       const float *save_mean, const float *save_invstd, int training,
                       const ibx_tensor *relu_y, const ibx_tensor *dy, ibx_tensor *dx,
                       ibx_tensor *dgamma, ibx_tensor *dbeta, const char *op) {
  int N, S;
  const int C = L->channels;
  IBX_TRY(bn_dims(L, x, op, &N, &S));
  IBX_TRY(ibx_check_same(x, dy, op, "x", "dy"));
  if (dx && dx->data)
    IBX_TRY(ibx_check_same(x, dx, op, "x", "dx"));
  IBX_TRY(check_vec(gamma, C, op, "gamma"));
  IBX_TRY(check_vec(dgamma, C, op, "dgamma"));
  IBX_TRY(check_vec(dbeta, C, op, "dbeta"));
  if (!save_mean || !save_invstd)
    return ibx_fail(IBX_ERR_ARG, "%s: save_mean/save_invstd from forward are required", op);
  if (relu_y)
    IBX_TRY(ibx_check_same(x, relu_y, op, "x", "y"));
  double M = (double)N * S;

  /* Plane sums in parallel over planes, reduced over samples in fixed order
   * (thread-count independent), then dx plane by plane. chan: per channel
   * sum dy, sum dy*xhat, then the count (the synchronised reduction's buffer);
   * coef: per channel mean dy, mean dy*xhat. */
  double *plane =
      ibx_alloc((2 * (size_t)N * C + 2 * (size_t)C + 1 + C) * sizeof(double),
                "batchnorm plane sums");
  if (!plane)
    return IBX_ERR_NOMEM;
  const int small = S < BN_SMALL_PLANE;
  if (small) { /* per channel straight away, into plane[0 .. 2C) */
    grad_sums_by_columns(x->data, dy->data, relu_y ? relu_y->data : NULL, N, C, S, save_mean,
                         plane);
  } else {
#pragma omp parallel for schedule(static)
    for (long p = 0; p < (long)N * C; p++) {
      const size_t at = (size_t)p * S;
      double sg = 0.0, sgx = 0.0;
      ibx_sum_grad_f32(x->data + at, dy->data + at, relu_y ? relu_y->data + at : NULL, S,
                      save_mean[p % C], &sg, &sgx);
      plane[2 * p] = sg, plane[2 * p + 1] = sgx;
    }
  }
  double *chan = plane + 2 * (size_t)N * C;
  float *coef = (float *)(chan + 2 * (size_t)C + 1);
  for (int c = 0; c < C; c++) {
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    if (small) {
      sum_dy = plane[2 * c], sum_dy_xhat = plane[2 * c + 1];
    } else {
      for (int n = 0; n < N; n++) {
        sum_dy += plane[2 * ((size_t)n * C + c)];
        sum_dy_xhat += plane[2 * ((size_t)n * C + c) + 1];
      }
    }
    sum_dy_xhat *= save_invstd[c];
    /* the parameter gradients are this replica's share (see layers.h) */
    dgamma->data[c] += (float)sum_dy_xhat;
    dbeta->data[c] += (float)sum_dy;
    chan[2 * c] = sum_dy, chan[2 * c + 1] = sum_dy_xhat;
  }
  chan[2 * C] = M;
  if (training && L->reduce) {
    const int rc = reduce_stats(L, chan, 2 * C + 1, op);
    if (rc) {
      ibx_free(plane);
      return rc;
    }
    M = chan[2 * C];
  }
  for (int c = 0; c < C; c++) {
    coef[2 * c] = training ? (float)(chan[2 * c] / M) : 0.0f;
    coef[2 * c + 1] = training ? (float)(chan[2 * c + 1] / M) : 0.0f;
  }
  if (dx && dx->data && small) {
    const long L = (long)C * S;
    float *lane = ibx_alloc(5 * (size_t)L * sizeof(float), "batchnorm lane coefficients");
    if (!lane) {
      ibx_free(plane);
      return IBX_ERR_NOMEM;
    }
    for (long j = 0; j < L; j++) {
      const int c = (int)(j / S);
      lane[j] = gamma->data[c] * save_invstd[c], lane[L + j] = save_mean[c];
      lane[2 * L + j] = save_invstd[c];
      lane[3 * L + j] = coef[2 * c], lane[4 * L + j] = coef[2 * c + 1];
    }
    const float *ry = relu_y ? relu_y->data : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
      const size_t at = (size_t)n * L;
      dx_row(x->data + at, dy->data + at, ry ? ry + at : NULL, L, lane, dx->data + at);
    }
    ibx_free(lane);
  } else if (dx && dx->data) {
#pragma omp parallel for schedule(static)
    for (long p = 0; p < (long)N * C; p++) {
      const int c = (int)(p % C);
      const float mean = save_mean[c], invstd = save_invstd[c];
      const float k = gamma->data[c] * invstd, mean_dy = coef[2 * c],
                  mean_dy_xhat = coef[2 * c + 1];
      const size_t at = (size_t)p * S;
      dx_plane(x->data + at, dy->data + at, relu_y ? relu_y->data + at : NULL, S, k, mean,
               invstd, mean_dy, mean_dy_xhat, dx->data + at);
    }
  }
  ibx_free(plane);
  return IBX_OK;
}

int ibx_batchnorm_backward(const ibx_batchnorm *L, const ibx_tensor *x, const ibx_tensor *gamma,
                           const float *save_mean, const float *save_invstd, int training,
                           const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dgamma,
                           ibx_tensor *dbeta) {
  return bn_backward(L, x, gamma, save_mean, save_invstd, training, NULL, dy, dx, dgamma, dbeta,
                     "batchnorm_backward");
}

int ibx_batchnorm_relu_backward(const ibx_batchnorm *L, const ibx_tensor *x,
                                const ibx_tensor *gamma, const float *save_mean,
                                const float *save_invstd, int training, const ibx_tensor *y,
                                const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dgamma,
                                ibx_tensor *dbeta) {
  if (!y || !y->data)
    return ibx_fail(IBX_ERR_SHAPE, "batchnorm_relu_backward: the fused output y is missing");
  return bn_backward(L, x, gamma, save_mean, save_invstd, training, y, dy, dx, dgamma, dbeta,
                     "batchnorm_relu_backward");
}
