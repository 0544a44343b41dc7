/* Helpers for the golden tests (tests/test_golden_*.c): read fixtures written
 * by scripts/make_golden.py through ibx/h5io.h and compare against them.
 * Header-only so it needs no build changes; include after testutil.h.
 *
 * Tolerance policy (g_check): an element passes when
 *     |got - ref| <= rtol * |ref| + atol_scale * max_j |ref_j|
 * i.e. relative to the element itself, plus an absolute term relative to the
 * scale of the whole tensor. The second term matters for elements that come
 * out near zero by cancellation: their float32 error is set by the size of
 * the terms that cancelled (about the tensor's scale), not by the result.
 * The references are float64 results rounded to float32 (see
 * make_golden.py), so the tolerance bounds ibx's float32 error alone.
 *
 * Set IBX_GOLDEN_VERBOSE=1 to print the worst error of every comparison. */
#ifndef IBX_TEST_GOLDEN_H
#define IBX_TEST_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/h5io.h"
#include "ibx/memory.h"
#include "testutil.h"

/* Default tolerances: 1e-5 relative, plus 1e-5 of the tensor's scale. */
#define G_RTOL 1e-5
#define G_ATOL_SCALE 1e-5

/* Opens IBX_FIXTURE_DIR/file into *f for a cmocka group setup: 0, or -1
 * with the reason on stderr (a group setup cannot fail a test with a
 * message of its own). */
static inline int g_fixture_open(ibx_h5 *f, const char *file) {
  char path[IBX_H5_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", IBX_FIXTURE_DIR, file);
  if (ibx_h5_open(f, path) != IBX_OK) {
    fprintf(stderr, "%s\n", ibx_errmsg());
    return -1;
  }
  return 0;
}

static inline int g_fixture_close(ibx_h5 *f) { return ibx_h5_close(f) == IBX_OK ? 0 : -1; }

/* The fixture file of a golden test file: defines `static ibx_h5 var` and the
 * cmocka group setup/teardown g_group_setup/g_group_teardown that open and
 * close it. Use once per test file:
 *     G_FIXTURE(F, "golden_layers.h5")
 *     ... cmocka_run_group_tests(tests, g_group_setup, g_group_teardown); */
#define G_FIXTURE(var, file)                                                                       \
  static ibx_h5 var;                                                                               \
  static int g_group_setup(void **state) {                                                         \
    (void)state;                                                                                   \
    return g_fixture_open(&var, (file));                                                           \
  }                                                                                                \
  static int g_group_teardown(void **state) {                                                      \
    (void)state;                                                                                   \
    return g_fixture_close(&var);                                                                  \
  }

static inline void g_open(ibx_h5 *f, const char *file) {
  char path[IBX_H5_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", IBX_FIXTURE_DIR, file);
  assert_ibx_ok(ibx_h5_open(f, path));
}

static inline const char *g_path(char *buf, size_t len, const char *grp, const char *name) {
  snprintf(buf, len, "%s/%s", grp, name);
  return buf;
}

static inline int g_has(const ibx_h5 *f, const char *grp, const char *name) {
  char p[256];
  return ibx_h5_exists(f, g_path(p, sizeof p, grp, name));
}

/* Every buffer below comes from ibx_alloc: free with ibx_free. */

/* Reads grp/name into a fresh buffer; *t (may be NULL) becomes a view of
 * the dataset's shape (at most 4 dims; a scalar becomes [1]). */
static inline float *g_read(const ibx_h5 *f, const char *grp, const char *name, ibx_tensor *t) {
  char p[256];
  int nd;
  int64_t d[IBX_H5_MAX_DIMS];
  float *buf = NULL;
  g_path(p, sizeof p, grp, name);
  assert_ibx_ok(ibx_h5_shape(f, p, &nd, d));
  if (nd > IBX_MAX_DIMS)
    fail_msg("%s has %d dims", p, nd);
  assert_ibx_ok(ibx_h5_read_f32_alloc(f, p, &buf, NULL));
  if (t) {
    t->data = buf;
    t->ndim = nd ? nd : 1;
    for (int i = 0; i < IBX_MAX_DIMS; i++)
      t->dim[i] = i < nd ? (int)d[i] : 1;
  }
  return buf;
}

static inline size_t g_numel(const ibx_tensor *t) { return (size_t)ibx_numel(t); }

/* A zeroed buffer with t's shape as view *out. */
static inline float *g_zeros_like(const ibx_tensor *t, ibx_tensor *out) {
  size_t n = g_numel(t);
  float *buf = ibx_calloc((n ? n : 1) * sizeof(float), "golden zeros");
  assert_non_null(buf);
  *out = *t;
  out->data = buf;
  return buf;
}

static inline float *g_copy(const float *src, size_t n) {
  float *buf = ibx_alloc((n ? n : 1) * sizeof(float), "golden copy");
  assert_non_null(buf);
  memcpy(buf, src, n * sizeof(float));
  return buf;
}

static inline double g_attr_f(const ibx_h5 *f, const char *grp, const char *attr) {
  double v = 0.0;
  assert_ibx_ok(ibx_h5_read_attr_f64(f, grp, attr, &v));
  return v;
}

static inline long g_attr_i(const ibx_h5 *f, const char *grp, const char *attr) {
  int64_t v = 0;
  assert_ibx_ok(ibx_h5_read_attr_i64(f, grp, attr, &v));
  return (long)v;
}

static inline double g_maxabs(const float *x, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)x[i]));
  return m;
}

/* |got - ref| <= rtol * |ref| + atol (atol absolute); what names the check. */
static inline void g_check_abs(const char *what, const float *got, const float *ref, size_t n,
                               double rtol, double atol) {
  if (getenv("IBX_GOLDEN_VERBOSE")) {
    double worst = 0.0; /* in units of the allowed error */
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
      const double allowed = rtol * fabs((double)ref[i]) + atol;
      const double e = fabs((double)got[i] - ref[i]) / (allowed > 0 ? allowed : 1e-30);
      if (e > worst)
        worst = e, at = i;
    }
    printf("  %-48s n %-5zu scale %-10.3g worst %.3f of allowed (abs err %.3g)\n", what, n,
           g_maxabs(ref, n), worst, n ? fabs((double)got[at] - ref[at]) : 0.0);
  }
  tu_assert_close(what, got, ref, n, rtol, atol);
}

/* The policy above with explicit tolerances. */
static inline void g_check_tol(const char *what, const float *got, const float *ref, size_t n,
                               double rtol, double atol_scale) {
  g_check_abs(what, got, ref, n, rtol, atol_scale * g_maxabs(ref, n));
}

static inline void g_check(const char *what, const float *got, const float *ref, size_t n) {
  g_check_tol(what, got, ref, n, G_RTOL, G_ATOL_SCALE);
}

/* "grp/name" label for messages. */
#define G_WHAT(buf, grp, name) (snprintf((buf), sizeof(buf), "%s %s", (grp), (name)), (buf))

#endif
