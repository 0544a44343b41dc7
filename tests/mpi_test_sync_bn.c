/* Synchronised batch norm through the real trainer (ibx_train_run: sampler,
 * model, sync-BN allreduce, bucketed gradient allreduce, SGD, checkpoint),
 * under mpiexec -n 2 on Fashion-MNIST with eighth-width VGG-16-BN (plain
 * head, no augmentation, constant learning rate 1e-4, one thread per rank),
 * global batch 64, for 1 and for 20 steps:
 *   sync:  2 ranks x 32 with train.sync_bn=true
 *   local: 2 ranks x 32 without it
 *   ref:   1 rank x 64 (rank 0 alone, on MPI_COMM_SELF)
 * The global batches are the same in all three (the sampler's global order
 * does not depend on the world size); rank 0's final checkpoints are read
 * back and compared as relative L2 differences (||a - b|| / ||b||) of the
 * parameters, of the update (params - init), of the BN running statistics
 * and of the SGD momentum (after step 1: the gradient).
 *
 * Expected: sync computes the same function as ref, only the summation order
 * differs (per-rank partial sums, then the allreduce); local does not: each
 * rank normalises with the mean and variance of its own 32 samples instead
 * of the 64 of the global batch (noisier statistics: sampling error ~
 * 1/sqrt(32) instead of 1/sqrt(64)), which changes the output and the
 * gradient. Measured (2 cores, this config):
 *   step 1:   sync  gradient 1.6e-6 or 3.0e-3, running stats 2e-8;
 *             local gradient 0.89,   running stats 3.5e-3
 * The step-1 gradient: 1.6e-6 with batch norm's earlier sums, 3.0e-3 since
 * they add in a fixed lane order (src/core/reduce.h). Not a lost digit: one
 * ReLU input after features.31 lies within rounding of zero (BN output
 * x - mean at gamma 1, beta 0) and goes the other way under the other
 * order: the gradients of the layers after it still agree to 1e-6, those
 * of the layers before it move by 3e-3, and that BN's gamma gradient
 * (g * xhat, xhat ~ 0 there) not at all. Any summation order can meet such a tie, so step 1 allows
 * 2e-2: still 40x below local BN, which differs everywhere.
 *   step 20:  sync  params 1.8e-6, update 8.7e-3, running stats 9.5e-6
 *             local params 9.6e-5, update 0.47,   running stats 9.5e-3
 * Why 20 steps differ more than rounding: this network amplifies tiny
 * differences fast (ReLU and max-pool switch points; at lr 0.05 even one
 * process with 1 vs 2 threads ends 20 steps ~1e-1 apart in the momentum), so
 * the learning rate is kept small enough that 20 steps stay within 1e-5 of
 * the parameters, as the issue asks, and the step-1 case checks the gradient
 * itself tightly. Thresholds sit 5-10x from the measured values on both
 * sides; the runs are deterministic (fixed threads, 2-rank allreduce). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ibx/checkpoint.h"
#include "ibx/config.h"
#include "ibx/error.h"
#include "ibx/model.h"
#include "ibx/trainer.h"

#define GLOBAL_BATCH 64
#define SEED 11

static int failures;
#define CHECK(cond, ...)            \
  do {                              \
    if (!(cond)) {                  \
      fprintf(stderr, __VA_ARGS__); \
      fprintf(stderr, "\n");        \
      failures++;                   \
    }                               \
  } while (0)

static const char *const common[] = {
    "model.backbone=vgg16", "model.head=plain", "model.width=0.125", "data.augment=false",
    "data.flip=false", "data.test_limit=64", "train.batch_size=64",
    "train.epochs=1", "train.schedule=constant", "train.lr=1e-4", "train.momentum=0.9",
    "train.weight_decay=5e-4", "train.seed=11", "train.log_every=20", "train.threads=1",
    "eval.batch_size=64", "output.keep_last=1", NULL};

/* Trains `steps` steps on comm with the common config plus sync_bn, into dir. */
static int train(MPI_Comm comm, const char *dir, int steps, int sync_bn) {
  ibx_config cfg;
  if (ibx_config_init(&cfg))
    return 1;
  char buf[512];
  int rc = 0;
  for (int i = 0; common[i] && !rc; i++)
    rc = ibx_config_override(&cfg, common[i]);
  snprintf(buf, sizeof buf, "output.dir=%s", dir);
  if (!rc)
    rc = ibx_config_override(&cfg, buf);
  snprintf(buf, sizeof buf, "data.train_limit=%d", steps * GLOBAL_BATCH);
  if (!rc)
    rc = ibx_config_override(&cfg, buf);
  if (!rc)
    rc = ibx_config_override(&cfg, sync_bn ? "train.sync_bn=true" : "train.sync_bn=false");
  if (rc) {
    fprintf(stderr, "config: %s\n", ibx_errmsg());
    ibx_config_free(&cfg);
    return 1;
  }
  ibx_train_options o = {.comm = comm, .config = &cfg}; /* quiet: no progress, no warnings */
  const int status = ibx_train_run(&o);
  if (status != IBX_TRAIN_DONE)
    fprintf(stderr, "training into %s: status %d: %s\n", dir, status, ibx_errmsg());
  ibx_config_free(&cfg);
  return status;
}

