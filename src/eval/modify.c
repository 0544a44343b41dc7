/* Spatial modifications of the interpretability score (colour block, patch
 * from another dataset) and the dispatcher over all four kinds
 * (include/ibx/interpret.h). Every random choice is Philox at
 * (seed, stream of kind and p, sample), so it depends on nothing else. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/interpret.h"
#include "ibx/rng.h"

/* "MODI" in the high word; kind, purpose and p below */
#define MOD_STREAM (0x4D4F4449ull << 32)
enum { PURPOSE_WINDOW = 1, PURPOSE_COLOR = 2, PURPOSE_SOURCE = 3, PURPOSE_CROP = 4 };
#define PATCH_MAX_DRAWS 64

static const char *const mod_names[IBX_MOD_COUNT] = {"color_block", "patch", "high_pass",
                                                     "low_pass"};

const char *ibx_mod_name(ibx_mod_kind k) {
  return (unsigned)k < IBX_MOD_COUNT ? mod_names[k] : "unknown";
}

int ibx_mod_parse(const char *name, ibx_mod_kind *k) {
  for (int i = 0; i < IBX_MOD_COUNT; i++)
    if (!strcmp(name, mod_names[i]))
      return *k = (ibx_mod_kind)i, IBX_OK;
  return ibx_fail(IBX_ERR_ARG, "unknown modification '%s' (color_block, patch, high_pass, "
                               "low_pass)", name);
}

static uint64_t stream(ibx_mod_kind kind, int purpose, int p) {
  return MOD_STREAM | ((uint64_t)kind << 24) | ((uint64_t)purpose << 16) | (uint64_t)(p & 0xFFFF);
}

int ibx_mod_window(uint64_t seed, ibx_mod_kind kind, int p, long sample, int h, int w, int *y,
                   int *x) {
  if (p < 1 || p > h || p > w)
    return ibx_fail(IBX_ERR_ARG, "modification: window %d does not fit a %d x %d image", p, h, w);
  uint32_t r[4];
  ibx_rng_u32x4(seed, stream(kind, PURPOSE_WINDOW, p), (uint64_t)sample, r);
  *y = (int)(r[0] % (uint32_t)(h - p + 1));
  *x = (int)(r[1] % (uint32_t)(w - p + 1));
  return IBX_OK;
}

int ibx_mod_color_block(float *img, int c, int h, int w, int p, uint64_t seed, long sample) {
  int y0 = 0, x0 = 0;
  IBX_TRY(ibx_mod_window(seed, IBX_MOD_COLOR_BLOCK, p, sample, h, w, &y0, &x0));
  for (int ch = 0; ch < c; ch++) {
    /* one stream index per (sample, channel): any channel count */
    const float v = 255.0f * ibx_rng_uniform(seed, stream(IBX_MOD_COLOR_BLOCK, PURPOSE_COLOR, p),
                                             (uint64_t)sample * 16u + (uint64_t)ch);
    for (int y = y0; y < y0 + p; y++)
      for (int x = x0; x < x0 + p; x++)
        img[((size_t)ch * h + y) * w + x] = v;
  }
  return IBX_OK;
}

/* The source image of (seed, p, sample): a deterministic sequence of draws,
 * the first whose label differs from `label` when other_class is set. */
static int pick_source(const ibx_patch_source *src, uint64_t seed, int p, long sample, int label,
                       long *index) {
  const long n = ibx_dataset_count(src->ds);
  if (n < 1)
    return ibx_fail(IBX_ERR_ARG, "patch source %s is empty", ibx_dataset_name(src->ds));
  for (uint64_t draw = 0; draw < PATCH_MAX_DRAWS; draw++) {
    uint32_t r[4];
    ibx_rng_u32x4(seed, stream(IBX_MOD_PATCH, PURPOSE_SOURCE, p),
                  (uint64_t)sample * PATCH_MAX_DRAWS + draw, r);
    const long i = (long)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)n);
    int l = -1;
    if (src->other_class)
      IBX_TRY(ibx_dataset_read(src->ds, i, NULL, &l));
    if (!src->other_class || l != label)
      return *index = i, IBX_OK;
  }
  return ibx_fail(IBX_ERR_ARG, "patch source %s: no image of a class other than %d in %d draws",
                  ibx_dataset_name(src->ds), label, PATCH_MAX_DRAWS);
}

