/* Spatial modifications of the interpretability score: the colour block and
 * the patch always lie inside the image (every window size up to the image,
 * non-square images, many samples and seeds), change nothing outside their
 * window, are pure functions of (seed, sample), and the patch is a crop of a
 * source image of another class when asked. Bad sizes are clear errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/data.h"
#include "ibx/interpret.h"
#include "testutil.h"

#define SRC_N 6
#define SRC_SIDE 12
static const uint8_t src_labels[SRC_N] = {0, 1, 0, 1, 2, 0};

/* A hash of (n, y, x): crops of 2 x 2 and more are (all but surely) unique. */
static uint8_t src_pixel(int n, int y, int x) {
  uint32_t h = (uint32_t)(n * 4096 + y * 64 + x) + 0x9E3779B9u; /* a non-linear mix */
  h ^= h >> 16, h *= 0x7FEB352Du, h ^= h >> 15, h *= 0x846CA68Bu, h ^= h >> 16;
  return (uint8_t)(h >> 24);
}

static void put_be32(FILE *f, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    fputc((int)(v >> s) & 0xFF, f);
}

/* A tiny IDX dataset (uncompressed) of distinct, recognisable images. */
static ibx_dataset *open_source(void) {
  char img[1024], lab[1024];
  snprintf(img, sizeof img, "%s/modify-images-idx3-ubyte", IBX_TEST_TMP);
  snprintf(lab, sizeof lab, "%s/modify-labels-idx1-ubyte", IBX_TEST_TMP);
  FILE *f = fopen(img, "wb");
  assert_non_null(f);
  put_be32(f, 0x803), put_be32(f, SRC_N), put_be32(f, SRC_SIDE), put_be32(f, SRC_SIDE);
  for (int n = 0; n < SRC_N; n++)
    for (int y = 0; y < SRC_SIDE; y++)
      for (int x = 0; x < SRC_SIDE; x++)
        fputc(src_pixel(n, y, x), f);
  fclose(f);
  f = fopen(lab, "wb");
  assert_non_null(f);
  put_be32(f, 0x801), put_be32(f, SRC_N);
  fwrite(src_labels, 1, SRC_N, f);
  fclose(f);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_idx(img, lab, NULL, 10, &ds));
  return ds;
}

static void fill(float *img, size_t n) {
  for (size_t i = 0; i < n; i++)
    img[i] = -1.0f; /* no modification writes -1 */
}

/* The changed pixels form exactly the p x p window of ibx_mod_window. */
static void check_window(const float *img, int c, int h, int w, int p, int y0, int x0) {
  for (int ch = 0; ch < c; ch++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const int inside = y >= y0 && y < y0 + p && x >= x0 && x < x0 + p;
        const float v = img[((size_t)ch * h + y) * w + x];
        if (inside != (v != -1.0f))
          fail_msg("p=%d window (%d,%d): pixel (%d,%d,%d) %s", p, y0, x0, ch, y, x,
                   inside ? "unchanged inside" : "changed outside");
      }
}

static void test_windows_inside(void **state) {
  (void)state;
  const int shapes[][2] = {{32, 32}, {28, 28}, {17, 40}, {40, 17}, {4, 4}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int h = shapes[s][0], w = shapes[s][1], m = h < w ? h : w;
    for (int p = 1; p <= m; p++)
      for (long i = 0; i < 200; i++)
        for (uint64_t seed = 0; seed < 3; seed++) {
          int y, x;
          assert_ibx_ok(ibx_mod_window(seed, IBX_MOD_PATCH, p, i, h, w, &y, &x));
          if (y < 0 || x < 0 || y + p > h || x + p > w)
            fail_msg("window %d at (%d,%d) leaves the %dx%d image", p, y, x, h, w);
        }
    int y, x;
    assert_int_equal(ibx_mod_window(0, IBX_MOD_COLOR_BLOCK, m + 1, 0, h, w, &y, &x), IBX_ERR_ARG);
    assert_int_equal(ibx_mod_window(0, IBX_MOD_COLOR_BLOCK, 0, 0, h, w, &y, &x), IBX_ERR_ARG);
  }
  /* positions vary with the sample (not stuck at one place) */
  int seen[32 - 8 + 1] = {0}, distinct = 0;
  for (long i = 0; i < 200; i++) {
    int y, x;
    assert_ibx_ok(ibx_mod_window(5, IBX_MOD_COLOR_BLOCK, 8, i, 32, 32, &y, &x));
    distinct += !seen[x]++;
  }
  assert_true(distinct > 20);
}

