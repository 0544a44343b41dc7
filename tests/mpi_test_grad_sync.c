/* Bucketed allreduce under mpirun -n 2 (or more): after finish() every rank
 * holds the mean of all ranks' gradients, bit-identical across ranks, for
 * buckets smaller than, equal to and larger than the buffer, with readiness
 * reported in layer-sized steps as backward would. Also ibx_dist_agree: every
 * rank returns the same verdict and the lowest failing rank's message; and
 * ibx_dist_prefer_ring_buckets: libnbc's ring unless the user chose, seen by
 * Open MPI itself (its control variable, read through MPI_T). */
#include <string.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ibx/dist.h"
#include "ibx/error.h"

static int failures;
#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      fprintf(stderr, __VA_ARGS__);             \
      fprintf(stderr, "\n");                    \
      failures++;                               \
    }                                           \
  } while (0)

static float value(int rank, size_t i) { return (float)((rank + 1) * 0.5 + (double)(i % 97) * 0.25); }

static void run_case(size_t n, size_t bucket_bytes, size_t layer) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  float *g = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    g[i] = value(rank, i);
  ibx_grad_sync *s;
  if (ibx_grad_sync_create(MPI_COMM_WORLD, g, n, bucket_bytes, &s)) {
    CHECK(0, "create: %s", ibx_errmsg());
    return;
  }
  for (int step = 0; step < 2; step++) {
    for (size_t i = 0; i < n; i++)
      g[i] = value(rank, i);
    ibx_grad_sync_begin(s);
    for (size_t done = n; done > 0;) { /* "backward": layers finish from the end */
      done = done > layer ? done - layer : 0;
      ibx_grad_sync_ready(s, done);
    }
    CHECK(ibx_grad_sync_finish(s) == IBX_OK, "finish: %s", ibx_errmsg());
    for (size_t i = 0; i < n; i++) {
      double mean = 0;
      for (int r = 0; r < world; r++)
        mean += value(r, i);
      mean /= world;
      CHECK(fabs(g[i] - mean) < 1e-5, "n=%zu bucket=%zu: g[%zu]=%g, expected %g", n,
            bucket_bytes, i, (double)g[i], mean);
      if (fabs(g[i] - mean) >= 1e-5)
        break;
    }
    if (world > 1)
      CHECK(ibx_grad_sync_early_buckets(s) > 0 || ibx_grad_sync_bucket_count(s) == 1,
            "no bucket started before finish (n=%zu)", n);
  }
  /* identical on every rank */
  float *root = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    root[i] = g[i];
  MPI_Bcast(root, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
  for (size_t i = 0; i < n; i++)
    if (root[i] != g[i]) {
      CHECK(0, "rank %d differs from rank 0 at %zu", rank, i);
      break;
    }
  free(root);
  ibx_grad_sync_free(s);
  free(g);
}

/* ranks listed in fail_mask (bit r: rank r) fail with "boom on rank r" */
static void check_agree(unsigned fail_mask) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  ibx_clear_error();
  const int mine = (fail_mask >> rank) & 1 ? ibx_fail(IBX_ERR_IO, "boom on rank %d", rank) : IBX_OK;
  const int rc = ibx_dist_agree(MPI_COMM_WORLD, mine);
  int first = -1;
  for (int r = 0; r < world && first < 0; r++)
    if ((fail_mask >> r) & 1)
      first = r;
  if (first < 0) {
    CHECK(rc == IBX_OK, "agree(all ok) on rank %d: %d", rank, rc);
    return;
  }
  char want[64];
  snprintf(want, sizeof want, "boom on rank %d", first);
  CHECK(rc == (mine ? IBX_ERR_IO : IBX_ERR_MPI), "agree(mask %u) on rank %d returned %d", fail_mask,
        rank, rc);
  CHECK(!strcmp(ibx_errmsg(), want), "agree(mask %u) on rank %d: message '%s', want '%s'",
        fail_mask, rank, ibx_errmsg(), want);
}

#define LIBNBC_VAR "OMPI_MCA_coll_libnbc_iallreduce_algorithm"

/* Before MPI_Init: the variable is set to the ring when absent, a user's
 * value is kept; the run goes on with the ring. */
static void check_prefer_ring_env(void) {
  unsetenv(LIBNBC_VAR);
  ibx_dist_prefer_ring_buckets();
  CHECK(getenv(LIBNBC_VAR) && !strcmp(getenv(LIBNBC_VAR), "1"), "prefer_ring: %s not set to 1",
        LIBNBC_VAR);
  setenv(LIBNBC_VAR, "2", 1);
  ibx_dist_prefer_ring_buckets();
  CHECK(!strcmp(getenv(LIBNBC_VAR), "2"), "prefer_ring: overwrote the user's %s", LIBNBC_VAR);
  unsetenv(LIBNBC_VAR);
  ibx_dist_prefer_ring_buckets();
}

/* After MPI_Init: Open MPI's control variable holds the ring (1); skipped
 * where the library has no such variable (another MPI). */
static void check_prefer_ring_cvar(void) {
  int provided, n = 0;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS)
    return;
  MPI_T_cvar_get_num(&n);
  for (int i = 0; i < n; i++) {
    char name[256], desc[256];
    int name_len = sizeof name, desc_len = sizeof desc, verbosity, bind, scope, count, value = -1;
    MPI_Datatype type;
    MPI_T_enum enumtype;
    if (MPI_T_cvar_get_info(i, name, &name_len, &verbosity, &type, &enumtype, desc, &desc_len,
                            &bind, &scope) != MPI_SUCCESS ||
        strcmp(name, "coll_libnbc_iallreduce_algorithm"))
      continue;
    MPI_T_cvar_handle h;
    if (type == MPI_INT && MPI_T_cvar_handle_alloc(i, NULL, &h, &count) == MPI_SUCCESS) {
      MPI_T_cvar_read(h, &value);
      MPI_T_cvar_handle_free(&h);
      CHECK(value == 1, "prefer_ring: Open MPI's %s is %d, want 1 (ring)", name, value);
    }
  }
  MPI_T_finalize();
}

int main(int argc, char **argv) {
  check_prefer_ring_env();
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  check_prefer_ring_cvar();
  run_case(1000, 400, 37);        /* many small buckets */
  run_case(1000, 4000, 100);      /* one bucket exactly */
  run_case(1000, 1 << 20, 1000);  /* bucket larger than the buffer */
  run_case(333333, 100000, 4096); /* uneven last bucket */
  check_agree(0);                 /* nobody fails */
  check_agree(2);                 /* rank 1 only */
  check_agree(3);                 /* ranks 0 and 1: rank 0's message */
  int total;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    printf("%s: grad sync on %d ranks: %d failure(s)\n", total ? "FAILED" : "PASSED", world, total);
  MPI_Finalize();
  return total ? 1 : 0;
}