int ibx_mod_patch(float *img, int c, int h, int w, int p, uint64_t seed, long sample, int label,
                  const ibx_patch_source *src) {
  if (!src || !src->ds)
    return ibx_fail(IBX_ERR_ARG, "patch modification needs a patch source (--patch-data)");
  int sc, sh, sw;
  ibx_dataset_shape(src->ds, &sc, &sh, &sw);
  if (p > sh || p > sw)
    return ibx_fail(IBX_ERR_ARG, "patch source %s: its %d x %d images are smaller than the "
                    "window %d", ibx_dataset_name(src->ds), sh, sw, p);
  if (sc != c && sc != 1 && c != 1)
    return ibx_fail(IBX_ERR_ARG, "patch source %s has %d channels, the images %d",
                    ibx_dataset_name(src->ds), sc, c);
  int y0 = 0, x0 = 0;
  IBX_TRY(ibx_mod_window(seed, IBX_MOD_PATCH, p, sample, h, w, &y0, &x0));
  long index = 0;
  IBX_TRY(pick_source(src, seed, p, sample, label, &index));
  uint32_t r[4];
  ibx_rng_u32x4(seed, stream(IBX_MOD_PATCH, PURPOSE_CROP, p), (uint64_t)sample, r);
  const int cy = (int)(r[0] % (uint32_t)(sh - p + 1)), cx = (int)(r[1] % (uint32_t)(sw - p + 1));
  uint8_t *pix = malloc((size_t)ibx_dataset_image_size(src->ds));
  if (!pix)
    return ibx_fail(IBX_ERR_NOMEM, "patch modification: out of memory");
  int rc = ibx_dataset_read(src->ds, index, pix, NULL);
  for (int ch = 0; rc == IBX_OK && ch < c; ch++)
    for (int y = 0; y < p; y++)
      for (int x = 0; x < p; x++) {
        const size_t at = (size_t)(cy + y) * sw + (cx + x);
        float v = 0.0f;
        if (sc == c)
          v = pix[(size_t)ch * sh * sw + at];
        else if (sc == 1)
          v = pix[at];
        else /* colour source, grey image: channel mean */
          for (int k = 0; k < sc; k++)
            v += pix[(size_t)k * sh * sw + at] / (float)sc;
        img[((size_t)ch * h + y0 + y) * w + x0 + x] = v;
      }
  free(pix);
  return rc;
}

int ibx_mod_apply(float *img, int c, int h, int w, ibx_mod_kind kind, double param,
                  uint64_t seed, long sample, int label, const ibx_patch_source *src) {
  switch (kind) {
  case IBX_MOD_COLOR_BLOCK:
  case IBX_MOD_PATCH: {
    const int p = (int)param;
    if ((double)p != param)
      return ibx_fail(IBX_ERR_ARG, "%s: window size %g is not an integer", ibx_mod_name(kind),
                      param);
    return kind == IBX_MOD_PATCH ? ibx_mod_patch(img, c, h, w, p, seed, sample, label, src)
                                 : ibx_mod_color_block(img, c, h, w, p, seed, sample);
  }
  case IBX_MOD_HIGH_PASS:
    return ibx_fourier_filter(img, c, h, w, param, 0);
  case IBX_MOD_LOW_PASS:
    return ibx_fourier_filter(img, c, h, w, param, 1);
  default:
    return ibx_fail(IBX_ERR_ARG, "unknown modification %d", (int)kind);
  }
}
