/* Result collection: reads every run directory of a sweep (results/<sweep>/
 * <id>/) and writes the papers' tables and the ablation plots.
 *
 * Inputs per run (docs/checkpoint-format.md, "Results files"): run.ini (or
 * config.ini), results/error.h5 (/error/<name>: top1_error), else the last
 * test error in metrics.h5; results/interpret.h5 (/interpret/<mod>/<param>:
 * score); results/attribution.h5 (/attribution/<method>: degradation_8,
 * degradation_14, bbox_ratio).
 *
 * Outputs in out_dir: aib_table1 (top-1 error, model x evaluation set),
 * aib_table2 (interpretability scores), iba_table1 (attribution) as .md,
 * .csv and .tex, each cell mean ± sample std over the runs that differ only
 * in train.seed, with the run ids of every cell in the CSV; values.csv with
 * every single number, its run id and file; ablation_<key>.png (gnuplot) for
 * every numeric model key the sweep varies (Fig. 4). */
#ifndef IBX_COLLECT_H
#define IBX_COLLECT_H

#include <stdio.h>

typedef struct {
  int n_runs;       /* run directories found */
  int n_values;     /* numbers collected */
  int n_problems;   /* unreadable or missing files (each reported) */
  int n_tables, n_plots;
} ibx_collect_summary;

/* Collects sweep_dir into out_dir (created). Problems with single runs (a
 * corrupt HDF5 file, no results yet) are printed to report, one line each,
 * and counted; the rest is still collected. The tables are printed to
 * report as Markdown. Fails only when nothing can be written. */
int ibx_collect(const char *sweep_dir, const char *out_dir, FILE *report,
                ibx_collect_summary *summary);

#endif
