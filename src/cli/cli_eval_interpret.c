/* ibx eval interpret: the AIB interpretability score (Table 2 layout),
 * samples sharded over MPI ranks, written to RUN/results/interpret.h5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_eval.h"
#include "ibx/dist.h"
#include "ibx/error.h"

#define MAX_MODS (2 * EVAL_MAX_LIST + 2 * EVAL_MAX_LIST)

static int wanted(const eval_opts *o, ibx_mod_kind k) {
  if (!o->mods)
    return 1;
  const char *name = ibx_mod_name(k);
  const size_t len = strlen(name);
  for (const char *p = o->mods; (p = strstr(p, name)); p += len)
    if ((p == o->mods || p[-1] == ',') && (p[len] == ',' || !p[len]))
      return 1;
  return 0;
}

static int check_mods(const eval_opts *o) {
  if (!o->mods)
    return IBX_OK;
  char copy[512];
  snprintf(copy, sizeof copy, "%s", o->mods);
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    ibx_mod_kind k;
    IBX_TRY(ibx_mod_parse(t, &k));
  }
  return IBX_OK;
}

/* The (kind, param) list of o, in Table 2 order. */
static int list_mods(const eval_opts *o, ibx_interpret_result *res) {
  int n = 0;
  for (int k = 0; k < IBX_MOD_COUNT; k++) {
    if (!wanted(o, (ibx_mod_kind)k))
      continue;
    const long *v = k == IBX_MOD_HIGH_PASS ? o->high : k == IBX_MOD_LOW_PASS ? o->low : o->windows;
    const int nv = k == IBX_MOD_HIGH_PASS ? o->n_high : k == IBX_MOD_LOW_PASS ? o->n_low
                                                                              : o->n_windows;
    for (int j = 0; j < nv; j++) {
      memset(&res[n], 0, sizeof res[n]);
      res[n].kind = (ibx_mod_kind)k, res[n++].param = (double)v[j];
    }
  }
  return n;
}

typedef struct {
  const ibx_eval_run *run;
  const ibx_dataset *ds;
} canvas_ctx;

static int read_canvas(void *ctx, long i, float *canvas, int *label) {
  const canvas_ctx *c = ctx;
  return ibx_eval_canvas(c->run, c->ds, i, canvas, label);
}

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Sums the counts over ranks and gathers every rank's cosines on rank 0
 * (sorted, so the stored array does not depend on the number of ranks). */
static int reduce(MPI_Comm comm, ibx_interpret_result *r) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const long mine = r->n_prediction_consistent;
  long local[3] = {r->n_total, r->n_prediction_consistent, r->n_attention_consistent}, total[3];
  MPI_Allreduce(local, total, 3, MPI_LONG, MPI_SUM, comm);
  int count = (int)mine, *counts = NULL, *displs = NULL;
  float *all = NULL;
  int rc = IBX_OK;
  if (rank == 0) {
    counts = malloc((size_t)world * sizeof *counts);
    displs = malloc((size_t)world * sizeof *displs);
    all = malloc((size_t)(total[1] > 0 ? total[1] : 1) * sizeof *all);
    if (!counts || !displs || !all)
      rc = ibx_fail(IBX_ERR_NOMEM, "interpret: out of memory gathering cosines");
  }
  if ((rc = ibx_dist_agree(comm, rc))) { /* nobody waits on a failed rank 0 */
    free(counts), free(displs), free(all);
    return rc;
  }
  MPI_Gather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
  for (int q = 0; rank == 0 && q < world; q++)
    displs[q] = q ? displs[q - 1] + counts[q - 1] : 0;
  MPI_Gatherv(r->cosine, count, MPI_FLOAT, all, counts, displs, MPI_FLOAT, 0, comm);
  free(r->cosine), free(counts), free(displs);
  r->cosine = all;
  if (rank == 0)
    qsort(all, (size_t)total[1], sizeof *all, cmp_float);
  r->n_total = total[0], r->n_prediction_consistent = total[1];
  r->n_attention_consistent = total[2];
  return IBX_OK;
}