/* The final state of a run: parameters, buffers (BN running statistics) and
 * the SGD momentum, read from its last checkpoint into a model of the same
 * shape. */
typedef struct {
  ibx_model *model;
  float *momentum;
  float *init; /* the parameters before training (same seed) */
} state;

static int load(const char *dir, int steps, state *s) {
  ibx_model_config mc;
  memset(&mc, 0, sizeof mc);
  snprintf(mc.backbone, sizeof mc.backbone, "vgg16");
  snprintf(mc.head, sizeof mc.head, "plain");
  ibx_model_config_defaults(&mc);
  mc.in_channels = 1, mc.in_height = mc.in_width = 32, mc.num_classes = 10, mc.width = 0.125f;
  mc.seed = SEED;
  IBX_TRY(ibx_model_create(&mc, 1, &s->model));
  ibx_params *p = ibx_model_params(s->model);
  s->momentum = calloc(p->total, sizeof(float));
  s->init = malloc(p->total * sizeof(float));
  memcpy(s->init, p->values, p->total * sizeof(float));
  ibx_opt_state opt = {1, {"momentum_buffer"}, {s->momentum}};
  ibx_ckpt_meta meta;
  char path[4096];
  snprintf(path, sizeof path, "%s/ckpt-%09d.h5", dir, steps);
  IBX_TRY(ibx_checkpoint_read(path, p, ibx_model_buffers(s->model), &opt, &meta));
  if (meta.step != steps)
    return ibx_fail(IBX_ERR_FORMAT, "%s: step %ld, expected %d", path, meta.step, steps);
  return IBX_OK;
}

static void unload(state *s) {
  ibx_model_free(s->model);
  free(s->momentum);
  free(s->init);
}

/* ||a - b|| / ||b|| in double */
static double rel_diff(const float *a, const float *b, size_t n) {
  double d = 0.0, r = 0.0;
  for (size_t i = 0; i < n; i++) {
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    r += (double)b[i] * b[i];
  }
  return sqrt(d) / (sqrt(r) > 0 ? sqrt(r) : 1.0);
}

typedef struct {
  double params, update, buffers, momentum;
} diffs;

/* ||(a - a0) - (b - b0)|| / ||b - b0||: the difference of what training
 * changed */
static double rel_update_diff(const float *a, const float *a0, const float *b, const float *b0,
                              size_t n) {
  double d = 0.0, r = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double ua = (double)a[i] - a0[i], ub = (double)b[i] - b0[i];
    d += (ua - ub) * (ua - ub);
    r += ub * ub;
  }
  return sqrt(d) / (sqrt(r) > 0 ? sqrt(r) : 1.0);
}

static diffs compare(const state *a, const state *b) {
  ibx_params *pa = ibx_model_params(a->model), *pb = ibx_model_params(b->model);
  ibx_params *ba = ibx_model_buffers(a->model), *bb = ibx_model_buffers(b->model);
  diffs d = {rel_diff(pa->values, pb->values, pa->total),
             rel_update_diff(pa->values, a->init, pb->values, b->init, pa->total),
             rel_diff(ba->values, bb->values, ba->total),
             rel_diff(a->momentum, b->momentum, pa->total)};
  return d;
}

