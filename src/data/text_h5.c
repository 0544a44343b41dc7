/* The native text dataset file: one HDF5 file per split.
 *
 * Layout (format "ibx-text-dataset", version 1):
 *   /ids           int32 [N, L]  token ids, [CLS] ... [SEP] then [PAD]
 *   /lengths       int32 [N]     ids before the padding (2 <= length <= L)
 *   /labels        int32 [N]     0 <= label < K
 *   /class_names   fixed-length strings [K]
 *   /vocab         fixed-length strings [V]  pieces in id order, the five
 *                  specials first
 *   /text_bytes    uint8 [T]     (optional) the raw texts, each ending in NUL
 *   /text_offsets  int64 [N + 1] (optional) where text i starts; the last
 *                  entry is T
 *   attributes on /: ibx_format = "ibx-text-dataset", ibx_format_version = 1,
 *   name, source, max_len (= L), and zlib crc32 checksums of the data as
 *   little-endian bytes in order: ids_crc32, lengths_crc32, labels_crc32,
 *   vocab_crc32 (pieces joined with '\n'), texts_crc32 (text_bytes; only
 *   with texts).
 * Opening the whole file verifies every checksum and every invariant
 * (ids < V, [CLS]/[SEP]/[PAD] in place, labels < K, offsets increasing);
 * opening a range checks the invariants of its rows but not the checksums. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "h5_internal.h"
#include "ibx/error.h"
#include "text_internal.h"

#define FORMAT "ibx-text-dataset"
#define VERSION 1
#define LABEL "text h5"

/* ---- checksums -------------------------------------------------------------- */

static uint32_t crc_vocab(const ibx_vocab *v) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int k = 0; k < v->size; k++) {
    if (k)
      crc = crc32(crc, (const Bytef *)"\n", 1);
    crc = crc32(crc, (const Bytef *)v->pieces[k], (uInt)strlen(v->pieces[k]));
  }
  return (uint32_t)crc;
}

/* ---- writing ------------------------------------------------------------ */

