/* conv2d micro-benchmark: im2col + sgemm vs Winograd F(2x2,3x3) on the 3x3
 * pad-1 layers of the CIFAR VGG-16 (full width, batch 64; quarter width,
 * batch 128, one input channel).
 *
 *   bench_conv [full|quarter|all] [reps] [layer] [algo] [precision]
 *
 * (OMP_NUM_THREADS picks the threads; layer: index into the network's shape
 * list to time only that one, -1 for all; algo: i2c or wino to time only
 * that one, anything else for both; precision: fp32 (default) or bf16, the
 * GEMMs' precision as train.precision sets it.)
 *
 * Per layer shape and algorithm it reports the best-of-reps time of forward,
 * backward-weights (backward with dx = NULL) and backward-data (full
 * backward minus backward-weights; shown as 0 when load from other processes
 * made the difference negative), and GFLOP/s-equivalent = the direct
 * convolution's 2*N*O*C*9*H*W flops per pass divided by the time. The totals
 * weight each shape by how often it occurs in the network and leave out the
 * first layer's dx, as a training step does. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/precision.h"
#include "ibx/rng.h"

typedef struct {
  int C, O, HW, count;
} shape;

/* Unique conv shapes of VGG-16 at 32x32 input, with their multiplicity. */
static const shape vgg_full[] = {{3, 64, 32, 1},    {64, 64, 32, 1},   {64, 128, 16, 1},
                                 {128, 128, 16, 1}, {128, 256, 8, 1},  {256, 256, 8, 2},
                                 {256, 512, 4, 1},  {512, 512, 4, 2},  {512, 512, 2, 3}};
static const shape vgg_quarter[] = {{1, 16, 32, 1},  {16, 16, 32, 1},  {16, 32, 16, 1},
                                    {32, 32, 16, 1}, {32, 64, 8, 1},   {64, 64, 8, 2},
                                    {64, 128, 4, 1}, {128, 128, 4, 2}, {128, 128, 2, 3}};

typedef struct {
  double fwd, bwd_w, bwd_all;
} times;

static void check(int rc) {
  if (rc != IBX_OK) {
    fprintf(stderr, "bench_conv: %s: %s\n", ibx_errname(rc), ibx_errmsg());
    exit(1);
  }
}

/* Best-of-reps times of forward, backward without dx and full backward;
 * the three are interleaved in every repetition so that load from other
 * processes hits them alike (rep 0 warms up). */
static times best_of(int reps, const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                     const ibx_tensor *b, ibx_tensor *y, const ibx_tensor *dy, ibx_tensor *dx,
                     ibx_tensor *dw, ibx_tensor *db, ibx_scratch *s) {
  times best = {1e30, 1e30, 1e30};
  for (int r = 0; r <= reps; r++) {
    double t0 = omp_get_wtime();
    check(ibx_conv2d_forward(L, x, w, b, y, s));
    double t1 = omp_get_wtime();
    check(ibx_conv2d_backward(L, x, w, dy, NULL, dw, db, s));
    double t2 = omp_get_wtime();
    check(ibx_conv2d_backward(L, x, w, dy, dx, dw, db, s));
    double t3 = omp_get_wtime();
    if (r > 0) {
      best.fwd = t1 - t0 < best.fwd ? t1 - t0 : best.fwd;
      best.bwd_w = t2 - t1 < best.bwd_w ? t2 - t1 : best.bwd_w;
      best.bwd_all = t3 - t2 < best.bwd_all ? t3 - t2 : best.bwd_all;
    }
  }
  return best;
}

static times run(const shape *sh, int N, ibx_conv_algo algo, int reps, size_t *scratch_peak) {
  const int C = sh->C, O = sh->O, H = sh->HW, W = sh->HW;
  const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * O * H * W, nw = (size_t)O * C * 9;
  float *x = ibx_alloc(nx * sizeof(float), "x"), *dx = ibx_alloc(nx * sizeof(float), "dx");
  float *y = ibx_alloc(ny * sizeof(float), "y"), *dy = ibx_alloc(ny * sizeof(float), "dy");
  float *w = ibx_alloc(nw * sizeof(float), "w"), *dw = ibx_calloc(nw * sizeof(float), "dw");
  float *b = ibx_calloc((size_t)O * sizeof(float), "b");
  float *db = ibx_calloc((size_t)O * sizeof(float), "db");
  if (!x || !dx || !y || !dy || !w || !dw || !b || !db)
    check(IBX_ERR_NOMEM);
  ibx_rng_fill_normal(x, nx, 1, 1, 0);
  ibx_rng_fill_normal(dy, ny, 1, 2, 0);
  ibx_rng_fill_normal(w, nw, 1, 3, 0);
  ibx_conv2d L = {.in_channels = C, .out_channels = O, .kernel_h = 3, .kernel_w = 3,
                  .stride = 1, .pad_h = 1, .pad_w = 1, .algo = algo};
  ibx_tensor tx = ibx_t4(x, N, C, H, W), tdx = ibx_t4(dx, N, C, H, W);
  ibx_tensor ty = ibx_t4(y, N, O, H, W), tdy = ibx_t4(dy, N, O, H, W);
  ibx_tensor tw = ibx_t4(w, O, C, 3, 3), tdw = ibx_t4(dw, O, C, 3, 3);
  ibx_tensor tb = ibx_t1(b, O), tdb = ibx_t1(db, O);
  ibx_scratch s = {0};
  times t = best_of(reps, &L, &tx, &tw, &tb, &ty, &tdy, &tdx, &tdw, &tdb, &s);
  *scratch_peak = s.peak;
  ibx_scratch_free(&s);
  ibx_free(x), ibx_free(dx), ibx_free(y), ibx_free(dy), ibx_free(w), ibx_free(dw);
  ibx_free(b), ibx_free(db);
  return t;
}

