/* ibx report: the self-contained HTML page of a sweep or a run
 * (include/ibx/report.h). The numbers come from collect's reader
 * (collect_read.c) and cell statistics (collect_table.c); the curves from
 * metrics.h5; plots are SVG (report_svg.c), pictures PNG data URIs. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collect_internal.h"
#include "ibx/error.h"
#include "ibx/metrics.h"
#include "ibx/report.h"
#include "ibx/version.h"
#include "report_internal.h"
#include "sweep_internal.h"

typedef struct {
  FILE *f;                    /* the page */
  FILE *log;                  /* problems, as they happen */
  char *problems;             /* collect's and ours, one per line */
  size_t problems_len;
  FILE *pf;                   /* stream into problems */
  const ibx_collect_data *d;
  ibx_report_summary *sum;
} page;

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;"
    "margin:0 auto;max-width:1320px;padding:12px 24px 40px}\n"
    "h1{font-size:22px;margin:10px 0 4px}h2{font-size:18px;border-bottom:1px solid #ddd;"
    "padding-bottom:4px;margin-top:30px}h3{font-size:15px;margin:22px 0 6px}\n"
    "table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}\n"
    "th,td{border:1px solid #d8dce0;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f1f4f7}td.num{text-align:right;white-space:nowrap}"
    "td:first-child{white-space:nowrap}\n"
    "tr:target,section:target{background:#fff6d0}\n"
    ".id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}\n"
    ".ids{display:block;font-family:ui-monospace,monospace;font-size:10.5px}\n"
    ".ids a{color:#6a7380}a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}\n"
    ".note{color:#555;font-size:13px;margin:4px 0}.problems li{color:#a00}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}\n"
    "svg.chart{border:1px solid #e1e4e8;background:#fff}\n"
    "svg .grid{stroke:#eceef0}svg .frame{fill:none;stroke:#9aa}svg .mark{stroke:#b8bec4;"
    "stroke-dasharray:4 3}\n"
    "svg text{font-family:system-ui,sans-serif;fill:#333}svg .tick{font-size:10px;fill:#555}"
    "svg .alabel{font-size:11px}svg .ctitle{font-size:12.5px;font-weight:600}"
    "svg .legend{font-size:11px}\n"
    "figure{margin:8px 0}figure img{image-rendering:pixelated;max-width:100%;"
    "border:1px solid #ddd}figcaption{font-size:12px;color:#555;white-space:pre-wrap;"
    "max-width:1100px}\n"
    "nav a{margin-right:14px}details summary{cursor:pointer;color:#0b5cad}\n"
    "td.stages{font-size:12px;color:#444}\n";

static void problem(page *p, const char *fmt, const char *a, const char *b) {
  p->sum->n_problems++;
  fprintf(p->pf, fmt, a, b), fputc('\n', p->pf);
  if (p->log)
    fprintf(p->log, fmt, a, b), fputc('\n', p->log);
}

static void run_link(page *p, int r, const char *text) {
  fprintf(p->f, "<a href='#run-");
  ibx_html_text(p->f, p->d->runs[r].id);
  fprintf(p->f, "'>");
  ibx_html_text(p->f, text);
  fprintf(p->f, "</a>");
}

/* ---- header, runs and settings --------------------------------------- */

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

static void stage_states(page *p, const char *run_dir) {
  char dir[IBX_SWEEP_TEXT + 16];
  ibx_sw_fmt(dir, sizeof dir, "%s/stages", run_dir);
  DIR *dh = opendir(dir);
  if (!dh) {
    fprintf(p->f, "–");
    return;
  }
  char names[32][64];
  int n = 0;
  for (struct dirent *e; n < 32 && (e = readdir(dh));)
    if (e->d_name[0] != '.' && !strchr(e->d_name, '.'))
      ibx_sw_fmt(names[n++], sizeof names[0], "%s", e->d_name);
  closedir(dh);
  qsort(names, (size_t)n, sizeof names[0], cmp_names);
  char states[32][128];
  for (int i = 0; i < n; i++) {
    char path[IBX_SWEEP_TEXT + 96];
    ibx_sw_fmt(path, sizeof path, "%s/%s", dir, names[i]);
    if (ibx_sw_read_line(path, states[i], sizeof states[i]) || !states[i][0])
      ibx_sw_fmt(states[i], sizeof states[i], "?");
  }
  for (int i = 0, lines = 0; i < n; i++) { /* "done: eval, train" per state */
    int first = 1;
    for (int j = 0; j < i && first; j++)
      first = strcmp(states[j], states[i]) != 0;
    if (!first)
      continue;
    fprintf(p->f, "%s<b>", lines++ ? "<br>" : "");
    ibx_html_text(p->f, states[i]);
    fprintf(p->f, "</b>:");
    for (int j = i, k = 0; j < n; j++)
      if (!strcmp(states[j], states[i])) {
        fprintf(p->f, "%s ", k++ ? "," : "");
        ibx_html_text(p->f, names[j]);
      }
  }
}

