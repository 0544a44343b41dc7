/* ibx demo: the embedded-default main job for now -- trains a small CNN
 * (3 x conv3x3-BN-ReLU-maxpool, linear) on Fashion-MNIST on one process and
 * prints test accuracy. Later issues replace it with the full sweep demo. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ibx/data.h"
#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/rng.h"
#include "ibx/train_step.h"

/* Fashion-MNIST training-set pixel statistics (of x/255). */
#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

typedef struct {
  const char *data_dir;
  int epochs, batch, threads, quiet;
  float lr;
  unsigned long seed;
  long limit; /* use at most this many training samples (0: all) */
} demo_options;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void usage(void) {
  printf("usage: ibx demo [options]\n\n"
         "Trains a small CNN on Fashion-MNIST (one process) and prints test accuracy.\n\n"
         "  --data DIR      Fashion-MNIST directory (default %s)\n"
         "  --epochs N      training epochs (default 2)\n"
         "  --batch N       mini-batch size (default 128)\n"
         "  --lr X          peak learning rate, cosine-annealed (default 0.05)\n"
         "  --seed N        random seed (default 0)\n"
         "  --threads N     OpenMP threads (default: all cores)\n"
         "  --limit N       train on the first N samples only (default: all)\n"
         "  --quiet         print only the final result\n",
         IBX_FASHION_MNIST_DIR);
}

/* Parses the options; returns 0 to run, 1 after --help, -1 on error. */
static int parse(int argc, char **argv, demo_options *o) {
  *o = (demo_options){NULL, 2, 128, 0, 0, 0.05f, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(), 1;
    if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "ibx demo: option %s needs a value\n", a);
      return -1;
    }
    i++;
    if (!strcmp(a, "--data"))
      o->data_dir = v;
    else if (!strcmp(a, "--epochs"))
      o->epochs = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--batch"))
      o->batch = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--threads"))
      o->threads = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--limit"))
      o->limit = strtol(v, &end, 10);
    else if (!strcmp(a, "--seed"))
      o->seed = strtoul(v, &end, 10);
    else if (!strcmp(a, "--lr"))
      o->lr = strtof(v, &end);
    else {
      fprintf(stderr, "ibx demo: unknown option '%s' (see 'ibx demo --help')\n", a);
      return -1;
    }
    if (end && *end) {
      fprintf(stderr, "ibx demo: bad value '%s' for %s\n", v, a);
      return -1;
    }
  }
  if (o->epochs < 1 || o->batch < 2 || o->threads < 0 || o->limit < 0 || !(o->lr > 0.0f)) {
    fprintf(stderr, "ibx demo: --epochs >= 1, --batch >= 2, --lr > 0, --threads/--limit >= 0\n");
    return -1;
  }
  return 0;
}

/* Normalised float images [n,1,28,28] and labels of samples order[0..n). */
static int load_batch(const ibx_dataset *ds, const long *order, int n, float *x, int *y,
                      uint8_t *pix) {
  const long size = ibx_dataset_image_size(ds);
  for (int i = 0; i < n; i++) {
    IBX_TRY(ibx_dataset_read(ds, order[i], pix, &y[i]));
    for (long p = 0; p < size; p++)
      x[(size_t)i * size + p] = (pix[p] / 255.0f - FMNIST_MEAN) / FMNIST_STD;
  }
  return IBX_OK;
}

/* Fisher-Yates shuffle driven by the counter-based RNG of (seed, epoch). */
static void shuffle(long *order, long n, unsigned long seed, int epoch) {
  for (long i = 0; i < n; i++)
    order[i] = i;
  for (long i = n - 1; i > 0; i--) {
    uint32_t r[4];
    ibx_rng_u32x4(seed, 0x5348554646ULL + (uint64_t)epoch, (uint64_t)i, r);
    const long j = (long)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)(i + 1));
    const long t = order[i];
    order[i] = order[j], order[j] = t;
  }
}

static int build_net(ibx_seq **out) {
  ibx_seq *s;
  IBX_TRY(ibx_seq_create(1, 28, 28, &s));
  *out = s;
  const int widths[3] = {32, 64, 128};
  for (int b = 0; b < 3; b++) {
    IBX_TRY(ibx_seq_add_conv(s, widths[b], 3, 1, 1, 1));
    IBX_TRY(ibx_seq_add_batchnorm(s));
    IBX_TRY(ibx_seq_add_relu(s));
    IBX_TRY(ibx_seq_add_maxpool(s, 2, 2));
  }
  IBX_TRY(ibx_seq_add_flatten(s));
  return ibx_seq_add_linear(s, 10, 1);
}

