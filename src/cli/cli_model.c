/* ibx model: inspect and quickly train the models of ibx/model.h.
 *
 *   ibx model summary MODEL [options]      layer table: output shapes,
 *                                          parameters, forward MACs, total
 *   ibx model train-quick MODEL [options]  single-process Fashion-MNIST run
 *                                          (28x28 padded to 32x32), test
 *                                          accuracy after every epoch
 *
 * MODEL is BACKBONE/HEAD (vgg16/aib-qt, wrn/abn, wrn-16-4/aib), a backbone
 * alone (head plain) or a head alone (backbone vgg16). The distributed
 * trainer is `ibx train`; train-quick is the small driver that checks the
 * models learn (docs/models.md records its runs). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ibx/augment.h"
#include "ibx/data.h"
#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/model.h"
#include "ibx/optim.h"
#include "ibx/sampler.h"

/* Fashion-MNIST training-set pixel statistics (of x/255), as cli_demo.c. */
#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

typedef struct {
  ibx_model_config cfg;
  /* train-quick */
  const char *data_dir;
  int epochs, batch, threads, quiet;
  float lr, weight_decay, beta_warmup;
  unsigned long seed;
  long limit;
} model_options;

static void usage(void) {
  printf("usage: ibx model summary MODEL [options]\n"
         "       ibx model train-quick MODEL [options]\n\n"
         "MODEL: BACKBONE/HEAD, BACKBONE or HEAD; backbones vgg16, wrn, wrn-D-K;\n"
         "heads " IBX_MODEL_HEADS(IBX_MODEL_HEAD_NAME_, " ") ".\n\n"
         "model options (defaults from ibx_model_config_defaults):\n"
         "  --width X            VGG width multiplier (1: 64..512 channels)\n"
         "  --input CxHxW        input shape (default 3x32x32; train-quick 1x32x32)\n"
         "  --classes N          number of classes (10)\n"
         "  --depth D --widen K  WRN-D-K (28, 10)\n"
         "  --K N --beta X       latent size and KL weight (dvib, aib: 256, 0.01)\n"
         "  --Q N --lambda-q X --lambda-c X   aib-qt anchors and loss weights (30, 0.4, 0.1)\n"
         "  --attention-layer N  backbone block/group the head reads (head default)\n"
         "  --seed N             initialisation and sampling seed (0)\n\n"
         "train-quick options:\n"
         "  --data DIR       Fashion-MNIST directory (default %s)\n"
         "  --epochs N       epochs (3)\n"
         "  --batch N        mini-batch size (128)\n"
         "  --lr X           peak learning rate, warm-up then cosine to 0 (0.05)\n"
         "  --weight-decay X L2 weight decay of SGD (5e-4; momentum 0.9, Nesterov)\n"
         "  --beta-warmup E  ramp the KL weight linearly from 0 to beta over the first E\n"
         "                   epochs (dvib, aib, aib-qt; default 0: none)\n"
         "  --threads N      OpenMP threads (default: all)\n"
         "  --limit N        use the first N training images only\n"
         "  --quiet          print only the per-epoch results\n",
         IBX_FASHION_MNIST_DIR);
}

/* Parses MODEL into cfg (backbone, head; WRN depth/width when given). */
static int parse_model(const char *spec, ibx_model_config *c) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", spec);
  char *slash = strchr(buf, '/');
  const char *bb = buf, *head = NULL;
  if (slash) {
    *slash = 0;
    head = slash + 1;
  } else if (strncmp(buf, "vgg", 3) && strncmp(buf, "wrn", 3)) {
    bb = "vgg16", head = buf;
  }
  memset(c, 0, sizeof *c);
  int d = 0, k = 0;
  if (!strncmp(bb, "wrn-", 4) && sscanf(bb + 4, "%d-%d", &d, &k) == 2)
    bb = "wrn";
  if (strlen(bb) >= sizeof c->backbone || (head && strlen(head) >= sizeof c->head)) {
    fprintf(stderr, "ibx model: bad MODEL '%s'\n", spec);
    return -1;
  }
  memcpy(c->backbone, bb, strlen(bb) + 1);
  memcpy(c->head, head ? head : "plain", strlen(head ? head : "plain") + 1);
  ibx_model_config_defaults(c);
  if (d)
    c->wrn_depth = d, c->wrn_widen = k;
  return 0;
}

