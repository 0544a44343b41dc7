/* Run directory helpers for the trainer (internal). */
#ifndef IBX_RUN_DIR_H
#define IBX_RUN_DIR_H

#include <stddef.h>

int ibx_run_dir_make(const char *dir);
/* Atomically writes dir/name with text. */
int ibx_run_dir_write_file(const char *dir, const char *name, const char *text);
/* Atomically writes the one-line state file. */
int ibx_run_dir_set_state(const char *dir, const char *state);
void ibx_run_dir_ckpt_path(const char *dir, long step, char *out, size_t len);
/* Path of the newest ckpt-<step>.h5, or IBX_ERR_IO when there is none. */
int ibx_run_dir_latest(const char *dir, char *out, size_t len);
/* Deletes all but the newest keep_last ckpt-<step>.h5 files. */
void ibx_run_dir_prune(const char *dir, int keep_last);

/* The run lock: IBX_RUN_LOCK_FILE in the run directory, an fcntl write lock
 * held by the live trainer (rank 0) and released by the kernel when it dies,
 * so a lock left by a killed trainer is stale by construction. The file holds
 * "host H pid P" of the holder for the message. *fd_out is the open lock
 * (-1 where the file system has no locking). stale receives the line of a
 * dead holder that did not release ("" when none). */
#define IBX_RUN_LOCK_FILE "lock"
int ibx_run_dir_lock(const char *dir, int *fd_out, char *stale, size_t stale_len);
void ibx_run_dir_unlock(int fd);

/* Removes NAME.tmp.<pid> files of writers that are no longer running (this
 * host); returns how many. */
int ibx_run_dir_remove_stale_tmp(const char *dir);

#endif
