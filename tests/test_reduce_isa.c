/* The float sums of src/core/reduce.h (batch-norm statistics and gradients,
 * convolution bias gradients) have the same bits whatever vector width runs
 * them:
 * - ibx_sum_f32, ibx_sum_sq_dev_f32 and ibx_sum_grad_f32, as the clone this
 *   CPU picks, equal a scalar model of their order (16 interleaved lanes per
 *   block of 1024, lanes added pairwise, blocks in double) bit for bit, and
 *   ibx_sum_squares_f64 one of its own (16 double lanes, no blocks);
 * - on x86-64 GCC, src/core/reduce.c is also built for SSE2, AVX2 and
 *   AVX-512 (tests/support/reduce_isa_variant.c) and each build the CPU can
 *   run must give those same bits;
 * - the data is such that a sum in another order (one accumulator, or
 *   vector-width partial sums as `omp simd reduction` makes) gives other
 *   bits, so a reordering implementation fails here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/reduce.h"
#include "testutil.h"

#define MAX_N 20000

/* the order reduce.h promises, written out one addition at a time */
static float lanes_model(float *lane) {
  for (int w = 8; w; w /= 2)
    for (int l = 0; l < w; l++)
      lane[l] = lane[l] + lane[l + w];
  return lane[0];
}

enum { SUM, SQ_DEV, GRAD_G, GRAD_GX, GRAD_RELU_G, GRAD_RELU_GX };

static float term(int kind, const float *x, const float *dy, const float *y, long i, float mean) {
  switch (kind) {
  case SUM:
    return x[i];
  case SQ_DEV:
    return (x[i] - mean) * (x[i] - mean);
  case GRAD_G:
    return dy[i];
  case GRAD_GX:
    return dy[i] * (x[i] - mean);
  case GRAD_RELU_G:
    return y[i] > 0.0f ? dy[i] : 0.0f;
  default:
    return (y[i] > 0.0f ? dy[i] : 0.0f) * (x[i] - mean);
  }
}

static double model_from(double total, int kind, const float *x, const float *dy, const float *y,
                         long n, float mean) {
  for (long b = 0; b < n; b += 1024) {
    const long e = b + 1024 < n ? b + 1024 : n;
    float lane[16] = {0};
    for (long i = b; i < e; i++)
      lane[(i - b) % 16] += term(kind, x, dy, y, i, mean);
    total += lanes_model(lane);
  }
  return total;
}

static double model(int kind, const float *x, const float *dy, const float *y, long n, float mean) {
  return model_from(0.0, kind, x, dy, y, n, mean);
}

static double squares_model(const float *x, long n) {
  double lane[16] = {0};
  for (long i = 0; i < n; i++)
    lane[i % 16] += (double)x[i] * x[i];
  for (int w = 8; w; w /= 2)
    for (int l = 0; l < w; l++)
      lane[l] = lane[l] + lane[l + w];
  return lane[0];
}

/* the same terms, one float accumulator per block: another order */
static double one_accumulator(int kind, const float *x, const float *dy, const float *y, long n,
                              float mean) {
  double total = 0.0;
  for (long b = 0; b < n; b += 1024) {
    const long e = b + 1024 < n ? b + 1024 : n;
    float acc = 0.0f;
    for (long i = b; i < e; i++)
      acc += term(kind, x, dy, y, i, mean);
    total += acc;
  }
  return total;
}

typedef double (*sum_fn)(const float *, long);
typedef double (*sq_dev_fn)(const float *, long, float);
typedef void (*grad_fn)(const float *, const float *, const float *, long, float, double *,
                        double *);
typedef double (*squares_fn)(const float *, size_t);
typedef struct {
  const char *name;
  sum_fn sum;
  sq_dev_fn sq_dev;
  grad_fn grad;
  squares_fn squares;
} build;

#ifdef IBX_REDUCE_VARIANTS
#define DECLARE(isa)                                                                               \
  double ibx_sum_f32_##isa(const float *, long);                                                   \
  double ibx_sum_sq_dev_f32_##isa(const float *, long, float);                                     \
  void ibx_sum_grad_f32_##isa(const float *, const float *, const float *, long, float, double *, \
                              double *);                                                           \
  double ibx_sum_squares_f64_##isa(const float *, size_t);
DECLARE(sse2)
DECLARE(avx2)
DECLARE(avx512)
#endif

static float x[MAX_N], dy[MAX_N], y[MAX_N];

