/* Shared internals of the dataset readers (every reader in src/data); not installed.
 *
 * A dataset is either memory-backed (images/labels/coarse/boxes arrays filled
 * at open, ops == NULL) or computes samples on demand through ops (CUB decodes
 * JPEGs, the resizing wrapper resamples another dataset). */
#ifndef IBX_DATA_DATASET_INTERNAL_H
#define IBX_DATA_DATASET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ibx/data.h"

typedef struct {
  /* Fills image (may be NULL) and *label (may be NULL) for 0 <= i < count. */
  int (*read)(const ibx_dataset *ds, long i, uint8_t *image, int *label);
  /* Box of sample i in output pixels; NULL when the dataset has none (or
   * keeps them in the boxes array). */
  int (*box)(const ibx_dataset *ds, long i, float box[4]);
  /* Releases impl (the shared fields are freed by ibx_dataset_close). */
  void (*destroy)(void *impl);
} ibxd_ops;

struct ibx_dataset {
  const ibxd_ops *ops; /* NULL: memory-backed */
  void *impl;
  char name[256];
  long count;
  int channels, height, width;
  int num_classes;
  char **class_names;
  int num_coarse;
  char **coarse_names;
  uint8_t *images; /* count * C*H*W, memory-backed datasets only */
  int32_t *labels; /* count, memory-backed datasets only */
  int32_t *coarse; /* count or NULL */
  float *boxes;    /* 4 * count or NULL */
};

/* New empty dataset named name (printf-style); NULL with NOMEM recorded. */
ibx_dataset *ibxd_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies n class names (names == NULL: "0".."n-1"). */
int ibxd_set_classes(ibx_dataset *ds, const char *const *names, int n);
int ibxd_set_coarse_classes(ibx_dataset *ds, const char *const *names, int n);
/* Allocates images and labels (and coarse labels when with_coarse) for a
 * memory-backed dataset of count samples of shape c x h x w. */
int ibxd_alloc_memory(ibx_dataset *ds, long count, int c, int h, int w, int with_coarse);

/* Reads a whole file into a malloc'd buffer, transparently gunzipping
 * (detected by content). what names the dataset in messages; hint, when not
 * NULL, is appended to the missing-file message (e.g. which package provides
 * it). Truncated gzip streams are IBX_ERR_FORMAT. Free with free(). */
int ibxd_load_file(const char *path, const char *what, const char *hint, uint8_t **data,
                   size_t *size);
/* 1 when path exists (any file type). */
int ibxd_path_exists(const char *path);
/* snprintf into buf; IBX_ERR_ARG when the path does not fit. */
int ibxd_join(char *buf, size_t cap, const char *dir, const char *file);

/* Big-endian 32-bit word. */
static inline uint32_t ibxd_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Resamples one uint8 CHW image (c x ih x iw) to c x oh x ow: area averaging
 * when shrinking, bilinear (half-pixel centres) when enlarging, per axis. */
void ibxd_resize_u8(const uint8_t *in, int c, int ih, int iw, uint8_t *out, int oh, int ow);

#endif
