/* ibx collect, reading side: run directories -> one record per number. */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collect_internal.h"
#include "ibx/error.h"
#include "ibx/h5io.h"
#include "ibx/metrics.h"
#include "sweep_internal.h"

static int add_value(ibx_collect_data *d, const char *table, const char *row, const char *col,
                     double v, int run, const char *file) {
  if (d->n_values == d->cap_values) {
    int cap = d->cap_values ? 2 * d->cap_values : 256;
    ibx_collect_value *b = realloc(d->values, (size_t)cap * sizeof *b);
    if (!b)
      return ibx_fail(IBX_ERR_NOMEM, "collect: out of memory");
    d->values = b, d->cap_values = cap;
  }
  ibx_collect_value *x = &d->values[d->n_values++];
  memset(x, 0, sizeof *x);
  ibx_sw_fmt(x->table, sizeof x->table, "%s", table);
  ibx_sw_fmt(x->row, sizeof x->row, "%s", row);
  ibx_sw_fmt(x->col, sizeof x->col, "%s", col);
  ibx_sw_fmt(x->file, sizeof x->file, "%s", file);
  x->value = v, x->run = run;
  return IBX_OK;
}

static void problem(ibx_collect_data *d, FILE *report, const char *fmt, const char *a,
                    const char *b) {
  d->n_problems++;
  if (report)
    fprintf(report, fmt, a, b), fputc('\n', report);
}

typedef struct {
  char names[64][64];
  int n;
} name_list;

static herr_t on_link(hid_t g, const char *name, const H5L_info_t *info, void *ctx) {
  (void)g, (void)info;
  name_list *l = ctx;
  if (l->n < 64)
    ibx_sw_fmt(l->names[l->n++], sizeof l->names[0], "%s", name);
  return 0;
}

/* Members of group path in an open file (by name order). */
static int list_group(const ibx_h5 *f, const char *path, name_list *l) {
  l->n = 0;
  hid_t g = H5Gopen2((hid_t)f->id, path, H5P_DEFAULT);
  if (g < 0)
    return ibx_fail(IBX_ERR_FORMAT, "%s: no group %s", f->path, path);
  hsize_t idx = 0;
  herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, on_link, l);
  H5Gclose(g);
  return rc < 0 ? ibx_fail(IBX_ERR_FORMAT, "%s: cannot list %s", f->path, path) : IBX_OK;
}

/* results/<name>.h5 of run r: absent -> 0, readable -> 1 with f open, bad -> -1. */
static int open_result(ibx_collect_data *d, int r, const char *name, ibx_h5 *f, char *path,
                       size_t len, FILE *report) {
  ibx_sw_fmt(path, len, "%s/results/%s.h5", d->runs[r].dir, name);
  struct stat sb;
  if (stat(path, &sb))
    return 0;
  if (!ibx_sw_h5_ok(path) || ibx_h5_open(f, path)) {
    problem(d, report, "collect: %s: not a readable HDF5 file (skipped): %s", path,
            ibx_errmsg()[0] ? ibx_errmsg() : "corrupt");
    return -1;
  }
  return 1;
}

