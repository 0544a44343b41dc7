/* Native HDF5 dataset files: any reader's data (CIFAR-100 with coarse
 * labels, a cluttered set with boxes) written and read back exactly, whole
 * and by range; bad input (missing, not HDF5, truncated, not an ibx file,
 * label out of range, count mismatch, checksum mismatch) gives one-line
 * errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

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

static void tmp(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", IBX_TEST_TMP, name);
}

/* CIFAR-100 batch of n records with fine/coarse labels derived from i. */
static ibx_dataset *cifar100(long n) {
  char p[4096];
  tmp(p, sizeof p, "h5-src-cifar100.bin");
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  for (long i = 0; i < n; i++) {
    fputc((int)(i % 20), f);
    fputc((int)((i * 7) % 100), f);
    for (int k = 0; k < 3072; k++)
      fputc((int)((i * 31 + k * 17) & 0xff), f);
  }
  fclose(f);
  const char *paths[1] = {p};
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cifar_files(paths, 1, 100, &ds));
  return ds;
}

static void assert_same_samples(const ibx_dataset *a, long a0, const ibx_dataset *b, long n) {
  long sz = ibx_dataset_image_size(a);
  assert_int_equal(sz, ibx_dataset_image_size(b));
  uint8_t *x = malloc((size_t)sz), *y = malloc((size_t)sz);
  for (long i = 0; i < n; i++) {
    int la, lb;
    assert_ibx_ok(ibx_dataset_read(a, a0 + i, x, &la));
    assert_ibx_ok(ibx_dataset_read(b, i, y, &lb));
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, (size_t)sz);
    assert_int_equal(ibx_dataset_coarse_label(a, a0 + i), ibx_dataset_coarse_label(b, i));
    if (ibx_dataset_has_boxes(a)) {
      float ba[4], bb[4];
      assert_ibx_ok(ibx_dataset_box(a, a0 + i, ba));
      assert_ibx_ok(ibx_dataset_box(b, i, bb));
      assert_memory_equal(ba, bb, sizeof ba);
    }
  }
  free(x), free(y);
}

static void test_roundtrip_cifar100(void **state) {
  (void)state;
  ibx_dataset *src = cifar100(700); /* more than one 1 MiB chunk (341 images) */
  char p[4096];
  tmp(p, sizeof p, "cifar100.h5");
  assert_ibx_ok(ibx_dataset_write_h5(src, p, "test_data_h5"));
  long n = 0;
  assert_ibx_ok(ibx_dataset_h5_count(p, &n));
  assert_int_equal(n, 700);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_h5(p, &ds));
  assert_int_equal(ibx_dataset_count(ds), 700);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, 32), assert_int_equal(w, 32);
  assert_int_equal(ibx_dataset_num_classes(ds), 100);
  assert_int_equal(ibx_dataset_num_coarse_classes(ds), 20);
  for (int k = 0; k < 100; k++)
    assert_string_equal(ibx_dataset_class_name(ds, k), ibx_dataset_class_name(src, k));
  for (int k = 0; k < 20; k++)
    assert_string_equal(ibx_dataset_coarse_class_name(ds, k), ibx_dataset_coarse_class_name(src, k));
  assert_false(ibx_dataset_has_boxes(ds));
  assert_string_equal(ibx_dataset_name(ds), ibx_dataset_name(src));
  assert_same_samples(src, 0, ds, 700);
  ibx_dataset_close(ds);
  /* ranges, as ranks would read them */
  const long first[4] = {0, 175, 350, 525};
  for (int r = 0; r < 4; r++) {
    assert_ibx_ok(ibx_dataset_open_h5_range(p, first[r], 175, &ds));
    assert_int_equal(ibx_dataset_count(ds), 175);
    assert_same_samples(src, first[r], ds, 175);
    ibx_dataset_close(ds);
  }
  assert_ibx_ok(ibx_dataset_open_h5_range(p, 700, 0, &ds));
  assert_int_equal(ibx_dataset_count(ds), 0);
  ibx_dataset_close(ds);
  ds = NULL;
  assert_one_line_error(ibx_dataset_open_h5_range(p, 600, 101, &ds), IBX_ERR_ARG, "range", NULL);
  assert_null(ds);
  ibx_dataset_close(src);
}

