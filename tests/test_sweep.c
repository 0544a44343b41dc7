/* Sweep files: expansion (grid product, zipped axes, list values, config
 * files as an axis), stable content-addressed run ids, errors naming the
 * line, and sbatch scripts parsed back for their array range, throttle,
 * signal, requeue, resources and dependencies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/sweep.h"
#include "testutil.h"

static const char *write_tmp(const char *name, const char *text) {
  static char path[4][512];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, 512, "%s/%s", IBX_TEST_TMP, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static const char *stages =
    "[stage train]\ncommand = train {config}\nresume = train --resume {run_dir}\n"
    "outputs = metrics.h5\n"
    "[stage eval]\nafter = train\ntasks = 1\ncommand = eval error --ckpt {run_dir}\n"
    "outputs = results/error.h5\n"
    "[stage collect]\nper = sweep\nafter = eval\ncommand = collect {sweep_dir}\n";

static ibx_sweep *load(const char *name, const char *body) {
  char text[4096];
  snprintf(text, sizeof text, "%s%s", body, stages);
  ibx_sweep *s = calloc(1, sizeof *s);
  assert_non_null(s);
  assert_ibx_ok(ibx_sweep_load(write_tmp(name, text), s));
  return s;
}

/* The value of section.key in a run's resolved INI text. */
static void value_of(const ibx_sweep_run *run, const char *section, const char *key, char *out) {
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  assert_ibx_ok(ibx_config_load_string(&c, run->config_ini, "run"));
  char name[128];
  snprintf(name, sizeof name, "%s.%s", section, key);
  for (int i = 0; i < c.count; i++)
    if (!strcmp(c.values[i].key->section, section) && !strcmp(c.values[i].key->key, key))
      strcpy(out, c.values[i].text);
  ibx_config_free(&c);
}

static void test_grid_zip_lists(void **state) {
  (void)state;
  ibx_sweep *s = load("grid.ini", "[sweep]\nname = g\nresults = /r\n"
                                  "[set]\ntrain.epochs = 2\n"
                                  "[grid]\nmodel.beta = 0.001, 0.01, 0.1\ntrain.seed = 0, 1\n"
                                  "[zip]\nmodel.head = aib, aib-qt\nmodel.Q = 10, 20\n"
                                  "[grid]\ntrain.milestones = [5,10], [7]\n");
  assert_int_equal(s->n_axes, 4);
  ibx_sweep_run *runs;
  int n;
  assert_ibx_ok(ibx_sweep_expand(s, &runs, &n));
  assert_int_equal(n, 3 * 2 * 2 * 2);
  int seen_qt20 = 0, seen_aib10 = 0;
  for (int i = 0; i < n; i++) {
    char head[64], q[64], epochs[64], ms[64];
    value_of(&runs[i], "model", "head", head);
    value_of(&runs[i], "model", "Q", q);
    value_of(&runs[i], "train", "epochs", epochs);
    value_of(&runs[i], "train", "milestones", ms);
    assert_string_equal(epochs, "2");
    /* zipped: aib always with Q=10, aib-qt always with Q=20 */
    assert_string_equal(q, !strcmp(head, "aib") ? "10" : "20");
    seen_qt20 |= !strcmp(head, "aib-qt");
    seen_aib10 |= !strcmp(head, "aib");
    assert_true(!strcmp(ms, "5,10") || !strcmp(ms, "7"));
    char dir[600];
    snprintf(dir, sizeof dir, "/r/g/%s", runs[i].id);
    assert_string_equal(runs[i].dir, dir);
    assert_non_null(strstr(runs[i].config_ini, dir)); /* output.dir is the run directory */
    for (int j = 0; j < i; j++)
      assert_string_not_equal(runs[i].id, runs[j].id);
  }
  assert_true(seen_qt20 && seen_aib10);
  assert_non_null(strstr(runs[0].label, "model.beta=0.001"));
  ibx_sweep_runs_free(runs, n);
  free(s);
}

