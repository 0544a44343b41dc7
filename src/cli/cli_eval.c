/* ibx eval: top-1 error (also cross-domain), the AIB interpretability score
 * and attention-map pictures of trained runs (docs/evaluation.md). Runs under
 * mpirun for error and interpret (samples sharded over ranks); rank 0 prints
 * and writes RUN_DIR/results/. Exit status 0 done, 1 failed, 2 bad usage. */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_eval.h"
#include "ibx/error.h"

static void usage(FILE *to) {
  fprintf(to,
    "usage: ibx eval error     --ckpt RUN [DATA] [--limit N] [--batch N] [--only-trained-on NAME]\n"
    "       ibx eval interpret --ckpt RUN [DATA] [SCORE] [--limit N] [--batch N]\n"
    "       ibx eval maps      --ckpt RUN [--ckpt RUN ...] --out FILE.png [DATA] [PICTURE]\n"
    "\n"
    "RUN is a run directory (its newest ckpt-<step>.h5) or a checkpoint file;\n"
    "results go to RUN/results/{error,interpret}.h5.\n"
    "--only-trained-on NAME: a run whose data.dataset is not NAME is a note and exit 0\n"
    "(for sweep stages over mixed datasets, e.g. --data stl10 for the CIFAR-10 runs).\n"
    "DATA:    --data NAME (a data.dataset value; default: the run's) --split train|test\n"
    "         (test) --data-path DIR --resize (resample images of another size)\n"
    "         With a CIFAR-10 run, --data stl10 is the 9-class cross-domain test.\n"
    "SCORE:   --seed N (0) --threshold T (0.9) --map-norm minmax|l2 (minmax)\n"
    "         --map I (attention map index, 0) --mods color_block,patch,high_pass,low_pass\n"
    "         --windows 4,8,12,16 --high-radii 4 --low-radii 12\n"
    "         --patch-data NAME (default: the run's dataset; also cluttered-fashion-mnist)\n"
    "         --patch-path DIR --patch-split train|test (train) --patch-any-class\n"
    "         (default: patches come from images of another class than the sample's)\n"
    "         --skip-without-attention (a model with no attention map: exit 0 with a\n"
    "         note instead of an error; for sweeps that mix heads)\n"
    "PICTURE: --samples 0,1,2,3 --rows original,color_block:8,patch:8,high_pass:4,low_pass:12\n"
    "         --scale 4 --select disagreement --count 6 (Figure 5: the first samples\n"
    "         that the first run gets wrong and the second right)\n");
}

static int parse_list(const char *text, long *out, int cap, int *n) {
  *n = 0;
  for (const char *p = text; *p;) {
    char *end;
    errno = 0;
    const long v = strtol(p, &end, 10);
    if (end == p || errno || *n >= cap || (*end && *end != ','))
      return -1;
    out[(*n)++] = v;
    p = *end ? end + 1 : end;
  }
  return *n ? 0 : -1;
}

static int parse_num(const char *text, double *v) {
  char *end;
  errno = 0;
  *v = strtod(text, &end);
  return end == text || *end || errno ? -1 : 0;
}

/* The option named argv[*i] with its value; returns 1 when consumed. */
static int option(int argc, char **argv, int *i, const char *name, const char **value) {
  if (strcmp(argv[*i], name))
    return 0;
  if (*i + 1 >= argc)
    return *value = NULL, 1;
  *value = argv[++*i];
  return 1;
}

