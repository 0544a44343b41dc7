/* The distributed trainer (see include/ibx/trainer.h). */
#include "ibx/trainer.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "ibx/augment.h"
#include "ibx/checkpoint.h"
#include "ibx/data.h"
#include "ibx/dist.h"
#include "ibx/error.h"
#include "ibx/precision.h"
#include "ibx/memory.h"
#include "ibx/metrics.h"
#include "ibx/model.h"
#include "ibx/optim.h"
#include "ibx/rng.h"
#include "ibx/run_config.h"
#include "ibx/sampler.h"
#include "ibx/text.h"
#include "run_dir.h"
#include "watchdog.h"

#define NOISE_STREAM 0x4E4F495345ULL /* "NOISE" */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

void ibx_train_install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
  MPI_Comm comm;
  int rank, world;
  FILE *out; /* progress lines (rank 0), or NULL */
  ibx_config cfg;          /* the resolved config, as written to config.ini */
  ibx_run_config settings; /* the same, typed: what the trainer reads */
  char *config_ini;
  const char *dir;
  char dir_buf[4096]; /* the run directory (dir points here) */
  int lock_fd;        /* rank 0: the run lock, -1 when none */
  int claimed;        /* rank 0 holds the run directory: it may record its state */
  ibx_dataset *train, *test;
  long n_train, n_test;
  /* text runs (ibx_run_is_text): token batches instead of images */
  int text;
  ibx_text_dataset *ttrain, *ttest;
  int32_t *tokens; /* [max_batch, max_len] */
  int *lengths;
  int max_len;
  int mlm;          /* model.objective = mlm: masked-language-model pre-training */
  int32_t *targets; /* [max_batch, max_len]: the ids to predict, -1 elsewhere */
  int vocab_size;
  ibx_augment aug_train, aug_test;
  ibx_model *model;
  ibx_params *params, *buffers;
  ibx_opt_state opt;
  int adam;
  ibx_schedule sched;
  ibx_sampler sampler;
  ibx_grad_sync *sync;
  ibx_metrics *metrics;
  int global_batch, local_batch;
  int eval_batch; /* eval.batch_size, at most local_batch: see setup_batches */
  long steps_per_epoch;
  float *x;
  int *labels;
  long *idx;
  int io_rc;      /* rank 0: a metrics write failed (reported at the next step) */
  int sync_bn;    /* batch norm reduces its statistics over bn_comm */
  MPI_Comm bn_comm;
  ibx_watchdog *watchdog;
  long fail_rank, fail_step; /* fault injection (IBX_TEST_FAIL_STEP), -1: none */
  long step;      /* optimiser steps taken */
  double grad_norm_max; /* largest gradient norm since the last logged row */
  long epoch;     /* epochs completed */
  double best_error;
  char start_time[32];
  char hostnames[4096];
} trainer;



/* ---- setup ---------------------------------------------------------------- */


/* Batch sizes and the sampler, shared by image and text runs. */
static int setup_batches(trainer *t);

static int setup_text_data(trainer *t) {
  const ibx_run_config *c = &t->settings;
  ibx_vocab *shared = NULL; /* data.vocab_from */
  IBX_TRY(ibx_run_text_vocab(c, &shared));
  int rc = ibx_run_open_text_vocab(c, "train", shared, &t->ttrain);
  ibx_vocab_free(shared);
  IBX_TRY(rc);
  /* a raw source's test split with the train split's vocabulary (learned once) */
  IBX_TRY(ibx_run_open_text_vocab(c, "test",
                                  strcmp(c->data.dataset, "h5") ? ibx_text_vocab(t->ttrain) : NULL,
                                  &t->ttest));
  t->mlm = !strcmp(c->model.objective, "mlm");
  t->vocab_size = ibx_vocab_size(ibx_text_vocab(t->ttrain));
  long lim = c->data.train_limit;
  t->n_train = ibx_text_count(t->ttrain);
  if (lim && lim < t->n_train)
    t->n_train = lim;
  lim = c->data.test_limit;
  t->n_test = ibx_text_count(t->ttest);
  if (lim && lim < t->n_test)
    t->n_test = lim;
  t->max_len = ibx_text_max_len(t->ttrain);
  if (ibx_text_max_len(t->ttest) != t->max_len)
    return ibx_fail(IBX_ERR_FORMAT, "%s: sequences of %d tokens, the training set has %d",
                    ibx_text_name(t->ttest), ibx_text_max_len(t->ttest), t->max_len);
  IBX_TRY(setup_batches(t));
  const int max_batch = t->local_batch;
  t->tokens = ibx_alloc((size_t)max_batch * t->max_len * sizeof(int32_t), "token batch");
  t->lengths = ibx_alloc((size_t)max_batch * sizeof(int), "lengths");
  t->labels = ibx_alloc((size_t)max_batch * sizeof(int), "labels");
  t->idx = ibx_alloc((size_t)max_batch * sizeof(long), "sample indices");
  t->targets = ibx_alloc((size_t)max_batch * t->max_len * sizeof(int32_t), "MLM targets");
  if (!t->tokens || !t->lengths || !t->labels || !t->idx || !t->targets)
    return IBX_ERR_NOMEM;
  return IBX_OK;
}

/* Reads samples idx[0..n) of ds into the token batch. */
static int load_text_batch(trainer *t, const ibx_text_dataset *ds, long n) {
  for (long i = 0; i < n; i++)
    IBX_TRY(ibx_text_read(ds, t->idx[i], t->tokens + (size_t)i * t->max_len, &t->lengths[i],
                          &t->labels[i]));
  return IBX_OK;
}

/* Word dropout (data.token_dropout): in training batches each content token
 * (not [CLS]/[SEP]) becomes [MASK] with probability p, a pure function of
 * (train.seed, epoch, sample, position), so resumed runs match. */
