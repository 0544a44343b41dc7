/* Per-step and per-epoch metrics in an HDF5 file, replaced atomically. */
#include "ibx/metrics.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"
#include "ibx/h5io.h"

const char *const ibx_step_columns[IBX_STEP_COLUMNS] = {"step", "epoch", "loss", "ce", "kl",
                                                        "vq", "commit", "lr", "img_per_s",
                                                        "grad_norm"};
const char *const ibx_epoch_columns[IBX_EPOCH_COLUMNS] = {
    "epoch", "train_error", "test_error", "loss", "ce", "kl", "vq", "commit", "seconds"};

/* Rows in memory, column by column; every flush writes them all to a fresh,
 * complete file that replaces the old one atomically, so the file on disk
 * is always a closed HDF5 file (plain h5py reads it, even after a kill). */
typedef struct {
  double *col[IBX_STEP_COLUMNS];
  int ncols;
  long rows, cap;
} table;

struct ibx_metrics {
  table step, epoch;
  int dirty;
  char path[4096];
};

static int append(table *t, const double *row, const char *what) {
  if (t->rows == t->cap) {
    const long cap = t->cap ? 2 * t->cap : 256;
    for (int c = 0; c < t->ncols; c++) {
      double *bigger = realloc(t->col[c], (size_t)cap * sizeof(double));
      if (!bigger)
        return ibx_fail(IBX_ERR_NOMEM, "metrics: out of memory for a %s row", what);
      t->col[c] = bigger;
    }
    t->cap = cap;
  }
  for (int c = 0; c < t->ncols; c++)
    t->col[c][t->rows] = row[c];
  t->rows++;
  return IBX_OK;
}

static void free_table(table *t) {
  for (int c = 0; c < t->ncols; c++)
    free(t->col[c]);
  memset(t, 0, sizeof *t);
}

/* The rows of an existing file with key (first column) <= keep_upto. */
static int read_table(const char *path, const char *group, const char *const *cols, table *t,
                      double keep_upto) {
  char name[128];
  long n = -1;
  for (int c = 0; c < t->ncols; c++) {
    long m;
    snprintf(name, sizeof name, "%s/%s", group, cols[c]);
    IBX_TRY(ibx_metrics_read_column(path, name, &t->col[c], &m));
    n = n < 0 || m < n ? m : n;
  }
  long keep = 0; /* rows are in order: keep the prefix with key <= keep_upto */
  while (keep < n && t->col[0][keep] <= keep_upto)
    keep++;
  t->rows = keep;
  t->cap = n > 0 ? n : 0;
  return IBX_OK;
}

static int write_table(hid_t file, const char *group, const char *const *cols, const table *t) {
  hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return ibx_fail(IBX_ERR_IO, "metrics: cannot create group %s", group);
  hsize_t rows = (hsize_t)t->rows, unlimited = H5S_UNLIMITED, chunk = 256;
  hid_t space = H5Screate_simple(1, &rows, &unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  int rc = IBX_OK;
  for (int c = 0; c < t->ncols && !rc; c++) {
    hid_t d = H5Dcreate2(g, cols[c], H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0)
      rc = ibx_fail(IBX_ERR_IO, "metrics: cannot create %s/%s", group, cols[c]);
    else if (rows && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->col[c]) < 0)
      rc = ibx_fail(IBX_ERR_IO, "metrics: cannot write %s/%s", group, cols[c]);
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
      rc = ibx_fail(IBX_ERR_IO, "metrics: cannot write %s/%s", group, cols[c]);
  }
  H5Pclose(dcpl);
  H5Sclose(space);
  if (H5Gclose(g) < 0 && !rc)
    rc = ibx_fail(IBX_ERR_IO, "metrics: cannot write group %s", group);
  return rc;
}

/* Writes every row into tmp_path as a complete, closed file. */
static int write_snapshot(const char *tmp_path, void *ctx) {
  const ibx_metrics *m = ctx;
  /* built in memory, then written with plain I/O: a full disk is a clean
   * error, and nothing is left open for HDF5's shutdown at exit */
  hid_t f = (hid_t)ibx_h5_create_in_memory();
  if (f < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create metrics file", tmp_path);
  int rc = write_table(f, "step", ibx_step_columns, &m->step);
  if (!rc)
    rc = write_table(f, "epoch", ibx_epoch_columns, &m->epoch);
  if (rc) {
    H5Fclose(f);
    return rc;
  }
  return ibx_h5_save_in_memory(f, tmp_path);
}

int ibx_metrics_open(const char *path, long keep_step, long keep_epoch, ibx_metrics **out) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ibx_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return ibx_fail(IBX_ERR_NOMEM, "metrics: out of memory");
  snprintf(m->path, sizeof m->path, "%s", path);
  m->step.ncols = IBX_STEP_COLUMNS;
  m->epoch.ncols = IBX_EPOCH_COLUMNS;
  int rc = IBX_OK;
  if (keep_step >= 0) {
    rc = read_table(path, "step", ibx_step_columns, &m->step, (double)keep_step);
    if (!rc)
      rc = read_table(path, "epoch", ibx_epoch_columns, &m->epoch, (double)keep_epoch);
  }
  /* A fresh, complete file replaces the old one atomically. */
  if (!rc)
    rc = ibx_atomic_write(path, write_snapshot, m);
  if (rc) {
    free_table(&m->step), free_table(&m->epoch), free(m);
    return rc;
  }
  *out = m;
  return IBX_OK;
}

int ibx_metrics_append_step(ibx_metrics *m, const double row[IBX_STEP_COLUMNS]) {
  m->dirty = 1;
  return append(&m->step, row, "step");
}

int ibx_metrics_append_epoch(ibx_metrics *m, const double row[IBX_EPOCH_COLUMNS]) {
  m->dirty = 1;
  return append(&m->epoch, row, "epoch");
}

int ibx_metrics_flush(ibx_metrics *m) {
  if (!m || !m->dirty)
    return IBX_OK;
  IBX_TRY(ibx_atomic_write(m->path, write_snapshot, m));
  m->dirty = 0;
  return IBX_OK;
}

int ibx_metrics_close(ibx_metrics *m) {
  if (!m)
    return IBX_OK;
  int rc = ibx_metrics_flush(m);
  free_table(&m->step);
  free_table(&m->epoch);
  free(m);
  return rc;
}

int ibx_metrics_read_column(const char *path, const char *column, double **values, long *n) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* SWMR read opens files a live (or killed) writer holds in SWMR mode. */
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (f < 0)
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open metrics file", path);
  hid_t d = H5Dopen2(f, column, H5P_DEFAULT);
  if (d < 0) {
    H5Fclose(f);
    return ibx_fail(IBX_ERR_FORMAT, "%s: metrics file has no column %s", path, column);
  }
  hid_t s = H5Dget_space(d);
  hsize_t rows = 0;
  H5Sget_simple_extent_dims(s, &rows, NULL);
  double *v = malloc((rows ? rows : 1) * sizeof(double));
  int rc = IBX_OK;
  if (!v)
    rc = ibx_fail(IBX_ERR_NOMEM, "metrics: out of memory");
  else if (rows && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: cannot read %s", path, column);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  if (rc) {
    free(v);
    return rc;
  }
  *values = v;
  *n = (long)rows;
  return IBX_OK;
}