/* values over six decades, so that the order of the additions shows */
static void fill(unsigned seed) {
  srand(seed);
  for (long i = 0; i < MAX_N; i++) {
    const float u = (float)rand() / (float)RAND_MAX, v = (float)rand() / (float)RAND_MAX;
    x[i] = (u - 0.3f) * powf(10.0f, 6.0f * v - 3.0f);
    dy[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * powf(10.0f, 4.0f * u - 2.0f);
    y[i] = (float)rand() / (float)RAND_MAX - 0.4f;
  }
}

static const long sizes[] = {0, 1, 7, 15, 16, 17, 33, 100, 1023, 1024, 1025, 1040, 4103, MAX_N};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static void same_double(const char *who, const char *what, long n, double got, double want) {
  if (memcmp(&got, &want, sizeof got) != 0)
    fail_msg("%s: %s of %ld values: %.17g, the lane order gives %.17g", who, what, n, got, want);
}

static void check_build(const build *b) {
  const float mean = 0.37f;
  for (size_t k = 0; k < N_SIZES; k++) {
    const long n = sizes[k];
    same_double(b->name, "sum", n, b->sum(x, n), model(SUM, x, dy, y, n, mean));
    same_double(b->name, "sum of squared deviations", n, b->sq_dev(x, n, mean),
                model(SQ_DEV, x, dy, y, n, mean));
    double g = 0.5, gx = -0.25; /* the sums are added onto these, block by block */
    b->grad(x, dy, NULL, n, mean, &g, &gx);
    same_double(b->name, "0.5 + sum g", n, g, model_from(0.5, GRAD_G, x, dy, y, n, mean));
    same_double(b->name, "-0.25 + sum g (x - mean)", n, gx,
                model_from(-0.25, GRAD_GX, x, dy, y, n, mean));
    g = 0.0, gx = 0.0;
    b->grad(x, dy, y, n, mean, &g, &gx);
    same_double(b->name, "sum g, ReLU-masked", n, g, model(GRAD_RELU_G, x, dy, y, n, mean));
    same_double(b->name, "sum g (x - mean), ReLU-masked", n, gx,
                model(GRAD_RELU_GX, x, dy, y, n, mean));
    same_double(b->name, "sum of squares (double lanes)", n, b->squares(x, (size_t)n),
                squares_model(x, n));
  }
}

/* every kind of sum comes out differently in another order on this data */
static void test_the_data_tells_orders_apart(void **state) {
  (void)state;
  fill(1);
  int differs = 0;
  for (int kind = SUM; kind <= GRAD_RELU_GX; kind++)
    differs += model(kind, x, dy, y, 1024, 0.37f) != one_accumulator(kind, x, dy, y, 1024, 0.37f);
  assert_int_equal(differs, GRAD_RELU_GX + 1);
}

static void test_dispatched_clone(void **state) {
  (void)state;
  const build b = {"the clone this CPU runs", ibx_sum_f32, ibx_sum_sq_dev_f32, ibx_sum_grad_f32,
                   ibx_sum_squares_f64};
  for (unsigned seed = 1; seed <= 3; seed++) {
    fill(seed);
    check_build(&b);
  }
}

static void test_each_isa_build(void **state) {
  (void)state;
#ifdef IBX_REDUCE_VARIANTS
  const build builds[] = {
      {"SSE2 build", ibx_sum_f32_sse2, ibx_sum_sq_dev_f32_sse2, ibx_sum_grad_f32_sse2,
       ibx_sum_squares_f64_sse2},
      {"AVX2 build", ibx_sum_f32_avx2, ibx_sum_sq_dev_f32_avx2, ibx_sum_grad_f32_avx2,
       ibx_sum_squares_f64_avx2},
      {"AVX-512 build", ibx_sum_f32_avx512, ibx_sum_sq_dev_f32_avx512, ibx_sum_grad_f32_avx512,
       ibx_sum_squares_f64_avx512}};
  const int can[] = {1, __builtin_cpu_supports("avx2"), __builtin_cpu_supports("avx512f")};
  int ran = 0;
  for (int i = 0; i < 3; i++) {
    if (!can[i]) {
      print_message("%s: not run, this CPU lacks it\n", builds[i].name);
      continue;
    }
    for (unsigned seed = 1; seed <= 3; seed++) {
      fill(seed);
      check_build(&builds[i]);
    }
    ran++;
  }
  assert_true(ran >= 1);
#else
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_data_tells_orders_apart),
      cmocka_unit_test(test_dispatched_clone),
      cmocka_unit_test(test_each_isa_build),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
