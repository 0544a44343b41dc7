/* Cluttered datasets: the item lands intact (max-combined) at a position
 * that is a pure function of (seed, i), its box is the tight box of its
 * nonzero pixels, clutter comes only from other items, labels are the
 * source's; and cluttered Fashion-MNIST from the Debian package when
 * present. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/data.h"
#include "testutil.h"

#define NI 6

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Item k: a filled rectangle of value 100 + 20k, rows 5..20, cols 8..15. */
static int in_rect(int y, int x) { return y >= 5 && y <= 20 && x >= 8 && x <= 15; }

static ibx_dataset *source(void) {
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/clutter-images", IBX_TEST_TMP);
  snprintf(lp, sizeof lp, "%s/clutter-labels", IBX_TEST_TMP);
  static uint8_t buf[16 + NI * 784];
  put_be32(buf, 0x803), put_be32(buf + 4, NI), put_be32(buf + 8, 28), put_be32(buf + 12, 28);
  for (int k = 0; k < NI; k++)
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++)
        buf[16 + k * 784 + y * 28 + x] = in_rect(y, x) ? (uint8_t)(100 + 20 * k) : 0;
  FILE *f = fopen(ip, "wb");
  fwrite(buf, 1, sizeof buf, f);
  fclose(f);
  uint8_t lab[8 + NI];
  put_be32(lab, 0x801), put_be32(lab + 4, NI);
  for (int k = 0; k < NI; k++)
    lab[8 + k] = (uint8_t)(9 - k);
  f = fopen(lp, "wb");
  fwrite(lab, 1, sizeof lab, f);
  fclose(f);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_idx(ip, lp, NULL, 10, &ds));
  return ds;
}

static void test_no_clutter(void **state) {
  (void)state;
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.fragments = 0, cfg.seed = 3;
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cluttered(source(), &cfg, &ds));
  assert_int_equal(ibx_dataset_count(ds), NI);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 1), assert_int_equal(h, 64), assert_int_equal(w, 64);
  assert_true(ibx_dataset_has_boxes(ds));
  int positions = 0;
  static uint8_t img[64 * 64];
  for (long i = 0; i < NI; i++) {
    int label;
    assert_ibx_ok(ibx_dataset_read(ds, i, img, &label));
    assert_int_equal(label, 9 - i);
    float b[4];
    assert_ibx_ok(ibx_dataset_box(ds, i, b));
    assert_true(b[2] == 8 && b[3] == 16);
    int bx = (int)b[0], by = (int)b[1];
    assert_true(bx >= 8 && bx + 8 <= 64 - 12 && by >= 5 && by + 16 <= 64 - 7);
    for (int y = 0; y < 64; y++)
      for (int x = 0; x < 64; x++) {
        int inside = x >= bx && x < bx + 8 && y >= by && y < by + 16;
        assert_int_equal(img[y * 64 + x], inside ? 100 + 20 * i : 0);
      }
    positions += bx != 8 || by != 5;
  }
  assert_true(positions > 0); /* not all at the top-left */
  ibx_dataset_close(ds);
}

static void test_clutter(void **state) {
  (void)state;
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.seed = 3;
  cfg.fragments = 10, cfg.fragment_size = 9;
  ibx_dataset *ds = NULL, *plain = NULL, *other = NULL;
  assert_ibx_ok(ibx_dataset_open_cluttered(source(), &cfg, &ds));
  cfg.fragments = 0;
  assert_ibx_ok(ibx_dataset_open_cluttered(source(), &cfg, &plain));
  cfg.fragments = 10, cfg.seed = 4;
  assert_ibx_ok(ibx_dataset_open_cluttered(source(), &cfg, &other));
  static uint8_t img[64 * 64], again[64 * 64], ref[64 * 64], alt[64 * 64];
  int differs = 0, clutter_pixels = 0;
  for (long i = 0; i < NI; i++) {
    assert_ibx_ok(ibx_dataset_read(ds, i, img, NULL));
    assert_ibx_ok(ibx_dataset_read(ds, i, again, NULL));
    assert_memory_equal(img, again, sizeof img); /* pure */
    assert_ibx_ok(ibx_dataset_read(plain, i, ref, NULL));
    assert_ibx_ok(ibx_dataset_read(other, i, alt, NULL));
    differs += memcmp(img, alt, sizeof img) != 0;
    float b[4], pb[4];
    assert_ibx_ok(ibx_dataset_box(ds, i, b));
    assert_ibx_ok(ibx_dataset_box(plain, i, pb));
    assert_memory_equal(b, pb, sizeof b); /* same seed: same item position */
    for (int p = 0; p < 64 * 64; p++) {
      assert_true(img[p] >= ref[p]); /* the item is intact (max) */
      if (img[p] != ref[p]) {
        clutter_pixels++;
        /* clutter comes from other items only */
        int v = img[p];
        assert_true((v - 100) % 20 == 0 && (v - 100) / 20 != i);
      }
    }
  }
  assert_true(clutter_pixels > 50);
  assert_true(differs > 0);
  ibx_dataset_close(ds), ibx_dataset_close(plain), ibx_dataset_close(other);
}

static void test_bad_config(void **state) {
  (void)state;
  ibx_dataset *src = source(), *ds = NULL;
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.size = 20;
  assert_int_equal(ibx_dataset_open_cluttered(src, &cfg, &ds), IBX_ERR_ARG);
  ibx_clutter_default(&cfg);
  cfg.fragment_size = 29;
  assert_int_equal(ibx_dataset_open_cluttered(src, &cfg, &ds), IBX_ERR_ARG);
  assert_null(strchr(ibx_errmsg(), '\n'));
  cfg.fragment_size = 9, cfg.fragments = 13;
  assert_int_equal(ibx_dataset_open_cluttered(src, &cfg, &ds), IBX_ERR_ARG);
  assert_null(ds);
  ibx_dataset_close(src); /* still ours after failures */
}

static void test_real_cluttered_fashion_mnist(void **state) {
  (void)state;
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/t10k-images-idx3-ubyte.gz", IBX_FASHION_MNIST_DIR);
  FILE *f = fopen(probe, "rb");
  if (!f) {
    print_message("[  SKIP    ] %s absent (install dataset-fashion-mnist)\n", probe);
    skip();
  }
  fclose(f);
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.seed = 11;
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cluttered_fashion_mnist(NULL, "test", &cfg, &ds));
  assert_int_equal(ibx_dataset_count(ds), 10000);
  static uint8_t img[64 * 64];
  for (long i = 0; i < 10000; i += 997) {
    int label;
    assert_ibx_ok(ibx_dataset_read(ds, i, img, &label));
    assert_true(label >= 0 && label < 10);
    float b[4];
    assert_ibx_ok(ibx_dataset_box(ds, i, b));
    assert_true(b[0] >= 0 && b[1] >= 0 && b[2] >= 1 && b[3] >= 1);
    assert_true(b[0] + b[2] <= 64 && b[1] + b[3] <= 64 && b[2] <= 28 && b[3] <= 28);
    long inside = 0, outside = 0;
    for (int y = 0; y < 64; y++)
      for (int x = 0; x < 64; x++) {
        int in = x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3];
        *(in ? &inside : &outside) += img[y * 64 + x];
      }
    assert_true(inside > 0 && outside > 0); /* an item and some clutter */
  }
  ibx_dataset_close(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_clutter),
      cmocka_unit_test(test_clutter),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_real_cluttered_fashion_mnist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
