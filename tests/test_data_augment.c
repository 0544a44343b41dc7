/* Augmentation: exact agreement with a naive torchvision-style reference
 * (explicit zero-padded canvas, crop, flip, normalise), 28->32 padding,
 * purity in (seed, epoch, sample), batch == per-sample regardless of order
 * and threads, offsets/flips cover their range, and channel statistics.
 * (Throughput is measured by bench/bench_data.c, never in a test.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibx/augment.h"
#include "ibx/data.h"
#include "testutil.h"

/* Naive reference: build the centred, padded canvas explicitly. */
static void reference(const ibx_augment *a, int c, int h, int w, const uint8_t *in, int dy, int dx,
                      int flip, float *out) {
  int oh = a->out_h ? a->out_h : h, ow = a->out_w ? a->out_w : w, p = a->crop_pad;
  int ch_ = oh + 2 * p, cw = ow + 2 * p;
  int *canvas = malloc(sizeof(int) * ch_ * cw);
  for (int ch = 0; ch < c; ch++) {
    for (int i = 0; i < ch_ * cw; i++)
      canvas[i] = 0;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int cy = y + (oh - h) / 2 + p, cx = x + (ow - w) / 2 + p;
        if (cy >= 0 && cy < ch_ && cx >= 0 && cx < cw)
          canvas[cy * cw + cx] = in[(ch * h + y) * w + x];
      }
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        int v = canvas[(y + dy) * cw + (x + dx)];
        int xo = flip ? ow - 1 - x : x;
        out[(ch * oh + y) * ow + xo] = ((float)v / 255.0f - a->mean[ch]) / a->std[ch];
      }
  }
  free(canvas);
}

static void fill(uint8_t *img, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    img[i] = (uint8_t)((i * 2654435761u + seed * 97u) >> 13);
}

static void test_identity_and_normalise(void **state) {
  (void)state;
  uint8_t img[3 * 5 * 7];
  fill(img, sizeof img, 1);
  ibx_augment a;
  ibx_augment_identity(&a);
  float out[3 * 5 * 7];
  assert_ibx_ok(ibx_augment_apply(&a, 3, 5, 7, img, 0, 0, out));
  for (size_t i = 0; i < sizeof img; i++)
    assert_float_equal(out[i], img[i] / 255.0f, 1e-6);
  a.mean[0] = 0.5f, a.mean[1] = 0.25f, a.mean[2] = 0.1f;
  a.std[0] = 0.2f, a.std[1] = 0.5f, a.std[2] = 2.0f;
  assert_ibx_ok(ibx_augment_apply(&a, 3, 5, 7, img, 3, 9, out));
  for (int ch = 0; ch < 3; ch++)
    for (int k = 0; k < 35; k++)
      assert_float_equal(out[ch * 35 + k], (img[ch * 35 + k] / 255.0f - a.mean[ch]) / a.std[ch],
                         1e-5);
  a.std[1] = 0;
  assert_int_equal(ibx_augment_apply(&a, 3, 5, 7, img, 0, 0, out), IBX_ERR_ARG);
  assert_null(strchr(ibx_errmsg(), '\n'));
  a.std[1] = 1;
  assert_int_equal(ibx_augment_apply(&a, 5, 5, 7, img, 0, 0, out), IBX_ERR_ARG);
}

static void test_pad_28_to_32(void **state) {
  (void)state;
  uint8_t img[28 * 28];
  fill(img, sizeof img, 2);
  ibx_augment a;
  ibx_augment_identity(&a);
  a.out_h = a.out_w = 32;
  a.mean[0] = 0.2860f, a.std[0] = 0.3530f;
  float out[32 * 32];
  assert_ibx_ok(ibx_augment_apply(&a, 1, 28, 28, img, 0, 0, out));
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++) {
      int sy = y - 2, sx = x - 2;
      float v = (sy >= 0 && sy < 28 && sx >= 0 && sx < 28) ? img[sy * 28 + sx] / 255.0f : 0.0f;
      assert_float_equal(out[y * 32 + x], (v - a.mean[0]) / a.std[0], 1e-5);
    }
}

static void test_matches_reference(void **state) {
  (void)state;
  const int shapes[3][3] = {{3, 32, 32}, {1, 28, 28}, {3, 9, 13}};
  const int outs[3][2] = {{0, 0}, {32, 32}, {8, 16}};
  for (int s = 0; s < 3; s++) {
    int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
    ibx_augment a;
    ibx_augment_identity(&a);
    a.out_h = outs[s][0], a.out_w = outs[s][1];
    a.crop_pad = 4, a.hflip = 1, a.seed = 77 + s;
    for (int ch = 0; ch < c; ch++)
      a.mean[ch] = 0.4f + 0.05f * ch, a.std[ch] = 0.25f + 0.01f * ch;
    int oh = a.out_h ? a.out_h : h, ow = a.out_w ? a.out_w : w;
    uint8_t *img = malloc((size_t)c * h * w);
    float *out = malloc(sizeof(float) * c * oh * ow), *ref = malloc(sizeof(float) * c * oh * ow);
    int seen_dy[9] = {0}, seen_dx[9] = {0}, flips = 0;
    for (uint64_t sample = 0; sample < 300; sample++) {
      fill(img, (size_t)c * h * w, (unsigned)sample);
      int dy, dx, flip;
      ibx_augment_params(&a, 5, sample, &dy, &dx, &flip);
      assert_true(dy >= 0 && dy <= 8 && dx >= 0 && dx <= 8 && (flip == 0 || flip == 1));
      seen_dy[dy]++, seen_dx[dx]++, flips += flip;
      assert_ibx_ok(ibx_augment_apply(&a, c, h, w, img, 5, sample, out));
      reference(&a, c, h, w, img, dy, dx, flip, ref);
      for (int i = 0; i < c * oh * ow; i++)
        if (fabsf(out[i] - ref[i]) > 1e-5f)
          fail_msg("shape %d sample %lu (dy %d dx %d flip %d) element %d: %g vs %g", s,
                   (unsigned long)sample, dy, dx, flip, i, out[i], ref[i]);
    }
    for (int k = 0; k < 9; k++)
      assert_true(seen_dy[k] > 10 && seen_dx[k] > 10);
    assert_true(flips > 100 && flips < 200);
    free(img), free(out), free(ref);
  }
  /* no flip when hflip is off, no shift without padding */
  ibx_augment a;
  ibx_augment_identity(&a);
  a.crop_pad = 2;
  for (uint64_t s = 0; s < 100; s++) {
    int dy, dx, flip;
    ibx_augment_params(&a, 0, s, &dy, &dx, &flip);
    assert_int_equal(flip, 0);
    assert_true(dy <= 4 && dx <= 4);
  }
  a.crop_pad = 0, a.hflip = 1;
  int zero_shift = 1;
  for (uint64_t s = 0; s < 100; s++) {
    int dy, dx, flip;
    ibx_augment_params(&a, 0, s, &dy, &dx, &flip);
    zero_shift &= dy == 0 && dx == 0;
  }
  assert_true(zero_shift);
}

