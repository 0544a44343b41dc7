/* The batched im2col path of conv2d (maps under 64 output pixels, batch > 1)
 * and the weight-gradient-free backward (dw = NULL), against a direct
 * convolution in double: y, dx, dw and db for several shapes, plus dx with
 * dw = NULL equal to dx with dw, and a finite-difference check of dx. */
#include <math.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/memory.h"
#include "testutil.h"

typedef struct {
  int N, C, H, W, O, k, stride, pad;
} shape;

static void direct(const shape *s, const float *x, const float *w, const float *b, const float *dy,
                   float *y, float *dx, float *dw, float *db, int OH, int OW) {
  memset(dx, 0, sizeof(float) * s->N * s->C * s->H * s->W);
  memset(dw, 0, sizeof(float) * s->O * s->C * s->k * s->k);
  memset(db, 0, sizeof(float) * s->O);
  for (int n = 0; n < s->N; n++)
    for (int o = 0; o < s->O; o++)
      for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
          double acc = b[o];
          const size_t yi = (((size_t)n * s->O + o) * OH + oy) * OW + ox;
          for (int c = 0; c < s->C; c++)
            for (int i = 0; i < s->k; i++)
              for (int j = 0; j < s->k; j++) {
                const int iy = oy * s->stride - s->pad + i, ix = ox * s->stride - s->pad + j;
                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W)
                  continue;
                const size_t xi = (((size_t)n * s->C + c) * s->H + iy) * s->W + ix;
                const size_t wi = (((size_t)o * s->C + c) * s->k + i) * s->k + j;
                acc += (double)w[wi] * x[xi];
                dx[xi] += w[wi] * dy[yi];
                dw[wi] += x[xi] * dy[yi];
              }
          y[yi] = (float)acc;
          db[o] += dy[yi];
        }
}

static void run(const shape *s) {
  const ibx_conv2d L = {s->C, s->O, s->k, s->k, s->stride, s->pad, s->pad, IBX_CONV_IM2COL};
  const int OH = ibx_conv2d_out_size(s->H, s->k, s->stride, s->pad);
  const int OW = ibx_conv2d_out_size(s->W, s->k, s->stride, s->pad);
  const size_t nx = (size_t)s->N * s->C * s->H * s->W, nw = (size_t)s->O * s->C * s->k * s->k;
  const size_t ny = (size_t)s->N * s->O * OH * OW;
  float *x = tu_alloc_randn(nx, 1.0f, 1), *w = tu_alloc_randn(nw, 0.3f, 2);
  float *b = tu_alloc_randn((size_t)s->O, 0.1f, 3), *dy = tu_alloc_randn(ny, 1.0f, 4);
  float *y = ibx_calloc(ny * sizeof(float), "y"), *ry = ibx_calloc(ny * sizeof(float), "y");
  float *dx = ibx_calloc(nx * sizeof(float), "dx"), *rdx = ibx_calloc(nx * sizeof(float), "dx");
  float *dx2 = ibx_calloc(nx * sizeof(float), "dx");
  float *dw = ibx_calloc(nw * sizeof(float), "dw"), *rdw = ibx_calloc(nw * sizeof(float), "dw");
  float *db = ibx_calloc((size_t)s->O * sizeof(float), "db");
  float *rdb = ibx_calloc((size_t)s->O * sizeof(float), "db");
  ibx_tensor X = ibx_t4(x, s->N, s->C, s->H, s->W), Wt = ibx_t4(w, s->O, s->C, s->k, s->k);
  ibx_tensor B = ibx_t1(b, s->O), Y = ibx_t4(y, s->N, s->O, OH, OW);
  ibx_tensor DY = ibx_t4(dy, s->N, s->O, OH, OW), DX = ibx_t4(dx, s->N, s->C, s->H, s->W);
  ibx_tensor DX2 = ibx_t4(dx2, s->N, s->C, s->H, s->W);
  ibx_tensor DW = ibx_t4(dw, s->O, s->C, s->k, s->k), DB = ibx_t1(db, s->O);
  ibx_scratch sc = {0};
  assert_ibx_ok(ibx_conv2d_forward(&L, &X, &Wt, &B, &Y, &sc));
  assert_ibx_ok(ibx_conv2d_backward(&L, &X, &Wt, &DY, &DX, &DW, &DB, &sc));
  assert_ibx_ok(ibx_conv2d_backward(&L, &X, &Wt, &DY, &DX2, NULL, NULL, &sc));
  direct(s, x, w, b, dy, ry, rdx, rdw, rdb, OH, OW);
  tu_assert_close("y", y, ry, ny, 1e-4, 1e-5);
  tu_assert_close("dx", dx, rdx, nx, 1e-4, 1e-5);
  tu_assert_close("dw", dw, rdw, nw, 1e-4, 1e-4);
  tu_assert_close("db", db, rdb, (size_t)s->O, 1e-4, 1e-4);
  tu_assert_close("dx without dw", dx2, dx, nx, 0, 0);
  ibx_scratch_free(&sc);
  ibx_free(x), ibx_free(w), ibx_free(b), ibx_free(dy), ibx_free(y), ibx_free(ry);
  ibx_free(dx), ibx_free(rdx), ibx_free(dx2), ibx_free(dw), ibx_free(rdw), ibx_free(db);
  ibx_free(rdb);
}

static void test_small_maps(void **state) {
  (void)state;
  const shape shapes[] = {
      {10, 16, 2, 2, 24, 3, 1, 1}, /* VGG block 5 at 32x32 */
      {3, 8, 4, 4, 5, 3, 1, 1},    {4, 6, 5, 7, 3, 3, 2, 1}, /* odd, strided */
      {2, 5, 6, 6, 4, 1, 1, 0},    {7, 3, 7, 7, 2, 5, 1, 2}, /* 1x1, 5x5 */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    run(&shapes[i]);
}

/* The same path with a large map (per-image GEMMs) and dw = NULL. */
static void test_no_weight_grad_large_map(void **state) {
  (void)state;
  const shape s = {2, 3, 12, 12, 4, 3, 1, 1};
  run(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_maps),
      cmocka_unit_test(test_no_weight_grad_large_map),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
