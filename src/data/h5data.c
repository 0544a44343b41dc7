/* The native ibx dataset file: one HDF5 file per split.
 *
 * Layout (format version 1):
 *   /images              uint8  [N, C, H, W], chunked by whole images
 *                        (about 1 MiB per chunk), uncompressed so ranks read
 *                        their part quickly
 *   /labels              int32  [N], 0 <= label < number of classes
 *   /class_names         fixed-length strings [num_classes]
 *   /coarse_labels       int32  [N]           (optional, CIFAR-100)
 *   /coarse_class_names  fixed-length strings (optional)
 *   /boxes               float32 [N, 4] x, y, width, height in pixels
 *                        (optional, CUB-200-2011, cluttered Fashion-MNIST)
 *   attributes on /:
 *     ibx_format = "ibx-dataset", ibx_format_version = 1 (int32),
 *     name (the source's description), source (free text, e.g. the command),
 *     images_crc32 (uint32, zlib crc32 of /images' bytes in order),
 *     labels_crc32 (uint32, crc32 of /labels as int32 little-endian).
 * Reading the whole file verifies both checksums; reading a range cannot
 * (it only sees its part) and does not. Files are opened read-only with the
 * default driver, so any number of ranks can read their own ranges at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <zlib.h>

#include "dataset_internal.h"
#include "h5_internal.h"
#include "ibx/error.h"
#include "ibx/memory.h"

#define H5D_FORMAT "ibx-dataset"
#define H5D_VERSION 1

/* ---- writing ------------------------------------------------------------ */

#define LABEL "h5 dataset"

