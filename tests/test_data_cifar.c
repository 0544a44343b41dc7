/* CIFAR-10 / CIFAR-100 binary readers: tiny batches written in the exact
 * published record layout read back exactly; bad input gives one-line
 * errors naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/data.h"
#include "testutil.h"

static void assert_one_line_error(int rc, int expect, const char *needle1, const char *needle2) {
  const char *msg = ibx_errmsg();
  if (rc != expect)
    fail_msg("expected %s, got %s: %s", ibx_errname(expect), ibx_errname(rc), msg);
  if (strchr(msg, '\n'))
    fail_msg("error message is not one line: %s", msg);
  if (needle1 && !strstr(msg, needle1))
    fail_msg("error message lacks '%s': %s", needle1, msg);
  if (needle2 && !strstr(msg, needle2))
    fail_msg("error message lacks '%s': %s", needle2, msg);
}

static void mkdir_p(const char *dir) {
  assert_true(strlen(dir) < 1024);
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
}

static uint8_t pixel(long i, int k) { return (uint8_t)(i * 131 + k * 7 + 3); }

/* Writes n records for global sample indices first..first+n-1. */
static void write_batch(const char *path, int variant, long first, int n, const int *fine,
                        const int *coarse) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int r = 0; r < n; r++) {
    if (variant == 100)
      fputc(coarse[first + r], f);
    fputc(fine[first + r], f);
    for (int k = 0; k < 3072; k++)
      fputc(pixel(first + r, k), f);
  }
  fclose(f);
}

static void check_sample(const ibx_dataset *ds, long i, long src, int label) {
  uint8_t img[3072];
  int got = -1;
  assert_ibx_ok(ibx_dataset_read(ds, i, img, &got));
  assert_int_equal(got, label);
  for (int k = 0; k < 3072; k++)
    if (img[k] != pixel(src, k))
      fail_msg("sample %ld byte %d: got %d want %d", i, k, img[k], pixel(src, k));
}

static const int labels10[13] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 0, 5, 9};

static void make_cifar10(const char *dir) {
  mkdir_p(dir);
  char p[4096];
  for (int b = 0; b < 5; b++) {
    snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, b + 1);
    write_batch(p, 10, 2 * b, 2, labels10, NULL);
  }
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  write_batch(p, 10, 10, 3, labels10, NULL);
}

static void test_cifar10_roundtrip(void **state) {
  (void)state;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", IBX_TEST_TMP);
  make_cifar10(dir);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cifar10(dir, "train", &ds));
  assert_int_equal(ibx_dataset_count(ds), 10);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, 32), assert_int_equal(w, 32);
  assert_int_equal(ibx_dataset_num_classes(ds), 10);
  assert_string_equal(ibx_dataset_class_name(ds, 1), "automobile");
  assert_string_equal(ibx_dataset_class_name(ds, 6), "frog");
  assert_int_equal(ibx_dataset_num_coarse_classes(ds), 0);
  assert_int_equal(ibx_dataset_coarse_label(ds, 0), -1);
  for (long i = 0; i < 10; i++)
    check_sample(ds, i, i, labels10[i]);
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_cifar10(dir, "test", &ds));
  assert_int_equal(ibx_dataset_count(ds), 3);
  for (long i = 0; i < 3; i++)
    check_sample(ds, i, 10 + i, labels10[10 + i]);
  ibx_dataset_close(ds);
  assert_one_line_error(ibx_dataset_open_cifar10(dir, "val", &ds), IBX_ERR_ARG, "val", NULL);
  assert_null(ds);
}

static const int fine100[5] = {0, 99, 42, 17, 58};
static const int coarse100[5] = {4, 19, 8, 9, 18};