#define TOKEN_DROPOUT_STREAM 0x544f4b44ULL /* "TOKD" */
static void token_dropout(trainer *t, long n) {
  const double p = t->settings.data.token_dropout;
  if (!(p > 0.0))
    return;
  const uint64_t seed = (uint64_t)t->settings.train.seed;
  for (long i = 0; i < n; i++) {
    int32_t *ids = t->tokens + (size_t)i * t->max_len;
    const uint64_t base = ((uint64_t)t->epoch * (uint64_t)t->n_train + (uint64_t)t->idx[i]) *
                          (uint64_t)t->max_len;
    for (int k = 1; k < t->lengths[i] - 1; k++)
      if (ibx_rng_uniform(seed, TOKEN_DROPOUT_STREAM, base + (uint64_t)k) < p)
        ids[k] = IBX_TOK_MASK;
  }
}

/* BERT's masking (model.objective = mlm): each content token (not
 * [CLS]/[SEP]/[PAD]) is chosen with probability train.mask_prob; a chosen
 * token becomes [MASK] (80 %), a random non-special token (10 %) or stays
 * (10 %), and is the target there. A pure function of (seed, round, sample,
 * position): training draws fresh masks every epoch (round = epoch), the
 * evaluation the same masks every time (round = EVAL_ROUND). */
#define MLM_STREAM 0x4d4c4d31ULL      /* "MLM1": chosen or not */
#define MLM_KIND_STREAM 0x4d4c4d32ULL /* "MLM2": [MASK], random or kept */
#define MLM_RAND_STREAM 0x4d4c4d33ULL /* "MLM3": the random token */
#define MLM_EVAL_ROUND 0xffffffffULL
static void mlm_mask(trainer *t, long n, uint64_t round, long n_samples) {
  const double p = t->settings.train.mask_prob;
  const uint64_t seed = (uint64_t)t->settings.train.seed;
  const int V = t->vocab_size;
  for (long i = 0; i < n; i++) {
    int32_t *ids = t->tokens + (size_t)i * t->max_len, *tg = t->targets + (size_t)i * t->max_len;
    const uint64_t base = (round * (uint64_t)n_samples + (uint64_t)t->idx[i]) * (uint64_t)t->max_len;
    for (int k = 0; k < t->max_len; k++)
      tg[k] = -1;
    for (int k = 1; k < t->lengths[i] - 1; k++) {
      if (ids[k] < IBX_TOK_NUM_SPECIAL && ids[k] != IBX_TOK_UNK)
        continue; /* [PAD]/[CLS]/[SEP]/[MASK] are never predicted */
      const uint64_t at = base + (uint64_t)k;
      if (!(ibx_rng_uniform(seed, MLM_STREAM, at) < p))
        continue;
      tg[k] = ids[k];
      const double kind = ibx_rng_uniform(seed, MLM_KIND_STREAM, at);
      if (kind < 0.8)
        ids[k] = IBX_TOK_MASK;
      else if (kind < 0.9 && V > IBX_TOK_NUM_SPECIAL) {
        const int r = (int)(ibx_rng_uniform(seed, MLM_RAND_STREAM, at) *
                            (double)(V - IBX_TOK_NUM_SPECIAL));
        ids[k] = IBX_TOK_NUM_SPECIAL + (r < V - IBX_TOK_NUM_SPECIAL ? r : V - 1 - IBX_TOK_NUM_SPECIAL);
      }
    }
  }
}

/* The model input of the current batch. */
static ibx_model_input batch_input(const trainer *t) {
  if (t->text)
    return (ibx_model_input){.tokens = t->tokens, .lengths = t->lengths, .stride = t->max_len};
  return (ibx_model_input){.images = t->x};
}

static int setup_data(trainer *t) {
  const ibx_run_config *c = &t->settings;
  IBX_TRY(ibx_run_check_data_model(c));
  t->text = ibx_run_is_text(c);
  if (t->text)
    return setup_text_data(t);
  IBX_TRY(ibx_run_open_dataset(c, "train", &t->train));
  IBX_TRY(ibx_run_open_dataset(c, "test", &t->test));
  long lim = c->data.train_limit;
  t->n_train = ibx_dataset_count(t->train);
  if (lim && lim < t->n_train)
    t->n_train = lim;
  lim = c->data.test_limit;
  t->n_test = ibx_dataset_count(t->test);
  if (lim && lim < t->n_test)
    t->n_test = lim;
  int ch;
  ibx_dataset_shape(t->train, &ch, NULL, NULL);
  if (ch > IBX_AUGMENT_MAX_CHANNELS)
    return ibx_fail(IBX_ERR_ARG, "data: %d channels are more than augmentation supports", ch);
  ibx_augment_identity(&t->aug_train);
  const int size = c->data.image_size;
  t->aug_train.out_h = t->aug_train.out_w = size;
  IBX_TRY(ibx_dataset_channel_stats(t->train, t->aug_train.mean, t->aug_train.std));
  t->aug_test = t->aug_train;
  t->aug_train.crop_pad = c->data.augment ? 4 : 0;
  t->aug_train.hflip = c->data.flip;
  t->aug_train.seed = (uint64_t)c->train.seed;
  IBX_TRY(setup_batches(t));
  const int max_batch = t->local_batch;
  const size_t img = (size_t)ch * size * size;
  t->x = ibx_alloc((size_t)max_batch * img * sizeof(float), "input batch");
  t->labels = ibx_alloc((size_t)max_batch * sizeof(int), "labels");
  t->idx = ibx_alloc((size_t)max_batch * sizeof(long), "sample indices");
  if (!t->x || !t->labels || !t->idx)
    return IBX_ERR_NOMEM;
  return IBX_OK;
}

