/* Config files that used to be accepted silently or reported wrongly
 * (issue 13, defect 6): a directory given as the config file, a key set
 * twice in one section, an unclosed "[section" header. Each is a one-line
 * error naming the file and the line(s). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ibx/config.h"
#include "testutil.h"

static const char *write_tmp(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", IBX_TEST_TMP, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void expect_load_error(const char *path, const char *must_contain) {
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  assert_int_not_equal(ibx_config_load(&c, path), IBX_OK);
  if (!strstr(ibx_errmsg(), must_contain))
    fail_msg("error '%s' does not mention '%s'", ibx_errmsg(), must_contain);
  assert_null(strchr(ibx_errmsg(), '\n'));
  ibx_config_free(&c);
}

static void test_directory_is_not_a_config(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/config-dir.ini", IBX_TEST_TMP);
  mkdir(dir, 0775);
  expect_load_error(dir, "config-dir.ini: not a config file (a directory)");
}

static void test_duplicate_key_names_both_lines(void **state) {
  (void)state;
  expect_load_error(write_tmp("dup.ini", "[model]\nK = 4\nbeta = 0.1\n\n[train]\nlr = 0.1\n"
                                         "[model]\n  K=8\n"),
                    "dup.ini:8: model.K is set twice (lines 2 and 8)");
  /* the same key in two sections, and a multi-line value, are fine */
  ibx_config c;
  assert_ibx_ok(ibx_config_init(&c));
  assert_ibx_ok(ibx_config_load(&c, write_tmp("nodup.ini", "[train]\nbatch_size = 32\n[eval]\nbatch_size = 64\n")));
  assert_int_equal(ibx_config_int(&c, "train.batch_size"), 32);
  assert_int_equal(ibx_config_int(&c, "eval.batch_size"), 64);
  ibx_config_free(&c);
}

static void test_unclosed_section(void **state) {
  (void)state;
  expect_load_error(write_tmp("open.ini", "[model]\nK = 4\n[train\nlr = 0.1\n"),
                    "open.ini:3: unclosed section header '[train'");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_directory_is_not_a_config),
      cmocka_unit_test(test_duplicate_key_names_both_lines),
      cmocka_unit_test(test_unclosed_section),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
