/* Synchronised batch norm (the reduce hook of ibx_batchnorm, layers.h) in one
 * process: two replicas run as two threads on two parts of a batch, and a
 * fake reduction adds their buffers (a barrier-synchronised exchange, fixed
 * order, as MPI_Allreduce with two ranks would). Checks:
 *  - the replicas together equal one batch norm over the whole batch: the
 *    output, the input gradient, the parameter gradients (summed over the
 *    replicas: each holds its own share) and the running statistics, for
 *    plain and fused (ReLU) batch norm, 2-D and 1-D, with unequal parts;
 *  - finite-difference gradients of the loss over both replicas, with the
 *    hook active, match the replicas' backward;
 *  - a single replica with an identity hook is bit-identical to no hook, the
 *    hook is not called in evaluation mode, and a failing hook's error is
 *    passed on;
 *  - ibx_model_set_bn_reduce reaches every batch-norm layer of a model.
 * Tolerances: replicas vs one batch: 2e-5 relative + 2e-6 absolute. Only the
 * summation order differs (per-replica partial sums in double, then added),
 * so the statistics agree to ~1e-7 and y, dx to a few float ulps; 2e-5
 * leaves two orders of margin while a wrong count or a missing reduction
 * changes results by ~1e-1. FD: as tests/test_grad_norm_pool.c (eps 1e-2,
 * rtol 1e-2, atol 2e-3). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/model.h"
#include "testutil.h"

#define MAX_BUF 256

/* ---- two replicas in one process ------------------------------------------ */

typedef struct pair pair;

typedef struct {
  pair *p;
  int id;
  int N;        /* samples of this replica */
  long offset;  /* first float of its part in the whole batch */
  ibx_batchnorm L;
  float *rmean, *rvar, *save_mean, *save_invstd, *dgamma, *dbeta;
  int calls, sizes[8]; /* reduction calls seen (sizes of the first 8) */
  int rc;
} replica;

struct pair {
  int ndim, C, S, relu, training, backward;
  float *x, *y, *dy, *dx, *gamma, *beta; /* whole-batch arrays, shared */
  replica r[2];
  pthread_barrier_t barrier;
  double slot[2][MAX_BUF];
};

/* The fake MPI_Allreduce(SUM): deposit, wait, add in replica order, wait. */
static int fake_allreduce(void *ctx, double *buf, int n) {
  replica *r = ctx;
  pair *p = r->p;
  if (r->calls < 8)
    r->sizes[r->calls] = n;
  r->calls++;
  if (n > MAX_BUF)
    return ibx_fail(IBX_ERR_ARG, "fake allreduce: %d values is more than %d", n, MAX_BUF);
  memcpy(p->slot[r->id], buf, (size_t)n * sizeof(double));
  pthread_barrier_wait(&p->barrier);
  for (int i = 0; i < n; i++)
    buf[i] = p->slot[0][i] + p->slot[1][i];
  pthread_barrier_wait(&p->barrier);
  return IBX_OK;
}

static ibx_tensor part(const pair *p, float *base, const replica *r) {
  float *d = base + r->offset;
  return p->ndim == 4 ? ibx_t4(d, r->N, p->C, p->S, 1) : ibx_t2(d, r->N, p->C);
}

static void *replica_run(void *arg) {
  replica *r = arg;
  pair *p = r->p;
  const int C = p->C;
  ibx_tensor x = part(p, p->x, r), y = part(p, p->y, r), dy = part(p, p->dy, r),
             dx = part(p, p->dx, r);
  ibx_tensor g = ibx_t1(p->gamma, C), b = ibx_t1(p->beta, C), rm = ibx_t1(r->rmean, C),
             rv = ibx_t1(r->rvar, C), dg = ibx_t1(r->dgamma, C), db = ibx_t1(r->dbeta, C);
  r->rc = p->relu ? ibx_batchnorm_relu_forward(&r->L, &x, &g, &b, &rm, &rv, p->training, &y,
                                               r->save_mean, r->save_invstd)
                  : ibx_batchnorm_forward(&r->L, &x, &g, &b, &rm, &rv, p->training, &y,
                                          r->save_mean, r->save_invstd);
  if (r->rc || !p->backward)
    return NULL;
  memset(r->dgamma, 0, (size_t)C * sizeof(float));
  memset(r->dbeta, 0, (size_t)C * sizeof(float));
  r->rc = p->relu ? ibx_batchnorm_relu_backward(&r->L, &x, &g, r->save_mean, r->save_invstd,
                                                p->training, &y, &dy, &dx, &dg, &db)
                  : ibx_batchnorm_backward(&r->L, &x, &g, r->save_mean, r->save_invstd,
                                           p->training, &dy, &dx, &dg, &db);
  return NULL;
}

