/* ibx collect: the table cells, layouts and ablation curves shared by the
 * Markdown/CSV/LaTeX writer (collect_write.c) and the HTML report. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collect_internal.h"
#include "ibx/model.h"
#include "sweep_internal.h"

const char *const ibx_collect_iba_metric[IBX_COLLECT_IBA_METRICS] = {"deg 8x8", "deg 14x14",
                                                                     "bbox"};

int ibx_collect_cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs of digits compare by value, so that p4 comes before p12 (HDF5 lists
 * groups alphabetically: p12 before p4). */
int ibx_collect_cmp_natural(const void *pa, const void *pb) {
  const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
  while (*a && *b) {
    if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
      char *ea, *eb;
      const unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
      if (x != y)
        return x < y ? -1 : 1;
      a = ea, b = eb;
    } else {
      if (*a != *b)
        return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
      a++, b++;
    }
  }
  return (unsigned char)*a - (unsigned char)*b;
}

int ibx_collect_distinct(const ibx_collect_data *d, const char *table, int field,
                         const char ***out) {
  const char **list = malloc((size_t)(d->n_values + 1) * sizeof *list);
  *out = list;
  if (!list)
    return -1;
  int n = 0;
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    if (strcmp(v->table, table))
      continue;
    const char *s = field ? v->col : v->row;
    int seen = 0;
    for (int k = 0; k < n && !seen; k++)
      seen = !strcmp(list[k], s);
    if (!seen)
      list[n++] = s;
  }
  return n;
}

static int in_cell(const ibx_collect_value *v, const char *table, const char *row,
                   const char *col) {
  return !strcmp(v->table, table) && !strcmp(v->row, row) && !strcmp(v->col, col);
}

ibx_collect_cell ibx_collect_stats(const ibx_collect_data *d, const char *table, const char *row,
                                   const char *col) {
  ibx_collect_cell c;
  memset(&c, 0, sizeof c);
  double sum = 0, sq = 0;
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    if (!in_cell(v, table, row, col))
      continue;
    c.n++, sum += v->value;
    if (c.n_listed < IBX_COLLECT_CELL_RUNS)
      c.runs[c.n_listed++] = v->run;
  }
  if (!c.n)
    return c;
  c.mean = sum / c.n;
  for (int i = 0; i < d->n_values; i++)
    if (in_cell(&d->values[i], table, row, col))
      sq += (d->values[i].value - c.mean) * (d->values[i].value - c.mean);
  c.std = c.n > 1 ? sqrt(sq / (c.n - 1)) : 0;
  return c;
}

int ibx_collect_aib_layout(const ibx_collect_data *d, const char *table, const char ***rows,
                           const char ***cols, int *n_cols) {
  const int n_rows = ibx_collect_distinct(d, table, 0, rows);
  *n_cols = ibx_collect_distinct(d, table, 1, cols);
  if (n_rows < 0 || *n_cols < 0)
    return -1;
  qsort(*rows, (size_t)n_rows, sizeof **rows, ibx_collect_cmp_str);
  if (!strcmp(table, "aib_table2")) /* Table 1 keeps the evaluation sets in run order */
    qsort(*cols, (size_t)*n_cols, sizeof **cols, ibx_collect_cmp_natural);
  return n_rows;
}

/* The metric part of an IBA column ("<label>: deg 8x8" -> "deg 8x8"). */
static const char *iba_metric_of(const ibx_collect_data *d, const ibx_collect_value *v) {
  const size_t n = strlen(d->runs[v->run].label);
  return strncmp(v->col, d->runs[v->run].label, n) || strncmp(v->col + n, ": ", 2)
             ? v->col
             : v->col + n + 2;
}

int ibx_collect_iba_metric_applies(const ibx_collect_data *d, int m) {
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    if (!strcmp(v->table, "iba_table1") && !isnan(v->value) &&
        !strcmp(iba_metric_of(d, v), ibx_collect_iba_metric[m]))
      return 1;
  }
  return 0;
}