static int is_shown_key(const ibx_cfg_key *k) { return strcmp(k->section, "output") != 0; }

static void runs_section(page *p) {
  const ibx_collect_data *d = p->d;
  fprintf(p->f, "<h2 id='runs'>Runs</h2>\n<table><tr><th>run id</th><th>model</th>"
                "<th>dataset</th><th>settings that differ between runs</th><th>stages</th>"
                "<th></th></tr>\n");
  for (int r = 0; r < d->n_runs; r++) {
    const ibx_collect_run *run = &d->runs[r];
    fprintf(p->f, "<tr id='run-");
    ibx_html_text(p->f, run->id);
    fprintf(p->f, "'><td class='id'>");
    ibx_html_text(p->f, run->id);
    fprintf(p->f, "</td><td>");
    ibx_html_text(p->f, run->label);
    fprintf(p->f, "</td><td>");
    ibx_html_text(p->f, run->dataset);
    fprintf(p->f, "</td><td class='id'>");
    for (int k = 0, first = 1; k < run->config.count; k++)
      if (d->varies && d->varies[k] && is_shown_key(run->config.values[k].key)) {
        fprintf(p->f, "%s%s.%s=", first ? "" : "<br>", run->config.values[k].key->section,
                run->config.values[k].key->key);
        ibx_html_text(p->f, run->config.values[k].text);
        first = 0;
      }
    fprintf(p->f, "</td><td class='stages'>");
    stage_states(p, run->dir);
    fprintf(p->f, "</td><td><a href='#curves-");
    ibx_html_text(p->f, run->id);
    fprintf(p->f, "'>curves&nbsp;&amp;&nbsp;pictures</a></td></tr>\n");
  }
  fprintf(p->f, "</table>\n");
  if (!d->n_runs)
    return;
  const ibx_config *c = &d->runs[0].config;
  int shared = 0;
  for (int k = 0; k < c->count; k++)
    shared += !(d->varies && d->varies[k]) && is_shown_key(c->values[k].key);
  fprintf(p->f, "<details id='settings'><summary>%d resolved settings shared by %s (defaults "
                "included; output.* omitted)</summary>\n<table><tr><th>key</th><th>value</th>"
                "<th>meaning</th></tr>\n",
          shared, d->n_runs > 1 ? "every run" : "the run");
  for (int k = 0; k < c->count; k++) {
    const ibx_cfg_value *v = &c->values[k];
    if ((d->varies && d->varies[k]) || !is_shown_key(v->key))
      continue;
    fprintf(p->f, "<tr><td class='id'>%s.%s</td><td class='id'>", v->key->section, v->key->key);
    ibx_html_text(p->f, v->text);
    fprintf(p->f, "</td><td class='note'>");
    ibx_html_text(p->f, v->key->doc ? v->key->doc : "");
    fprintf(p->f, "</td></tr>\n");
  }
  fprintf(p->f, "</table></details>\n");
}

/* ---- the tables --------------------------------------------------------- */

