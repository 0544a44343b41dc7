/* The distributed trainer behind `ibx train` (run it under mpirun/srun).
 *
 * Every rank trains on its shard of one global permutation per epoch; rank
 * 0's initial parameters are broadcast; gradients are averaged by bucketed
 * MPI_Iallreduce overlapped with backward (ibx/dist.h); rank 0 writes metrics
 * (ibx/metrics.h), checkpoints (ibx/checkpoint.h) and the run state. With
 * train.sync_bn, batch norm uses global-batch statistics (docs/training.md).
 * A rank that dies, hangs (train.watchdog_s) or fails inside collectives
 * ends the job with a non-zero status (docs/training.md).
 *
 * Run directory (output.dir):
 *   config.ini              the resolved config
 *   state                   one line: running | done | preempted | failed: REASON
 *   metrics.h5              per-step and per-epoch metrics (SWMR)
 *   ckpt-<step>.h5          the last output.keep_last checkpoints
 *   best.h5                 the checkpoint with the lowest test error
 *
 * All randomness is a pure function of (seed, epoch, sample, step), so a run
 * resumed from a checkpoint continues bit-identically (same world size). */
#ifndef IBX_TRAINER_H
#define IBX_TRAINER_H

#include <mpi.h>
#include <stdio.h>

#include "ibx/config.h"
#include "ibx/data.h"
#include "ibx/model.h"
#include "ibx/text.h"

/* Exit statuses of ibx train. */
enum {
  IBX_TRAIN_DONE = 0,
  IBX_TRAIN_FAILED = 1,
  IBX_TRAIN_USAGE = 2,
  IBX_TRAIN_PREEMPTED = 3, /* checkpoint written after SIGUSR1/SIGTERM: requeue me */
  /* This rank failed inside collectives (a batch-norm reduction, the
   * gradient allreduce), where the other ranks cannot learn of it: the state
   * file says "failed: rank R: ..." and the caller must print ibx_errmsg()
   * and end the job with MPI_Abort, or the others wait forever. Never an
   * exit status (MPI_Abort's code is IBX_TRAIN_FAILED). */
  IBX_TRAIN_ABORTED = 4
};

typedef struct {
  MPI_Comm comm;
  const ibx_config *config; /* resolved; ignored when resuming (taken from the checkpoint) */
  const char *resume;       /* run directory or checkpoint file, or NULL */
  /* Rank 0's progress (banner and resolved config, step and epoch lines,
   * resume and lock notes): the CLI passes stdout, NULL prints nothing. */
  FILE *progress;
  /* Warnings that do not stop the run (a damaged checkpoint skipped on
   * resume): the CLI passes stderr; NULL: none. */
  FILE *warnings;
  /* Called from the watchdog thread (train.watchdog_s) with a one-line
   * message when this rank made no progress for that long; must end the
   * process (e.g. print and _exit). NULL: the process exits with status 1. */
  void (*on_stall)(const char *message);
} ibx_train_options;

/* Installs SIGUSR1/SIGTERM handlers that request a checkpoint-and-exit. */
void ibx_train_install_signal_handlers(void);

/* Runs training; returns one of the IBX_TRAIN_* statuses. On failure the
 * message is in ibx_errmsg() (and in the run's state file).
 *
 * A run directory is self-contained: resuming (opt->resume, a run directory
 * or a checkpoint in one) writes only into that directory, wherever it was
 * moved or copied to. Rank 0 holds the run lock (run_dir/lock) while it
 * trains: a second trainer on the same run fails naming the holder. Resuming
 * from a directory takes the newest intact ckpt-<step>.h5: a damaged newer
 * one is renamed to NAME.corrupt with a one-line warning on stderr. */
int ibx_train_run(const ibx_train_options *opt);

/* 1 when a live trainer holds run_dir's lock (who: "host H pid P"), else 0. */
int ibx_run_dir_lock_holder(const char *run_dir, char *who, size_t len);

#endif
