/* ibx model: inspect and quickly train the models of ibx/model.h.
 *
 *   ibx model summary MODEL [options]      layer table: output shapes,
 *                                          parameters, forward MACs, total
 *   ibx model params MODEL [options]       every parameter and buffer name
 *                                          with its shape, as stored in a
 *                                          checkpoint's /model group
 *   ibx model train-quick MODEL [options]  `ibx train` on Fashion-MNIST
 *                                          (28x28 padded to 32x32) with a
 *                                          config made from MODEL and the
 *                                          options; test accuracy per epoch
 *
 * MODEL is BACKBONE/HEAD (vgg16/aib-qt, wrn/abn, wrn-16-4/aib), a backbone
 * alone (head plain) or a head alone (backbone vgg16). train-quick has no
 * training loop of its own: it is a shorthand for the trainer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ibx/data.h"
#include "ibx/error.h"
#include "ibx/model.h"

typedef struct {
  ibx_model_config cfg;
  /* train-quick */
  const char *data_dir, *out;
  int epochs, batch, threads, quiet;
  float lr, weight_decay, beta_warmup;
  unsigned long seed;
  long limit, test_limit;
} model_options;

static void usage(void) {
  printf("usage: ibx model summary MODEL [options]\n"
         "       ibx model params MODEL [options]   (checkpoint names and shapes)\n"
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
         "train-quick options (it runs `ibx train`: SGD with Nesterov momentum 0.9,\n"
         "cosine schedule after a quarter-epoch warm-up, no augmentation):\n"
         "  --data DIR       Fashion-MNIST directory (default %s)\n"
         "  --epochs N       epochs (3)\n"
         "  --batch N        mini-batch size (128)\n"
         "  --lr X           peak learning rate (0.05)\n"
         "  --weight-decay X L2 weight decay (5e-4)\n"
         "  --beta-warmup E  ramp the KL weight linearly from 0 to beta over the first E\n"
         "                   epochs (dvib, aib, aib-qt; default 0: none)\n"
         "  --threads N      OpenMP threads (default: all)\n"
         "  --limit N        use the first N training images only\n"
         "  --test-limit N   evaluate on the first N test images only\n"
         "  --out DIR        run directory (default results/train-quick/BACKBONE-HEAD)\n"
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
    else if (train && !strcmp(a, "--test-limit"))
      o->test_limit = strtol(v, &end, 10);
    else if (train && !strcmp(a, "--out"))
      o->out = v;
    else {
      fprintf(stderr, "ibx model: unknown option '%s' (see 'ibx model --help')\n", a);
      return -1;
    }
    if (end && *end) {
      fprintf(stderr, "ibx model: bad value '%s' for %s\n", v, a);
      return -1;
    }
  }
  if (train &&
      (o->epochs < 1 || o->batch < 2 || o->threads < 0 || o->limit < 0 || o->test_limit < 0 ||
       !(o->lr > 0.0f) || !(o->weight_decay >= 0.0f) || !(o->beta_warmup >= 0.0f))) {
    fprintf(stderr, "ibx model: --epochs >= 1, --batch >= 2, --lr > 0, --weight-decay >= 0, "
                    "--beta-warmup >= 0, --threads/--limit/--test-limit >= 0\n");
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

/* One line per tensor of a checkpoint's /model group, in declaration order:
 * "param|buffer NAME D0xD1x..." (parameters first, then batch-norm buffers). */
static void print_store(const char *kind, const ibx_params *p) {
  for (int i = 0; i < p->count; i++) {
    const ibx_param_info *t = &p->info[i];
    printf("%s %s ", kind, t->name);
    for (int d = 0; d < t->ndim; d++)
      printf(d ? "x%d" : "%d", t->dim[d]);
    printf("\n");
  }
}

static int params(const model_options *o) {
  ibx_model *m;
  if (ibx_model_create(&o->cfg, 1, &m)) {
    fprintf(stderr, "ibx model: %s\n", ibx_errmsg());
    return 2;
  }
  print_store("param", ibx_model_params(m));
  print_store("buffer", ibx_model_buffers(m));
  ibx_model_free(m);
  return 0;
}

/* The trainer's config for o: Fashion-MNIST, no augmentation, the model
 * and recipe of the options, as `section.key=value` overrides. */
static int train_quick(const model_options *o) {
  const ibx_model_config *c = &o->cfg;
  if (c->in_channels != 1 || c->num_classes != 10 || c->in_height != c->in_width) {
    fprintf(stderr, "ibx model train-quick: Fashion-MNIST needs --input 1xSxS and 10 classes\n");
    return 2;
  }
  char set[40][320];
  int n = 0;
#define SET(...) snprintf(set[n++], sizeof set[0], __VA_ARGS__)
  SET("data.dataset=fashion-mnist");
  SET("data.path=%s", o->data_dir ? o->data_dir : "");
  SET("data.image_size=%d", c->in_height);
  SET("data.augment=false");
  SET("data.flip=false");
  SET("data.train_limit=%ld", o->limit);
  SET("data.test_limit=%ld", o->test_limit);
  SET("model.backbone=%s", c->backbone);
  SET("model.head=%s", c->head);
  SET("model.width=%.7g", (double)c->width);
  SET("model.wrn_depth=%d", c->wrn_depth);
  SET("model.wrn_widen=%d", c->wrn_widen);
  SET("model.K=%d", c->K);
  SET("model.beta=%.7g", (double)c->beta);
  SET("model.beta_warmup_epochs=%.7g", (double)o->beta_warmup);
  SET("model.Q=%d", c->Q);
  SET("model.lambda_q=%.7g", (double)c->lambda_q);
  SET("model.lambda_c=%.7g", (double)c->lambda_c);
  SET("model.attention_layer=%d", c->attention_layer);
  SET("train.epochs=%d", o->epochs);
  SET("train.batch_size=%d", o->batch);
  SET("train.optimizer=sgd");
  SET("train.lr=%.7g", (double)o->lr);
  SET("train.weight_decay=%.7g", (double)o->weight_decay);
  SET("train.schedule=cosine");
  SET("train.warmup_epochs=0.25");
  SET("train.seed=%lu", o->seed);
  SET("train.threads=%d", o->threads);
  SET("eval.every=1");
  if (o->out)
    SET("output.dir=%s", o->out);
  else
    SET("output.dir=results/train-quick/%s-%s", c->backbone, c->head);
#undef SET
  char name[] = "train", quiet[] = "--quiet";
  char *argv[48] = {name};
  int argc = 1;
  for (int i = 0; i < n; i++)
    argv[argc++] = set[i];
  if (o->quiet)
    argv[argc++] = quiet;
  return ibx_cmd_train(argc, argv);
}

int ibx_cmd_model(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const int train = !strcmp(argv[1], "train-quick");
  if (!train && strcmp(argv[1], "summary") && strcmp(argv[1], "params")) {
    fprintf(stderr, "ibx model: unknown subcommand '%s' (summary, params, train-quick)\n",
            argv[1]);
    return 2;
  }
  model_options o;
  const int p = parse(argc, argv, train, &o);
  if (p)
    return p > 0 ? 0 : 2;
  if (train)
    return train_quick(&o);
  return strcmp(argv[1], "params") ? summary(&o) : params(&o);
}