/* mean ± std, linked to the run when there is one; the runs (seeds) below. */
static void cell_html(page *p, const char *table, const char *row, const char *col,
                      const char *format) {
  const ibx_collect_cell c = ibx_collect_stats(p->d, table, row, col);
  fprintf(p->f, "<td class='num'>");
  if (!c.n) {
    fprintf(p->f, "–</td>");
    return;
  }
  char text[96], mean[40], std[40];
  snprintf(mean, sizeof mean, format, c.mean);
  snprintf(std, sizeof std, format, c.std);
  if (c.n == 1)
    snprintf(text, sizeof text, "%s", mean);
  else
    snprintf(text, sizeof text, "%s ± %s", mean, std);
  run_link(p, c.runs[0], text);
  if (c.n > 1) {
    fprintf(p->f, "<span class='ids'>");
    for (int i = 0; i < c.n_listed; i++) {
      char shortid[8];
      snprintf(shortid, sizeof shortid, "%.6s", p->d->runs[c.runs[i]].id);
      fprintf(p->f, "%s", i ? " " : "");
      run_link(p, c.runs[i], shortid);
    }
    fprintf(p->f, "</span>");
  }
  fprintf(p->f, "</td>");
  p->sum->n_values += c.n;
}

static void aib_table(page *p, const char *name, const char *title, const char *note) {
  const char **rows, **cols;
  int n_cols;
  const int n_rows = ibx_collect_aib_layout(p->d, name, &rows, &cols, &n_cols);
  fprintf(p->f, "<h3 id='%s'>", name);
  ibx_html_text(p->f, title);
  fprintf(p->f, "</h3>\n");
  if (n_rows <= 0) {
    fprintf(p->f, "<p class='note'>no numbers yet (%s)</p>\n", note);
  } else {
    fprintf(p->f, "<table><tr><th>model</th>");
    for (int c = 0; c < n_cols; c++) {
      fprintf(p->f, "<th>");
      ibx_html_text(p->f, cols[c]);
      fprintf(p->f, "</th>");
    }
    fprintf(p->f, "</tr>\n");
    for (int r = 0; r < n_rows; r++) {
      fprintf(p->f, "<tr><td>");
      ibx_html_text(p->f, rows[r]);
      fprintf(p->f, "</td>");
      for (int c = 0; c < n_cols; c++)
        cell_html(p, name, rows[r], cols[c], "%.2f");
      fprintf(p->f, "</tr>\n");
    }
    fprintf(p->f, "</table>\n<p class='note'>%s</p>\n", note);
  }
  free(rows), free(cols);
}

static void iba_table(page *p) {
  const char **models, **methods;
  int n_methods;
  const int n_models = ibx_collect_iba_layout(p->d, &models, &methods, &n_methods);
  fprintf(p->f, "<h3 id='iba_table1'>IBA Table 1: degradation and bounding-box ratio</h3>\n");
  if (n_models <= 0 || n_methods <= 0) {
    fprintf(p->f, "<p class='note'>no numbers yet (results/attribution.h5 of ibx attribute)"
                  "</p>\n");
  } else {
    int used[IBX_COLLECT_IBA_METRICS], n_used = 0;
    const char *left_out = NULL;
    for (int m = 0; m < IBX_COLLECT_IBA_METRICS; m++)
      if (ibx_collect_iba_metric_applies(p->d, m))
        used[n_used++] = m;
      else
        left_out = ibx_collect_iba_metric[m];
    fprintf(p->f, "<table><tr><th>model</th><th>method</th>");
    for (int c = 0; c < n_used; c++)
      fprintf(p->f, "<th>%s</th>", ibx_collect_iba_metric[used[c]]);
    fprintf(p->f, "</tr>\n");
    for (int i = 0; i < n_models; i++)
      for (int r = 0; r < n_methods; r++) {
        fprintf(p->f, "<tr>");
        if (r == 0) {
          fprintf(p->f, "<td rowspan='%d'>", n_methods);
          ibx_html_text(p->f, models[i]);
          fprintf(p->f, "</td>");
        }
        fprintf(p->f, "<td>");
        ibx_html_text(p->f, methods[r]);
        fprintf(p->f, "</td>");
        for (int c = 0; c < n_used; c++) {
          char col[IBX_SWEEP_TEXT + 32];
          ibx_collect_iba_column(models[i], used[c], col, sizeof col);
          cell_html(p, "iba_table1", methods[r], col, "%.3f");
        }
        fprintf(p->f, "</tr>\n");
      }
    fprintf(p->f, "</table>\n<p class='note'>deg: area between the LeRF and MoRF degradation "
                  "curves (higher is better) with 8x8 and 14x14 tiles; bbox: share of the "
                  "attribution inside the object's bounding box. Mean ± sample std over seeds.");
    if (left_out)
      fprintf(p->f, " The %s column is left out: no run has a number for it%s.", left_out,
              strcmp(left_out, "bbox") ? "" : " (no test image with a bounding box)");
    fprintf(p->f, "</p>\n");
  }
  free(models), free(methods);
}