static void test_cifar100_roundtrip(void **state) {
  (void)state;
  char dir[1024], p[4096];
  snprintf(dir, sizeof dir, "%s/cifar-100-binary", IBX_TEST_TMP);
  mkdir_p(dir);
  snprintf(p, sizeof p, "%s/train.bin", dir);
  write_batch(p, 100, 0, 3, fine100, coarse100);
  snprintf(p, sizeof p, "%s/test.bin", dir);
  write_batch(p, 100, 3, 2, fine100, coarse100);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cifar100(dir, "train", &ds));
  assert_int_equal(ibx_dataset_count(ds), 3);
  assert_int_equal(ibx_dataset_num_classes(ds), 100);
  assert_int_equal(ibx_dataset_num_coarse_classes(ds), 20);
  assert_string_equal(ibx_dataset_class_name(ds, 0), "apple");
  assert_string_equal(ibx_dataset_class_name(ds, 99), "worm");
  assert_string_equal(ibx_dataset_class_name(ds, 58), "pickup_truck");
  assert_string_equal(ibx_dataset_coarse_class_name(ds, 0), "aquatic_mammals");
  assert_string_equal(ibx_dataset_coarse_class_name(ds, 19), "vehicles_2");
  assert_null(ibx_dataset_coarse_class_name(ds, 20));
  for (long i = 0; i < 3; i++) {
    check_sample(ds, i, i, fine100[i]);
    assert_int_equal(ibx_dataset_coarse_label(ds, i), coarse100[i]);
  }
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_cifar100(dir, "test", &ds));
  assert_int_equal(ibx_dataset_count(ds), 2);
  for (long i = 0; i < 2; i++) {
    check_sample(ds, i, 3 + i, fine100[3 + i]);
    assert_int_equal(ibx_dataset_coarse_label(ds, i), coarse100[3 + i]);
  }
  ibx_dataset_close(ds);
  /* a CIFAR-100 file is not a CIFAR-10 file: 3074-byte records */
  const char *one[1] = {p};
  assert_one_line_error(ibx_dataset_open_cifar_files(one, 1, 10, &ds), IBX_ERR_FORMAT, p,
                        "3073-byte records");
  assert_null(ds);
}

static void test_missing_and_truncated(void **state) {
  (void)state;
  char dir[1024], p[4096];
  snprintf(dir, sizeof dir, "%s/cifar-10-bad", IBX_TEST_TMP);
  make_cifar10(dir);
  snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
  assert_int_equal(remove(p), 0);
  ibx_dataset *ds = NULL;
  assert_one_line_error(ibx_dataset_open_cifar10(dir, "train", &ds), IBX_ERR_IO,
                        "data_batch_3.bin", NULL);
  assert_null(ds);
  /* a record cut short */
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  assert_int_equal(truncate(p, 3 * 3073 - 100), 0);
  assert_one_line_error(ibx_dataset_open_cifar10(dir, "test", &ds), IBX_ERR_FORMAT,
                        "test_batch.bin", "truncated");
  /* an empty file */
  assert_int_equal(truncate(p, 0), 0);
  assert_one_line_error(ibx_dataset_open_cifar10(dir, "test", &ds), IBX_ERR_FORMAT,
                        "test_batch.bin", "truncated");
  assert_one_line_error(ibx_dataset_open_cifar100(NULL, "test", &ds), IBX_ERR_ARG, "cifar-100",
                        NULL);
  assert_null(ds);
}

static void test_label_out_of_range(void **state) {
  (void)state;
  char p[4096];
  snprintf(p, sizeof p, "%s/cifar-bad-label.bin", IBX_TEST_TMP);
  const char *one[1] = {p};
  ibx_dataset *ds = NULL;
  const int bad10[2] = {3, 10};
  write_batch(p, 10, 0, 2, bad10, NULL);
  assert_one_line_error(ibx_dataset_open_cifar_files(one, 1, 10, &ds), IBX_ERR_FORMAT,
                        "cifar-bad-label.bin", "label 10");
  const int fine_ok[2] = {1, 2}, coarse_bad[2] = {0, 20};
  write_batch(p, 100, 0, 2, fine_ok, coarse_bad);
  assert_one_line_error(ibx_dataset_open_cifar_files(one, 1, 100, &ds), IBX_ERR_FORMAT,
                        "cifar-bad-label.bin", "coarse label 20");
  const int fine_bad[2] = {100, 2}, coarse_ok[2] = {0, 1};
  write_batch(p, 100, 0, 2, fine_bad, coarse_ok);
  assert_one_line_error(ibx_dataset_open_cifar_files(one, 1, 100, &ds), IBX_ERR_FORMAT,
                        "cifar-bad-label.bin", "fine label 100");
  assert_null(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cifar10_roundtrip),
      cmocka_unit_test(test_cifar100_roundtrip),
      cmocka_unit_test(test_missing_and_truncated),
      cmocka_unit_test(test_label_out_of_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
