/* Metrics file: rows appended and flushed are readable by another open of the
 * file while the writer still holds it (SWMR), and resuming keeps exactly the
 * rows up to the checkpoint -- also when the previous writer was killed. */
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ibx/metrics.h"
#include "testutil.h"

static const char *tmp_path(const char *name) {
  static char p[512];
  snprintf(p, sizeof p, "%s/%s", IBX_TEST_TMP, name);
  return p;
}

static void step_row(double *r, long step) {
  for (int c = 0; c < IBX_STEP_COLUMNS; c++)
    r[c] = step * 10.0 + c;
  r[0] = (double)step;
}

static void epoch_row(double *r, long epoch) {
  for (int c = 0; c < IBX_EPOCH_COLUMNS; c++)
    r[c] = epoch * 100.0 + c;
  r[0] = (double)epoch;
}

static long column_length(const char *path, const char *col, double last_expected) {
  double *v;
  long n;
  assert_ibx_ok(ibx_metrics_read_column(path, col, &v, &n));
  if (n)
    assert_float_equal(v[n - 1], last_expected, 0);
  free(v);
  return n;
}

static void test_live_read_and_resume(void **state) {
  (void)state;
  const char *path = tmp_path("metrics.h5");
  ibx_metrics *m;
  assert_ibx_ok(ibx_metrics_open(path, -1, -1, &m));
  double r[IBX_STEP_COLUMNS];
  for (long s = 1; s <= 30; s++) {
    step_row(r, s);
    assert_ibx_ok(ibx_metrics_append_step(m, r));
    if (s % 10 == 0) {
      epoch_row(r, s / 10);
      assert_ibx_ok(ibx_metrics_append_epoch(m, r));
      assert_ibx_ok(ibx_metrics_flush(m));
      /* another reader sees the rows while the writer keeps the file open */
      assert_int_equal(column_length(path, "step/step", (double)s), s);
      assert_int_equal(column_length(path, "epoch/epoch", (double)(s / 10)), s / 10);
    }
  }
  assert_ibx_ok(ibx_metrics_close(m));
  /* resume from a checkpoint at step 20 / epoch 2: rows 21..30 are dropped */
  assert_ibx_ok(ibx_metrics_open(path, 20, 2, &m));
  step_row(r, 21);
  assert_ibx_ok(ibx_metrics_append_step(m, r));
  assert_ibx_ok(ibx_metrics_close(m));
  assert_int_equal(column_length(path, "step/step", 21.0), 21);
  assert_int_equal(column_length(path, "epoch/epoch", 2.0), 2);
  double *v;
  long n;
  assert_ibx_ok(ibx_metrics_read_column(path, "step/lr", &v, &n));
  assert_float_equal(v[4], 5 * 10.0 + 7, 0); /* column 7 of step 5 */
  free(v);
}

/* A writer killed mid-run leaves the file marked open for SWMR writing; the
 * resume path must still read it and continue. */
static void test_resume_after_sigkill(void **state) {
  (void)state;
  const char *path = tmp_path("killed.h5");
  pid_t pid = fork();
  if (pid == 0) {
    ibx_metrics *m;
    if (ibx_metrics_open(path, -1, -1, &m))
      _exit(3);
    double r[IBX_STEP_COLUMNS];
    for (long s = 1; s <= 12; s++) {
      step_row(r, s);
      ibx_metrics_append_step(m, r);
    }
    ibx_metrics_flush(m);
    raise(SIGKILL); /* no close */
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
  ibx_metrics *m;
  assert_ibx_ok(ibx_metrics_open(path, 8, 0, &m));
  assert_ibx_ok(ibx_metrics_close(m));
  assert_int_equal(column_length(path, "step/step", 8.0), 8);
}

static void test_errors(void **state) {
  (void)state;
  double *v;
  long n;
  assert_int_equal(ibx_metrics_read_column("/nonexistent/m.h5", "step/step", &v, &n), IBX_ERR_IO);
  const char *path = tmp_path("cols.h5");
  ibx_metrics *m;
  assert_ibx_ok(ibx_metrics_open(path, -1, -1, &m));
  assert_ibx_ok(ibx_metrics_close(m));
  assert_int_equal(ibx_metrics_read_column(path, "step/nope", &v, &n), IBX_ERR_FORMAT);
}

/* Errors are percent (attribute error_unit); a file from before, without the
 * attribute, holds fractions: readers scale by 100 and resume converts. */
static void test_error_unit(void **state) {
  (void)state;
  const char *path = tmp_path("unit.h5");
  ibx_metrics *m;
  assert_ibx_ok(ibx_metrics_open(path, -1, -1, &m));
  const double row[IBX_EPOCH_COLUMNS] = {1, 0.5, 0.25, 1, 1, 0, 0, 0, 3};
  assert_ibx_ok(ibx_metrics_append_epoch(m, row));
  assert_ibx_ok(ibx_metrics_close(m));
  assert_float_equal(ibx_metrics_error_scale(path), 1.0, 0);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT); /* make it an old file */
  assert_true(f >= 0 && H5Adelete(f, "error_unit") >= 0);
  H5Fclose(f);
  assert_float_equal(ibx_metrics_error_scale(path), 100.0, 0);
  assert_ibx_ok(ibx_metrics_open(path, 0, 1, &m));
  assert_ibx_ok(ibx_metrics_close(m));
  assert_float_equal(ibx_metrics_error_scale(path), 1.0, 0);
  assert_int_equal(column_length(path, "epoch/test_error", 25.0), 1);
  assert_int_equal(column_length(path, "epoch/train_error", 50.0), 1);
  assert_int_equal(column_length(path, "epoch/seconds", 3.0), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_live_read_and_resume),
      cmocka_unit_test(test_resume_after_sigkill),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_error_unit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
