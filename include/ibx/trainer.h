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

#include "ibx/config.h"
#include "ibx/data.h"
#include "ibx/model.h"
#include "ibx/text.h"

/* The model a config describes ([model] keys, data.image_size, train.seed),
 * with input channels and class count from the training set: the one
 * mapping that the trainer, evaluation and attribution share, so a
 * checkpoint's config always rebuilds the model that wrote it. */
void ibx_model_config_from(const ibx_config *c, const ibx_dataset *train, ibx_model_config *mc);

/* ---- text runs (a text data.dataset, model.backbone = transformer) ---------
 * 1 when data.dataset is a text source (fortunes, imdb) or h5 whose
 * data.path/train.h5 holds token ids. */
int ibx_config_is_text(const ibx_config *c);
/* IBX_ERR_ARG naming the keys when the dataset kind (text or images) and
 * model.backbone (transformer or not) do not go together. */
int ibx_config_check_data_model(const ibx_config *c);
/* The run's text split ("train" or "test"): raw sources are tokenized with
 * model.max_len and a WordPiece vocabulary of model.vocab entries learned
 * from their train split. */
int ibx_text_open_for_config(const ibx_config *c, const char *split,
                             ibx_text_dataset **out);
/* The transformer a text config describes, with the class count, vocabulary
 * size and sequence length of the training set. */
void ibx_model_config_from_text(const ibx_config *c, const ibx_text_dataset *train,
                                ibx_model_config *mc);

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
  int quiet;
  /* Called from the watchdog thread (train.watchdog_s) with a one-line
   * message when this rank made no progress for that long; must end the
   * process (e.g. print and _exit). NULL: the process exits with status 1. */
  void (*on_stall)(const char *message);
} ibx_train_options;

/* Installs SIGUSR1/SIGTERM handlers that request a checkpoint-and-exit. */
void ibx_train_install_signal_handlers(void);

/* Runs training; returns one of the IBX_TRAIN_* statuses. On failure the
 * message is in ibx_errmsg() (and in the run's state file). */
int ibx_train_run(const ibx_train_options *opt);

#endif
