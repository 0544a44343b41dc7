/* Data-parallel scaling of the VGG-16-BN training step (issue 5 benchmark).
 *
 *   mpirun -n R bench_dist WIDTH GLOBAL_BATCH IN_CHANNELS [STEPS [BUCKET_MB]]
 *
 * Each rank runs forward + backward on GLOBAL_BATCH/R random images with the
 * bucketed, overlapped allreduce (25 MB buckets) and an SGD step. Prints the
 * global img/s and the overlap efficiency: 1 - (time still spent waiting for
 * the allreduce after backward) / (time of the same allreduce when nothing
 * hides it, measured separately as a blocking allreduce of the whole buffer
 * after an idle gap of one step's compute; allreduce_b2b_ms: back to back).
 * The waiting time is taken from the rank that waited least: a rank that
 * finishes its backward early also waits for the slower rank to arrive (load
 * imbalance, OS noise), which is not communication left exposed; the last
 * rank to arrive waits only for the part of the allreduce nothing hid.
 * The largest wait is printed too, and the time of a one-float allreduce
 * (latency_us: the latency term of the scaling model, docs/performance.md). */
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibx/dist.h"
#include "ibx/error.h"
#include "ibx/model.h"
#include "ibx/optim.h"
#include "ibx/rng.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc < 4) {
    if (!rank)
      fprintf(stderr, "usage: %s WIDTH GLOBAL_BATCH IN_CHANNELS [STEPS [BUCKET_MB]]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const float width = (float)atof(argv[1]);
  const int global = atoi(argv[2]), in_ch = atoi(argv[3]);
  const int steps = argc > 4 ? atoi(argv[4]) : 8;
  const double bucket_mb = argc > 5 ? atof(argv[5]) : 25.0;
  const int B = global / world;
  ibx_model_config mc;
  memset(&mc, 0, sizeof mc);
  strcpy(mc.backbone, "vgg16");
  strcpy(mc.head, "plain");
  ibx_model_config_defaults(&mc);
  mc.in_channels = in_ch, mc.width = width;
  ibx_model *m;
  ibx_grad_sync *g;
  if (ibx_model_create(&mc, B, &m)) {
    fprintf(stderr, "bench_dist: %s\n", ibx_errmsg());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  ibx_params *p = ibx_model_params(m);
  ibx_grad_sync_create(MPI_COMM_WORLD, p->grads, p->total, (size_t)(bucket_mb * (1 << 20)), &g);
  ibx_model_set_grad_hook(m, ibx_grad_sync_ready, g);
  float *x = malloc((size_t)B * in_ch * 32 * 32 * sizeof(float));
  float *vel = calloc(p->total, sizeof(float));
  int *y = malloc((size_t)B * sizeof(int));
  ibx_rng_fill_normal(x, (size_t)B * in_ch * 32 * 32, 0, (uint64_t)rank, 0);
  for (int i = 0; i < B; i++)
    y[i] = i % 10;
  const ibx_sgd sgd = {0.9f, 0.0f, 0, 0.0f};
  double wait = 0.0, t0 = 0.0;
  for (int s = -2; s < steps; s++) { /* two warm-up steps */
    if (s == 0) {
      MPI_Barrier(MPI_COMM_WORLD);
      t0 = MPI_Wtime();
    }
    ibx_loss_parts parts;
    ibx_params_zero_grads(p);
    ibx_grad_sync_begin(g);
    if (ibx_model_forward(m, x, y, B, 1, (uint64_t)s, &parts, NULL) ||
        ibx_model_backward(m, NULL) || ibx_grad_sync_finish(g) ||
        ibx_sgd_step(&sgd, 0.01f, p->values, p->grads, vel, p->total, s + 2)) {
      fprintf(stderr, "bench_dist: %s\n", ibx_errmsg());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (s >= 0)
      wait += ibx_grad_sync_wait_seconds(g);
  }
  const double secs = MPI_Wtime() - t0;
  double wait_min = wait, wait_max = wait;
  MPI_Allreduce(&wait, &wait_min, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&wait, &wait_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  /* The same communication with nothing to hide behind, as a step sees it:
   * after an idle gap as long as a step's compute (the link drains between
   * steps). Also timed back to back: on 2 ranks over TCP, back-to-back
   * allreduces settle into a state where only one direction of the link
   * carries data at a time and take twice as long (docs/performance.md,
   * "Back-to-back allreduces"), which no training step sees. */
  double bare = 0.0, bare_b2b = 0.0;
  if (world > 1) {
    double compute = (secs - wait) / steps, compute_max = compute;
    MPI_Allreduce(&compute, &compute_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    const struct timespec gap = {(time_t)compute_max,
                                 (long)((compute_max - (double)(time_t)compute_max) * 1e9)};
    for (int s = 0; s < steps; s++) {
      nanosleep(&gap, NULL);
      MPI_Barrier(MPI_COMM_WORLD);
      const double b0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, p->grads, (int)p->total, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      bare += MPI_Wtime() - b0;
    }
    bare /= steps;
    MPI_Barrier(MPI_COMM_WORLD);
    const double b0 = MPI_Wtime();
    for (int s = 0; s < steps; s++)
      MPI_Allreduce(MPI_IN_PLACE, p->grads, (int)p->total, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    bare_b2b = (MPI_Wtime() - b0) / steps;
  }
  double latency = 0.0;
  if (world > 1) {
    float one = 1.0f;
    const int reps = 200;
    MPI_Barrier(MPI_COMM_WORLD);
    const double l0 = MPI_Wtime();
    for (int s = 0; s < reps; s++)
      MPI_Allreduce(MPI_IN_PLACE, &one, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    latency = (MPI_Wtime() - l0) / reps;
  }
  if (!rank) {
    printf("ranks=%d threads=%d width=%g global_batch=%d in=%d params=%zu bucket_mb=%g "
           "img_per_s=%.1f step_ms=%.1f",
           world, omp_get_max_threads(), (double)width, global, in_ch, ibx_params_count(p),
           bucket_mb, steps * (double)global / secs, 1e3 * secs / steps);
    if (world > 1)
      printf(" allreduce_ms=%.1f allreduce_b2b_ms=%.1f exposed_wait_ms=%.1f max_rank_wait_ms=%.1f"
             " overlap_efficiency=%.2f latency_us=%.1f",
             1e3 * bare, 1e3 * bare_b2b, 1e3 * wait_min / steps, 1e3 * wait_max / steps,
             bare > 0 ? 1.0 - (wait_min / steps) / bare : 0.0, 1e6 * latency);
    printf("\n");
  }
  ibx_grad_sync_free(g);
  ibx_model_free(m);
  free(x), free(vel), free(y);
  MPI_Finalize();
  return 0;
}
