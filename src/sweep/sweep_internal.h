/* Helpers shared by the sweep files (internal). */
#ifndef IBX_SWEEP_INTERNAL_H
#define IBX_SWEEP_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "ibx/sweep.h"

/* snprintf that may truncate (paths are bounded, long ones fail later when
 * opened), without GCC's truncation warnings. */
int ibx_sw_fmt(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* fprintf to out, or nothing when out is NULL: where the sweep code reports
 * progress (the library never prints on its own; the CLI passes stdout). */
void ibx_sw_report(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* fflush(out) unless out is NULL: progress is read live from logs and pipes. */
void ibx_sw_flush(FILE *out);

int ibx_sw_mkdir_p(const char *dir);
/* Atomically writes path with text (temp, fsync, rename). */
int ibx_sw_write_text(const char *path, const char *text);
/* First line of path into out ("" and -1 when unreadable). */
int ibx_sw_read_line(const char *path, char *out, size_t len);
/* Whole file into a malloc'ed string (NULL when unreadable). */
char *ibx_sw_read_file(const char *path);
/* 1 when path opens as HDF5 and its root group can be read. */
int ibx_sw_h5_ok(const char *path);

/* Splits a command template into words (whitespace; '...' and "..." quote). */
int ibx_sw_split_words(const char *text, char words[][IBX_SWEEP_TEXT], int cap);

/* Placeholder values: {run_dir} {config} {run_id} {sweep_dir} {here} {tasks}
 * {ibx}. NULL run fields for sweep-wide stages. */
typedef struct {
  const char *run_dir, *config, *run_id, *sweep_dir, *here, *ibx;
  int tasks;
} ibx_sw_vars;
/* Replaces the placeholders in word; an unknown placeholder is an error. */
int ibx_sw_expand_word(const char *word, const ibx_sw_vars *v, char *out, size_t len);

/* The stage's resources with [slurm] defaults filled in. */
ibx_sweep_resources ibx_sw_stage_resources(const ibx_sweep *s, const ibx_sweep_stage *st);

/* 1 when the run directory holds a ckpt-*.h5 (a stage's resume applies). */
int ibx_sw_has_checkpoint(const char *run_dir);

/* Runs which need stage work: run r is pending when any per-run stage is not
 * done (and, without retry_failed, none of them failed). Fills pending[r]. */
int ibx_sw_pending_runs(const ibx_sweep *s, const ibx_sweep_run *runs, int n_runs,
                        int retry_failed, int *pending);

#endif
