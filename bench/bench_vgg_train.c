/* Training-step throughput and peak memory of the CIFAR-style VGG-16-BN,
 * the same model and loop as ../shared/reference/torch_vgg_train_bench.py:
 * conv3x3+BN+ReLU stacks, flatten, linear to 10, SGD momentum 0.9, lr 0.01,
 * cross-entropy, random inputs, 2 warm-up steps, then timed steps.
 *
 * usage: bench_vgg_train THREADS WIDTH BATCH IN_CHANNELS */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "ibx/error.h"
#include "ibx/rng.h"
#include "ibx/train_step.h"
#include "ibx/vgg.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s THREADS WIDTH BATCH IN_CHANNELS\n", argv[0]);
    return 2;
  }
  const int threads = atoi(argv[1]), batch = atoi(argv[3]), in_ch = atoi(argv[4]);
  const float width = (float)atof(argv[2]);
  omp_set_num_threads(threads);

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
  int steps = (int)(2000 * width * width / batch);
  if (steps < 3)
    steps = 3;
  const double t0 = now();
  for (int i = 0; i < steps && !rc; i++)
    rc = ibx_classifier_train_step(&c, x, y, batch, 0.01f, &loss, NULL);
  const double secs = now() - t0;
  if (rc) {
    fprintf(stderr, "bench_vgg_train: %s\n", ibx_errmsg());
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("threads=%d width=%g batch=%d in=%d params=%zu train_img_per_s=%.1f peak_rss_MB=%.0f "
         "loss=%.4f\n", threads, (double)width, batch, in_ch, ibx_params_count(&c.params),
         steps * batch / secs, ru.ru_maxrss / 1024.0, (double)loss);
  ibx_classifier_free(&c);
  free(x);
  free(y);
  return 0;
}