/* Runs both replicas (forward, and backward when p->backward) concurrently. */
static void pair_run(pair *p) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, replica_run, &p->r[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
}

/* A pair over a batch of n0 + n1 samples with random data (channel offsets
 * so means are not 0), running statistics 0.2 / 1.5 on both replicas. */
static pair *pair_new(int ndim, int n0, int n1, int C, int S, int relu) {
  pair *p = calloc(1, sizeof *p);
  p->ndim = ndim, p->C = C, p->S = ndim == 4 ? S : 1, p->relu = relu;
  p->training = p->backward = 1;
  const size_t n = (size_t)(n0 + n1) * C * p->S;
  p->x = tu_alloc_randn(n, 1.5f, 41);
  for (size_t i = 0; i < n; i++)
    p->x[i] += 0.7f * (float)((i / (size_t)p->S) % (size_t)C) - 1.0f;
  p->dy = tu_alloc_randn(n, 1.0f, 42);
  p->y = calloc(n, sizeof(float));
  p->dx = calloc(n, sizeof(float));
  p->gamma = tu_alloc_randn((size_t)C, 0.3f, 43);
  for (int c = 0; c < C; c++)
    p->gamma[c] += 1.0f;
  p->beta = tu_alloc_randn((size_t)C, 0.5f, 44);
  pthread_barrier_init(&p->barrier, NULL, 2);
  for (int i = 0; i < 2; i++) {
    replica *r = &p->r[i];
    r->p = p, r->id = i, r->N = i ? n1 : n0;
    r->offset = i ? (long)n0 * C * p->S : 0;
    r->L = (ibx_batchnorm){.channels = C, .eps = 1e-5f, .momentum = 0.1f,
                           .reduce = fake_allreduce, .reduce_ctx = r};
    float *v = calloc(6 * (size_t)C, sizeof(float));
    r->rmean = v, r->rvar = v + C, r->save_mean = v + 2 * C, r->save_invstd = v + 3 * C;
    r->dgamma = v + 4 * C, r->dbeta = v + 5 * C;
    for (int c = 0; c < C; c++)
      r->rmean[c] = 0.2f, r->rvar[c] = 1.5f;
  }
  return p;
}

static void pair_free(pair *p) {
  pthread_barrier_destroy(&p->barrier);
  for (int i = 0; i < 2; i++)
    free(p->r[i].rmean);
  free(p->x), free(p->dy), free(p->y), free(p->dx), free(p->gamma), free(p->beta);
  free(p);
}

/* One layer without hook over the whole batch of p (same data), into the
 * given outputs. */
static void whole_batch(const pair *p, float *y, float *dx, float *dgamma, float *dbeta,
                        float *rmean, float *rvar) {
  const int C = p->C, N = p->r[0].N + p->r[1].N;
  const ibx_batchnorm L = {.channels = C, .eps = 1e-5f, .momentum = 0.1f};
  ibx_tensor x = p->ndim == 4 ? ibx_t4(p->x, N, C, p->S, 1) : ibx_t2(p->x, N, C);
  ibx_tensor yt = x, dyt = x, dxt = x;
  yt.data = y, dyt.data = p->dy, dxt.data = dx;
  ibx_tensor g = ibx_t1(p->gamma, C), b = ibx_t1(p->beta, C), rm = ibx_t1(rmean, C),
             rv = ibx_t1(rvar, C), dg = ibx_t1(dgamma, C), db = ibx_t1(dbeta, C);
  float *sm = calloc(2 * (size_t)C, sizeof(float)), *si = sm + C;
  for (int c = 0; c < C; c++)
    rmean[c] = 0.2f, rvar[c] = 1.5f, dgamma[c] = dbeta[c] = 0.0f;
  if (p->relu) {
    assert_ibx_ok(ibx_batchnorm_relu_forward(&L, &x, &g, &b, &rm, &rv, p->training, &yt, sm, si));
    assert_ibx_ok(ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, p->training, &yt, &dyt, &dxt,
                                              &dg, &db));
  } else {
    assert_ibx_ok(ibx_batchnorm_forward(&L, &x, &g, &b, &rm, &rv, p->training, &yt, sm, si));
    assert_ibx_ok(ibx_batchnorm_backward(&L, &x, &g, sm, si, p->training, &dyt, &dxt, &dg, &db));
  }
  free(sm);
}

