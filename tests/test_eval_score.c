/* Attention consistency and the interpretability score: cosine of identical
 * maps is 1, of orthogonal maps 0, invariant to the normalisation it names;
 * a model whose attention ignores the input scores 100 % under every
 * spatial modification while one whose attention follows the input does
 * not; the score does not depend on the batch size, and two runs with one
 * seed judge identical images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/interpret.h"
#include "testutil.h"

#define C 1
#define H 16
#define W 16
#define MAP 4 /* 4 x 4 attention maps */
#define N 120

static void test_cosine(void **state) {
  (void)state;
  float a[16], b[16], z[16] = {0};
  tu_randn(a, 16, 1.0f, 3);
  for (int norm = 0; norm < 2; norm++) {
    assert_true(fabs(ibx_map_cosine(a, a, 16, (ibx_map_norm)norm) - 1.0) < 1e-12);
    /* disjoint supports on a zero background: orthogonal */
    for (int i = 0; i < 16; i++)
      a[i] = i < 8 ? (float)(i + 1) : 0.0f, b[i] = i < 8 ? 0.0f : (float)(20 - i);
    assert_true(fabs(ibx_map_cosine(a, b, 16, (ibx_map_norm)norm)) < 1e-12);
    assert_true(ibx_map_cosine(z, z, 16, (ibx_map_norm)norm) == 1.0); /* both empty */
    assert_true(ibx_map_cosine(a, z, 16, (ibx_map_norm)norm) == 0.0);
  }
  /* l2: scale-invariant; minmax: also offset-invariant */
  for (int i = 0; i < 16; i++)
    b[i] = 3.0f * a[i];
  assert_true(fabs(ibx_map_cosine(a, b, 16, IBX_MAP_NORM_L2) - 1.0) < 1e-12);
  for (int i = 0; i < 16; i++)
    b[i] = 0.5f * a[i] + 2.0f;
  assert_true(fabs(ibx_map_cosine(a, b, 16, IBX_MAP_NORM_MINMAX) - 1.0) < 1e-9);
  assert_true(ibx_map_cosine(a, b, 16, IBX_MAP_NORM_L2) < 0.99);
  /* a known value: (1,0) vs (1,1) */
  const float u[2] = {1, 0}, v[2] = {1, 1};
  assert_true(fabs(ibx_map_cosine(u, v, 2, IBX_MAP_NORM_L2) - sqrt(0.5)) < 1e-12);
}

/* Predictions: the class is the brightness band of the image mean (so
 * large modifications change some predictions). */
static int predict(const float *x) {
  double s = 0;
  for (int i = 0; i < C * H * W; i++)
    s += x[i];
  const int k = (int)(s / (C * H * W) / 255.0 * 5.0);
  return k < 0 ? 0 : k > 4 ? 4 : k;
}

/* Attention that ignores the input: a fixed, non-constant blob. */
static int fixed_forward(void *ctx, const float *x, int n, int *pred, float *maps) {
  (void)ctx;
  for (int i = 0; i < n; i++) {
    pred[i] = predict(x + (size_t)i * C * H * W);
    for (int j = 0; maps && j < MAP * MAP; j++)
      maps[(size_t)i * MAP * MAP + j] = expf(-(float)((j / MAP - 1) * (j / MAP - 1) +
                                                      (j % MAP - 2) * (j % MAP - 2)));
  }
  return IBX_OK;
}

/* Attention that follows the input: the image pooled to 4 x 4. */
static int pooled_forward(void *ctx, const float *x, int n, int *pred, float *maps) {
  (void)ctx;
  for (int i = 0; i < n; i++) {
    const float *im = x + (size_t)i * C * H * W;
    pred[i] = predict(im);
    for (int j = 0; maps && j < MAP * MAP; j++) {
      float s = 0;
      for (int y = 0; y < H / MAP; y++)
        for (int xx = 0; xx < W / MAP; xx++)
          s += im[(j / MAP * (H / MAP) + y) * W + j % MAP * (W / MAP) + xx];
      maps[(size_t)i * MAP * MAP + j] = s;
    }
  }
  return IBX_OK;
}

/* Sample i: a random image in pixel units of class-band brightness. */
static int read_canvas(void *ctx, long i, float *canvas, int *label) {
  (void)ctx;
  tu_randn(canvas, C * H * W, 25.0f, 1000 + (uint64_t)i);
  const float base = 25.0f + 200.0f * (float)(i % 9) / 8.0f;
  for (int k = 0; k < C * H * W; k++)
    canvas[k] = fminf(255.0f, fmaxf(0.0f, canvas[k] + base));
  *label = (int)(i % 5);
  return IBX_OK;
}

static void put_be32(FILE *f, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    fputc((int)(v >> s) & 0xFF, f);
}

