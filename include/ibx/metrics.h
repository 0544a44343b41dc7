/* Training metrics in HDF5, readable by another process at any time, also
 * after the trainer was killed: the rows live in memory and every flush
 * writes a complete file and renames it over the old one (atomic), so the
 * file on disk is always closed and whole; plain h5py.File(path, "r") (or
 * with swmr=True) reads it.
 *
 *   /step/<column>   one row per logged step: step, epoch, loss, ce, kl, vq,
 *                    commit, lr, img_per_s, grad_norm
 *   /epoch/<column>  one row per epoch: epoch, train_error, test_error, loss,
 *                    ce, kl, vq, commit, seconds
 * All columns are float64, chunked and extendible; rows are flushed at every
 * epoch, before every checkpoint and on close.
 *
 * Resume after preemption: ibx_metrics_open with keep_step / keep_epoch reads
 * the rows up to the restored checkpoint, writes them to a fresh file
 * atomically, and continues, so no row is lost or duplicated. */
#ifndef IBX_METRICS_H
#define IBX_METRICS_H

typedef struct ibx_metrics ibx_metrics;

enum { IBX_STEP_COLUMNS = 10, IBX_EPOCH_COLUMNS = 9 };
extern const char *const ibx_step_columns[IBX_STEP_COLUMNS];
extern const char *const ibx_epoch_columns[IBX_EPOCH_COLUMNS];

/* Creates path (fresh), or, when keep_step >= 0, resumes it keeping step rows
 * with step <= keep_step and epoch rows with epoch <= keep_epoch. */
int ibx_metrics_open(const char *path, long keep_step, long keep_epoch, ibx_metrics **out);
/* Appends one row (values in column order). */
int ibx_metrics_append_step(ibx_metrics *m, const double row[IBX_STEP_COLUMNS]);
int ibx_metrics_append_epoch(ibx_metrics *m, const double row[IBX_EPOCH_COLUMNS]);
/* Makes all rows so far visible to readers. */
int ibx_metrics_flush(ibx_metrics *m);
int ibx_metrics_close(ibx_metrics *m);

/* Reads a whole column (e.g. "epoch/test_error") into a malloc'ed array. */
int ibx_metrics_read_column(const char *path, const char *column, double **values, long *n);

#endif
