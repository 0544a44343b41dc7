/* Image resampling for readers whose images must change size (STL-10 96x96
 * to a CIFAR model's 32x32, CUB's variable-size JPEGs to a fixed size), and
 * a resized copy of any dataset. Separable; per axis: area averaging when
 * shrinking (each output pixel is the exact mean of the input area it
 * covers, so an integer factor is a plain box average), bilinear with
 * half-pixel centres (edge-clamped) when enlarging. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "ibx/error.h"
#include "ibx/memory.h"

typedef struct {
  int maxt;
  int *n;     /* taps per output pixel */
  int *idx;   /* out * maxt input indices */
  float *w;   /* out * maxt weights */
} taps;

static void free_taps(taps *t) {
  free(t->n), free(t->idx), free(t->w);
}

static int make_taps(int in, int out, taps *t) {
  double s = (double)in / out;
  t->maxt = in > out ? (int)ceil(s) + 1 : 2;
  t->n = malloc((size_t)out * sizeof *t->n);
  t->idx = malloc((size_t)out * t->maxt * sizeof *t->idx);
  t->w = malloc((size_t)out * t->maxt * sizeof *t->w);
  if (!t->n || !t->idx || !t->w) {
    free_taps(t);
    return 0;
  }
  for (int o = 0; o < out; o++) {
    int *idx = t->idx + (size_t)o * t->maxt;
    float *w = t->w + (size_t)o * t->maxt;
    int n = 0;
    if (in == out) {
      idx[0] = o, w[0] = 1.0f, n = 1;
    } else if (in > out) {
      double lo = o * s, hi = (o + 1) * s;
      for (int i = (int)floor(lo); i < in && i < hi && n < t->maxt; i++) {
        double a = i > lo ? i : lo, b = i + 1 < hi ? i + 1 : hi;
        if (b > a)
          idx[n] = i, w[n] = (float)((b - a) / s), n++;
      }
    } else {
      double src = (o + 0.5) * s - 0.5;
      int i0 = (int)floor(src);
      float f = (float)(src - i0);
      int a = i0 < 0 ? 0 : i0, b = i0 + 1 > in - 1 ? in - 1 : i0 + 1;
      if (a > in - 1)
        a = in - 1;
      if (b < 0)
        b = 0;
      idx[0] = a, w[0] = 1.0f - f, idx[1] = b, w[1] = f, n = 2;
    }
    t->n[o] = n;
  }
  return 1;
}

void ibxd_resize_u8(const uint8_t *in, int c, int ih, int iw, uint8_t *out, int oh, int ow) {
  if (ih == oh && iw == ow) {
    memcpy(out, in, (size_t)c * ih * iw);
    return;
  }
  taps tx = {0}, ty = {0};
  float *tmp = malloc((size_t)ih * ow * sizeof *tmp);
  if (!tmp || !make_taps(iw, ow, &tx) || !make_taps(ih, oh, &ty)) {
    /* Out of memory for a few KB: fall back to nearest neighbour. */
    for (int ch = 0; ch < c; ch++)
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          out[((size_t)ch * oh + y) * ow + x] =
              in[((size_t)ch * ih + (size_t)y * ih / oh) * iw + (size_t)x * iw / ow];
    free(tmp), free_taps(&tx), free_taps(&ty);
    return;
  }
  for (int ch = 0; ch < c; ch++) {
    const uint8_t *src = in + (size_t)ch * ih * iw;
    for (int y = 0; y < ih; y++)
      for (int x = 0; x < ow; x++) {
        float acc = 0;
        for (int k = 0; k < tx.n[x]; k++)
          acc += tx.w[x * tx.maxt + k] * src[(size_t)y * iw + tx.idx[x * tx.maxt + k]];
        tmp[(size_t)y * ow + x] = acc;
      }
    uint8_t *dst = out + (size_t)ch * oh * ow;
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        float acc = 0;
        for (int k = 0; k < ty.n[y]; k++)
          acc += ty.w[y * ty.maxt + k] * tmp[(size_t)ty.idx[y * ty.maxt + k] * ow + x];
        acc = acc + 0.5f;
        dst[(size_t)y * ow + x] = acc <= 0 ? 0 : acc >= 255 ? 255 : (uint8_t)acc;
      }
  }
  free(tmp), free_taps(&tx), free_taps(&ty);
}

int ibx_dataset_resize_copy(const ibx_dataset *src, int height, int width, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "resize: NULL output pointer");
  *out = NULL;
  if (!src)
    return ibx_fail(IBX_ERR_ARG, "resize: NULL dataset");
  if (height <= 0 || width <= 0 || height > 65536 || width > 65536)
    return ibx_fail(IBX_ERR_ARG, "%s: bad resize target %d x %d", src->name, height, width);
  ibx_dataset *ds = ibxd_new("%s, resized to %dx%d", src->name, height, width);
  if (!ds)
    return IBX_ERR_NOMEM;
  int rc = ibxd_set_classes(ds, (const char *const *)src->class_names, src->num_classes);
  if (rc == IBX_OK && src->num_coarse > 0)
    rc = ibxd_set_coarse_classes(ds, (const char *const *)src->coarse_names, src->num_coarse);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, src->count, src->channels, height, width, src->num_coarse > 0);
  if (rc == IBX_OK && ibx_dataset_has_boxes(src)) {
    ds->boxes = ibx_alloc(4 * sizeof(float) * (size_t)(src->count > 0 ? src->count : 1),
                          "dataset boxes");
    if (!ds->boxes)
      rc = IBX_ERR_NOMEM;
  }
  uint8_t *buf = NULL;
  if (rc == IBX_OK) {
    buf = malloc((size_t)ibx_dataset_image_size(src));
    if (!buf)
      rc = ibx_fail(IBX_ERR_NOMEM, "%s: out of memory for one image", src->name);
  }
  const size_t osz = (size_t)src->channels * height * width;
  const float sx = (float)width / src->width, sy = (float)height / src->height;
  for (long i = 0; rc == IBX_OK && i < src->count; i++) {
    int label;
    rc = ibx_dataset_read(src, i, buf, &label);
    if (rc != IBX_OK)
      break;
    ibxd_resize_u8(buf, src->channels, src->height, src->width, ds->images + (size_t)i * osz,
                   height, width);
    ds->labels[i] = label;
    if (ds->coarse)
      ds->coarse[i] = ibx_dataset_coarse_label(src, i);
    if (ds->boxes) {
      float b[4] = {0, 0, 0, 0};
      rc = ibx_dataset_box(src, i, b);
      float *o = ds->boxes + 4 * (size_t)i;
      o[0] = b[0] * sx, o[1] = b[1] * sy, o[2] = b[2] * sx, o[3] = b[3] * sy;
    }
  }
  free(buf);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}
