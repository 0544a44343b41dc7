/* SVHN cropped digits (Netzer et al. 2011, http://ufldl.stanford.edu/housenumbers/):
 * train_32x32.mat, test_32x32.mat, extra_32x32.mat, MATLAB v5 files (read
 * through libmatio) holding
 *   X: uint8, 32 x 32 x 3 x N (MATLAB column-major: X(row, col, channel, n))
 *   y: N x 1 labels 1..10 (double in the published files), 10 meaning digit 0.
 * ibx labels are the digits 0..9. X is read in slabs of samples so the peak
 * memory is the dataset plus one slab. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <matio.h>

#include "dataset_internal.h"
#include "ibx/error.h"

#define SLAB 1024

/* matio reports problems through a log function; the library must not print,
 * so it gets a silent one (the failure itself comes back as a NULL/error). */
static void quiet_matio(int level, char *message) { (void)level, (void)message; }

static int label_value(const matvar_t *y, size_t i, double *v) {
  const void *d = y->data;
  switch (y->class_type) {
  case MAT_C_DOUBLE: *v = ((const double *)d)[i]; return 1;
  case MAT_C_SINGLE: *v = ((const float *)d)[i]; return 1;
  case MAT_C_INT8: *v = ((const int8_t *)d)[i]; return 1;
  case MAT_C_UINT8: *v = ((const uint8_t *)d)[i]; return 1;
  case MAT_C_INT16: *v = ((const int16_t *)d)[i]; return 1;
  case MAT_C_UINT16: *v = ((const uint16_t *)d)[i]; return 1;
  case MAT_C_INT32: *v = ((const int32_t *)d)[i]; return 1;
  case MAT_C_UINT32: *v = ((const uint32_t *)d)[i]; return 1;
  case MAT_C_INT64: *v = (double)((const int64_t *)d)[i]; return 1;
  case MAT_C_UINT64: *v = (double)((const uint64_t *)d)[i]; return 1;
  default: return 0;
  }
}