static int parse(int argc, char **argv, int train, model_options *o) {
  memset(o, 0, sizeof *o);
  o->epochs = 3, o->batch = 128, o->lr = 0.05f, o->weight_decay = 5e-4f;
  if (argc < 3 || argv[2][0] == '-') {
    if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
      return usage(), 1;
    fprintf(stderr, "ibx model: missing MODEL (see 'ibx model --help')\n");
    return -1;
  }
  if (parse_model(argv[2], &o->cfg))
    return -1;
  ibx_model_config *c = &o->cfg;
  if (train)
    c->in_channels = 1;
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(), 1;
    if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "ibx model: option %s needs a value\n", a);
      return -1;
    }
    i++;
    if (!strcmp(a, "--width"))
      c->width = strtof(v, &end);
    else if (!strcmp(a, "--input")) {
      if (sscanf(v, "%dx%dx%d", &c->in_channels, &c->in_height, &c->in_width) != 3) {
        fprintf(stderr, "ibx model: --input wants CxHxW, got '%s'\n", v);
        return -1;
      }
    } else if (!strcmp(a, "--classes"))
      c->num_classes = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--depth"))
      c->wrn_depth = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--widen"))
      c->wrn_widen = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--K"))
      c->K = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--beta"))
      c->beta = strtof(v, &end);
    else if (!strcmp(a, "--Q"))
      c->Q = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--lambda-q"))
      c->lambda_q = strtof(v, &end);
    else if (!strcmp(a, "--lambda-c"))
      c->lambda_c = strtof(v, &end);
    else if (!strcmp(a, "--attention-layer"))
      c->attention_layer = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--seed"))
      c->seed = o->seed = strtoul(v, &end, 10);
    else if (train && !strcmp(a, "--data"))
      o->data_dir = v;
    else if (train && !strcmp(a, "--epochs"))
      o->epochs = (int)strtol(v, &end, 10);
    else if (train && !strcmp(a, "--batch"))
      o->batch = (int)strtol(v, &end, 10);
    else if (train && !strcmp(a, "--lr"))
      o->lr = strtof(v, &end);
    else if (train && !strcmp(a, "--weight-decay"))
      o->weight_decay = strtof(v, &end);
    else if (train && !strcmp(a, "--beta-warmup"))
      o->beta_warmup = strtof(v, &end);
    else if (train && !strcmp(a, "--threads"))
      o->threads = (int)strtol(v, &end, 10);
    else if (train && !strcmp(a, "--limit"))
      o->limit = strtol(v, &end, 10);
    else {
      fprintf(stderr, "ibx model: unknown option '%s' (see 'ibx model --help')\n", a);
      return -1;
    }
    if (end && *end) {
      fprintf(stderr, "ibx model: bad value '%s' for %s\n", v, a);
      return -1;
    }
  }
  if (train && (o->epochs < 1 || o->batch < 2 || o->threads < 0 || o->limit < 0 ||
                !(o->lr > 0.0f) || !(o->weight_decay >= 0.0f) || !(o->beta_warmup >= 0.0f))) {
    fprintf(stderr, "ibx model: --epochs >= 1, --batch >= 2, --lr > 0, --weight-decay >= 0, "
                    "--beta-warmup >= 0, --threads/--limit >= 0\n");
    return -1;
  }
  return 0;
}