/* ---- ablation plots ------------------------------------------------------ */

static void ablations(page *p) {
  const ibx_collect_data *d = p->d;
  int any = 0;
  for (int k = 0; d->n_runs && k < d->runs[0].config.count; k++) {
    const ibx_cfg_key *key = d->runs[0].config.values[k].key;
    if (!d->varies[k] || (key->type != IBX_CFG_INT && key->type != IBX_CFG_FLOAT) ||
        strcmp(key->section, "model"))
      continue;
    static ibx_collect_curve curves[16];
    int points;
    const int n = ibx_collect_ablation(d, k, curves, 16, &points);
    if (points < 2)
      continue;
    ibx_svg_series s[16];
    char names[16][IBX_SWEEP_TEXT + 64];
    int n_s = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < n; c++) {
      if (!curves[c].n)
        continue;
      ibx_sw_fmt(names[n_s], sizeof names[0], "%s%s%s%s", curves[c].name,
                 curves[c].uses_key ? "" : " (does not use ", curves[c].uses_key ? "" : key->key,
                 curves[c].uses_key ? "" : ")");
      s[n_s] = (ibx_svg_series){names[n_s], curves[c].x, curves[c].mean, curves[c].std,
                                curves[c].n, !curves[c].uses_key};
      for (int j = 0; curves[c].uses_key && j < curves[c].n; j++)
        lo = fmin(lo, curves[c].x[j]), hi = fmax(hi, curves[c].x[j]);
      n_s++;
    }
    char title[160], xlabel[96];
    ibx_sw_fmt(title, sizeof title, "top-1 test error vs %s.%s", key->section, key->key);
    ibx_sw_fmt(xlabel, sizeof xlabel, "%s.%s", key->section, key->key);
    const ibx_svg_chart chart = {title, xlabel, "top-1 error (%)", 600, 360,
                                 lo > 0 && hi / lo >= 50, NULL, 0, NULL};
    if (!any)
      fprintf(p->f, "<h2 id='ablations'>Ablations</h2>\n<div class='charts'>\n");
    any = 1;
    ibx_svg_chart_write(p->f, &chart, s, n_s);
    p->sum->n_charts++;
  }
  if (!any)
    fprintf(p->f, "<h2 id='ablations'>Ablations</h2>\n<p class='note'>none: no numeric model "
                  "key varies over at least two points with a test error</p>\n");
  else
    fprintf(p->f, "</div>\n<p class='note'>Points: mean top-1 error on the run's own test set, "
                  "error bars one sample std over seeds (hover a point for its value and n). "
                  "A model whose head does not use the key is a dashed line (band: ± std).</p>\n");
}

/* ---- per run: curves and pictures ---------------------------------------- */

typedef struct {
  double *v[IBX_STEP_COLUMNS > IBX_EPOCH_COLUMNS ? IBX_STEP_COLUMNS : IBX_EPOCH_COLUMNS];
  long n;
} columns;

static int read_columns(const char *path, const char *group, const char *const *names, int count,
                        columns *c) {
  memset(c, 0, sizeof *c);
  c->n = -1;
  for (int i = 0; i < count; i++) {
    char col[64];
    long n = 0;
    snprintf(col, sizeof col, "%s/%s", group, names[i]);
    if (ibx_metrics_read_column(path, col, &c->v[i], &n)) {
      c->v[i] = NULL; /* a column an older file lacks */
      continue;
    }
    c->n = c->n < 0 || n < c->n ? n : c->n;
  }
  if (c->n < 0)
    c->n = 0;
  return c->n > 0 && c->v[0];
}

static void free_columns(columns *c) {
  for (size_t i = 0; i < sizeof c->v / sizeof c->v[0]; i++)
    free(c->v[i]);
}

