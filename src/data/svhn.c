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
#include <zlib.h>

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

/* ---- MAT v5 pre-scan ------------------------------------------------------
 * libmatio sizes buffers from header fields before it knows the data is
 * there: Mat_VarReadInfo allocates the dimension array from the dimension
 * element's byte count (a 200-byte file can ask for gigabytes) and walks
 * into cell arrays and structs recursively. So before libmatio sees the file,
 * its top-level elements are checked here: a 128-byte MAT v5 header (version
 * 0x0100; v4 and v7.3/HDF5 files are refused), then only numeric or char
 * arrays (miMATRIX, or miCOMPRESSED holding one), each within the file, with
 * array flags, 1..32 dimensions and a name of at most 4096 bytes where the
 * element says they are. Compressed elements are inflated only as far as
 * their header. */

#define MAT_MAX_RANK 32
#define MAT_MAX_NAME 4096
#define MAT_HEAD_BYTES 4096 /* enough for flags, dims and name */

typedef struct {
  int swap;
} mat_order;

static uint32_t mat_u32(const mat_order *o, const uint8_t *p) {
  return o->swap ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
                 : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
}

/* Checks an array header (the body of a miMATRIX element: h, hl bytes
 * available of body bytes in all). */
static int mat_check_array(const mat_order *o, const uint8_t *h, size_t hl, uint64_t body,
                           const char *path, long index) {
  /* array flags: miUINT32 (6), 8 bytes */
  if (hl < 16 || body < 16 || mat_u32(o, h) != 6 || mat_u32(o, h + 4) != 8)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: variable %ld has no array flags (corrupt file)",
                    path, index);
  unsigned cls = mat_u32(o, h + 8) & 0xff;
  if (cls != 4 && (cls < 6 || cls > 15))
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: variable %ld is of MATLAB class %u (cell, struct, object, sparse "
                    "...); an SVHN file holds only numeric arrays X and y",
                    path, index, cls);
  /* dimensions: miINT32 (5), 4 bytes per dimension, padded to 8 */
  if (hl < 24 || mat_u32(o, h + 16) != 5)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: variable %ld has no dimensions (corrupt file)",
                    path, index);
  uint32_t dbytes = mat_u32(o, h + 20);
  uint64_t dpad = ((uint64_t)dbytes + 7) / 8 * 8;
  if (dbytes % 4 != 0 || dbytes < 4 || dbytes > 4 * MAT_MAX_RANK || 24 + dpad > body)
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: variable %ld declares %u bytes of dimensions (corrupt file)", path,
                    index, dbytes);
  /* name: miINT8 (1), possibly in the small element format */
  size_t at = 24 + (size_t)dpad;
  if (hl < at + 8)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: variable %ld has no name (corrupt file)", path,
                    index);
  uint32_t tag = mat_u32(o, h + at), nbytes;
  if (tag >> 16)
    nbytes = tag >> 16, tag &= 0xffff;
  else
    nbytes = mat_u32(o, h + at + 4);
  if (tag != 1 || nbytes > MAT_MAX_NAME || at + 8 + (uint64_t)nbytes > body)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: variable %ld has a bad name element (corrupt file)",
                    path, index);
  return IBX_OK;
}

/* Inflates up to cap bytes of a compressed element's payload (nbytes bytes
 * at the file's current position) into out; *got receives the count. */
static int mat_inflate_head(FILE *f, uint64_t nbytes, uint8_t *out, size_t cap, size_t *got) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit(&z) != Z_OK)
    return 0;
  uint8_t in[4096];
  z.next_out = out, z.avail_out = (uInt)cap;
  int ok = 1;
  while (z.avail_out > 0 && nbytes > 0) {
    size_t want = nbytes < sizeof in ? (size_t)nbytes : sizeof in;
    size_t n = fread(in, 1, want, f);
    if (n == 0)
      break;
    nbytes -= n;
    z.next_in = in, z.avail_in = (uInt)n;
    int zr = inflate(&z, Z_NO_FLUSH);
    if (zr == Z_STREAM_END)
      break;
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      ok = 0;
      break;
    }
  }
  *got = cap - z.avail_out;
  inflateEnd(&z);
  return ok;
}

