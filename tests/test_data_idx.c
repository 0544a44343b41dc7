/* IDX (MNIST / Fashion-MNIST) reader: tiny fixtures written in the real
 * format (plain and gzipped) read back exactly, every bad-input case gives a
 * one-line error naming the file, and the real Fashion-MNIST from the Debian
 * package when it is installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ibx/data.h"
#include "ibx/memory.h"
#include "testutil.h"

#define N 5
#define ROWS 3
#define COLS 4

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void write_bytes(const char *path, const uint8_t *buf, size_t n, int gz) {
  if (gz) {
    gzFile f = gzopen(path, "wb9");
    assert_non_null(f);
    if (n)
      assert_int_equal(gzwrite(f, buf, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
  }
}

/* IDX image file: magic 0x803, n, rows, cols, then n*rows*cols pixels. */
static size_t make_images(uint8_t *buf, uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols) {
  put_be32(buf, magic);
  put_be32(buf + 4, n), put_be32(buf + 8, rows), put_be32(buf + 12, cols);
  for (uint32_t i = 0; i < n * rows * cols; i++)
    buf[16 + i] = (uint8_t)(i * 37 + 11);
  return 16 + (size_t)n * rows * cols;
}

static size_t make_labels(uint8_t *buf, uint32_t n, const uint8_t *labels) {
  put_be32(buf, 0x00000801);
  put_be32(buf + 4, n);
  memcpy(buf + 8, labels, n);
  return 8 + (size_t)n;
}

static const uint8_t fixture_labels[N] = {3, 0, 9, 1, 3};

static void path(char *buf, const char *name) { snprintf(buf, 4096, "%s/%s", IBX_TEST_TMP, name); }

/* Writes images/labels fixtures under the given names (gzipped or not). */
static void write_fixture(const char *img_name, const char *lab_name, int gz) {
  uint8_t buf[16 + N * ROWS * COLS];
  char p[4096];
  path(p, img_name);
  write_bytes(p, buf, make_images(buf, 0x00000803, N, ROWS, COLS), gz);
  path(p, lab_name);
  write_bytes(p, buf, make_labels(buf, N, fixture_labels), gz);
}

static void check_fixture(ibx_dataset *ds) {
  assert_int_equal(ibx_dataset_count(ds), N);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 1);
  assert_int_equal(h, ROWS);
  assert_int_equal(w, COLS);
  assert_int_equal(ibx_dataset_image_size(ds), ROWS * COLS);
  for (long i = 0; i < N; i++) {
    uint8_t img[ROWS * COLS];
    int label = -1;
    assert_ibx_ok(ibx_dataset_read(ds, i, img, &label));
    assert_int_equal(label, fixture_labels[i]);
    for (int k = 0; k < ROWS * COLS; k++)
      assert_int_equal(img[k], (uint8_t)((i * ROWS * COLS + k) * 37 + 11));
  }
  assert_int_equal(ibx_dataset_coarse_label(ds, 0), -1);
  assert_int_equal(ibx_dataset_has_boxes(ds), 0);
}

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

static void test_plain_roundtrip(void **state) {
  (void)state;
  write_fixture("plain-images", "plain-labels", 0);
  char ip[4096], lp[4096];
  path(ip, "plain-images"), path(lp, "plain-labels");
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_idx(ip, lp, NULL, 0, &ds));
  check_fixture(ds);
  assert_int_equal(ibx_dataset_num_classes(ds), 10);
  assert_string_equal(ibx_dataset_class_name(ds, 0), "0");
  assert_string_equal(ibx_dataset_class_name(ds, 9), "9");
  assert_null(ibx_dataset_class_name(ds, 10));
  /* reading with NULL outputs, and out of range */
  int label;
  assert_ibx_ok(ibx_dataset_read(ds, 2, NULL, &label));
  assert_int_equal(label, 9);
  assert_ibx_ok(ibx_dataset_read(ds, 2, NULL, NULL));
  assert_one_line_error(ibx_dataset_read(ds, N, NULL, &label), IBX_ERR_ARG, "out of range", NULL);
  assert_one_line_error(ibx_dataset_read(ds, -1, NULL, &label), IBX_ERR_ARG, "out of range", NULL);
  ibx_dataset_close(ds);
}