static int read_errors(ibx_collect_data *d, int r, FILE *report) {
  ibx_collect_run *run = &d->runs[r];
  char path[IBX_SWEEP_TEXT + 64];
  ibx_h5 f;
  int st = open_result(d, r, "error", &f, path, sizeof path, report);
  if (st > 0) {
    name_list l;
    int rc = list_group(&f, "/error", &l);
    for (int i = 0; !rc && i < l.n; i++) {
      char obj[128];
      double v;
      ibx_sw_fmt(obj, sizeof obj, "/error/%s", l.names[i]);
      if (ibx_h5_read_attr_f64(&f, obj, "top1_error", &v))
        problem(d, report, "collect: %s: %s", path, ibx_errmsg());
      else
        rc = add_value(d, "aib_table1", run->label, l.names[i], v, r, path);
    }
    if (rc == IBX_ERR_FORMAT)
      problem(d, report, "collect: %s: %s", path, ibx_errmsg()), rc = IBX_OK;
    ibx_h5_close(&f);
    return rc;
  }
  if (st < 0)
    return IBX_OK;
  /* no evaluation yet: the trainer's own last test error (percent; a fraction
   * in files from before, see ibx_metrics_error_scale) */
  ibx_sw_fmt(path, sizeof path, "%s/metrics.h5", run->dir);
  double *col = NULL;
  long n = 0;
  struct stat sb;
  if (stat(path, &sb)) {
    problem(d, report, "collect: %s: no results/error.h5 and no metrics.h5 (not trained yet?)",
            run->dir, "");
    return IBX_OK;
  }
  if (!ibx_sw_h5_ok(path) || ibx_metrics_read_column(path, "epoch/test_error", &col, &n)) {
    problem(d, report, "collect: %s: not a readable metrics file (skipped) %s", path, "");
    free(col);
    return IBX_OK;
  }
  long last = n - 1;
  while (last >= 0 && isnan(col[last]))
    last--;
  int rc = IBX_OK;
  if (last < 0)
    problem(d, report, "collect: %s: no test error recorded yet%s", path, "");
  else {
    char name[96];
    ibx_sw_fmt(name, sizeof name, "%s-test", run->dataset);
    rc = add_value(d, "aib_table1", run->label, name, ibx_metrics_error_scale(path) * col[last],
                   r, path);
  }
  free(col);
  return rc;
}

static int read_interpret(ibx_collect_data *d, int r, FILE *report) {
  char path[IBX_SWEEP_TEXT + 64];
  ibx_h5 f;
  if (open_result(d, r, "interpret", &f, path, sizeof path, report) <= 0)
    return IBX_OK;
  name_list mods;
  int rc = list_group(&f, "/interpret", &mods);
  for (int m = 0; !rc && m < mods.n; m++) {
    char obj[256];
    name_list params;
    ibx_sw_fmt(obj, sizeof obj, "/interpret/%s", mods.names[m]);
    rc = list_group(&f, obj, &params);
    for (int p = 0; !rc && p < params.n; p++) {
      char leaf[320], col[160];
      double v;
      ibx_sw_fmt(leaf, sizeof leaf, "%s/%s", obj, params.names[p]);
      ibx_sw_fmt(col, sizeof col, "%s %s", mods.names[m], params.names[p]);
      if (ibx_h5_read_attr_f64(&f, leaf, "score", &v))
        problem(d, report, "collect: %s: %s", path, ibx_errmsg());
      else
        rc = add_value(d, "aib_table2", d->runs[r].label, col, v, r, path);
    }
  }
  if (rc == IBX_ERR_FORMAT)
    problem(d, report, "collect: %s: %s", path, ibx_errmsg()), rc = IBX_OK;
  ibx_h5_close(&f);
  return rc;
}

/* The method tables of results/attribution.h5: for each method under
 * group, its attributes attrs[] as columns "<run label>: shown[]" of table.
 * Image runs fill IBA Table 1 from /attribution; text runs the text-IBA
 * table from /text_attribution/delete (MoRF area, LeRF area, score,
 * accuracy after 50 % deleted). */
typedef struct {
  const char *group, *table;
  int n;
  const char *attrs[4], *shown[4];
} method_table;

static const method_table attribution_tables[] = {
    {"/attribution", "iba_table1", 3,
     {"degradation_8", "degradation_14", "bbox_ratio"}, {"deg 8x8", "deg 14x14", "bbox"}},
    {"/text_attribution/delete", "text_iba", 4,
     {"morf_area", "lerf_area", "score", "morf_acc_50"},
     {"MoRF area", "LeRF area", "score", "acc 50% MoRF"}}};

static int read_method_table(ibx_collect_data *d, int r, FILE *report, ibx_h5 *f,
                             const char *path, const method_table *t) {
  if (!ibx_h5_exists(f, t->group))
    return IBX_OK;
  name_list methods;
  methods.n = 0;
  int rc = list_group(f, t->group, &methods);
  for (int m = 0; !rc && m < methods.n; m++)
    for (int a = 0; !rc && a < t->n; a++) {
      char obj[128], col[IBX_SWEEP_TEXT + 32];
      double v;
      ibx_sw_fmt(obj, sizeof obj, "%s/%s", t->group, methods.names[m]);
      ibx_sw_fmt(col, sizeof col, "%s: %s", d->runs[r].label, t->shown[a]);
      if (ibx_h5_read_attr_f64(f, obj, t->attrs[a], &v))
        problem(d, report, "collect: %s: %s", path, ibx_errmsg());
      else
        rc = add_value(d, t->table, methods.names[m], col, v, r, path);
    }
  return rc;
}

