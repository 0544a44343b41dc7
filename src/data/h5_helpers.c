/* HDF5 helpers shared by the dataset files; see h5_internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <zlib.h>

#include "h5_internal.h"
#include "ibx/error.h"

void ibxh5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- writing ------------------------------------------------------------ */

int ibxh5_write_str_attr(hid_t obj, const char *name, const char *value, const char *label,
                         const char *path) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, t, value);
  if (a >= 0)
    H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return e < 0 ? ibx_fail(IBX_ERR_IO, "%s: %s: cannot write attribute %s", label, path, name)
               : IBX_OK;
}

int ibxh5_write_num_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v,
                         const char *label, const char *path) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = a < 0 ? -1 : H5Awrite(a, mtype, v);
  if (a >= 0)
    H5Aclose(a);
  H5Sclose(sp);
  return e < 0 ? ibx_fail(IBX_ERR_IO, "%s: %s: cannot write attribute %s", label, path, name)
               : IBX_OK;
}

int ibxh5_write_data(hid_t file, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const hsize_t *dims, const void *data, const char *label, const char *path) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(file, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t e = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (d >= 0)
    H5Dclose(d);
  H5Sclose(sp);
  return e < 0 ? ibx_fail(IBX_ERR_IO, "%s: %s: cannot write /%s", label, path, name) : IBX_OK;
}

int ibxh5_write_strings(hid_t file, const char *name, char *const *s, int n, size_t extra,
                        const char *label, const char *path) {
  size_t len = 1;
  for (int k = 0; k < n; k++)
    if (strlen(s[k]) + extra > len)
      len = strlen(s[k]) + extra;
  char *buf = calloc((size_t)n, len);
  if (!buf)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory", label);
  for (int k = 0; k < n; k++)
    memcpy(buf + (size_t)k * len, s[k], strlen(s[k]));
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, len);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  hsize_t dims[1] = {(hsize_t)n};
  int rc = ibxh5_write_data(file, name, t, t, 1, dims, buf, label, path);
  H5Tclose(t);
  free(buf);
  return rc;
}

/* ---- reading ------------------------------------------------------------ */

int ibxh5_open_read(const char *path, const char *label, hid_t *file, size_t *file_size) {
  *file = -1;
  *file_size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open %s: %s", label, path, strerror(errno));
  struct stat st;
  *file_size = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
  fclose(f);
  ibxh5_quiet();
  if (H5Fis_hdf5(path) <= 0)
    return ibx_fail(IBX_ERR_FORMAT, "%s: %s is not an HDF5 file (wrong magic or truncated)", label,
                    path);
  *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (*file < 0)
    return ibx_fail(IBX_ERR_FORMAT, "%s: cannot open %s as HDF5 (truncated?)", label, path);
  return IBX_OK;
}

int ibxh5_read_str_attr(hid_t obj, const char *name, char *out, size_t cap) {
  out[0] = '\0';
  if (H5Aexists(obj, name) <= 0)
    return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = a < 0 ? -1 : H5Aget_type(a);
  int ok = 0;
  if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0) {
    size_t len = H5Tget_size(t);
    char *tmp = len < (1u << 20) ? calloc(len + 1, 1) : NULL;
    if (tmp && H5Aread(a, t, tmp) >= 0) {
      snprintf(out, cap, "%s", tmp);
      ok = 1;
    }
    free(tmp);
  }
  if (t >= 0)
    H5Tclose(t);
  if (a >= 0)
    H5Aclose(a);
  return ok;
}

int ibxh5_read_num_attr(hid_t obj, const char *name, hid_t mtype, void *v) {
  if (H5Aexists(obj, name) <= 0)
    return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t sp = a < 0 ? -1 : H5Aget_space(a);
  int ok = a >= 0 && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
           H5Aread(a, mtype, v) >= 0;
  if (sp >= 0)
    H5Sclose(sp);
  if (a >= 0)
    H5Aclose(a);
  return ok;
}

double ibxh5_chunk_bytes(hid_t dcpl, size_t elem) {
  if (H5Pget_layout(dcpl) != H5D_CHUNKED)
    return 0;
  hsize_t cd[H5S_MAX_RANK];
  int cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
  double chunk = cr > 0 ? (double)elem : -1;
  for (int k = 0; k < cr; k++)
    chunk *= (double)cd[k];
  return chunk;
}

