/* Configuration: defaults, INI loading, overrides, one-line errors naming the
 * file, line and key, round trip through the resolved INI text, and
 * docs/config.md matching the schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/config.h"
#include "ibx/data.h"
#include "ibx/run_config.h"
#include "testutil.h"

static char *write_tmp(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", IBX_TEST_TMP, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_defaults_and_types(void **state) {
  (void)state;
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  assert_string_equal(ibx_config_string(&c, "data.dataset"), "fashion-mnist");
  assert_int_equal(ibx_config_int(&c, "model.K"), 256);
  assert_float_equal(ibx_config_float(&c, "model.beta"), 0.01, 1e-12);
  assert_int_equal(ibx_config_int(&c, "model.Q"), 30);
  assert_true(ibx_config_bool(&c, "data.augment"));
  const long *ms;
  assert_int_equal(ibx_config_list(&c, "train.milestones", &ms), 0);
  ibx_config_free(&c);
}

static void test_file_then_overrides(void **state) {
  (void)state;
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  const char *p = write_tmp("ok.ini", "; comment\n[model]\nhead = aib-qt\nQ = 10\n\n"
                                      "[train]\nmilestones = 5, 10 ,20\nnesterov = no\n");
  assert_ibx_ok(ibx_config_load(&c, p));
  assert_string_equal(ibx_config_string(&c, "model.head"), "aib-qt");
  assert_int_equal(ibx_config_int(&c, "model.Q"), 10);
  assert_false(ibx_config_bool(&c, "train.nesterov"));
  const long *ms;
  assert_int_equal(ibx_config_list(&c, "train.milestones", &ms), 3);
  assert_int_equal(ms[2], 20);
  assert_ibx_ok(ibx_config_override(&c, "model.Q=50"));
  assert_ibx_ok(ibx_config_override(&c, " model.beta = 0.1 "));
  assert_int_equal(ibx_config_int(&c, "model.Q"), 50);
  assert_float_equal(ibx_config_float(&c, "model.beta"), 0.1, 1e-12);
  ibx_config_free(&c);
}

static void expect_error(const char *ini, const char *override, const char *must_contain) {
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  int rc;
  if (ini)
    rc = ibx_config_load(&c, write_tmp("bad.ini", ini));
  else
    rc = ibx_config_override(&c, override);
  assert_int_not_equal(rc, IBX_OK);
  if (!strstr(ibx_errmsg(), must_contain))
    fail_msg("error '%s' does not mention '%s'", ibx_errmsg(), must_contain);
  assert_null(strchr(ibx_errmsg(), '\n'));
  ibx_config_free(&c);
}

static void test_errors_name_file_line_and_key(void **state) {
  (void)state;
  expect_error("[model]\nhead = aib\nQ = 1\n", NULL, "bad.ini:3: model.Q: 1 is outside");
  expect_error("[model]\nhead = transformer\n", NULL, "model.head: 'transformer' is not one of");
  expect_error("[model]\nwidht = 0.5\n", NULL, "bad.ini:2: unknown key model.widht");
  expect_error("[modle]\nK = 4\n", NULL, "unknown section [modle]");
  expect_error("[model]\nK = 12abc\n", NULL, "model.K: '12abc' is not an integer");
  expect_error("[train]\nlr = nan\n", NULL, "train.lr");
  expect_error("[train]\nmilestones = 5,x\n", NULL, "train.milestones");
  expect_error("[model]\nthis line is not ini\n", NULL, "bad.ini:2: syntax error");
  expect_error(NULL, "model.K=-3", "override 'model.K=-3': model.K: -3 is outside");
  expect_error(NULL, "K=3", "expected section.key=value");
  expect_error(NULL, "train.bogus=3", "unknown key train.bogus");
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  assert_int_equal(ibx_config_load(&c, "/nonexistent/run.ini"), IBX_ERR_IO);
  assert_non_null(strstr(ibx_errmsg(), "/nonexistent/run.ini"));
  ibx_config_free(&c);
}

static void test_resolved_ini_round_trip(void **state) {
  (void)state;
  ibx_config a, b;
  assert_ibx_ok(ibx_config_init(&a));
  assert_ibx_ok(ibx_config_override(&a, "model.head=dvib"));
  assert_ibx_ok(ibx_config_override(&a, "train.milestones=3,7"));
  assert_ibx_ok(ibx_config_override(&a, "output.dir=results/x y"));
  char *text = ibx_config_to_ini(&a);
  assert_non_null(text);
  assert_ibx_ok(ibx_config_init(&b));
  assert_ibx_ok(ibx_config_load_string(&b, text, "stored config"));
  for (int i = 0; i < a.count; i++)
    assert_string_equal(a.values[i].text, b.values[i].text);
  free(text);
  ibx_config_free(&a);
  ibx_config_free(&b);
}

static void test_docs_match_schema(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/docs/config.md", IBX_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("%s is missing: run 'ibx config docs > docs/config.md'", path);
  static char buf[1 << 17];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *md = ibx_config_docs_markdown();
  if (strcmp(buf, md))
    fail_msg("docs/config.md is out of date: run 'ibx config docs > docs/config.md'");
  free(md);
}

/* data.dataset's choices are exactly the dataset registry's kinds marked
 * in_config (src/data/dataset_named.c), in the registry's order. */
