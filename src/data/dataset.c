/* The dataset interface (include/ibx/data.h) and helpers shared by the
 * readers: whole-file loading with transparent gunzip, class-name tables,
 * memory-backed storage. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "dataset_internal.h"
#include "ibx/error.h"
#include "ibx/memory.h"

/* ---- construction ------------------------------------------------------- */

ibx_dataset *ibxd_new(const char *fmt, ...) {
  ibx_dataset *ds = ibx_calloc(sizeof *ds, "dataset");
  if (!ds)
    return NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ds->name, sizeof ds->name, fmt, ap);
  va_end(ap);
  return ds;
}

static void free_names(char **names, int n) {
  if (!names)
    return;
  for (int k = 0; k < n; k++)
    free(names[k]);
  free(names);
}

static int copy_names(char ***dst, const char *const *names, int n) {
  char **out = calloc((size_t)n, sizeof *out);
  if (!out)
    return ibx_fail(IBX_ERR_NOMEM, "dataset: out of memory for %d class names", n);
  for (int k = 0; k < n; k++) {
    char num[16];
    const char *src = names ? names[k] : num;
    if (!names)
      snprintf(num, sizeof num, "%d", k);
    out[k] = strdup(src ? src : "");
    if (!out[k]) {
      free_names(out, k);
      return ibx_fail(IBX_ERR_NOMEM, "dataset: out of memory for class names");
    }
  }
  *dst = out;
  return IBX_OK;
}

int ibxd_set_classes(ibx_dataset *ds, const char *const *names, int n) {
  if (n <= 0)
    return ibx_fail(IBX_ERR_ARG, "%s: number of classes must be positive, got %d", ds->name, n);
  char **out;
  IBX_TRY(copy_names(&out, names, n));
  free_names(ds->class_names, ds->num_classes);
  ds->class_names = out;
  ds->num_classes = n;
  return IBX_OK;
}

int ibxd_set_coarse_classes(ibx_dataset *ds, const char *const *names, int n) {
  if (n <= 0)
    return ibx_fail(IBX_ERR_ARG, "%s: number of coarse classes must be positive, got %d",
                    ds->name, n);
  char **out;
  IBX_TRY(copy_names(&out, names, n));
  free_names(ds->coarse_names, ds->num_coarse);
  ds->coarse_names = out;
  ds->num_coarse = n;
  return IBX_OK;
}

int ibxd_alloc_memory(ibx_dataset *ds, long count, int c, int h, int w, int with_coarse) {
  if (count < 0 || c <= 0 || h <= 0 || w <= 0)
    return ibx_fail(IBX_ERR_ARG, "%s: bad dataset shape %ld x %d x %d x %d", ds->name, count, c,
                    h, w);
  size_t img = (size_t)c * (size_t)h * (size_t)w;
  if ((size_t)count > SIZE_MAX / 2 / img)
    return ibx_fail(IBX_ERR_ARG, "%s: dataset of %ld images of %zu bytes is too large",
                    ds->name, count, img);
  ds->count = count;
  ds->channels = c, ds->height = h, ds->width = w;
  size_t n = count > 0 ? (size_t)count : 1;
  ds->images = ibx_alloc(n * img, "dataset images");
  ds->labels = ibx_alloc(n * sizeof(int32_t), "dataset labels");
  if (with_coarse)
    ds->coarse = ibx_alloc(n * sizeof(int32_t), "dataset coarse labels");
  if (!ds->images || !ds->labels || (with_coarse && !ds->coarse))
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory for %ld images of %d x %d x %d", ds->name,
                    count, c, h, w);
  return IBX_OK;
}

/* ---- files -------------------------------------------------------------- */

int ibxd_path_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int ibxd_join(char *buf, size_t cap, const char *dir, const char *file) {
  int n = (dir && dir[0]) ? snprintf(buf, cap, "%s/%s", dir, file) : snprintf(buf, cap, "%s", file);
  if (n < 0 || (size_t)n >= cap)
    return ibx_fail(IBX_ERR_ARG, "path too long: %s/%s", dir ? dir : "", file);
  return IBX_OK;
}