static int summary(const model_options *o) {
  ibx_model *m;
  if (ibx_model_create(&o->cfg, 1, &m)) {
    fprintf(stderr, "ibx model: %s\n", ibx_errmsg());
    return 2;
  }
  size_t len = 1 << 16;
  char *buf = NULL;
  int rc;
  do {
    free(buf);
    len *= 2;
    buf = malloc(len);
    rc = buf ? ibx_model_summary(m, buf, len) : IBX_ERR_NOMEM;
  } while (rc == IBX_ERR_ARG && len < (1u << 26));
  if (!rc)
    fputs(buf, stdout);
  else
    fprintf(stderr, "ibx model: %s\n", ibx_errmsg());
  free(buf);
  ibx_model_free(m);
  return rc ? 1 : 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int argmax(const float *row, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (row[j] > row[best])
      best = j;
  return best;
}

/* Test accuracy in evaluation mode (batch statistics off, means instead of
 * samples). */
static int evaluate(ibx_model *m, const ibx_dataset *test, const ibx_augment *aug, int B,
                    float *x, int *y, long *idx, double *acc) {
  const long n = ibx_dataset_count(test);
  long right = 0;
  for (long start = 0; start < n; start += B) {
    const int k = (int)(n - start < B ? n - start : B);
    for (int i = 0; i < k; i++)
      idx[i] = start + i;
    IBX_TRY(ibx_augment_batch(aug, test, idx, k, 0, x, y));
    ibx_tensor lg;
    IBX_TRY(ibx_model_forward(m, x, NULL, k, 0, 0, NULL, &lg));
    for (int i = 0; i < k; i++)
      right += argmax(lg.data + (size_t)i * lg.dim[1], lg.dim[1]) == y[i];
  }
  *acc = 100.0 * right / n;
  return IBX_OK;
}

static int train_quick(const model_options *o) {
  ibx_dataset *train = NULL, *test = NULL;
  ibx_model *m = NULL;
  float *x = NULL, *vel = NULL;
  int *y = NULL;
  long *perm = NULL, *idx = NULL;
  const ibx_model_config *c = &o->cfg;
  int rc = ibx_dataset_open_fashion_mnist(o->data_dir, "train", &train);
  if (!rc)
    rc = ibx_dataset_open_fashion_mnist(o->data_dir, "test", &test);
  if (!rc && (c->in_channels != 1 || c->num_classes != 10))
    rc = ibx_fail(IBX_ERR_ARG, "train-quick: Fashion-MNIST needs --input 1xHxW and 10 classes");
  if (!rc)
    rc = ibx_model_create(c, o->batch, &m);
  if (rc)
    goto done;
  ibx_params *P = ibx_model_params(m);
  const int B = o->batch;
  const long n_train = o->limit && o->limit < ibx_dataset_count(train)
                           ? o->limit
                           : ibx_dataset_count(train);
  x = ibx_alloc((size_t)B * c->in_height * c->in_width * sizeof(float), "batch");
  y = ibx_alloc((size_t)B * sizeof(int), "labels");
  perm = ibx_alloc((size_t)ibx_dataset_count(train) * sizeof(long), "order");
  idx = ibx_alloc((size_t)B * sizeof(long), "indices");
  vel = ibx_calloc(P->total * sizeof(float), "momentum");
  if (!x || !y || !perm || !idx || !vel) {
    rc = IBX_ERR_NOMEM;
    goto done;
  }
  ibx_augment aug;
  ibx_augment_identity(&aug);
  aug.out_h = c->in_height, aug.out_w = c->in_width; /* 28x28 centred on 32x32 */
  aug.mean[0] = FMNIST_MEAN, aug.std[0] = FMNIST_STD;
  const ibx_sgd sgd = {.momentum = 0.9f, .weight_decay = o->weight_decay, .nesterov = 1};
  const long steps = n_train / B; /* per epoch; the last partial batch is dropped */
  const ibx_schedule sched = {.kind = IBX_SCHED_COSINE, .base_lr = o->lr,
                              .warmup_steps = steps / 4, .warmup_start = 0.1f,
                              .total_steps = steps * o->epochs, .min_lr = 0.0f};
  if ((rc = ibx_schedule_check(&sched)))
    goto done;
  printf("ibx model train-quick: %s/%s, %zu parameters, Fashion-MNIST %ldx%dx%d, %ld train / "
         "%ld test images, %d epochs, batch %d, lr %g, beta %g (warm-up %g epochs), %d "
         "threads\n",
         c->backbone, c->head, ibx_params_count(P), (long)c->in_channels, c->in_height,
         c->in_width, n_train, ibx_dataset_count(test), o->epochs, B, (double)o->lr,
         (double)c->beta, (double)o->beta_warmup, omp_get_max_threads());
  fflush(stdout);
  const double t_start = now();
  long step = 0;
  for (int epoch = 0; epoch < o->epochs; epoch++) {
    if ((rc = ibx_epoch_permutation(ibx_dataset_count(train), o->seed, (uint64_t)epoch, 1,
                                    perm)))
      goto done;
    long used = 0, right = 0, seen = 0;
    double sum[6] = {0};
    const double t0 = now();
    for (long s = 0; s < steps; s++) {
      /* the first n_train positions of the permutation, restricted to
       * indices < n_train when --limit is given */
      int k = 0;
      while (k < B && used < ibx_dataset_count(train)) {
        const long i = perm[used++];
        if (i < n_train)
          idx[k++] = i;
      }
      if (k < B)
        break;
      if ((rc = ibx_augment_batch(&aug, train, idx, B, (uint64_t)epoch, x, y)))
        goto done;
      ibx_loss_parts lp;
      ibx_tensor lg;
      const uint64_t noise = (uint64_t)o->seed * 1000003ULL + (uint64_t)step;
      if (o->beta_warmup > 0.0f) {
        const double ramp = (double)step / (o->beta_warmup * (double)steps);
        if ((rc = ibx_model_set_beta(m, (float)(c->beta * (ramp < 1.0 ? ramp : 1.0)))))
          goto done;
      }
      if ((rc = ibx_model_forward(m, x, y, B, 1, noise, &lp, &lg)))
        goto done;
      ibx_params_zero_grads(P);
      if ((rc = ibx_model_backward(m, NULL)))
        goto done;
      const float lr = ibx_schedule_lr(&sched, step);
      if ((rc = ibx_sgd_step(&sgd, lr, P->values, P->grads, vel, P->total, step)))
        goto done;
      step++;
      for (int i = 0; i < B; i++)
        right += argmax(lg.data + (size_t)i * lg.dim[1], lg.dim[1]) == y[i];
      seen += B;
      const float parts[6] = {lp.total, lp.ce, lp.kl, lp.vq, lp.commit, lp.aux};
      for (int j = 0; j < 6; j++)
        sum[j] += parts[j] * B;
      if (!o->quiet && ((s + 1) % 50 == 0 || s + 1 == steps)) {
        const double rate = seen / (now() - t0);
        printf("epoch %d step %ld/%ld  loss %.4f (ce %.4f kl %.4f vq %.5f commit %.5f aux %.4f)"
               "  train acc %.2f%%  lr %.4f  %.0f img/s\n",
               epoch + 1, s + 1, steps, sum[0] / seen, sum[1] / seen, sum[2] / seen,
               sum[3] / seen, sum[4] / seen, sum[5] / seen, 100.0 * right / seen, (double)lr,
               rate);
        fflush(stdout);
      }
    }
    double acc;
    if ((rc = evaluate(m, test, &aug, B, x, y, idx, &acc)))
      goto done;
    printf("epoch %d: train loss %.4f (ce %.4f kl %.4f vq %.5f commit %.5f aux %.4f), train acc "
           "%.2f%%, test accuracy %.2f%%, %.0f s elapsed\n",
           epoch + 1, sum[0] / seen, sum[1] / seen, sum[2] / seen, sum[3] / seen, sum[4] / seen,
           sum[5] / seen, 100.0 * right / seen, acc, now() - t_start);
    fflush(stdout);
  }
done:
  if (rc)
    fprintf(stderr, "ibx model train-quick: %s\n", ibx_errmsg());
  ibx_model_free(m);
  ibx_dataset_close(train);
  ibx_dataset_close(test);
  ibx_free(x), ibx_free(y), ibx_free(perm), ibx_free(idx), ibx_free(vel);
  return rc ? 1 : 0;
}

int ibx_cmd_model(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const int train = !strcmp(argv[1], "train-quick");
  if (!train && strcmp(argv[1], "summary")) {
    fprintf(stderr, "ibx model: unknown subcommand '%s' (summary, train-quick)\n", argv[1]);
    return 2;
  }
  model_options o;
  const int p = parse(argc, argv, train, &o);
  if (p)
    return p > 0 ? 0 : 2;
  if (!train)
    return summary(&o);
  if (o.threads > 0)
    omp_set_num_threads(o.threads);
  return train_quick(&o);
}