int ibxh5_read_rows(hid_t file, const char *name, hid_t mtype, hsize_t first, hsize_t count,
                    void *out, const char *label, const char *path) {
  if (count == 0)
    return IBX_OK;
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return ibx_fail(IBX_ERR_FORMAT, "%s: %s: cannot open /%s", label, path, name);
  hid_t fsp = H5Dget_space(d);
  int r = H5Sget_simple_extent_ndims(fsp);
  hsize_t dims[H5S_MAX_RANK] = {0}, start[H5S_MAX_RANK] = {0};
  H5Sget_simple_extent_dims(fsp, dims, NULL);
  dims[0] = count;
  start[0] = first;
  H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, dims, NULL);
  hid_t msp = H5Screate_simple(r, dims, NULL);
  herr_t e = H5Dread(d, mtype, msp, fsp, H5P_DEFAULT, out);
  H5Sclose(msp);
  H5Sclose(fsp);
  H5Dclose(d);
  return e < 0 ? ibx_fail(IBX_ERR_FORMAT, "%s: %s: cannot read /%s (truncated?)", label, path,
                          name)
               : IBX_OK;
}

void ibxh5_free_strings(char **s, hsize_t n) {
  for (hsize_t k = 0; s && k < n; k++)
    free(s[k]);
  free(s);
}

int ibxh5_read_strings(hid_t file, const char *name, hsize_t expect, char ***out,
                       const char *label, const char *path) {
  *out = NULL;
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return ibx_fail(IBX_ERR_FORMAT, "%s: %s: no /%s", label, path, name);
  hid_t t = H5Dget_type(d);
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  int rc = IBX_OK;
  if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0 ||
      H5Sget_simple_extent_ndims(sp) != 1)
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: /%s must be fixed-length strings", label, path, name);
  else {
    H5Sget_simple_extent_dims(sp, &n, NULL);
    if (n != expect)
      rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: /%s has %llu names, expected %llu", label, path,
                    name, (unsigned long long)n, (unsigned long long)expect);
  }
  size_t len = rc == IBX_OK ? H5Tget_size(t) : 0;
  char *buf = rc == IBX_OK ? calloc((size_t)n, len) : NULL;
  char **s = rc == IBX_OK ? calloc((size_t)n, sizeof *s) : NULL;
  if (rc == IBX_OK && (!buf || !s))
    rc = ibx_fail(IBX_ERR_NOMEM, "%s: out of memory", label);
  if (rc == IBX_OK && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: cannot read /%s", label, path, name);
  for (hsize_t k = 0; rc == IBX_OK && k < n; k++) {
    if (!(s[k] = calloc(len + 1, 1)))
      rc = ibx_fail(IBX_ERR_NOMEM, "%s: out of memory", label);
    else
      memcpy(s[k], buf + k * len, len);
  }
  free(buf);
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d);
  if (rc != IBX_OK) {
    ibxh5_free_strings(s, n);
    return rc;
  }
  *out = s;
  return IBX_OK;
}

/* ---- checksums ---------------------------------------------------------- */

uint32_t ibxh5_crc_i32(uint32_t crc, const int32_t *v, size_t n) {
  uint8_t b[4 * 256];
  for (size_t i = 0; i < n;) {
    size_t m = n - i < 256 ? n - i : 256;
    for (size_t k = 0; k < m; k++) {
      uint32_t x = (uint32_t)v[i + k];
      b[4 * k] = (uint8_t)x, b[4 * k + 1] = (uint8_t)(x >> 8), b[4 * k + 2] = (uint8_t)(x >> 16),
                 b[4 * k + 3] = (uint8_t)(x >> 24);
    }
    crc = (uint32_t)crc32(crc, b, (uInt)(4 * m));
    i += m;
  }
  return crc;
}

uint32_t ibxh5_crc_bytes(const void *p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const uint8_t *b = p;
  while (n > 0) {
    uInt m = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = crc32(crc, b, m);
    b += m, n -= m;
  }
  return (uint32_t)crc;
}
