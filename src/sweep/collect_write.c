/* ibx collect, writing side: tables (Markdown, CSV, LaTeX) and ablation
 * plots (gnuplot -> PNG). Every cell keeps the ids of the runs behind it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_internal.h"
#include "ibx/error.h"
#include "sweep_internal.h"

typedef struct {
  const char *name, *title, *row_head, *format;
} table_kind;

static const table_kind kinds[] = {
    {"aib_table1", "AIB Table 1: top-1 error (%)", "model", "%.2f"},
    {"aib_table2", "AIB Table 2: interpretability score (%)", "model", "%.2f"},
    {"iba_table1", "IBA Table 1: degradation (LeRF - MoRF area) and bounding-box ratio",
     "method", "%.3f"},
    {"text_iba", "Text IBA: token deletion (mean true-class probability areas, MoRF lower is "
     "better; score = normalised LeRF - MoRF area) and accuracy after 50 % of the tokens deleted "
     "most relevant first", "method", "%.3f"},
};

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

static void cell_text(const table_kind *k, const ibx_collect_cell *c, int tex, char *out,
                      size_t len) {
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

typedef struct {
  FILE *md, *csv, *tex;
} outputs;

/* Header row: the leading text columns, then one per value column. */
static void emit_header(const outputs *o, const table_kind *k, const char *const *lead,
                        int n_lead, const char *const *heads, int n_heads) {
  fprintf(o->md, "### %s\n\n|", k->title);
  fprintf(o->csv, "%s,column,mean,std,n,runs\n", k->row_head);
  fprintf(o->tex, "%% %s (ibx collect; run ids per cell in %s.csv)\n\\begin{tabular}{", k->title,
          k->name);
  for (int i = 0; i < n_lead; i++)
    fprintf(o->md, " %s |", lead[i]), fprintf(o->tex, "l");
  for (int c = 0; c < n_heads; c++)
    fprintf(o->md, " %s |", heads[c]), fprintf(o->tex, "c");
  fprintf(o->md, "\n|");
  fprintf(o->tex, "}\n\\hline\n");
  for (int i = 0; i < n_lead + n_heads; i++) {
    fprintf(o->md, "---|");
    if (i)
      fprintf(o->tex, " & ");
    tex_text(o->tex, i < n_lead ? lead[i] : heads[i - n_lead]);
  }
  fprintf(o->md, "\n");
  fprintf(o->tex, " \\\\\n\\hline\n");
}

/* One body row: leading texts, then the cells (row, cols[c]) of table k. */
static void emit_row(const outputs *o, const table_kind *k, const ibx_collect_data *d,
                     const char *const *lead, int n_lead, const char *row,
                     const char *const *cols, int n_cols) {
  fprintf(o->md, "|");
  for (int i = 0; i < n_lead; i++) {
    fprintf(o->md, " %s |", lead[i]);
    if (i)
      fprintf(o->tex, " & ");
    tex_text(o->tex, lead[i]);
  }
  for (int c = 0; c < n_cols; c++) {
    const ibx_collect_cell x = ibx_collect_stats(d, k->name, row, cols[c]);
    char text[96];
    cell_text(k, &x, 0, text, sizeof text);
    fprintf(o->md, " %s |", text);
    cell_text(k, &x, 1, text, sizeof text);
    fprintf(o->tex, " & %s", text);
    if (!x.n)
      continue;
    csv_field(o->csv, row), fputc(',', o->csv), csv_field(o->csv, cols[c]);
    fprintf(o->csv, ",%.17g,%.17g,%d,", x.mean, x.std, x.n);
    for (int i = 0; i < x.n_listed; i++)
      fprintf(o->csv, "%s%s", i ? " " : "", d->runs[x.runs[i]].id);
    fputc('\n', o->csv);
  }
  fprintf(o->md, "\n");
  fprintf(o->tex, " \\\\\n");
}

/* AIB tables: a row per model, a column per evaluation set or modification. */
static int aib_body(const ibx_collect_data *d, const table_kind *k, const outputs *o) {
  const char **rows, **cols;
  int n_cols;
  const int n_rows = ibx_collect_aib_layout(d, k->name, &rows, &cols, &n_cols);
  if (n_rows > 0) {
    emit_header(o, k, &k->row_head, 1, cols, n_cols);
    for (int r = 0; r < n_rows; r++)
      emit_row(o, k, d, &rows[r], 1, rows[r], cols, n_cols);
  }
  free(rows), free(cols);
  return n_rows;
}

/* IBA Table 1: a block of methods per model, the metrics that apply as
 * columns (no bounding boxes in the dataset: no bbox column, said once). */
