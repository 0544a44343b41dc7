/* Augmentation and normalisation (include/ibx/augment.h). */
#include "ibx/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/rng.h"

/* Philox stream of augmentation: "AUGM" in the high word, the epoch below. */
#define AUGMENT_STREAM (0x4155474Dull << 32)

void ibx_augment_identity(ibx_augment *a) {
  memset(a, 0, sizeof *a);
  for (int c = 0; c < IBX_AUGMENT_MAX_CHANNELS; c++)
    a->std[c] = 1.0f;
}

void ibx_augment_params(const ibx_augment *a, uint64_t epoch, uint64_t sample, int *dy, int *dx,
                        int *flip) {
  int p = a->crop_pad > 0 ? a->crop_pad : 0;
  if (p == 0 && !a->hflip) {
    *dy = *dx = 0, *flip = 0;
    return;
  }
  uint32_t r[4];
  ibx_rng_u32x4(a->seed, AUGMENT_STREAM ^ epoch, sample, r);
  uint32_t span = 2u * (uint32_t)p + 1u;
  *dy = p ? (int)(r[0] % span) : 0;
  *dx = p ? (int)(r[1] % span) : 0;
  *flip = a->hflip ? (int)(r[2] >> 31) : 0;
}

static int check(const ibx_augment *a, int c, int h, int w) {
  if (!a)
    return ibx_fail(IBX_ERR_ARG, "augment: NULL configuration");
  if (c <= 0 || c > IBX_AUGMENT_MAX_CHANNELS || h <= 0 || w <= 0)
    return ibx_fail(IBX_ERR_ARG, "augment: unsupported image shape %d x %d x %d", c, h, w);
  if (a->out_h < 0 || a->out_w < 0 || a->crop_pad < 0 || a->crop_pad > 4096 ||
      a->out_h > 65536 || a->out_w > 65536)
    return ibx_fail(IBX_ERR_ARG, "augment: bad output size %d x %d or padding %d", a->out_h,
                    a->out_w, a->crop_pad);
  for (int k = 0; k < c; k++)
    if (!(a->std[k] > 0) || !isfinite(a->mean[k]))
      return ibx_fail(IBX_ERR_ARG, "augment: channel %d needs std > 0 (got %g) and a finite mean",
                      k, (double)a->std[k]);
  return IBX_OK;
}

/* The transform once (dy, dx, flip) are known; srccol is scratch of ow ints. */
static void transform(const ibx_augment *a, int c, int h, int w, const uint8_t *in, int dy,
                      int dx, int flip, float *out, int *srccol) {
  const int oh = a->out_h ? a->out_h : h, ow = a->out_w ? a->out_w : w;
  const int p = a->crop_pad;
  /* output (y, x) <- canvas (y + dy - p, x' + dx - p), x' = flipped x;
   * canvas (cy, cx) <- input (cy - oy, cx - ox), oy = (oh - h) / 2 */
  const int oy = (oh - h) / 2, ox = (ow - w) / 2;
  for (int x = 0; x < ow; x++) {
    int xs = flip ? ow - 1 - x : x;
    int sx = xs + dx - p - ox;
    srccol[x] = (sx >= 0 && sx < w) ? sx : -1;
  }
  for (int ch = 0; ch < c; ch++) {
    const float scale = 1.0f / (255.0f * a->std[ch]);
    const float bias = -a->mean[ch] / a->std[ch];
    const uint8_t *src = in + (size_t)ch * h * w;
    float *dst = out + (size_t)ch * oh * ow;
    for (int y = 0; y < oh; y++) {
      int sy = y + dy - p - oy;
      float *row = dst + (size_t)y * ow;
      if (sy < 0 || sy >= h) {
        for (int x = 0; x < ow; x++)
          row[x] = bias;
        continue;
      }
      const uint8_t *srow = src + (size_t)sy * w;
      for (int x = 0; x < ow; x++)
        row[x] = srccol[x] >= 0 ? (float)srow[srccol[x]] * scale + bias : bias;
    }
  }
}