int ibx_dataset_write_h5(const ibx_dataset *ds, const char *path, const char *source) {
  if (!ds || !path)
    return ibx_fail(IBX_ERR_ARG, "h5 dataset: NULL dataset or path");
  const long n = ds->count;
  if (n <= 0)
    return ibx_fail(IBX_ERR_ARG, "h5 dataset: %s is empty, nothing to write to %s", ds->name,
                    path);
  ibxh5_quiet();
  const size_t img = (size_t)ibx_dataset_image_size(ds);
  long chunk = (long)((1u << 20) / img);
  if (chunk < 1)
    chunk = 1;
  if (chunk > n)
    chunk = n;
  uint8_t *buf = malloc(img * (size_t)chunk);
  int32_t *labels = malloc((size_t)n * sizeof *labels);
  int32_t *coarse = ds->num_coarse > 0 ? malloc((size_t)n * sizeof *coarse) : NULL;
  float *boxes = ibx_dataset_has_boxes(ds) ? malloc((size_t)n * 4 * sizeof *boxes) : NULL;
  if (!buf || !labels || (ds->num_coarse > 0 && !coarse) || (ibx_dataset_has_boxes(ds) && !boxes)) {
    free(buf), free(labels), free(coarse), free(boxes);
    return ibx_fail(IBX_ERR_NOMEM, "h5 dataset: out of memory writing %s", path);
  }
  errno = 0;
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    const int err = errno;
    free(buf), free(labels), free(coarse), free(boxes);
    return ibx_fail(IBX_ERR_IO, "h5 dataset: cannot create %s: %s", path,
                    err ? strerror(err) : "HDF5 cannot create the file");
  }
  int rc = IBX_OK;
  hsize_t dims[4] = {(hsize_t)n, (hsize_t)ds->channels, (hsize_t)ds->height, (hsize_t)ds->width};
  hsize_t cdims[4] = {(hsize_t)chunk, dims[1], dims[2], dims[3]};
  hid_t fsp = H5Screate_simple(4, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 4, cdims);
  hid_t dset = H5Dcreate2(file, "images", H5T_STD_U8LE, fsp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dset < 0)
    rc = ibx_fail(IBX_ERR_IO, "h5 dataset: %s: cannot create /images", path);
  uLong icrc = crc32(0L, Z_NULL, 0);
  for (long i0 = 0; rc == IBX_OK && i0 < n; i0 += chunk) {
    long m = n - i0 < chunk ? n - i0 : chunk;
    for (long k = 0; rc == IBX_OK && k < m; k++) {
      int label;
      rc = ibx_dataset_read(ds, i0 + k, buf + (size_t)k * img, &label);
      labels[i0 + k] = label;
      if (rc == IBX_OK && coarse)
        coarse[i0 + k] = ibx_dataset_coarse_label(ds, i0 + k);
      if (rc == IBX_OK && boxes)
        rc = ibx_dataset_box(ds, i0 + k, boxes + 4 * (i0 + k));
    }
    if (rc != IBX_OK)
      break;
    icrc = crc32(icrc, buf, (uInt)(img * (size_t)m));
    hsize_t start[4] = {(hsize_t)i0, 0, 0, 0}, count[4] = {(hsize_t)m, dims[1], dims[2], dims[3]};
    hid_t msp = H5Screate_simple(4, count, NULL);
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
    if (H5Dwrite(dset, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, buf) < 0)
      rc = ibx_fail(IBX_ERR_IO, "h5 dataset: %s: cannot write images %ld..%ld", path, i0,
                    i0 + m - 1);
    H5Sclose(msp);
  }
  if (dset >= 0)
    H5Dclose(dset);
  H5Pclose(dcpl);
  H5Sclose(fsp);
  hsize_t n1[1] = {(hsize_t)n}, n4[2] = {(hsize_t)n, 4};
  if (rc == IBX_OK)
    rc = ibxh5_write_data(file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n1, labels, LABEL,
                          path);
  if (rc == IBX_OK)
    rc = ibxh5_write_strings(file, "class_names", ds->class_names, ds->num_classes, 1, LABEL, path);
  if (rc == IBX_OK && coarse)
    rc = ibxh5_write_data(file, "coarse_labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n1, coarse,
                          LABEL, path);
  if (rc == IBX_OK && coarse)
    rc = ibxh5_write_strings(file, "coarse_class_names", ds->coarse_names, ds->num_coarse, 1,
                             LABEL, path);
  if (rc == IBX_OK && boxes)
    rc = ibxh5_write_data(file, "boxes", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, n4, boxes, LABEL,
                          path);
  const int32_t version = H5D_VERSION;
  const uint32_t c0 = (uint32_t)crc32(0L, Z_NULL, 0);
  const uint32_t images_crc = (uint32_t)icrc,
                 lab_crc = rc == IBX_OK ? ibxh5_crc_i32(c0, labels, (size_t)n) : 0;
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "ibx_format", H5D_FORMAT, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "ibx_format_version", H5T_STD_I32LE, H5T_NATIVE_INT32,
                              &version, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "name", ds->name, LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_str_attr(file, "source", source ? source : "", LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "images_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &images_crc,
                              LABEL, path);
  if (rc == IBX_OK)
    rc = ibxh5_write_num_attr(file, "labels_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &lab_crc,
                              LABEL, path);
  if (H5Fclose(file) < 0 && rc == IBX_OK)
    rc = ibx_fail(IBX_ERR_IO, "h5 dataset: cannot close %s", path);
  free(buf), free(labels), free(coarse), free(boxes);
  if (rc != IBX_OK)
    remove(path);
  return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Shape of dataset `name`: rank and dims (up to 4); 0 when missing. */
static int shape_of(hid_t file, const char *name, int *rank, hsize_t dims[4]) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
    return 0;
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return 0;
  hid_t sp = H5Dget_space(d);
  int r = H5Sget_simple_extent_ndims(sp);
  int ok = r >= 0 && r <= 4 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0;
  *rank = r;
  H5Sclose(sp);
  H5Dclose(d);
  return ok;
}

/* Checks dataset `name` before anything is allocated for it: its type class
 * must be one of want (H5T_NO_CLASS: any), its element at most max_elem
 * bytes, and its data must fit in the file: an HDF5 header alone can declare
 * a dataset of terabytes whose chunks are absent (read as fill value) or lie
 * past the end of the file (the sec2 driver reads zeros there), and the
 * reader would allocate and fill all of it. Unfiltered data cannot be larger
 * than the file; filtered (deflate) data at most 1032 times (zlib's maximum
 * ratio). Data in external files is not supported. */