static int setup_batches(trainer *t) {
  const ibx_run_config *c = &t->settings;
  t->global_batch = c->train.batch_size;
  if (t->global_batch % t->world)
    return ibx_fail(IBX_ERR_ARG, "train.batch_size: %d does not divide by the %d ranks",
                    t->global_batch, t->world);
  t->local_batch = t->global_batch / t->world;
  /* The model's activations (kept for backward) are sized for its largest
   * batch, so evaluating in bigger batches than training would double the
   * peak memory (full-width VGG-16: 1.5 GB instead of 0.9 GB at batch 128
   * vs eval 256) for no gain in speed; outputs do not depend on the batch. */
  t->eval_batch = c->eval.batch_size < t->local_batch ? c->eval.batch_size : t->local_batch;
  t->steps_per_epoch = t->n_train / t->global_batch;
  if (t->steps_per_epoch < 1)
    return ibx_fail(IBX_ERR_ARG, "train.batch_size: %d is larger than the %ld training samples",
                    t->global_batch, t->n_train);
  return ibx_sampler_init(&t->sampler, t->n_train, t->world, t->rank,
                          (uint64_t)c->train.seed, 1);
}

static int setup_model(trainer *t) {
  const ibx_run_config *c = &t->settings;
  ibx_model_config mc;
  if (t->text)
    ibx_run_model_config_text(c, t->ttrain, &mc);
  else
    ibx_run_model_config(c, t->train, &mc);
  IBX_TRY(ibx_model_create(&mc, t->local_batch, &t->model));
  t->params = ibx_model_params(t->model);
  t->buffers = ibx_model_buffers(t->model);

  t->adam = c->train.optimizer != IBX_OPTIMIZER_SGD;
  t->opt.n_slots = t->adam ? 2 : 1;
  t->opt.slot_name[0] = t->adam ? "exp_avg" : "momentum_buffer";
  t->opt.slot_name[1] = "exp_avg_sq";
  for (int s = 0; s < t->opt.n_slots; s++) {
    t->opt.slot[s] = ibx_calloc(t->params->total * sizeof(float), "optimiser state");
    if (!t->opt.slot[s])
      return IBX_ERR_NOMEM;
  }
  const double bucket_mb = c->train.bucket_mb;
  IBX_TRY(ibx_grad_sync_create(t->comm, t->params->grads, t->params->total,
                               (size_t)(bucket_mb * 1048576.0), &t->sync));
  ibx_model_set_grad_hook(t->model, ibx_grad_sync_ready, t->sync);

  /* schedule, in steps */
  ibx_schedule *s = &t->sched;
  memset(s, 0, sizeof *s);
  s->kind = c->train.schedule;
  s->base_lr = (float)c->train.lr;
  s->warmup_steps = (long)(c->train.warmup_epochs * t->steps_per_epoch);
  s->warmup_start = s->kind == IBX_SCHED_LINEAR ? 0.0f : 0.1f; /* linear: BERT's, from 0 */
  s->total_steps = c->train.epochs * t->steps_per_epoch;
  s->gamma = (float)c->train.gamma;
  s->n_milestones = c->train.n_milestones;
  for (int i = 0; i < s->n_milestones; i++)
    s->milestones[i] = c->train.milestones[i] * t->steps_per_epoch;
  if ((s->kind == IBX_SCHED_COSINE || s->kind == IBX_SCHED_LINEAR) &&
      s->total_steps <= s->warmup_steps)
    return ibx_fail(IBX_ERR_ARG, "train.warmup_epochs: must be shorter than train.epochs");
  return ibx_schedule_check(s);
}

static void gather_hostnames(trainer *t) {
  char mine[MPI_MAX_PROCESSOR_NAME] = "";
  int len;
  MPI_Get_processor_name(mine, &len);
  char *all = t->rank == 0 ? malloc((size_t)t->world * MPI_MAX_PROCESSOR_NAME) : NULL;
  MPI_Gather(mine, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0,
             t->comm);
  if (t->rank)
    return;
  size_t used = 0;
  t->hostnames[0] = '\0';
  for (int r = 0; r < t->world; r++) { /* distinct names, in rank order */
    const char *h = all + (size_t)r * MPI_MAX_PROCESSOR_NAME;
    int seen = 0;
    for (int q = 0; q < r && !seen; q++)
      seen = !strcmp(h, all + (size_t)q * MPI_MAX_PROCESSOR_NAME);
    if (!seen && used + strlen(h) + 2 < sizeof t->hostnames)
      used += (size_t)snprintf(t->hostnames + used, sizeof t->hostnames - used, "%s%s",
                               used ? "," : "", h);
  }
  free(all);
}

/* ---- checkpoints ----------------------------------------------------------- */

static int save_checkpoint(trainer *t, const char *path) {
  ibx_ckpt_meta meta = {.epoch = t->epoch, .step = t->step,
                        .seed = (uint64_t)t->settings.train.seed,
                        .world_size = t->world, .best_error = t->best_error,
                        .config_ini = t->config_ini, .hostnames = t->hostnames};
  memcpy(meta.start_time, t->start_time, sizeof meta.start_time);
  return ibx_checkpoint_write(path, t->params, t->buffers, &t->opt, &meta);
}

/* Rank 0 writes; the status is shared so every rank agrees. */
static int checkpoint_all(trainer *t, int also_best) {
  ibx_watchdog_beat(t->watchdog);
  int rc = IBX_OK;
  char msg[512] = "";
  if (t->rank == 0) {
    char path[4096];
    ibx_run_dir_ckpt_path(t->dir, t->step, path, sizeof path);
    rc = ibx_metrics_flush(t->metrics); /* rows up to the checkpoint are on disk first */
    if (!rc)
      rc = save_checkpoint(t, path);
    if (!rc && also_best) {
      snprintf(path, sizeof path, "%s/best.h5", t->dir);
      rc = save_checkpoint(t, path);
    }
    if (!rc)
      ibx_run_dir_prune(t->dir, t->settings.output.keep_last);
    if (rc)
      snprintf(msg, sizeof msg, "%s", ibx_errmsg());
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, t->comm);
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, t->comm);
  ibx_watchdog_beat(t->watchdog);
  return rc ? ibx_fail(rc, "%s", msg) : IBX_OK;
}