int ibx_augment_apply(const ibx_augment *a, int c, int h, int w, const uint8_t *in_chw,
                      uint64_t epoch, uint64_t sample, float *out_chw) {
  IBX_TRY(check(a, c, h, w));
  if (!in_chw || !out_chw)
    return ibx_fail(IBX_ERR_ARG, "augment: NULL image");
  const int ow = a->out_w ? a->out_w : w;
  int stackcol[512];
  int *srccol = ow <= 512 ? stackcol : malloc((size_t)ow * sizeof *srccol);
  if (!srccol)
    return ibx_fail(IBX_ERR_NOMEM, "augment: out of memory");
  int dy, dx, flip;
  ibx_augment_params(a, epoch, sample, &dy, &dx, &flip);
  transform(a, c, h, w, in_chw, dy, dx, flip, out_chw, srccol);
  if (srccol != stackcol)
    free(srccol);
  return IBX_OK;
}

int ibx_augment_batch(const ibx_augment *a, const ibx_dataset *ds, const long *indices, long n,
                      uint64_t epoch, float *out, int *labels) {
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  IBX_TRY(check(a, c, h, w));
  if (!ds || (n > 0 && (!indices || !out)) || n < 0)
    return ibx_fail(IBX_ERR_ARG, "augment: bad batch arguments");
  const int oh = a->out_h ? a->out_h : h, ow = a->out_w ? a->out_w : w;
  const size_t isz = (size_t)c * h * w, osz = (size_t)c * oh * ow;
  int rc = IBX_OK;
  char msg[512] = "";
#pragma omp parallel if (n > 16)
  {
    uint8_t *img = malloc(isz);
    int *srccol = malloc((size_t)ow * sizeof *srccol);
    int local = (img && srccol) ? IBX_OK : IBX_ERR_NOMEM;
#pragma omp for schedule(static)
    for (long k = 0; k < n; k++) {
      if (local != IBX_OK)
        continue;
      int label = 0, dy, dx, flip;
      local = ibx_dataset_read(ds, indices[k], img, &label);
      if (local != IBX_OK)
        continue;
      if (labels)
        labels[k] = label;
      ibx_augment_params(a, epoch, (uint64_t)indices[k], &dy, &dx, &flip);
      transform(a, c, h, w, img, dy, dx, flip, out + (size_t)k * osz, srccol);
    }
    if (local != IBX_OK) {
#pragma omp critical(ibx_augment_error)
      if (rc == IBX_OK) {
        rc = local;
        strncpy(msg, local == IBX_ERR_NOMEM ? "augment: out of memory" : ibx_errmsg(),
                sizeof msg - 1);
      }
    }
    free(img);
    free(srccol);
  }
  if (rc != IBX_OK)
    return ibx_fail(rc, "%s", msg);
  return IBX_OK;
}

int ibx_dataset_channel_stats(const ibx_dataset *ds, float *mean, float *std) {
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  long n = ibx_dataset_count(ds);
  if (!ds || n <= 0 || !mean || !std || c <= 0 || c > 64)
    return ibx_fail(IBX_ERR_ARG, "channel stats: empty dataset or NULL output");
  const size_t plane = (size_t)h * w;
  double s[64] = {0}, s2[64] = {0};
  uint8_t *img = malloc((size_t)c * plane);
  if (!img)
    return ibx_fail(IBX_ERR_NOMEM, "channel stats: out of memory");
  for (long i = 0; i < n; i++) {
    int rc = ibx_dataset_read(ds, i, img, NULL);
    if (rc != IBX_OK) {
      free(img);
      return rc;
    }
    for (int ch = 0; ch < c; ch++) {
      uint64_t a = 0, b = 0;
      for (size_t p = 0; p < plane; p++) {
        uint32_t v = img[ch * plane + p];
        a += v, b += v * v;
      }
      s[ch] += (double)a, s2[ch] += (double)b;
    }
  }
  free(img);
  const double count = (double)n * plane;
  for (int ch = 0; ch < c; ch++) {
    double m = s[ch] / count, var = s2[ch] / count - m * m;
    mean[ch] = (float)(m / 255.0);
    std[ch] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
  }
  return IBX_OK;
}
