/* HDF5 reader/writer (see include/ibx/h5io.h). HDF5's automatic error
 * printing is disabled on every entry; failures become one-line ibx
 * messages naming the file and object, with HDF5's innermost description
 * appended when HDF5 itself failed. */
#include "ibx/h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/memory.h"

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- error helpers ------------------------------------------------------ */

typedef struct {
  char *buf;
  size_t len;
} detail_ctx;

static herr_t detail_cb(unsigned n, const H5E_error2_t *e, void *data) {
  detail_ctx *d = data;
  if (n == 0 && e && e->desc)
    snprintf(d->buf, d->len, "%s", e->desc);
  for (char *p = d->buf; *p; p++) /* one line, whatever HDF5 said */
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  return 0;
}

/* Innermost description on HDF5's error stack (then clears the stack). */
static const char *h5_detail(char *buf, size_t len) {
  detail_ctx d = {buf, len};
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, &d);
  H5Eclear2(H5E_DEFAULT);
  if (!buf[0])
    snprintf(buf, len, "unknown HDF5 error");
  return buf;
}

/* "h5io: <file>: <message>" */
__attribute__((format(printf, 3, 4))) static int h5fail(const ibx_h5 *f, int code,
                                                        const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ibx_fail(code, "h5io: %s: %s", f && f->path[0] ? f->path : "(no file)", msg);
}

static int check_open(const ibx_h5 *f, const char *what) {
  if (!f || f->id < 0)
    return ibx_fail(IBX_ERR_ARG, "h5io: %s on a file that is not open", what);
  return IBX_OK;
}

static int check_writable(const ibx_h5 *f, const char *what) {
  IBX_TRY(check_open(f, what));
  if (!f->writable)
    return h5fail(f, IBX_ERR_ARG, "%s: file is open read-only", what);
  return IBX_OK;
}

/* ---- open / close --------------------------------------------------------- */

static int set_path(ibx_h5 *f, const char *path) {
  f->id = -1;
  f->writable = 0;
  f->path[0] = '\0';
  if (!path || !path[0])
    return ibx_fail(IBX_ERR_ARG, "h5io: empty file name");
  if (strlen(path) >= sizeof f->path)
    return ibx_fail(IBX_ERR_ARG, "h5io: file name longer than %d characters",
                    IBX_H5_PATH_MAX - 1);
  snprintf(f->path, sizeof f->path, "%s", path);
  return IBX_OK;
}

int ibx_h5_open(ibx_h5 *f, const char *path) {
  char det[200];
  struct stat st;
  quiet();
  IBX_TRY(set_path(f, path));
  if (stat(path, &st) != 0)
    return h5fail(f, IBX_ERR_IO, "cannot open: %s", strerror(errno));
  if (S_ISDIR(st.st_mode))
    return h5fail(f, IBX_ERR_IO, "cannot open: is a directory");
  FILE *probe = fopen(path, "rb");
  if (!probe)
    return h5fail(f, IBX_ERR_IO, "cannot open: %s", strerror(errno));
  fclose(probe);
  htri_t is = H5Fis_hdf5(path);
  if (is <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return h5fail(f, IBX_ERR_FORMAT, "not an HDF5 file");
  }
  hid_t id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0)
    return h5fail(f, IBX_ERR_IO, "cannot open HDF5 file: %s", h5_detail(det, sizeof det));
  f->id = id;
  return IBX_OK;
}

int64_t ibx_h5_create_in_memory(void) {
  quiet();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0)
    return -1;
  /* grows by 1 MiB, no backing file; the default (oldest) file format: an
   * image of a newest-format file taken while open fails its superblock
   * checksum when read back */
  H5Pset_fapl_core(fapl, 1 << 20, 0);
  static unsigned serial;
  char name[64];
  snprintf(name, sizeof name, "ibx-in-memory-%ld-%u", (long)getpid(), serial++);
  hid_t id = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  return id;
}

