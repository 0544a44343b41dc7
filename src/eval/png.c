/* PNG writing/reading through libpng's simplified API and the attention
 * overlay (include/ibx/png.h). */
#include "ibx/png.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"

int ibx_picture_new(int w, int h, uint8_t fill, ibx_picture *p) {
  memset(p, 0, sizeof *p);
  if (w < 1 || h < 1 || w > 65536 || h > 65536)
    return ibx_fail(IBX_ERR_ARG, "picture: bad size %d x %d", w, h);
  p->rgb = malloc((size_t)w * h * 3);
  if (!p->rgb)
    return ibx_fail(IBX_ERR_NOMEM, "picture: out of memory (%d x %d)", w, h);
  memset(p->rgb, fill, (size_t)w * h * 3);
  p->w = w, p->h = h;
  return IBX_OK;
}

void ibx_picture_free(ibx_picture *p) {
  free(p->rgb);
  memset(p, 0, sizeof *p);
}

static int write_png(const char *tmp_path, void *ctx) {
  const ibx_picture *p = ctx;
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)p->w, im.height = (png_uint_32)p->h;
  im.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&im, tmp_path, 0, p->rgb, 0, NULL))
    return ibx_fail(IBX_ERR_IO, "%s: cannot write PNG: %s", tmp_path, im.message);
  return IBX_OK;
}

int ibx_png_write(const char *path, const ibx_picture *p) {
  if (!p->rgb)
    return ibx_fail(IBX_ERR_ARG, "%s: empty picture", path);
  return ibx_atomic_write(path, write_png, (void *)p);
}

int ibx_png_read(const char *path, ibx_picture *p) {
  memset(p, 0, sizeof *p);
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&im, path))
    return ibx_fail(IBX_ERR_FORMAT, "%s: not a readable PNG: %s", path, im.message);
  im.format = PNG_FORMAT_RGB;
  int rc = ibx_picture_new((int)im.width, (int)im.height, 0, p);
  if (rc) {
    png_image_free(&im);
    return rc;
  }
  if (!png_image_finish_read(&im, NULL, p->rgb, 0, NULL)) {
    ibx_picture_free(p);
    return ibx_fail(IBX_ERR_FORMAT, "%s: cannot decode PNG: %s", path, im.message);
  }
  return IBX_OK;
}

static double clamp01(double v) { return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v; }

void ibx_colormap_jet(double v, uint8_t rgb[3]) {
  v = clamp01(v);
  /* piecewise-linear ramps, each channel a trapezoid over v */
  const double r = clamp01(1.5 - fabs(4.0 * v - 3.0));
  const double g = clamp01(1.5 - fabs(4.0 * v - 2.0));
  const double b = clamp01(1.5 - fabs(4.0 * v - 1.0));
  rgb[0] = (uint8_t)lround(255.0 * r);
  rgb[1] = (uint8_t)lround(255.0 * g);
  rgb[2] = (uint8_t)lround(255.0 * b);
}

/* Bilinear sample of the normalised map at image pixel (y, x): pixel
 * centres aligned as torch's interpolate(align_corners=False). */
static double map_at(const float *map, int mh, int mw, double lo, double span, int y, int x,
                     int h, int w) {
  double sy = (y + 0.5) * mh / h - 0.5, sx = (x + 0.5) * mw / w - 0.5;
  sy = sy < 0 ? 0 : sy > mh - 1 ? mh - 1 : sy;
  sx = sx < 0 ? 0 : sx > mw - 1 ? mw - 1 : sx;
  const int y0 = (int)sy, x0 = (int)sx;
  const int y1 = y0 + 1 < mh ? y0 + 1 : y0, x1 = x0 + 1 < mw ? x0 + 1 : x0;
  const double fy = sy - y0, fx = sx - x0;
  const double v = (1 - fy) * ((1 - fx) * map[y0 * mw + x0] + fx * map[y0 * mw + x1]) +
                   fy * ((1 - fx) * map[y1 * mw + x0] + fx * map[y1 * mw + x1]);
  return span > 0 ? (v - lo) / span : 0.0;
}

void ibx_picture_draw(ibx_picture *p, int x0, int y0, int scale, const float *canvas, int c,
                      int h, int w, const float *map, int mh, int mw, float alpha) {
  double lo = 0, hi = 0;
  if (map) {
    lo = hi = map[0];
    for (int i = 1; i < mh * mw; i++)
      lo = map[i] < lo ? map[i] : lo, hi = map[i] > hi ? map[i] : hi;
  }
  const size_t hw = (size_t)h * w;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double px[3];
      for (int k = 0; k < 3; k++)
        px[k] = clamp01(canvas[(size_t)(c >= 3 ? k : 0) * hw + (size_t)y * w + x] / 255.0);
      if (map) {
        uint8_t jet[3];
        ibx_colormap_jet(map_at(map, mh, mw, lo, hi - lo, y, x, h, w), jet);
        for (int k = 0; k < 3; k++)
          px[k] = (1.0 - alpha) * px[k] + alpha * jet[k] / 255.0;
      }
      for (int dy = 0; dy < scale; dy++)
        for (int dx = 0; dx < scale; dx++) {
          const int py = y0 + y * scale + dy, pxl = x0 + x * scale + dx;
          if (py < 0 || py >= p->h || pxl < 0 || pxl >= p->w)
            continue;
          uint8_t *o = p->rgb + ((size_t)py * p->w + pxl) * 3;
          for (int k = 0; k < 3; k++)
            o[k] = (uint8_t)lround(255.0 * px[k]);
        }
    }
}

void ibx_picture_fill(ibx_picture *p, int x, int y, int w, int h, const uint8_t rgb[3]) {
  for (int yy = y < 0 ? 0 : y; yy < y + h && yy < p->h; yy++)
    for (int xx = x < 0 ? 0 : x; xx < x + w && xx < p->w; xx++)
      memcpy(p->rgb + ((size_t)yy * p->w + xx) * 3, rgb, 3);
}

void ibx_picture_colorbar(ibx_picture *p, int x, int y, int w, int h, int scale,
                          const char *low_label, const char *high_label) {
  static const uint8_t frame[3] = {60, 60, 60};
  ibx_picture_fill(p, x - 1, y - 1, w + 2, h + 2, frame);
  for (int i = 0; i < w; i++) {
    uint8_t rgb[3];
    ibx_colormap_jet(w > 1 ? (double)i / (w - 1) : 0.0, rgb);
    ibx_picture_fill(p, x + i, y, 1, h, rgb);
  }
  ibx_picture_text(p, x, y + h + 3 * scale, scale, low_label, frame);
  ibx_picture_text(p, x + w - ibx_text_width(high_label, scale), y + h + 3 * scale, scale,
                   high_label, frame);
}
