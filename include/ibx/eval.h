/* Evaluation of trained runs: loading a run's model with the input pipeline
 * it was trained with, top-1 error (also cross-domain) over MPI ranks, and
 * the run's results files (docs/checkpoint-format.md, "Results files").
 *
 * The input pipeline is the trainer's test pipeline: an image is centred on
 * (zero-padded or centre-cropped to) the model's input size, kept in pixel
 * units 0..255 (the "canvas", where the interpretability modifications act),
 * then normalised as the trainer does, x = pixel / (255 std) - mean / std
 * with the per-channel mean and std of the run's training set, so an
 * unmodified image gives bit-identical inputs to the trainer's evaluation. */
#ifndef IBX_EVAL_H
#define IBX_EVAL_H

#include <mpi.h>
#include <stddef.h>

#include "ibx/config.h"
#include "ibx/data.h"
#include "ibx/h5io.h"
#include "ibx/interpret.h"
#include "ibx/model.h"
#include "ibx/run_config.h"
#include "ibx/text.h"

typedef struct {
  char ckpt[4096];    /* the checkpoint read */
  char results[4096]; /* RUN_DIR/results */
  ibx_config cfg;     /* the run's resolved config (from the checkpoint) */
  ibx_run_config settings; /* the same, typed (ibx/run_config.h) */
  ibx_model *model;
  int max_batch;
  int in_c, in_h, in_w;   /* model input */
  int src_h, src_w;       /* image size of the training dataset */
  float mean[4], std[4];  /* normalisation (training set statistics) */
  int attention_map;      /* which map of ibx_model_attention the score uses */
  float *x;               /* normalised input batch */
  int text;               /* a text run (model.backbone = transformer): no images */
  int max_len;            /* text: sequence capacity of the run's datasets */
} ibx_eval_run;

/* Opens a run: path is a run directory (best.h5, else the newest
 * ckpt-<step>.h5) or a checkpoint file (results go next to it). Builds the
 * model from the checkpoint's config for batches of max_batch, reads the
 * weights, and computes the normalisation from the run's training set (which
 * must therefore be readable). Errors name the file and the problem. */
int ibx_eval_open(const char *path, int max_batch, ibx_eval_run *run);
void ibx_eval_close(ibx_eval_run *run);

/* A dataset to evaluate on. name: a data.dataset value (NULL or "": the
 * run's own dataset and path); split "train" or "test"; path: its directory
 * (NULL or "": the run's data.path when name is the run's dataset, else the
 * reader's default). With name "stl10" and a CIFAR-10 run, the 9-class
 * STL-10 view with CIFAR-10 labels is used (the cross-domain test of Table 1).
 * Images of another size than the training set's are resampled to it with
 * resize, else rejected; another channel or class count is always rejected. */
typedef struct {
  const char *name, *split, *path;
  int resize;
} ibx_eval_data;

/* Opens spec for run; label (len bytes) receives the results name
 * "<dataset>-<split>", e.g. "fashion-mnist-test" or "stl10-train". */
int ibx_eval_open_data(const ibx_eval_run *run, const ibx_eval_data *spec, ibx_dataset **out,
                       char *label, size_t len);

/* Sample i of ds as a canvas (in_c x in_h x in_w floats, pixel units). */
int ibx_eval_canvas(const ibx_eval_run *run, const ibx_dataset *ds, long i, float *canvas,
                    int *label);

/* Forward pass (evaluation mode) on n canvases: pred[i] = argmax of the
 * logits; with maps, map run->attention_map of each sample (attention_size
 * values) is copied there. IBX_ERR_ARG when maps are asked of a model
 * without attention. */
int ibx_eval_forward(ibx_eval_run *run, const float *canvas, int n, int *pred, float *maps);
/* Values per attention map (h*w of map run->attention_map), with its shape;
 * IBX_ERR_ARG naming the head when the model has no attention map. */
int ibx_eval_attention_size(const ibx_eval_run *run, int *h, int *w, long *size);
/* The adapter the interpretability score takes (include/ibx/interpret.h). */
int ibx_eval_attn_model(ibx_eval_run *run, ibx_attn_model *m);

/* ---- top-1 error ----------------------------------------------------------- */

typedef struct {
  long n_samples, n_correct;
} ibx_eval_counts;