static int only_layer = -1, only_algo = -1;

static void bench_net(const char *name, const shape *net, int nshapes, int N, int reps) {
  printf("\n%s, batch %d, %d thread(s), %s; ms (GFLOP/s-equivalent)\n", name, N,
         omp_get_max_threads(), ibx_precision_name(ibx_precision_get()));
  printf("%-16s %-5s %17s %17s %17s %9s %8s %7s\n", "layer C>O @HW", "algo", "fwd", "bwd-data",
         "bwd-weights", "total ms", "speedup", "MiB");
  double net_t[2] = {0, 0};
  for (int i = 0; i < nshapes; i++) {
    const shape *sh = &net[i];
    if (only_layer >= 0 && i != only_layer)
      continue;
    const double gflop = 2.0 * N * sh->O * sh->C * 9.0 * sh->HW * sh->HW / 1e9;
    double total[2] = {0, 0};
    for (int a = 0; a < 2; a++) {
      if (only_algo >= 0 && a != only_algo)
        continue;
      size_t peak;
      times t = run(sh, N, a ? IBX_CONV_WINOGRAD : IBX_CONV_IM2COL, reps, &peak);
      double data = t.bwd_all - t.bwd_w;
      if (data < 0)
        data = 0;
      total[a] = t.fwd + t.bwd_all;
      /* The first layer's dx is not needed in training. */
      net_t[a] += sh->count * (i == 0 ? t.fwd + t.bwd_w : total[a]);
      char lbl[32];
      snprintf(lbl, sizeof lbl, "%d>%d @%d%s", sh->C, sh->O, sh->HW,
               sh->count > 1 ? (sh->count == 2 ? " x2" : " x3") : "");
      printf("%-16s %-5s %7.2f (%6.1f) %7.2f (%6.1f) %7.2f (%6.1f) %9.2f", a && only_algo != 1 ? "" : lbl,
             a ? "wino" : "i2c", 1e3 * t.fwd, gflop / t.fwd, 1e3 * data,
             data > 0 ? gflop / data : 0.0, 1e3 * t.bwd_w, gflop / t.bwd_w, 1e3 * total[a]);
      if (a && total[0] > 0)
        printf(" %7.2fx", total[0] / total[1]);
      else
        printf(" %8s", "");
      printf(" %7.1f\n", peak * 4.0 / (1 << 20));
    }
  }
  printf("network conv total: im2col %.1f ms, winograd %.1f ms, speedup %.2fx\n", 1e3 * net_t[0],
         1e3 * net_t[1], net_t[0] / net_t[1]);
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "all";
  int reps = argc > 2 ? atoi(argv[2]) : 2;
  if (reps < 1)
    reps = 1;
  if (argc > 3)
    only_layer = atoi(argv[3]);
  if (argc > 4)
    only_algo = !strcmp(argv[4], "wino") ? 1 : !strcmp(argv[4], "i2c") ? 0 : -1;
  ibx_precision prec = IBX_PRECISION_FP32;
  if (argc > 5 && (ibx_precision_parse(argv[5], &prec) || ibx_precision_set(prec))) {
    fprintf(stderr, "bench_conv: %s\n", ibx_errmsg());
    return 1;
  }
  if (!strcmp(which, "full") || !strcmp(which, "all"))
    bench_net("VGG-16 full width", vgg_full, (int)(sizeof vgg_full / sizeof *vgg_full), 64, reps);
  if (!strcmp(which, "quarter") || !strcmp(which, "all"))
    bench_net("VGG-16 quarter width", vgg_quarter,
              (int)(sizeof vgg_quarter / sizeof *vgg_quarter), 128, reps);
  return 0;
}
