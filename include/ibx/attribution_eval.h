/* Whole attribution evaluations of a trained run (`ibx attribute`): every
 * method of ibx/attribution.h on the first n test images (true label as the
 * target), distributed over MPI ranks (image i on rank i % world), scored by
 * degradation (8x8- and 14x14-equivalent tiles) and the bounding-box ratio
 * (ibx/attrib_metrics.h), written to RUN_DIR/results/attribution.h5:
 *   /attribution/<method>  attributes degradation_8, degradation_14,
 *                          bbox_ratio (double), n_images, n_bbox (int64);
 *                          datasets morf_8, lerf_8, morf_14, lerf_14
 *                          (float, normalised curves)
 * rewritten atomically as a whole; groups of methods not evaluated this time
 * are carried over from the existing file.
 *
 * The run is loaded from its checkpoint (best.h5, else the newest
 * ckpt-<step>.h5, or a checkpoint file) with the trainer's test pipeline:
 * centred on the input size, scaled to 0..1, normalised with the training
 * set's per-channel mean and std. */
#ifndef IBX_ATTRIBUTION_EVAL_H
#define IBX_ATTRIBUTION_EVAL_H

#include <mpi.h>
#include <stdio.h>
#include <stdint.h>

#include "ibx/attribution.h"
#include "ibx/data.h"
#include "ibx/model.h"

/* A loaded run: model, test/train datasets, normalisation. */
typedef struct {
  char ckpt[4096], results_dir[4096];
  ibx_model *model;
  ibx_dataset *train, *test;
  int C, H, W, src_h, src_w, classes;
  float mean[4], std[4];
} ibx_attr_run;

int ibx_attr_run_open(const char *path, int max_batch, ibx_attr_run *run);
void ibx_attr_run_close(ibx_attr_run *run);
/* Normalised model input of sample i of ds (C*H*W floats) and its label. */
int ibx_attr_run_input(const ibx_attr_run *run, const ibx_dataset *ds, long i, float *x,
                       int *label);
/* The box of sample i in model-input pixels (shifted by the centring). */
int ibx_attr_run_box(const ibx_attr_run *run, const ibx_dataset *ds, long i, float box[4]);

/* IBA statistics over the first n training images, split over the ranks of
 * comm and merged (every rank ends with the same statistics). */
int ibx_attr_estimate_stats(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a, long n);

/* Readout bottleneck training (ibx/iba.h) on rank 0 over the first
 * `images` training images for `epochs` epochs (batch = the IBA batch),
 * feature std over the first min(images, 500); the trained parameters are
 * broadcast, so every rank returns the same readout in *out. */
typedef struct {
  const char *const *layers;
  int n_layers, hidden, epochs;
  long images;
  float lr, beta;
  FILE *progress; /* a loss line every 50 steps (the CLI: stderr); NULL: none */
} ibx_readout_options;
int ibx_attr_train_readout(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a,
                           const ibx_readout_options *o, ibx_readout **out);

typedef struct {
  char name[48];
  double degradation_8, degradation_14, bbox_ratio;
  long n_images, n_bbox;
  float *morf_8, *lerf_8, *morf_14, *lerf_14; /* points each */
  double seconds;                           /* attribution time per image (rank 0's images) */
} ibx_attr_result;

typedef struct {
  long n_images;      /* test images [0, n_images) */
  int points;         /* degradation curve points (25) */
  double bbox_max;    /* box-area fraction limit (0.33) */
  FILE *progress;     /* rank 0: a line every 10 images (the CLI: stderr); NULL: none */
  /* Optional (NULL: not kept): every method's raw heatmap of every image,
   * [n_methods][n][H*W] with n = the images evaluated, and each image's
   * target [n]; filled on every rank (`ibx attribute --save-heatmaps`). */
  float *heatmaps;
  int *targets;
} ibx_attr_eval_options;

/* Sums o->heatmaps / o->targets over the ranks of comm (each image's rows
 * were written by one rank, zeros elsewhere); ibx_attr_evaluate calls it. */
int ibx_attr_gather_heatmaps(MPI_Comm comm, const ibx_attr_eval_options *o, int n_methods,
                             long n, size_t hw);
/* The number of test images an evaluation with n_images covers. */
long ibx_attr_eval_count(const ibx_attr_run *run, long n_images);
/* Writes /heatmaps/<method> (float32 [n, H, W]) and /heatmaps/target (int32
 * [n]) into RUN_DIR/results/attribution.h5, keeping everything else
 * (ibx_results_update). heatmaps as in ibx_attr_eval_options. */
int ibx_attr_heatmaps_write(const ibx_attr_run *run, const int *methods, int n_methods, long n,
                            const float *heatmaps, const int *targets);

/* Runs methods[0..n_methods) on every rank; results (on every rank) must
 * have n_methods entries; curves are allocated (free with
 * ibx_attr_results_free). */
int ibx_attr_evaluate(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a,
                      const int *methods, int n_methods, const ibx_attr_eval_options *o,
                      ibx_attr_result *results);
void ibx_attr_results_free(ibx_attr_result *r, int n);
/* Writes RUN_DIR/results/attribution.h5 (call on one rank). */
int ibx_attr_results_write(const ibx_attr_run *run, const ibx_attr_result *r, int n, int points);

#endif
