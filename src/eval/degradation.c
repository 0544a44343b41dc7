/* Degradation curves and their score (include/ibx/attrib_metrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/attrib_metrics.h"
#include "ibx/attribution.h"
#include "ibx/error.h"
#include "ibx/memory.h"

int ibx_scaled_tile(int ref, int size) {
  const int w = (int)lround((double)ref * size / 224.0);
  return w < 1 ? 1 : w;
}

typedef struct {
  float score;
  int index;
} ranked;

static int by_score_desc(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return a->index - b->index;
}

static void fill_tile(float *img, int C, int H, int W, int tile, int t, int gx,
                      const float *mean) {
  const int ty = t / gx, tx = t % gx;
  for (int c = 0; c < C; c++)
    for (int y = ty * tile; y < ty * tile + tile && y < H; y++)
      for (int x = tx * tile; x < tx * tile + tile && x < W; x++)
        img[((size_t)c * H + y) * W + x] = mean[c];
}

/* One curve: order[] lists tiles in removal order. */
static int curve(ibx_model *m, int batch, const float *x, int target, const ranked *order,
                 int T, int tile, int gx, const float *mean, int points, float *buf,
                 float *probs, float *out) {
  const ibx_model_config *mc = ibx_model_config_of(m);
  const int C = mc->in_channels, H = mc->in_height, W = mc->in_width;
  const size_t in_n = (size_t)C * H * W;
  /* Images are cumulative: image j removes the first n_j tiles. */
  float *cur = buf + (size_t)batch * in_n;
  memcpy(cur, x, in_n * sizeof(float));
  int removed = 0;
  for (int j0 = 0; j0 < points; j0 += batch) {
    const int nb = points - j0 < batch ? points - j0 : batch;
    for (int i = 0; i < nb; i++) {
      const int j = j0 + i;
      const int want = points > 1 ? (int)lround((double)j * T / (points - 1)) : 0;
      for (; removed < want; removed++)
        fill_tile(cur, C, H, W, tile, order[removed].index, gx, mean);
      memcpy(buf + (size_t)i * in_n, cur, in_n * sizeof(float));
    }
    IBX_TRY(ibx_attr_target_prob(m, buf, nb, target, probs));
    memcpy(out + j0, probs, (size_t)nb * sizeof(float));
  }
  return IBX_OK;
}

int ibx_degradation_curves(ibx_model *m, int batch, const float *x, int target,
                           const float *heat, int tile, int points, float *morf, float *lerf) {
  const ibx_model_config *mc = ibx_model_config_of(m);
  const int C = mc->in_channels, H = mc->in_height, W = mc->in_width;
  if (C > 8 || tile < 1 || points < 2 || batch < 1)
    return ibx_fail(IBX_ERR_ARG, "degradation: channels %d (<= 8), tile %d, points %d, batch %d",
                    C, tile, points, batch);
  const int gy = (H + tile - 1) / tile, gx = (W + tile - 1) / tile, T = gy * gx;
  const size_t in_n = (size_t)C * H * W;
  ranked *order = malloc((size_t)T * sizeof *order);
  float *buf = ibx_alloc(((size_t)batch + 1) * in_n * sizeof(float) + (size_t)batch * sizeof(float),
                         "degradation images");
  if (!order || !buf) {
    free(order), ibx_free(buf);
    return ibx_fail(IBX_ERR_NOMEM, "degradation: out of memory");
  }
  float *probs = buf + ((size_t)batch + 1) * in_n;
  float mean[8];
  for (int c = 0; c < C; c++) {
    double s = 0.0;
    for (size_t p = 0; p < (size_t)H * W; p++)
      s += x[c * (size_t)H * W + p];
    mean[c] = (float)(s / ((double)H * W));
  }
  for (int t = 0; t < T; t++) {
    const int ty = t / gx, tx = t % gx;
    double s = 0.0;
    int n = 0;
    for (int y = ty * tile; y < ty * tile + tile && y < H; y++)
      for (int xx = tx * tile; xx < tx * tile + tile && xx < W; xx++)
        s += heat[(size_t)y * W + xx], n++;
    order[t] = (ranked){(float)(s / n), t};
  }
  qsort(order, (size_t)T, sizeof *order, by_score_desc);
  int rc = curve(m, batch, x, target, order, T, tile, gx, mean, points, buf, probs, morf);
  if (!rc) {
    /* LeRF: the reverse ranking, ties again by ascending tile index */
    for (int t = 0; t < T; t++)
      order[t].score = -order[t].score;
    qsort(order, (size_t)T, sizeof *order, by_score_desc);
    rc = curve(m, batch, x, target, order, T, tile, gx, mean, points, buf, probs, lerf);
  }
  free(order);
  ibx_free(buf);
  return rc;
}

int ibx_degradation_score(float *morf, float *lerf, int points, double *score) {
  const double s0 = 0.5 * ((double)morf[0] + lerf[0]);
  const double s1 = 0.5 * ((double)morf[points - 1] + lerf[points - 1]);
  if (points < 2 || !(fabs(s0 - s1) > 1e-12))
    return ibx_fail(IBX_ERR_NUMERIC,
                    "degradation: original and fully removed scores are equal (%g), cannot "
                    "normalise",
                    s0);
  double area = 0.0;
  for (int j = 0; j < points; j++) {
    morf[j] = (float)((morf[j] - s1) / (s0 - s1));
    lerf[j] = (float)((lerf[j] - s1) / (s0 - s1));
    const double d = (double)lerf[j] - morf[j];
    area += (j == 0 || j == points - 1 ? 0.5 : 1.0) * d;
  }
  *score = area / (points - 1);
  return IBX_OK;
}