static int run(const demo_options *o) {
  ibx_dataset *train = NULL, *test = NULL;
  ibx_seq *net = NULL;
  ibx_classifier c = {0};
  float *x = NULL;
  int *y = NULL, *pred = NULL;
  long *order = NULL;
  uint8_t *pix = NULL;
  int rc = ibx_dataset_open_fashion_mnist(o->data_dir, "train", &train);
  if (!rc)
    rc = ibx_dataset_open_fashion_mnist(o->data_dir, "test", &test);
  if (!rc)
    rc = build_net(&net);
  const ibx_sgd sgd = {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = 1};
  if (!rc)
    rc = ibx_classifier_create(&c, net, o->batch, o->seed, &sgd);
  else
    ibx_seq_free(net);
  if (rc)
    goto done;
  const long n_train = o->limit && o->limit < ibx_dataset_count(train) ? o->limit
                                                                       : ibx_dataset_count(train);
  const long n_test = ibx_dataset_count(test);
  const int B = o->batch;
  x = ibx_alloc((size_t)B * 784 * sizeof(float), "demo batch");
  y = ibx_alloc((size_t)B * sizeof(int), "demo labels");
  pred = ibx_alloc((size_t)B * sizeof(int), "demo predictions");
  order = ibx_alloc((size_t)(n_train > n_test ? n_train : n_test) * sizeof(long), "sample order");
  pix = ibx_alloc(784, "pixels");
  if (!x || !y || !pred || !order || !pix) {
    rc = IBX_ERR_NOMEM;
    goto done;
  }
  const long steps_per_epoch = n_train / B; /* drop the last partial batch */
  const ibx_schedule sched = {.kind = IBX_SCHED_COSINE, .base_lr = o->lr,
                              .warmup_steps = steps_per_epoch / 4, .warmup_start = 0.1f,
                              .total_steps = steps_per_epoch * o->epochs, .min_lr = 0.0f};
  if ((rc = ibx_schedule_check(&sched)))
    goto done;
  if (!o->quiet)
    printf("ibx demo: small CNN (%zu parameters) on Fashion-MNIST, %ld train / %ld test images, "
           "%d epochs, batch %d, %d threads\n", ibx_params_count(&c.params), n_train, n_test,
           o->epochs, B, omp_get_max_threads());
  const double t_start = now();
  for (int epoch = 0; epoch < o->epochs; epoch++) {
    shuffle(order, n_train, o->seed, epoch);
    double t0 = now(), loss_sum = 0.0;
    long seen = 0, right = 0;
    for (long s = 0; s < steps_per_epoch; s++) {
      if ((rc = load_batch(train, order + s * B, B, x, y, pix)))
        goto done;
      float loss;
      int correct;
      const float lr = ibx_schedule_lr(&sched, c.step);
      if ((rc = ibx_classifier_train_step(&c, x, y, B, lr, &loss, &correct)))
        goto done;
      loss_sum += loss * B, seen += B, right += correct;
      if (!o->quiet && ((s + 1) % 100 == 0 || s + 1 == steps_per_epoch)) {
        const double rate = seen / (now() - t0);
        printf("epoch %d/%d step %ld/%ld  loss %.4f  train acc %.2f%%  lr %.4f  %.0f img/s  "
               "ETA %.0fs\n", epoch + 1, o->epochs, s + 1, steps_per_epoch, loss_sum / seen,
               100.0 * right / seen, (double)lr, rate,
               ((o->epochs - epoch) * (double)steps_per_epoch - (s + 1)) * B / rate);
        fflush(stdout);
      }
    }
  }
  long right = 0;
  for (long i = 0; i < n_test; i++)
    order[i] = i;
  for (long start = 0; start < n_test; start += B) {
    const int n = (int)(n_test - start < B ? n_test - start : B);
    if ((rc = load_batch(test, order + start, n, x, y, pix)) ||
        (rc = ibx_classifier_predict(&c, x, n, pred)))
      goto done;
    for (int i = 0; i < n; i++)
      right += pred[i] == y[i];
  }
  printf("test accuracy: %.2f%% (%ld/%ld) after %d epochs in %.1f s\n", 100.0 * right / n_test,
         right, n_test, o->epochs, now() - t_start);
done:
  if (rc)
    fprintf(stderr, "ibx demo: %s\n", ibx_errmsg());
  ibx_classifier_free(&c);
  ibx_dataset_close(train);
  ibx_dataset_close(test);
  ibx_free(x), ibx_free(y), ibx_free(pred), ibx_free(order), ibx_free(pix);
  return rc ? 1 : 0;
}

int ibx_cmd_demo(int argc, char **argv) {
  demo_options o;
  int p = parse(argc, argv, &o);
  if (p)
    return p > 0 ? 0 : 2;
  if (o.threads > 0)
    omp_set_num_threads(o.threads);
  return run(&o);
}