/* Writes n bytes to path with plain POSIX I/O (errors carry errno). */
static int write_bytes(const char *path, const void *buf, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return ibx_fail(IBX_ERR_IO, "h5io: %s: cannot create: %s", path, strerror(errno));
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : EIO;
      close(fd);
      return ibx_fail(IBX_ERR_IO, "h5io: %s: write failed: %s", path, strerror(err));
    }
    p += w, n -= (size_t)w;
  }
  if (close(fd))
    return ibx_fail(IBX_ERR_IO, "h5io: %s: write failed: %s", path, strerror(errno));
  return IBX_OK;
}

int ibx_h5_save_in_memory(int64_t id, const char *path) {
  char det[200];
  quiet();
  int rc = IBX_OK;
  void *image = NULL;
  ssize_t n = H5Fflush((hid_t)id, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image((hid_t)id, NULL, 0);
  if (n < 0 || !(image = malloc(n ? (size_t)n : 1)) ||
      H5Fget_file_image((hid_t)id, image, (size_t)n) != n)
    rc = ibx_fail(IBX_ERR_IO, "h5io: %s: cannot build the file: %s", path,
                  h5_detail(det, sizeof det));
  /* in memory, closing cannot fail for lack of disk: nothing is left open
   * for HDF5's own shutdown (at MPI_Finalize) to trip over */
  if (H5Fclose((hid_t)id) < 0 && !rc)
    rc = ibx_fail(IBX_ERR_IO, "h5io: %s: close failed: %s", path, h5_detail(det, sizeof det));
  if (!rc)
    rc = write_bytes(path, image, (size_t)n);
  free(image);
  return rc;
}

int ibx_h5_create(ibx_h5 *f, const char *path) {
  char det[200];
  quiet();
  IBX_TRY(set_path(f, path));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* creatable? */
  if (fd < 0)
    return h5fail(f, IBX_ERR_IO, "cannot create: %s", strerror(errno));
  close(fd);
  hid_t id = (hid_t)ibx_h5_create_in_memory();
  if (id < 0)
    return h5fail(f, IBX_ERR_IO, "cannot create: %s", h5_detail(det, sizeof det));
  f->id = id;
  f->writable = 1;
  return IBX_OK;
}

int ibx_h5_close(ibx_h5 *f) {
  char det[200];
  quiet();
  if (!f || f->id < 0)
    return IBX_OK;
  const int64_t id = f->id;
  f->id = -1;
  if (f->writable) /* built in memory: written out now */
    return ibx_h5_save_in_memory(id, f->path);
  if (H5Fclose((hid_t)id) < 0)
    return h5fail(f, IBX_ERR_IO, "close failed: %s", h5_detail(det, sizeof det));
  return IBX_OK;
}

/* ---- lookup ------------------------------------------------------------- */

/* Checks every prefix of the path with H5Lexists, which fails (rather than
 * answering 0) when an intermediate group is missing. */
int ibx_h5_exists(const ibx_h5 *f, const char *name) {
  char buf[IBX_H5_PATH_MAX];
  quiet();
  if (!f || f->id < 0 || !name || !name[0] || strlen(name) >= sizeof buf)
    return 0;
  if (strcmp(name, "/") == 0)
    return 1;
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      const char saved = *p;
      *p = '\0';
      if (H5Lexists((hid_t)f->id, buf, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
      }
      *p = saved;
      if (saved == '\0')
        return 1;
    }
  }
}

static int open_dataset(const ibx_h5 *f, const char *name, hid_t *did) {
  char det[200];
  IBX_TRY(check_open(f, "read"));
  if (!name || !ibx_h5_exists(f, name))
    return h5fail(f, IBX_ERR_FORMAT, "dataset '%s' not found", name ? name : "(null)");
  *did = H5Dopen2((hid_t)f->id, name, H5P_DEFAULT);
  if (*did < 0)
    return h5fail(f, IBX_ERR_FORMAT, "'%s' is not a readable dataset: %s", name,
                  h5_detail(det, sizeof det));
  return IBX_OK;
}

