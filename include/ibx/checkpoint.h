/* Checkpoints in HDF5, readable with h5py (layout: docs/checkpoint-format.md).
 *
 *   /model/<name>                 parameters and buffers, PyTorch state_dict
 *                                 names ("features.0.weight",
 *                                 "features.1.running_mean"), float32
 *   /optimizer/<slot>/<name>      optimiser state per parameter (slot:
 *                                 "momentum_buffer", "exp_avg", "exp_avg_sq")
 *   attributes on "/"             format = "ibx-checkpoint", format_version,
 *                                 epoch, step, seed, world_size, best_error,
 *                                 ibx_version, git_commit, config (resolved
 *                                 INI), hostnames, start_time, save_time
 *
 * Every tensor carries a "crc32" attribute (zlib crc32 of its float32 bytes)
 * and "/" a "meta_crc32" of the metadata (format_version 2); reading checks
 * them, so a damaged file is an error naming the file and tensor, never
 * silently wrong numbers. Version 1 files (no checksums) are still read.
 *
 * Writing is atomic: a temporary file in the same directory is written,
 * flushed, fsync'ed and renamed over the target, and the directory is
 * fsync'ed, so a kill at any moment leaves the previous file intact. */
#ifndef IBX_CHECKPOINT_H
#define IBX_CHECKPOINT_H

#include <stdint.h>

#include "ibx/params.h"

#define IBX_CKPT_MAX_SLOTS 4

typedef struct {
  long epoch;       /* epochs completed */
  long step;        /* optimiser steps taken */
  uint64_t seed;
  int world_size;
  double best_error; /* best test error so far, percent (100 when none; a
                        * checkpoint without error_unit holds a fraction and
                        * is read back as percent) */
  char start_time[32];
  const char *config_ini; /* resolved config text (written; on read: NULL) */
  const char *hostnames;  /* comma-separated (written; on read: NULL) */
} ibx_ckpt_meta;

/* The optimiser state: n_slots buffers laid out like params->values. */
typedef struct {
  int n_slots;
  const char *slot_name[IBX_CKPT_MAX_SLOTS];
  float *slot[IBX_CKPT_MAX_SLOTS];
} ibx_opt_state;

/* Writes atomically to path. */
int ibx_checkpoint_write(const char *path, const ibx_params *params, const ibx_params *buffers,
                         const ibx_opt_state *opt, const ibx_ckpt_meta *meta);

/* Reads path into the (declared, allocated) stores and optimiser buffers.
 * Every tensor must be present with the same shape. Errors name the file and
 * the problem: missing, truncated/not HDF5, not an ibx checkpoint (foreign
 * HDF5), missing or mis-shaped tensor. meta->config_ini/hostnames are not
 * read (use ibx_checkpoint_read_config). */
int ibx_checkpoint_read(const char *path, ibx_params *params, ibx_params *buffers,
                        ibx_opt_state *opt, ibx_ckpt_meta *meta);

/* Fine-tuning from another model's checkpoint: reads every parameter of
 * params whose name is in path's /model group (checksum checked); the others
 * are left as they are. *loaded (may be NULL) counts the parameters read. A
 * same-named tensor of another shape is IBX_ERR_FORMAT naming the file, the
 * parameter and both shapes; file problems as ibx_checkpoint_read. */
int ibx_checkpoint_read_matching(const char *path, ibx_params *params, int *loaded);
/* The resolved config stored in a checkpoint, into a fresh malloc'ed string
 * (checked against the metadata checksum). */
int ibx_checkpoint_read_config(const char *path, char **config_ini);

/* Reads every tensor and the metadata of path and checks their checksums,
 * without a model: IBX_OK for an intact checkpoint, else the first problem
 * (unreadable, truncated, checksum mismatch) naming the file. */
int ibx_checkpoint_verify(const char *path);

/* Writes a file atomically: calls write(tmp_path, ctx) to produce a temporary
 * file, fsyncs it, renames it to path and fsyncs the directory. Used for
 * checkpoints, results and run-state files. */
typedef int (*ibx_write_fn)(const char *tmp_path, void *ctx);
int ibx_atomic_write(const char *path, ibx_write_fn write, void *ctx);

#endif
