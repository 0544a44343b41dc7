/* ibx collect: a sweep directory written here with the documented results
 * files (error.h5, interpret.h5, attribution.h5) and metrics.h5; the tables'
 * numbers must equal mean and sample std of exactly the files' numbers, each
 * cell must name its runs, a corrupt file must be reported while the rest is
 * collected, and the beta ablation must be drawn as a PNG. */
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ibx/collect.h"
#include "ibx/config.h"
#include "ibx/h5io.h"
#include "ibx/metrics.h"
#include "testutil.h"

#define N_RUNS 12

/* snprintf without GCC's truncation warnings (test paths are short) */
static void fmt(char *out, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t len, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  vsnprintf(out, len, f, ap);
  va_end(ap);
}
static char sweep_dir[512];

typedef struct {
  char id[32], label[128];
  double err_fm, err_stl, score_p8, score_r4, deg8, deg14, bbox;
  int seed, from_metrics;
} fake_run;
static fake_run runs[N_RUNS];

static void mkdir_p(const char *p) {
  char cmd[600];
  fmt(cmd, sizeof cmd, "mkdir -p '%s'", p);
  assert_int_equal(system(cmd), 0);
}

static void group(ibx_h5 *f, const char *path) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2((hid_t)f->id, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(g >= 0);
  H5Gclose(g);
  H5Pclose(lcpl);
}

static void write_run(int r, const char *head, const char *beta, int seed) {
  fake_run *x = &runs[r];
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  char a[128];
  fmt(a, sizeof a, "model.head=%s", head);
  assert_ibx_ok(ibx_config_override(&c, a));
  fmt(a, sizeof a, "model.beta=%s", beta);
  assert_ibx_ok(ibx_config_override(&c, a));
  fmt(a, sizeof a, "train.seed=%d", seed);
  assert_ibx_ok(ibx_config_override(&c, a));
  for (int i = 0; i < c.count; i++) /* the label shows the normalised text */
    if (!strcmp(c.values[i].key->key, "beta"))
      fmt(x->label, sizeof x->label, "vgg16-%s beta=%s", head, c.values[i].text);
  fmt(x->id, sizeof x->id, "run%02d", r);
  char dir[600], path[700];
  fmt(dir, sizeof dir, "%s/%s", sweep_dir, x->id);
  mkdir_p(dir);
  fmt(path, sizeof path, "%s/run.ini", dir);
  char *ini = ibx_config_to_ini(&c);
  FILE *f = fopen(path, "w");
  fputs(ini, f), fclose(f), free(ini);
  ibx_config_free(&c);
  /* numbers that differ per run, so a mix-up shows */
  x->seed = seed;
  x->err_fm = 5.0 + 0.731 * r + 0.113 * seed * seed;
  x->err_stl = 40.0 + 1.7 * r - 0.9 * seed;
  x->score_p8 = 90.0 - 0.37 * r + 1.1 * seed;
  x->score_r4 = 60.0 + 0.53 * r;
  x->deg8 = 0.5 + 0.01 * r - 0.003 * seed;
  x->deg14 = 0.4 + 0.02 * r;
  x->bbox = 0.3 + 0.005 * r + 0.01 * seed;
  x->from_metrics = seed == 2; /* evaluated by the trainer only */
  fmt(path, sizeof path, "%s/metrics.h5", dir);
  ibx_metrics *m;
  assert_ibx_ok(ibx_metrics_open(path, -1, -1, &m));
  for (int e = 1; e <= 2; e++) {
    double row[IBX_EPOCH_COLUMNS] = {e, 0.5, e == 2 ? x->err_fm : 90.0, 1, 1, 0, 0, 0, 1};
    assert_ibx_ok(ibx_metrics_append_epoch(m, row));
  }
  assert_ibx_ok(ibx_metrics_close(m));
  fmt(path, sizeof path, "%s/results", dir);
  mkdir_p(path);
  ibx_h5 h;
  if (!x->from_metrics) {
    fmt(path, sizeof path, "%s/results/error.h5", dir);
    assert_ibx_ok(ibx_h5_create(&h, path));
    group(&h, "/error/fashion-mnist-test");
    group(&h, "/error/stl10-test");
    assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/error/fashion-mnist-test", "top1_error", x->err_fm));
    assert_ibx_ok(ibx_h5_write_attr_i64(&h, "/error/fashion-mnist-test", "n_samples", 10000));
    assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/error/stl10-test", "top1_error", x->err_stl));
    assert_ibx_ok(ibx_h5_close(&h));
  }
  fmt(path, sizeof path, "%s/results/interpret.h5", dir);
  assert_ibx_ok(ibx_h5_create(&h, path));
  group(&h, "/interpret/color_block/p8");
  group(&h, "/interpret/high_pass/r4");
  assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/interpret/color_block/p8", "score", x->score_p8));
  assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/interpret/high_pass/r4", "score", x->score_r4));
  assert_ibx_ok(ibx_h5_close(&h));
  fmt(path, sizeof path, "%s/results/attribution.h5", dir);
  assert_ibx_ok(ibx_h5_create(&h, path));
  group(&h, "/attribution/saliency");
  assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/attribution/saliency", "degradation_8", x->deg8));
  assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/attribution/saliency", "degradation_14", x->deg14));
  assert_ibx_ok(ibx_h5_write_attr_f64(&h, "/attribution/saliency", "bbox_ratio", x->bbox));
  assert_ibx_ok(ibx_h5_close(&h));
}

