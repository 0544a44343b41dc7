/* ibx/h5io.h: round trips, attribute reads (including h5py's variable-length
 * strings), and every error path: each returns the right code with a
 * one-line message naming the file and object, and HDF5 prints nothing
 * (stderr is captured and must stay empty). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/h5io.h"
#include "ibx/memory.h"
#include "testutil.h"

#define TMP(name) IBX_TEST_TMP "/h5io_" name

/* ---- stderr capture ------------------------------------------------------- */

static int saved_fd = -1;

static void capture_stderr(const char *path) {
  fflush(stderr);
  saved_fd = dup(2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0 && saved_fd >= 0);
  dup2(fd, 2);
  close(fd);
}

/* Restores stderr and returns how many bytes were written while captured. */
static long release_stderr(const char *path) {
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  saved_fd = -1;
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

#define assert_msg_has(s) \
  do { \
    if (!strstr(ibx_errmsg(), (s))) \
      fail_msg("message '%s' lacks '%s'", ibx_errmsg(), (s)); \
  } while (0)

#define assert_fails(expr, code) \
  do { \
    int rc_ = (expr); \
    if (rc_ != (code)) \
      fail_msg("%s returned %s (%s), expected %s", #expr, ibx_errname(rc_), ibx_errmsg(), \
               ibx_errname(code)); \
  } while (0)

/* ---- tests -------------------------------------------------------------- */

static void write_sample(const char *path) {
  ibx_h5 f;
  float a[6] = {1, 2, 3, 4, 5, 6};
  int32_t ia[3] = {7, -8, 9};
  int64_t ib = 1234567890123LL;
  float t4[2 * 1 * 2 * 3];
  for (int i = 0; i < 12; i++)
    t4[i] = 0.5f * (float)i;
  const int64_t d2[2] = {2, 3}, d1[1] = {3};
  assert_ibx_ok(ibx_h5_create(&f, path));
  assert_ibx_ok(ibx_h5_write_f32(&f, "group/sub/a", 2, d2, a));
  assert_ibx_ok(ibx_h5_write_i32(&f, "group/ints", 1, d1, ia));
  assert_ibx_ok(ibx_h5_write_i64(&f, "/big", 0, NULL, &ib));
  ibx_tensor t = ibx_t4(t4, 2, 1, 2, 3);
  assert_ibx_ok(ibx_h5_write_tensor(&f, "t4", &t));
  assert_ibx_ok(ibx_h5_write_attr_f64(&f, "/", "lr", 0.125));
  assert_ibx_ok(ibx_h5_write_attr_i64(&f, "group/sub/a", "step", 42));
  assert_ibx_ok(ibx_h5_write_attr_i64(&f, "group/sub/a", "step", 43)); /* replaces */
  assert_ibx_ok(ibx_h5_write_attr_str(&f, "group", "name", "features.0.weight"));
  /* writing twice is refused */
  assert_fails(ibx_h5_write_f32(&f, "group/sub/a", 2, d2, a), IBX_ERR_ARG);
  assert_msg_has("already exists");
  assert_ibx_ok(ibx_h5_close(&f));
  assert_ibx_ok(ibx_h5_close(&f)); /* closing twice is harmless */
}

static void test_roundtrip(void **state) {
  (void)state;
  const char *path = TMP("roundtrip.h5");
  write_sample(path);

  ibx_h5 f;
  assert_ibx_ok(ibx_h5_open(&f, path));
  assert_true(ibx_h5_exists(&f, "group/sub/a"));
  assert_true(ibx_h5_exists(&f, "/group/sub/a"));
  assert_true(ibx_h5_exists(&f, "group"));
  assert_false(ibx_h5_exists(&f, "group/nope/a"));
  assert_false(ibx_h5_exists(&f, "nope/deeper/still"));

  int nd;
  int64_t d[IBX_H5_MAX_DIMS];
  assert_ibx_ok(ibx_h5_shape(&f, "group/sub/a", &nd, d));
  assert_int_equal(nd, 2);
  assert_int_equal(d[0], 2);
  assert_int_equal(d[1], 3);
  assert_ibx_ok(ibx_h5_shape(&f, "big", &nd, d));
  assert_int_equal(nd, 0);
  size_t n;
  assert_ibx_ok(ibx_h5_numel(&f, "big", &n));
  assert_int_equal(n, 1);

  float a[6];
  assert_ibx_ok(ibx_h5_read_f32(&f, "group/sub/a", a, 6));
  for (int i = 0; i < 6; i++)
    assert_true(a[i] == (float)(i + 1));
  int32_t ia[3];
  int64_t ia64[3];
  assert_ibx_ok(ibx_h5_read_i32(&f, "group/ints", ia, 3));
  assert_int_equal(ia[1], -8);
  assert_ibx_ok(ibx_h5_read_i64(&f, "group/ints", ia64, 3)); /* widening conversion */
  assert_int_equal(ia64[2], 9);
  int64_t big;
  assert_ibx_ok(ibx_h5_read_i64(&f, "big", &big, 1));
  assert_true(big == 1234567890123LL);

  float buf[12];
  ibx_tensor t = ibx_t4(buf, 2, 1, 2, 3);
  assert_ibx_ok(ibx_h5_read_tensor(&f, "t4", &t));
  assert_true(buf[11] == 5.5f);
  float *alloc = NULL;
  assert_ibx_ok(ibx_h5_read_f32_alloc(&f, "t4", &alloc, &n));
  assert_int_equal(n, 12);
  assert_true(alloc[3] == 1.5f);
  ibx_free(alloc);

  double lr;
  int64_t step;
  char name[64];
  assert_ibx_ok(ibx_h5_read_attr_f64(&f, "/", "lr", &lr));
  assert_true(lr == 0.125);
  assert_ibx_ok(ibx_h5_read_attr_i64(&f, "group/sub/a", "step", &step));
  assert_int_equal(step, 43);
  assert_ibx_ok(ibx_h5_read_attr_f64(&f, "group/sub/a", "step", &lr)); /* int -> double */
  assert_true(lr == 43.0);
  assert_ibx_ok(ibx_h5_read_attr_str(&f, "group", "name", name, sizeof name));
  assert_string_equal(name, "features.0.weight");
  assert_ibx_ok(ibx_h5_close(&f));
}

static void test_read_errors(void **state) {
  (void)state;
  const char *path = TMP("errors.h5");
  const char *err = TMP("errors.stderr");
  write_sample(path);
  ibx_h5 f;
  assert_ibx_ok(ibx_h5_open(&f, path));
  float a[8];
  int32_t ia[8];
  int64_t v;
  double dv;
  char s[8];
  int nd;
  int64_t d[IBX_H5_MAX_DIMS];

  capture_stderr(err);
  assert_fails(ibx_h5_read_f32(&f, "group/sub/missing", a, 6), IBX_ERR_FORMAT);
  assert_msg_has("group/sub/missing");
  assert_msg_has(path);
  assert_msg_has("not found");
  assert_fails(ibx_h5_read_f32(&f, "nothere/at/all", a, 6), IBX_ERR_FORMAT);
  assert_fails(ibx_h5_shape(&f, "nothere", &nd, d), IBX_ERR_FORMAT);
  assert_fails(ibx_h5_read_f32(&f, "group", a, 6), IBX_ERR_FORMAT); /* a group */
  assert_msg_has("group");

  assert_fails(ibx_h5_read_f32(&f, "group/sub/a", a, 5), IBX_ERR_FORMAT);
  assert_msg_has("has 6 elements, caller expects 5");
  assert_msg_has("group/sub/a");
  assert_fails(ibx_h5_read_f32(&f, "group/ints", a, 3), IBX_ERR_FORMAT);
  assert_msg_has("integer");
  assert_fails(ibx_h5_read_i32(&f, "group/sub/a", ia, 6), IBX_ERR_FORMAT);
  assert_msg_has("float");

  float buf[12];
  ibx_tensor t = ibx_t4(buf, 2, 2, 1, 3); /* same count, other shape */
  assert_fails(ibx_h5_read_tensor(&f, "t4", &t), IBX_ERR_FORMAT);
  assert_msg_has("[2,1,2,3]");
  assert_msg_has("[2,2,1,3]");

  assert_fails(ibx_h5_read_attr_i64(&f, "/", "missing", &v), IBX_ERR_FORMAT);
  assert_msg_has("missing");
  assert_fails(ibx_h5_read_attr_i64(&f, "nowhere", "step", &v), IBX_ERR_FORMAT);
  assert_msg_has("nowhere");
  assert_fails(ibx_h5_read_attr_i64(&f, "/", "lr", &v), IBX_ERR_FORMAT); /* float as int */
  assert_fails(ibx_h5_read_attr_f64(&f, "group", "name", &dv), IBX_ERR_FORMAT);
  assert_fails(ibx_h5_read_attr_str(&f, "group", "name", s, sizeof s), IBX_ERR_FORMAT);
  assert_msg_has("longer than 7 bytes");

  /* writing through a read-only handle */
  const int64_t one = 1;
  assert_fails(ibx_h5_write_f32(&f, "x", 1, &one, a), IBX_ERR_ARG);
  assert_msg_has("read-only");
  assert_ibx_ok(ibx_h5_close(&f));
  /* and using a closed one */
  assert_fails(ibx_h5_read_f32(&f, "group/sub/a", a, 6), IBX_ERR_ARG);
  assert_int_equal(release_stderr(err), 0);
}

static void test_open_errors(void **state) {
  (void)state;
  const char *err = TMP("open.stderr");
  const char *missing = TMP("does_not_exist.h5");
  const char *text = TMP("not_hdf5.h5");
  FILE *fp = fopen(text, "w");
  assert_non_null(fp);
  fputs("this is not an HDF5 file\n", fp);
  fclose(fp);
  ibx_h5 f;

  capture_stderr(err);
  assert_fails(ibx_h5_open(&f, missing), IBX_ERR_IO);
  assert_msg_has(missing);
  assert_msg_has("No such file");
  assert_true(strchr(ibx_errmsg(), '\n') == NULL);
  assert_fails(ibx_h5_open(&f, text), IBX_ERR_FORMAT);
  assert_msg_has(text);
  assert_msg_has("not an HDF5 file");
  assert_fails(ibx_h5_open(&f, IBX_TEST_TMP), IBX_ERR_IO);
  assert_msg_has("directory");
  assert_fails(ibx_h5_open(&f, ""), IBX_ERR_ARG);
  assert_fails(ibx_h5_create(&f, IBX_TEST_TMP "/no/such/dir/x.h5"), IBX_ERR_IO);
  assert_msg_has("no/such/dir");
  assert_int_equal(release_stderr(err), 0);
}

/* h5py writes string attributes as variable-length UTF-8: read one from the
 * golden fixtures. */
static void test_h5py_strings(void **state) {
  (void)state;
  ibx_h5 f;
  char s[256], small[16];
  assert_ibx_ok(ibx_h5_open(&f, IBX_FIXTURE_DIR "/golden_optim.h5"));
  assert_ibx_ok(ibx_h5_read_attr_str(&f, "/", "generator", s, sizeof s));
  assert_string_equal(s, "scripts/make_golden.py");
  assert_fails(ibx_h5_read_attr_str(&f, "/", "generator", small, sizeof small), IBX_ERR_FORMAT);
  assert_ibx_ok(ibx_h5_close(&f));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_read_errors),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_h5py_strings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