static void test_roundtrip_boxes(void **state) {
  (void)state;
  ibx_dataset *src = cifar100(12), *cl = NULL;
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.size = 40, cfg.fragments = 3, cfg.fragment_size = 6, cfg.seed = 8;
  assert_ibx_ok(ibx_dataset_open_cluttered(src, &cfg, &cl));
  char p[4096];
  tmp(p, sizeof p, "cluttered.h5");
  assert_ibx_ok(ibx_dataset_write_h5(cl, p, NULL));
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_h5(p, &ds));
  assert_true(ibx_dataset_has_boxes(ds));
  assert_same_samples(cl, 0, ds, 12);
  ibx_dataset_close(ds);
  assert_ibx_ok(ibx_dataset_open_h5_range(p, 5, 4, &ds));
  assert_same_samples(cl, 5, ds, 4);
  ibx_dataset_close(ds);
  ibx_dataset_close(cl);
}

/* Opens the file read-write and lets f change it. */
static void edit(const char *path, void (*f)(hid_t)) {
  hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(file >= 0);
  f(file);
  H5Fclose(file);
}

static void poke_label(hid_t file) {
  hid_t d = H5Dopen2(file, "labels", H5P_DEFAULT);
  hid_t fsp = H5Dget_space(d);
  hsize_t start[1] = {3}, count[1] = {1};
  H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t msp = H5Screate_simple(1, count, NULL);
  int32_t v = 100;
  assert_true(H5Dwrite(d, H5T_NATIVE_INT32, msp, fsp, H5P_DEFAULT, &v) >= 0);
  H5Sclose(msp), H5Sclose(fsp), H5Dclose(d);
}

static void poke_pixel(hid_t file) {
  hid_t d = H5Dopen2(file, "images", H5P_DEFAULT);
  hid_t fsp = H5Dget_space(d);
  hsize_t start[4] = {2, 1, 5, 5}, count[4] = {1, 1, 1, 1};
  H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t msp = H5Screate_simple(4, count, NULL);
  uint8_t v = 0;
  H5Dread(d, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, &v);
  v ^= 0x5a;
  assert_true(H5Dwrite(d, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, &v) >= 0);
  H5Sclose(msp), H5Sclose(fsp), H5Dclose(d);
}

static void short_labels(hid_t file) {
  assert_true(H5Ldelete(file, "labels", H5P_DEFAULT) >= 0);
  hsize_t dims[1] = {9};
  hid_t sp = H5Screate_simple(1, dims, NULL);
  hid_t d = H5Dcreate2(file, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int32_t v[9] = {0};
  H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(d), H5Sclose(sp);
}

static void test_bad_input(void **state) {
  (void)state;
  char p[4096];
  tmp(p, sizeof p, "bad.h5");
  (void)remove(p);
  ibx_dataset *ds = NULL;
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_IO, "bad.h5", NULL);
  /* not HDF5 (wrong magic) */
  FILE *f = fopen(p, "wb");
  fputs("\x89PNG not an hdf5 file at all, just some bytes", f);
  fclose(f);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "bad.h5", "HDF5");
  /* HDF5 but not an ibx dataset */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(file);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "bad.h5", "ibx_format");
  ibx_dataset *src = cifar100(10), *empty = NULL;
  /* label out of range, count mismatch, checksum mismatch */
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  /* an empty dataset is not written */
  assert_ibx_ok(ibx_dataset_open_h5_range(p, 10, 0, &empty));
  char q[4096];
  tmp(q, sizeof q, "empty.h5");
  assert_one_line_error(ibx_dataset_write_h5(empty, q, NULL), IBX_ERR_ARG, "empty", NULL);
  ibx_dataset_close(empty);
  edit(p, poke_label);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "bad.h5", "label 100");
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, short_labels);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "10 images", "9 labels");
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, poke_pixel);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "bad.h5", "checksum");
  /* truncations of a valid file fail cleanly */
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  f = fopen(p, "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  assert_true(size > 30000);
  for (long len = 0; len < size; len += size / 23 + 1) {
    assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
    assert_int_equal(truncate(p, len), 0);
    int rc = ibx_dataset_open_h5(p, &ds);
    if (rc == IBX_OK)
      fail_msg("file truncated to %ld of %ld bytes was read", len, size);
    assert_one_line_error(rc, IBX_ERR_FORMAT, "bad.h5", NULL);
  }
  /* cannot create */
  assert_one_line_error(ibx_dataset_write_h5(src, "/nonexistent-dir/x.h5", NULL), IBX_ERR_IO,
                        "/nonexistent-dir/x.h5", NULL);
  assert_null(ds);
  ibx_dataset_close(src);
}

