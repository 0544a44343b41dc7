/* ibx report: a sweep's (or a run's) results as one self-contained HTML page. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ibx/error.h"
#include "ibx/report.h"

static void usage(FILE *to) {
  fprintf(to, "usage: ibx report SWEEP_DIR|RUN_DIR [--out FILE.html]\n\n"
              "Writes one self-contained HTML page (default DIR/report.html; no network, no\n"
              "script: CSS inline, plots as inline SVG, pictures as PNG data URIs): the runs\n"
              "and their resolved settings, AIB Table 1 and 2 and IBA Table 1 (mean ± std over\n"
              "seeds, every number linked to its run), the ablation plots, per run the\n"
              "training curves from metrics.h5 and its PNG pictures (heatmaps, attention).\n"
              "Exit status: 0 written, 1 written but some files unreadable (listed),\n"
              "2 bad usage or nothing written.\n");
}

int ibx_cmd_report(int argc, char **argv) {
  const char *dir = NULL;
  char path[4096];
  const int status = ibx_cli_dir_and_out(argc, argv, "ibx report", usage, "report.html", &dir, path,
                                         sizeof path);
  if (status >= 0)
    return status;
  ibx_report_summary sum;
  if (ibx_report_write(dir, path, stderr, &sum))
    return fprintf(stderr, "ibx report: %s\n", ibx_errmsg()), 2;
  printf("report: %s (%d runs, %d numbers, %d plots, %d pictures", path, sum.n_runs,
         sum.n_values, sum.n_charts, sum.n_pictures);
  if (sum.n_problems)
    printf("; %d problem(s) listed above and in the page", sum.n_problems);
  printf(")\n");
  return sum.n_problems ? 1 : 0;
}
