/* Training-step throughput and peak memory of the CIFAR-style VGG-16-BN,
 * the same model and loop as ../shared/reference/torch_vgg_train_bench.py:
 * conv3x3+BN+ReLU stacks, flatten, linear to 10, SGD momentum 0.9, lr 0.01,
 * cross-entropy, random inputs, 2 warm-up steps, then (as the reference) at
 * least 20 timed steps and at least 10 s.
 *
 * usage: bench_vgg_train THREADS WIDTH BATCH IN_CHANNELS [PRECISION]
 *   PRECISION: fp32 (default) or bf16 (ibx/precision.h) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "ibx/error.h"
#include "ibx/precision.h"
#include "ibx/rng.h"
#include "ibx/train_step.h"
#include "ibx/vgg.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s THREADS WIDTH BATCH IN_CHANNELS [fp32|bf16]\n", argv[0]);
    return 2;
  }
  const int threads = atoi(argv[1]), batch = atoi(argv[3]), in_ch = atoi(argv[4]);
  const float width = (float)atof(argv[2]);
  omp_set_num_threads(threads);
  ibx_precision prec = IBX_PRECISION_FP32;
  if ((argc == 6 && ibx_precision_parse(argv[5], &prec)) || ibx_precision_set(prec)) {
    fprintf(stderr, "bench_vgg_train: %s\n", ibx_errmsg());
    return 1;
  }

  ibx_seq *net;
  ibx_classifier c;
  const ibx_sgd sgd = {.momentum = 0.9f};
  int rc = ibx_seq_create(in_ch, 32, 32, &net);
  if (!rc)
    rc = ibx_vgg_build(net, ibx_vgg16_cfg, 18, width, 1, 10);
  if (!rc)
    rc = ibx_classifier_create(&c, net, batch, 0, &sgd);
  if (rc) {
    fprintf(stderr, "bench_vgg_train: %s\n", ibx_errmsg());
    return 1;
  }
  float *x = malloc((size_t)batch * in_ch * 32 * 32 * sizeof(float));
  int *y = malloc((size_t)batch * sizeof(int));
  ibx_rng_fill_normal(x, (size_t)batch * in_ch * 32 * 32, 0, 1, 0);
  for (int i = 0; i < batch; i++)
    y[i] = i % 10;

  float loss;
  for (int i = 0; i < 2 && !rc; i++)
    rc = ibx_classifier_train_step(&c, x, y, batch, 0.01f, &loss, NULL);
  /* At least 20 steps and 10 s, as the reference: fewer measure warm-up. */
  int steps = 0;
  const double t0 = now();
  double secs = 0;
  while (!rc && (steps < 20 || secs < 10.0)) {
    rc = ibx_classifier_train_step(&c, x, y, batch, 0.01f, &loss, NULL);
    steps++;
    secs = now() - t0;
  }
  if (rc) {
    fprintf(stderr, "bench_vgg_train: %s\n", ibx_errmsg());
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("threads=%d width=%g batch=%d in=%d precision=%s steps=%d params=%zu "
         "train_img_per_s=%.1f peak_rss_MB=%.0f "
         "loss=%.4f\n",
         threads, (double)width, batch, in_ch, ibx_precision_name(prec), steps,
         ibx_params_count(&c.params), steps * batch / secs, ru.ru_maxrss / 1024.0, (double)loss);
  ibx_classifier_free(&c);
  free(x);
  free(y);
  return 0;
}