static void test_gzip_roundtrip_and_layout(void **state) {
  (void)state;
  /* The real file names in a directory, gzipped: the fashion-mnist opener. */
  char dir[4096];
  path(dir, "fmnist-fixture");
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
  write_fixture("fmnist-fixture/train-images-idx3-ubyte.gz",
                "fmnist-fixture/train-labels-idx1-ubyte.gz", 1);
  /* test split stored without .gz: the opener falls back to plain names */
  write_fixture("fmnist-fixture/t10k-images-idx3-ubyte", "fmnist-fixture/t10k-labels-idx1-ubyte",
                0);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_fashion_mnist(dir, "train", &ds));
  check_fixture(ds);
  assert_int_equal(ibx_dataset_num_classes(ds), 10);
  assert_string_equal(ibx_dataset_class_name(ds, 0), "T-shirt/top");
  assert_string_equal(ibx_dataset_class_name(ds, 9), "Ankle boot");
  assert_non_null(strstr(ibx_dataset_name(ds), "fashion-mnist"));
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_fashion_mnist(dir, "test", &ds));
  check_fixture(ds);
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_mnist(dir, "train", &ds));
  check_fixture(ds);
  assert_string_equal(ibx_dataset_class_name(ds, 3), "3");
  ibx_dataset_close(ds);
  /* custom class names through the generic opener, gzipped */
  char ip[4096], lp[4096];
  path(ip, "fmnist-fixture/train-images-idx3-ubyte.gz");
  path(lp, "fmnist-fixture/train-labels-idx1-ubyte.gz");
  static const char *const names[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  assert_ibx_ok(ibx_dataset_open_idx(ip, lp, names, 10, &ds));
  check_fixture(ds);
  assert_string_equal(ibx_dataset_class_name(ds, 4), "e");
  ibx_dataset_close(ds);
  assert_one_line_error(ibx_dataset_open_fashion_mnist(dir, "validation", &ds), IBX_ERR_ARG,
                        "validation", NULL);
  assert_null(ds);
}

static void test_missing_file(void **state) {
  (void)state;
  char ip[4096], lp[4096];
  path(ip, "no-such-images.gz");
  path(lp, "plain-labels");
  ibx_dataset *ds = (ibx_dataset *)1;
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_IO,
                        "no-such-images.gz", NULL);
  assert_null(ds);
  char dir[4096];
  path(dir, "no-such-dir");
  assert_one_line_error(ibx_dataset_open_fashion_mnist(dir, "test", &ds), IBX_ERR_IO,
                        "no-such-dir/t10k-images-idx3-ubyte.gz", NULL);
}

static void test_truncated(void **state) {
  (void)state;
  uint8_t buf[16 + N * ROWS * COLS];
  size_t n = make_images(buf, 0x00000803, N, ROWS, COLS);
  char ip[4096], lp[4096];
  path(lp, "plain-labels");
  ibx_dataset *ds = NULL;
  /* plain, data cut short */
  path(ip, "trunc-images");
  write_bytes(ip, buf, n - 7, 0);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images", "truncated");
  /* plain, header cut short */
  write_bytes(ip, buf, 10, 0);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images", "truncated");
  /* empty file */
  write_bytes(ip, buf, 0, 0);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images", "truncated");
  /* gzip stream cut short: a valid gzip file's bytes, minus the tail */
  char gp[4096];
  path(gp, "full-images.gz");
  write_bytes(gp, buf, n, 1);
  FILE *f = fopen(gp, "rb");
  assert_non_null(f);
  uint8_t gzbuf[4096];
  size_t gn = fread(gzbuf, 1, sizeof gzbuf, f);
  fclose(f);
  assert_true(gn > 20);
  path(ip, "trunc-images.gz");
  write_bytes(ip, gzbuf, gn - 12, 0);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images.gz", "truncated");
  /* gzip stream intact but the IDX inside it is short */
  write_bytes(ip, buf, n - 1, 1);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images.gz", "truncated");
  /* trailing garbage is also refused */
  uint8_t big[sizeof buf + 3];
  memcpy(big, buf, n);
  big[n] = big[n + 1] = big[n + 2] = 0;
  write_bytes(ip, big, n + 3, 1);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "trunc-images.gz", "unexpected");
  assert_null(ds);
}

static void test_wrong_magic(void **state) {
  (void)state;
  write_fixture("plain-images", "plain-labels", 0);
  char ip[4096], lp[4096];
  path(ip, "plain-images"), path(lp, "plain-labels");
  ibx_dataset *ds = NULL;
  /* images and labels swapped */
  assert_one_line_error(ibx_dataset_open_idx(lp, ip, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "plain-labels", "magic");
  /* float IDX (type 0x0d) */
  uint8_t buf[16 + N * ROWS * COLS];
  size_t n = make_images(buf, 0x00000d03, N, ROWS, COLS);
  path(ip, "magic-images.gz");
  write_bytes(ip, buf, n, 1);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "magic-images.gz", "0x00000d03");
  assert_null(ds);
}

