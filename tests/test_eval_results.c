/* Results files and pictures: an update replaces exactly the named groups
 * and keeps every other object (also siblings under a shared parent), leaves
 * no temporary file, and a failing writer leaves the old file intact; PNGs
 * round-trip through libpng; the jet colour map has its documented ends. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/eval.h"
#include "ibx/png.h"
#include "testutil.h"

typedef struct {
  const char *const *groups;
  int n;
  double value;
  int fail;
} fill_ctx;

static int fill(ibx_h5 *f, void *ctx) {
  const fill_ctx *c = ctx;
  if (c->fail)
    return ibx_fail(IBX_ERR_IO, "writer failed on purpose");
  for (int i = 0; i < c->n; i++) {
    IBX_TRY(ibx_results_group(f, c->groups[i]));
    IBX_TRY(ibx_h5_write_attr_f64(f, c->groups[i], "score", c->value));
    char name[256];
    snprintf(name, sizeof name, "%s/cosine", c->groups[i]);
    const int64_t dim = 3;
    const float v[3] = {(float)c->value, 0.5f, 1.0f};
    IBX_TRY(ibx_h5_write_f32(f, name, 1, &dim, v));
  }
  return IBX_OK;
}

static void update(const char *path, const char *const *groups, int n, double value) {
  fill_ctx c = {groups, n, value, 0};
  assert_ibx_ok(ibx_results_update(path, groups, n, fill, &c));
}

static double score(const char *path, const char *group) {
  ibx_h5 f;
  double v = -1;
  assert_ibx_ok(ibx_h5_open(&f, path));
  assert_ibx_ok(ibx_h5_read_attr_f64(&f, group, "score", &v));
  char name[256];
  snprintf(name, sizeof name, "%s/cosine", group);
  float c[3];
  assert_ibx_ok(ibx_h5_read_f32(&f, name, c, 3)); /* datasets are copied too */
  assert_true(c[0] == (float)v);
  ibx_h5_close(&f);
  return v;
}

static void test_update_keeps_other_groups(void **state) {
  (void)state;
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s/results_update", IBX_TEST_TMP);
  snprintf(path, sizeof path, "%s/results/interpret.h5", dir); /* results/ is created */
  char cmd[2400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
  assert_int_equal(system(cmd), 0);
  const char *first[] = {"/interpret/color_block/p4", "/interpret/color_block/p8",
                         "/interpret/low_pass/r12"};
  update(path, first, 3, 1.0);
  const char *second[] = {"/interpret/color_block/p8", "/interpret/patch/p8"};
  update(path, second, 2, 2.0);
  assert_true(score(path, "/interpret/color_block/p4") == 1.0);
  assert_true(score(path, "/interpret/color_block/p8") == 2.0);
  assert_true(score(path, "/interpret/low_pass/r12") == 1.0);
  assert_true(score(path, "/interpret/patch/p8") == 2.0);
  /* a failing writer leaves the file as it was */
  fill_ctx bad = {second, 2, 3.0, 1};
  assert_int_equal(ibx_results_update(path, second, 2, fill, &bad), IBX_ERR_IO);
  assert_true(score(path, "/interpret/color_block/p8") == 2.0);
  assert_true(score(path, "/interpret/color_block/p4") == 1.0);
  /* no temporary files remain, only the file and its lock */
  snprintf(cmd, sizeof cmd, "%s/results", dir);
  DIR *d = opendir(cmd);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strcmp(e->d_name, "interpret.h5") &&
        strcmp(e->d_name, "interpret.h5.lock"))
      fail_msg("unexpected file %s in results/", e->d_name);
  closedir(d);
}

static void test_png_round_trip(void **state) {
  (void)state;
  ibx_picture p, q;
  assert_ibx_ok(ibx_picture_new(7, 5, 255, &p));
  const float canvas[3 * 2 * 2] = {0, 255, 127, 510, 0, 0, 255, -9, 255, 255, 0, 0};
  ibx_picture_draw(&p, 1, 1, 2, canvas, 3, 2, 2, NULL, 0, 0, 0); /* 2x magnified */
  ibx_picture_draw(&p, 6, 4, 1, canvas, 3, 2, 2, NULL, 0, 0, 0); /* clipped at the edge */
  const uint8_t *px = p.rgb + ((size_t)1 * 7 + 1) * 3; /* canvas (0,0) = (0, 0, 1) */
  assert_int_equal(px[0], 0), assert_int_equal(px[1], 0), assert_int_equal(px[2], 255);
  px = p.rgb + ((size_t)2 * 7 + 4) * 3; /* canvas (0,1): (1, 0, 1) */
  assert_int_equal(px[0], 255), assert_int_equal(px[1], 0), assert_int_equal(px[2], 255);
  px = p.rgb + ((size_t)4 * 7 + 4) * 3; /* canvas (1,1): (510->255, -9->0, 0) clamped */
  assert_int_equal(px[0], 255), assert_int_equal(px[1], 0), assert_int_equal(px[2], 0);
  char path[1024];
  snprintf(path, sizeof path, "%s/round_trip.png", IBX_TEST_TMP);
  assert_ibx_ok(ibx_png_write(path, &p));
  assert_ibx_ok(ibx_png_read(path, &q));
  assert_int_equal(q.w, 7), assert_int_equal(q.h, 5);
  assert_memory_equal(p.rgb, q.rgb, 7 * 5 * 3);
  ibx_picture_free(&p), ibx_picture_free(&q);
  snprintf(path, sizeof path, "%s/results_update", IBX_TEST_TMP); /* a directory */
  assert_int_equal(ibx_png_read(path, &q), IBX_ERR_FORMAT);
}

static void test_overlay_and_colormap(void **state) {
  (void)state;
  uint8_t rgb[3];
  ibx_colormap_jet(0.0, rgb); /* dark blue */
  assert_int_equal(rgb[0], 0), assert_int_equal(rgb[1], 0), assert_true(rgb[2] > 100);
  ibx_colormap_jet(1.0, rgb); /* dark red */
  assert_true(rgb[0] > 100), assert_int_equal(rgb[1], 0), assert_int_equal(rgb[2], 0);
  ibx_colormap_jet(0.5, rgb); /* green-ish middle */
  assert_true(rgb[1] == 255 && rgb[0] < 200 && rgb[2] < 200);
  /* a map whose top half is high: full-alpha overlay is red on top, blue below */
  ibx_picture p;
  assert_ibx_ok(ibx_picture_new(4, 4, 0, &p));
  const float canvas[16] = {0}, map[4] = {1, 1, 0, 0};
  ibx_picture_draw(&p, 0, 0, 1, canvas, 1, 4, 4, map, 2, 2, 1.0f);
  assert_true(p.rgb[0] > 100 && p.rgb[2] == 0);                 /* (0,0) */
  assert_true(p.rgb[(3 * 4 + 3) * 3 + 2] > 100 && p.rgb[(3 * 4 + 3) * 3] == 0); /* (3,3) */
  ibx_picture_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_update_keeps_other_groups),
      cmocka_unit_test(test_png_round_trip),
      cmocka_unit_test(test_overlay_and_colormap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