int ibxd_load_file(const char *path, const char *what, const char *hint, uint8_t **data,
                   size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open %s: %s%s%s", what, path, strerror(errno),
                    hint ? " " : "", hint ? hint : "");
  struct stat st;
  /* +1: a plain file then reaches end-of-file without growing the buffer */
  size_t cap = (fstat(fileno(f), &st) == 0 && st.st_size > 0) ? (size_t)st.st_size + 1 : 4096;
  fclose(f);
  gzFile gz = gzopen(path, "rb");
  if (!gz)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open %s: %s", what, path, strerror(errno));
  gzbuffer(gz, 1 << 17);
  uint8_t *buf = malloc(cap);
  size_t len = 0;
  int rc = IBX_OK;
  if (!buf) {
    gzclose_r(gz);
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory reading %s", what, path);
  }
  for (;;) {
    if (len == cap) {
      size_t ncap = cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        rc = ibx_fail(IBX_ERR_NOMEM, "%s: out of memory reading %s", what, path);
        break;
      }
      buf = nb, cap = ncap;
    }
    size_t want = cap - len;
    if (want > INT_MAX / 2)
      want = INT_MAX / 2;
    int got = gzread(gz, buf + len, (unsigned)want);
    if (got < 0) {
      int zerr;
      const char *msg = gzerror(gz, &zerr);
      rc = ibx_fail(zerr == Z_ERRNO ? IBX_ERR_IO : IBX_ERR_FORMAT, "%s: %s: %s", what, path,
                    zerr == Z_ERRNO ? strerror(errno)
                    : zerr == Z_BUF_ERROR ? "truncated gzip data"
                                          : (msg ? msg : "corrupt gzip data"));
      break;
    }
    if (got == 0)
      break;
    len += (size_t)got;
  }
  int crc = gzclose_r(gz);
  if (rc == IBX_OK && crc == Z_BUF_ERROR)
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: truncated gzip data", what, path);
  else if (rc == IBX_OK && crc != Z_OK)
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: corrupt gzip data", what, path);
  if (rc != IBX_OK) {
    free(buf);
    return rc;
  }
  *data = buf;
  *size = len;
  return IBX_OK;
}

/* ---- the interface ------------------------------------------------------ */

long ibx_dataset_count(const ibx_dataset *ds) { return ds ? ds->count : 0; }

void ibx_dataset_shape(const ibx_dataset *ds, int *channels, int *height, int *width) {
  if (channels)
    *channels = ds ? ds->channels : 0;
  if (height)
    *height = ds ? ds->height : 0;
  if (width)
    *width = ds ? ds->width : 0;
}

long ibx_dataset_image_size(const ibx_dataset *ds) {
  return ds ? (long)ds->channels * ds->height * ds->width : 0;
}

int ibx_dataset_num_classes(const ibx_dataset *ds) { return ds ? ds->num_classes : 0; }

const char *ibx_dataset_class_name(const ibx_dataset *ds, int k) {
  return (ds && k >= 0 && k < ds->num_classes) ? ds->class_names[k] : NULL;
}

const char *ibx_dataset_name(const ibx_dataset *ds) { return ds ? ds->name : ""; }

int ibx_dataset_read(const ibx_dataset *ds, long i, uint8_t *image_chw, int *label) {
  if (!ds)
    return ibx_fail(IBX_ERR_ARG, "dataset read: NULL dataset");
  if (i < 0 || i >= ds->count)
    return ibx_fail(IBX_ERR_ARG, "%s: sample %ld out of range [0, %ld)", ds->name, i, ds->count);
  if (ds->ops)
    return ds->ops->read(ds, i, image_chw, label);
  size_t img = (size_t)ds->channels * ds->height * ds->width;
  if (image_chw)
    memcpy(image_chw, ds->images + (size_t)i * img, img);
  if (label)
    *label = ds->labels[i];
  return IBX_OK;
}

int ibx_dataset_num_coarse_classes(const ibx_dataset *ds) { return ds ? ds->num_coarse : 0; }

const char *ibx_dataset_coarse_class_name(const ibx_dataset *ds, int k) {
  return (ds && k >= 0 && k < ds->num_coarse) ? ds->coarse_names[k] : NULL;
}

int ibx_dataset_coarse_label(const ibx_dataset *ds, long i) {
  if (!ds || !ds->coarse || i < 0 || i >= ds->count)
    return -1;
  return ds->coarse[i];
}

int ibx_dataset_has_boxes(const ibx_dataset *ds) {
  return ds && (ds->boxes != NULL || (ds->ops && ds->ops->box));
}

int ibx_dataset_box(const ibx_dataset *ds, long i, float box_xywh[4]) {
  if (!ibx_dataset_has_boxes(ds))
    return ibx_fail(IBX_ERR_ARG, "%s: dataset has no bounding boxes", ds ? ds->name : "dataset");
  if (i < 0 || i >= ds->count)
    return ibx_fail(IBX_ERR_ARG, "%s: sample %ld out of range [0, %ld)", ds->name, i, ds->count);
  if (!ds->boxes)
    return ds->ops->box(ds, i, box_xywh);
  memcpy(box_xywh, ds->boxes + 4 * (size_t)i, 4 * sizeof(float));
  return IBX_OK;
}

void ibx_dataset_close(ibx_dataset *ds) {
  if (!ds)
    return;
  if (ds->ops && ds->ops->destroy)
    ds->ops->destroy(ds->impl);
  free_names(ds->class_names, ds->num_classes);
  free_names(ds->coarse_names, ds->num_coarse);
  ibx_free(ds->images);
  ibx_free(ds->labels);
  ibx_free(ds->coarse);
  ibx_free(ds->boxes);
  ibx_free(ds);
}