int ibx_collect_iba_layout(const ibx_collect_data *d, const char ***models, const char ***methods,
                           int *n_methods) {
  *n_methods = ibx_collect_distinct(d, "iba_table1", 0, methods);
  const char **list = malloc((size_t)(d->n_values + 1) * sizeof *list);
  *models = list;
  if (*n_methods < 0 || !list)
    return -1;
  int n = 0;
  for (int i = 0; i < d->n_values; i++) {
    if (strcmp(d->values[i].table, "iba_table1"))
      continue;
    const char *label = d->runs[d->values[i].run].label;
    int seen = 0;
    for (int k = 0; k < n && !seen; k++)
      seen = !strcmp(list[k], label);
    if (!seen)
      list[n++] = label;
  }
  qsort(list, (size_t)n, sizeof *list, ibx_collect_cmp_str);
  return n;
}

void ibx_collect_iba_column(const char *model, int m, char *out, size_t len) {
  ibx_sw_fmt(out, len, "%s: %s", model, ibx_collect_iba_metric[m]);
}

/* The label of run r without " key=value": the curve it belongs to. */
static void curve_of(const ibx_collect_data *d, int r, int k, char *out, size_t len) {
  const ibx_config *c = &d->runs[r].config;
  char drop[IBX_CFG_MAX_STRING + 96];
  ibx_sw_fmt(drop, sizeof drop, " %s=%s", c->values[k].key->key, c->values[k].text);
  ibx_sw_fmt(out, len, "%s", d->runs[r].label);
  char *at = strstr(out, drop);
  if (at)
    memmove(at, at + strlen(drop), strlen(at + strlen(drop)) + 1);
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The value's run, when it is a top-1 error on the run's own test set. */
static int test_error_run(const ibx_collect_data *d, const ibx_collect_value *v) {
  char test_col[96];
  ibx_sw_fmt(test_col, sizeof test_col, "%s-test", d->runs[v->run].dataset);
  return !strcmp(v->table, "aib_table1") && !strcmp(v->col, test_col);
}

static void fill_curve(const ibx_collect_data *d, int k, ibx_collect_curve *cv) {
  double xs[IBX_COLLECT_CURVE_POINTS];
  int n_x = 0;
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    char name[IBX_SWEEP_TEXT];
    curve_of(d, v->run, k, name, sizeof name);
    if (!test_error_run(d, v) || strcmp(name, cv->name))
      continue;
    const double x = cv->uses_key ? d->runs[v->run].config.values[k].f : 0.0;
    int seen = 0;
    for (int j = 0; j < n_x && !seen; j++)
      seen = xs[j] == x;
    if (!seen && n_x < IBX_COLLECT_CURVE_POINTS)
      xs[n_x++] = x;
  }
  qsort(xs, (size_t)n_x, sizeof *xs, cmp_double);
  cv->n = n_x;
  for (int j = 0; j < n_x; j++) {
    double sum = 0, sq = 0;
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i < d->n_values; i++) {
        const ibx_collect_value *v = &d->values[i];
        char name[IBX_SWEEP_TEXT];
        curve_of(d, v->run, k, name, sizeof name);
        const double x = cv->uses_key ? d->runs[v->run].config.values[k].f : 0.0;
        if (!test_error_run(d, v) || strcmp(name, cv->name) || x != xs[j])
          continue;
        if (pass == 0)
          sum += v->value, n++;
        else
          sq += (v->value - sum / n) * (v->value - sum / n);
      }
    cv->x[j] = xs[j], cv->mean[j] = sum / n, cv->std[j] = n > 1 ? sqrt(sq / (n - 1)) : 0.0;
    cv->count[j] = n;
  }
}

int ibx_collect_ablation(const ibx_collect_data *d, int k, ibx_collect_curve *curves, int cap,
                         int *points) {
  const char *key = d->runs[0].config.values[k].key->key;
  int n = 0;
  *points = 0;
  for (int r = 0; r < d->n_runs; r++) { /* curves in run order */
    char name[IBX_SWEEP_TEXT];
    curve_of(d, r, k, name, sizeof name);
    int seen = 0;
    for (int i = 0; i < n && !seen; i++)
      seen = !strcmp(curves[i].name, name);
    if (seen || n == cap)
      continue;
    ibx_collect_curve *cv = &curves[n++];
    memset(cv, 0, sizeof *cv);
    ibx_sw_fmt(cv->name, sizeof cv->name, "%s", name);
    cv->uses_key = ibx_model_head_uses_key(d->runs[r].settings.model.head, key);
  }
  for (int i = 0; i < n; i++) {
    fill_curve(d, k, &curves[i]);
    if (curves[i].uses_key)
      *points += curves[i].n;
  }
  return n;
}
