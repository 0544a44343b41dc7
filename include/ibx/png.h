/* Pictures: RGB images written as PNG (libpng), with attention maps
 * overlaid in a jet colour map, for the Figure 3 / Figure 5 style grids of
 * `ibx eval maps`. */
#ifndef IBX_PNG_H
#define IBX_PNG_H

#include <stdint.h>

typedef struct {
  int w, h;
  uint8_t *rgb; /* h rows of w RGB triples */
} ibx_picture;

/* A w x h picture filled with grey level `fill`. */
int ibx_picture_new(int w, int h, uint8_t fill, ibx_picture *p);
void ibx_picture_free(ibx_picture *p);

/* Writes p as an 8-bit RGB PNG, atomically (temp, fsync, rename). */
int ibx_png_write(const char *path, const ibx_picture *p);
/* Reads any PNG as 8-bit RGB (for tests and tools). */
int ibx_png_read(const char *path, ibx_picture *p);

/* The jet colour map at v in [0, 1] (clamped): dark blue, blue, cyan,
 * yellow, red, dark red. */
void ibx_colormap_jet(double v, uint8_t rgb[3]);

/* Draws a canvas (c x h x w floats in pixel units 0..255, clamped; grey for one channel, the
 * first three as RGB otherwise) magnified by scale at (x0, y0). With map
 * (mh x mw values), the map is min-max normalised, upsampled bilinearly to
 * h x w and blended over the image: (1 - alpha) image + alpha jet(map).
 * Parts outside the picture are clipped. */
void ibx_picture_draw(ibx_picture *p, int x0, int y0, int scale, const float *canvas, int c,
                      int h, int w, const float *map, int mh, int mw, float alpha);

/* Labels in the built-in 5x7 pixel font (src/eval/font.c; printable ASCII,
 * anything else drawn as '?'): each font pixel a scale x scale block, the
 * text's top-left at (x, y), 9 * scale pixels tall. Clipped at the edges. */
void ibx_picture_text(ibx_picture *p, int x, int y, int scale, const char *text,
                      const uint8_t rgb[3]);
/* Width in pixels of text drawn at scale. */
int ibx_text_width(const char *text, int scale);
/* A horizontal jet colour bar, w x h at (x, y) with a dark frame, low_label
 * under its left end and high_label under its right end (text at scale). */
void ibx_picture_colorbar(ibx_picture *p, int x, int y, int w, int h, int scale,
                          const char *low_label, const char *high_label);
/* Fills the rectangle w x h at (x, y) (clipped) with rgb. */
void ibx_picture_fill(ibx_picture *p, int x, int y, int w, int h, const uint8_t rgb[3]);

/* A grid of titled panels, written as a PNG: panel i shows values (h x w,
 * min-max scaled on its own) magnified by scale, in grey or in jet, with its
 * title above it; heading on top; under the grid, when any panel is jet, a
 * colour bar (low .. high, "min-max scaled per panel"). At most max_cols
 * panels per row. Labels use the built-in font, sized to be read at 100%. */
typedef struct {
  const float *values;
  int jet;
  const char *title;
} ibx_panel;
int ibx_panel_grid_write(const char *png_path, const ibx_panel *panels, int n, int h, int w,
                         int scale, int max_cols, const char *heading);

#endif