/* ---- steps and evaluation ------------------------------------------------- */

/* A step in three parts so that every rank issues the same collectives even
 * when one fails: load (local), forward (collective with sync BN), then, after
 * the step's agreement (run_epochs), backward + gradient allreduce + update. */
static int step_load(trainer *t, long j, long *count) {
  IBX_TRY(ibx_sampler_local_batch(&t->sampler, j, t->global_batch, t->idx, count));
  if (t->text) {
    IBX_TRY(load_text_batch(t, t->ttrain, *count));
    if (t->mlm)
      mlm_mask(t, *count, (uint64_t)t->epoch, t->n_train);
    else
      token_dropout(t, *count);
  } else {
    IBX_TRY(ibx_augment_batch(&t->aug_train, t->train, t->idx, *count, (uint64_t)t->epoch, t->x,
                              t->labels));
  }
  return IBX_OK;
}

/* *correct right predictions out of *scored (the batch's samples; for an
 * MLM its masked positions). */
static int step_forward(trainer *t, long n, ibx_loss_parts *parts, long *correct, long *scored) {
  uint32_t r[4];
  ibx_rng_u32x4((uint64_t)t->settings.train.seed, NOISE_STREAM,
                (uint64_t)t->step * (uint64_t)t->world + (uint64_t)t->rank, r);
  const uint64_t noise_seed = ((uint64_t)r[0] << 32) | r[1];
  ibx_tensor logits;
  /* KL warm-up: a pure function of the step, so a resumed run matches */
  const ibx_model_settings *ms = &t->settings.model;
  const float beta = ibx_kl_warmup_beta(ms->beta, ms->beta_warmup_epochs * t->steps_per_epoch,
                                        t->step);
  const ibx_model_input in = batch_input(t);
  if (t->mlm) {
    ibx_mlm_stats st;
    IBX_TRY(ibx_model_forward_mlm(t->model, &in, t->targets, (int)n, 1, noise_seed, parts, &st));
    *correct = st.correct, *scored = st.count;
    return IBX_OK;
  }
  *scored = n;
  IBX_TRY(ibx_model_forward_input_beta(t->model, &in, t->labels, (int)n, 1, noise_seed, beta,
                                       parts, &logits));
  long right = 0;
  for (long i = 0; i < n; i++) {
    const float *row = logits.data + i * logits.dim[1];
    int best = 0;
    for (int k = 1; k < logits.dim[1]; k++)
      best = row[k] > row[best] ? k : best;
    right += best == t->labels[i];
  }
  *correct = right;
  return IBX_OK;
}

static int step_update(trainer *t) {
  ibx_params_zero_grads(t->params);
  ibx_grad_sync_begin(t->sync);
  IBX_TRY(ibx_model_backward(t->model, NULL));
  if (t->rank == t->fail_rank && t->step == t->fail_step)
    return ibx_fail(IBX_ERR_NUMERIC, "step %ld: failure injected by IBX_TEST_FAIL_STEP after "
                    "backward (gradient buckets in flight)", t->step + 1);
  IBX_TRY(ibx_grad_sync_finish(t->sync));
  double norm;
  ibx_clip_grad_norm(t->params->grads, t->params->total,
                     (float)t->settings.train.grad_clip, &norm);
  t->grad_norm_max = norm > t->grad_norm_max ? norm : t->grad_norm_max;
  const float lr = ibx_schedule_lr(&t->sched, t->step);
  const ibx_run_config *c = &t->settings;
  if (t->adam) {
    const ibx_adam a = {0.9f, 0.999f, 1e-8f, (float)c->train.weight_decay,
                        c->train.optimizer == IBX_OPTIMIZER_ADAMW};
    IBX_TRY(ibx_adam_step(&a, lr, t->params->values, t->params->grads, t->opt.slot[0],
                          t->opt.slot[1], t->params->total, t->step));
  } else {
    const ibx_sgd s = {(float)c->train.momentum, (float)c->train.weight_decay, c->train.nesterov,
                       0.0f};
    IBX_TRY(ibx_sgd_step(&s, lr, t->params->values, t->params->grads, t->opt.slot[0],
                         t->params->total, t->step));
  }
  return IBX_OK;
}

/* Outcomes of run_epochs besides IBX_OK and ibx_status errors (kept apart
 * from those codes). RUN_ABORTED: this rank failed inside collectives (a
 * batch-norm reduction or the gradient allreduce), so there is nothing to
 * agree on: the other ranks wait in a collective this rank will never join;
 * the caller must end the whole job (MPI_Abort). */
enum { RUN_PREEMPTED = 100, RUN_ABORTED = 101 };

static int failed_inside_collectives(trainer *t, int rc) {
  return t->world > 1 ? RUN_ABORTED : rc;
}

/* Test error over the whole test set, sharded over ranks (sample i on rank
 * i % world), reduced. */
