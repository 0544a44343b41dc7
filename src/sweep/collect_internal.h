/* ibx collect internals: the runs and every number read from them. */
#ifndef IBX_COLLECT_INTERNAL_H
#define IBX_COLLECT_INTERNAL_H

#include <stdio.h>

#include "ibx/collect.h"
#include "ibx/config.h"
#include "ibx/run_config.h"
#include "ibx/sweep.h"

typedef struct {
  char dir[IBX_SWEEP_TEXT], id[64], dataset[64];
  char label[IBX_SWEEP_TEXT]; /* backbone-head and the varying keys but seed */
  ibx_config config;       /* every key (the labels name the ones that vary) */
  ibx_run_config settings; /* the same, typed */
} ibx_collect_run;

typedef struct {
  char table[32], row[IBX_SWEEP_TEXT], col[IBX_SWEEP_TEXT + 32], file[IBX_SWEEP_TEXT + 64];
  double value;
  int run;
} ibx_collect_value;

typedef struct {
  ibx_collect_run *runs;
  int n_runs;
  ibx_collect_value *values;
  int n_values, cap_values;
  int n_problems;
  int *varies; /* per schema key: differs between runs */
} ibx_collect_data;

/* Reads sweep_dir's runs; a run directory itself (holding run.ini or
 * config.ini) is read as a sweep of that one run. */
int ibx_collect_read(const char *sweep_dir, FILE *report, ibx_collect_data *d);
void ibx_collect_data_free(ibx_collect_data *d);

/* ---- shared by the table writers and the HTML report (collect_table.c) ---- */

#define IBX_COLLECT_CELL_RUNS 64

/* One table cell: mean and sample std over the numbers of (table, row,
 * col), and the runs behind them (indices into d->runs). */
typedef struct {
  double mean, std;
  int n, n_listed;
  int runs[IBX_COLLECT_CELL_RUNS];
} ibx_collect_cell;

ibx_collect_cell ibx_collect_stats(const ibx_collect_data *d, const char *table, const char *row,
                                   const char *col);
/* Distinct values of field (0 row, 1 col) of table in first-seen order
 * (malloc'ed array of pointers into d; the count is returned, -1 no memory). */
int ibx_collect_distinct(const ibx_collect_data *d, const char *table, int field,
                         const char ***out);
/* qsort comparators on const char *: plain, and natural (p4 before p12). */
int ibx_collect_cmp_str(const void *a, const void *b);
int ibx_collect_cmp_natural(const void *a, const void *b);
/* Rows and columns of an AIB table in the order printed (rows sorted, Table
 * 2's columns in natural order). Returns the row count (0: empty table, -1:
 * no memory); free both arrays. */
int ibx_collect_aib_layout(const ibx_collect_data *d, const char *table, const char ***rows,
                           const char ***cols, int *n_cols);

/* IBA Table 1 as read: row method, column "<model label>: <metric>". The
 * printed layout: one block per model (label), methods as rows, the metrics
 * that apply as columns. */
enum { IBX_COLLECT_IBA_METRICS = 3 };
extern const char *const ibx_collect_iba_metric[IBX_COLLECT_IBA_METRICS]; /* "deg 8x8", ... */
/* Whether any run has a number (not NaN) for metric m (bbox: a dataset with
 * boxes). */
int ibx_collect_iba_metric_applies(const ibx_collect_data *d, int m);
/* The model labels (sorted) and methods (first seen) of IBA Table 1. */
int ibx_collect_iba_layout(const ibx_collect_data *d, const char ***models, const char ***methods,
                           int *n_methods);
/* Column name of (model, metric m) as stored: "<model>: <metric>". */
void ibx_collect_iba_column(const char *model, int m, char *out, size_t len);

/* One curve of an ablation plot against a numeric model key: the runs that
 * differ only in that key (and the seed). A curve whose head does not use the
 * key (plain against beta) has uses_key 0 and is one reference value. */
#define IBX_COLLECT_CURVE_POINTS 64
typedef struct {
  char name[IBX_SWEEP_TEXT];
  int uses_key, n;
  double x[IBX_COLLECT_CURVE_POINTS], mean[IBX_COLLECT_CURVE_POINTS],
      std[IBX_COLLECT_CURVE_POINTS];
  int count[IBX_COLLECT_CURVE_POINTS];
} ibx_collect_curve;

/* Curves of top-1 test error against config key k (at most cap). Returns the
 * number of curves; *points counts the points of curves that use the key. */
int ibx_collect_ablation(const ibx_collect_data *d, int k, ibx_collect_curve *curves, int cap,
                         int *points);

#endif
