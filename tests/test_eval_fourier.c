/* Frequency filters of the interpretability score: on a synthetic image of
 * known frequencies the low/high pass keep and remove exactly the right
 * components (including a component exactly at the radius), r = 0 and
 * r = infinity are identity or zero, low + high = the image, and results
 * match torch.fft with Wang et al.'s mask (tests/fixtures/golden_fourier.h5,
 * scripts/make_golden_fourier.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/h5io.h"
#include "ibx/interpret.h"
#include "testutil.h"

#define PI 3.14159265358979323846
#define H 32
#define W 32

typedef struct {
  int ky, kx;
  double amp;
} wave;

/* DC 0.5; radius 1, 5 (3,4), 11.3 (8,8) and 13 (0,13). */
static const wave waves[] = {{0, 0, 0.5}, {1, 0, 0.2}, {3, 4, 0.1}, {8, 8, 0.05}, {0, 13, 0.07}};
#define NW (int)(sizeof waves / sizeof waves[0])

static void synth(float *img, int keep_mask) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      double v = 0;
      for (int k = 0; k < NW; k++)
        if (keep_mask & (1 << k))
          v += waves[k].amp * cos(2 * PI * (waves[k].ky * y / (double)H + waves[k].kx * x /
                                                                                 (double)W));
      img[y * W + x] = (float)v;
    }
}

/* Filters the full image and compares with the sum of the kept waves. */
static void check_keeps(double r, int low, int expect_mask) {
  float img[H * W], want[H * W];
  synth(img, (1 << NW) - 1);
  synth(want, expect_mask);
  assert_ibx_ok(ibx_fourier_filter(img, 1, H, W, r, low));
  char what[64];
  snprintf(what, sizeof what, "%s r=%g", low ? "low pass" : "high pass", r);
  tu_assert_close(what, img, want, H * W, 0, 2e-6);
}

static void test_radius(void **state) {
  (void)state;
  assert_true(ibx_fourier_radius(8, 8, 0, 0) == 0.0);
  assert_true(ibx_fourier_radius(8, 8, 1, 0) == 1.0);
  assert_true(ibx_fourier_radius(8, 8, 7, 0) == 1.0); /* frequency -1 */
  assert_true(ibx_fourier_radius(8, 8, 4, 0) == 4.0); /* Nyquist sits at -4 after fftshift */
  assert_true(fabs(ibx_fourier_radius(8, 8, 3, 4) - 5.0) < 1e-12);
  assert_true(ibx_fourier_radius(7, 7, 4, 0) == 3.0);  /* odd: bins 4..6 are -3..-1 */
}

static void test_known_frequencies(void **state) {
  (void)state;
  /* bits: 0 DC, 1 r=1, 2 r=5, 3 r=11.3, 4 r=13 */
  check_keeps(12, 1, 0x0F);  /* r < 12 keeps DC, 1, 5, 11.3 */
  check_keeps(4, 0, 0x1C);   /* r >= 4 keeps 5, 11.3, 13 */
  check_keeps(5, 1, 0x03);   /* exactly at the radius: not in the low pass */
  check_keeps(5, 0, 0x1C);   /* ... but in the high pass */
  check_keeps(0.5, 1, 0x01); /* only the mean */
}

static void test_zero_and_infinite_radius(void **state) {
  (void)state;
  check_keeps(0, 1, 0);                 /* low pass of nothing: zero */
  check_keeps(0, 0, (1 << NW) - 1);     /* high pass of everything: identity */
  check_keeps(INFINITY, 1, (1 << NW) - 1);
  check_keeps(INFINITY, 0, 0);
  float img[4];
  assert_int_equal(ibx_fourier_filter(img, 1, 2, 2, -1, 1), IBX_ERR_ARG);
  assert_int_equal(ibx_fourier_filter(img, 1, 2, 2, NAN, 1), IBX_ERR_ARG);
}

static void test_complement_odd_shape(void **state) {
  (void)state;
  enum { C = 3, h = 7, w = 10 };
  float x[C * h * w], lo[C * h * w], hi[C * h * w], sum[C * h * w];
  tu_randn(x, C * h * w, 1.0f, 77);
  memcpy(lo, x, sizeof x), memcpy(hi, x, sizeof x);
  assert_ibx_ok(ibx_fourier_filter(lo, C, h, w, 2.5, 1));
  assert_ibx_ok(ibx_fourier_filter(hi, C, h, w, 2.5, 0));
  for (int i = 0; i < C * h * w; i++)
    sum[i] = lo[i] + hi[i];
  tu_assert_close("low + high", sum, x, C * h * w, 0, 1e-5);
}

static void test_golden_torch(void **state) {
  (void)state;
  const char *cases[] = {"rgb32_r4", "rgb32_r12", "grey28_r4", "grey28_r12", "odd7x10_r2_5"};
  ibx_h5 f;
  assert_ibx_ok(ibx_h5_open(&f, IBX_FIXTURE_DIR "/golden_fourier.h5"));
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char name[128];
    int nd;
    int64_t d[IBX_H5_MAX_DIMS];
    snprintf(name, sizeof name, "%s/x", cases[k]);
    assert_ibx_ok(ibx_h5_shape(&f, name, &nd, d));
    const size_t n = (size_t)(d[0] * d[1] * d[2]);
    float *x = malloc(n * sizeof *x), *lo = malloc(n * sizeof *x), *hi = malloc(n * sizeof *x);
    float *want = malloc(n * sizeof *x);
    double r;
    assert_ibx_ok(ibx_h5_read_f32(&f, name, x, n));
    assert_ibx_ok(ibx_h5_read_attr_f64(&f, cases[k], "r", &r));
    memcpy(lo, x, n * sizeof *x), memcpy(hi, x, n * sizeof *x);
    assert_ibx_ok(ibx_fourier_filter(lo, (int)d[0], (int)d[1], (int)d[2], r, 1));
    assert_ibx_ok(ibx_fourier_filter(hi, (int)d[0], (int)d[1], (int)d[2], r, 0));
    snprintf(name, sizeof name, "%s/low", cases[k]);
    assert_ibx_ok(ibx_h5_read_f32(&f, name, want, n));
    tu_assert_close(name, lo, want, n, 0, 2e-6);
    snprintf(name, sizeof name, "%s/high", cases[k]);
    assert_ibx_ok(ibx_h5_read_f32(&f, name, want, n));
    tu_assert_close(name, hi, want, n, 0, 2e-6);
    free(x), free(lo), free(hi), free(want);
  }
  ibx_h5_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_radius),
      cmocka_unit_test(test_known_frequencies),
      cmocka_unit_test(test_zero_and_infinite_radius),
      cmocka_unit_test(test_complement_odd_shape),
      cmocka_unit_test(test_golden_torch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