static int evaluate_local(trainer *t, long *right_out, long *seen_out, double *loss_out) {
  const int B = t->eval_batch;
  long right = 0, seen = 0;
  double loss = 0.0;
  for (long start = t->rank; start < t->n_test;) {
    long n = 0;
    for (; n < B && start < t->n_test; n++, start += t->world)
      t->idx[n] = start;
    if (t->text)
      IBX_TRY(load_text_batch(t, t->ttest, n));
    else
      IBX_TRY(ibx_augment_batch(&t->aug_test, t->test, t->idx, n, 0, t->x, t->labels));
    ibx_tensor logits;
    const ibx_model_input in = batch_input(t);
    if (t->mlm) { /* masked-token accuracy and loss, the same masks every time */
      mlm_mask(t, n, MLM_EVAL_ROUND, t->n_test);
      ibx_mlm_stats st;
      IBX_TRY(ibx_model_forward_mlm(t->model, &in, t->targets, (int)n, 0, 0, NULL, &st));
      ibx_watchdog_beat(t->watchdog);
      right += st.correct, seen += st.count, loss += (double)st.loss * (double)st.count;
      continue;
    }
    IBX_TRY(ibx_model_forward_input(t->model, &in, NULL, (int)n, 0, 0, NULL, &logits));
    ibx_watchdog_beat(t->watchdog);
    for (long i = 0; i < n; i++) {
      const float *row = logits.data + i * logits.dim[1];
      int best = 0;
      for (int k = 1; k < logits.dim[1]; k++)
        best = row[k] > row[best] ? k : best;
      right += best == t->labels[i];
    }
    seen += n;
  }
  *right_out = right, *seen_out = seen, *loss_out = loss;
  return IBX_OK;
}

/* *error: test error in percent (an MLM: masked-token error on the held-out
 * split); *mlm_loss: an MLM's mean held-out cross-entropy (else NAN). */
static int evaluate(trainer *t, double *error, double *mlm_loss) {
  long right = 0, seen = 0;
  double loss = 0.0;
  /* Without sync BN every rank keeps its own running statistics; the
   * checkpoint holds rank 0's, so every rank evaluates with those (as DDP's
   * broadcast_buffers does), and the logged test error equals what
   * `ibx eval error` finds in the checkpoint. */
  if (t->world > 1)
    MPI_Bcast(t->buffers->values, (int)t->buffers->total, MPI_FLOAT, 0, t->comm);
  IBX_TRY(ibx_dist_agree(t->comm, evaluate_local(t, &right, &seen, &loss)));
  long local[2] = {right, seen}, total[2];
  MPI_Allreduce(local, total, 2, MPI_LONG, MPI_SUM, t->comm);
  double loss_sum = 0.0;
  MPI_Allreduce(&loss, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, t->comm);
  *mlm_loss = t->mlm && total[1] ? loss_sum / (double)total[1] : NAN;
  /* percent, the one unit of every stored error (docs/checkpoint-format.md) */
  *error = total[1] ? 100.0 * (1.0 - (double)total[0] / (double)total[1]) : 100.0;
  return IBX_OK;
}

/* ---- the loop ------------------------------------------------------------- */

enum { ACC_CE, ACC_KL, ACC_VQ, ACC_COMMIT, ACC_TOTAL, ACC_RIGHT, ACC_SEEN, ACC_AUX, ACC_SCORED,
       ACC_N };

/* Losses are weighted by the n samples, accuracy counts right of scored. */
static void add_parts(double *acc, const ibx_loss_parts *p, long right, long n, long scored) {
  acc[ACC_CE] += p->ce * n, acc[ACC_KL] += p->kl * n, acc[ACC_VQ] += p->vq * n;
  acc[ACC_COMMIT] += p->commit * n, acc[ACC_TOTAL] += p->total * n;
  acc[ACC_RIGHT] += right, acc[ACC_SEEN] += n, acc[ACC_AUX] += p->aux * n;
  acc[ACC_SCORED] += scored;
}