static int read_attribution(ibx_collect_data *d, int r, FILE *report) {
  char path[IBX_SWEEP_TEXT + 64];
  ibx_h5 f;
  if (open_result(d, r, "attribution", &f, path, sizeof path, report) <= 0)
    return IBX_OK;
  int rc = IBX_OK;
  for (size_t t = 0; !rc && t < sizeof attribution_tables / sizeof attribution_tables[0]; t++)
    rc = read_method_table(d, r, report, &f, path, &attribution_tables[t]);
  if (rc == IBX_ERR_FORMAT)
    problem(d, report, "collect: %s: %s", path, ibx_errmsg()), rc = IBX_OK;
  ibx_h5_close(&f);
  return rc;
}

static int by_dir(const void *a, const void *b) {
  return strcmp(((const ibx_collect_run *)a)->dir, ((const ibx_collect_run *)b)->dir);
}

static int same_model(const ibx_run_config *a, const ibx_run_config *b) {
  return !strcmp(a->model.backbone, b->model.backbone) && !strcmp(a->model.head, b->model.head);
}

/* Keys that differ between runs make the row labels (seed excepted: the
 * runs that differ only in seed are averaged; data.* names the columns). */
static void make_labels(ibx_collect_data *d) {
  if (!d->n_runs)
    return;
  const int n_keys = d->runs[0].config.count;
  for (int r = 0; r < d->n_runs; r++) {
    const ibx_config *c = &d->runs[r].config;
    const ibx_model_settings *ms = &d->runs[r].settings.model;
    const int tf = !strcmp(ms->backbone, "transformer");
    size_t used = (size_t)ibx_sw_fmt(d->runs[r].label, sizeof d->runs[r].label, "%s%s%s",
                                     ms->backbone, tf ? "" : "-", tf ? "" : ms->head);
    for (int k = 0; k < n_keys; k++) {
      const ibx_cfg_key *key = c->values[k].key;
      if (!strcmp(key->section, "output") || !strcmp(key->section, "data") ||
          !strcmp(key->key, "seed") || !strcmp(key->key, "backbone") || !strcmp(key->key, "head"))
        continue;
      /* shown when it varies among the runs of this model: beta for aib
       * rows, Q for aib-qt rows, neither for plain */
      int varies = 0, varies_here = 0;
      for (int o = 0; o < d->n_runs; o++) {
        const ibx_config *oc = &d->runs[o].config;
        const int differs = strcmp(oc->values[k].text, c->values[k].text) != 0;
        varies |= differs;
        varies_here |= differs && same_model(&d->runs[r].settings, &d->runs[o].settings);
      }
      if (varies_here && used < sizeof d->runs[r].label)
        used += (size_t)ibx_sw_fmt(d->runs[r].label + used, sizeof d->runs[r].label - used,
                                   " %s=%s", key->key, c->values[k].text);
      if (varies)
        d->varies[k] = 1;
    }
  }
}

/* The run directory path (config in ini) as run n_runs of d. */
static int add_run(ibx_collect_data *d, int *cap, const char *path, const char *id,
                   const char *ini, FILE *report) {
  if (d->n_runs == *cap) {
    ibx_collect_run *b = realloc(d->runs, (size_t)(*cap = *cap ? 2 * *cap : 32) * sizeof *b);
    if (!b)
      return ibx_fail(IBX_ERR_NOMEM, "collect: out of memory");
    d->runs = b;
  }
  ibx_collect_run *run = &d->runs[d->n_runs];
  memset(run, 0, sizeof *run);
  ibx_sw_fmt(run->dir, sizeof run->dir, "%s", path);
  ibx_sw_fmt(run->id, sizeof run->id, "%s", id);
  ibx_config_init(&run->config);
  if (ibx_config_load(&run->config, ini) || ibx_run_config_resolve(&run->config, &run->settings)) {
    problem(d, report, "collect: %s (skipped)%s", ibx_errmsg(), "");
    ibx_config_free(&run->config);
    return IBX_OK;
  }
  ibx_sw_fmt(run->dataset, sizeof run->dataset, "%s", run->settings.data.dataset);
  d->n_runs++;
  return IBX_OK;
}

