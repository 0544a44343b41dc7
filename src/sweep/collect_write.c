/* ibx collect, writing side: tables (Markdown, CSV, LaTeX) and ablation
 * plots (gnuplot -> PNG). Every cell keeps the ids of the runs behind it. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_internal.h"
#include "ibx/error.h"
#include "sweep_internal.h"

typedef struct {
  const char *name, *title, *row_head, *format;
  int sort_rows; /* model rows sorted (beta=0.001 before 0.01); methods as written */
} table_kind;

static const table_kind kinds[] = {
    {"aib_table1", "AIB Table 1: top-1 error (%)", "model", "%.2f", 1},
    {"aib_table2", "AIB Table 2: interpretability score (%)", "model", "%.2f", 1},
    {"iba_table1", "IBA Table 1: degradation (LeRF - MoRF area) and bounding-box ratio",
     "method", "%.3f", 0},
    {"text_iba", "Text IBA: token deletion (mean true-class probability areas, MoRF lower is "
     "better; score = normalised LeRF - MoRF area) and accuracy after 50 % of the tokens deleted "
     "most relevant first", "method", "%.3f", 0},
};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Natural order, so that columns read p4, p8, p12, p16 (HDF5 lists groups
 * alphabetically: p12 before p4): runs of digits compare by value. */
static int cmp_natural(const void *pa, const void *pb) {
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

typedef struct {
  double mean, std;
  int n;
  char runs[2048];
} cell;

/* Distinct values of field (0 row, 1 col) of table, in first-seen order. */
static int distinct(const ibx_collect_data *d, const char *table, int field, const char ***out) {
  const char **list = malloc((size_t)(d->n_values + 1) * sizeof *list);
  int n = 0;
  for (int i = 0; list && i < d->n_values; i++) {
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
  *out = list;
  return n;
}

static cell stats(const ibx_collect_data *d, const char *table, const char *row, const char *col) {
  cell c = {0};
  double sum = 0, sq = 0;
  size_t used = 0;
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    if (strcmp(v->table, table) || strcmp(v->row, row) || strcmp(v->col, col))
      continue;
    c.n++, sum += v->value;
    if (used < sizeof c.runs)
      used += (size_t)ibx_sw_fmt(c.runs + used, sizeof c.runs - used, "%s%s", used ? " " : "",
                                 d->runs[v->run].id);
  }
  if (!c.n)
    return c;
  c.mean = sum / c.n;
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    if (!strcmp(v->table, table) && !strcmp(v->row, row) && !strcmp(v->col, col))
      sq += (v->value - c.mean) * (v->value - c.mean);
  }
  c.std = c.n > 1 ? sqrt(sq / (c.n - 1)) : 0;
  return c;
}

static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++)
    *s == '"' ? fputs("\"\"", f) : fputc(*s, f);
  fputc('"', f);
}

static void tex_text(FILE *f, const char *s) {
  for (; *s; s++)
    if (strchr("_&%#$", *s))
      fprintf(f, "\\%c", *s);
    else
      fputc(*s, f);
}

static void cell_text(const table_kind *k, const cell *c, int tex, char *out, size_t len) {
  char mean[32], std[32];
  ibx_sw_fmt(mean, sizeof mean, k->format, c->mean);
  ibx_sw_fmt(std, sizeof std, k->format, c->std);
  if (!c->n)
    ibx_sw_fmt(out, len, "%s", tex ? "--" : "–");
  else if (c->n == 1)
    ibx_sw_fmt(out, len, "%s", mean);
  else
    ibx_sw_fmt(out, len, tex ? "$%s \\pm %s$" : "%s ± %s", mean, std);
}

static FILE *open_out(const char *dir, const char *name, const char *ext, char *path, size_t len) {
  ibx_sw_fmt(path, len, "%s/%s.%s", dir, name, ext);
  return fopen(path, "w");
}