int ibx_text_write_h5(const ibx_text_dataset *ds, const char *path, const char *source) {
  if (!ds || !path)
    return ibx_fail(IBX_ERR_ARG, "text h5: NULL dataset or path");
  if (ds->count <= 0)
    return ibx_fail(IBX_ERR_ARG, "text h5: %s is empty, nothing to write to %s", ds->name, path);
  ibxh5_quiet();
  /* atomically: a temporary file, fsync, rename */
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return ibx_fail(IBX_ERR_ARG, "text h5: path too long: %s", path);
  hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0)
    return ibx_fail(IBX_ERR_IO, "text h5: cannot create %s", tmp);
  const size_t n = (size_t)ds->count, L = (size_t)ds->max_len;
  hsize_t d2[2] = {n, L}, d1[1] = {n};
  int rc = ibxh5_write_data(file, "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, ds->ids, LABEL,
                            path);
  if (rc == IBX_OK)
    rc = ibxh5_write_data(file, "lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, ds->lengths,
                          LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_data(file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, ds->labels,
                          LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_strings(file, "class_names", ds->class_names, ds->num_classes, 0, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_strings(file, "vocab", ds->vocab->pieces, ds->vocab->size, 0, LABEL, path);
  const int has_texts = ds->text_bytes && ds->text_offsets;
  uint32_t texts_crc = 0;
  if (rc == IBX_OK && has_texts) {
    hsize_t dt[1] = {(hsize_t)ds->text_offsets[n]}, dof[1] = {n + 1};
    texts_crc = ibxh5_crc_bytes(ds->text_bytes, (size_t)ds->text_offsets[n]);
    rc = ibxh5_write_data(file, "text_bytes", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dt,
                          ds->text_bytes, LABEL, path);
    if (rc == IBX_OK)
      rc = ibxh5_write_data(file, "text_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dof,
                      ds->text_offsets, LABEL, path);
  }
  const int32_t version = VERSION, max_len = ds->max_len;
  const uint32_t c0 = (uint32_t)crc32(0L, Z_NULL, 0);
  const uint32_t ids_crc = ibxh5_crc_i32(c0, ds->ids, n * L), len_crc = ibxh5_crc_i32(c0,
                                         ds->lengths, n),
                 lab_crc = ibxh5_crc_i32(c0, ds->labels, n), voc_crc = crc_vocab(ds->vocab);
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "ibx_format", FORMAT, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "ibx_format_version", H5T_STD_I32LE, H5T_NATIVE_INT32,
                              &version, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "name", ds->name, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "source", source ? source : "", LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "max_len", H5T_STD_I32LE, H5T_NATIVE_INT32, &max_len, LABEL,
                              path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "ids_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &ids_crc, LABEL,
                              path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "lengths_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &len_crc,
                              LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "labels_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &lab_crc,
                              LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "vocab_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &voc_crc,
                              LABEL, path);
  if (rc == IBX_OK && has_texts)
    rc = ibxh5_write_num_attr(file, "texts_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &texts_crc,
                              LABEL, path);
  if (rc == IBX_OK && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
    rc = ibx_fail(IBX_ERR_IO, "text h5: cannot flush %s", tmp);
  if (H5Fclose(file) < 0 && rc == IBX_OK)
    rc = ibx_fail(IBX_ERR_IO, "text h5: cannot close %s", tmp);
  if (rc == IBX_OK) {
    FILE *f = fopen(tmp, "rb+");
    if (!f || fsync(fileno(f)) != 0)
      rc = ibx_fail(IBX_ERR_IO, "text h5: cannot sync %s: %s", tmp, strerror(errno));
    if (f)
      fclose(f);
  }
  if (rc == IBX_OK && rename(tmp, path) != 0)
    rc = ibx_fail(IBX_ERR_IO, "text h5: cannot rename %s to %s: %s", tmp, path, strerror(errno));
  if (rc != IBX_OK)
    remove(tmp);
  return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Opens dataset name and checks it before anything is allocated for it:
 * rank, dims (want_dims[k] == 0: any), type class, element size, and that
 * the declared data fits in the file (unfiltered data cannot be larger than
 * the file; a corrupt header can declare terabytes). dims gets the shape. */
static int check(hid_t file, const char *name, int want_rank, H5T_class_t cls, size_t max_elem,
                 size_t file_size, hsize_t dims[2], const char *path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
    return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: no /%s", path, name);
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: cannot open /%s", path, name);
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  int rc = IBX_OK;
  int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  size_t elem = t >= 0 ? H5Tget_size(t) : 0;
  if (t < 0 || sp < 0 || dcpl < 0 || rank != want_rank || H5Tget_class(t) != cls || elem == 0 ||
      elem > max_elem || (cls == H5T_STRING && H5Tis_variable_str(t) > 0))
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /%s has an unexpected type or rank", path, name);
  else if (H5Pget_external_count(dcpl) != 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /%s is stored in external files", path, name);
  else {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    double bytes = (double)elem;
    for (int k = 0; k < rank; k++)
      bytes *= (double)dims[k];
    double limit = (double)file_size * (H5Pget_nfilters(dcpl) > 0 ? 1032.0 : 1.0);
    double chunk = ibxh5_chunk_bytes(dcpl, elem);
    if (bytes > limit || chunk < 0 || chunk > limit ||
        (double)H5Dget_storage_size(d) > limit)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "text h5: %s: /%s declares %.0f bytes of data but the file has %zu bytes "
                    "(truncated or corrupt)", path, name, bytes, file_size);
  }
  if (dcpl >= 0)
    H5Pclose(dcpl);
  if (sp >= 0)
    H5Sclose(sp);
  if (t >= 0)
    H5Tclose(t);
  H5Dclose(d);
  return rc;
}

/* Checks the rows' invariants: ids in the vocabulary, [CLS] first, [SEP] at
 * length - 1, [PAD] after, no special in between except [UNK]/[MASK],
 * labels in range. */
static int check_rows(const ibx_text_dataset *ds, long first, const char *path) {
  const int L = ds->max_len, V = ds->vocab->size;
  for (long i = 0; i < ds->count; i++) {
    const int32_t *id = ds->ids + (size_t)i * (size_t)L;
    int len = ds->lengths[i];
    if (ds->labels[i] < 0 || ds->labels[i] >= ds->num_classes)
      return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: sequence %ld has label %d outside [0, %d)",
                      path, first + i, (int)ds->labels[i], ds->num_classes);
    if (len < 2 || len > L)
      return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: sequence %ld has length %d outside [2, %d]",
                      path, first + i, len, L);
    if (id[0] != IBX_TOK_CLS || id[len - 1] != IBX_TOK_SEP)
      return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: sequence %ld does not start with [CLS] and "
                      "end with [SEP]", path, first + i);
    for (int k = 1; k < L; k++) {
      int32_t x = id[k];
      int ok = k >= len ? x == IBX_TOK_PAD
             : k == len - 1 ? 1
                            : (x >= 0 && x < V && x != IBX_TOK_PAD && x != IBX_TOK_CLS &&
                               x != IBX_TOK_SEP);
      if (!ok)
        return ibx_fail(IBX_ERR_FORMAT, "text h5: %s: sequence %ld has id %d at position %d "
                        "(vocabulary of %d, length %d)", path, first + i, (int)x, k, V, len);
    }
  }
  return IBX_OK;
}