/* Mean and sample std of field over the runs with this label (and filter). */
static void expect(const char *label, size_t field, int only_error_file, double *mean,
                   double *std, int *n, char *ids) {
  double sum = 0, sq = 0;
  *n = 0;
  ids[0] = '\0';
  for (int r = 0; r < N_RUNS; r++)
    if (!strcmp(runs[r].label, label) && (!only_error_file || !runs[r].from_metrics)) {
      sum += *(double *)((char *)&runs[r] + field), ++*n;
      strcat(ids, *ids ? " " : ""), strcat(ids, runs[r].id);
    }
  *mean = sum / *n;
  for (int r = 0; r < N_RUNS; r++)
    if (!strcmp(runs[r].label, label) && (!only_error_file || !runs[r].from_metrics)) {
      double v = *(double *)((char *)&runs[r] + field);
      sq += (v - *mean) * (v - *mean);
    }
  *std = *n > 1 ? sqrt(sq / (*n - 1)) : 0;
}

/* Finds "row,col,..." in a table CSV and checks mean, std, n and run ids. */
static void check_cell(const char *csv, const char *row, const char *col, double mean, double std,
                       int n, const char *ids) {
  char path[700], line[4096], want[512];
  fmt(path, sizeof path, "%s/tables/%s", sweep_dir, csv);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  fmt(want, sizeof want, "%s,%s,", row, col);
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, want, strlen(want))) {
      double m, s;
      int k;
      char got_ids[2048];
      assert_int_equal(sscanf(line + strlen(want), "%lf,%lf,%d,%2047[^\n]", &m, &s, &k, got_ids),
                       4);
      if (fabs(m - mean) > 1e-9 * fabs(mean) || fabs(s - std) > 1e-9 + 1e-9 * std || k != n)
        fail_msg("%s %s/%s: got %.12g ± %.12g (n=%d), files say %.12g ± %.12g (n=%d)", csv, row,
                 col, m, s, k, mean, std, n);
      assert_string_equal(got_ids, ids);
      found = 1;
    }
  fclose(f);
  if (!found)
    fail_msg("%s: no row '%s' column '%s'", csv, row, col);
}

