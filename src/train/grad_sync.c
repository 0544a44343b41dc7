/* Bucketed, overlapped gradient allreduce and synchronised batch norm's
 * reduction (see include/ibx/dist.h). */
#include <stdlib.h>

#include "ibx/dist.h"
#include "ibx/error.h"

struct ibx_grad_sync {
  MPI_Comm comm;
  int world;
  float *grads;
  size_t n;
  int n_buckets;
  size_t *start;        /* bucket b covers [start[b], start[b] + len[b]) */
  size_t *len;
  MPI_Request *req;
  int next;             /* buckets 0..next-1 are launched; bucket 0 is the last one */
  double wait_seconds;
  int early;
};

void ibx_dist_prefer_ring_buckets(void) {
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0); /* 0: the user's setting wins */
}

int ibx_grad_sync_create(MPI_Comm comm, float *grads, size_t n, size_t bucket_bytes,
                         ibx_grad_sync **out) {
  if (!grads || n == 0 || bucket_bytes < sizeof(float))
    return ibx_fail(IBX_ERR_ARG, "grad sync: empty gradient buffer or bucket below 4 bytes");
  ibx_grad_sync *g = calloc(1, sizeof *g);
  if (!g)
    return ibx_fail(IBX_ERR_NOMEM, "grad sync: out of memory");
  MPI_Comm_size(comm, &g->world);
  g->comm = comm, g->grads = grads, g->n = n;
  const size_t per = bucket_bytes / sizeof(float);
  g->n_buckets = (int)((n + per - 1) / per);
  g->start = malloc((size_t)g->n_buckets * sizeof *g->start);
  g->len = malloc((size_t)g->n_buckets * sizeof *g->len);
  g->req = malloc((size_t)g->n_buckets * sizeof *g->req);
  if (!g->start || !g->len || !g->req) {
    ibx_grad_sync_free(g);
    return ibx_fail(IBX_ERR_NOMEM, "grad sync: out of memory");
  }
  /* Bucket 0 ends at n: backward finishes the end of the buffer first. */
  for (int b = 0; b < g->n_buckets; b++) {
    const size_t end = n - (size_t)b * per;
    g->start[b] = end > per ? end - per : 0;
    g->len[b] = end - g->start[b];
    g->req[b] = MPI_REQUEST_NULL;
  }
  *out = g;
  return IBX_OK;
}

void ibx_grad_sync_free(ibx_grad_sync *g) {
  if (!g)
    return;
  free(g->start);
  free(g->len);
  free(g->req);
  free(g);
}

void ibx_grad_sync_begin(ibx_grad_sync *g) {
  g->next = 0;
  g->early = 0;
  g->wait_seconds = 0.0;
}

static void launch(ibx_grad_sync *g, int b) {
  MPI_Iallreduce(MPI_IN_PLACE, g->grads + g->start[b], (int)g->len[b], MPI_FLOAT, MPI_SUM,
                 g->comm, &g->req[b]);
}

void ibx_grad_sync_ready(void *ctx, size_t ready_from) {
  ibx_grad_sync *g = ctx;
  if (g->world == 1 || ready_from == 0)
    return; /* backward is over: finish() reduces the rest, blocking (see there) */
  while (g->next < g->n_buckets && g->start[g->next] >= ready_from) {
    launch(g, g->next++);
    g->early++;
  }
  /* Open MPI progresses non-blocking collectives only inside MPI calls:
   * testing here lets buckets move while backward computes the next layer. */
  int done;
  if (g->next)
    MPI_Testall(g->next, g->req, &done, MPI_STATUSES_IGNORE);
}

int ibx_grad_sync_finish(ibx_grad_sync *g) {
  if (g->world == 1)
    return IBX_OK;
  /* Buckets that became ready only when backward ended have nothing left to
   * hide behind: a blocking allreduce (Open MPI's tuned algorithms) is no
   * slower and usually faster than a non-blocking one (libnbc). Every rank makes the same sequence of calls, since the
   * ready points depend only on the model. */
  const double t0 = MPI_Wtime();
  int rc = MPI_Waitall(g->next, g->req, MPI_STATUSES_IGNORE);
  for (int b = g->next; b < g->n_buckets && rc == MPI_SUCCESS; b++)
    rc = MPI_Allreduce(MPI_IN_PLACE, g->grads + g->start[b], (int)g->len[b], MPI_FLOAT, MPI_SUM,
                       g->comm);
  g->wait_seconds = MPI_Wtime() - t0;
  if (rc != MPI_SUCCESS)
    return ibx_fail(IBX_ERR_MPI, "gradient allreduce failed (MPI error %d)", rc);
  const float inv = 1.0f / (float)g->world;
  float *grads = g->grads;
#pragma omp parallel for simd schedule(static) if (g->n > 65536)
  for (size_t i = 0; i < g->n; i++)
    grads[i] *= inv;
  return IBX_OK;
}

double ibx_grad_sync_wait_seconds(const ibx_grad_sync *g) { return g->wait_seconds; }
int ibx_grad_sync_early_buckets(const ibx_grad_sync *g) { return g->early; }
int ibx_grad_sync_bucket_count(const ibx_grad_sync *g) { return g->n_buckets; }

int ibx_dist_bn_allreduce(void *comm, double *buf, int n) {
  const int rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, *(MPI_Comm *)comm);
  if (rc != MPI_SUCCESS)
    return ibx_fail(IBX_ERR_MPI, "batch-norm statistics allreduce failed (MPI error %d)", rc);
  return IBX_OK;
}