static void param_name(const ibx_interpret_result *r, char *buf, size_t len) {
  const int spatial = r->kind == IBX_MOD_COLOR_BLOCK || r->kind == IBX_MOD_PATCH;
  snprintf(buf, len, "%c%g", spatial ? 'p' : 'r', r->param);
}

typedef struct {
  const eval_opts *o;
  const ibx_eval_run *run;
  const char *label, *patches;
  ibx_interpret_result *res;
  int n;
  char (*groups)[160];
} interpret_write;

static int write_interpret(ibx_h5 *f, void *ctx) {
  const interpret_write *w = ctx;
  for (int k = 0; k < w->n; k++) {
    const ibx_interpret_result *r = &w->res[k];
    const char *g = w->groups[k];
    IBX_TRY(ibx_results_group(f, g));
    IBX_TRY(ibx_h5_write_attr_f64(f, g, "score", ibx_interpret_score(r)));
    IBX_TRY(ibx_h5_write_attr_i64(f, g, "n_prediction_consistent", r->n_prediction_consistent));
    IBX_TRY(ibx_h5_write_attr_i64(f, g, "n_total", r->n_total));
    IBX_TRY(ibx_h5_write_attr_f64(f, g, "threshold", w->o->threshold));
    IBX_TRY(ibx_h5_write_attr_i64(f, g, "seed", (int64_t)w->o->seed));
    IBX_TRY(ibx_h5_write_attr_i64(f, g, "n_attention_consistent", r->n_attention_consistent));
    IBX_TRY(ibx_h5_write_attr_str(f, g, "map_norm",
                                  w->o->norm == IBX_MAP_NORM_L2 ? "l2" : "minmax"));
    IBX_TRY(ibx_h5_write_attr_i64(f, g, "attention_map", w->run->attention_map));
    IBX_TRY(ibx_h5_write_attr_str(f, g, "dataset", w->label));
    IBX_TRY(ibx_h5_write_attr_str(f, g, "checkpoint", w->run->ckpt));
    if (r->kind == IBX_MOD_PATCH)
      IBX_TRY(ibx_h5_write_attr_str(f, g, "patch_source", w->patches));
    char name[200];
    snprintf(name, sizeof name, "%s/cosine", g);
    const int64_t dim = r->n_prediction_consistent;
    IBX_TRY(ibx_h5_write_f32(f, name, 1, &dim, r->cosine));
  }
  return IBX_OK;
}

/* Table 2's layout: spatial rows by window, frequency rows by radius. */
static void print_table(const eval_opts *o, const ibx_eval_run *run, const char *label,
                        const ibx_interpret_result *res, int n) {
  printf("interpretability score (%%): %s, head %s, %s, threshold %g (%s), seed %llu\n",
         run->ckpt, ibx_model_config_of(run->model)->head, label, o->threshold,
         o->norm == IBX_MAP_NORM_L2 ? "l2" : "minmax", (unsigned long long)o->seed);
  for (int kind = 0; kind < IBX_MOD_COUNT; kind++) {
    int first = 1;
    for (int k = 0; k < n; k++) {
      if (res[k].kind != (ibx_mod_kind)kind)
        continue;
      char p[32];
      param_name(&res[k], p, sizeof p);
      if (first)
        printf("  %-12s", ibx_mod_name(res[k].kind));
      const char *what = kind == IBX_MOD_HIGH_PASS ? "r>=" : kind == IBX_MOD_LOW_PASS ? "r<" : "p=";
      printf("  %s%-3s %6.2f", what, p + 1, ibx_interpret_score(&res[k]));
      first = 0;
    }
    if (!first)
      printf("\n");
  }
  printf("  (prediction-consistent / total:");
  for (int k = 0; k < n; k++) {
    char p[32];
    param_name(&res[k], p, sizeof p);
    printf(" %s/%s %ld/%ld", ibx_mod_name(res[k].kind), p, res[k].n_prediction_consistent,
           res[k].n_total);
  }
  printf(")\n");
}