static void test_stable_ids(void **state) {
  (void)state;
  /* the same runs described with keys in another order, one value through
   * [set] instead of an axis, and another results root: same ids */
  ibx_sweep *a = load("ida.ini", "[sweep]\nname = a\n[set]\nmodel.K = 128\ntrain.epochs = 3\n"
                                 "[grid]\nmodel.beta = 0.01, 0.1\n");
  ibx_sweep *b = load("idb.ini", "[sweep]\nresults = elsewhere\nname = b\n"
                                 "[grid]\nmodel.beta = 0.1, 0.01\n"
                                 "[set]\ntrain.epochs = 3\n[grid]\nmodel.K = 128\n");
  ibx_sweep *c = load("idc.ini", "[sweep]\nname = c\n[set]\nmodel.K = 128\ntrain.epochs = 4\n"
                                 "[grid]\nmodel.beta = 0.01, 0.1\n");
  ibx_sweep_run *ra, *rb, *rc;
  int na, nb, nc;
  assert_ibx_ok(ibx_sweep_expand(a, &ra, &na));
  assert_ibx_ok(ibx_sweep_expand(b, &rb, &nb));
  assert_ibx_ok(ibx_sweep_expand(c, &rc, &nc));
  assert_int_equal(na, 2), assert_int_equal(nb, 2), assert_int_equal(nc, 2);
  assert_string_equal(ra[0].id, rb[1].id); /* beta 0.01 */
  assert_string_equal(ra[1].id, rb[0].id); /* beta 0.1 */
  assert_string_not_equal(ra[0].id, rc[0].id); /* another epoch count: another run */
  assert_string_not_equal(ra[1].id, rc[1].id);
  /* the id is a function of the resolved config alone */
  ibx_config cfg;
  assert_ibx_ok(ibx_config_init(&cfg));
  assert_ibx_ok(ibx_config_load_string(&cfg, ra[0].config_ini, "run"));
  char id[17];
  ibx_sweep_config_id(&cfg, id);
  assert_string_equal(id, ra[0].id);
  assert_ibx_ok(ibx_config_override(&cfg, "output.dir=/somewhere/else"));
  ibx_sweep_config_id(&cfg, id);
  assert_string_equal(id, ra[0].id);
  assert_ibx_ok(ibx_config_override(&cfg, "train.seed=7"));
  ibx_sweep_config_id(&cfg, id);
  assert_string_not_equal(id, ra[0].id);
  ibx_config_free(&cfg);
  ibx_sweep_runs_free(ra, na), ibx_sweep_runs_free(rb, nb), ibx_sweep_runs_free(rc, nc);
  free(a), free(b), free(c);
}

static void test_config_axis(void **state) {
  (void)state;
  write_tmp("cfg_plain.ini", "[model]\nhead = plain\n[train]\nepochs = 5\n");
  write_tmp("cfg_aib.ini", "[model]\nhead = aib\n[train]\nepochs = 6\n");
  ibx_sweep *s = load("cfgaxis.ini", "[sweep]\nname = t\n[zip]\nconfig = cfg_plain.ini, "
                                     "cfg_aib.ini\n[set]\ntrain.epochs = 1\n");
  ibx_sweep_run *runs;
  int n;
  assert_ibx_ok(ibx_sweep_expand(s, &runs, &n));
  assert_int_equal(n, 2);
  char head[64], epochs[64];
  value_of(&runs[1], "model", "head", head);
  value_of(&runs[1], "train", "epochs", epochs);
  assert_string_equal(head, "aib");
  assert_string_equal(epochs, "1"); /* [set] applies on top of the axis's file */
  assert_string_equal(runs[1].label, "config=cfg_aib");
  ibx_sweep_runs_free(runs, n);
  free(s);
}

