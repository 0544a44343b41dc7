/* Checkpoints: bit-exact round trip, stored config, clear errors for missing,
 * truncated, foreign and mismatched files, and atomicity: a writer killed
 * with SIGKILL at any moment leaves the previous checkpoint loadable. */
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ibx/checkpoint.h"
#include "ibx/h5io.h"
#include "testutil.h"

typedef struct {
  ibx_params p, b;
  float *mom;
} store;

static void make_store(store *s, int big) {
  ibx_params_init(&s->p, 1);
  ibx_params_init(&s->b, 0);
  const int w[4] = {big ? 256 : 4, 3, 3, 3}, c = 4, lin[2] = {10, big ? 2048 : 36};
  assert_ibx_ok(ibx_params_declare(&s->p, "features.0.weight", 4, w, NULL));
  assert_ibx_ok(ibx_params_declare(&s->p, "features.1.weight", 1, &c, NULL));
  assert_ibx_ok(ibx_params_declare(&s->p, "classifier.weight", 2, lin, NULL));
  assert_ibx_ok(ibx_params_declare(&s->b, "features.1.running_mean", 1, &c, NULL));
  assert_ibx_ok(ibx_params_allocate(&s->p));
  assert_ibx_ok(ibx_params_allocate(&s->b));
  s->mom = calloc(s->p.total, sizeof(float));
}

/* Equal tensor by tensor (the alignment padding between tensors is not data). */
static void assert_same_tensors(const ibx_params *p, const float *a, const float *b) {
  for (int i = 0; i < p->count; i++)
    assert_memory_equal(a + p->info[i].offset, b + p->info[i].offset,
                        p->info[i].numel * sizeof(float));
}

static void fill(store *s, uint64_t stream) {
  tu_randn(s->p.values, s->p.total, 1.0f, stream);
  tu_randn(s->b.values, s->b.total, 1.0f, stream + 1);
  tu_randn(s->mom, s->p.total, 1.0f, stream + 2);
}

static void free_store(store *s) {
  ibx_params_free(&s->p);
  ibx_params_free(&s->b);
  free(s->mom);
}

