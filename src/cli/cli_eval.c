/* ibx eval: top-1 error (also cross-domain), the AIB interpretability score
 * and attention-map pictures of trained runs (docs/evaluation.md). Runs under
 * mpirun for error and interpret (samples sharded over ranks); rank 0 prints
 * and writes RUN_DIR/results/. Exit status 0 done, 1 failed, 2 bad usage. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_eval.h"
#include "ibx/dist.h"
#include "ibx/error.h"

/* ---- error ------------------------------------------------------------------ */

typedef struct {
  const char *group, *name, *split, *ckpt;
  ibx_eval_counts counts;
  double error;
  const ibx_eval_outputs *outputs; /* NULL: counts only */
} error_write;

static int write_error(ibx_h5 *f, void *ctx) {
  const error_write *e = ctx;
  IBX_TRY(ibx_results_group(f, e->group));
  IBX_TRY(ibx_h5_write_attr_f64(f, e->group, "top1_error", e->error));
  IBX_TRY(ibx_h5_write_attr_i64(f, e->group, "n_samples", e->counts.n_samples));
  IBX_TRY(ibx_h5_write_attr_i64(f, e->group, "n_correct", e->counts.n_correct));
  IBX_TRY(ibx_h5_write_attr_str(f, e->group, "dataset", e->name));
  IBX_TRY(ibx_h5_write_attr_str(f, e->group, "split", e->split));
  if (e->outputs)
    IBX_TRY(ibx_eval_outputs_write(f, e->group, e->outputs));
  return ibx_h5_write_attr_str(f, e->group, "checkpoint", e->ckpt);
}

static int cmd_error(MPI_Comm comm, const eval_opts *o) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  ibx_eval_run run;
  ibx_dataset *ds = NULL;
  ibx_text_dataset *tds = NULL;
  char label[128] = "";
  int rc = ibx_dist_agree(comm, ibx_eval_open(o->ckpt[0], o->batch, &run));
  if (!rc && o->only_trained_on &&
      strcmp(run.settings.data.dataset, o->only_trained_on)) {
    /* a sweep stage over mixed datasets (e.g. STL-10 for the CIFAR-10 runs only) */
    if (rank == 0)
      printf("%s: trained on %s, not %s: nothing to evaluate (--only-trained-on)\n", run.ckpt,
             run.settings.data.dataset, o->only_trained_on);
    ibx_eval_close(&run);
    return IBX_OK;
  }
  if (!rc && run.text && o->data.name && *o->data.name &&
      strcmp(o->data.name, run.settings.data.dataset))
    rc = ibx_dist_agree(comm, ibx_fail(IBX_ERR_ARG, "--data %s: a text run evaluates on its own "
                                       "dataset only", o->data.name));
  if (!rc && run.text && o->save_outputs)
    rc = ibx_dist_agree(comm, ibx_fail(IBX_ERR_ARG, "%s: --save-outputs saves image runs' "
                                       "outputs and attention maps; a text run has none",
                                       run.ckpt));
  if (!rc && run.text)
    rc = ibx_dist_agree(comm,
                        ibx_eval_open_text_data(&run, o->data.split, &tds, label, sizeof label));
  else if (!rc)
    rc = ibx_dist_agree(comm, ibx_eval_open_data(&run, &o->data, &ds, label, sizeof label));
  ibx_eval_counts counts = {0, 0};
  ibx_eval_outputs outputs = {0};
  if (!rc && run.text)
    rc = ibx_eval_error_text(comm, &run, tds, o->limit, &counts);
  else if (!rc)
    rc = o->save_outputs ? ibx_eval_outputs_collect(comm, &run, ds, o->limit, &outputs, &counts)
                         : ibx_eval_error(comm, &run, ds, o->limit, &counts);
  if (!rc && rank == 0) {
    char group[200], path[4200];
    snprintf(group, sizeof group, "/error/%s", label);
    snprintf(path, sizeof path, "%s/error.h5", run.results);
    const char *own = run.settings.data.dataset;
    error_write e = {group, o->data.name && *o->data.name ? o->data.name : own,
                     o->data.split && *o->data.split ? o->data.split : "test", run.ckpt, counts,
                     counts.n_samples ? 100.0 * (1.0 - (double)counts.n_correct / counts.n_samples)
                                      : 100.0,
                     o->save_outputs ? &outputs : NULL};
    const char *replace[1] = {group};
    rc = ibx_results_update(path, replace, 1, write_error, &e);
    if (!rc)
      printf("%s: top-1 error %.2f%% (%ld of %ld wrong; %s)\nwritten %s %s\n", label, e.error,
             counts.n_samples - counts.n_correct, counts.n_samples,
             tds ? ibx_text_name(tds) : ibx_dataset_name(ds), path,
             group);
  }
  rc = ibx_dist_agree(comm, rc);
  ibx_eval_outputs_free(&outputs);
  ibx_dataset_close(ds);
  ibx_text_close(tds);
  if (run.model)
    ibx_eval_close(&run);
  return rc;
}

int ibx_cmd_eval(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return eval_usage(argc < 2 ? stderr : stdout), argc < 2 ? 2 : 0;
  const char *action = argv[1];
  if (strcmp(action, "error") && strcmp(action, "interpret") && strcmp(action, "maps"))
    return fprintf(stderr, "ibx eval: unknown action '%s'\n", action), eval_usage(stderr), 2;
  eval_opts o;
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return eval_usage(stdout), 0;
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