int eval_parse(const char *action, int argc, char **argv, eval_opts *o) {
  memset(o, 0, sizeof *o);
  o->batch = 128, o->threshold = 0.9, o->norm = IBX_MAP_NORM_MINMAX, o->scale = 4, o->count = 6;
  const long windows[] = {4, 8, 12, 16};
  memcpy(o->windows, windows, sizeof windows), o->n_windows = 4;
  o->high[0] = 4, o->n_high = 1, o->low[0] = 12, o->n_low = 1;
  o->patch_split = "train";
  for (int i = 1; i < argc; i++) {
    const char *v = NULL, *a = argv[i];
    double num;
    int bad = 0;
    if (!strcmp(a, "--resize"))
      o->data.resize = 1;
    else if (!strcmp(a, "--skip-without-attention"))
      o->skip_without_attention = 1;
    else if (!strcmp(a, "--patch-any-class"))
      o->patch_any_class = 1;
    else if (option(argc, argv, &i, "--ckpt", &v))
      bad = !v || o->n_ckpt >= EVAL_MAX_RUNS || !(o->ckpt[o->n_ckpt++] = v);
    else if (option(argc, argv, &i, "--data", &v))
      bad = !(o->data.name = v);
    else if (option(argc, argv, &i, "--data-path", &v))
      bad = !(o->data.path = v);
    else if (option(argc, argv, &i, "--only-trained-on", &v))
      bad = !(o->only_trained_on = v);
    else if (option(argc, argv, &i, "--split", &v))
      bad = !(o->data.split = v);
    else if (option(argc, argv, &i, "--limit", &v))
      bad = !v || parse_num(v, &num) || num < 0 || !((o->limit = (long)num) >= 0);
    else if (option(argc, argv, &i, "--batch", &v))
      bad = !v || parse_num(v, &num) || num < 1 || num > 65536 || !(o->batch = (int)num);
    else if (option(argc, argv, &i, "--seed", &v))
      bad = !v || parse_num(v, &num) || num < 0 || ((o->seed = (uint64_t)num), 0);
    else if (option(argc, argv, &i, "--threshold", &v))
      bad = !v || parse_num(v, &o->threshold) || o->threshold < -1 || o->threshold > 1;
    else if (option(argc, argv, &i, "--map-norm", &v))
      bad = !v || (strcmp(v, "minmax") && strcmp(v, "l2")) ||
            ((o->norm = strcmp(v, "l2") ? IBX_MAP_NORM_MINMAX : IBX_MAP_NORM_L2), 0);
    else if (option(argc, argv, &i, "--map", &v))
      bad = !v || parse_num(v, &num) || num < 0 || num > 8 || ((o->map = (int)num), 0);
    else if (option(argc, argv, &i, "--mods", &v))
      bad = !(o->mods = v);
    else if (option(argc, argv, &i, "--windows", &v))
      bad = !v || parse_list(v, o->windows, EVAL_MAX_LIST, &o->n_windows);
    else if (option(argc, argv, &i, "--high-radii", &v))
      bad = !v || parse_list(v, o->high, EVAL_MAX_LIST, &o->n_high);
    else if (option(argc, argv, &i, "--low-radii", &v))
      bad = !v || parse_list(v, o->low, EVAL_MAX_LIST, &o->n_low);
    else if (option(argc, argv, &i, "--patch-data", &v))
      bad = !(o->patch_name = v);
    else if (option(argc, argv, &i, "--patch-path", &v))
      bad = !(o->patch_path = v);
    else if (option(argc, argv, &i, "--patch-split", &v))
      bad = !(o->patch_split = v);
    else if (option(argc, argv, &i, "--out", &v))
      bad = !(o->out = v);
    else if (option(argc, argv, &i, "--samples", &v))
      bad = !v || parse_list(v, o->samples, EVAL_MAX_LIST, &o->n_samples);
    else if (option(argc, argv, &i, "--rows", &v))
      bad = !(o->rows = v);
    else if (option(argc, argv, &i, "--scale", &v))
      bad = !v || parse_num(v, &num) || num < 1 || num > 64 || !(o->scale = (int)num);
    else if (option(argc, argv, &i, "--count", &v))
      bad = !v || parse_num(v, &num) || num < 1 || num > EVAL_MAX_LIST || !(o->count = (int)num);
    else if (option(argc, argv, &i, "--select", &v))
      bad = !v || strcmp(v, "disagreement") || !(o->select = 1);
    else
      return fprintf(stderr, "ibx eval %s: unknown option '%s'\n", action, a), usage(stderr), 2;
    if (bad)
      return fprintf(stderr, "ibx eval %s: bad or missing value for %s\n", action, a), 2;
  }
  if (!o->n_ckpt)
    return fprintf(stderr, "ibx eval %s: --ckpt RUN is required\n", action), 2;
  if (o->n_ckpt > 1 && strcmp(action, "maps"))
    return fprintf(stderr, "ibx eval %s: one --ckpt only\n", action), 2;
  return 0;
}

int eval_agree(MPI_Comm comm, int rc) {
  int rank, world, fail = rc ? 1 : 0, any;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, comm);
  if (!any)
    return IBX_OK;
  int who = fail ? rank : world, first;
  MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm);
  char msg[512];
  snprintf(msg, sizeof msg, "%s", ibx_errmsg());
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm);
  return ibx_fail(rc ? rc : IBX_ERR_MPI, "%s", msg);
}

int eval_open_patches(const ibx_eval_run *run, const eval_opts *o, ibx_dataset **ds) {
  const char *own = ibx_config_string(&run->cfg, "data.dataset");
  const char *name = o->patch_name ? o->patch_name : own;
  if (!strcmp(name, "cluttered-fashion-mnist")) {
    ibx_clutter_config cc;
    ibx_clutter_default(&cc);
    cc.seed = o->seed;
    return ibx_dataset_open_cluttered_fashion_mnist(o->patch_path, o->patch_split, &cc, ds);
  }
  /* any image size, channel and class count: only the window must fit */
  const char *path = o->patch_path ? o->patch_path
                     : !strcmp(name, own) ? ibx_config_string(&run->cfg, "data.path") : NULL;
  return ibx_dataset_open_named(name, path, o->patch_split, run->src_h, ds);
}

/* Patches must come from another class only when they share the evaluated
 * dataset's label space (the same reader). */
int eval_patch_other_class(const ibx_eval_run *run, const eval_opts *o) {
  const char *own = ibx_config_string(&run->cfg, "data.dataset");
  const char *data = o->data.name && *o->data.name ? o->data.name : own;
  const char *patch = o->patch_name ? o->patch_name : own;
  return !o->patch_any_class && !strcmp(data, patch);
}

