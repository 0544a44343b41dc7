/* Shared parts of `ibx eval` (defined in cli_eval_opts.c): options, usage,
 * the patch source. cli_eval.c dispatches to the actions (error there,
 * interpret in cli_eval_interpret.c, maps in cli_eval_maps.c); those depend
 * on cli_eval_opts.c only, never on each other. */
#ifndef IBX_CLI_EVAL_H
#define IBX_CLI_EVAL_H

#include <mpi.h>
#include <stdio.h>

#include "ibx/eval.h"
#include "ibx/interpret.h"

#define EVAL_MAX_RUNS 8
#define EVAL_MAX_LIST 32

typedef struct {
  const char *ckpt[EVAL_MAX_RUNS];
  int n_ckpt;
  ibx_eval_data data;
  long limit;
  int batch;
  /* interpret / maps */
  uint64_t seed;
  double threshold;
  ibx_map_norm norm;
  int map;
  long windows[EVAL_MAX_LIST], high[EVAL_MAX_LIST], low[EVAL_MAX_LIST];
  int n_windows, n_high, n_low;
  const char *mods;        /* comma-separated kinds, NULL: all */
  const char *patch_name, *patch_path, *patch_split;
  int patch_any_class;
  const char *only_trained_on; /* error: skip runs trained on another data.dataset */
  int save_outputs;            /* error: per-image label, prediction, logits, maps */
  int skip_without_attention; /* interpret: a model without attention is not an error */
  /* maps */
  const char *out;
  long samples[EVAL_MAX_LIST];
  int n_samples;
  const char *rows;
  int scale, select, count;
} eval_opts;

/* Parses argv[1..argc) of `ibx eval ACTION`; prints the problem and returns 2
 * on bad usage. */
int eval_parse(const char *action, int argc, char **argv, eval_opts *o);

/* The usage text of `ibx eval`. */
void eval_usage(FILE *to);

/* Opens the patch source of o for run (NULL when patches are not used). */
int eval_open_patches(const ibx_eval_run *run, const eval_opts *o, ibx_dataset **ds);

/* Whether patches must come from an image of another class than the sample's. */
int eval_patch_other_class(const ibx_eval_run *run, const eval_opts *o);

int eval_cmd_interpret(MPI_Comm comm, const eval_opts *o);
int eval_cmd_maps(MPI_Comm comm, const eval_opts *o);

#endif
