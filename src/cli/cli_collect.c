/* ibx collect: a sweep's results into the papers' tables and plots. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ibx/collect.h"
#include "ibx/error.h"

static void usage(FILE *to) {
  fprintf(to, "usage: ibx collect SWEEP_DIR [--out DIR]\n\n"
              "Reads every run directory under SWEEP_DIR (results/<sweep>/) and writes\n"
              "aib_table1, aib_table2, iba_table1 (.md .csv .tex), values.csv (every number\n"
              "with its run id and file) and ablation_<key>.png into DIR (default\n"
              "SWEEP_DIR/tables). Unreadable or missing results are listed and skipped.\n"
              "Exit status: 0 all collected, 1 some results missing or unreadable, 2 bad usage\n"
              "or nothing could be written.\n");
}

int ibx_cmd_collect(int argc, char **argv) {
  const char *dir = NULL;
  char out_dir[4096];
  const int status = ibx_cli_dir_and_out(argc, argv, "ibx collect", usage, "tables", &dir, out_dir,
                                         sizeof out_dir);
  if (status >= 0)
    return status;
  ibx_collect_summary sum;
  if (ibx_collect(dir, out_dir, stdout, &sum))
    return fprintf(stderr, "ibx collect: %s\n", ibx_errmsg()), 2;
  printf("\ncollected %d numbers from %d runs into %s/ (%d tables, %d plots)", sum.n_values,
         sum.n_runs, out_dir, sum.n_tables, sum.n_plots);
  if (sum.n_problems)
    printf("; %d problem(s) listed above", sum.n_problems);
  printf("\n");
  return sum.n_problems ? 1 : 0;
}