/* Patch source: 20 random 1 x 20 x 20 images (IDX files), labels 0..4. */
static ibx_dataset *open_patches(void) {
  char img[1024], lab[1024];
  snprintf(img, sizeof img, "%s/score-images-idx3-ubyte", IBX_TEST_TMP);
  snprintf(lab, sizeof lab, "%s/score-labels-idx1-ubyte", IBX_TEST_TMP);
  FILE *f = fopen(img, "wb");
  assert_non_null(f);
  put_be32(f, 0x803), put_be32(f, 20), put_be32(f, 20), put_be32(f, 20);
  float v[400];
  for (int n = 0; n < 20; n++) {
    tu_randn(v, 400, 60.0f, 500 + (uint64_t)n);
    for (int k = 0; k < 400; k++)
      fputc((int)fminf(255.0f, fmaxf(0.0f, 128.0f + v[k])), f);
  }
  fclose(f);
  f = fopen(lab, "wb");
  assert_non_null(f);
  put_be32(f, 0x801), put_be32(f, 20);
  for (int n = 0; n < 20; n++)
    fputc(n % 5, f);
  fclose(f);
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_idx(img, lab, NULL, 10, &ds));
  return ds;
}

/* Colour blocks and patches of every window size of Table 2. */
static void spatial_mods(ibx_interpret_result *res, int *n) {
  *n = 0;
  const int ps[] = {4, 8, 12, 16};
  for (int kind = 0; kind < 2; kind++)
    for (int k = 0; k < 4; k++) {
      memset(&res[*n], 0, sizeof res[*n]);
      res[*n].kind = kind ? IBX_MOD_PATCH : IBX_MOD_COLOR_BLOCK, res[(*n)++].param = ps[k];
    }
}

static void run(int (*fwd)(void *, const float *, int, int *, float *), int batch,
                ibx_interpret_result *res, int *n) {
  const ibx_attn_model m = {fwd, NULL, MAP * MAP, batch};
  long samples[N];
  for (int i = 0; i < N; i++)
    samples[i] = i;
  ibx_dataset *patches = open_patches();
  const ibx_patch_source src = {patches, 1};
  const ibx_interpret_options o = {7, 0.9, IBX_MAP_NORM_MINMAX, &src};
  spatial_mods(res, n);
  assert_ibx_ok(ibx_interpret_run(&m, read_canvas, NULL, C, H, W, samples, N, &o, res, *n, 1));
  ibx_dataset_close(patches);
}

static void test_input_independent_attention_scores_100(void **state) {
  (void)state;
  ibx_interpret_result res[8];
  int n;
  run(fixed_forward, 32, res, &n);
  long changed = 0;
  for (int k = 0; k < n; k++) {
    assert_int_equal(res[k].n_total, N);
    assert_true(res[k].n_prediction_consistent > 0);
    changed += res[k].n_total - res[k].n_prediction_consistent;
    assert_true(ibx_interpret_score(&res[k]) == 100.0);
    free(res[k].cosine);
  }
  assert_true(changed > 0); /* modifications did change some predictions */
}

static void test_input_dependent_attention_scores_less(void **state) {
  (void)state;
  ibx_interpret_result res[8];
  int n;
  run(pooled_forward, 32, res, &n);
  assert_true(ibx_interpret_score(&res[3]) < 100.0); /* colour block p = 16: the whole image */
  assert_true(ibx_interpret_score(&res[3]) <= ibx_interpret_score(&res[0]));
  assert_true(ibx_interpret_score(&res[7]) < 100.0); /* patch p = 16 */
  for (int k = 0; k < n; k++)
    free(res[k].cosine);
}

static void test_batch_size_and_repeat_invariance(void **state) {
  (void)state;
  ibx_interpret_result a[8], b[8];
  int n;
  run(pooled_forward, 32, a, &n);
  run(pooled_forward, 7, b, &n);
  for (int k = 0; k < n; k++) {
    assert_int_equal(a[k].n_prediction_consistent, b[k].n_prediction_consistent);
    assert_int_equal(a[k].n_attention_consistent, b[k].n_attention_consistent);
    assert_memory_equal(a[k].cosine, b[k].cosine, a[k].n_prediction_consistent * sizeof(float));
    free(a[k].cosine), free(b[k].cosine);
  }
  /* a score with no prediction-consistent sample is 0, not a division by 0 */
  ibx_interpret_result empty = {0};
  assert_true(ibx_interpret_score(&empty) == 0.0);
}

static void test_bad_arguments(void **state) {
  (void)state;
  const ibx_attn_model m = {fixed_forward, NULL, MAP * MAP, 8};
  long s = 0;
  ibx_interpret_result r = {0};
  const ibx_interpret_options bad = {0, 1.5, IBX_MAP_NORM_L2, NULL};
  assert_int_equal(ibx_interpret_run(&m, read_canvas, NULL, C, H, W, &s, 1, &bad, &r, 1, 0),
                   IBX_ERR_ARG);
  const ibx_interpret_options o = {0, 0.9, IBX_MAP_NORM_L2, NULL};
  r.kind = IBX_MOD_PATCH, r.param = 4; /* patch without a source */
  assert_int_equal(ibx_interpret_run(&m, read_canvas, NULL, C, H, W, &s, 1, &o, &r, 1, 0),
                   IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "patch source"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cosine),
      cmocka_unit_test(test_input_independent_attention_scores_100),
      cmocka_unit_test(test_input_dependent_attention_scores_less),
      cmocka_unit_test(test_batch_size_and_repeat_invariance),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
