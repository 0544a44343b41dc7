/* SVHN .mat reader: fixtures written through libmatio in the published
 * layout (X uint8 32x32x3xN column-major, y double Nx1 with 10 = digit 0),
 * plain and zlib-compressed, read back exactly; bad input gives one-line
 * errors, every truncation of a valid file included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <matio.h>

#include "ibx/data.h"
#include "testutil.h"

#define NS 3

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

static uint8_t pixel(size_t n, size_t c, size_t row, size_t col) {
  return (uint8_t)(n * 101 + c * 53 + row * 7 + col * 3 + (row * col) % 5);
}

/* Writes X (uint8, 32x32x3xn) and y (class yclass) to path. */
static void write_svhn(const char *path, size_t n, const double *labels, size_t nlabels,
                       enum matio_classes xclass, enum matio_compression comp) {
  (void)remove(path);
  mat_t *mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
  assert_non_null(mat);
  size_t xdims[4] = {32, 32, 3, n};
  size_t total = 32 * 32 * 3 * n;
  uint8_t *x = malloc(total);
  double *xd = malloc(total * sizeof(double));
  for (size_t k = 0; k < n; k++)
    for (size_t c = 0; c < 3; c++)
      for (size_t col = 0; col < 32; col++)
        for (size_t row = 0; row < 32; row++) {
          size_t at = row + 32 * (col + 32 * (c + 3 * k));
          x[at] = pixel(k, c, row, col);
          xd[at] = x[at];
        }
  matvar_t *vx = xclass == MAT_C_UINT8
                     ? Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xdims, x, 0)
                     : Mat_VarCreate("X", MAT_C_DOUBLE, MAT_T_DOUBLE, 4, xdims, xd, 0);
  assert_non_null(vx);
  assert_int_equal(Mat_VarWrite(mat, vx, comp), 0);
  Mat_VarFree(vx);
  size_t ydims[2] = {nlabels, 1};
  matvar_t *vy = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, ydims, (void *)labels, 0);
  assert_non_null(vy);
  assert_int_equal(Mat_VarWrite(mat, vy, comp), 0);
  Mat_VarFree(vy);
  Mat_Close(mat);
  free(x);
  free(xd);
}

static const double fixture_labels[NS] = {10, 1, 5};

static void check_fixture(const ibx_dataset *ds) {
  assert_int_equal(ibx_dataset_count(ds), NS);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, 32), assert_int_equal(w, 32);
  assert_int_equal(ibx_dataset_num_classes(ds), 10);
  assert_string_equal(ibx_dataset_class_name(ds, 0), "0");
  const int want[NS] = {0, 1, 5};
  for (long k = 0; k < NS; k++) {
    uint8_t img[3 * 32 * 32];
    int label = -1;
    assert_ibx_ok(ibx_dataset_read(ds, k, img, &label));
    assert_int_equal(label, want[k]);
    for (int ch = 0; ch < 3; ch++)
      for (int row = 0; row < 32; row++)
        for (int col = 0; col < 32; col++)
          if (img[(ch * 32 + row) * 32 + col] != pixel(k, ch, row, col))
            fail_msg("sample %ld c%d (%d,%d): got %d want %d", k, ch, row, col,
                     img[(ch * 32 + row) * 32 + col], pixel(k, ch, row, col));
  }
}

static void test_roundtrip(void **state) {
  (void)state;
  char dir[1024], p[2048];
  snprintf(dir, sizeof dir, "%s/svhn", IBX_TEST_TMP);
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
  snprintf(p, sizeof p, "%s/train_32x32.mat", dir);
  write_svhn(p, NS, fixture_labels, NS, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  snprintf(p, sizeof p, "%s/test_32x32.mat", dir);
  write_svhn(p, NS, fixture_labels, NS, MAT_C_UINT8, MAT_COMPRESSION_ZLIB);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_svhn(dir, "train", &ds));
  check_fixture(ds);
  assert_non_null(strstr(ibx_dataset_name(ds), "svhn train"));
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_svhn(dir, "test", &ds));
  check_fixture(ds);
  ibx_dataset_close(ds);
  assert_one_line_error(ibx_dataset_open_svhn(dir, "extra", &ds), IBX_ERR_IO,
                        "extra_32x32.mat", NULL);
  assert_one_line_error(ibx_dataset_open_svhn(dir, "valid", &ds), IBX_ERR_ARG, "valid", NULL);
  assert_null(ds);
}

