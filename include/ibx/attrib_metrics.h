/* Attribution metrics (Schulz et al. ICLR 2020, Table 1), method-agnostic:
 * they see heatmaps [H*W] only. docs/attribution.md gives the definitions.
 *
 * Degradation: the image is cut into tiles of `tile` pixels (the last
 * row/column may be narrower); tiles are ranked by their mean heat and
 * removed most-relevant-first (MoRF) or least-relevant-first (LeRF), ties
 * broken by tile index; removed pixels take the image's per-channel mean.
 * The target-class probability is recorded after removing
 * round(j * T / (points - 1)) tiles, j = 0..points-1 (T tiles), giving two
 * curves of `points` values from the original image (j = 0) to the fully
 * removed one (j = points-1).
 *
 * Score (our definition; the public code has no integral): average each
 * curve over images, normalise by s' = (s - s_full) / (s_orig - s_full)
 * with s_orig and s_full the averaged values at j = 0 and points-1 (shared
 * by both curves), and integrate LeRF' - MoRF' over the removed fraction
 * [0, 1] with the trapezoid rule. Higher is better; 0 for a heatmap that
 * ranks no better than its reverse. */
#ifndef IBX_ATTRIB_METRICS_H
#define IBX_ATTRIB_METRICS_H

#include "ibx/model.h"

/* Window/tile side for a `ref`-pixel tile on a 224-pixel image, scaled to
 * an image of side `size` (at least 1): round(ref * size / 224). */
int ibx_scaled_tile(int ref, int size);

/* The two curves for one image x [C,H,W] (C <= 8), chunked to batch
 * (<= the model's max_batch): morf[points], lerf[points]. */
int ibx_degradation_curves(ibx_model *m, int batch, const float *x, int target,
                           const float *heat, int tile, int points, float *morf, float *lerf);

/* Normalises averaged curves in place (as above) and returns the area
 * between them in *score; IBX_ERR_NUMERIC when s_orig == s_full. */
int ibx_degradation_score(float *morf, float *lerf, int points, double *score);

/* Pixels of the box (x, y, w, h in pixels): columns floor(x) ..
 * ceil(x + w) - 1 and rows likewise, clipped to the image. */
long ibx_box_pixels(const float box[4], int H, int W);
/* 1 when the box covers at most max_fraction (0.33) of the image. */
int ibx_box_eligible(const float box[4], int H, int W, double max_fraction);
/* Fraction of the n highest heatmap pixels (n = box pixels; ties by pixel
 * index) that lie inside the box. */
int ibx_bbox_ratio(const float *heat, int H, int W, const float box[4], double *ratio);

#endif