/* ---- replicas == one batch ------------------------------------------------- */

static void check_equivalence(const char *name, int ndim, int n0, int n1, int C, int S, int relu) {
  pair *p = pair_new(ndim, n0, n1, C, S, relu);
  pair_run(p);
  for (int i = 0; i < 2; i++) {
    if (p->r[i].rc)
      fail_msg("%s: replica %d: %s", name, i, ibx_errmsg());
    /* forward: sums + count, squared deviations; backward: grad sums + count */
    assert_int_equal(p->r[i].calls, 3);
    assert_int_equal(p->r[i].sizes[0], C + 1);
    assert_int_equal(p->r[i].sizes[1], C);
    assert_int_equal(p->r[i].sizes[2], 2 * C + 1);
  }
  const size_t n = (size_t)(n0 + n1) * C * p->S;
  float *y = calloc(n, sizeof(float)), *dx = calloc(n, sizeof(float));
  float *v = calloc(4 * (size_t)C, sizeof(float));
  float *dgamma = v, *dbeta = v + C, *rmean = v + 2 * C, *rvar = v + 3 * C;
  whole_batch(p, y, dx, dgamma, dbeta, rmean, rvar);

  float dg_sum[64], db_sum[64];
  assert_true(C <= 64);
  for (int c = 0; c < C; c++) {
    dg_sum[c] = p->r[0].dgamma[c] + p->r[1].dgamma[c];
    db_sum[c] = p->r[0].dbeta[c] + p->r[1].dbeta[c];
  }
  const double rtol = 2e-5, atol = 2e-6;
  char what[128];
#define CLOSE(label, a, b, k)                                   \
  do {                                                          \
    snprintf(what, sizeof what, "%s: %s", name, label);         \
    tu_assert_close(what, a, b, k, rtol, atol);                 \
  } while (0)
  CLOSE("y", p->y, y, n);
  CLOSE("dx", p->dx, dx, n);
  CLOSE("dgamma (sum of replicas)", dg_sum, dgamma, (size_t)C);
  CLOSE("dbeta (sum of replicas)", db_sum, dbeta, (size_t)C);
  for (int i = 0; i < 2; i++) {
    CLOSE("running_mean", p->r[i].rmean, rmean, (size_t)C);
    CLOSE("running_var (unbiased with the global count)", p->r[i].rvar, rvar, (size_t)C);
  }
  /* each replica alone is a different computation: the check can fail */
  float local_dg[64];
  for (int c = 0; c < C; c++)
    local_dg[c] = 2.0f * p->r[0].dgamma[c];
  int differs = 0;
  for (int c = 0; c < C; c++)
    differs |= fabsf(local_dg[c] - dgamma[c]) > 1e-3f * (1.0f + fabsf(dgamma[c]));
  assert_true(differs);
  free(y), free(dx), free(v);
  pair_free(p);
}

static void test_bn2d_equals_whole_batch(void **state) {
  (void)state;
  check_equivalence("bn2d 4+4", 4, 4, 4, 5, 6, 0);
  check_equivalence("bn2d 3+5", 4, 3, 5, 5, 6, 0);
}

static void test_fused_relu_equals_whole_batch(void **state) {
  (void)state;
  check_equivalence("bn-relu 4+4", 4, 4, 4, 5, 6, 1);
  check_equivalence("bn-relu 2+7", 4, 2, 7, 3, 9, 1);
}

