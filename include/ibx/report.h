/* The HTML report of a sweep (or of one run): one self-contained file that
 * can be copied off a cluster and opened in any browser, with no network and
 * no script: CSS inline, plots as inline SVG drawn here, pictures (heatmaps,
 * attention grids) as PNG data URIs.
 *
 * Contents: the runs (id, what varies, stage states) and the settings they
 * share; AIB Table 1 and 2 and IBA Table 1 (the numbers of `ibx collect`,
 * mean ± sample std over seeds, every number linked to its run); the
 * ablation plots against each numeric model key the sweep varies (error bars
 * over seeds; a head that does not use the key is a reference line); per run
 * the training curves from metrics.h5 (loss and its parts, learning rate,
 * gradient norm and img/s per logged step, train/test error and loss per
 * epoch) and every PNG picture of the run directory with its caption. */
#ifndef IBX_REPORT_H
#define IBX_REPORT_H

#include <stdio.h>

typedef struct {
  int n_runs;     /* run directories in the report */
  int n_values;   /* numbers in its tables */
  int n_charts;   /* SVG plots (curves and ablations) */
  int n_pictures; /* PNGs embedded */
  int n_problems; /* unreadable files (listed in the page and on log) */
} ibx_report_summary;

/* Writes html_path (atomically) for dir: a sweep directory (results/<sweep>)
 * or a single run directory. Problems with single files are printed to log
 * (may be NULL), one line each, and shown in the page; fails only when
 * nothing can be written. */
int ibx_report_write(const char *dir, const char *html_path, FILE *log,
                     ibx_report_summary *summary);

#endif
