/* Per-step and per-epoch metrics in an HDF5 SWMR file. */
#include "ibx/metrics.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"

const char *const ibx_step_columns[IBX_STEP_COLUMNS] = {"step", "epoch", "loss", "ce", "kl",
                                                        "vq", "commit", "lr", "img_per_s",
                                                        "grad_norm"};
const char *const ibx_epoch_columns[IBX_EPOCH_COLUMNS] = {
    "epoch", "train_error", "test_error", "loss", "ce", "kl", "vq", "commit", "seconds"};

typedef struct {
  hid_t dset[IBX_STEP_COLUMNS];
  int ncols;
  hsize_t rows;
} table;

struct ibx_metrics {
  hid_t file;
  table step, epoch;
  char path[4096];
};

static hid_t latest_format_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST); /* SWMR needs it */
  return fapl;
}

static int create_table(hid_t file, const char *group, const char *const *cols, int ncols,
                        table *t) {
  hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0)
    return ibx_fail(IBX_ERR_IO, "metrics: cannot create group %s", group);
  hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = 256;
  hid_t space = H5Screate_simple(1, &zero, &unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  t->ncols = ncols;
  t->rows = 0;
  int rc = IBX_OK;
  for (int c = 0; c < ncols; c++) {
    t->dset[c] = H5Dcreate2(g, cols[c], H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (t->dset[c] < 0)
      rc = ibx_fail(IBX_ERR_IO, "metrics: cannot create %s/%s", group, cols[c]);
  }
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Gclose(g);
  return rc;
}

static int append(table *t, const double *row, const char *what) {
  const hsize_t n = t->rows + 1, one = 1, at = t->rows;
  for (int c = 0; c < t->ncols; c++) {
    if (H5Dset_extent(t->dset[c], &n) < 0)
      return ibx_fail(IBX_ERR_IO, "metrics: cannot extend %s", what);
    hid_t fs = H5Dget_space(t->dset[c]);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    herr_t e = H5Dwrite(t->dset[c], H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &row[c]);
    H5Sclose(ms);
    H5Sclose(fs);
    if (e < 0)
      return ibx_fail(IBX_ERR_IO, "metrics: cannot write a %s row", what);
  }
  t->rows = n;
  return IBX_OK;
}

/* Rows kept on resume, read before the file is replaced. */
typedef struct {
  double *step[IBX_STEP_COLUMNS], *epoch[IBX_EPOCH_COLUMNS];
  long n_step, n_epoch;
} kept_rows;

static void free_kept(kept_rows *k) {
  for (int c = 0; c < IBX_STEP_COLUMNS; c++)
    free(k->step[c]);
  for (int c = 0; c < IBX_EPOCH_COLUMNS; c++)
    free(k->epoch[c]);
}

static int read_table(const char *path, const char *group, const char *const *cols, int ncols,
                      double **out, long *rows, double keep_upto) {
  char name[128];
  long n = -1;
  for (int c = 0; c < ncols; c++) {
    long m;
    snprintf(name, sizeof name, "%s/%s", group, cols[c]);
    IBX_TRY(ibx_metrics_read_column(path, name, &out[c], &m));
    n = n < 0 || m < n ? m : n;
  }
  long keep = 0; /* rows are in order: keep the prefix with key <= keep_upto */
  while (keep < n && out[0][keep] <= keep_upto)
    keep++;
  *rows = keep;
  return IBX_OK;
}

static int create_file(const char *path, hid_t *file_out) {
  hid_t fapl = latest_format_fapl();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (f < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create metrics file", path);
  /* error_unit = "percent" (a fixed-length string, as h5io writes them) */
  static const char unit[] = "percent";
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
  H5Tset_size(type, sizeof unit - 1);
  hid_t a = H5Acreate2(f, "error_unit", type, space, H5P_DEFAULT, H5P_DEFAULT);
  const int bad = a < 0 || H5Awrite(a, type, unit) < 0;
  if (a >= 0)
    H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  if (bad) {
    H5Fclose(f);
    return ibx_fail(IBX_ERR_IO, "%s: cannot write error_unit", path);
  }
  *file_out = f;
  return IBX_OK;
}

double ibx_metrics_error_scale(const char *path) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (f < 0)
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return 1.0;
  const htri_t has = H5Aexists(f, "error_unit");
  H5Fclose(f);
  return has > 0 ? 1.0 : 100.0;
}

static int fill_tables(ibx_metrics *m, const kept_rows *k) {
  IBX_TRY(create_table(m->file, "step", ibx_step_columns, IBX_STEP_COLUMNS, &m->step));
  IBX_TRY(create_table(m->file, "epoch", ibx_epoch_columns, IBX_EPOCH_COLUMNS, &m->epoch));
  for (long r = 0; k && r < k->n_step; r++) {
    double row[IBX_STEP_COLUMNS];
    for (int c = 0; c < IBX_STEP_COLUMNS; c++)
      row[c] = k->step[c][r];
    IBX_TRY(append(&m->step, row, "step"));
  }
  for (long r = 0; k && r < k->n_epoch; r++) {
    double row[IBX_EPOCH_COLUMNS];
    for (int c = 0; c < IBX_EPOCH_COLUMNS; c++)
      row[c] = k->epoch[c][r];
    IBX_TRY(append(&m->epoch, row, "epoch"));
  }
  return IBX_OK;
}

static void close_tables(ibx_metrics *m) {
  for (int c = 0; c < m->step.ncols; c++)
    H5Dclose(m->step.dset[c]);
  for (int c = 0; c < m->epoch.ncols; c++)
    H5Dclose(m->epoch.dset[c]);
  m->step.ncols = m->epoch.ncols = 0;
}

/* Writes the kept rows into tmp_path as a complete, closed file. */
static int write_snapshot(const char *tmp_path, void *ctx) {
  ibx_metrics tmp = {0};
  IBX_TRY(create_file(tmp_path, &tmp.file));
  int rc = fill_tables(&tmp, ctx);
  close_tables(&tmp);
  if (H5Fclose(tmp.file) < 0 && !rc)
    rc = ibx_fail(IBX_ERR_IO, "%s: cannot close metrics file", tmp_path);
  return rc;
}

static int open_for_append(ibx_metrics *m) {
  hid_t fapl = latest_format_fapl();
  m->file = H5Fopen(m->path, H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  if (m->file < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot reopen metrics file", m->path);
  const char *groups[2] = {"step", "epoch"};
  table *tables[2] = {&m->step, &m->epoch};
  const char *const *cols[2] = {ibx_step_columns, ibx_epoch_columns};
  for (int t = 0; t < 2; t++) {
    tables[t]->ncols = t ? IBX_EPOCH_COLUMNS : IBX_STEP_COLUMNS;
    for (int c = 0; c < tables[t]->ncols; c++) {
      char name[128];
      snprintf(name, sizeof name, "%s/%s", groups[t], cols[t][c]);
      tables[t]->dset[c] = H5Dopen2(m->file, name, H5P_DEFAULT);
      if (tables[t]->dset[c] < 0)
        return ibx_fail(IBX_ERR_FORMAT, "%s: metrics file lacks %s", m->path, name);
    }
    hid_t s = H5Dget_space(tables[t]->dset[0]);
    H5Sget_simple_extent_dims(s, &tables[t]->rows, NULL);
    H5Sclose(s);
  }
  if (H5Fstart_swmr_write(m->file) < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot start SWMR writing", m->path);
  return IBX_OK;
}

int ibx_metrics_open(const char *path, long keep_step, long keep_epoch, ibx_metrics **out) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ibx_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return ibx_fail(IBX_ERR_NOMEM, "metrics: out of memory");
  snprintf(m->path, sizeof m->path, "%s", path);
  kept_rows k = {0};
  int rc = IBX_OK;
  if (keep_step >= 0) {
    rc = read_table(path, "step", ibx_step_columns, IBX_STEP_COLUMNS, k.step, &k.n_step,
                    (double)keep_step);
    if (!rc)
      rc = read_table(path, "epoch", ibx_epoch_columns, IBX_EPOCH_COLUMNS, k.epoch, &k.n_epoch,
                      (double)keep_epoch);
    const double scale = rc ? 1.0 : ibx_metrics_error_scale(path);
    for (long r = 0; r < k.n_epoch; r++) /* columns 1, 2: train_error, test_error */
      k.epoch[1][r] *= scale, k.epoch[2][r] *= scale;
  }
  /* A fresh, complete file replaces the old one atomically; then append. */
  if (!rc)
    rc = ibx_atomic_write(path, write_snapshot, &k);
  free_kept(&k);
  if (!rc)
    rc = open_for_append(m);
  if (rc) {
    ibx_metrics_close(m);
    return rc;
  }
  *out = m;
  return IBX_OK;
}

int ibx_metrics_append_step(ibx_metrics *m, const double row[IBX_STEP_COLUMNS]) {
  return append(&m->step, row, "step");
}

int ibx_metrics_append_epoch(ibx_metrics *m, const double row[IBX_EPOCH_COLUMNS]) {
  return append(&m->epoch, row, "epoch");
}

int ibx_metrics_flush(ibx_metrics *m) {
  if (H5Fflush(m->file, H5F_SCOPE_GLOBAL) < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot flush metrics", m->path);
  return IBX_OK;
}

int ibx_metrics_close(ibx_metrics *m) {
  if (!m)
    return IBX_OK;
  int rc = IBX_OK;
  close_tables(m);
  if (m->file > 0 && H5Fclose(m->file) < 0)
    rc = ibx_fail(IBX_ERR_IO, "%s: cannot close metrics file", m->path);
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