static int run_epochs(trainer *t) {
  const long epochs = t->settings.train.epochs;
  const long log_every = t->settings.train.log_every;
  const long eval_every = t->settings.eval.every;
  const long ckpt_every = t->settings.output.checkpoint_every;
  const double t_run = now();
  const long step0 = t->step;
  if (t->out && t->epoch < epochs) {
    fprintf(t->out, "training: epochs %ld..%ld, %ld steps per epoch, a progress line every %ld steps\n",
            t->epoch + 1, epochs, t->steps_per_epoch, log_every);
    fflush(t->out);
  }
  while (t->epoch < epochs) {
    IBX_TRY(ibx_sampler_set_epoch(&t->sampler, (uint64_t)t->epoch));
    double acc[ACC_N] = {0}, win[ACC_N] = {0};
    const double t_epoch = now();
    double t_win = t_epoch;
    for (long j = t->step - t->epoch * t->steps_per_epoch; j < t->steps_per_epoch; j++) {
      ibx_loss_parts parts = {0};
      long right = 0, n = 0, scored = 0;
      const float lr = ibx_schedule_lr(&t->sched, t->step);
      int rc = step_load(t, j, &n);
      if (t->sync_bn) /* a rank without its batch must not enter the BN reductions */
        IBX_TRY(ibx_dist_agree(t->comm, rc));
      if (!rc) {
        rc = step_forward(t, n, &parts, &right, &scored);
        if (rc && t->sync_bn)
          return failed_inside_collectives(t, rc);
      }
      /* one collective per step, before backward: stop requests, non-finite
       * losses, and local failures (a rank that returned alone would leave the
       * others hanging), so every rank takes the same path */
      int flags[3] = {stop_requested ? 1 : 0, !rc && !isfinite(parts.total), rc || t->io_rc},
          any[3];
      MPI_Allreduce(flags, any, 3, MPI_INT, MPI_MAX, t->comm);
      if (any[2])
        return ibx_dist_agree(t->comm, rc ? rc : t->io_rc);
      if (any[1]) {
        double p[5] = {parts.total, parts.ce, parts.kl, parts.vq, parts.commit}, worst[5];
        MPI_Allreduce(p, worst, 5, MPI_DOUBLE, MPI_MAX, t->comm); /* NaN propagates */
        return ibx_fail(IBX_ERR_NUMERIC, "step %ld (epoch %ld): loss is not finite "
                        "(total %g, ce %g, kl %g, vq %g, commit %g)", t->step + 1, t->epoch + 1,
                        worst[0], worst[1], worst[2], worst[3], worst[4]);
      }
      rc = step_update(t);
      if (rc)
        return failed_inside_collectives(t, rc);
      ibx_watchdog_beat(t->watchdog);
      t->step++;
      add_parts(acc, &parts, right, n, scored);
      add_parts(win, &parts, right, n, scored);
      if (t->step % log_every == 0 || j + 1 == t->steps_per_epoch) {
        double g[ACC_N];
        MPI_Allreduce(win, g, ACC_N, MPI_DOUBLE, MPI_SUM, t->comm);
        const double dt = now() - t_win, rate = g[ACC_SEEN] / dt;
        if (t->rank == 0) {
          const double row[IBX_STEP_COLUMNS] = {
              (double)t->step, (double)t->epoch + 1, g[ACC_TOTAL] / g[ACC_SEEN],
              g[ACC_CE] / g[ACC_SEEN], g[ACC_KL] / g[ACC_SEEN], g[ACC_VQ] / g[ACC_SEEN],
              g[ACC_COMMIT] / g[ACC_SEEN], lr, rate, t->grad_norm_max};
          t->io_rc = ibx_metrics_append_step(t->metrics, row);
          if (t->out) {
            const double done = (double)(t->step - step0);
            const double eta = (now() - t_run) / done *
                               (double)(epochs * t->steps_per_epoch - t->step);
            char aux[40] = ""; /* the attention branch's loss (abn) */
            if (g[ACC_AUX] != 0.0)
              snprintf(aux, sizeof aux, " aux %.3g", g[ACC_AUX] / g[ACC_SEEN]);
            fprintf(t->out,
                    "epoch %ld/%ld step %ld/%ld  loss %.4f (ce %.4f kl %.3g vq %.3g commit %.3g%s)"
                    "  train err %.2f%%  lr %.4g  |g| %.3g  %.0f img/s  ETA %.0fs\n",
                    t->epoch + 1, epochs, j + 1, t->steps_per_epoch, row[2], row[3], row[4], row[5],
                    row[6], aux, 100.0 * (1.0 - g[ACC_RIGHT] / (g[ACC_SCORED] > 0 ? g[ACC_SCORED] : 1)), (double)lr,
                    t->grad_norm_max, rate, eta);
            fflush(t->out);
          }
        }
        memset(win, 0, sizeof win);
        t->grad_norm_max = 0.0;
        t_win = now();
      }
      if (any[0]) { /* preemption: checkpoint mid-epoch and leave */
        IBX_TRY(checkpoint_all(t, 0));
        return RUN_PREEMPTED;
      }
    }
    t->epoch++;
    double test_error = NAN, test_mlm_loss = NAN;
    if ((eval_every && t->epoch % eval_every == 0) || t->epoch == epochs)
      IBX_TRY(evaluate(t, &test_error, &test_mlm_loss));
    double g[ACC_N];
    MPI_Allreduce(acc, g, ACC_N, MPI_DOUBLE, MPI_SUM, t->comm);
    const int improved = !isnan(test_error) && test_error < t->best_error;
    if (improved)
      t->best_error = test_error;
    if (t->rank == 0) {
      const double row[IBX_EPOCH_COLUMNS] = {
          (double)t->epoch, 100.0 * (1.0 - g[ACC_RIGHT] / (g[ACC_SCORED] > 0 ? g[ACC_SCORED] : 1)),
          test_error,
          g[ACC_TOTAL] / g[ACC_SEEN], g[ACC_CE] / g[ACC_SEEN], g[ACC_KL] / g[ACC_SEEN],
          g[ACC_VQ] / g[ACC_SEEN], g[ACC_COMMIT] / g[ACC_SEEN], now() - t_epoch};
      t->io_rc = ibx_metrics_append_epoch(t->metrics, row);
      if (!t->io_rc)
        t->io_rc = ibx_metrics_flush(t->metrics);
      if (t->out) {
        fprintf(t->out, "epoch %ld/%ld done: train err %.2f%%", t->epoch, epochs, row[1]);
        if (!isnan(test_error))
          fprintf(t->out, "  test err %.2f%% (acc %.2f%%)", test_error, 100.0 - test_error);
        if (!isnan(test_mlm_loss))
          fprintf(t->out, "  held-out MLM loss %.4f (masked-token acc %.2f%%)", test_mlm_loss,
                  100.0 - test_error);
        fprintf(t->out, "  %.1f s\n", row[8]);
        fflush(t->out);
      }
    }
    IBX_TRY(ibx_dist_agree(t->comm, t->io_rc));
    if (t->epoch % ckpt_every == 0 || t->epoch == epochs || improved)
      IBX_TRY(checkpoint_all(t, improved));
  }
  return IBX_OK;
}

/* ---- entry ---------------------------------------------------------------- */

/* The run directory: --resume's directory (or the directory of the
 * checkpoint given), else output.dir. */
static int find_run_dir(trainer *t, const ibx_train_options *o) {
  if (!o->resume) {
    ibx_run_config given;
    IBX_TRY(ibx_run_config_resolve(o->config, &given));
    snprintf(t->dir_buf, sizeof t->dir_buf, "%s", given.output.dir);
    return IBX_OK;
  }
  struct stat st;
  if (stat(o->resume, &st))
    return ibx_fail(IBX_ERR_IO, "--resume %s: no such run directory or checkpoint", o->resume);
  snprintf(t->dir_buf, sizeof t->dir_buf, "%s", o->resume);
  if (!S_ISDIR(st.st_mode)) {
    char *slash = strrchr(t->dir_buf, '/');
    if (!slash)
      snprintf(t->dir_buf, sizeof t->dir_buf, ".");
    else
      slash[slash == t->dir_buf] = '\0';
  }
  return IBX_OK;
}

/* Rank 0, before anything is written: takes the run lock, removes what
 * killed writers left, and picks the checkpoint to resume from: the newest
 * intact ckpt-<step>.h5 of a directory (a damaged one is renamed aside with
 * a warning, so pruning and later resumes never see it again). */