/* One table in three formats; Markdown also to report. */
static int write_table(const ibx_collect_data *d, const table_kind *k, const char *out_dir,
                       FILE *report) {
  const char **rows, **cols;
  int n_rows = distinct(d, k->name, 0, &rows), n_cols = distinct(d, k->name, 1, &cols);
  int rc = IBX_OK;
  if (rows && k->sort_rows)
    qsort(rows, (size_t)n_rows, sizeof *rows, cmp_str);
  if (cols && !strcmp(k->name, "aib_table2")) /* other tables keep their run-grouped order */
    qsort(cols, (size_t)n_cols, sizeof *cols, cmp_natural);
  if (!rows || !cols || !n_rows) {
    free(rows), free(cols);
    return n_rows ? ibx_fail(IBX_ERR_NOMEM, "collect: out of memory") : 1;
  }
  char path[3][IBX_SWEEP_TEXT + 64];
  FILE *md = open_out(out_dir, k->name, "md", path[0], sizeof path[0]);
  FILE *csv = open_out(out_dir, k->name, "csv", path[1], sizeof path[1]);
  FILE *tex = open_out(out_dir, k->name, "tex", path[2], sizeof path[2]);
  if (!md || !csv || !tex) {
    rc = ibx_fail(IBX_ERR_IO, "%s: cannot write the tables", out_dir);
    goto out;
  }
  fprintf(md, "### %s\n\n| %s |", k->title, k->row_head);
  fprintf(csv, "%s,column,mean,std,n,runs\n", k->row_head);
  fprintf(tex, "%% %s (ibx collect; run ids per cell in %s.csv)\n\\begin{tabular}{l", k->title,
          k->name);
  for (int c = 0; c < n_cols; c++)
    fprintf(md, " %s |", cols[c]), fprintf(tex, "c");
  fprintf(md, "\n|---|");
  fprintf(tex, "}\n\\hline\n");
  tex_text(tex, k->row_head);
  for (int c = 0; c < n_cols; c++)
    fprintf(md, "---|"), fprintf(tex, " & "), tex_text(tex, cols[c]);
  fprintf(md, "\n");
  fprintf(tex, " \\\\\n\\hline\n");
  for (int r = 0; r < n_rows; r++) {
    fprintf(md, "| %s |", rows[r]);
    tex_text(tex, rows[r]);
    for (int c = 0; c < n_cols; c++) {
      cell x = stats(d, k->name, rows[r], cols[c]);
      char text[96];
      cell_text(k, &x, 0, text, sizeof text);
      fprintf(md, " %s |", text);
      cell_text(k, &x, 1, text, sizeof text);
      fprintf(tex, " & %s", text);
      if (!x.n)
        continue;
      csv_field(csv, rows[r]), fputc(',', csv), csv_field(csv, cols[c]);
      fprintf(csv, ",%.17g,%.17g,%d,", x.mean, x.std, x.n);
      csv_field(csv, x.runs), fputc('\n', csv);
    }
    fprintf(md, "\n");
    fprintf(tex, " \\\\\n");
  }
  fprintf(md, "\nmean ± sample std over seeds; run ids per cell: %s.csv\n", k->name);
  fprintf(tex, "\\hline\n\\end{tabular}\n");
out:
  if (md)
    fclose(md);
  if (csv)
    fclose(csv);
  if (tex)
    fclose(tex);
  if (!rc && report) {
    char *text = ibx_sw_read_file(path[0]);
    if (text)
      fprintf(report, "\n%s", text);
    free(text);
  }
  free(rows), free(cols);
  return rc;
}

static int write_values(const ibx_collect_data *d, const char *out_dir) {
  char path[IBX_SWEEP_TEXT + 64];
  FILE *f = open_out(out_dir, "values", "csv", path, sizeof path);
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write", path);
  fprintf(f, "table,row,column,value,run_id,file\n");
  for (int i = 0; i < d->n_values; i++) {
    const ibx_collect_value *v = &d->values[i];
    fprintf(f, "%s,", v->table);
    csv_field(f, v->row), fputc(',', f), csv_field(f, v->col);
    fprintf(f, ",%.17g,%s,", v->value, d->runs[v->run].id);
    csv_field(f, v->file), fputc('\n', f);
  }
  return fclose(f) ? ibx_fail(IBX_ERR_IO, "%s: write failed", path) : IBX_OK;
}