static void test_dataset_choices_match_registry(void **state) {
  (void)state;
  const ibx_cfg_key *k = ibx_config_schema;
  while (k->key && !(!strcmp(k->section, "data") && !strcmp(k->key, "dataset")))
    k++;
  assert_non_null(k->key);
  char want[512] = "";
  for (int i = 0; i < ibx_dataset_kind_count(); i++) {
    const ibx_dataset_kind *d = ibx_dataset_kind_at(i);
    if (!d->in_config)
      continue;
    if (want[0])
      strcat(want, "|");
    strcat(want, d->name);
  }
  assert_string_equal(k->choices, want);
  assert_ptr_equal(ibx_dataset_find_kind("cub"), ibx_dataset_find_kind("cub200"));
  assert_null(ibx_dataset_find_kind("cub201"));
}

/* The resolver's table and the schema cover each other: every schema key
 * is resolved into a field, and every row names a schema key. */
static void test_run_config_covers_schema(void **state) {
  (void)state;
  int n_schema = 0;
  for (const ibx_cfg_key *k = ibx_config_schema; k->key; k++, n_schema++) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", k->section, k->key);
    int found = 0;
    for (int i = 0; i < ibx_run_config_field_count(); i++)
      found |= !strcmp(ibx_run_config_field_name(i), name);
    if (!found)
      fail_msg("schema key %s has no field in ibx_run_config (src/config/run_config.c)", name);
  }
  assert_int_equal(ibx_run_config_field_count(), n_schema);
}

/* Resolved fields hold the config's values, defaults and overrides alike. */
static void test_run_config_values(void **state) {
  (void)state;
  ibx_config c;
  ibx_run_config rc;
  assert_ibx_ok(ibx_config_init(&c));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_string_equal(rc.data.dataset, "fashion-mnist");
  assert_int_equal(rc.train.optimizer, IBX_OPTIMIZER_SGD);
  assert_int_equal(rc.train.schedule, IBX_SCHED_COSINE);
  assert_true(rc.train.nesterov && rc.data.augment && !rc.train.sync_bn);
  const char *set[] = {"data.dataset=cub200", "data.path=/x/y", "data.image_size=224",
                       "data.flip=no", "data.test_limit=77", "model.head=aib-qt", "model.Q=10",
                       "model.beta=0.125", "model.beta_warmup_epochs=2.5", "train.optimizer=adamw",
                       "train.schedule=multistep", "train.milestones=5,10,20", "train.lr=0.3",
                       "train.seed=12345678901", "train.threads=3", "eval.every=4",
                       "output.dir=out/run", "output.keep_last=5"};
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
    assert_ibx_ok(ibx_config_override(&c, set[i]));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_string_equal(rc.data.dataset, "cub200");
  assert_string_equal(rc.data.path, "/x/y");
  assert_int_equal(rc.data.image_size, 224);
  assert_false(rc.data.flip);
  assert_int_equal(rc.data.test_limit, 77);
  assert_string_equal(rc.model.head, "aib-qt");
  assert_int_equal(rc.model.Q, 10);
  assert_true(rc.model.beta == 0.125 && rc.model.beta_warmup_epochs == 2.5);
  assert_int_equal(rc.train.optimizer, IBX_OPTIMIZER_ADAMW);
  assert_int_equal(rc.train.schedule, IBX_SCHED_MULTISTEP);
  assert_int_equal(rc.train.n_milestones, 3);
  assert_true(rc.train.milestones[0] == 5 && rc.train.milestones[2] == 20);
  assert_true(rc.train.lr == ibx_config_float(&c, "train.lr"));
  assert_true(rc.train.seed == 12345678901L);
  assert_int_equal(rc.train.threads, 3);
  assert_int_equal(rc.eval.every, 4);
  assert_string_equal(rc.output.dir, "out/run");
  assert_int_equal(rc.output.keep_last, 5);
  /* the text run's keys (transformer, word dropout, the linear schedule) */
  const char *text[] = {"data.dataset=fortunes", "data.token_dropout=0.25",
                        "model.backbone=transformer", "model.layers=3", "model.d_model=96", "model.heads=6", "model.d_ff=200",
                        "model.max_len=48", "model.vocab=1500", "model.pool=mean",
                        "model.dropout=0.05", "train.schedule=linear"};
  for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
    assert_ibx_ok(ibx_config_override(&c, text[i]));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_true(rc.data.token_dropout == 0.25);
  assert_string_equal(rc.model.backbone, "transformer");
  assert_true(rc.model.layers == 3 && rc.model.d_model == 96 && rc.model.heads == 6 &&
              rc.model.d_ff == 200 && rc.model.max_len == 48 && rc.model.vocab == 1500);
  assert_string_equal(rc.model.pool, "mean");
  assert_true(rc.model.dropout == ibx_config_float(&c, "model.dropout"));
  assert_int_equal(rc.train.schedule, IBX_SCHED_LINEAR);
  assert_true(ibx_run_is_text(&rc));
  ibx_config_free(&c);
}