static int dataset_shape(const ibx_h5 *f, hid_t did, const char *name, int *ndim,
                         hsize_t dims[IBX_H5_MAX_DIMS]) {
  hid_t sp = H5Dget_space(did);
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (nd < 0 || nd > IBX_H5_MAX_DIMS) {
    if (sp >= 0)
      H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return h5fail(f, IBX_ERR_FORMAT, "dataset '%s' has an unsupported dataspace (%d dims)",
                  name, nd);
  }
  H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  *ndim = nd;
  return IBX_OK;
}

int ibx_h5_shape(const ibx_h5 *f, const char *name, int *ndim, int64_t dims[IBX_H5_MAX_DIMS]) {
  hid_t did;
  hsize_t d[IBX_H5_MAX_DIMS];
  int nd = 0;
  quiet();
  IBX_TRY(open_dataset(f, name, &did));
  int rc = dataset_shape(f, did, name, &nd, d);
  H5Dclose(did);
  if (rc != IBX_OK)
    return rc;
  *ndim = nd;
  for (int i = 0; i < nd; i++)
    dims[i] = (int64_t)d[i];
  return IBX_OK;
}

int ibx_h5_numel(const ibx_h5 *f, const char *name, size_t *n) {
  int nd = 0;
  int64_t d[IBX_H5_MAX_DIMS];
  IBX_TRY(ibx_h5_shape(f, name, &nd, d));
  size_t total = 1;
  for (int i = 0; i < nd; i++)
    total *= (size_t)d[i];
  *n = total;
  return IBX_OK;
}

/* ---- dataset reads ------------------------------------------------------ */

static const char *class_name(H5T_class_t c) {
  switch (c) {
  case H5T_INTEGER:
    return "integer";
  case H5T_FLOAT:
    return "float";
  case H5T_STRING:
    return "string";
  default:
    return "non-numeric";
  }
}

