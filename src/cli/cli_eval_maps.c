/* ibx eval maps: PNG grids of inputs with attention maps (Figure 3 style:
 * original and modified inputs; Figure 5 style: samples the first run gets
 * wrong and the second right), plus a caption file FILE.txt. Rank 0 only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_eval.h"
#include "ibx/dist.h"
#include "ibx/error.h"

#define DEFAULT_ROWS "original,color_block:8,patch:8,high_pass:4,low_pass:12"

static int parse_rows(const char *text, ibx_maps_row *rows, int cap, int *n) {
  char copy[512];
  snprintf(copy, sizeof copy, "%s", text);
  *n = 0;
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (*n >= cap)
      return ibx_fail(IBX_ERR_ARG, "--rows: more than %d rows", cap);
    ibx_maps_row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    if (!strcmp(t, "original")) {
      r->original = 1;
      continue;
    }
    char *colon = strchr(t, ':');
    if (!colon)
      return ibx_fail(IBX_ERR_ARG, "--rows: '%s' is not original or KIND:PARAM", t);
    *colon = '\0';
    IBX_TRY(ibx_mod_parse(t, &r->kind));
    char *end;
    r->param = strtod(colon + 1, &end);
    if (end == colon + 1 || *end || r->param < 0)
      return ibx_fail(IBX_ERR_ARG, "--rows: bad parameter '%s' for %s", colon + 1, t);
  }
  return *n ? IBX_OK : ibx_fail(IBX_ERR_ARG, "--rows: empty");
}

static int uses_patches(const ibx_maps_row *rows, int n) {
  for (int k = 0; k < n; k++)
    if (!rows[k].original && rows[k].kind == IBX_MOD_PATCH)
      return 1;
  return 0;
}

static int write_caption(const char *png, ibx_eval_run *const *runs, int n_runs,
                         const ibx_dataset *ds, const char *label, const long *samples,
                         const int *truth, const int *wrong_pred, int n, const char *rows,
                         int per_row) {
  char path[4200];
  snprintf(path, sizeof path, "%s", png);
  char *dot = strrchr(path, '.');
  if (dot && !strcmp(dot, ".png"))
    *dot = '\0';
  strcat(path, ".txt");
  FILE *f = fopen(path, "w");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write the caption", path);
  fprintf(f, "%s: %s layout, dataset %s\ncolumns of each group: input", png,
          per_row ? "Figure 5 (one row per sample)" : "Figure 3 (one row per modification)",
          label);
  for (int r = 0; r < n_runs; r++)
    fprintf(f, " | attention of run %d (head %s, %s)", r + 1,
            ibx_model_config_of(runs[r]->model)->head, runs[r]->ckpt);
  fprintf(f, "\nrows: %s\nsamples (%s):\n", rows, per_row ? "top to bottom" : "left to right");
  for (int s = 0; s < n; s++) {
    fprintf(f, "  %ld: true %s", samples[s], ibx_dataset_class_name(ds, truth[s]));
    if (wrong_pred)
      fprintf(f, ", first run predicted %s, second run right",
              ibx_dataset_class_name(ds, wrong_pred[s]));
    fprintf(f, "\n");
  }
  return fclose(f) ? ibx_fail(IBX_ERR_IO, "%s: write failed", path) : IBX_OK;
}

static int maps_local(const eval_opts *o, ibx_eval_run *runs, int *opened, ibx_dataset **ds,
                      ibx_dataset **patches) {
  if (!o->out)
    return ibx_fail(IBX_ERR_ARG, "maps: --out FILE.png is required");
  if (o->select && o->n_ckpt != 2)
    return ibx_fail(IBX_ERR_ARG, "maps: --select disagreement needs exactly two --ckpt runs");
  ibx_maps_row rows[16];
  int n_rows;
  const char *row_text = o->rows ? o->rows : o->select ? "original" : DEFAULT_ROWS;
  IBX_TRY(parse_rows(row_text, rows, 16, &n_rows));
  ibx_eval_run *ptr[EVAL_MAX_RUNS];
  for (int r = 0; r < o->n_ckpt; r++) {
    IBX_TRY(ibx_eval_open(o->ckpt[r], o->batch, &runs[r]));
    ++*opened;
    runs[r].attention_map = o->map;
    ptr[r] = &runs[r];
  }
  for (int r = 0; r < o->n_ckpt; r++)
    if (o->skip_without_attention && ibx_model_attention_count(runs[r].model) == 0) {
      printf("%s: head '%s' has no attention map: no picture (--skip-without-attention)\n",
             runs[r].ckpt, ibx_model_config_of(runs[r].model)->head);
      return IBX_OK;
    }
  char label[128];
  IBX_TRY(ibx_eval_open_data(&runs[0], &o->data, ds, label, sizeof label));
  if (uses_patches(rows, n_rows))
    IBX_TRY(eval_open_patches(&runs[0], o, patches));
  long samples[EVAL_MAX_LIST];
  int truth[EVAL_MAX_LIST], wrong[EVAL_MAX_LIST], n = 0;
  if (o->select) {
    IBX_TRY(ibx_maps_select_disagreement(ptr[0], ptr[1], *ds, o->limit, samples, truth, wrong,
                                         o->count, &n));
    if (!n)
      return ibx_fail(IBX_ERR_ARG, "maps: no sample that %s gets wrong and %s right",
                      runs[0].ckpt, runs[1].ckpt);
  } else {
    n = o->n_samples ? o->n_samples : 4;
    for (int s = 0; s < n; s++) {
      samples[s] = o->n_samples ? o->samples[s] : s;
      if (samples[s] < 0 || samples[s] >= ibx_dataset_count(*ds))
        return ibx_fail(IBX_ERR_ARG, "maps: sample %ld outside 0..%ld of %s", samples[s],
                        ibx_dataset_count(*ds) - 1, ibx_dataset_name(*ds));
      IBX_TRY(ibx_dataset_read(*ds, samples[s], NULL, &truth[s]));
    }
  }
  const ibx_patch_source src = {*patches, eval_patch_other_class(&runs[0], o)};
  const ibx_interpret_options io = {o->seed, o->threshold, o->norm, *patches ? &src : NULL};
  IBX_TRY(ibx_maps_grid(ptr, o->n_ckpt, *ds, samples, n, rows, n_rows, &io, o->scale, o->select,
                        o->out));
  IBX_TRY(write_caption(o->out, ptr, o->n_ckpt, *ds, label, samples, truth,
                        o->select ? wrong : NULL, n, row_text, o->select));
  printf("written %s (%d sample(s), %d row(s), %d model(s)) and its caption\n", o->out, n,
         n_rows, o->n_ckpt);
  return IBX_OK;
}

int eval_cmd_maps(MPI_Comm comm, const eval_opts *o) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = IBX_OK;
  if (rank == 0) {
    static ibx_eval_run runs[EVAL_MAX_RUNS];
    ibx_dataset *ds = NULL, *patches = NULL;
    int opened = 0;
    rc = maps_local(o, runs, &opened, &ds, &patches);
    ibx_dataset_close(ds);
    ibx_dataset_close(patches);
    for (int r = 0; r < opened; r++)
      ibx_eval_close(&runs[r]);
  }
  return ibx_dist_agree(comm, rc);
}