static void test_bn1d_equals_whole_batch(void **state) {
  (void)state;
  check_equivalence("bn1d 6+6", 2, 6, 6, 7, 1, 0);
  /* one sample per replica: only the global count (2) makes training valid */
  check_equivalence("bn1d 1+1", 2, 1, 1, 7, 1, 0);
}

/* ---- finite differences with the hook active ------------------------------- */

static double pair_loss(void *ctx) {
  pair *p = ctx;
  p->backward = 0;
  pair_run(p);
  p->backward = 1;
  for (int i = 0; i < 2; i++)
    if (p->r[i].rc)
      fail_msg("replica %d: %s", i, ibx_errmsg());
  const size_t n = (size_t)(p->r[0].N + p->r[1].N) * p->C * p->S;
  return tu_dot(p->y, p->dy, n); /* L = sum y .* G over both replicas, dL/dy = G */
}

static void check_fd(const char *name, int ndim, int n0, int n1, int C, int S, int relu) {
  pair *p = pair_new(ndim, n0, n1, C, S, relu);
  pair_run(p);
  assert_int_equal(p->r[0].rc, IBX_OK);
  assert_int_equal(p->r[1].rc, IBX_OK);
  const size_t n = (size_t)(n0 + n1) * C * p->S;
  float *dx = malloc(n * sizeof(float)), dg[64], db[64];
  memcpy(dx, p->dx, n * sizeof(float));
  for (int c = 0; c < C; c++) {
    dg[c] = p->r[0].dgamma[c] + p->r[1].dgamma[c];
    db[c] = p->r[0].dbeta[c] + p->r[1].dbeta[c];
  }
  char what[128];
  const double rtol = 1e-2, atol = 2e-3;
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, pair_loss, p, p->x, dx, n, 1e-2f, rtol, atol, 0);
  snprintf(what, sizeof what, "%s: dgamma", name);
  tu_check_grad(what, pair_loss, p, p->gamma, dg, (size_t)C, 1e-2f, rtol, atol, 0);
  snprintf(what, sizeof what, "%s: dbeta", name);
  tu_check_grad(what, pair_loss, p, p->beta, db, (size_t)C, 1e-2f, rtol, atol, 0);
  free(dx);
  pair_free(p);
}

static void test_fd_with_hook(void **state) {
  (void)state;
  check_fd("sync bn2d 2+3", 4, 2, 3, 3, 4, 0);
  check_fd("sync bn-relu 3+2", 4, 3, 2, 3, 4, 1);
  check_fd("sync bn1d 3+4", 2, 3, 4, 4, 1, 0);
}

/* ---- one replica, eval mode, errors ------------------------------------------ */

static int identity_calls;
static int identity_reduce(void *ctx, double *buf, int n) {
  (void)ctx, (void)buf, (void)n;
  identity_calls++;
  return IBX_OK;
}

static int failing_reduce(void *ctx, double *buf, int n) {
  (void)ctx, (void)buf, (void)n;
  return ibx_fail(IBX_ERR_MPI, "peer vanished");
}

/* Runs forward + backward (training or eval) with hook fn on pair p's whole
 * batch as a single replica; returns the status. */
static int single(pair *p, ibx_bn_reduce_fn fn, float *y, float *dx, float *dg, float *rv) {
  const int C = p->C, N = p->r[0].N + p->r[1].N;
  const ibx_batchnorm L = {.channels = C, .eps = 1e-5f, .momentum = 0.1f, .reduce = fn};
  ibx_tensor x = ibx_t4(p->x, N, C, p->S, 1), yt = x, dyt = x, dxt = x;
  yt.data = y, dyt.data = p->dy, dxt.data = dx;
  float rm[64] = {0}, db[64] = {0}, sm[64], si[64];
  for (int c = 0; c < C; c++)
    rv[c] = 1.0f, dg[c] = 0.0f;
  ibx_tensor g = ibx_t1(p->gamma, C), b = ibx_t1(p->beta, C), rmt = ibx_t1(rm, C),
             rvt = ibx_t1(rv, C), dgt = ibx_t1(dg, C), dbt = ibx_t1(db, C);
  IBX_TRY(ibx_batchnorm_relu_forward(&L, &x, &g, &b, &rmt, &rvt, p->training, &yt, sm, si));
  return ibx_batchnorm_relu_backward(&L, &x, &g, sm, si, p->training, &yt, &dyt, &dxt, &dgt,
                                     &dbt);
}