static int column_index(const char *const *names, int count, const char *name) {
  for (int i = 0; i < count; i++)
    if (!strcmp(names[i], name))
      return i;
  return -1;
}

/* Whether a column holds any finite non-zero value (kl of a plain run: no). */
static int informative(const double *v, long n) {
  for (long i = 0; v && i < n; i++)
    if (isfinite(v[i]) && v[i] != 0)
      return 1;
  return 0;
}

static void chart(page *p, const char *title, const char *xlabel, const char *ylabel,
                  const double *x, long n, const double *const *ys, const char *const *names,
                  int n_y, const double *marks, int n_marks) {
  ibx_svg_series s[8];
  int k = 0;
  for (int i = 0; i < n_y && k < 8; i++)
    if (informative(ys[i], n))
      s[k++] = (ibx_svg_series){names[i], x, ys[i], NULL, (int)n, 0};
  if (!k)
    return;
  const ibx_svg_chart c = {title, xlabel, ylabel, 392, 250, 0, marks, n_marks, "epoch"};
  ibx_svg_chart_write(p->f, &c, s, k);
  p->sum->n_charts++;
}

static void step_curves(page *p, const char *path) {
  const char *const *names = ibx_step_columns;
  columns c;
  if (!read_columns(path, "step", names, IBX_STEP_COLUMNS, &c)) {
    fprintf(p->f, "<p class='note'>no step rows in metrics.h5 yet</p>\n");
    free_columns(&c);
    return;
  }
#define COL(name) c.v[column_index(names, IBX_STEP_COLUMNS, name)]
  const double *step = COL("step"), *epoch = COL("epoch");
  double marks[64];
  int n_marks = 0;
  for (long i = 1; epoch && i < c.n && n_marks < 64; i++)
    if (epoch[i] != epoch[i - 1])
      marks[n_marks++] = 0.5 * (step[i - 1] + step[i]);
  const char *xlabel = n_marks ? "step (dashed: epoch starts)" : "step";
  const double *loss[5] = {COL("loss"), COL("ce"), COL("kl"), COL("vq"), COL("commit")};
  const char *loss_names[5] = {"loss (total)", "ce", "beta kl", "vq", "commit"};
  chart(p, "training loss and its parts", xlabel, "loss (mean over the window)", step, c.n, loss,
        loss_names, 5, marks, n_marks);
  const double *lr[1] = {COL("lr")}, *gn[1] = {COL("grad_norm")}, *ips[1] = {COL("img_per_s")};
  const char *lr_n[1] = {"lr"}, *gn_n[1] = {"max |g| in window"}, *ips_n[1] = {"img/s"};
  chart(p, "learning rate", xlabel, "lr", step, c.n, lr, lr_n, 1, marks, n_marks);
  chart(p, "gradient norm", xlabel, "|g| (before clipping)", step, c.n, gn, gn_n, 1, marks,
        n_marks);
  chart(p, "throughput", xlabel, "images / s (all ranks)", step, c.n, ips, ips_n, 1, marks,
        n_marks);
#undef COL
  free_columns(&c);
}

static void epoch_curves(page *p, const char *path) {
  const char *const *names = ibx_epoch_columns;
  columns c;
  if (!read_columns(path, "epoch", names, IBX_EPOCH_COLUMNS, &c)) {
    fprintf(p->f, "<p class='note'>no finished epoch in metrics.h5 yet</p>\n");
    free_columns(&c);
    return;
  }
#define COL(name) c.v[column_index(names, IBX_EPOCH_COLUMNS, name)]
  double *err[2] = {COL("train_error"), COL("test_error")};
  for (int i = 0; i < 2; i++)
    for (long j = 0; err[i] && j < c.n; j++)
      err[i][j] *= 100.0;
  const double *errs[2] = {err[0], err[1]};
  const char *err_n[2] = {"train error", "test error"};
  chart(p, "error per epoch", "epoch", "top-1 error (%)", COL("epoch"), c.n, errs, err_n, 2,
        NULL, 0);
  const double *loss[5] = {COL("loss"), COL("ce"), COL("kl"), COL("vq"), COL("commit")};
  const char *loss_names[5] = {"loss (total)", "ce", "beta kl", "vq", "commit"};
  chart(p, "training loss per epoch", "epoch", "loss (epoch mean)", COL("epoch"), c.n, loss,
        loss_names, 5, NULL, 0);
#undef COL
  free_columns(&c);
}

