/* Attention-map pictures of `ibx eval maps` (include/ibx/eval.h): Figure 3
 * style grids of original and modified inputs with each model's map, and the
 * search for Figure 5 style cases (one model wrong, the other right). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/eval.h"
#include "ibx/png.h"

#define CELL_GAP 2
#define GROUP_GAP 8
#define OVERLAY_ALPHA 0.5f
#define EVAL_TITLES 17 /* input + 16 runs */

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
static int draw_group(ibx_picture *pic, int x, int y, int cw, int scale,
                      ibx_eval_run *const *runs, int n_runs, const float *canvas, float *map) {
  const ibx_eval_run *r0 = runs[0];
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

#define FONT 2 /* label scale of the built-in font: 12 px per character */
#define LINE (9 * FONT + 4)

static const uint8_t ink[3] = {30, 30, 30};

/* Row label: the modification ("patch 8"), or the sample in the Figure 5
 * layout ("#12 Trouser"). */
static void row_label(const ibx_maps_row *row, const ibx_dataset *ds, long sample, int per_row,
                      int n_rows, char *out, size_t len) {
  char mod[64];
  if (row->original)
    snprintf(mod, sizeof mod, "original");
  else
    snprintf(mod, sizeof mod, "%s %g", ibx_mod_name(row->kind), row->param);
  int label = 0;
  if (per_row && ibx_dataset_read(ds, sample, NULL, &label) == IBX_OK)
    snprintf(out, len, n_rows > 1 ? "#%ld %s, %s" : "#%ld %s", sample,
             ibx_dataset_class_name(ds, label), mod);
  else
    snprintf(out, len, "%s", mod);
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
  /* column titles: "input", then each run's head; wide enough for them */
  char titles[EVAL_TITLES][32];
  int cell_w = w * scale;
  for (int r = 0; r <= n_runs && r < EVAL_TITLES; r++) {
    int twin = 0; /* another run with the same head: number them as in the caption */
    for (int q = 0; r && q < n_runs; q++)
      twin |= q != r - 1 && !strcmp(ibx_model_config_of(runs[q]->model)->head,
                                    ibx_model_config_of(runs[r - 1]->model)->head);
    if (twin)
      snprintf(titles[r], sizeof titles[r], "%d: %s", r,
               ibx_model_config_of(runs[r - 1]->model)->head);
    else
      snprintf(titles[r], sizeof titles[r], "%s",
               r ? ibx_model_config_of(runs[r - 1]->model)->head : "input");
    const int tw = ibx_text_width(titles[r], FONT);
    cell_w = tw > cell_w ? tw : cell_w;
  }
  const int grid_rows = per_row ? n_samples * n_rows : n_rows;
  int label_w = 0;
  for (int g = 0; g < grid_rows; g++) {
    char text[160];
    row_label(&rows[per_row ? g % n_rows : g], ds, samples[per_row ? g / n_rows : 0], per_row,
              n_rows, text, sizeof text);
    const int tw = ibx_text_width(text, FONT);
    label_w = tw > label_w ? tw : label_w;
  }
  label_w += GROUP_GAP;
  const int cw = cell_w + CELL_GAP, chh = h * scale + CELL_GAP;
  const int gw = (n_runs + 1) * cw + GROUP_GAP;
  const int groups = per_row ? 1 : n_samples;
  const int top = (per_row ? 0 : LINE) + LINE; /* sample titles, column titles */
  const int bar_top = top + grid_rows * chh + GROUP_GAP;
  const int bar_w = 320;
  int width = label_w + groups * gw - GROUP_GAP + 2 * CELL_GAP;
  width = width < bar_w + 2 * GROUP_GAP + 8 * 12 ? bar_w + 2 * GROUP_GAP + 8 * 12 : width;
  ibx_picture pic;
  IBX_TRY(ibx_picture_new(width, bar_top + 3 * LINE, 255, &pic));
  for (int s = 0; s < groups; s++) {
    const int gx = CELL_GAP + label_w + s * gw;
    if (!per_row) {
      char text[160];
      int label = 0;
      ibx_dataset_read(ds, samples[s], NULL, &label);
      snprintf(text, sizeof text, "#%ld %s", samples[s], ibx_dataset_class_name(ds, label));
      ibx_picture_text(&pic, gx, CELL_GAP, FONT, text, ink);
    }
    for (int r = 0; r <= n_runs && r < EVAL_TITLES; r++)
      ibx_picture_text(&pic, gx + r * cw + (cell_w - ibx_text_width(titles[r], FONT)) / 2,
                       CELL_GAP + top - LINE, FONT, titles[r], ink);
  }
  for (int g = 0; g < grid_rows; g++) {
    char text[160];
    row_label(&rows[per_row ? g % n_rows : g], ds, samples[per_row ? g / n_rows : 0], per_row,
              n_rows, text, sizeof text);
    ibx_picture_text(&pic, CELL_GAP, top + g * chh + (h * scale - 9 * FONT) / 2, FONT, text, ink);
  }
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
      const int gx = CELL_GAP + label_w + (per_row ? 0 : s * gw) + (cell_w - w * scale) / 2;
      const int gy = top + (per_row ? s * n_rows + k : k) * chh;
      if (rc == IBX_OK)
        rc = draw_group(&pic, gx, gy, cw, scale, runs, n_runs, canvas, map);
    }
  ibx_picture_text(&pic, CELL_GAP, bar_top, FONT, "attention (min-max per map, 50% over the input)",
                   ink);
  ibx_picture_colorbar(&pic, CELL_GAP + 1, bar_top + LINE, bar_w, 12, FONT, "low", "high");
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