static int check_data(hid_t file, const char *name, H5T_class_t want1, H5T_class_t want2,
                      size_t max_elem, size_t file_size, const char *path) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0)
    return ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: cannot open /%s", path, name);
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  int rc = IBX_OK;
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  size_t elem = t >= 0 ? H5Tget_size(t) : 0;
  hssize_t npoints = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  int nfilters = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
  int nexternal = dcpl >= 0 ? H5Pget_external_count(dcpl) : -1;
  if (t < 0 || sp < 0 || dcpl < 0 || npoints < 0 || nfilters < 0 || nexternal < 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: cannot read the header of /%s", path, name);
  else if ((want1 != H5T_NO_CLASS && cls != want1 && cls != want2) || elem == 0 ||
           elem > max_elem)
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /%s has an unexpected type (class %d, %zu bytes)",
                  path, name, (int)cls, elem);
  else if (nexternal > 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /%s is stored in external files (not supported)",
                  path, name);
  else {
    /* elem <= 64 KiB here, so the product overflows only past 2^48 points */
    double bytes = (double)npoints * (double)elem;
    double limit = (double)file_size * (nfilters > 0 ? 1032.0 : 1.0);
    /* libhdf5 allocates one whole chunk to read any part of it, and a
     * chunk's dimensions are not bounded by the dataset's */
    double chunk = ibxh5_chunk_bytes(dcpl, elem);
    if (bytes > limit)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "h5 dataset: %s: /%s declares %.0f bytes of data but the file has %zu bytes%s "
                    "(truncated or corrupt)",
                    path, name, bytes, file_size, nfilters > 0 ? " (compressed)" : "");
    else if ((double)H5Dget_storage_size(d) > limit) /* the index's chunk sizes, read whole */
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "h5 dataset: %s: /%s claims %llu bytes of storage but the file has %zu bytes "
                    "(corrupt)",
                    path, name, (unsigned long long)H5Dget_storage_size(d), file_size);
    else if (chunk < 0 || chunk > limit)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "h5 dataset: %s: /%s has chunks of %.0f bytes but the file has %zu bytes "
                    "(corrupt)",
                    path, name, chunk, file_size);
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

