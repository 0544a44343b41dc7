/* Data-parallel gradient averaging (the PyTorch DDP / Horovod idea): the
 * gradient buffer is cut into buckets of ~bucket_bytes from its end; as
 * backward finishes the layers inside a bucket (reported through the model's
 * grad-ready hook), that bucket's MPI_Iallreduce starts at once, so
 * communication overlaps the rest of backward. finish() starts whatever is
 * left, waits, and divides by the world size. */
#ifndef IBX_DIST_H
#define IBX_DIST_H

#include <mpi.h>
#include <stddef.h>

typedef struct ibx_grad_sync ibx_grad_sync;

/* Call before MPI_Init: makes Open MPI's non-blocking allreduce (libnbc),
 * which carries the buckets sent during backward, use its ring unless the
 * user set coll_libnbc_iallreduce_algorithm. Its default for fewer than 4
 * ranks or an in-place buffer (ours) is a binomial tree, a reduce then a
 * broadcast, which moves twice the ring's bytes: with it, smaller buckets
 * made a step wait longer, not shorter (docs/performance.md, runs 7-10).
 * Other MPI libraries ignore the variable. */
void ibx_dist_prefer_ring_buckets(void);

int ibx_grad_sync_create(MPI_Comm comm, float *grads, size_t n, size_t bucket_bytes,
                         ibx_grad_sync **out);
void ibx_grad_sync_free(ibx_grad_sync *g);

/* Marks a new backward pass: no bucket in flight. */
void ibx_grad_sync_begin(ibx_grad_sync *g);
/* Every gradient at index >= ready_from is final: start the allreduce of each
 * bucket that lies entirely there, and drive progress of those in flight. Has
 * the signature of ibx_grad_ready_fn / ibx_seq_grad_ready_fn. */
void ibx_grad_sync_ready(void *g, size_t ready_from);
/* Starts the remaining buckets, waits for all, averages. */
int ibx_grad_sync_finish(ibx_grad_sync *g);

/* Timing of the last step, for the overlap benchmark: seconds spent inside
 * finish() waiting (communication not hidden behind backward), and the
 * number of buckets launched before finish(). */
double ibx_grad_sync_wait_seconds(const ibx_grad_sync *g);
int ibx_grad_sync_early_buckets(const ibx_grad_sync *g);
int ibx_grad_sync_bucket_count(const ibx_grad_sync *g);

/* "All ranks agree that a step failed": a collective over comm that every
 * rank calls with its own status rc. Returns IBX_OK on every rank when all
 * passed IBX_OK; otherwise every rank returns non-zero (its own rc, or
 * IBX_ERR_MPI where rc was IBX_OK) with the message of the lowest failing
 * rank recorded (ibx_errmsg()), so each rank can stop together and rank 0 can
 * report the cause. Use it after any local work that may fail before the
 * next collective, so no rank waits forever on one that gave up. */
int ibx_dist_agree(MPI_Comm comm, int rc);

/* Synchronised batch norm's reduction (ibx_bn_reduce_fn, ibx/layers.h):
 * MPI_Allreduce(MPI_SUM) of buf[0..n) in place over *(MPI_Comm *)comm. Give
 * it a duplicate of the training communicator (MPI_Comm_dup) so its blocking
 * calls never match the gradient buckets' collectives. */
int ibx_dist_bn_allreduce(void *comm, double *buf, int n);

#endif