static int open_text_h5(const char *path, long first, long count, int whole,
                        ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "text h5: NULL output");
  *out = NULL;
  if (!path)
    return ibx_fail(IBX_ERR_ARG, "text h5: NULL path");
  hid_t file = -1;
  size_t file_size = 0;
  int rc = ibxh5_open_read(path, LABEL, &file, &file_size);
  if (rc != IBX_OK)
    return rc;
  char fmt[64], name[256];
  int32_t version = 0, max_len = 0;
  if (!ibxh5_read_str_attr(file, "ibx_format", fmt, sizeof fmt) || strcmp(fmt, FORMAT) != 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s is not an ibx text dataset (no ibx_format=%s)",
                  path, FORMAT);
  else if (!ibxh5_read_num_attr(file, "ibx_format_version", H5T_NATIVE_INT32, &version) ||
           version != VERSION)
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: unsupported format version %d (expected %d)",
                  path, version, VERSION);
  else if (!ibxh5_read_num_attr(file, "max_len", H5T_NATIVE_INT32, &max_len) || max_len < 2 ||
           max_len > (1 << 20))
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: bad or missing max_len attribute (%d)", path,
                  max_len);
  hsize_t di[2] = {0, 0}, dl[2] = {0, 0}, db[2] = {0, 0}, dc[2] = {0, 0}, dv[2] = {0, 0},
          dt[2] = {0, 0}, dof[2] = {0, 0};
  if (rc == IBX_OK)
    rc = check(file, "ids", 2, H5T_INTEGER, 8, file_size, di, path);
  if (rc == IBX_OK)
    rc = check(file, "lengths", 1, H5T_INTEGER, 8, file_size, dl, path);
  if (rc == IBX_OK)
    rc = check(file, "labels", 1, H5T_INTEGER, 8, file_size, db, path);
  if (rc == IBX_OK)
    rc = check(file, "class_names", 1, H5T_STRING, 4096, file_size, dc, path);
  if (rc == IBX_OK)
    rc = check(file, "vocab", 1, H5T_STRING, 4096, file_size, dv, path);
  const int has_texts = rc == IBX_OK && H5Lexists(file, "text_bytes", H5P_DEFAULT) > 0;
  if (has_texts)
    rc = check(file, "text_bytes", 1, H5T_INTEGER, 1, file_size, dt, path);
  if (has_texts && rc == IBX_OK)
    rc = check(file, "text_offsets", 1, H5T_INTEGER, 8, file_size, dof, path);
  const hsize_t n = di[0];
  if (rc == IBX_OK && (di[1] != (hsize_t)max_len || dl[0] != n || db[0] != n ||
                       (has_texts && dof[0] != n + 1)))
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /ids is %llu x %llu but max_len is %d, %llu "
                  "lengths, %llu labels", path, (unsigned long long)n, (unsigned long long)di[1],
                  max_len, (unsigned long long)dl[0], (unsigned long long)db[0]);
  if (rc == IBX_OK && n == 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s holds no sequence", path);
  if (rc == IBX_OK && (dc[0] == 0 || dc[0] > 100000))
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /class_names is empty (missing labels)", path);
  if (rc == IBX_OK && (dv[0] <= IBX_TOK_NUM_SPECIAL || dv[0] > (1u << 24)))
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /vocab has %llu entries (empty vocabulary)", path,
                  (unsigned long long)dv[0]);
  if (whole)
    first = 0, count = (long)n;
  if (rc == IBX_OK && (first < 0 || count < 0 || (hsize_t)first > n ||
                       (hsize_t)count > n - (hsize_t)first))
    rc = ibx_fail(IBX_ERR_ARG, "text h5: %s: range [%ld, %ld) outside [0, %llu)", path, first,
                  first + count, (unsigned long long)n);
  char **classes = NULL, **pieces = NULL;
  ibx_text_dataset *ds = NULL;
  if (rc == IBX_OK)
    rc = ibxh5_read_strings(file, "class_names", dc[0], &classes, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_read_strings(file, "vocab", dv[0], &pieces, LABEL, path);
  if (rc == IBX_OK) {
    ibxh5_read_str_attr(file, "name", name, sizeof name);
    ds = whole ? ibxt_new("%s", name[0] ? name : path)
               : ibxt_new("%s [%ld, %ld)", name[0] ? name : path, first, first + count);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK) {
    rc = ibx_vocab_from_pieces((const char *const *)pieces, (int)dv[0], &ds->vocab);
    if (rc != IBX_OK) {
      char why[512]; /* ibx_fail writes the buffer ibx_errmsg returns */
      snprintf(why, sizeof why, "%s", ibx_errmsg());
      rc = ibx_fail(rc, "text h5: %s: /%s", path, why);
    }
  }
  if (rc == IBX_OK)
    rc = ibxt_set_classes(ds, (const char *const *)classes, (int)dc[0]);
  if (rc == IBX_OK)
    rc = ibxt_alloc(ds, count, max_len);
  if (rc == IBX_OK)
    rc = ibxh5_read_rows(file, "ids", H5T_NATIVE_INT32, (hsize_t)first, (hsize_t)count, ds->ids,
                         LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_read_rows(file, "lengths", H5T_NATIVE_INT32, (hsize_t)first, (hsize_t)count,
                   ds->lengths, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_read_rows(file, "labels", H5T_NATIVE_INT32, (hsize_t)first, (hsize_t)count,
                         ds->labels, LABEL, path);
  if (rc == IBX_OK)
    rc = check_rows(ds, first, path);
  if (rc == IBX_OK && has_texts) {
    int64_t *off = malloc((size_t)(count + 1) * sizeof *off);
    if (!off)
      rc = ibx_fail(IBX_ERR_NOMEM, "text h5: out of memory");
    if (rc == IBX_OK)
      rc = ibxh5_read_rows(file, "text_offsets", H5T_NATIVE_INT64, (hsize_t)first,
                           (hsize_t)count + 1,
                     off, LABEL, path);
    for (long i = 0; rc == IBX_OK && i < count; i++)
      if (off[i] < 0 || off[i + 1] <= off[i] || (hsize_t)off[i + 1] > dt[0] ||
          (whole && i == 0 && off[0] != 0) || (whole && i == count - 1 && (hsize_t)off[count] != dt[0]))
        rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /text_offsets not increasing within "
                      "/text_bytes at %ld", path, first + i);
    size_t nb = rc == IBX_OK ? (size_t)(off[count] - off[0]) : 0;
    if (rc == IBX_OK && !(ds->text_bytes = malloc(nb ? nb : 1)))
      rc = ibx_fail(IBX_ERR_NOMEM, "text h5: out of memory");
    if (rc == IBX_OK)
      rc = ibxh5_read_rows(file, "text_bytes", H5T_NATIVE_UINT8, (hsize_t)off[0], nb,
                           ds->text_bytes, LABEL, path);
    for (long i = 0; rc == IBX_OK && i < count; i++)
      if (ds->text_bytes[off[i + 1] - off[0] - 1] != '\0')
        rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: text %ld is not NUL-terminated", path,
                      first + i);
    if (rc == IBX_OK) {
      for (long i = count; i >= 0; i--)
        off[i] -= off[0];
      ds->text_offsets = off;
      off = NULL;
    }
    free(off);
  }
  /* checksums (whole file only) */
  if (rc == IBX_OK && whole) {
    uint32_t want[5] = {0}, c0 = (uint32_t)crc32(0L, Z_NULL, 0);
    const char *names[5] = {"ids_crc32", "lengths_crc32", "labels_crc32", "vocab_crc32",
                            "texts_crc32"};
    uint32_t got[5] = {ibxh5_crc_i32(c0, ds->ids, (size_t)count * (size_t)max_len),
                       ibxh5_crc_i32(c0, ds->lengths, (size_t)count),
                       ibxh5_crc_i32(c0, ds->labels, (size_t)count), crc_vocab(ds->vocab),
                       has_texts ? ibxh5_crc_bytes(ds->text_bytes,
                                                   (size_t)ds->text_offsets[count]) : 0};
    for (int k = 0; rc == IBX_OK && k < (has_texts ? 5 : 4); k++) {
      if (!ibxh5_read_num_attr(file, names[k], H5T_NATIVE_UINT32, &want[k]))
        rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: missing checksum attribute %s", path,
                      names[k]);
      else if (want[k] != got[k])
        rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: %s mismatch (stored %08x, data %08x): the "
                      "file is corrupt", path, names[k], want[k], got[k]);
    }
  }
  ibxh5_free_strings(classes, dc[0]);
  ibxh5_free_strings(pieces, dv[0]);
  H5Fclose(file);
  if (rc != IBX_OK) {
    ibx_text_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibx_text_open_h5(const char *path, ibx_text_dataset **out) {
  return open_text_h5(path, 0, 0, 1, out);
}

int ibx_text_open_h5_range(const char *path, long first, long count, ibx_text_dataset **out) {
  return open_text_h5(path, first, count, 0, out);
}

int ibx_text_h5_count(const char *path, long *count) {
  if (!path || !count)
    return ibx_fail(IBX_ERR_ARG, "text h5: NULL path or count");
  *count = 0;
  ibxh5_quiet();
  if (!ibx_text_h5_is_text(path))
    return ibx_fail(IBX_ERR_FORMAT, "text h5: %s is not an ibx text dataset file", path);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    return ibx_fail(IBX_ERR_IO, "text h5: cannot open %s", path);
  int rc = IBX_OK;
  hid_t d = H5Dopen2(file, "labels", H5P_DEFAULT);
  hsize_t n = 0;
  if (d < 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: no /labels", path);
  else {
    hid_t sp = H5Dget_space(d);
    if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &n, NULL) < 0)
      rc = ibx_fail(IBX_ERR_FORMAT, "text h5: %s: /labels must be one-dimensional", path);
    H5Sclose(sp);
    H5Dclose(d);
  }
  H5Fclose(file);
  *count = (long)n;
  return rc;
}

int ibx_text_h5_is_text(const char *path) {
  if (!path)
    return 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  fclose(f);
  ibxh5_quiet();
  if (H5Fis_hdf5(path) <= 0)
    return 0;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    return 0;
  char fmt[64];
  int yes = ibxh5_read_str_attr(file, "ibx_format", fmt, sizeof fmt) && strcmp(fmt, FORMAT) == 0;
  H5Fclose(file);
  return yes;
}