/* run.ini (the sweep's) or config.ini (the trainer's) of a run directory. */
static int run_ini(const char *path, char *ini, size_t len) {
  struct stat sb;
  ibx_sw_fmt(ini, len, "%s/run.ini", path);
  if (!stat(ini, &sb))
    return 1;
  ibx_sw_fmt(ini, len, "%s/config.ini", path);
  return !stat(ini, &sb);
}

int ibx_collect_read(const char *sweep_dir, FILE *report, ibx_collect_data *d) {
  memset(d, 0, sizeof *d);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int cap = 0, rc = IBX_OK, ignored = 0;
  char list_path[IBX_SWEEP_TEXT + 16];
  ibx_sw_fmt(list_path, sizeof list_path, "%s/runs.txt", sweep_dir);
  char own_ini[IBX_SWEEP_TEXT + 32];
  DIR *dir = NULL;
  if (run_ini(sweep_dir, own_ini, sizeof own_ini)) { /* a run directory: a sweep of one */
    char trimmed[IBX_SWEEP_TEXT];
    ibx_sw_fmt(trimmed, sizeof trimmed, "%s", sweep_dir);
    for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
      trimmed[n - 1] = '\0';
    const char *base = strrchr(trimmed, '/');
    char id[64];
    ibx_sw_fmt(id, sizeof id, "%s", base ? base + 1 : trimmed);
    rc = add_run(d, &cap, sweep_dir, id, own_ini, report);
  } else if (!(dir = opendir(sweep_dir)))
    return ibx_fail(IBX_ERR_IO, "%s: cannot open the sweep directory", sweep_dir);
  char *current = dir ? ibx_sw_read_file(list_path) : NULL; /* by ibx sweep; NULL: take all */
  char *wrapped = current ? malloc(strlen(current) + 2) : NULL; /* "\nid\nid\n" */
  if (wrapped)
    strcat(strcpy(wrapped, "\n"), current);
  free(current);
  for (struct dirent *e; dir && rc == IBX_OK && (e = readdir(dir));) {
    if (e->d_name[0] == '.')
      continue;
    char path[IBX_SWEEP_TEXT + 300], ini[IBX_SWEEP_TEXT + 320];
    ibx_sw_fmt(path, sizeof path, "%s/%s", sweep_dir, e->d_name);
    if (!run_ini(path, ini, sizeof ini))
      continue; /* logs/, slurm/, stages/, the tables */
    char needle[300];
    ibx_sw_fmt(needle, sizeof needle, "\n%s\n", e->d_name);
    if (wrapped && !strstr(wrapped, needle)) {
      ignored++; /* a run of an earlier version of the sweep file */
      continue;
    }
    rc = add_run(d, &cap, path, e->d_name, ini, report);
  }
  if (dir)
    closedir(dir);
  free(wrapped);
  if (ignored && report)
    fprintf(report, "collect: %d run directories not in %s left out (earlier versions of the "
                    "sweep)\n", ignored, list_path);
  if (rc)
    return rc;
  qsort(d->runs, (size_t)d->n_runs, sizeof *d->runs, by_dir);
  if (d->n_runs) {
    d->varies = calloc((size_t)d->runs[0].config.count, sizeof *d->varies);
    if (!d->varies)
      return ibx_fail(IBX_ERR_NOMEM, "collect: out of memory");
  }
  make_labels(d);
  for (int r = 0; r < d->n_runs && rc == IBX_OK; r++) {
    rc = read_errors(d, r, report);
    if (!rc)
      rc = read_interpret(d, r, report);
    if (!rc)
      rc = read_attribution(d, r, report);
  }
  return rc;
}

void ibx_collect_data_free(ibx_collect_data *d) {
  for (int r = 0; r < d->n_runs; r++)
    ibx_config_free(&d->runs[r].config);
  free(d->runs);
  free(d->values);
  free(d->varies);
  memset(d, 0, sizeof *d);
}