static void test_tables_equal_files(void **state) {
  (void)state;
  fmt(sweep_dir, sizeof sweep_dir, "%s/collect-sweep", IBX_TEST_TMP);
  assert_int_equal(system("rm -rf " IBX_TEST_TMP "/collect-sweep"), 0);
  const char *heads[] = {"aib", "aib-qt"}, *betas[] = {"0.01", "0.1"};
  int r = 0;
  for (int h = 0; h < 2; h++)
    for (int b = 0; b < 2; b++)
      for (int s = 0; s < 3; s++)
        write_run(r++, heads[h], betas[b], s);
  /* a run whose error file is corrupt: reported, its other results kept */
  char path[700];
  fmt(path, sizeof path, "%s/run03/results/error.h5", sweep_dir);
  FILE *f = fopen(path, "w");
  fputs("this is not HDF5", f), fclose(f);
  runs[3].from_metrics = -1; /* no error numbers from it at all */

  char out[700];
  fmt(out, sizeof out, "%s/tables", sweep_dir);
  char report_path[700];
  fmt(report_path, sizeof report_path, "%s/report.txt", IBX_TEST_TMP);
  FILE *report = fopen(report_path, "w");
  ibx_collect_summary sum;
  assert_ibx_ok(ibx_collect(sweep_dir, out, report, &sum));
  fclose(report);
  assert_int_equal(sum.n_runs, N_RUNS);
  assert_int_equal(sum.n_problems, 1);
  char text[65536];
  f = fopen(report_path, "r");
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  assert_non_null(strstr(text, "run03/results/error.h5: not a readable HDF5 file"));
  assert_non_null(strstr(text, "AIB Table 1"));

  for (int k = 0; k < N_RUNS; k += 3) {
    const char *label = runs[k].label;
    double mean, std;
    int cnt;
    char ids[512];
    /* fashion-mnist-test: error.h5 where present, metrics.h5 (seed 2) else;
     * run03's corrupt file removes it from this column only */
    double sum_v = 0, sq = 0;
    int m = 0;
    ids[0] = '\0';
    for (int q = 0; q < N_RUNS; q++)
      if (!strcmp(runs[q].label, label) && runs[q].from_metrics >= 0) {
        sum_v += runs[q].err_fm, m++;
        strcat(ids, *ids ? " " : ""), strcat(ids, runs[q].id);
      }
    mean = sum_v / m;
    for (int q = 0; q < N_RUNS; q++)
      if (!strcmp(runs[q].label, label) && runs[q].from_metrics >= 0)
        sq += (runs[q].err_fm - mean) * (runs[q].err_fm - mean);
    check_cell("aib_table1.csv", label, "fashion-mnist-test", mean, sqrt(sq / (m - 1)), m, ids);
    sum_v = sq = 0, m = 0, ids[0] = '\0';
    for (int q = 0; q < N_RUNS; q++)
      if (!strcmp(runs[q].label, label) && runs[q].from_metrics == 0) {
        sum_v += runs[q].err_stl, m++;
        strcat(ids, *ids ? " " : ""), strcat(ids, runs[q].id);
      }
    mean = sum_v / m;
    for (int q = 0; q < N_RUNS; q++)
      if (!strcmp(runs[q].label, label) && runs[q].from_metrics == 0)
        sq += (runs[q].err_stl - mean) * (runs[q].err_stl - mean);
    check_cell("aib_table1.csv", label, "stl10-test", mean, m > 1 ? sqrt(sq / (m - 1)) : 0, m,
               ids);
    expect(label, offsetof(fake_run, score_p8), 0, &mean, &std, &cnt, ids);
    check_cell("aib_table2.csv", label, "color_block p8", mean, std, cnt, ids);
    expect(label, offsetof(fake_run, score_r4), 0, &mean, &std, &cnt, ids);
    check_cell("aib_table2.csv", label, "high_pass r4", mean, std, cnt, ids);
    char col[256];
    expect(label, offsetof(fake_run, deg8), 0, &mean, &std, &cnt, ids);
    fmt(col, sizeof col, "%s: deg 8x8", label);
    check_cell("iba_table1.csv", "saliency", col, mean, std, cnt, ids);
    expect(label, offsetof(fake_run, bbox), 0, &mean, &std, &cnt, ids);
    fmt(col, sizeof col, "%s: bbox", label);
    check_cell("iba_table1.csv", "saliency", col, mean, std, cnt, ids);
  }
  const char *files[] = {"aib_table1.md", "aib_table1.tex", "aib_table2.md", "iba_table1.tex",
                         "values.csv", "ablation_beta.png"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    fmt(path, sizeof path, "%s/%s", out, files[i]);
    struct stat sb;
    if (stat(path, &sb) || sb.st_size == 0)
      fail_msg("%s missing or empty", path);
  }
  fmt(path, sizeof path, "%s/ablation_beta.png", out);
  unsigned char sig[8] = {0};
  f = fopen(path, "rb");
  assert_int_equal(fread(sig, 1, 8, f), 8);
  fclose(f);
  assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_tables_equal_files)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