/* A barrier that sleeps instead of spinning, so the waiting rank leaves its
 * core to the one computing the reference. */
static void idle_barrier(void) {
  MPI_Request req;
  int done = 0;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done)
      nanosleep(&(struct timespec){0, 20000000}, NULL);
  }
}

/* Trains the three runs for `steps` steps and compares them on rank 0. */
static void run_case(const char *root, int steps, int rank) {
  char sync_dir[1100], local_dir[1100], ref_dir[1100];
  snprintf(sync_dir, sizeof sync_dir, "%s/sync%d", root, steps);
  snprintf(local_dir, sizeof local_dir, "%s/local%d", root, steps);
  snprintf(ref_dir, sizeof ref_dir, "%s/ref%d", root, steps);
  CHECK(train(MPI_COMM_WORLD, sync_dir, steps, 1) == IBX_TRAIN_DONE, "sync run failed");
  CHECK(train(MPI_COMM_WORLD, local_dir, steps, 0) == IBX_TRAIN_DONE, "local run failed");
  if (rank == 0)
    CHECK(train(MPI_COMM_SELF, ref_dir, steps, 0) == IBX_TRAIN_DONE, "reference run failed");
  idle_barrier();
  if (rank != 0 || failures)
    return;
  state sync = {0}, local = {0}, ref = {0};
  if (load(sync_dir, steps, &sync) || load(local_dir, steps, &local) ||
      load(ref_dir, steps, &ref)) {
    CHECK(0, "reading checkpoints: %s", ibx_errmsg());
  } else {
    const diffs s = compare(&sync, &ref), l = compare(&local, &ref);
    printf("after %d step(s) of batch %d, relative L2 difference to 1 rank x %d:\n"
           "  2 ranks x %d, sync BN:  params %.3g  update %.3g  running stats %.3g  momentum %.3g\n"
           "  2 ranks x %d, local BN: params %.3g  update %.3g  running stats %.3g  momentum %.3g\n",
           steps, GLOBAL_BATCH, GLOBAL_BATCH, GLOBAL_BATCH / 2, s.params, s.update, s.buffers,
           s.momentum, GLOBAL_BATCH / 2, l.params, l.update, l.buffers, l.momentum);
    if (steps == 1) { /* one gradient: the same function, up to summation order */
      CHECK(s.update < 2e-2 && s.momentum < 2e-2 && s.buffers < 1e-6,
            "sync BN, step 1: update %.3g, gradient %.3g, running stats %.3g", s.update,
            s.momentum, s.buffers);
      CHECK(l.update > 1e-1 && l.momentum > 1e-1 && l.buffers > 1e-3,
            "local BN, step 1: update %.3g, gradient %.3g, running stats %.3g: too close",
            l.update, l.momentum, l.buffers);
    } else {
      CHECK(s.params < 1e-5, "sync BN: parameters differ by %.3g", s.params);
      CHECK(s.buffers < 1e-4, "sync BN: running statistics differ by %.3g", s.buffers);
      CHECK(l.params > 2e-5 && l.params > 10 * s.params,
            "local BN: parameters differ by only %.3g", l.params);
      CHECK(l.buffers > 1e-3 && l.update > 10 * s.update,
            "local BN: running statistics differ by only %.3g, update by %.3g", l.buffers,
            l.update);
    }
  }
  unload(&sync), unload(&local), unload(&ref);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world != 2) {
    if (rank == 0)
      fprintf(stderr, "mpi_test_sync_bn: run with 2 ranks\n");
    MPI_Finalize();
    return 1;
  }
  char root[1024];
  if (rank == 0) {
    snprintf(root, sizeof root, "%s/sync_bn_XXXXXX", IBX_TEST_TMP);
    if (!mkdtemp(root))
      root[0] = '\0';
  }
  MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!root[0]) {
    fprintf(stderr, "cannot create a directory under %s\n", IBX_TEST_TMP);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  run_case(root, 1, rank);
  run_case(root, 20, rank);
  int fail_any, fail_local = failures;
  MPI_Allreduce(&fail_local, &fail_any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%s\n", fail_any ? "FAILED" : "mpi_test_sync_bn: passed");
  MPI_Finalize();
  return fail_any ? 1 : 0;
}
