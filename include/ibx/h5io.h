/* Small HDF5 reader/writer used by the golden tests and, later, checkpoints.
 *
 * Every function returns an ibx_status and records a one-line message that
 * names the file and, where relevant, the dataset or attribute. HDF5's own
 * error-stack printing is switched off; when HDF5 itself reports a failure
 * its innermost description is folded into the message. Nothing here prints.
 *
 * Datasets are addressed by path ("conv/k3/x" or "/conv/k3/x"). Files are
 * opened with the default (serial, sec2) driver, so no MPI setup is needed;
 * parallel checkpoint writing, if it comes, is a separate function. */
#ifndef IBX_H5IO_H
#define IBX_H5IO_H

#include <stddef.h>
#include <stdint.h>

#include "ibx/tensor.h"

#define IBX_H5_MAX_DIMS 8
#define IBX_H5_PATH_MAX 512

typedef struct {
  int64_t id; /* hid_t of the open file; < 0 when closed */
  int writable;
  char path[IBX_H5_PATH_MAX];
} ibx_h5;

/* Opens an existing file read-only. IBX_ERR_IO when it is missing or
 * unreadable, IBX_ERR_FORMAT when it is not an HDF5 file. */
int ibx_h5_open(ibx_h5 *f, const char *path);
/* Creates a file for writing. It is built in memory and written to path
 * (truncating) by ibx_h5_close, with plain POSIX writes: a full disk is a
 * clean IBX_ERR_IO naming the file, and never leaves HDF5 holding a file it
 * cannot close (which crashed HDF5's shutdown inside MPI_Finalize). */
int ibx_h5_create(ibx_h5 *f, const char *path);
/* Closes the file (a no-op on a closed handle); a created file is written
 * out now. IBX_ERR_IO if that fails. */
int ibx_h5_close(ibx_h5 *f);

/* The same for raw HDF5 users (metrics): a new in-memory file's hid_t
 * (< 0 on failure), and its saving: closes id and writes the image to path. */
int64_t ibx_h5_create_in_memory(void);
int ibx_h5_save_in_memory(int64_t id, const char *path);

/* 1 when a dataset (or group) exists at name, else 0. Never fails. */
int ibx_h5_exists(const ibx_h5 *f, const char *name);

/* Shape of a dataset: *ndim (0 for a scalar) and dims[0..ndim-1].
 * IBX_ERR_FORMAT when it is missing or has more than IBX_H5_MAX_DIMS dims. */
int ibx_h5_shape(const ibx_h5 *f, const char *name, int *ndim, int64_t dims[IBX_H5_MAX_DIMS]);
/* Number of elements of a dataset. */
int ibx_h5_numel(const ibx_h5 *f, const char *name, size_t *n);

/* Reads a whole dataset into buf, which holds n elements; n must equal the
 * dataset's element count (IBX_ERR_FORMAT otherwise, naming both). The
 * dataset's class must match: floating point for f32, integer for i32/i64
 * (HDF5 converts between widths). */
int ibx_h5_read_f32(const ibx_h5 *f, const char *name, float *buf, size_t n);
int ibx_h5_read_i32(const ibx_h5 *f, const char *name, int32_t *buf, size_t n);
int ibx_h5_read_i64(const ibx_h5 *f, const char *name, int64_t *buf, size_t n);

/* Reads a float dataset into t->data after checking that its shape equals
 * t's shape exactly (IBX_ERR_FORMAT otherwise). */
int ibx_h5_read_tensor(const ibx_h5 *f, const char *name, ibx_tensor *t);

/* Reads a float dataset into a fresh ibx_alloc buffer (*out, free with
 * ibx_free); *n (may be NULL) receives the element count. */
int ibx_h5_read_f32_alloc(const ibx_h5 *f, const char *name, float **out, size_t *n);

/* Scalar (or one-element) attribute attr of the object at obj ("/" for the
 * file itself). Numeric reads convert; IBX_ERR_FORMAT when it is missing,
 * not a single value, or of the wrong class. */
int ibx_h5_read_attr_f64(const ibx_h5 *f, const char *obj, const char *attr, double *v);
int ibx_h5_read_attr_i64(const ibx_h5 *f, const char *obj, const char *attr, int64_t *v);
/* String attribute (fixed or variable length) into buf of len bytes,
 * NUL-terminated; IBX_ERR_FORMAT if it does not fit. */
int ibx_h5_read_attr_str(const ibx_h5 *f, const char *obj, const char *attr, char *buf,
                         size_t len);

/* Writes a dataset of the given shape (ndim 0 = scalar), creating missing
 * parent groups. Fails if the dataset already exists. */
int ibx_h5_write_f32(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const float *data);
int ibx_h5_write_i32(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const int32_t *data);
int ibx_h5_write_i64(ibx_h5 *f, const char *name, int ndim, const int64_t *dims,
                     const int64_t *data);
/* Writes t (shape and data) as a float dataset. */
int ibx_h5_write_tensor(ibx_h5 *f, const char *name, const ibx_tensor *t);

/* Scalar attributes on the object at obj ("/" for the file), replacing an
 * existing attribute of the same name. */
int ibx_h5_write_attr_f64(ibx_h5 *f, const char *obj, const char *attr, double v);
int ibx_h5_write_attr_i64(ibx_h5 *f, const char *obj, const char *attr, int64_t v);
int ibx_h5_write_attr_str(ibx_h5 *f, const char *obj, const char *attr, const char *v);

#endif
