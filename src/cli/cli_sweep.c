/* ibx sweep plan|submit|status|run: sweep files (docs/sweeps.md). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ibx/error.h"
#include "ibx/sweep.h"

static void usage(FILE *to) {
  fprintf(to,
          "usage: ibx sweep plan   SWEEP.ini [--results DIR] [-v]\n"
          "       ibx sweep submit SWEEP.ini [--dry-run] [--retry-failed] [--results DIR]\n"
          "                        [--partition P] [--account A] [--time T] [--nodes N]\n"
          "                        [--tasks N] [--cpus N] [--mem M] [--throttle N]\n"
          "                        [--max-array N] [--launcher CMD] [--templates DIR]\n"
          "       ibx sweep status SWEEP.ini [--results DIR] [-v]\n"
          "       ibx sweep run    SWEEP.ini --local [-j N] [--retry-failed] [--results DIR] [-v]\n\n"
          "plan: the runs (id = hash of the resolved config) and what is done.\n"
          "submit: sbatch job arrays per stage with dependencies (Slurm); pending runs only.\n"
          "status: per stage and run, from the run directories (and sacct/squeue).\n"
          "run --local: the same stages on this machine, N stage tasks at a time.\n"
          "Exit status: 0 ok (status: all done), 1 failed (status: not all done), 2 bad usage\n"
          "or sweep file (status: a corrupt file).\n");
}

static int plan(const ibx_sweep *s, int verbose) {
  ibx_sweep_run *runs;
  int n;
  if (ibx_sweep_expand(s, &runs, &n))
    return fprintf(stderr, "ibx sweep plan: %s\n", ibx_errmsg()), 2;
  int done = 0;
  char dir[IBX_SWEEP_TEXT];
  ibx_sweep_dir(s, dir, sizeof dir);
  printf("%s: %d runs under %s/, stages:", s->name, n, dir);
  for (int i = 0; i < s->n_stages; i++)
    printf(" %s%s", s->stages[i].name, s->stages[i].per_sweep ? " (sweep-wide)" : "");
  printf("\n");
  for (int r = 0; r < n; r++) {
    int stages_done = 0, per_run = 0;
    for (int i = 0; i < s->n_stages; i++)
      if (!s->stages[i].per_sweep) {
        per_run++;
        stages_done += ibx_sweep_stage_state(&s->stages[i], runs[r].dir, NULL, 0) ==
                       IBX_STAGE_DONE;
      }
    done += stages_done == per_run;
    printf("  %s  %-7s %s\n", runs[r].id,
           stages_done == per_run ? "done" : stages_done ? "partial" : "to run", runs[r].label);
    if (verbose)
      printf("%s\n", runs[r].config_ini);
  }
  printf("%d runs: %d done, %d to run\n", n, done, n - done);
  ibx_sweep_runs_free(runs, n);
  return 0;
}

static int int_arg(const char *opt, const char *v, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < 0 || x > 1000000)
    return fprintf(stderr, "ibx sweep: %s: '%s' is not a count\n", opt, v), -1;
  *out = (int)x;
  return 0;
}

static int str_arg(const char *opt, const char *v, char *dst, size_t cap) {
  if (strlen(v) >= cap)
    return fprintf(stderr, "ibx sweep: %s: value too long\n", opt), -1;
  strcpy(dst, v);
  return 0;
}

int ibx_cmd_sweep(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return usage(argc < 2 ? stderr : stdout), argc < 2 ? 2 : 0;
  const char *action = argv[1], *file = NULL, *results = NULL;
  if (strcmp(action, "plan") && strcmp(action, "submit") && strcmp(action, "status") &&
      strcmp(action, "run"))
    return fprintf(stderr, "ibx sweep: unknown action '%s'\n", action), usage(stderr), 2;
  ibx_sweep *s = calloc(1, sizeof *s);
  if (!s)
    return fprintf(stderr, "ibx sweep: out of memory\n"), 1;
  /* resources given on the command line win over the sweep file's [slurm] */
  ibx_sweep_resources cli = {0};
  int throttle = -1, verbose = 0, local = 0, jobs = 1, bad = 0, launcher_set = 0;
  char launcher[IBX_SWEEP_TEXT];
  ibx_submit_options so = {.out = stdout};
  ibx_local_options lo = {.out = stdout};
  for (int i = 2; i < argc && !bad; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return free(s), usage(stdout), 0;
    else if (!strcmp(a, "--dry-run"))
      so.dry_run = 1;
    else if (!strcmp(a, "--retry-failed"))
      so.retry_failed = lo.retry_failed = 1;
    else if (!strcmp(a, "--local"))
      local = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
      verbose = 1;
    else if (a[0] == '-' && !v)
      bad = fprintf(stderr, "ibx sweep: %s needs a value (or is unknown)\n", a);
    else if (!strcmp(a, "--results"))
      results = v, i++;
    else if (!strcmp(a, "--templates"))
      so.template_dir = v, i++;
    else if (!strcmp(a, "--sbatch"))
      so.sbatch = v, i++;
    else if (!strcmp(a, "-j") || !strcmp(a, "--jobs"))
      bad = int_arg(a, v, &jobs), i++;
    else if (!strcmp(a, "--throttle"))
      bad = int_arg(a, v, &throttle), i++;
    else if (!strcmp(a, "--max-array"))
      bad = int_arg(a, v, &so.max_array), i++;
    else if (!strcmp(a, "--nodes"))
      bad = int_arg(a, v, &cli.nodes), i++;
    else if (!strcmp(a, "--tasks"))
      bad = int_arg(a, v, &cli.tasks), i++;
    else if (!strcmp(a, "--cpus"))
      bad = int_arg(a, v, &cli.cpus_per_task), i++;
    else if (!strcmp(a, "--time"))
      bad = str_arg(a, v, cli.time, sizeof cli.time), i++;
    else if (!strcmp(a, "--partition"))
      bad = str_arg(a, v, cli.partition, sizeof cli.partition), i++;
    else if (!strcmp(a, "--account"))
      bad = str_arg(a, v, cli.account, sizeof cli.account), i++;
    else if (!strcmp(a, "--mem"))
      bad = str_arg(a, v, cli.mem, sizeof cli.mem), i++;
    else if (!strcmp(a, "--launcher"))
      bad = str_arg(a, v, launcher, sizeof launcher), launcher_set = 1, i++;
    else if (a[0] == '-')
      bad = fprintf(stderr, "ibx sweep: unknown option '%s'\n", a);
    else if (!file)
      file = a;
    else
      bad = fprintf(stderr, "ibx sweep: more than one sweep file ('%s')\n", a);
  }
  if (!bad && !file)
    bad = fprintf(stderr, "ibx sweep %s: no sweep file\n", action);
  if (!bad && !strcmp(action, "run") && !local)
    bad = fprintf(stderr, "ibx sweep run: only --local exists (use 'ibx sweep submit' for "
                          "Slurm)\n");
  if (!bad && ibx_sweep_load(file, s))
    bad = fprintf(stderr, "ibx sweep: %s\n", ibx_errmsg());
  if (bad)
    return free(s), 2;
  if (results)
    snprintf(s->results, sizeof s->results, "%s", results);
  if (s->results[0] != '/') { /* jobs may start elsewhere: run directories are absolute */
    char cwd[PATH_MAX], abs[IBX_SWEEP_TEXT];
    if (getcwd(cwd, sizeof cwd) &&
        snprintf(abs, sizeof abs, "%s/%s", cwd, s->results) < (int)sizeof abs)
      strcpy(s->results, abs);
  }
  if (throttle >= 0)
    s->throttle = throttle;
  if (launcher_set)
    snprintf(s->slurm_launcher, sizeof s->slurm_launcher, "%s", launcher);
  ibx_sweep_resources *r = &s->res;
  if (cli.nodes)
    r->nodes = cli.nodes;
  if (cli.tasks)
    r->tasks = cli.tasks;
  if (cli.cpus_per_task)
    r->cpus_per_task = cli.cpus_per_task;
  if (cli.time[0])
    strcpy(r->time, cli.time);
  if (cli.partition[0])
    strcpy(r->partition, cli.partition);
  if (cli.account[0])
    strcpy(r->account, cli.account);
  if (cli.mem[0])
    strcpy(r->mem, cli.mem);
  static char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  if (n <= 0)
    snprintf(self, sizeof self, "ibx");
  int rc;
  if (!strcmp(action, "plan"))
    rc = plan(s, verbose);
  else if (!strcmp(action, "status"))
    rc = ibx_sweep_status(s, verbose, stdout);
  else if (!strcmp(action, "submit")) {
    so.ibx = self;
    rc = ibx_sweep_submit(s, &so) ? (fprintf(stderr, "ibx sweep submit: %s\n", ibx_errmsg()), 1)
                                  : 0;
  } else {
    lo.ibx = self, lo.jobs = jobs > 0 ? jobs : 1, lo.verbose = verbose;
    rc = ibx_sweep_run_local(s, &lo) ? (fprintf(stderr, "ibx sweep run: %s\n", ibx_errmsg()), 1)
                                     : 0;
  }
  free(s);
  return rc;
}