int ibx_dataset_open_svhn_mat(const char *path, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "svhn: NULL output pointer");
  *out = NULL;
  if (!path)
    return ibx_fail(IBX_ERR_ARG, "svhn: NULL path");
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "svhn: cannot open %s: %s", path, strerror(errno));
  struct stat st;
  const double file_size = fstat(fileno(f), &st) == 0 ? (double)st.st_size : 0;
  fclose(f);
  Mat_LogInitFunc("ibx", quiet_matio);
  mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
  if (!mat)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: not a MATLAB .mat file (or truncated header)",
                    path);
  matvar_t *x = NULL, *y = NULL;
  ibx_dataset *ds = NULL;
  uint8_t *slab = NULL;
  int rc = IBX_OK;
  x = Mat_VarReadInfo(mat, "X");
  if (!x)
    rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: no readable variable X (truncated or not SVHN)",
                  path);
  else if (x->class_type != MAT_C_UINT8 || x->isComplex || x->rank != 4 || x->dims[2] != 3 ||
           x->dims[0] == 0 || x->dims[1] == 0 || x->dims[0] > 4096 || x->dims[1] > 4096)
    rc = ibx_fail(IBX_ERR_FORMAT,
                  "svhn: %s: X must be uint8 rows x cols x 3 x N (class %d, rank %d, dims %zu x "
                  "%zu x %zu x %zu)",
                  path, (int)x->class_type, x->rank, x->dims[0], x->rank > 1 ? x->dims[1] : 0,
                  x->rank > 2 ? x->dims[2] : 0, x->rank > 3 ? x->dims[3] : 0);
  /* The header's sizes are checked against the file before libmatio is asked
   * to allocate anything for them: each element takes at least one byte of
   * an uncompressed variable, and zlib expands at most 1032-fold. */
  size_t n = 0, rows = 0, cols = 0;
  if (rc == IBX_OK) {
    n = x->dims[3], rows = x->dims[0], cols = x->dims[1];
    double bytes = (double)rows * (double)cols * 3.0 * (double)n;
    double limit = file_size * (x->compression == MAT_COMPRESSION_NONE ? 1.0 : 1032.0);
    if (bytes > limit)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: X declares %.0f bytes of images but the file has %.0f bytes "
                    "(truncated or corrupt)",
                    path, bytes, file_size);
  }
  if (rc == IBX_OK) {
    matvar_t *yi = Mat_VarReadInfo(mat, "y");
    if (!yi)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: no readable variable y (truncated or not SVHN)",
                    path);
    else if (yi->rank != 2 || (yi->dims[0] != 1 && yi->dims[1] != 1) || yi->isComplex)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: y must be an N x 1 vector", path);
    else if (yi->dims[0] * yi->dims[1] != n)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: X has %zu images but y has %zu labels", path, n,
                    yi->dims[0] * yi->dims[1]);
    Mat_VarFree(yi);
  }
  if (rc == IBX_OK) {
    y = Mat_VarRead(mat, "y");
    if (!y || !y->data)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: no readable variable y (truncated or not SVHN)",
                    path);
    else if (y->rank != 2 || (y->dims[0] != 1 && y->dims[1] != 1) || y->isComplex ||
             y->dims[0] * y->dims[1] != n)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: y must be an N x 1 vector of %zu labels", path,
                    n);
  }
  if (rc == IBX_OK) {
    ds = ibxd_new("svhn %s", path);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, NULL, 10);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, (long)n, 3, (int)rows, (int)cols, 0);
  for (size_t i = 0; rc == IBX_OK && i < n; i++) {
    double v = 0;
    if (!label_value(y, i, &v))
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: y has a non-numeric class (%d)", path,
                    (int)y->class_type);
    else if (!(v >= 1 && v <= 10) || v != (double)(int)v)
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: label %g of sample %zu is out of range 1..10",
                    path, v, i);
    else
      ds->labels[i] = (int)v % 10; /* 10 means the digit 0 */
  }
  const size_t img = 3 * rows * cols;
  if (rc == IBX_OK && n > 0) {
    slab = malloc(img * (n < SLAB ? n : SLAB));
    if (!slab)
      rc = ibx_fail(IBX_ERR_NOMEM, "svhn: out of memory reading %s", path);
  }
  for (size_t s0 = 0; rc == IBX_OK && s0 < n; s0 += SLAB) {
    size_t cnt = n - s0 < SLAB ? n - s0 : SLAB;
    int start[4] = {0, 0, 0, (int)s0}, stride[4] = {1, 1, 1, 1};
    int edge[4] = {(int)rows, (int)cols, 3, (int)cnt};
    if (Mat_VarReadData(mat, x, slab, start, stride, edge) != 0) {
      rc = ibx_fail(IBX_ERR_FORMAT, "svhn: %s: cannot read images %zu..%zu of X (truncated?)",
                    path, s0, s0 + cnt - 1);
      break;
    }
    /* column-major (row fastest) -> CHW (column fastest) */
    for (size_t k = 0; k < cnt; k++) {
      const uint8_t *src = slab + k * img;
      uint8_t *dst = ds->images + (s0 + k) * img;
      for (size_t c = 0; c < 3; c++)
        for (size_t col = 0; col < cols; col++)
          for (size_t row = 0; row < rows; row++)
            dst[(c * rows + row) * cols + col] = src[(c * cols + col) * rows + row];
    }
  }
  free(slab);
  Mat_VarFree(x);
  Mat_VarFree(y);
  Mat_Close(mat);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibx_dataset_open_svhn(const char *dir, const char *split, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "svhn: NULL output pointer");
  *out = NULL;
  if (!dir)
    return ibx_fail(IBX_ERR_ARG, "svhn: no directory given");
  if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0 &&
                 strcmp(split, "extra") != 0))
    return ibx_fail(IBX_ERR_ARG, "svhn: unknown split '%s' (use train, test or extra)",
                    split ? split : "(null)");
  char name[32], path[4096];
  snprintf(name, sizeof name, "%s_32x32.mat", split);
  IBX_TRY(ibxd_join(path, sizeof path, dir, name));
  IBX_TRY(ibx_dataset_open_svhn_mat(path, out));
  snprintf((*out)->name, sizeof (*out)->name, "svhn %s (%s)", split, dir);
  return IBX_OK;
}