static int claim_run_dir(trainer *t, const ibx_train_options *o, char *ckpt, size_t len) {
  IBX_TRY(ibx_run_dir_make(t->dir));
  char stale[256];
  IBX_TRY(ibx_run_dir_lock(t->dir, &t->lock_fd, stale, sizeof stale));
  t->claimed = 1;
  if (stale[0] && o->progress)
    fprintf(o->progress,
            "ibx train: %s: taking over the stale run lock of %s (no longer running)\n", t->dir,
            stale);
  ibx_run_dir_remove_stale_tmp(t->dir);
  if (!o->resume)
    return IBX_OK;
  struct stat st;
  if (stat(o->resume, &st) == 0 && !S_ISDIR(st.st_mode)) {
    snprintf(ckpt, len, "%s", o->resume);
    return ibx_checkpoint_verify(ckpt);
  }
  for (;;) {
    IBX_TRY(ibx_run_dir_latest(t->dir, ckpt, len));
    if (!ibx_checkpoint_verify(ckpt))
      return IBX_OK;
    char why[512], aside[4200];
    snprintf(why, sizeof why, "%s", ibx_errmsg());
    snprintf(aside, sizeof aside, "%s.corrupt", ckpt);
    if (rename(ckpt, aside))
      return ibx_fail(IBX_ERR_IO, "%s; cannot move it aside: %s", why, strerror(errno));
    if (o->warnings)
      fprintf(o->warnings, "ibx train: warning: skipping %s (renamed to %s.corrupt): %s\n", ckpt,
              strrchr(ckpt, '/') ? strrchr(ckpt, '/') + 1 : ckpt, why);
  }
}

static int load_resume(trainer *t, const char *ckpt) {
  char *ini;
  IBX_TRY(ibx_checkpoint_read_config(ckpt, &ini));
  int rc = ibx_config_init(&t->cfg);
  if (!rc)
    rc = ibx_config_load_string(&t->cfg, ini, ckpt);
  free(ini);
  if (!rc) { /* the run lives where it is now, not where it was written */
    char assignment[4200];
    snprintf(assignment, sizeof assignment, "output.dir=%s", t->dir);
    rc = ibx_config_override(&t->cfg, assignment);
  }
  return rc;
}

/* train.init_from: a run directory (best.h5, else its newest checkpoint) or
 * a checkpoint file; the parameters it has by name are loaded. */
static int init_from(trainer *t) {
  const char *from = t->settings.train.init_from;
  char path[4200];
  struct stat st;
  if (stat(from, &st))
    return ibx_fail(IBX_ERR_IO, "train.init_from = %s: no such run directory or checkpoint", from);
  if (S_ISDIR(st.st_mode)) {
    snprintf(path, sizeof path, "%s/best.h5", from);
    if (stat(path, &st) && ibx_run_dir_latest(from, path, sizeof path))
      return ibx_fail(IBX_ERR_IO, "train.init_from = %s: the directory holds no checkpoint "
                      "(best.h5 or ckpt-*.h5)", from);
  } else {
    snprintf(path, sizeof path, "%s", from);
  }
  int loaded = 0;
  if (ibx_checkpoint_read_matching(path, t->params, &loaded)) {
    char why[600];
    snprintf(why, sizeof why, "%s", ibx_errmsg());
    return ibx_fail(IBX_ERR_FORMAT, "train.init_from: %s", why);
  }
  if (loaded == 0)
    return ibx_fail(IBX_ERR_FORMAT, "train.init_from: %s has no parameter of this model (a "
                    "different kind of model?)", path);
  if (t->rank == 0 && t->out) {
    fprintf(t->out, "initialised %d of %d parameter tensors from %s\n", loaded, t->params->count,
            path);
    fflush(t->out);
  }
  return IBX_OK;
}

/* Local set-up (no collectives): config, run directory, data, model. */
static int start_local(trainer *t, const ibx_train_options *o, char *ckpt) {
  if (o->resume)
    IBX_TRY(load_resume(t, ckpt));
  else {
    IBX_TRY(ibx_config_init(&t->cfg));
    for (int i = 0; i < o->config->count; i++)
      t->cfg.values[i] = o->config->values[i];
  }
  IBX_TRY(ibx_run_config_resolve(&t->cfg, &t->settings));
  t->config_ini = ibx_config_to_ini(&t->cfg);
  const long threads = t->settings.train.threads;
  if (threads > 0)
    omp_set_num_threads((int)threads);
  if (t->rank == 0) {
    IBX_TRY(ibx_run_dir_write_file(t->dir, "config.ini", t->config_ini));
    if (o->progress) { /* flushed: a log's last line is what `sweep run --local` shows */
      fprintf(o->progress,
              "ibx train: %d rank(s) x %d thread(s), run directory %s\n--- resolved config ---\n"
              "%s-----------------------\nloading data and building the model\n",
              t->world, omp_get_max_threads(), t->dir, t->config_ini);
      fflush(o->progress);
    }
  }
  ibx_precision precision; /* train.precision: the GEMMs' arithmetic (ibx/precision.h) */
  IBX_TRY(ibx_precision_parse(t->settings.train.precision, &precision));
  if (ibx_precision_set(precision))
    return ibx_fail(IBX_ERR_ARG, "train.precision: %s", ibx_errmsg());
  IBX_TRY(setup_data(t));
  IBX_TRY(setup_model(t));
  if (!o->resume && t->settings.train.init_from[0])
    IBX_TRY(init_from(t));
  return IBX_OK;
}