static int run_local(MPI_Comm comm, const eval_opts *o, ibx_eval_run *run, ibx_dataset **ds,
                     ibx_dataset **patches, char *label, ibx_interpret_result *res, int *n_res) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  IBX_TRY(check_mods(o));
  IBX_TRY(ibx_eval_open(o->ckpt[0], o->batch, run));
  run->attention_map = o->map;
  if (o->skip_without_attention && ibx_model_attention_count(run->model) == 0)
    return IBX_OK; /* *n_res stays 0: the caller says so and writes nothing */
  ibx_attn_model m;
  IBX_TRY(ibx_eval_attn_model(run, &m));
  IBX_TRY(ibx_eval_open_data(run, &o->data, ds, label, 128));
  *n_res = list_mods(o, res);
  if (!*n_res)
    return ibx_fail(IBX_ERR_ARG, "interpret: no modification selected (--mods)");
  if (wanted(o, IBX_MOD_PATCH))
    IBX_TRY(eval_open_patches(run, o, patches));
  long n = ibx_dataset_count(*ds);
  if (o->limit > 0 && o->limit < n)
    n = o->limit;
  long *mine = malloc((size_t)(n / world + 1) * sizeof *mine), count = 0;
  if (!mine)
    return ibx_fail(IBX_ERR_NOMEM, "interpret: out of memory");
  for (long i = rank; i < n; i += world)
    mine[count++] = i;
  const ibx_patch_source src = {*patches, eval_patch_other_class(run, o)};
  const ibx_interpret_options io = {o->seed, o->threshold, o->norm, *patches ? &src : NULL};
  canvas_ctx cc = {run, *ds};
  const int rc = ibx_interpret_run(&m, read_canvas, &cc, run->in_c, run->in_h, run->in_w, mine,
                                   count, &io, res, *n_res, 1);
  free(mine);
  return rc;
}

int eval_cmd_interpret(MPI_Comm comm, const eval_opts *o) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  ibx_eval_run run;
  memset(&run, 0, sizeof run);
  ibx_dataset *ds = NULL, *patches = NULL;
  char label[128] = "";
  static ibx_interpret_result res[MAX_MODS];
  int n = 0;
  int rc = ibx_dist_agree(comm, run_local(comm, o, &run, &ds, &patches, label, res, &n));
  if (!rc && n == 0) { /* --skip-without-attention on a model without attention */
    if (rank == 0)
      printf("%s: head '%s' has no attention map: nothing to score (--skip-without-attention)\n",
             run.ckpt, ibx_model_config_of(run.model)->head);
    ibx_eval_close(&run);
    return IBX_OK;
  }
  for (int k = 0; !rc && k < n; k++)
    rc = ibx_dist_agree(comm, reduce(comm, &res[k]));
  if (!rc && rank == 0) {
    static char groups[MAX_MODS][160];
    const char *replace[MAX_MODS];
    for (int k = 0; k < n; k++) {
      char p[32];
      param_name(&res[k], p, sizeof p);
      snprintf(groups[k], sizeof groups[k], "/interpret/%s/%s", ibx_mod_name(res[k].kind), p);
      replace[k] = groups[k];
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/interpret.h5", run.results);
    interpret_write w = {o, &run, label, patches ? ibx_dataset_name(patches) : "", res, n,
                         groups};
    rc = ibx_results_update(path, replace, n, write_interpret, &w);
    if (!rc) {
      print_table(o, &run, label, res, n);
      printf("written %s\n", path);
    }
  }
  rc = ibx_dist_agree(comm, rc);
  for (int k = 0; k < n; k++)
    free(res[k].cosine);
  ibx_dataset_close(ds);
  ibx_dataset_close(patches);
  ibx_eval_close(&run);
  return rc;
}