/* More samples than one read slab, so slab boundaries are exercised. */
static void test_many_samples(void **state) {
  (void)state;
  char p[2048];
  snprintf(p, sizeof p, "%s/svhn-many.mat", IBX_TEST_TMP);
  const size_t n = 2100;
  double *labels = malloc(n * sizeof *labels);
  for (size_t k = 0; k < n; k++)
    labels[k] = (double)(1 + k % 10);
  write_svhn(p, n, labels, n, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_svhn_mat(p, &ds));
  assert_int_equal(ibx_dataset_count(ds), n);
  uint8_t img[3072];
  for (size_t k = 0; k < n; k += 37) {
    int label;
    assert_ibx_ok(ibx_dataset_read(ds, (long)k, img, &label));
    assert_int_equal(label, (int)((1 + k % 10) % 10));
    assert_int_equal(img[(2 * 32 + 5) * 32 + 9], pixel(k, 2, 5, 9));
    assert_int_equal(img[31 * 32 + 30], pixel(k, 0, 31, 30));
  }
  ibx_dataset_close(ds);
  free(labels);
}

static void test_bad_input(void **state) {
  (void)state;
  char p[2048];
  snprintf(p, sizeof p, "%s/svhn-bad.mat", IBX_TEST_TMP);
  ibx_dataset *ds = NULL;
  /* missing */
  (void)remove(p);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_IO, "svhn-bad.mat", NULL);
  /* not a .mat file (an IDX header: wrong magic) */
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  const uint8_t idx[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28};
  fwrite(idx, 1, sizeof idx, f);
  fclose(f);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-bad.mat", NULL);
  /* labels out of range: 0, 11, 2.5 */
  const double bad[3][NS] = {{1, 0, 2}, {11, 1, 2}, {1, 2.5, 3}};
  const char *needles[3] = {"label 0", "label 11", "label 2.5"};
  for (int b = 0; b < 3; b++) {
    write_svhn(p, NS, bad[b], NS, MAT_C_UINT8, MAT_COMPRESSION_NONE);
    assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-bad.mat",
                          needles[b]);
  }
  /* image/label count mismatch */
  write_svhn(p, NS, fixture_labels, NS - 1, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "3 images",
                        "2 labels");
  /* X of the wrong class */
  write_svhn(p, NS, fixture_labels, NS, MAT_C_DOUBLE, MAT_COMPRESSION_NONE);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-bad.mat",
                        "uint8");
  assert_null(ds);
}

/* Every truncation of a valid file (plain and compressed) fails cleanly. */
static void test_truncated(void **state) {
  (void)state;
  char p[2048];
  snprintf(p, sizeof p, "%s/svhn-trunc.mat", IBX_TEST_TMP);
  for (int comp = 0; comp < 2; comp++) {
    write_svhn(p, NS, fixture_labels, NS,
               MAT_C_UINT8, comp ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    static uint8_t full[65536];
    size_t n = fread(full, 1, sizeof full, f);
    fclose(f);
    assert_true(n > 1000 && n < sizeof full);
    for (size_t len = 0; len < n; len += (len < 300 ? 13 : 211)) {
      f = fopen(p, "wb");
      fwrite(full, 1, len, f);
      fclose(f);
      ibx_dataset *ds = NULL;
      int rc = ibx_dataset_open_svhn_mat(p, &ds);
      if (rc == IBX_OK)
        fail_msg("truncated to %zu of %zu bytes (compressed=%d) but opened", len, n, comp);
      assert_one_line_error(rc, IBX_ERR_FORMAT, "svhn-trunc.mat", NULL);
      assert_null(ds);
    }
  }
}

/* Replaces the k-th occurrence of the little-endian int32 dims pattern
 * (a, b, c, d: d == -1 means a 2-d pattern a, b) in the file by the new
 * values; returns 1 when found. */
static int patch_dims(const char *path, const int32_t *old, const int32_t *new_dims, int nd) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  uint8_t *b = malloc((size_t)size);
  fseek(f, 0, SEEK_SET);
  assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
  int found = 0;
  for (long i = 0; !found && i + 4 * nd <= size; i++)
    if (memcmp(b + i, old, 4 * (size_t)nd) == 0) {
      fseek(f, i, SEEK_SET);
      assert_int_equal(fwrite(new_dims, 4, (size_t)nd, f), (size_t)nd);
      found = 1;
    }
  fclose(f);
  free(b);
  return found;
}