/* data.validation_fold / data.validation_folds: range errors from the
 * schema, and one-line errors from the run checks when the fold is not below
 * the fold count or the folds come without data.validation = true. */
static void expect_run_check_error(const char *const *set, int n, const char *needle) {
  ibx_config c;
  ibx_run_config rc;
  assert_ibx_ok(ibx_config_init(&c));
  for (int i = 0; i < n; i++)
    assert_ibx_ok(ibx_config_override(&c, set[i]));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_int_equal(ibx_run_check_validation(&rc), IBX_ERR_ARG);
  if (!strstr(ibx_errmsg(), needle))
    fail_msg("error '%s' does not mention '%s'", ibx_errmsg(), needle);
  assert_null(strchr(ibx_errmsg(), '\n'));
  assert_int_equal(ibx_run_check_data_model(&rc), IBX_ERR_ARG); /* the trainer's check */
  ibx_config_free(&c);
}

static void test_validation_folds(void **state) {
  (void)state;
  ibx_config c;
  ibx_run_config rc;
  assert_ibx_ok(ibx_config_init(&c));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_true(rc.data.validation_fold == 0 && rc.data.validation_folds == 5);
  assert_ibx_ok(ibx_run_check_validation(&rc));
  const char *ok[] = {"data.dataset=fortunes", "model.backbone=transformer",
                      "data.validation=true", "data.validation_fold=9",
                      "data.validation_folds=10"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    assert_ibx_ok(ibx_config_override(&c, ok[i]));
  assert_ibx_ok(ibx_run_config_resolve(&c, &rc));
  assert_true(rc.data.validation && rc.data.validation_fold == 9 && rc.data.validation_folds == 10);
  assert_ibx_ok(ibx_run_check_validation(&rc));
  assert_ibx_ok(ibx_run_check_data_model(&rc));
  ibx_config_free(&c);
  expect_error(NULL, "data.validation_folds=1", "data.validation_folds: 1 is outside");
  expect_error(NULL, "data.validation_fold=-1", "data.validation_fold: -1 is outside");
  expect_error("[data]\nvalidation_folds = 101\n", NULL, "bad.ini:2: data.validation_folds");
  const char *past[] = {"data.validation=true", "data.validation_fold=5"};
  expect_run_check_error(past, 2, "data.validation_fold = 5 must be below data.validation_folds = 5");
  const char *past3[] = {"data.validation=true", "data.validation_folds=3", "data.validation_fold=3"};
  expect_run_check_error(past3, 3, "data.validation_fold = 3 must be below data.validation_folds = 3");
  const char *no_val[] = {"data.validation_fold=2"};
  expect_run_check_error(no_val, 1, "need data.validation = true");
  const char *no_val2[] = {"data.validation_folds=10"};
  expect_run_check_error(no_val2, 1, "data.validation_folds = 10: the folds need data.validation");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dataset_choices_match_registry),
      cmocka_unit_test(test_run_config_covers_schema),
      cmocka_unit_test(test_run_config_values),
      cmocka_unit_test(test_defaults_and_types),
      cmocka_unit_test(test_file_then_overrides),
      cmocka_unit_test(test_errors_name_file_line_and_key),
      cmocka_unit_test(test_resolved_ini_round_trip),
      cmocka_unit_test(test_docs_match_schema),
      cmocka_unit_test(test_validation_folds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