/* Checks the top-level element at *pos and advances *pos past it. */
static int mat_check_element(FILE *f, const mat_order *po, uint64_t file_size, uint64_t *ppos,
                             uint8_t *head, const char *path, long index) {
  const uint64_t pos = *ppos;
  const mat_order o = *po;
  uint8_t tag[8];
  if (fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(tag, 1, 8, f) != 8)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: cannot read element %ld (truncated?)", path,
                    index);
  uint32_t type = mat_u32(&o, tag), nbytes = mat_u32(&o, tag + 4);
  if (type != 14 && type != 15)
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: top-level element %ld has data type %u, expected a matrix "
                    "(corrupt file)",
                    path, index, type);
  if ((uint64_t)nbytes > file_size - pos - 8)
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: element %ld declares %u bytes but only %llu remain (truncated?)",
                    path, index, nbytes, (unsigned long long)(file_size - pos - 8));
  if (type == 14) {
    size_t want = nbytes < MAT_HEAD_BYTES ? nbytes : MAT_HEAD_BYTES;
    if (fread(head, 1, want, f) != want)
      return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: cannot read element %ld (truncated?)", path,
                      index);
    IBX_TRY(mat_check_array(&o, head, want, nbytes, path, index));
  } else {
    size_t got = 0;
    if (!mat_inflate_head(f, nbytes, head, MAT_HEAD_BYTES, &got) || got < 8 ||
        mat_u32(&o, head) != 14)
      return ibx_fail(IBX_ERR_FORMAT,
                      "svhn: %s: compressed element %ld does not hold a matrix (corrupt data)",
                      path, index);
    uint32_t inner = mat_u32(&o, head + 4);
    IBX_TRY(mat_check_array(&o, head + 8, got - 8, inner, path, index));
  }
  *ppos = pos + 8 + (uint64_t)nbytes;
  return IBX_OK;
}

static int mat_prescan(FILE *f, uint64_t file_size, const char *path) {
  uint8_t hdr[128];
  if (fread(hdr, 1, 128, f) != 128)
    return ibx_fail(IBX_ERR_FORMAT, "svhn: %s: not a MATLAB v5 .mat file (no 128-byte header)",
                    path);
  mat_order o = {0};
  if (hdr[126] == 'I' && hdr[127] == 'M')
    o.swap = 0;
  else if (hdr[126] == 'M' && hdr[127] == 'I')
    o.swap = 1;
  else
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: not a MATLAB v5 .mat file (no endian indicator; MAT v4 files are "
                    "not supported)",
                    path);
  unsigned version = o.swap ? (unsigned)hdr[124] << 8 | hdr[125] : (unsigned)hdr[125] << 8 | hdr[124];
  if (version != 0x0100)
    return ibx_fail(IBX_ERR_FORMAT,
                    "svhn: %s: MAT file version 0x%04x is not supported (SVHN files are MATLAB "
                    "v5, 0x0100; v7.3/HDF5 files are not read)",
                    path, version);
  uint8_t *head = malloc(MAT_HEAD_BYTES);
  if (!head)
    return ibx_fail(IBX_ERR_NOMEM, "svhn: out of memory reading %s", path);
  int rc = IBX_OK;
  uint64_t pos = 128;
  for (long index = 0; rc == IBX_OK && pos + 8 <= file_size; index++)
    rc = mat_check_element(f, &o, file_size, &pos, head, path, index);
  free(head);
  return rc;
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
  int pre = mat_prescan(f, (uint64_t)file_size, path);
  fclose(f);
  if (pre != IBX_OK)
    return pre;
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
