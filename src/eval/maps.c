/* Attention-map pictures of `ibx eval maps` (include/ibx/eval.h): Figure 3
 * style grids of original and modified inputs with each model's map, and the
 * search for Figure 5 style cases (one model wrong, the other right). */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/eval.h"
#include "ibx/png.h"

#define CELL_GAP 2
#define GROUP_GAP 8
#define OVERLAY_ALPHA 0.5f

typedef struct {
  float *canvas, *map;
  int pred;
} cell_data;

static int check_runs(ibx_eval_run *const *runs, int n_runs, long *max_map) {
  *max_map = 0;
  for (int r = 0; r < n_runs; r++) {
    if (runs[r]->in_c != runs[0]->in_c || runs[r]->in_h != runs[0]->in_h ||
        runs[r]->in_w != runs[0]->in_w)
      return ibx_fail(IBX_ERR_ARG, "%s and %s take inputs of different shapes", runs[0]->ckpt,
                      runs[r]->ckpt);
    int h, w;
    long size;
    IBX_TRY(ibx_eval_attention_size(runs[r], &h, &w, &size));
    *max_map = size > *max_map ? size : *max_map;
  }
  return IBX_OK;
}

/* Draws one group: the input at (x, y), then each run's map over it. */
static int draw_group(ibx_picture *pic, int x, int y, int scale, ibx_eval_run *const *runs,
                      int n_runs, const float *canvas, float *map) {
  const ibx_eval_run *r0 = runs[0];
  const int cw = r0->in_w * scale + CELL_GAP;
  ibx_picture_draw(pic, x, y, scale, canvas, r0->in_c, r0->in_h, r0->in_w, NULL, 0, 0, 0);
  for (int r = 0; r < n_runs; r++) {
    int pred, mh, mw;
    long size;
    IBX_TRY(ibx_eval_attention_size(runs[r], &mh, &mw, &size));
    IBX_TRY(ibx_eval_forward(runs[r], canvas, 1, &pred, map));
    ibx_picture_draw(pic, x + (r + 1) * cw, y, scale, canvas, r0->in_c, r0->in_h, r0->in_w, map,
                     mh, mw, OVERLAY_ALPHA);
  }
  return IBX_OK;
}

int ibx_maps_grid(ibx_eval_run *const *runs, int n_runs, const ibx_dataset *ds,
                  const long *samples, int n_samples, const ibx_maps_row *rows, int n_rows,
                  const ibx_interpret_options *o, int scale, int per_row, const char *png_path) {
  if (n_runs < 1 || n_samples < 1 || n_rows < 1 || scale < 1 || scale > 64)
    return ibx_fail(IBX_ERR_ARG, "maps: need runs, samples and rows (scale 1..64)");
  long max_map;
  IBX_TRY(check_runs(runs, n_runs, &max_map));
  const ibx_eval_run *r0 = runs[0];
  const int c = r0->in_c, h = r0->in_h, w = r0->in_w;
  const int cw = w * scale + CELL_GAP, chh = h * scale + CELL_GAP;
  const int gw = (n_runs + 1) * cw + GROUP_GAP;
  const int groups = per_row ? 1 : n_samples, grid_rows = per_row ? n_samples * n_rows : n_rows;
  ibx_picture pic;
  IBX_TRY(ibx_picture_new(groups * gw - GROUP_GAP + 2 * CELL_GAP,
                          grid_rows * chh + CELL_GAP, 255, &pic));
  float *canvas = malloc((size_t)c * h * w * sizeof *canvas);
  float *map = malloc((size_t)max_map * sizeof *map);
  int rc = canvas && map ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "maps: out of memory");
  for (int s = 0; rc == IBX_OK && s < n_samples; s++)
    for (int k = 0; rc == IBX_OK && k < n_rows; k++) {
      int label;
      rc = ibx_eval_canvas(r0, ds, samples[s], canvas, &label);
      if (rc == IBX_OK && !rows[k].original)
        rc = ibx_mod_apply(canvas, c, h, w, rows[k].kind, rows[k].param, o->seed, samples[s],
                           label, o->patches);
      const int gx = CELL_GAP + (per_row ? 0 : s * gw);
      const int gy = CELL_GAP + (per_row ? s * n_rows + k : k) * chh;
      if (rc == IBX_OK)
        rc = draw_group(&pic, gx, gy, scale, runs, n_runs, canvas, map);
    }
  if (rc == IBX_OK)
    rc = ibx_png_write(png_path, &pic);
  free(canvas), free(map);
  ibx_picture_free(&pic);
  return rc;
}

int ibx_maps_select_disagreement(ibx_eval_run *wrong, ibx_eval_run *right,
                                 const ibx_dataset *ds, long limit, long *samples, int *truth,
                                 int *pred_wrong, int max, int *found) {
  ibx_eval_run *const pair[2] = {wrong, right};
  long unused;
  IBX_TRY(check_runs(pair, 2, &unused));
  const int B = wrong->max_batch < right->max_batch ? wrong->max_batch : right->max_batch;
  const size_t img = (size_t)wrong->in_c * wrong->in_h * wrong->in_w;
  long n = ibx_dataset_count(ds);
  if (limit > 0 && limit < n)
    n = limit;
  float *canvas = malloc((size_t)B * img * sizeof *canvas);
  int *label = malloc((size_t)B * 3 * sizeof *label);
  int rc = canvas && label ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "maps: out of memory");
  int *pa = label + B, *pb = label + 2 * B;
  *found = 0;
  for (long start = 0; rc == IBX_OK && start < n && *found < max; start += B) {
    const int nb = (int)(n - start < B ? n - start : B);
    for (int i = 0; rc == IBX_OK && i < nb; i++)
      rc = ibx_eval_canvas(wrong, ds, start + i, canvas + (size_t)i * img, &label[i]);
    if (rc == IBX_OK)
      rc = ibx_eval_forward(wrong, canvas, nb, pa, NULL);
    if (rc == IBX_OK)
      rc = ibx_eval_forward(right, canvas, nb, pb, NULL);
    for (int i = 0; rc == IBX_OK && i < nb && *found < max; i++)
      if (pa[i] != label[i] && pb[i] == label[i]) {
        samples[*found] = start + i;
        if (truth)
          truth[*found] = label[i];
        if (pred_wrong)
          pred_wrong[*found] = pa[i];
        ++*found;
      }
  }
  free(canvas), free(label);
  return rc;
}