/* Loading must fail with "FILE:LINE:" and the given words. */
static void expect_error(const char *name, const char *text, int line, const char *words) {
  ibx_sweep *s = calloc(1, sizeof *s);
  const char *path = write_tmp(name, text);
  assert_int_not_equal(ibx_sweep_load(path, s), IBX_OK);
  char where[600];
  snprintf(where, sizeof where, "%s:%d:", path, line);
  if (!strstr(ibx_errmsg(), where) || !strstr(ibx_errmsg(), words))
    fail_msg("expected '%s ... %s', got '%s'", where, words, ibx_errmsg());
  free(s);
}

static void test_bad_input(void **state) {
  (void)state;
  expect_error("unknown_key.ini", "[sweep]\nname = x\n[grid]\nmodel.betta = 1, 2\n", 4,
               "model.betta");
  expect_error("unknown_sweep_key.ini", "[sweep]\nname = x\nnmae = y\n", 3, "unknown key 'nmae'");
  expect_error("empty_axis.ini", "[sweep]\nname = x\n[grid]\nmodel.beta =\n", 4, "empty axis");
  expect_error("empty_item.ini", "[sweep]\nname = x\n[grid]\nmodel.beta = 0.1,,1\n", 4,
               "empty");
  expect_error("bad_value.ini", "[sweep]\nname = x\n[grid]\nmodel.K = 64, lots\n", 4, "lots");
  expect_error("zip_len.ini", "[sweep]\nname = x\n[zip]\nmodel.K = 64, 128\nmodel.Q = 2\n", 5,
               "has 1 values");
  expect_error("missing_stage.ini",
               "[sweep]\nname = x\n[stage train]\ncommand = train {config}\n"
               "[stage eval]\nafter = trian\ncommand = eval\n",
               6, "'trian', which is not a stage defined above");
  expect_error("placeholder.ini",
               "[sweep]\nname = x\n[stage train]\ncommand = train {confg}\n", 3, "{confg}");
  expect_error("outdir.ini", "[sweep]\nname = x\n[set]\noutput.dir = a\n", 4, "output.dir");
  expect_error("section.ini", "[sweep]\nname = x\n[grdi]\n", 3, "unknown section");
}

/* The value of "#SBATCH --NAME=" in a script, or NULL. */
static const char *directive(const char *script, const char *name, char *out, size_t len) {
  char pat[64];
  snprintf(pat, sizeof pat, "\n#SBATCH --%s", name);
  const char *at = strstr(script, pat);
  if (!at)
    return NULL;
  at += strlen(pat);
  if (*at == '=')
    at++;
  size_t n = strcspn(at, "\n");
  snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), at);
  return out;
}

static void test_sbatch_scripts(void **state) {
  (void)state;
  ibx_sweep *s = load("sb.ini", "[sweep]\nname = sb\n[grid]\nmodel.beta = 0.1, 1\n"
                                "[slurm]\ntasks = 2\ntime = 02:00:00\npartition = gpu\n"
                                "account = proj\nthrottle = 5\n");
  ibx_sbatch_job train = {s, &s->stages[0], "/r/sb", "/r/sb/slurm/submit-1/runs", "/bin/ibx", "",
                          1000, 1000};
  char *script, v[256];
  assert_ibx_ok(ibx_sweep_sbatch_render(&train, ibx_sweep_template(), &script));
  assert_string_equal(directive(script, "array", v, sizeof v), "0-999%5");
  assert_string_equal(directive(script, "signal", v, sizeof v), "B:USR1@120");
  assert_non_null(directive(script, "requeue", v, sizeof v));
  assert_string_equal(directive(script, "ntasks", v, sizeof v), "2");
  assert_string_equal(directive(script, "time", v, sizeof v), "02:00:00");
  assert_string_equal(directive(script, "partition", v, sizeof v), "gpu");
  assert_string_equal(directive(script, "account", v, sizeof v), "proj");
  assert_null(directive(script, "dependency", v, sizeof v));
  assert_non_null(strstr(script, "$((1000 + SLURM_ARRAY_TASK_ID + 1))")); /* chunk offset */
  assert_non_null(strstr(script, "cmd=('/bin/ibx' 'train' \"$run_dir/run.ini\")"));
  assert_non_null(strstr(script, "resume=('/bin/ibx' 'train' '--resume' \"$run_dir\")"));
  assert_non_null(strstr(script, "'srun' '--mpi=pmix'"));
  assert_non_null(strstr(script, "scontrol requeue")); /* exit 3 (checkpointed) -> requeue */
  assert_null(strstr(script, "{{"));
  free(script);

  ibx_sbatch_job eval = {s, &s->stages[1], "/r/sb", "/r/sb/runs", "/bin/ibx", "aftercorr:41",
                         0, 7};
  assert_ibx_ok(ibx_sweep_sbatch_render(&eval, ibx_sweep_template(), &script));
  assert_string_equal(directive(script, "array", v, sizeof v), "0-6%5");
  assert_string_equal(directive(script, "dependency", v, sizeof v), "aftercorr:41");
  assert_string_equal(directive(script, "ntasks", v, sizeof v), "1"); /* the stage's own */
  free(script);

  ibx_sbatch_job collect = {s, &s->stages[2], "/r/sb", "", "/bin/ibx", "afterok:41:42", 0, 0};
  assert_ibx_ok(ibx_sweep_sbatch_render(&collect, ibx_sweep_template(), &script));
  assert_null(directive(script, "array", v, sizeof v));
  assert_string_equal(directive(script, "dependency", v, sizeof v), "afterok:41:42");
  assert_non_null(strstr(script, "cmd=('/bin/ibx' 'collect' '/r/sb')"));
  free(script);
  free(s);
}