/* ---- error ------------------------------------------------------------------ */

typedef struct {
  const char *group, *name, *split, *ckpt;
  ibx_eval_counts counts;
  double error;
} error_write;

static int write_error(ibx_h5 *f, void *ctx) {
  const error_write *e = ctx;
  IBX_TRY(ibx_results_group(f, e->group));
  IBX_TRY(ibx_h5_write_attr_f64(f, e->group, "top1_error", e->error));
  IBX_TRY(ibx_h5_write_attr_i64(f, e->group, "n_samples", e->counts.n_samples));
  IBX_TRY(ibx_h5_write_attr_i64(f, e->group, "n_correct", e->counts.n_correct));
  IBX_TRY(ibx_h5_write_attr_str(f, e->group, "dataset", e->name));
  IBX_TRY(ibx_h5_write_attr_str(f, e->group, "split", e->split));
  return ibx_h5_write_attr_str(f, e->group, "checkpoint", e->ckpt);
}

static int cmd_error(MPI_Comm comm, const eval_opts *o) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  ibx_eval_run run;
  ibx_dataset *ds = NULL;
  ibx_text_dataset *tds = NULL;
  char label[128] = "";
  int rc = eval_agree(comm, ibx_eval_open(o->ckpt[0], o->batch, &run));
  if (!rc && o->only_trained_on &&
      strcmp(ibx_config_string(&run.cfg, "data.dataset"), o->only_trained_on)) {
    /* a sweep stage over mixed datasets (e.g. STL-10 for the CIFAR-10 runs only) */
    if (rank == 0)
      printf("%s: trained on %s, not %s: nothing to evaluate (--only-trained-on)\n", run.ckpt,
             ibx_config_string(&run.cfg, "data.dataset"), o->only_trained_on);
    ibx_eval_close(&run);
    return IBX_OK;
  }
  if (!rc && run.text && o->data.name && *o->data.name &&
      strcmp(o->data.name, ibx_config_string(&run.cfg, "data.dataset")))
    rc = eval_agree(comm, ibx_fail(IBX_ERR_ARG, "--data %s: a text run evaluates on its own "
                                   "dataset only", o->data.name));
  if (!rc && run.text)
    rc = eval_agree(comm, ibx_eval_open_text_data(&run, o->data.split, &tds, label, sizeof label));
  else if (!rc)
    rc = eval_agree(comm, ibx_eval_open_data(&run, &o->data, &ds, label, sizeof label));
  ibx_eval_counts counts = {0, 0};
  if (!rc && run.text)
    rc = ibx_eval_error_text(comm, &run, tds, o->limit, &counts);
  else if (!rc)
    rc = ibx_eval_error(comm, &run, ds, o->limit, &counts);
  if (!rc && rank == 0) {
    char group[200], path[4200];
    snprintf(group, sizeof group, "/error/%s", label);
    snprintf(path, sizeof path, "%s/error.h5", run.results);
    const char *own = ibx_config_string(&run.cfg, "data.dataset");
    error_write e = {group, o->data.name && *o->data.name ? o->data.name : own,
                     o->data.split && *o->data.split ? o->data.split : "test", run.ckpt, counts,
                     counts.n_samples ? 100.0 * (1.0 - (double)counts.n_correct / counts.n_samples)
                                      : 100.0};
    const char *replace[1] = {group};
    rc = ibx_results_update(path, replace, 1, write_error, &e);
    if (!rc)
      printf("%s: top-1 error %.2f%% (%ld of %ld wrong; %s)\nwritten %s %s\n", label, e.error,
             counts.n_samples - counts.n_correct, counts.n_samples,
             tds ? ibx_text_name(tds) : ibx_dataset_name(ds), path,
             group);
  }
  rc = eval_agree(comm, rc);
  ibx_dataset_close(ds);
  ibx_text_close(tds);
  if (run.model)
    ibx_eval_close(&run);
  return rc;
}

int ibx_cmd_eval(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return usage(argc < 2 ? stderr : stdout), argc < 2 ? 2 : 0;
  const char *action = argv[1];
  if (strcmp(action, "error") && strcmp(action, "interpret") && strcmp(action, "maps"))
    return fprintf(stderr, "ibx eval: unknown action '%s'\n", action), usage(stderr), 2;
  eval_opts o;
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return usage(stdout), 0;
  const int bad = eval_parse(action, argc - 1, argv + 1, &o);
  if (bad)
    return bad;
  int provided, rank;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int rc = !strcmp(action, "error")       ? cmd_error(MPI_COMM_WORLD, &o)
                 : !strcmp(action, "interpret") ? eval_cmd_interpret(MPI_COMM_WORLD, &o)
                                                : eval_cmd_maps(MPI_COMM_WORLD, &o);
  if (rc && rank == 0)
    fprintf(stderr, "ibx eval %s: %s\n", action, ibx_errmsg());
  MPI_Finalize();
  return rc ? (rc == IBX_ERR_ARG ? 2 : 1) : 0;
}