static const char *tmp(const char *name) {
  static char path[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", IBX_TEST_TMP, name);
  return path[k];
}

static int save(const char *path, store *s, long epoch) {
  ibx_opt_state opt = {1, {"momentum_buffer"}, {s->mom}};
  ibx_ckpt_meta meta = {.epoch = epoch, .step = 100 * epoch, .seed = 7, .world_size = 2,
                        .best_error = 0.125, .start_time = "2026-01-01T00:00:00Z",
                        .config_ini = "[train]\nepochs = 4\n", .hostnames = "node1,node2"};
  return ibx_checkpoint_write(path, &s->p, &s->b, &opt, &meta);
}

static int load(const char *path, store *s, ibx_ckpt_meta *meta) {
  ibx_opt_state opt = {1, {"momentum_buffer"}, {s->mom}};
  return ibx_checkpoint_read(path, &s->p, &s->b, &opt, meta);
}

static void test_round_trip(void **state) {
  (void)state;
  store a, b;
  make_store(&a, 0);
  make_store(&b, 0);
  fill(&a, 1);
  const char *path = tmp("rt.h5");
  assert_ibx_ok(save(path, &a, 3));
  ibx_ckpt_meta meta;
  assert_ibx_ok(load(path, &b, &meta));
  assert_same_tensors(&a.p, a.p.values, b.p.values);
  assert_same_tensors(&a.b, a.b.values, b.b.values);
  assert_same_tensors(&a.p, a.mom, b.mom);
  assert_int_equal(meta.epoch, 3);
  assert_int_equal(meta.step, 300);
  assert_int_equal(meta.world_size, 2);
  assert_float_equal(meta.best_error, 0.125, 0);
  assert_string_equal(meta.start_time, "2026-01-01T00:00:00Z");
  /* a checkpoint from before errors were percent (no error_unit) holds a
   * fraction and reads back in percent */
  const char *old = tmp("old_unit.h5");
  assert_ibx_ok(save(old, &a, 3));
  hid_t f = H5Fopen(old, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0 && H5Adelete(f, "error_unit") >= 0);
  H5Fclose(f);
  ibx_ckpt_meta old_meta;
  assert_ibx_ok(load(old, &b, &old_meta));
  assert_float_equal(old_meta.best_error, 12.5, 1e-12);
  char *cfg;
  assert_ibx_ok(ibx_checkpoint_read_config(path, &cfg));
  assert_string_equal(cfg, "[train]\nepochs = 4\n");
  free(cfg);
  /* no temporary file is left beside it */
  char leftover[600];
  snprintf(leftover, sizeof leftover, "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(leftover, F_OK), 0);
  free_store(&a);
  free_store(&b);
}

static void expect(int rc, int code, const char *a, const char *b) {
  assert_int_equal(rc, code);
  if (!strstr(ibx_errmsg(), a) || (b && !strstr(ibx_errmsg(), b)))
    fail_msg("message '%s' lacks '%s'/'%s'", ibx_errmsg(), a, b ? b : "");
}

static void test_bad_files(void **state) {
  (void)state;
  store s;
  make_store(&s, 0);
  fill(&s, 1);
  const char *missing = tmp("missing.h5");
  unlink(missing);
  expect(load(missing, &s, NULL), IBX_ERR_IO, missing, NULL);

  /* foreign HDF5: a valid file that is not a checkpoint */
  const char *foreign = tmp("foreign.h5");
  ibx_h5 f;
  assert_ibx_ok(ibx_h5_create(&f, foreign));
  const int64_t d = 3;
  const float v[3] = {1, 2, 3};
  assert_ibx_ok(ibx_h5_write_f32(&f, "data", 1, &d, v));
  assert_ibx_ok(ibx_h5_close(&f));
  expect(load(foreign, &s, NULL), IBX_ERR_FORMAT, foreign, "not an ibx checkpoint");

  /* truncated: the first half of a real checkpoint */
  const char *good = tmp("good.h5"), *cut = tmp("cut.h5");
  assert_ibx_ok(save(good, &s, 1));
  FILE *in = fopen(good, "rb"), *out = fopen(cut, "wb");
  fseek(in, 0, SEEK_END);
  long size = ftell(in);
  fseek(in, 0, SEEK_SET);
  char *buf = malloc(size);
  assert_int_equal(fread(buf, 1, size, in), size);
  fwrite(buf, 1, size / 2, out);
  fclose(in);
  fclose(out);
  free(buf);
  int rc = load(cut, &s, NULL);
  assert_int_not_equal(rc, IBX_OK);
  assert_non_null(strstr(ibx_errmsg(), cut));

  /* a different model: same names, other shape */
  store other;
  ibx_params_init(&other.p, 1);
  ibx_params_init(&other.b, 0);
  const int w[4] = {5, 3, 3, 3};
  assert_ibx_ok(ibx_params_declare(&other.p, "features.0.weight", 4, w, NULL));
  assert_ibx_ok(ibx_params_allocate(&other.p));
  other.mom = calloc(other.p.total, sizeof(float));
  expect(load(good, &other, NULL), IBX_ERR_FORMAT, good, "features.0.weight");
  free_store(&other);
  free_store(&s);
}

static int failing_writer(const char *tmp_path, void *ctx) {
  (void)ctx;
  FILE *f = fopen(tmp_path, "w");
  fputs("partial", f);
  fclose(f);
  return ibx_fail(IBX_ERR_IO, "simulated failure");
}

static void test_failed_write_keeps_previous(void **state) {
  (void)state;
  store s, r;
  make_store(&s, 0);
  make_store(&r, 0);
  fill(&s, 5);
  const char *path = tmp("keep.h5");
  assert_ibx_ok(save(path, &s, 1));
  assert_int_equal(ibx_atomic_write(path, failing_writer, NULL), IBX_ERR_IO);
  assert_ibx_ok(load(path, &r, NULL));
  assert_same_tensors(&s.p, s.p.values, r.p.values);
  free_store(&s);
  free_store(&r);
}

/* A child rewrites a ~2.5 MB checkpoint in a loop with changing contents;
 * the parent SIGKILLs it at staggered moments. Every time, the file on disk
 * must load and be one complete version (params all from one fill). */
static void test_sigkill_during_write(void **state) {
  (void)state;
  const char *path = tmp("kill.h5");
  store s, r;
  make_store(&s, 1);
  make_store(&r, 1);
  for (size_t i = 0; i < s.p.total; i++)
    s.p.values[i] = 0.0f;
  assert_ibx_ok(save(path, &s, 0));
  for (int trial = 0; trial < 6; trial++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      for (long k = 1;; k++) {
        for (size_t i = 0; i < s.p.total; i++)
          s.p.values[i] = (float)k;
        if (save(path, &s, k))
          _exit(3);
      }
    }
    struct timespec t = {0, 20000000L + 17000000L * trial};
    nanosleep(&t, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    ibx_ckpt_meta meta;
    assert_ibx_ok(load(path, &r, &meta));
    for (size_t i = 0; i < r.p.info[0].numel; i++)
      if (r.p.values[i] != (float)meta.epoch)
        fail_msg("trial %d: element %zu is %g but the checkpoint is epoch %ld", trial, i,
                 (double)r.p.values[i], meta.epoch);
  }
  free_store(&s);
  free_store(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_failed_write_keeps_previous),
      cmocka_unit_test(test_sigkill_during_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