static void test_color_block(void **state) {
  (void)state;
  enum { C = 3, H = 20, W = 26 };
  float a[C * H * W], b[C * H * W];
  for (int p = 1; p <= H; p += 3)
    for (long i = 0; i < 50; i++) {
      fill(a, C * H * W), fill(b, C * H * W);
      assert_ibx_ok(ibx_mod_color_block(a, C, H, W, p, 9, i));
      assert_ibx_ok(ibx_mod_apply(b, C, H, W, IBX_MOD_COLOR_BLOCK, p, 9, i, 0, NULL));
      assert_memory_equal(a, b, sizeof a); /* pure function of (seed, sample) */
      int y, x;
      assert_ibx_ok(ibx_mod_window(9, IBX_MOD_COLOR_BLOCK, p, i, H, W, &y, &x));
      check_window(a, C, H, W, p, y, x);
      for (int ch = 0; ch < C; ch++) { /* one colour per channel, in [0, 255) */
        const float v = a[((size_t)ch * H + y) * W + x];
        assert_true(v >= 0.0f && v < 255.0f);
        for (int yy = y; yy < y + p; yy++)
          for (int xx = x; xx < x + p; xx++)
            assert_true(a[((size_t)ch * H + yy) * W + xx] == v);
      }
    }
  fill(a, C * H * W), fill(b, C * H * W);
  assert_ibx_ok(ibx_mod_color_block(a, C, H, W, 8, 1, 3));
  assert_ibx_ok(ibx_mod_color_block(b, C, H, W, 8, 2, 3));
  assert_memory_not_equal(a, b, sizeof a); /* the seed matters */
  assert_int_equal(ibx_mod_color_block(a, C, H, W, 21, 0, 0), IBX_ERR_ARG);
  assert_int_equal(ibx_mod_apply(a, C, H, W, IBX_MOD_COLOR_BLOCK, 4.5, 0, 0, 0, NULL),
                   IBX_ERR_ARG);
}

/* Which source image and crop the window shows (-1 when none). */
static int find_source(const float *img, int h, int w, int p, int y0, int x0) {
  for (int n = 0; n < SRC_N; n++)
    for (int cy = 0; cy + p <= SRC_SIDE; cy++)
      for (int cx = 0; cx + p <= SRC_SIDE; cx++) {
        int same = 1;
        for (int y = 0; y < p && same; y++)
          for (int x = 0; x < p && same; x++)
            same = img[(size_t)(y0 + y) * w + x0 + x] == (float)src_pixel(n, cy + y, cx + x);
        if (same)
          return n;
      }
  (void)h;
  return -1;
}

static void test_patch(void **state) {
  (void)state;
  ibx_dataset *src = open_source();
  enum { H = 28, W = 28 };
  float a[3 * H * W], b[3 * H * W];
  const ibx_patch_source other = {src, 1}, any = {src, 0};
  int used_any_label0 = 0;
  for (int p = 1; p <= SRC_SIDE; p++)
    for (long i = 0; i < 40; i++) {
      fill(a, H * W), fill(b, H * W);
      assert_ibx_ok(ibx_mod_patch(a, 1, H, W, p, 4, i, 0, &other));
      assert_ibx_ok(ibx_mod_apply(b, 1, H, W, IBX_MOD_PATCH, p, 4, i, 0, &other));
      assert_memory_equal(a, b, H * W * sizeof(float));
      int y, x;
      assert_ibx_ok(ibx_mod_window(4, IBX_MOD_PATCH, p, i, H, W, &y, &x));
      check_window(a, 1, H, W, p, y, x);
      const int n = find_source(a, H, W, p, y, x);
      assert_true(n >= 0);
      if (p >= 2 && src_labels[n] == 0) /* p = 1 crops are not unique */
        fail_msg("sample of class 0 got a patch of class 0 (source %d)", n);
      fill(a, H * W);
      assert_ibx_ok(ibx_mod_patch(a, 1, H, W, p, 4, i, 0, &any));
      const int m = find_source(a, H, W, p, y, x);
      used_any_label0 += p >= 2 && m >= 0 && src_labels[m] == 0;
    }
  assert_true(used_any_label0 > 0); /* without other_class, same-class patches occur */
  /* a grey source on a colour image: the same patch on every channel */
  fill(a, 3 * H * W);
  assert_ibx_ok(ibx_mod_patch(a, 3, H, W, 6, 1, 2, 1, &other));
  assert_memory_equal(a, a + H * W, H * W * sizeof(float));
  assert_memory_equal(a, a + 2 * H * W, H * W * sizeof(float));
  /* windows larger than the source images, or no source: clear errors */
  assert_int_equal(ibx_mod_patch(a, 1, H, W, SRC_SIDE + 1, 0, 0, 0, &other), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "smaller than the window"));
  assert_int_equal(ibx_mod_apply(a, 1, H, W, IBX_MOD_PATCH, 4, 0, 0, 0, NULL), IBX_ERR_ARG);
  ibx_dataset_close(src);
}

static void test_names(void **state) {
  (void)state;
  for (int k = 0; k < IBX_MOD_COUNT; k++) {
    ibx_mod_kind back;
    assert_ibx_ok(ibx_mod_parse(ibx_mod_name((ibx_mod_kind)k), &back));
    assert_int_equal(back, k);
  }
  ibx_mod_kind k;
  assert_int_equal(ibx_mod_parse("blur", &k), IBX_ERR_ARG);
  assert_string_equal(ibx_mod_name(IBX_MOD_COLOR_BLOCK), "color_block");
  assert_string_equal(ibx_mod_name(IBX_MOD_LOW_PASS), "low_pass");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_windows_inside),
      cmocka_unit_test(test_color_block),
      cmocka_unit_test(test_patch),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