static int read_dataset(const ibx_h5 *f, const char *name, hid_t memtype, H5T_class_t want,
                        void *buf, size_t n) {
  char det[200];
  hid_t did;
  hsize_t d[IBX_H5_MAX_DIMS];
  int nd = 0;
  quiet();
  IBX_TRY(open_dataset(f, name, &did));
  int rc = dataset_shape(f, did, name, &nd, d);
  if (rc != IBX_OK) {
    H5Dclose(did);
    return rc;
  }
  hid_t ft = H5Dget_type(did);
  H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
  if (ft >= 0)
    H5Tclose(ft);
  if (cls != want) {
    H5Dclose(did);
    return h5fail(f, IBX_ERR_FORMAT, "dataset '%s' holds %s data, expected %s", name,
                  class_name(cls), class_name(want));
  }
  size_t total = 1;
  for (int i = 0; i < nd; i++)
    total *= (size_t)d[i];
  if (total != n) {
    H5Dclose(did);
    return h5fail(f, IBX_ERR_FORMAT, "dataset '%s' has %zu elements, caller expects %zu", name,
                  total, n);
  }
  if (!buf && n > 0) {
    H5Dclose(did);
    return h5fail(f, IBX_ERR_ARG, "dataset '%s': no buffer to read into", name);
  }
  herr_t hr = n > 0 ? H5Dread(did, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
  if (hr < 0)
    h5_detail(det, sizeof det); /* before the next call clears the stack */
  H5Dclose(did);
  if (hr < 0)
    return h5fail(f, IBX_ERR_FORMAT, "reading dataset '%s' failed: %s", name, det);
  return IBX_OK;
}

int ibx_h5_read_f32(const ibx_h5 *f, const char *name, float *buf, size_t n) {
  return read_dataset(f, name, H5T_NATIVE_FLOAT, H5T_FLOAT, buf, n);
}

int ibx_h5_read_i32(const ibx_h5 *f, const char *name, int32_t *buf, size_t n) {
  return read_dataset(f, name, H5T_NATIVE_INT32, H5T_INTEGER, buf, n);
}

int ibx_h5_read_i64(const ibx_h5 *f, const char *name, int64_t *buf, size_t n) {
  return read_dataset(f, name, H5T_NATIVE_INT64, H5T_INTEGER, buf, n);
}

int ibx_h5_read_tensor(const ibx_h5 *f, const char *name, ibx_tensor *t) {
  char ts[64];
  int nd = 0;
  int64_t d[IBX_H5_MAX_DIMS];
  if (!t || !t->data)
    return h5fail(f, IBX_ERR_ARG, "dataset '%s': no tensor to read into", name);
  IBX_TRY(ibx_h5_shape(f, name, &nd, d));
  int same = nd == t->ndim;
  for (int i = 0; same && i < nd; i++)
    same = d[i] == t->dim[i];
  if (!same) {
    char ds[128];
    int used = snprintf(ds, sizeof ds, "[");
    for (int i = 0; i < nd && used < (int)sizeof ds; i++)
      used += snprintf(ds + used, sizeof ds - used, i ? ",%lld" : "%lld", (long long)d[i]);
    if (used < (int)sizeof ds)
      snprintf(ds + used, sizeof ds - used, "]");
    return h5fail(f, IBX_ERR_FORMAT, "dataset '%s' has shape %s, expected %s", name, ds,
                  ibx_shape_str(t, ts, sizeof ts));
  }
  return ibx_h5_read_f32(f, name, t->data, (size_t)ibx_numel(t));
}

int ibx_h5_read_f32_alloc(const ibx_h5 *f, const char *name, float **out, size_t *n) {
  size_t count;
  *out = NULL;
  IBX_TRY(ibx_h5_numel(f, name, &count));
  float *buf = ibx_alloc((count ? count : 1) * sizeof(float), name);
  if (!buf)
    return IBX_ERR_NOMEM;
  int rc = ibx_h5_read_f32(f, name, buf, count);
  if (rc != IBX_OK) {
    ibx_free(buf);
    return rc;
  }
  *out = buf;
  if (n)
    *n = count;
  return IBX_OK;
}

/* ---- attribute reads ---------------------------------------------------- */

/* Opens attribute attr on obj, checking that it exists and holds one value;
 * *cls receives its type class. */
static int open_attr(const ibx_h5 *f, const char *obj, const char *attr, hid_t *aid,
                     H5T_class_t *cls) {
  char det[200];
  IBX_TRY(check_open(f, "read attribute"));
  if (!obj || !attr || !ibx_h5_exists(f, obj))
    return h5fail(f, IBX_ERR_FORMAT, "object '%s' (for attribute '%s') not found",
                  obj ? obj : "(null)", attr ? attr : "(null)");
  if (H5Aexists_by_name((hid_t)f->id, obj, attr, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' not found", attr, obj);
  }
  *aid = H5Aopen_by_name((hid_t)f->id, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
  if (*aid < 0)
    return h5fail(f, IBX_ERR_FORMAT, "cannot open attribute '%s' of '%s': %s", attr, obj,
                  h5_detail(det, sizeof det));
  hid_t sp = H5Aget_space(*aid);
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0)
    H5Sclose(sp);
  hid_t t = H5Aget_type(*aid);
  *cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (t >= 0)
    H5Tclose(t);
  if (np != 1) {
    H5Aclose(*aid);
    H5Eclear2(H5E_DEFAULT);
    return h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' holds %lld values, expected one",
                  attr, obj, (long long)np);
  }
  return IBX_OK;
}

static int read_attr_num(const ibx_h5 *f, const char *obj, const char *attr, hid_t memtype,
                         int allow_float, void *v) {
  char det[200];
  hid_t aid = -1;
  H5T_class_t cls = H5T_NO_CLASS;
  quiet();
  IBX_TRY(open_attr(f, obj, attr, &aid, &cls));
  if (cls != H5T_INTEGER && !(allow_float && cls == H5T_FLOAT)) {
    H5Aclose(aid);
    return h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' holds %s data, expected %s", attr,
                  obj, class_name(cls), allow_float ? "a number" : "an integer");
  }
  herr_t hr = H5Aread(aid, memtype, v);
  if (hr < 0)
    h5_detail(det, sizeof det);
  H5Aclose(aid);
  if (hr < 0)
    return h5fail(f, IBX_ERR_FORMAT, "reading attribute '%s' of '%s' failed: %s", attr, obj,
                  det);
  return IBX_OK;
}