static int open_h5(const char *path, long first, long count, int whole, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "h5 dataset: NULL output pointer");
  *out = NULL;
  if (!path)
    return ibx_fail(IBX_ERR_ARG, "h5 dataset: NULL path");
  hid_t file = -1;
  size_t file_size = 0;
  int rc = ibxh5_open_read(path, LABEL, &file, &file_size);
  if (rc != IBX_OK)
    return rc;
  char fmt[64], name[256];
  int32_t version = 0;
  if (!ibxh5_read_str_attr(file, "ibx_format", fmt, sizeof fmt) || strcmp(fmt, H5D_FORMAT) != 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s is not an ibx dataset file (no ibx_format=%s)",
                  path, H5D_FORMAT);
  else if (!ibxh5_read_num_attr(file, "ibx_format_version", H5T_NATIVE_INT32, &version) ||
           version != H5D_VERSION)
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: unsupported format version %d (expected %d)",
                  path, version, H5D_VERSION);
  int r = 0;
  hsize_t idims[4] = {0, 0, 0, 0}, ldims[4] = {0, 0, 0, 0}, cdims[4] = {0, 0, 0, 0};
  if (rc == IBX_OK && (!shape_of(file, "images", &r, idims) || r != 4 || idims[0] == 0 ||
                       idims[1] == 0 || idims[1] > 64 || idims[2] == 0 || idims[3] == 0 ||
                       idims[2] > 65536 || idims[3] > 65536))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /images must be uint8 [N, C, H, W]", path);
  if (rc == IBX_OK && (!shape_of(file, "labels", &r, ldims) || r != 1))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /labels must be int32 [N]", path);
  if (rc == IBX_OK && ldims[0] != idims[0])
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s has %llu images but %llu labels", path,
                  (unsigned long long)idims[0], (unsigned long long)ldims[0]);
  const long n = (long)idims[0];
  if (whole)
    first = 0, count = n;
  if (rc == IBX_OK && (first < 0 || count < 0 || first > n || count > n - first))
    rc = ibx_fail(IBX_ERR_ARG, "h5 dataset: %s: range [%ld, %ld) outside [0, %ld)", path, first,
                  first + count, n);
  int has_coarse = H5Lexists(file, "coarse_labels", H5P_DEFAULT) > 0;
  int has_boxes = H5Lexists(file, "boxes", H5P_DEFAULT) > 0;
  if (rc == IBX_OK && has_coarse && (!shape_of(file, "coarse_labels", &r, cdims) || r != 1 ||
                                     cdims[0] != idims[0]))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /coarse_labels must be int32 [%ld]", path, n);
  if (rc == IBX_OK && has_boxes && (!shape_of(file, "boxes", &r, cdims) || r != 2 ||
                                    cdims[0] != idims[0] || cdims[1] != 4))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /boxes must be float32 [%ld, 4]", path, n);
  /* class names fix the label range */
  int nclasses = 0, ncoarse = 0;
  hsize_t nd[4];
  if (rc == IBX_OK && (!shape_of(file, "class_names", &r, nd) || r != 1 || nd[0] == 0 ||
                       nd[0] > 1000000))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /class_names missing or empty", path);
  else if (rc == IBX_OK)
    nclasses = (int)nd[0];
  if (rc == IBX_OK && has_coarse &&
      (!shape_of(file, "coarse_class_names", &r, nd) || r != 1 || nd[0] == 0 || nd[0] > 1000000))
    rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: /coarse_class_names missing or empty", path);
  else if (rc == IBX_OK && has_coarse)
    ncoarse = (int)nd[0];
  /* nothing is allocated from the header's sizes before this */
  if (rc == IBX_OK)
    rc = check_data(file, "images", H5T_INTEGER, H5T_INTEGER, 1, file_size, path);
  if (rc == IBX_OK)
    rc = check_data(file, "labels", H5T_INTEGER, H5T_INTEGER, 8, file_size, path);
  if (rc == IBX_OK && has_coarse)
    rc = check_data(file, "coarse_labels", H5T_INTEGER, H5T_INTEGER, 8, file_size, path);
  if (rc == IBX_OK && has_boxes)
    rc = check_data(file, "boxes", H5T_FLOAT, H5T_INTEGER, 8, file_size, path);
  if (rc == IBX_OK)
    rc = check_data(file, "class_names", H5T_STRING, H5T_STRING, 65536, file_size, path);
  if (rc == IBX_OK && has_coarse)
    rc = check_data(file, "coarse_class_names", H5T_STRING, H5T_STRING, 65536, file_size, path);
  char **names = NULL, **cnames = NULL;
  if (rc == IBX_OK)
    rc = ibxh5_read_strings(file, "class_names", (hsize_t)nclasses, &names, LABEL, path);
  if (rc == IBX_OK && has_coarse)
    rc = ibxh5_read_strings(file, "coarse_class_names", (hsize_t)ncoarse, &cnames, LABEL, path);
  ibx_dataset *ds = NULL;
  if (rc == IBX_OK) {
    ibxh5_read_str_attr(file, "name", name, sizeof name);
    ds = whole ? ibxd_new("%s", name[0] ? name : path)
               : ibxd_new("%s [%ld, %ld)", name[0] ? name : path, first, first + count);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, (const char *const *)names, nclasses);
  if (rc == IBX_OK && has_coarse)
    rc = ibxd_set_coarse_classes(ds, (const char *const *)cnames, ncoarse);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, count, (int)idims[1], (int)idims[2], (int)idims[3], has_coarse);
  if (rc == IBX_OK && has_boxes) {
    ds->boxes = ibx_alloc((size_t)(count > 0 ? count : 1) * 4 * sizeof(float), "dataset boxes");
    rc = ds->boxes ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK && count > 0) {
    rc = ibxh5_read_rows(file, "images", H5T_NATIVE_UINT8, (hsize_t)first, (hsize_t)count,
                         ds->images, LABEL, path);
    if (rc == IBX_OK)
      rc = ibxh5_read_rows(file, "labels", H5T_NATIVE_INT32, (hsize_t)first, (hsize_t)count,
                           ds->labels, LABEL, path);
    if (rc == IBX_OK && has_coarse)
      rc = ibxh5_read_rows(file, "coarse_labels", H5T_NATIVE_INT32, (hsize_t)first, (hsize_t)count,
                           ds->coarse, LABEL, path);
    if (rc == IBX_OK && has_boxes)
      rc = ibxh5_read_rows(file, "boxes", H5T_NATIVE_FLOAT, (hsize_t)first, (hsize_t)count,
                           ds->boxes, LABEL, path);
  }
  for (long i = 0; rc == IBX_OK && i < count; i++) {
    if (ds->labels[i] < 0 || ds->labels[i] >= nclasses)
      rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: label %d of sample %ld is out of range [0, %d)",
                    path, ds->labels[i], first + i, nclasses);
    else if (has_coarse && (ds->coarse[i] < 0 || ds->coarse[i] >= ncoarse))
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "h5 dataset: %s: coarse label %d of sample %ld is out of range [0, %d)", path,
                    ds->coarse[i], first + i, ncoarse);
  }
  if (rc == IBX_OK && whole) {
    uint32_t want_i = 0, want_l = 0;
    int have_i = ibxh5_read_num_attr(file, "images_crc32", H5T_NATIVE_UINT32, &want_i);
    int have_l = ibxh5_read_num_attr(file, "labels_crc32", H5T_NATIVE_UINT32, &want_l);
    size_t bytes = (size_t)count * (size_t)ibx_dataset_image_size(ds);
    const uint32_t crc = ibxh5_crc_bytes(ds->images, bytes);
    if (!have_i || !have_l)
      rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: checksum attributes missing", path);
    else if ((uint32_t)crc != want_i)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "h5 dataset: %s: images checksum mismatch (crc32 %08x, file says %08x)", path,
                    (unsigned)crc, (unsigned)want_i);
    else if (ibxh5_crc_i32((uint32_t)crc32(0L, Z_NULL, 0), ds->labels, (size_t)count) !=
             want_l)
      rc = ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: labels checksum mismatch", path);
  }
  ibxh5_free_strings(names, (hsize_t)nclasses);
  ibxh5_free_strings(cnames, (hsize_t)ncoarse);
  H5Fclose(file);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibx_dataset_open_h5(const char *path, ibx_dataset **out) {
  return open_h5(path, 0, 0, 1, out);
}

int ibx_dataset_open_h5_range(const char *path, long first, long count, ibx_dataset **out) {
  return open_h5(path, first, count, 0, out);
}

int ibx_dataset_h5_count(const char *path, long *count) {
  if (!path || !count)
    return ibx_fail(IBX_ERR_ARG, "h5 dataset: NULL argument");
  *count = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "h5 dataset: cannot open %s: %s", path, strerror(errno));
  fclose(f);
  ibxh5_quiet();
  if (H5Fis_hdf5(path) <= 0)
    return ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s is not an HDF5 file", path);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    return ibx_fail(IBX_ERR_FORMAT, "h5 dataset: cannot open %s as HDF5", path);
  int r = 0;
  hsize_t dims[4];
  int ok = shape_of(file, "images", &r, dims) && r == 4;
  H5Fclose(file);
  if (!ok)
    return ibx_fail(IBX_ERR_FORMAT, "h5 dataset: %s: no /images [N, C, H, W]", path);
  *count = (long)dims[0];
  return IBX_OK;
}
