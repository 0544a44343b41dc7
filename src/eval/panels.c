/* Titled panel grids with a colour bar (include/ibx/png.h): the heatmap
 * pictures of `ibx attribute --image`. */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/png.h"

#define FONT 2    /* label scale: 12 px per character, 18 px lines */
#define PAD 10    /* around panels and labels */
#define BAR_H 14  /* colour bar height */
#define BAR_LABEL "heatmap colour (min-max per panel)"

static const uint8_t ink[3] = {30, 30, 30}, grey_ink[3] = {90, 90, 90};

static void draw_panel(ibx_picture *pic, int x0, int y0, const ibx_panel *p, int h, int w,
                       int scale) {
  float lo = p->values[0], hi = p->values[0];
  for (int i = 1; i < h * w; i++)
    lo = p->values[i] < lo ? p->values[i] : lo, hi = p->values[i] > hi ? p->values[i] : hi;
  const float span = hi > lo ? hi - lo : 1.0f;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const double t = (p->values[y * w + x] - lo) / span;
      uint8_t rgb[3];
      if (p->jet)
        ibx_colormap_jet(t, rgb);
      else
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)(255.0 * t + 0.5);
      ibx_picture_fill(pic, x0 + x * scale, y0 + y * scale, scale, scale, rgb);
    }
}

int ibx_panel_grid_write(const char *png_path, const ibx_panel *panels, int n, int h, int w,
                         int scale, int max_cols, const char *heading) {
  if (n < 1 || h < 1 || w < 1 || scale < 1 || max_cols < 1)
    return ibx_fail(IBX_ERR_ARG, "%s: no panels to draw", png_path);
  int cell_w = w * scale, any_jet = 0;
  for (int i = 0; i < n; i++) {
    const int tw = ibx_text_width(panels[i].title ? panels[i].title : "", FONT);
    cell_w = tw > cell_w ? tw : cell_w;
    any_jet |= panels[i].jet;
  }
  const int cols = n < max_cols ? n : max_cols, rows = (n + cols - 1) / cols;
  const int line = 9 * FONT, cell_h = line + 6 + h * scale;
  const int head_h = heading ? line + PAD : 0;
  const int bar_h = any_jet ? PAD + line + 6 + BAR_H + 3 * FONT + line : 0;
  int width = PAD + cols * (cell_w + PAD);
  const int heading_w = heading ? ibx_text_width(heading, FONT) + 2 * PAD : 0;
  const int bar_label_w = any_jet ? ibx_text_width(BAR_LABEL, FONT) + 2 * PAD : 0;
  width = heading_w > width ? heading_w : width;
  width = bar_label_w > width ? bar_label_w : width;
  const int height = PAD + head_h + rows * (cell_h + PAD) + bar_h + (any_jet ? PAD : 0);
  ibx_picture pic;
  IBX_TRY(ibx_picture_new(width, height, 255, &pic));
  if (heading)
    ibx_picture_text(&pic, PAD, PAD, FONT, heading, ink);
  for (int i = 0; i < n; i++) {
    const int x = PAD + (i % cols) * (cell_w + PAD), y = PAD + head_h + (i / cols) * (cell_h + PAD);
    const char *title = panels[i].title ? panels[i].title : "";
    ibx_picture_text(&pic, x + (cell_w - ibx_text_width(title, FONT)) / 2, y, FONT, title, ink);
    draw_panel(&pic, x + (cell_w - w * scale) / 2, y + line + 6, &panels[i], h, w, scale);
  }
  if (any_jet) {
    const int y = PAD + head_h + rows * (cell_h + PAD) + PAD / 2;
    int bar_w = width - 2 * PAD;
    bar_w = bar_w > 420 ? 420 : bar_w;
    ibx_picture_text(&pic, PAD, y, FONT, BAR_LABEL, grey_ink);
    ibx_picture_colorbar(&pic, PAD, y + line + 6, bar_w, BAR_H, FONT, "low", "high");
  }
  const int rc = ibx_png_write(png_path, &pic);
  ibx_picture_free(&pic);
  return rc;
}
