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

#endif
