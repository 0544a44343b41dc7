/* Per-image time of per-sample IBA (10 Adam steps x batch 10, layer
 * features.22) on a randomly initialised VGG-16-BN (plain head), the same
 * work scripts/make_golden_iba.py --bench times in PyTorch.
 *
 *   bench_iba WIDTH CHANNELS [REPS [MIN_SECONDS]]   -> "ibx iba ... median_ms=... min_ms=..."
 * Times the steady state: after one warm-up image, at least REPS (default
 * 5) images and MIN_SECONDS (default 10) of them.
 * Threads: OMP_NUM_THREADS. docs/performance.md, "Per-sample IBA". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibx/error.h"
#include "ibx/iba.h"
#include "ibx/memory.h"
#include "ibx/model.h"
#include "ibx/rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3)
    return fprintf(stderr, "usage: bench_iba WIDTH CHANNELS [REPS]\n"), 2;
  const float width = (float)atof(argv[1]);
  const int channels = atoi(argv[2]), min_reps = argc > 3 ? atoi(argv[3]) : 5;
  const double min_s = argc > 4 ? atof(argv[4]) : 10.0;
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "vgg16");
  snprintf(c.head, sizeof c.head, "plain");
  ibx_model_config_defaults(&c);
  c.width = width, c.in_channels = channels, c.in_height = c.in_width = 32, c.num_classes = 10;
  ibx_model *m = NULL;
  ibx_iba *b = NULL;
  ibx_iba_config cfg;
  ibx_iba_default(&cfg);
  if (ibx_model_create(&c, cfg.batch, &m) || ibx_iba_create(m, "features.22", &cfg, &b))
    return fprintf(stderr, "bench_iba: %s\n", ibx_errmsg()), 1;
  int dim[3];
  ibx_iba_shape(b, dim);
  const size_t k = (size_t)dim[0] * dim[1] * dim[2];
  float *mean = calloc(k, sizeof(float)), *std = malloc(k * sizeof(float));
  float *x = malloc((size_t)channels * 32 * 32 * sizeof(float)), heat[32 * 32];
  for (size_t e = 0; e < k; e++)
    std[e] = 1.0f;
  ibx_rng_fill_uniform(x, (size_t)channels * 32 * 32, 5, 0, 0);
  ibx_iba_set_stats(b, mean, std);
  size_t cap = 64;
  double *t = malloc(cap * sizeof(double)), total = 0.0;
  int reps = 0;
  for (int r = 0; r <= min_reps || total < min_s; r++) { /* the first run warms up */
    const double t0 = now();
    if (ibx_iba_heatmap(b, x, 0, heat, NULL))
      return fprintf(stderr, "bench_iba: %s\n", ibx_errmsg()), 1;
    if ((size_t)r == cap && !(t = realloc(t, (cap *= 2) * sizeof(double))))
      return fprintf(stderr, "bench_iba: out of memory\n"), 1;
    t[r] = now() - t0;
    if (r)
      total += t[r], reps = r;
  }
  qsort(t + 1, (size_t)reps, sizeof *t, cmp);
  printf("ibx iba width=%g channels=%d layer=features.22 threads=%s median_ms=%.1f min_ms=%.1f "
         "images=%d seconds=%.1f\n",
         (double)width, channels, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "all",
         1e3 * t[1 + reps / 2], 1e3 * t[1], reps, total);
  ibx_iba_free(b);
  ibx_model_free(m);
  free(mean), free(std), free(x), free(t);
  return 0;
}