static void test_label_out_of_range(void **state) {
  (void)state;
  write_fixture("plain-images", "plain-labels", 0);
  char ip[4096], lp[4096];
  path(ip, "plain-images");
  ibx_dataset *ds = NULL;
  /* label 3 with only 3 classes */
  static const char *const names[3] = {"x", "y", "z"};
  path(lp, "plain-labels");
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, names, 3, &ds), IBX_ERR_FORMAT,
                        "plain-labels", "label 3");
  /* label 10 in a 10-class file */
  uint8_t buf[8 + N];
  const uint8_t bad[N] = {1, 2, 10, 3, 4};
  path(lp, "bad-labels.gz");
  write_bytes(lp, buf, make_labels(buf, N, bad), 1);
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "bad-labels.gz", "out of range");
  assert_null(ds);
}

static void test_count_mismatch(void **state) {
  (void)state;
  write_fixture("plain-images", "plain-labels", 0);
  char ip[4096], lp[4096];
  path(ip, "plain-images");
  uint8_t buf[8 + N];
  path(lp, "short-labels");
  write_bytes(lp, buf, make_labels(buf, N - 1, fixture_labels), 0);
  ibx_dataset *ds = NULL;
  assert_one_line_error(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds), IBX_ERR_FORMAT,
                        "5 images", "4 labels");
  assert_null(ds);
}

static void test_out_of_memory(void **state) {
  (void)state;
  write_fixture("plain-images", "plain-labels", 0);
  char ip[4096], lp[4096];
  path(ip, "plain-images"), path(lp, "plain-labels");
  for (long k = 1; k <= 3; k++) {
    ibx_dataset *ds = NULL;
    ibx_alloc_fail_after(k);
    int rc = ibx_dataset_open_idx(ip, lp, NULL, 10, &ds);
    ibx_alloc_fail_after(0);
    assert_int_equal(rc, IBX_ERR_NOMEM);
    assert_null(ds);
  }
}

/* The real data from the Debian package dataset-fashion-mnist. */
static void test_real_fashion_mnist(void **state) {
  (void)state;
  ibx_dataset *ds = NULL;
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", IBX_FASHION_MNIST_DIR);
  FILE *f = fopen(probe, "rb");
  if (!f) {
    /* absent: the error must name the file and the package */
    assert_one_line_error(ibx_dataset_open_fashion_mnist(NULL, "train", &ds), IBX_ERR_IO,
                          "train-images-idx3-ubyte", "dataset-fashion-mnist");
    print_message("[  SKIP    ] %s absent (install dataset-fashion-mnist)\n", probe);
    skip();
  }
  fclose(f);
  const char *splits[2] = {"train", "test"};
  const long counts[2] = {60000, 10000};
  for (int s = 0; s < 2; s++) {
    assert_ibx_ok(ibx_dataset_open_fashion_mnist(NULL, splits[s], &ds));
    assert_int_equal(ibx_dataset_count(ds), counts[s]);
    int c, h, w;
    ibx_dataset_shape(ds, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(h, 28);
    assert_int_equal(w, 28);
    assert_int_equal(ibx_dataset_num_classes(ds), 10);
    assert_string_equal(ibx_dataset_class_name(ds, 9), "Ankle boot");
    long per_class[10] = {0};
    uint8_t img[784];
    long nonzero = 0;
    for (long i = 0; i < counts[s]; i++) {
      int label;
      assert_ibx_ok(ibx_dataset_read(ds, i, i < 100 ? img : NULL, &label));
      assert_true(label >= 0 && label < 10);
      per_class[label]++;
      if (i < 100)
        for (int k = 0; k < 784; k++)
          nonzero += img[k] != 0;
    }
    for (int k = 0; k < 10; k++)
      assert_int_equal(per_class[k], counts[s] / 10);
    assert_true(nonzero > 100 * 784 / 4); /* real pictures, not zeros */
    ibx_dataset_close(ds);
  }
  /* the first training image is an ankle boot (label 9), the first test
   * image too: documented in the Fashion-MNIST README */
  int label;
  assert_ibx_ok(ibx_dataset_open_fashion_mnist(NULL, "train", &ds));
  assert_ibx_ok(ibx_dataset_read(ds, 0, NULL, &label));
  assert_int_equal(label, 9);
  ibx_dataset_close(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_roundtrip),   cmocka_unit_test(test_gzip_roundtrip_and_layout),
      cmocka_unit_test(test_missing_file),      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_wrong_magic),       cmocka_unit_test(test_label_out_of_range),
      cmocka_unit_test(test_count_mismatch),    cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_real_fashion_mnist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