/* Hardening done with the fuzz harness (tests/fuzz/fuzz_svhn): a small file
 * whose header declares a huge X or y made the reader (or libmatio, for y)
 * allocate all of it before finding out the data is not there, and fuzz_svhn
 * found libmatio's Mat_VarReadInfo allocating gigabytes for the dimension
 * array of a 200-byte file. The declared sizes are now checked against the
 * file, and the MAT v5 element headers pre-scanned, before libmatio reads. */
static void test_declared_size_checked(void **state) {
  (void)state;
  char p[4096];
  snprintf(p, sizeof p, "%s/svhn-huge.mat", IBX_TEST_TMP);
  ibx_dataset *ds = NULL;
  /* X: 32 x 32 x 3 x 2^31-1 (6.6 TB) in a file of 6 KB */
  write_svhn(p, 2, fixture_labels, 2, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  const int32_t xd[4] = {32, 32, 3, 2}, xhuge[4] = {32, 32, 3, 0x7fffffff};
  assert_true(patch_dims(p, xd, xhuge, 4));
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-huge.mat",
                        "declares");
  /* y: 2^31-1 x 1 labels (16 GB of doubles once read) for 2 images */
  write_svhn(p, 2, fixture_labels, 2, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  const int32_t yd[2] = {2, 1}, yhuge[2] = {0x7fffffff, 1};
  assert_true(patch_dims(p, yd, yhuge, 2));
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "2 images",
                        "2147483647 labels");
  /* libmatio allocates the dimension array from the dimension element's byte
   * count (here 1 GiB of dimensions -> 2 GiB): refused before it is asked */
  write_svhn(p, 2, fixture_labels, 2, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  const int32_t dtag[4] = {5, 16, 32, 32}, dhuge[4] = {5, 0x41000010, 32, 32};
  assert_true(patch_dims(p, dtag, dhuge, 4));
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-huge.mat",
                        "bytes of dimensions");
  /* MAT v7.3 (HDF5) and v4 files are refused up front */
  write_svhn(p, 2, fixture_labels, 2, MAT_C_UINT8, MAT_COMPRESSION_NONE);
  FILE *f = fopen(p, "r+b");
  fseek(f, 124, SEEK_SET);
  fputc(0x00, f), fputc(0x02, f);
  fclose(f);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-huge.mat",
                        "version 0x0200");
  f = fopen(p, "r+b");
  fseek(f, 126, SEEK_SET);
  fputc('x', f), fputc('x', f);
  fclose(f);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-huge.mat",
                        "v4");
  /* cell arrays and structs (which libmatio reads recursively) are refused */
  remove(p);
  mat_t *mat = Mat_CreateVer(p, NULL, MAT_FT_MAT5);
  size_t cd[2] = {1, 1};
  double one = 1;
  matvar_t *cells[1] = {Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, cd, &one, 0)};
  matvar_t *cell = Mat_VarCreate("X", MAT_C_CELL, MAT_T_CELL, 2, cd, cells, 0);
  assert_non_null(cell);
  assert_int_equal(Mat_VarWrite(mat, cell, MAT_COMPRESSION_ZLIB), 0);
  Mat_VarFree(cell);
  Mat_Close(mat);
  assert_one_line_error(ibx_dataset_open_svhn_mat(p, &ds), IBX_ERR_FORMAT, "svhn-huge.mat",
                        "class 1");
  /* a valid compressed file, whose X is larger than the file, still reads */
  write_svhn(p, 2, fixture_labels, 2, MAT_C_UINT8, MAT_COMPRESSION_ZLIB);
  assert_ibx_ok(ibx_dataset_open_svhn_mat(p, &ds));
  ibx_dataset_close(ds);
  remove(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_many_samples),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_declared_size_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