static void base64(FILE *f, const unsigned char *b, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    const unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) |
                       (i + 2 < n ? b[i + 2] : 0);
    fputc(t[v >> 18 & 63], f), fputc(t[v >> 12 & 63], f);
    fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f), fputc(i + 2 < n ? t[v & 63] : '=', f);
  }
}

/* Every *.png of the run directory, embedded, with FILE.txt as caption. */
static void pictures(page *p, const ibx_collect_run *run) {
  DIR *dh = opendir(run->dir);
  if (!dh)
    return;
  char names[16][256];
  int n = 0;
  for (struct dirent *e; n < 16 && (e = readdir(dh));) {
    const size_t len = strlen(e->d_name);
    if (len > 4 && !strcmp(e->d_name + len - 4, ".png") && e->d_name[0] != '.')
      ibx_sw_fmt(names[n++], sizeof names[0], "%s", e->d_name);
  }
  closedir(dh);
  qsort(names, (size_t)n, sizeof names[0], cmp_names);
  for (int i = 0; i < n; i++) {
    char path[IBX_SWEEP_TEXT + 300];
    ibx_sw_fmt(path, sizeof path, "%s/%s", run->dir, names[i]);
    FILE *in = fopen(path, "rb");
    struct stat sb;
    unsigned char *bytes = NULL;
    if (in && !fstat(fileno(in), &sb) && sb.st_size > 8 && sb.st_size < (64 << 20))
      bytes = malloc((size_t)sb.st_size);
    const int ok = bytes && fread(bytes, 1, (size_t)sb.st_size, in) == (size_t)sb.st_size &&
                   !memcmp(bytes, "\x89PNG\r\n\x1a\n", 8);
    if (in)
      fclose(in);
    if (!ok) {
      problem(p, "report: %s: not a readable PNG (left out)%s", path, "");
      free(bytes);
      continue;
    }
    fprintf(p->f, "<figure><img alt='");
    ibx_html_text(p->f, names[i]);
    fprintf(p->f, "' src='data:image/png;base64,");
    base64(p->f, bytes, (size_t)sb.st_size);
    fprintf(p->f, "'><figcaption><b>");
    ibx_html_text(p->f, names[i]);
    fprintf(p->f, "</b>");
    char caption[IBX_SWEEP_TEXT + 300];
    ibx_sw_fmt(caption, sizeof caption, "%.*s.txt", (int)strlen(path) - 4, path);
    char *text = ibx_sw_read_file(caption);
    if (text) {
      fprintf(p->f, "\n");
      ibx_html_text(p->f, text);
    }
    free(text);
    fprintf(p->f, "</figcaption></figure>\n");
    free(bytes);
    p->sum->n_pictures++;
  }
}

static void run_sections(page *p) {
  fprintf(p->f, "<h2 id='curves'>Training curves and pictures per run</h2>\n");
  for (int r = 0; r < p->d->n_runs; r++) {
    const ibx_collect_run *run = &p->d->runs[r];
    fprintf(p->f, "<section id='curves-");
    ibx_html_text(p->f, run->id);
    fprintf(p->f, "'><h3>");
    ibx_html_text(p->f, run->label);
    fprintf(p->f, " ");
    run_link(p, r, run->id);
    fprintf(p->f, "</h3>\n");
    char path[IBX_SWEEP_TEXT + 32];
    ibx_sw_fmt(path, sizeof path, "%s/metrics.h5", run->dir);
    struct stat sb;
    if (stat(path, &sb)) {
      fprintf(p->f, "<p class='note'>no metrics.h5 (not trained yet)</p>\n");
    } else if (!ibx_sw_h5_ok(path)) {
      problem(p, "report: %s: not a readable metrics file (no curves)%s", path, "");
      fprintf(p->f, "<p class='note'>metrics.h5 is not readable</p>\n");
    } else {
      fprintf(p->f, "<div class='charts'>\n");
      step_curves(p, path);
      epoch_curves(p, path);
      fprintf(p->f, "</div>\n");
    }
    pictures(p, run);
    fprintf(p->f, "</section>\n");
  }
}