int ibx_h5_read_attr_f64(const ibx_h5 *f, const char *obj, const char *attr, double *v) {
  return read_attr_num(f, obj, attr, H5T_NATIVE_DOUBLE, 1, v);
}

int ibx_h5_read_attr_i64(const ibx_h5 *f, const char *obj, const char *attr, int64_t *v) {
  return read_attr_num(f, obj, attr, H5T_NATIVE_INT64, 0, v);
}

int ibx_h5_read_attr_str(const ibx_h5 *f, const char *obj, const char *attr, char *buf,
                         size_t len) {
  char det[200];
  hid_t aid = -1;
  H5T_class_t cls = H5T_NO_CLASS;
  quiet();
  if (!buf || len == 0)
    return h5fail(f, IBX_ERR_ARG, "attribute '%s': no buffer", attr ? attr : "(null)");
  IBX_TRY(open_attr(f, obj, attr, &aid, &cls));
  if (cls != H5T_STRING) {
    H5Aclose(aid);
    return h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' holds %s data, expected a string",
                  attr, obj, class_name(cls));
  }
  hid_t ft = H5Aget_type(aid);
  const htri_t is_var = H5Tis_variable_str(ft);
  const size_t fsize = H5Tget_size(ft);
  const H5T_cset_t cset = H5Tget_cset(ft); /* h5py writes UTF-8; HDF5 won't convert */
  H5Tclose(ft);
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_cset(mt, cset);
  herr_t hr;
  int rc = IBX_OK;
  if (is_var > 0) {
    char *s = NULL;
    H5Tset_size(mt, H5T_VARIABLE);
    hr = H5Aread(aid, mt, &s);
    if (hr < 0)
      h5_detail(det, sizeof det);
    if (hr >= 0 && s) {
      if (strlen(s) + 1 > len)
        rc = h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' is longer than %zu bytes", attr,
                    obj, len - 1);
      else
        snprintf(buf, len, "%s", s);
      H5free_memory(s);
    } else if (hr >= 0) {
      buf[0] = '\0';
    }
  } else {
    if (fsize + 1 > len) {
      H5Tclose(mt);
      H5Aclose(aid);
      return h5fail(f, IBX_ERR_FORMAT, "attribute '%s' of '%s' is longer than %zu bytes", attr,
                    obj, len - 1);
    }
    H5Tset_size(mt, fsize + 1);
    H5Tset_strpad(mt, H5T_STR_NULLTERM);
    hr = H5Aread(aid, mt, buf);
    if (hr < 0)
      h5_detail(det, sizeof det);
  }
  H5Tclose(mt);
  H5Aclose(aid);
  if (hr < 0)
    return h5fail(f, IBX_ERR_FORMAT, "reading attribute '%s' of '%s' failed: %s", attr, obj,
                  det);
  return rc;
}

/* ---- writes ------------------------------------------------------------- */