/* Top-1 error counts over samples [0, limit) of ds (limit 0: all), sample i
 * on rank i % world, summed over comm; every rank gets the totals. */
int ibx_eval_error(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds, long limit,
                   ibx_eval_counts *out);

/* ---- per-image outputs (`ibx eval error --save-outputs`) -------------------- */

#define IBX_EVAL_MAX_MAPS 6

/* Every sample's label, prediction, logits and attention maps (all of the
 * head's maps, as ibx_model_attention gives them) for samples [0, n). */
typedef struct {
  long n;
  int classes, n_maps;
  int map_h[IBX_EVAL_MAX_MAPS], map_w[IBX_EVAL_MAX_MAPS];
  int *label, *pred;                /* [n] */
  float *logits;                    /* [n, classes] */
  float *maps[IBX_EVAL_MAX_MAPS];   /* [n, map_h, map_w] */
} ibx_eval_outputs;

/* As ibx_eval_error (sample i on rank i % world), and also gathers the
 * per-sample outputs: every rank ends with all of them in *out (free with
 * ibx_eval_outputs_free) and the counts in *counts. */
int ibx_eval_outputs_collect(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds,
                             long limit, ibx_eval_outputs *out, ibx_eval_counts *counts);
/* Writes label, prediction, logits, attention_<i> into group (existing). */
int ibx_eval_outputs_write(ibx_h5 *f, const char *group, const ibx_eval_outputs *o);
void ibx_eval_outputs_free(ibx_eval_outputs *o);

/* Normalises n canvases into run->x as the trainer does (the first step of
 * ibx_eval_forward). */
void ibx_eval_normalise(ibx_eval_run *run, const float *canvas, int n);

/* ---- text runs ----------------------------------------------------------------
 * *text = 1 when the run at path (as ibx_eval_open takes it) reads text;
 * reads only the checkpoint's config. */
int ibx_eval_run_is_text(const char *path, int *text);
/* A text run's split (its own dataset; label "<dataset>-<split>"), and its
 * top-1 error counts as ibx_eval_error. */
int ibx_eval_open_text_data(const ibx_eval_run *run, const char *split, ibx_text_dataset **out,
                            char *label, size_t len);
int ibx_eval_error_text(MPI_Comm comm, ibx_eval_run *run, const ibx_text_dataset *ds, long limit,
                        ibx_eval_counts *out);

/* ---- results files ----------------------------------------------------------- */

/* Rewrites path atomically with the groups `replace[0..n)` (absolute, e.g.
 * "/error/fashion-mnist-test") produced by write(), keeping every other
 * object of the existing file (copied). Concurrent updates of one file are
 * serialised by an exclusive lock on path.lock. */
typedef int (*ibx_results_write_fn)(ibx_h5 *f, void *ctx);
int ibx_results_update(const char *path, const char *const *replace, int n,
                       ibx_results_write_fn write, void *ctx);
/* Creates the group name (absolute) and any missing parents in f. */
int ibx_results_group(ibx_h5 *f, const char *name);

/* ---- pictures (`ibx eval maps`) ---------------------------------------------- */

/* One row of modified inputs: the original (original = 1) or kind/param. */
typedef struct {
  int original;
  ibx_mod_kind kind;
  double param;
} ibx_maps_row;

/* Draws a grid to png_path: for each sample and row, the (modified) input
 * followed by each run's attention map over it. Figure 3 layout
 * (per_row = 0): one grid row per modification, samples side by side;
 * Figure 5 layout (per_row = 1): one grid row per (sample, modification).
 * Runs must share the input size; o gives seed and patch source. */
int ibx_maps_grid(ibx_eval_run *const *runs, int n_runs, const ibx_dataset *ds,
                  const long *samples, int n_samples, const ibx_maps_row *rows, int n_rows,
                  const ibx_interpret_options *o, int scale, int per_row, const char *png_path);

/* The first samples (in dataset order, among [0, limit), limit 0: all) that
 * run `wrong` misclassifies and run `right` classifies correctly: up to max
 * indices into samples, *found of them; truth/pred_wrong receive the label
 * and the wrong run's prediction (may be NULL). */
int ibx_maps_select_disagreement(ibx_eval_run *wrong, ibx_eval_run *right,
                                 const ibx_dataset *ds, long limit, long *samples, int *truth,
                                 int *pred_wrong, int max, int *found);

#endif
