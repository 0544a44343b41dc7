/* Labelled pictures: the built-in font (glyph pixels where the font table
 * puts them, descenders included), the titled panel grid with its colour bar
 * written and read back as PNG, and which model keys a head uses (ablation
 * plots draw a head that ignores the key as a reference line). */
#include <stdio.h>
#include <string.h>

#include "ibx/model.h"
#include "ibx/png.h"
#include "testutil.h"

static const uint8_t black[3] = {0, 0, 0};

static int dark(const ibx_picture *p, int x, int y) {
  const uint8_t *o = p->rgb + ((size_t)y * p->w + x) * 3;
  return o[0] < 60 && o[1] < 60 && o[2] < 60;
}

static void test_font(void **state) {
  (void)state;
  assert_int_equal(ibx_text_width("", 2), 0);
  assert_int_equal(ibx_text_width("ab", 1), 11);
  assert_int_equal(ibx_text_width("ab", 2), 22);
  ibx_picture p;
  assert_ibx_ok(ibx_picture_new(24, 10, 255, &p));
  ibx_picture_text(&p, 0, 0, 1, "Ig", black);
  /* I: a full middle column (x 2, rows 0-6), serifs at rows 0 and 6 */
  for (int y = 0; y < 7; y++)
    assert_true(dark(&p, 2, y));
  assert_true(dark(&p, 1, 0) && dark(&p, 3, 6));
  assert_false(dark(&p, 0, 3) || dark(&p, 4, 3) || dark(&p, 2, 7));
  /* g (from x 6): its descender reaches row 7 */
  assert_true(dark(&p, 6 + 1, 7) && dark(&p, 6 + 4, 2));
  assert_false(dark(&p, 6 + 4, 1));
  assert_false(dark(&p, 6 + 0, 7));
  /* clipped, not written out of bounds */
  ibx_picture_text(&p, 20, 6, 3, "W", black);
  ibx_picture_free(&p);
}

static int has_colour(const ibx_picture *p, const uint8_t rgb[3]) {
  for (long i = 0; i < (long)p->w * p->h; i++)
    if (!memcmp(p->rgb + 3 * i, rgb, 3))
      return 1;
  return 0;
}

static void test_panel_grid(void **state) {
  (void)state;
  float grey[16], heat[16];
  for (int i = 0; i < 16; i++)
    grey[i] = (float)i, heat[i] = (float)(i % 5);
  const ibx_panel panels[2] = {{grey, 0, "input: a"}, {heat, 1, "integrated_gradients"}};
  char path[512];
  snprintf(path, sizeof path, "%s/panels.png", IBX_TEST_TMP);
  assert_ibx_ok(ibx_panel_grid_write(path, panels, 2, 4, 4, 3, 5, "test image 0"));
  ibx_picture p;
  assert_ibx_ok(ibx_png_read(path, &p));
  /* two cells at least as wide as the longer title, and the colour bar */
  assert_true(p.w >= 2 * ibx_text_width("integrated_gradients", 2));
  assert_true(p.h >= 3 * 18 + 4 * 3 + 14);
  int ink = 0;
  for (int y = 0; y < 30; y++)
    for (int x = 0; x < p.w; x++)
      ink += dark(&p, x, y);
  assert_true(ink > 50); /* heading and titles drawn */
  uint8_t low[3], high[3];
  ibx_colormap_jet(0.0, low), ibx_colormap_jet(1.0, high);
  assert_true(has_colour(&p, low) && has_colour(&p, high));
  ibx_picture_free(&p);
  /* no panels: an error naming the file, nothing written */
  assert_int_equal(ibx_panel_grid_write(path, panels, 0, 4, 4, 3, 5, NULL), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "panels.png"));
}

static void test_head_uses_key(void **state) {
  (void)state;
  assert_false(ibx_model_head_uses_key("plain", "beta"));
  assert_false(ibx_model_head_uses_key("plain", "K"));
  assert_false(ibx_model_head_uses_key("aib", "Q"));
  assert_true(ibx_model_head_uses_key("aib", "beta"));
  assert_true(ibx_model_head_uses_key("dvib", "beta"));
  assert_true(ibx_model_head_uses_key("aib-qt", "Q"));
  assert_true(ibx_model_head_uses_key("plain", "width"));
  assert_false(ibx_model_head_uses_key("gap", "attention_layer"));
  assert_true(ibx_model_head_uses_key("att3", "attention_layer"));
  assert_true(ibx_model_head_uses_key("no-such-head", "beta"));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_font),
                                     cmocka_unit_test(test_panel_grid),
                                     cmocka_unit_test(test_head_uses_key)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