static void test_purity(void **state) {
  (void)state;
  ibx_augment a;
  ibx_augment_identity(&a);
  a.crop_pad = 4, a.hflip = 1, a.seed = 2024;
  int same = 0, diff_epoch = 0, diff_seed = 0;
  for (uint64_t s = 0; s < 200; s++) {
    int p1[3], p2[3], p3[3], p4[3];
    ibx_augment_params(&a, 7, s, &p1[0], &p1[1], &p1[2]);
    ibx_augment_params(&a, 7, s, &p2[0], &p2[1], &p2[2]);
    ibx_augment_params(&a, 8, s, &p3[0], &p3[1], &p3[2]);
    a.seed = 2025;
    ibx_augment_params(&a, 7, s, &p4[0], &p4[1], &p4[2]);
    a.seed = 2024;
    same += memcmp(p1, p2, sizeof p1) == 0;
    diff_epoch += memcmp(p1, p3, sizeof p1) != 0;
    diff_seed += memcmp(p1, p4, sizeof p1) != 0;
  }
  assert_int_equal(same, 200);
  assert_true(diff_epoch > 150 && diff_seed > 150);
}

/* A CIFAR-10 batch of n random images in the test directory. */
static ibx_dataset *cifar_fixture(long n, const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", IBX_TEST_TMP, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  uint8_t rec[3073];
  for (long i = 0; i < n; i++) {
    rec[0] = (uint8_t)(i % 10);
    fill(rec + 1, 3072, (unsigned)i);
    fwrite(rec, 1, sizeof rec, f);
  }
  fclose(f);
  const char *paths[1] = {p};
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cifar_files(paths, 1, 10, &ds));
  return ds;
}

static void test_batch_equals_single(void **state) {
  (void)state;
  ibx_dataset *ds = cifar_fixture(64, "augment-batch.bin");
  ibx_augment a;
  ibx_augment_identity(&a);
  a.crop_pad = 4, a.hflip = 1, a.seed = 5;
  a.mean[0] = 0.49f, a.mean[1] = 0.48f, a.mean[2] = 0.45f;
  a.std[0] = 0.25f, a.std[1] = 0.24f, a.std[2] = 0.26f;
  long idx[64];
  for (int k = 0; k < 64; k++)
    idx[k] = 63 - k; /* reversed order: augmentation follows the sample */
  float *out = malloc(sizeof(float) * 64 * 3072), one[3072];
  int labels[64];
  assert_ibx_ok(ibx_augment_batch(&a, ds, idx, 64, 3, out, labels));
  uint8_t img[3072];
  for (int k = 0; k < 64; k++) {
    int label;
    assert_ibx_ok(ibx_dataset_read(ds, idx[k], img, &label));
    assert_int_equal(labels[k], label);
    assert_ibx_ok(ibx_augment_apply(&a, 3, 32, 32, img, 3, (uint64_t)idx[k], one));
    assert_memory_equal(one, out + (size_t)k * 3072, sizeof one);
  }
  /* a bad index fails with the dataset's message */
  idx[10] = 64;
  assert_int_equal(ibx_augment_batch(&a, ds, idx, 64, 3, out, labels), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "out of range"));
  free(out);
  ibx_dataset_close(ds);
}

static void test_channel_stats(void **state) {
  (void)state;
  ibx_dataset *ds = cifar_fixture(20, "augment-stats.bin");
  float mean[3], std[3];
  assert_ibx_ok(ibx_dataset_channel_stats(ds, mean, std));
  uint8_t img[3072];
  for (int ch = 0; ch < 3; ch++) {
    double s = 0, s2 = 0;
    for (long i = 0; i < 20; i++) {
      assert_ibx_ok(ibx_dataset_read(ds, i, img, NULL));
      for (int p = 0; p < 1024; p++) {
        double v = img[ch * 1024 + p] / 255.0;
        s += v, s2 += v * v;
      }
    }
    double m = s / 20480, sd = sqrt(s2 / 20480 - m * m);
    assert_float_equal(mean[ch], m, 1e-5);
    assert_float_equal(std[ch], sd, 1e-5);
  }
  ibx_dataset_close(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_identity_and_normalise), cmocka_unit_test(test_pad_28_to_32),
      cmocka_unit_test(test_matches_reference),      cmocka_unit_test(test_purity),
      cmocka_unit_test(test_batch_equals_single),    cmocka_unit_test(test_channel_stats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