/* The label of run r without " key=value": the curve it belongs to. */
static void curve_of(const ibx_collect_data *d, int r, const char *key, const char *value,
                     char *out, size_t len) {
  char drop[IBX_CFG_MAX_STRING + 64];
  ibx_sw_fmt(drop, sizeof drop, " %s=%s", key, value);
  ibx_sw_fmt(out, len, "%s", d->runs[r].label);
  char *at = strstr(out, drop);
  if (at)
    memmove(at, at + strlen(drop), strlen(at + strlen(drop)) + 1);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Fig. 4: test error against one numeric key, one curve per other setting. */
static int plot_key(const ibx_collect_data *d, int k, const char *out_dir, FILE *report) {
  const ibx_cfg_key *key = d->runs[0].config.values[k].key;
  char name[96], dat[IBX_SWEEP_TEXT + 96], gp[IBX_SWEEP_TEXT + 96], png[IBX_SWEEP_TEXT + 96];
  ibx_sw_fmt(name, sizeof name, "ablation_%s", key->key);
  FILE *f = open_out(out_dir, name, "dat", dat, sizeof dat);
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write", dat);
  char curves[16][IBX_SWEEP_TEXT];
  int n_curves = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < d->n_runs; r++) { /* curves in run order */
    char c[IBX_SWEEP_TEXT];
    curve_of(d, r, key->key, d->runs[r].config.values[k].text, c, sizeof c);
    int seen = 0;
    for (int i = 0; i < n_curves && !seen; i++)
      seen = !strcmp(curves[i], c);
    if (!seen && n_curves < 16)
      strcpy(curves[n_curves++], c);
  }
  fprintf(f, "# %s: x, mean top-1 test error (%%), sample std, n; one block per curve\n", name);
  int points = 0;
  for (int c = 0; c < n_curves; c++) {
    double xs[256];
    int n_x = 0;
    for (int i = 0; i < d->n_values && n_x < 256; i++) {
      const ibx_collect_value *v = &d->values[i];
      char test_col[96], cv[IBX_SWEEP_TEXT];
      ibx_sw_fmt(test_col, sizeof test_col, "%s-test", d->runs[v->run].dataset);
      curve_of(d, v->run, key->key, d->runs[v->run].config.values[k].text, cv, sizeof cv);
      if (strcmp(v->table, "aib_table1") || strcmp(v->col, test_col) || strcmp(cv, curves[c]))
        continue;
      double x = d->runs[v->run].config.values[k].f;
      int seen = 0;
      for (int j = 0; j < n_x && !seen; j++)
        seen = xs[j] == x;
      if (!seen)
        xs[n_x++] = x;
    }
    qsort(xs, (size_t)n_x, sizeof *xs, cmp_double);
    fprintf(f, "\"%s\"\n", curves[c]);
    for (int j = 0; j < n_x; j++) {
      double sum = 0, sq = 0;
      int n = 0;
      for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->n_values; i++) {
          const ibx_collect_value *v = &d->values[i];
          char test_col[96], cv[IBX_SWEEP_TEXT];
          ibx_sw_fmt(test_col, sizeof test_col, "%s-test", d->runs[v->run].dataset);
          curve_of(d, v->run, key->key, d->runs[v->run].config.values[k].text, cv, sizeof cv);
          if (strcmp(v->table, "aib_table1") || strcmp(v->col, test_col) ||
              strcmp(cv, curves[c]) || d->runs[v->run].config.values[k].f != xs[j])
            continue;
          if (pass == 0)
            sum += v->value, n++;
          else
            sq += (v->value - sum / n) * (v->value - sum / n);
        }
      fprintf(f, "%.10g %.10g %.10g %d\n", xs[j], sum / n, n > 1 ? sqrt(sq / (n - 1)) : 0.0, n);
      lo = fmin(lo, xs[j]), hi = fmax(hi, xs[j]);
      points++;
    }
    fprintf(f, "\n\n");
  }
  fclose(f);
  if (points < 2)
    return 1;
  f = open_out(out_dir, name, "gp", gp, sizeof gp);
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write", gp);
  ibx_sw_fmt(png, sizeof png, "%s/%s.png", out_dir, name);
  fprintf(f, "set terminal png size 800,560\nset output '%s'\n", png);
  fprintf(f, "set title 'top-1 test error vs %s.%s (ibx collect)' noenhanced\n", key->section,
          key->key);
  fprintf(f, "set xlabel '%s' noenhanced\nset ylabel 'top-1 error (%%)'\nset grid\n", key->key);
  fprintf(f, "set key outside bottom center noenhanced\nset offsets graph 0.05, graph 0.05\n");
  if (lo > 0 && hi / lo >= 50)
    fprintf(f, "set logscale x\n");
  fprintf(f, "plot for [i=0:%d] '%s' index i using 1:2:3 with yerrorlines lw 2 "
             "title columnheader(1)\n", n_curves - 1, dat);
  fclose(f);
  char cmd[2 * IBX_SWEEP_TEXT + 256];
  ibx_sw_fmt(cmd, sizeof cmd, "gnuplot '%s' 2>&1", gp);
  FILE *p = popen(cmd, "r");
  char out[512] = "";
  size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
  out[got] = '\0';
  int status = p ? pclose(p) : -1;
  if (status != 0) {
    if (report)
      fprintf(report, "collect: %s not drawn (gnuplot: %s); data in %s\n", png,
              out[0] ? out : "not installed?", dat);
    return 1;
  }
  return IBX_OK;
}

int ibx_collect(const char *sweep_dir, const char *out_dir, FILE *report,
                ibx_collect_summary *summary) {
  ibx_collect_data d;
  memset(summary, 0, sizeof *summary);
  int rc = ibx_collect_read(sweep_dir, report, &d);
  if (!rc)
    rc = ibx_sw_mkdir_p(out_dir);
  if (!rc)
    rc = write_values(&d, out_dir);
  for (int t = 0; !rc && t < (int)(sizeof kinds / sizeof kinds[0]); t++) {
    int st = write_table(&d, &kinds[t], out_dir, report);
    if (st == IBX_OK)
      summary->n_tables++;
    else if (st != 1)
      rc = st;
  }
  for (int k = 0; !rc && d.n_runs && k < d.runs[0].config.count; k++) {
    const ibx_cfg_key *key = d.runs[0].config.values[k].key;
    if (!d.varies[k] || (key->type != IBX_CFG_INT && key->type != IBX_CFG_FLOAT) ||
        strcmp(key->section, "model"))
      continue;
    int st = plot_key(&d, k, out_dir, report);
    if (st == IBX_OK) {
      summary->n_plots++;
      if (report)
        fprintf(report, "plot: %s/ablation_%s.png\n", out_dir, key->key);
    } else if (st != 1)
      rc = st;
  }
  summary->n_runs = d.n_runs;
  summary->n_values = d.n_values;
  summary->n_problems = d.n_problems;
  ibx_collect_data_free(&d);
  return rc;
}