static int start(trainer *t, const ibx_train_options *o, char *ckpt) {
  IBX_TRY(ibx_dist_agree(t->comm, find_run_dir(t, o)));
  t->dir = t->dir_buf;
  IBX_TRY(ibx_dist_agree(t->comm, t->rank == 0 ? claim_run_dir(t, o, ckpt, 4096) : IBX_OK));
  MPI_Bcast(ckpt, 4096, MPI_CHAR, 0, t->comm);
  IBX_TRY(ibx_dist_agree(t->comm, start_local(t, o, ckpt)));
  /* synchronised batch norm: its own communicator, so its blocking
   * reductions never match the gradient buckets' non-blocking ones */
  if (t->settings.train.sync_bn && t->world > 1) {
    if (MPI_Comm_dup(t->comm, &t->bn_comm) != MPI_SUCCESS)
      return ibx_fail(IBX_ERR_MPI, "train.sync_bn: cannot duplicate the communicator");
    t->sync_bn = 1;
    ibx_model_set_bn_reduce(t->model, ibx_dist_bn_allreduce, &t->bn_comm);
  }
  /* rank 0's initial state is everyone's */
  MPI_Bcast(t->params->values, (int)t->params->total, MPI_FLOAT, 0, t->comm);
  if (t->buffers->count)
    MPI_Bcast(t->buffers->values, (int)t->buffers->total, MPI_FLOAT, 0, t->comm);
  gather_hostnames(t);
  t->best_error = 100.0;
  time_t now_t = time(NULL);
  struct tm tm;
  strftime(t->start_time, sizeof t->start_time, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now_t, &tm));
  long keep_step = -1, keep_epoch = -1;
  if (o->resume) {
    ibx_ckpt_meta meta;
    IBX_TRY(
        ibx_dist_agree(t->comm, ibx_checkpoint_read(ckpt, t->params, t->buffers, &t->opt, &meta)));
    t->step = meta.step, t->epoch = meta.epoch, t->best_error = meta.best_error;
    memcpy(t->start_time, meta.start_time, sizeof t->start_time);
    keep_step = meta.step, keep_epoch = meta.epoch;
    if (t->rank == 0 && o->progress)
      fprintf(o->progress, "resumed from %s: epoch %ld, step %ld%s\n", ckpt, t->epoch, t->step,
              meta.world_size != t->world ? " (written by another world size: same global "
                                            "batches, not bit-identical)"
                                          : "");
  }
  int rc = IBX_OK;
  if (t->rank == 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.h5", t->dir);
    rc = ibx_metrics_open(path, keep_step, keep_epoch, &t->metrics);
    if (!rc)
      rc = ibx_run_dir_set_state(t->dir, "running");
  }
  return ibx_dist_agree(t->comm, rc);
}

int ibx_train_run(const ibx_train_options *o) {
  trainer t;
  memset(&t, 0, sizeof t);
  t.comm = o->comm, t.out = o->progress, t.lock_fd = -1;
  MPI_Comm_rank(t.comm, &t.rank);
  MPI_Comm_size(t.comm, &t.world);
  char ckpt[4096] = "";
  t.fail_rank = t.fail_step = -1;
  const char *inject = getenv("IBX_TEST_FAIL_STEP"); /* "RANK:STEP", for the tests only */
  if (inject && sscanf(inject, "%ld:%ld", &t.fail_rank, &t.fail_step) != 2)
    t.fail_rank = t.fail_step = -1;
  int rc = start(&t, o, ckpt);
  if (!rc)
    rc = ibx_dist_agree(t.comm, ibx_watchdog_start(t.settings.train.watchdog_s, t.dir, t.rank,
                                                   o->on_stall, &t.watchdog));
  int status = IBX_TRAIN_FAILED;
  if (!rc) {
    int r = run_epochs(&t);
    if (r == RUN_ABORTED) { /* no collective can be trusted: record, leave to MPI_Abort */
      char msg[512], state[600];
      snprintf(msg, sizeof msg, "%s", ibx_errmsg());
      snprintf(state, sizeof state, "failed: rank %d: %s (job aborted)", t.rank, msg);
      ibx_run_dir_set_state(t.dir, state);
      ibx_fail(IBX_ERR_MPI, "rank %d: %s", t.rank, msg);
      return IBX_TRAIN_ABORTED; /* resources are left to the process's end */
    }
    status = r == RUN_PREEMPTED ? IBX_TRAIN_PREEMPTED : r == IBX_OK ? IBX_TRAIN_DONE : -1;
    rc = ibx_dist_agree(t.comm, status < 0 ? r : IBX_OK);
    if (rc)
      status = IBX_TRAIN_FAILED;
  }
  if (t.rank == 0 && t.claimed) { /* a failure during set-up is recorded too */
    ibx_metrics_close(t.metrics);
    t.metrics = NULL;
    char state[600];
    if (status == IBX_TRAIN_FAILED)
      snprintf(state, sizeof state, "failed: %s", ibx_errmsg());
    ibx_run_dir_set_state(t.dir, status == IBX_TRAIN_DONE ? "done"
                                 : status == IBX_TRAIN_PREEMPTED ? "preempted" : state);
  }
  ibx_watchdog_stop(t.watchdog);
  ibx_metrics_close(t.metrics);
  ibx_run_dir_unlock(t.lock_fd);
  if (t.sync_bn)
    MPI_Comm_free(&t.bn_comm);
  ibx_grad_sync_free(t.sync);
  for (int s = 0; s < t.opt.n_slots; s++)
    ibx_free(t.opt.slot[s]);
  ibx_model_free(t.model);
  ibx_sampler_free(&t.sampler);
  ibx_dataset_close(t.train);
  ibx_dataset_close(t.test);
  ibx_text_close(t.ttrain);
  ibx_text_close(t.ttest);
  ibx_free(t.tokens), ibx_free(t.lengths), ibx_free(t.targets);
  ibx_free(t.x), ibx_free(t.labels), ibx_free(t.idx);
  free(t.config_ini);
  ibx_config_free(&t.cfg);
  return status;
}
