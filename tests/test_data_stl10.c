/* STL-10 binary reader: fixtures in the published layout (column-major
 * channel planes, labels 1..10) read back exactly as CHW with labels 0..9;
 * the CIFAR-10 view (monkeys dropped, labels remapped, 96->32 area
 * resize); bad input gives one-line errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/data.h"
#include "testutil.h"

#define NI 4
#define SIDE 96

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

/* Constant on 3x3 blocks (so a 96->32 area resize is exact), asymmetric in
 * row/col (so a transposition shows). */
static uint8_t block(int n, int c, int br, int bc) {
  return (uint8_t)(n * 50 + c * 20 + br * 5 + bc * 2 + br * bc);
}
static uint8_t pixel(int n, int c, int row, int col) { return block(n, c, row / 3, col / 3); }

static const uint8_t file_labels[NI] = {1, 8, 10, 3}; /* airplane, monkey, truck, car */

static void write_split(const char *dir, const char *split, int n, const uint8_t *labels, int ny) {
  char p[2048];
  snprintf(p, sizeof p, "%s/%s_X.bin", dir, split);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  for (int k = 0; k < n; k++)
    for (int c = 0; c < 3; c++)
      for (int col = 0; col < SIDE; col++)
        for (int row = 0; row < SIDE; row++)
          fputc(pixel(k, c, row, col), f);
  fclose(f);
  snprintf(p, sizeof p, "%s/%s_y.bin", dir, split);
  f = fopen(p, "wb");
  assert_non_null(f);
  fwrite(labels, 1, (size_t)ny, f);
  fclose(f);
}

static void make_dir(char *dir, size_t cap, const char *name) {
  snprintf(dir, cap, "%s/%s", IBX_TEST_TMP, name);
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
}

static void test_roundtrip(void **state) {
  (void)state;
  char dir[1024];
  make_dir(dir, sizeof dir, "stl10_binary");
  write_split(dir, "train", NI, file_labels, NI);
  write_split(dir, "test", 2, file_labels + 2, 2);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_stl10(dir, "train", &ds));
  assert_int_equal(ibx_dataset_count(ds), NI);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, SIDE), assert_int_equal(w, SIDE);
  assert_string_equal(ibx_dataset_class_name(ds, 7), "monkey");
  static uint8_t img[3 * SIDE * SIDE];
  for (int k = 0; k < NI; k++) {
    int label = -1;
    assert_ibx_ok(ibx_dataset_read(ds, k, img, &label));
    assert_int_equal(label, file_labels[k] - 1);
    for (int ch = 0; ch < 3; ch++)
      for (int row = 0; row < SIDE; row++)
        for (int col = 0; col < SIDE; col++)
          if (img[(ch * SIDE + row) * SIDE + col] != pixel(k, ch, row, col))
            fail_msg("sample %d c%d (%d,%d): got %d want %d", k, ch, row, col,
                     img[(ch * SIDE + row) * SIDE + col], pixel(k, ch, row, col));
  }
  /* resized copy: area average of constant 3x3 blocks is exact */
  ibx_dataset *small = NULL;
  assert_ibx_ok(ibx_dataset_resize_copy(ds, 32, 32, &small));
  assert_int_equal(ibx_dataset_count(small), NI);
  uint8_t s[3 * 32 * 32];
  for (int k = 0; k < NI; k++) {
    int label;
    assert_ibx_ok(ibx_dataset_read(small, k, s, &label));
    assert_int_equal(label, file_labels[k] - 1);
    for (int ch = 0; ch < 3; ch++)
      for (int r = 0; r < 32; r++)
        for (int q = 0; q < 32; q++)
          assert_int_equal(s[(ch * 32 + r) * 32 + q], block(k, ch, r, q));
  }
  ibx_dataset_close(small);
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_stl10(dir, "test", &ds));
  assert_int_equal(ibx_dataset_count(ds), 2);
  int label;
  assert_ibx_ok(ibx_dataset_read(ds, 1, img, &label));
  assert_int_equal(label, 2);
  assert_int_equal(img[(2 * SIDE + 95) * SIDE + 4], pixel(1, 2, 95, 4));
  ibx_dataset_close(ds);
}

static void test_as_cifar10(void **state) {
  (void)state;
  char dir[1024];
  make_dir(dir, sizeof dir, "stl10_cifar");
  write_split(dir, "test", NI, file_labels, NI);
  /* the mapping over all ten classes */
  const int expect[10] = {0, 2, 1, 3, 4, 5, 7, -1, 8, 9};
  for (int k = 0; k < 10; k++)
    assert_int_equal(ibx_stl10_to_cifar10(k), expect[k]);
  assert_int_equal(ibx_stl10_to_cifar10(10), -1);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_stl10_as_cifar10(dir, "test", 32, &ds));
  assert_int_equal(ibx_dataset_count(ds), 3); /* the monkey is gone */
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, 32), assert_int_equal(w, 32);
  assert_string_equal(ibx_dataset_class_name(ds, 1), "automobile");
  const int src[3] = {0, 2, 3}, lab[3] = {0, 9, 1};
  uint8_t s[3 * 32 * 32];
  for (int k = 0; k < 3; k++) {
    int label;
    assert_ibx_ok(ibx_dataset_read(ds, k, s, &label));
    assert_int_equal(label, lab[k]);
    for (int ch = 0; ch < 3; ch++)
      for (int r = 0; r < 32; r++)
        for (int q = 0; q < 32; q++)
          assert_int_equal(s[(ch * 32 + r) * 32 + q], block(src[k], ch, r, q));
  }
  ibx_dataset_close(ds);
  /* enlarging a constant image keeps it constant */
  assert_ibx_ok(ibx_dataset_open_stl10_as_cifar10(dir, "test", 100, &ds));
  static uint8_t big[3 * 100 * 100];
  assert_ibx_ok(ibx_dataset_read(ds, 0, big, NULL));
  assert_int_equal(big[0], block(0, 0, 0, 0));
  ibx_dataset_close(ds);
}

static void test_bad_input(void **state) {
  (void)state;
  char dir[1024], p[2048];
  make_dir(dir, sizeof dir, "stl10_bad");
  ibx_dataset *ds = NULL;
  /* missing files */
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_IO, "train_y.bin",
                        NULL);
  write_split(dir, "train", NI, file_labels, NI);
  snprintf(p, sizeof p, "%s/train_X.bin", dir);
  assert_int_equal(remove(p), 0);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_IO, "train_X.bin",
                        NULL);
  /* truncated images */
  write_split(dir, "train", NI, file_labels, NI);
  assert_int_equal(truncate(p, 3 * 27648 + 1000), 0);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_FORMAT, "train_X.bin",
                        "truncated");
  assert_int_equal(truncate(p, 0), 0);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_FORMAT, "train_X.bin",
                        "truncated");
  /* count mismatch */
  write_split(dir, "train", NI, file_labels, NI - 1);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_FORMAT, "4 images",
                        "3 labels");
  /* labels out of range (0 and 11) */
  const uint8_t bad0[NI] = {1, 0, 2, 3}, bad11[NI] = {1, 2, 11, 3};
  write_split(dir, "train", NI, bad0, NI);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_FORMAT, "train_y.bin",
                        "label 0");
  write_split(dir, "train", NI, bad11, NI);
  assert_one_line_error(ibx_dataset_open_stl10(dir, "train", &ds), IBX_ERR_FORMAT, "train_y.bin",
                        "label 11");
  assert_one_line_error(ibx_dataset_open_stl10(dir, "unlabeled", &ds), IBX_ERR_ARG, "unlabeled",
                        NULL);
  assert_null(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_as_cifar10),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
