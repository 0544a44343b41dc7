/* The interpretability score of AIB (Lai et al., IJCAI 2021, section 4.4):
 * among test samples whose prediction a modification does not change
 * (prediction-consistent), the percentage whose attention map stays
 * consistent (cosine similarity of the flattened, normalised maps at or above
 * a threshold). docs/evaluation.md has every choice and its source.
 *
 * Images here are float CHW canvases in pixel units (0..255) at the model's
 * input size: the trainer's test pipeline before its normalisation, so an
 * unmodified canvas normalises to exactly the trainer's input.
 * Every modification is a pure function of (seed, modification, parameter,
 * sample index), so two models are judged on identical modified images. */
#ifndef IBX_INTERPRET_H
#define IBX_INTERPRET_H

#include <stdint.h>

#include "ibx/data.h"

typedef enum {
  IBX_MOD_COLOR_BLOCK, /* p x p block of one random colour at a random position */
  IBX_MOD_PATCH,       /* p x p patch cut from another dataset's image */
  IBX_MOD_HIGH_PASS,   /* keep Fourier components at radius >= r */
  IBX_MOD_LOW_PASS,    /* keep Fourier components at radius < r */
  IBX_MOD_COUNT
} ibx_mod_kind;

/* "color_block", "patch", "high_pass", "low_pass" (the results-file names). */
const char *ibx_mod_name(ibx_mod_kind k);
/* Parses a name above; IBX_ERR_ARG naming it when unknown. */
int ibx_mod_parse(const char *name, ibx_mod_kind *k);

/* ---- frequency filters (FFTW, per channel) ------------------------------ */

/* Radius of 2-D DFT bin (ky, kx) of an h x w image as in Wang et al. (CVPR
 * 2020): the distance from the centre (h/2, w/2, integer division) of the
 * fftshift-ed spectrum, i.e. of the bin's signed frequencies. */
double ibx_fourier_radius(int h, int w, int ky, int kx);

/* In place on c planes of h x w: keeps the components with radius < r
 * (low_pass = 1) or >= r (low_pass = 0) and returns the real part of the
 * inverse transform. r = 0 and r = INFINITY are allowed (everything or
 * nothing). Not clipped to 0..255. */
int ibx_fourier_filter(float *img, int c, int h, int w, double r, int low_pass);

/* ---- spatial modifications --------------------------------------------- */

/* Top-left corner of the p x p window of (seed, kind, p, sample): uniform
 * over the positions that keep the window inside the h x w image.
 * IBX_ERR_ARG when p < 1 or p exceeds the image. */
int ibx_mod_window(uint64_t seed, ibx_mod_kind kind, int p, long sample, int h, int w, int *y,
                   int *x);

/* Paints the colour block of (seed, p, sample) into img (c x h x w): one
 * uniform random value in [0, 255) per channel. */
int ibx_mod_color_block(float *img, int c, int h, int w, int p, uint64_t seed, long sample);

/* A source of patches: a dataset, and whether the patch must come from an
 * image of another class than the sample's (when both share a label space). */
typedef struct {
  const ibx_dataset *ds;
  int other_class;
} ibx_patch_source;

/* Pastes the patch of (seed, p, sample) into img: the source image index is
 * drawn from (seed, sample) (redrawn, deterministically, while its label
 * equals `label` with other_class), the p x p crop of it at a random position
 * goes to the window of ibx_mod_window. Channels: a grey source is repeated
 * over colour channels, a colour source is averaged for a grey image. */
int ibx_mod_patch(float *img, int c, int h, int w, int p, uint64_t seed, long sample, int label,
                  const ibx_patch_source *src);

/* Applies one modification with parameter param (p for spatial ones, r for
 * frequency ones) in place. src is needed for IBX_MOD_PATCH only. */
int ibx_mod_apply(float *img, int c, int h, int w, ibx_mod_kind kind, double param,
                  uint64_t seed, long sample, int label, const ibx_patch_source *src);

/* ---- attention consistency ---------------------------------------------- */

typedef enum {
  IBX_MAP_NORM_MINMAX, /* (a - min) / (max - min); a constant map becomes 0 */
  IBX_MAP_NORM_L2      /* a / ||a|| only: plain cosine of the raw maps */
} ibx_map_norm;

/* Cosine similarity of two flattened maps of n values after normalisation.
 * Two all-zero (after normalisation) maps count as identical (1), one
 * all-zero map against a non-zero one as unrelated (0). */
double ibx_map_cosine(const float *a, const float *b, long n, ibx_map_norm norm);

/* ---- the score ----------------------------------------------------------- */

/* What the score needs from a model: predictions (argmax) and one attention
 * map of map_size values per sample, for n canvases (NCHW, pixel units; the
 * callee normalises). maps may be NULL (predictions only). */
typedef struct {
  int (*forward)(void *ctx, const float *canvas, int n, int *pred, float *maps);
  void *ctx;
  long map_size;
  int max_batch;
} ibx_attn_model;

typedef struct {
  ibx_mod_kind kind;
  double param;
  long n_total;                  /* samples judged */
  long n_prediction_consistent;
  long n_attention_consistent;   /* among the prediction-consistent */
  float *cosine;                 /* n_prediction_consistent values (malloc'ed; free()), or NULL */
} ibx_interpret_result;

typedef struct {
  uint64_t seed;
  double threshold;   /* attention consistent: cosine >= threshold */
  ibx_map_norm norm;
  const ibx_patch_source *patches;
} ibx_interpret_options;

/* Judges samples[0..n) of ds (read by read_canvas into canvases of
 * c x h x w) under the n_mods modifications res[k].kind / res[k].param,
 * accumulating counts (and cosines when keep_cosine) into res. The original
 * of each batch is run once and shared by all modifications. */
typedef int (*ibx_canvas_fn)(void *ctx, long sample, float *canvas, int *label);
int ibx_interpret_run(const ibx_attn_model *m, ibx_canvas_fn read_canvas, void *read_ctx, int c,
                      int h, int w, const long *samples, long n, const ibx_interpret_options *o,
                      ibx_interpret_result *res, int n_mods, int keep_cosine);

/* 100 * n_attention_consistent / n_prediction_consistent (0 when none). */
double ibx_interpret_score(const ibx_interpret_result *r);

#endif