static void test_single_replica_and_eval(void **state) {
  (void)state;
  pair *p = pair_new(4, 3, 3, 4, 5, 1);
  const size_t n = (size_t)6 * 4 * 5;
  float *a = calloc(4 * n, sizeof(float)), *b = a + 2 * n, dga[64], dgb[64], rva[64], rvb[64];
  for (int training = 1; training >= 0; training--) {
    p->training = training;
    identity_calls = 0;
    assert_ibx_ok(single(p, NULL, a, a + n, dga, rva));
    assert_ibx_ok(single(p, identity_reduce, b, b + n, dgb, rvb));
    /* one replica: the synchronised path is the local computation, bit for bit */
    assert_memory_equal(a, b, 2 * n * sizeof(float));
    assert_memory_equal(dga, dgb, 4 * sizeof(float));
    assert_memory_equal(rva, rvb, 4 * sizeof(float));
    assert_int_equal(identity_calls, training ? 3 : 0); /* eval: running stats, no reduction */
  }
  p->training = 1;
  assert_int_equal(single(p, failing_reduce, a, a + n, dga, rva), IBX_ERR_MPI);
  assert_non_null(strstr(ibx_errmsg(), "peer vanished"));
  assert_non_null(strstr(ibx_errmsg(), "batchnorm_relu_forward"));
  free(a);
  pair_free(p);
}

/* ---- the model setter ------------------------------------------------------ */

static int model_calls;
static int counting_reduce(void *ctx, double *buf, int n) {
  (void)buf, (void)n;
  (*(int *)ctx)++;
  return IBX_OK;
}

static void test_model_setter_reaches_every_layer(void **state) {
  (void)state;
  ibx_model_config cfg;
  memset(&cfg, 0, sizeof cfg);
  snprintf(cfg.backbone, sizeof cfg.backbone, "vgg16");
  snprintf(cfg.head, sizeof cfg.head, "plain");
  ibx_model_config_defaults(&cfg);
  cfg.in_channels = 1, cfg.in_height = cfg.in_width = 32, cfg.num_classes = 10;
  cfg.width = 0.0625f;
  ibx_model *m;
  assert_ibx_ok(ibx_model_create(&cfg, 2, &m));
  float *x = tu_alloc_randn(2 * 32 * 32, 1.0f, 7);
  const int labels[2] = {1, 3};
  ibx_loss_parts loss;
  ibx_tensor logits;
  ibx_model_set_bn_reduce(m, counting_reduce, &model_calls);
  assert_ibx_ok(ibx_model_forward(m, x, labels, 2, 1, 0, &loss, &logits));
  assert_int_equal(model_calls, 2 * 13); /* VGG-16-BN: 13 batch norms, 2 calls each */
  assert_ibx_ok(ibx_model_backward(m, NULL));
  assert_int_equal(model_calls, 3 * 13);
  assert_ibx_ok(ibx_model_forward(m, x, labels, 2, 0, 0, &loss, &logits));
  assert_int_equal(model_calls, 3 * 13); /* evaluation: no reduction */
  ibx_model_set_bn_reduce(m, NULL, NULL);
  assert_ibx_ok(ibx_model_forward(m, x, labels, 2, 1, 0, &loss, &logits));
  assert_int_equal(model_calls, 3 * 13);
  free(x);
  ibx_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn2d_equals_whole_batch),
      cmocka_unit_test(test_fused_relu_equals_whole_batch),
      cmocka_unit_test(test_bn1d_equals_whole_batch),
      cmocka_unit_test(test_fd_with_hook),
      cmocka_unit_test(test_single_replica_and_eval),
      cmocka_unit_test(test_model_setter_reaches_every_layer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