/* ---- the page ---------------------------------------------------------------- */

static void page_body(page *p, const char *dir) {
  const ibx_collect_data *d = p->d;
  char name[IBX_SWEEP_TEXT];
  ibx_sw_fmt(name, sizeof name, "%s", dir);
  for (size_t n = strlen(name); n > 1 && name[n - 1] == '/'; n--)
    name[n - 1] = '\0';
  const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
  char when[64];
  const time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
  const int single = d->n_runs == 1 && !strcmp(d->runs[0].dir, dir);
  fprintf(p->f, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>");
  fprintf(p->f, "ibx report: ");
  ibx_html_text(p->f, base);
  fprintf(p->f, "</title>\n<style>\n%s</style></head><body>\n<h1>ibx report: %s ", css,
          single ? "run" : "sweep");
  ibx_html_text(p->f, base);
  fprintf(p->f, "</h1>\n<p class='note'>");
  ibx_html_text(p->f, dir);
  fprintf(p->f, " · %d run%s · written %s by ibx %s (commit %s)</p>\n", d->n_runs,
          d->n_runs == 1 ? "" : "s", when, IBX_VERSION, IBX_GIT_COMMIT);
  fprintf(p->f, "<nav><a href='#runs'>runs</a><a href='#settings'>settings</a>"
                "<a href='#tables'>tables</a><a href='#ablations'>ablations</a>"
                "<a href='#curves'>curves &amp; pictures</a></nav>\n");
  runs_section(p);
  fprintf(p->f, "<h2 id='tables'>Tables</h2>\n<p class='note'>Every number links to its run "
                "(row of the runs table); a cell over several seeds shows mean ± sample std "
                "and the ids of its runs below.</p>\n");
  aib_table(p, "aib_table1", "AIB Table 1: top-1 error (%)",
            "columns: evaluation sets (results/error.h5 of ibx eval error; the trainer's last "
            "test error where there is none)");
  aib_table(p, "aib_table2", "AIB Table 2: interpretability score (%)",
            "columns: modification and its parameter (results/interpret.h5 of ibx eval "
            "interpret); heads without an attention map have no row");
  iba_table(p);
  ablations(p);
  run_sections(p);
}

int ibx_report_write(const char *dir, const char *html_path, FILE *log,
                     ibx_report_summary *summary) {
  memset(summary, 0, sizeof *summary);
  page p = {0};
  p.log = log, p.sum = summary;
  p.pf = open_memstream(&p.problems, &p.problems_len);
  if (!p.pf)
    return ibx_fail(IBX_ERR_NOMEM, "report: out of memory");
  ibx_collect_data d;
  int rc = ibx_collect_read(dir, p.pf, &d);
  summary->n_problems = d.n_problems;
  fflush(p.pf);
  if (log && p.problems_len)
    fputs(p.problems, log);
  if (rc) {
    fclose(p.pf), free(p.problems);
    ibx_collect_data_free(&d);
    return rc;
  }
  p.d = &d;
  char *html = NULL;
  size_t html_len = 0;
  p.f = open_memstream(&html, &html_len);
  if (!p.f)
    rc = ibx_fail(IBX_ERR_NOMEM, "report: out of memory");
  if (!rc) {
    page_body(&p, dir);
    fflush(p.pf);
    if (p.problems_len) {
      fprintf(p.f, "<h2 id='problems'>Problems</h2>\n<ul class='problems'>\n");
      for (char *line = p.problems, *end; *line; line = end + (*end != '\0')) {
        end = line + strcspn(line, "\n");
        const char keep = *end;
        *end = '\0';
        fprintf(p.f, "<li>");
        ibx_html_text(p.f, line);
        fprintf(p.f, "</li>\n");
        *end = keep;
      }
      fprintf(p.f, "</ul>\n");
    }
    fprintf(p.f, "</body></html>\n");
    if (fclose(p.f))
      rc = ibx_fail(IBX_ERR_NOMEM, "report: out of memory");
    if (!rc)
      rc = ibx_sw_write_text(html_path, html);
  }
  summary->n_runs = d.n_runs;
  free(html);
  fclose(p.pf), free(p.problems);
  ibx_collect_data_free(&d);
  return rc;
}