/* submit --dry-run with a small MaxArraySize: arrays are chunked, each eval
 * chunk follows its own train chunk task by task, collect follows all. */
static void test_submit_chunks(void **state) {
  (void)state;
  ibx_sweep *s = load("chunks.ini", "[sweep]\nname = chunks\n[grid]\ntrain.seed = 0,1,2,3,4\n");
  char results[600];
  snprintf(results, sizeof results, "%s/chunk-results", IBX_TEST_TMP);
  strcpy(s->results, results);
  char out_path[600];
  snprintf(out_path, sizeof out_path, "%s/chunks.out", IBX_TEST_TMP);
  FILE *f = fopen(out_path, "w");
  assert_non_null(f);
  ibx_submit_options o = {.ibx = "/bin/ibx", .dry_run = 1, .max_array = 2, .out = f};
  int rc = ibx_sweep_submit(s, &o);
  fclose(f);
  assert_ibx_ok(rc);
  FILE *in = fopen(out_path, "r");
  char text[200000];
  size_t n = fread(text, 1, sizeof text - 1, in);
  text[n] = '\0';
  fclose(in);
  assert_non_null(strstr(text, "5 to submit"));
  for (int k = 0; k < 3; k++) { /* 5 runs in arrays of at most 2: 2 + 2 + 1 */
    char name[64], dep[64];
    snprintf(name, sizeof name, "/train-%d.sbatch <==", k);
    assert_non_null(strstr(text, name));
    snprintf(name, sizeof name, "/eval-%d.sbatch <==", k);
    const char *eval = strstr(text, name);
    assert_non_null(eval);
    snprintf(dep, sizeof dep, "--dependency=aftercorr:{train.%d}\n", k);
    const char *next = strstr(eval + 1, "==> ");
    const char *d = strstr(eval, dep);
    assert_true(d && (!next || d < next));
  }
  assert_non_null(strstr(text, "--array=0-1\n"));
  assert_non_null(strstr(text, "--array=0-0\n"));
  assert_non_null(strstr(text, "$((4 + SLURM_ARRAY_TASK_ID + 1))")); /* third chunk */
  assert_non_null(strstr(text, "--dependency=afterok:{eval.0}:{eval.1}:{eval.2}\n"));
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grid_zip_lists), cmocka_unit_test(test_stable_ids),
      cmocka_unit_test(test_config_axis),    cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_sbatch_scripts), cmocka_unit_test(test_submit_chunks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