static int write_dataset(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                         hid_t filetype, hid_t memtype, const void *data) {
  char det[200];
  hsize_t d[IBX_H5_MAX_DIMS];
  quiet();
  IBX_TRY(check_writable(f, "write"));
  if (!name || !name[0])
    return h5fail(f, IBX_ERR_ARG, "write: empty dataset name");
  if (ndim < 0 || ndim > IBX_H5_MAX_DIMS || (ndim > 0 && !dims))
    return h5fail(f, IBX_ERR_ARG, "dataset '%s': bad rank %d", name, ndim);
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0)
      return h5fail(f, IBX_ERR_ARG, "dataset '%s': negative dim %d", name, i);
    d[i] = (hsize_t)dims[i];
  }
  if (ibx_h5_exists(f, name))
    return h5fail(f, IBX_ERR_ARG, "dataset '%s' already exists", name);
  hid_t sp = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, d, NULL);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t did = H5Dcreate2((hid_t)f->id, name, filetype, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  if (did < 0)
    h5_detail(det, sizeof det); /* before the next call clears the stack */
  H5Pclose(lcpl);
  H5Sclose(sp);
  if (did < 0)
    return h5fail(f, IBX_ERR_IO, "cannot create dataset '%s': %s", name, det);
  herr_t hr = H5Dwrite(did, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (hr < 0)
    h5_detail(det, sizeof det);
  H5Dclose(did);
  if (hr < 0)
    return h5fail(f, IBX_ERR_IO, "writing dataset '%s' failed: %s", name, det);
  return IBX_OK;
}

int ibx_h5_write_f32(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const float *data) {
  return write_dataset(f, name, ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data);
}

int ibx_h5_write_i32(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const int32_t *data) {
  return write_dataset(f, name, ndim, dims, H5T_STD_I32LE, H5T_NATIVE_INT32, data);
}

int ibx_h5_write_i64(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const int64_t *data) {
  return write_dataset(f, name, ndim, dims, H5T_STD_I64LE, H5T_NATIVE_INT64, data);
}

int ibx_h5_write_tensor(ibx_h5 *f, const char *name, const ibx_tensor *t) {
  int64_t d[IBX_MAX_DIMS];
  if (!t || !t->data || t->ndim < 0 || t->ndim > IBX_MAX_DIMS)
    return h5fail(f, IBX_ERR_ARG, "dataset '%s': no tensor to write", name ? name : "(null)");
  for (int i = 0; i < t->ndim; i++)
    d[i] = t->dim[i];
  return ibx_h5_write_f32(f, name, t->ndim, d, t->data);
}

static int write_attr(ibx_h5 *f, const char *obj, const char *attr, hid_t filetype,
                      hid_t memtype, const void *v) {
  char det[200];
  quiet();
  IBX_TRY(check_writable(f, "write attribute"));
  if (!obj || !attr || !attr[0] || !ibx_h5_exists(f, obj))
    return h5fail(f, IBX_ERR_ARG, "object '%s' (for attribute '%s') not found",
                  obj ? obj : "(null)", attr ? attr : "(null)");
  if (H5Aexists_by_name((hid_t)f->id, obj, attr, H5P_DEFAULT) > 0)
    H5Adelete_by_name((hid_t)f->id, obj, attr, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t aid = H5Acreate_by_name((hid_t)f->id, obj, attr, filetype, sp, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT);
  if (aid < 0)
    h5_detail(det, sizeof det);
  H5Sclose(sp);
  if (aid < 0)
    return h5fail(f, IBX_ERR_IO, "cannot create attribute '%s' of '%s': %s", attr, obj, det);
  herr_t hr = H5Awrite(aid, memtype, v);
  if (hr < 0)
    h5_detail(det, sizeof det);
  H5Aclose(aid);
  if (hr < 0)
    return h5fail(f, IBX_ERR_IO, "writing attribute '%s' of '%s' failed: %s", attr, obj, det);
  return IBX_OK;
}

int ibx_h5_write_attr_f64(ibx_h5 *f, const char *obj, const char *attr, double v) {
  return write_attr(f, obj, attr, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int ibx_h5_write_attr_i64(ibx_h5 *f, const char *obj, const char *attr, int64_t v) {
  return write_attr(f, obj, attr, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int ibx_h5_write_attr_str(ibx_h5 *f, const char *obj, const char *attr, const char *v) {
  if (!v)
    v = "";
  /* Variable-length UTF-8: h5py returns it as str (fixed-length gives bytes). */
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  int rc = write_attr(f, obj, attr, t, t, &v);
  H5Tclose(t);
  return rc;
}