/* An HDF5 header can declare far more data than the file holds (chunks
 * never written read as the fill value): replaces /images and /labels by
 * chunked datasets of n samples of 3 x 512 x 512 whose chunks are absent. */
static long sparse_n;
static void sparse_images(hid_t file) {
  assert_true(H5Ldelete(file, "images", H5P_DEFAULT) >= 0);
  assert_true(H5Ldelete(file, "labels", H5P_DEFAULT) >= 0);
  assert_true(H5Ldelete(file, "coarse_labels", H5P_DEFAULT) >= 0);
  assert_true(H5Ldelete(file, "coarse_class_names", H5P_DEFAULT) >= 0);
  hsize_t dims[4] = {(hsize_t)sparse_n, 3, 512, 512}, chunk[4] = {1, 3, 512, 512};
  hid_t sp = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 4, chunk);
  hid_t d = H5Dcreate2(file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp);
  hsize_t ldims[1] = {(hsize_t)sparse_n}, lchunk[1] = {sparse_n < 1024 ? (hsize_t)sparse_n : 1024};
  sp = H5Screate_simple(1, ldims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, lchunk);
  d = H5Dcreate2(file, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp);
}

/* /images as float32 instead of uint8. */
static void float_images(hid_t file) {
  assert_true(H5Ldelete(file, "images", H5P_DEFAULT) >= 0);
  hsize_t dims[4] = {10, 3, 32, 32};
  hid_t sp = H5Screate_simple(4, dims, NULL);
  hid_t d = H5Dcreate2(file, "images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d), H5Sclose(sp);
}

/* /images [10, 3, 32, 32], extendible, in chunks of 100,000 images (307 MB,
 * which libhdf5 allocates whole to read any part of one). */
static void huge_chunks(hid_t file) {
  assert_true(H5Ldelete(file, "images", H5P_DEFAULT) >= 0);
  hsize_t dims[4] = {10, 3, 32, 32}, maxd[4] = {H5S_UNLIMITED, 3, 32, 32},
          chunk[4] = {100000, 3, 32, 32};
  hid_t sp = H5Screate_simple(4, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 4, chunk);
  hid_t d = H5Dcreate2(file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp);
}

/* Hardening done with the fuzz harness (tests/fuzz/fuzz_h5): a few-KB file
 * whose header declares a huge /images made the reader allocate (and HDF5
 * fill) all of it. Now the declared data must fit in the file before
 * anything is allocated. */
static void test_declared_size_checked(void **state) {
  (void)state;
  char p[4096];
  tmp(p, sizeof p, "sparse.h5");
  ibx_dataset *src = cifar100(10), *ds = NULL;
  /* 1,000,000 x 786,432 bytes: 786 GB declared in a file of a few KB */
  sparse_n = 1000000;
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, sparse_images);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "/images", "declares");
  assert_one_line_error(ibx_dataset_open_h5_range(p, 0, 2, &ds), IBX_ERR_FORMAT, "/images",
                        "declares");
  /* small enough to allocate, still not in the file */
  sparse_n = 10;
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, sparse_images);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "/images", "declares");
  /* chunks far larger than the file (fuzz_h5: libhdf5 allocated a 3.2 GB
   * chunk buffer in H5Dread for an 8 KB file) */
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, huge_chunks);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "/images", "chunks of");
  /* a chunk index claiming 3.2 GB of storage for 192 bytes of images in an
   * 8 KB file (fuzz_h5 input; libhdf5 allocates the stored size to read) */
  const char *bad = IBX_SOURCE_DIR "/tests/fuzz/corpus/h5/regress_chunk_storage_3gb";
  assert_one_line_error(ibx_dataset_open_h5(bad, &ds), IBX_ERR_FORMAT, "/images",
                        "3237937152 bytes of storage");
  /* wrong element type */
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  edit(p, float_images);
  assert_one_line_error(ibx_dataset_open_h5(p, &ds), IBX_ERR_FORMAT, "/images", "type");
  assert_null(ds);
  /* the valid file still reads */
  assert_ibx_ok(ibx_dataset_write_h5(src, p, NULL));
  assert_ibx_ok(ibx_dataset_open_h5(p, &ds));
  assert_int_equal(ibx_dataset_count(ds), 10);
  ibx_dataset_close(ds);
  ibx_dataset_close(src);
  remove(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_cifar100),
      cmocka_unit_test(test_roundtrip_boxes),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_declared_size_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
