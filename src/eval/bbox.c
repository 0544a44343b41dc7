/* Bounding-box metric (include/ibx/attrib_metrics.h): how much of the
 * heatmap's mass-ranked top lies in the object's box. */
#include <math.h>
#include <stdlib.h>

#include "ibx/attrib_metrics.h"
#include "ibx/error.h"

static void box_range(const float box[4], int H, int W, int *x0, int *x1, int *y0, int *y1) {
  *x0 = (int)floorf(box[0]), *x1 = (int)ceilf(box[0] + box[2]);
  *y0 = (int)floorf(box[1]), *y1 = (int)ceilf(box[1] + box[3]);
  *x0 = *x0 < 0 ? 0 : *x0, *y0 = *y0 < 0 ? 0 : *y0;
  *x1 = *x1 > W ? W : *x1, *y1 = *y1 > H ? H : *y1;
}

long ibx_box_pixels(const float box[4], int H, int W) {
  int x0, x1, y0, y1;
  box_range(box, H, W, &x0, &x1, &y0, &y1);
  return x1 > x0 && y1 > y0 ? (long)(x1 - x0) * (y1 - y0) : 0;
}

int ibx_box_eligible(const float box[4], int H, int W, double max_fraction) {
  const long n = ibx_box_pixels(box, H, W);
  return n > 0 && (double)n <= max_fraction * H * W;
}

typedef struct {
  float v;
  int i;
} pix;

static int by_value_desc(const void *pa, const void *pb) {
  const pix *a = pa, *b = pb;
  if (a->v != b->v)
    return a->v > b->v ? -1 : 1;
  return a->i - b->i;
}

int ibx_bbox_ratio(const float *heat, int H, int W, const float box[4], double *ratio) {
  const long n = ibx_box_pixels(box, H, W);
  if (n <= 0)
    return ibx_fail(IBX_ERR_ARG, "bbox: box (%g, %g, %g, %g) has no pixels in the %dx%d image",
                    (double)box[0], (double)box[1], (double)box[2], (double)box[3], H, W);
  int x0, x1, y0, y1;
  box_range(box, H, W, &x0, &x1, &y0, &y1);
  const int P = H * W;
  pix *p = malloc((size_t)P * sizeof *p);
  if (!p)
    return ibx_fail(IBX_ERR_NOMEM, "bbox: out of memory");
  for (int i = 0; i < P; i++)
    p[i] = (pix){isnan(heat[i]) ? -INFINITY : heat[i], i};
  qsort(p, (size_t)P, sizeof *p, by_value_desc);
  long inside = 0;
  for (long k = 0; k < n; k++) {
    const int y = p[k].i / W, x = p[k].i % W;
    inside += x >= x0 && x < x1 && y >= y0 && y < y1;
  }
  free(p);
  *ratio = (double)inside / (double)n;
  return IBX_OK;
}