static int iba_body(const ibx_collect_data *d, const table_kind *k, const outputs *o,
                    char *note, size_t note_len) {
  const char **models, **methods;
  int n_methods;
  const int n_models = ibx_collect_iba_layout(d, &models, &methods, &n_methods);
  const char *heads[IBX_COLLECT_IBA_METRICS];
  int used[IBX_COLLECT_IBA_METRICS], n_used = 0;
  note[0] = '\0';
  for (int m = 0; m < IBX_COLLECT_IBA_METRICS; m++)
    if (ibx_collect_iba_metric_applies(d, m))
      used[n_used] = m, heads[n_used++] = ibx_collect_iba_metric[m];
    else
      ibx_sw_fmt(note, note_len, "%s column left out: no run has a number for it (%s)",
                 ibx_collect_iba_metric[m],
                 m == 2 ? "no test image with a bounding box" : "not measured");
  if (n_models > 0 && n_methods > 0) {
    const char *lead_head[2] = {"model", k->row_head};
    emit_header(o, k, lead_head, 2, heads, n_used);
    for (int i = 0; i < n_models; i++)
      for (int r = 0; r < n_methods; r++) {
        char col_text[IBX_COLLECT_IBA_METRICS][IBX_SWEEP_TEXT + 32];
        const char *cols[IBX_COLLECT_IBA_METRICS];
        for (int c = 0; c < n_used; c++) {
          ibx_collect_iba_column(models[i], used[c], col_text[c], sizeof col_text[c]);
          cols[c] = col_text[c];
        }
        const char *lead[2] = {r == 0 ? models[i] : "", methods[r]};
        emit_row(o, k, d, lead, 2, methods[r], cols, n_used);
      }
  }
  free(models), free(methods);
  return n_models < 0 || n_methods < 0 ? -1 : n_models > 0 && n_methods > 0;
}

/* One table in three formats; Markdown also to report. 1: empty table. */
static int write_table(const ibx_collect_data *d, const table_kind *k, const char *out_dir,
                       FILE *report) {
  char path[3][IBX_SWEEP_TEXT + 64], note[160] = "";
  outputs o;
  o.md = open_out(out_dir, k->name, "md", path[0], sizeof path[0]);
  o.csv = open_out(out_dir, k->name, "csv", path[1], sizeof path[1]);
  o.tex = open_out(out_dir, k->name, "tex", path[2], sizeof path[2]);
  int rc = IBX_OK;
  if (!o.md || !o.csv || !o.tex)
    rc = ibx_fail(IBX_ERR_IO, "%s: cannot write the tables", out_dir);
  const int n = rc ? 0
                   : strcmp(k->name, "iba_table1") ? aib_body(d, k, &o)
                                                   : iba_body(d, k, &o, note, sizeof note);
  if (n < 0)
    rc = ibx_fail(IBX_ERR_NOMEM, "collect: out of memory");
  if (!rc && n > 0) {
    fprintf(o.md, "\nmean ± sample std over seeds; run ids per cell: %s.csv\n", k->name);
    if (note[0])
      fprintf(o.md, "%s\n", note);
    fprintf(o.tex, "\\hline\n\\end{tabular}\n");
  }
  for (int i = 0; i < 3; i++) {
    FILE *f = i == 0 ? o.md : i == 1 ? o.csv : o.tex;
    if (f)
      fclose(f);
    if (!rc && n == 0)
      remove(path[i]);
  }
  if (!rc && n > 0 && report) {
    char *text = ibx_sw_read_file(path[0]);
    if (text)
      fprintf(report, "\n%s", text);
    free(text);
  }
  return rc ? rc : n > 0 ? IBX_OK : 1;
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

/* Fig. 4: test error against one numeric key, one curve per other setting;
 * a model whose head does not use the key is a horizontal reference line. */
static int plot_key(const ibx_collect_data *d, int k, const char *out_dir, FILE *report) {
  const ibx_cfg_key *key = d->runs[0].config.values[k].key;
  char name[96], dat[IBX_SWEEP_TEXT + 96], gp[IBX_SWEEP_TEXT + 96], png[IBX_SWEEP_TEXT + 96];
  ibx_sw_fmt(name, sizeof name, "ablation_%s", key->key);
  static ibx_collect_curve curves[16];
  int points;
  const int n_curves = ibx_collect_ablation(d, k, curves, 16, &points);
  FILE *f = open_out(out_dir, name, "dat", dat, sizeof dat);
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write", dat);
  fprintf(f, "# %s: x, mean top-1 test error (%%), sample std, n; one block per curve (a head "
             "that does not use %s: x = nan, drawn as a horizontal line)\n", name, key->key);
  double lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < n_curves; c++) {
    fprintf(f, "\"%s\"\n", curves[c].name);
    for (int j = 0; j < curves[c].n; j++) {
      if (curves[c].uses_key)
        fprintf(f, "%.10g", curves[c].x[j]), lo = fmin(lo, curves[c].x[j]),
            hi = fmax(hi, curves[c].x[j]);
      else
        fprintf(f, "nan");
      fprintf(f, " %.10g %.10g %d\n", curves[c].mean[j], curves[c].std[j], curves[c].count[j]);
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
  fprintf(f, "plot");
  const char *sep = " ";
  for (int c = 0; c < n_curves; c++) {
    if (!curves[c].n)
      continue;
    if (curves[c].uses_key)
      fprintf(f, "%s'%s' index %d using 1:2:3 with yerrorlines lw 2 title columnheader(1)", sep,
              dat, c);
    else
      fprintf(f, "%s%.10g with lines dt 2 lw 2 title '%s (does not use %s)'", sep,
              curves[c].mean[0], curves[c].name, key->key);
    sep = ", \\\n     ";
  }
  fprintf(f, "\n");
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
