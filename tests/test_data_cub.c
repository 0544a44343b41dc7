/* CUB-200-2011 directory reader: a tiny directory in the published layout
 * (text files, images/<class dir>/<name>.jpg written with libjpeg-turbo at
 * quality 100, 4:4:4) read back: pixels within JPEG rounding, labels,
 * splits, boxes (scaled on resize); bad input gives one-line errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "ibx/data.h"
#include "testutil.h"

static void assert_one_line_error(int rc, int expect, const char *needle1, const char *needle2) {
  const char *msg = ibx_errmsg();
  if (rc != expect)
    fail_msg("expected %s, got %s: %s", ibx_errname(expect), ibx_errname(rc), msg);
  if (strchr(msg, '\n'))
    fail_msg("error message is not one line: %s", msg);
  if (needle1 && !strstr(msg, needle1))
    fail_msg("error message lacks '%s': %s", needle1, msg);
  if (needle2 && !strstr(msg, needle2))
    fail_msg("error message lacks '%s': %s", needle2, msg);
}

/* Colour constant on 8x8 blocks (JPEG reproduces it almost exactly). */
static int value(int k, int c, int y, int x) {
  return (20 + 60 * c + 45 * (y / 8) + 15 * (x / 8) + 25 * k) % 230 + 10;
}

static void write_jpeg(const char *path, int k, int h, int w, int gray) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = (JDIMENSION)w, cinfo.image_height = (JDIMENSION)h;
  cinfo.input_components = gray ? 1 : 3;
  cinfo.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  for (int ci = 0; ci < cinfo.num_components; ci++)
    cinfo.comp_info[ci].h_samp_factor = cinfo.comp_info[ci].v_samp_factor = 1;
  jpeg_start_compress(&cinfo, TRUE);
  unsigned char *row = malloc((size_t)w * 3);
  while (cinfo.next_scanline < cinfo.image_height) {
    int y = (int)cinfo.next_scanline;
    for (int x = 0; x < w; x++)
      for (int c = 0; c < (gray ? 1 : 3); c++)
        row[x * (gray ? 1 : 3) + c] = (unsigned char)value(k, c, y, x);
    JSAMPROW r = row;
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  fclose(f);
  free(row);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char p[2048];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static const char *const rel[4] = {
    "001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg",
    "002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg",
    "200.Common_Yellowthroat/Common_Yellowthroat_0003_190521.jpg",
    "001.Black_footed_Albatross/Black_Footed_Albatross_0004_796105.jpg"};
static const int img_h[4] = {16, 16, 32, 16}, img_w[4] = {16, 16, 48, 16}, img_gray[4] = {0, 1, 0, 0};

static void make_cub(char *dir, size_t cap, const char *name) {
  snprintf(dir, cap, "%s/%s", IBX_TEST_TMP, name);
  char cmd[4200];
  snprintf(cmd, sizeof cmd,
           "rm -rf '%s' && mkdir -p '%s/images/001.Black_footed_Albatross' "
           "'%s/images/002.Laysan_Albatross' '%s/images/200.Common_Yellowthroat'",
           dir, dir, dir, dir);
  assert_int_equal(system(cmd), 0);
  for (int k = 0; k < 4; k++) {
    char p[2048];
    snprintf(p, sizeof p, "%s/images/%s", dir, rel[k]);
    write_jpeg(p, k, img_h[k], img_w[k], img_gray[k]);
  }
  char images[2048];
  snprintf(images, sizeof images, "1 %s\n2 %s\n3 %s\n4 %s\n", rel[0], rel[1], rel[2], rel[3]);
  write_text(dir, "images.txt", images);
  write_text(dir, "classes.txt",
             "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 200.Common_Yellowthroat\n");
  /* out of id order and with CRLF line ends: matched by id */
  write_text(dir, "image_class_labels.txt", "4 1\r\n3 3\r\n2 2\r\n1 1\r\n");
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n3 1\n4 0\n");
  write_text(dir, "bounding_boxes.txt",
             "1 2.0 3.0 8.0 10.0\n2 0.0 0.0 16.0 16.0\n3 12.0 4.0 24.0 16.0\n4 1.5 2.5 3.5 4.5\n");
}

static void check_image(const ibx_dataset *ds, long i, int k) {
  uint8_t img[3 * 16 * 16];
  int label;
  assert_ibx_ok(ibx_dataset_read(ds, i, img, &label));
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 16; y++)
      for (int x = 0; x < 16; x++) {
        int want = value(k, img_gray[k] ? 0 : c, y, x);
        int got = img[(c * 16 + y) * 16 + x];
        if (abs(got - want) > 3)
          fail_msg("sample %ld (image %d) c%d (%d,%d): got %d want %d", i, k + 1, c, y, x, got,
                   want);
      }
}

static void test_roundtrip(void **state) {
  (void)state;
  char dir[1024];
  make_cub(dir, sizeof dir, "CUB_200_2011");
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cub(dir, "train", 16, &ds));
  assert_int_equal(ibx_dataset_count(ds), 2);
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  assert_int_equal(c, 3), assert_int_equal(h, 16), assert_int_equal(w, 16);
  assert_int_equal(ibx_dataset_num_classes(ds), 3);
  assert_string_equal(ibx_dataset_class_name(ds, 0), "Black_footed_Albatross");
  assert_string_equal(ibx_dataset_class_name(ds, 2), "Common_Yellowthroat");
  assert_true(ibx_dataset_has_boxes(ds));
  int label;
  float box[4];
  /* train: ids 1 and 3 */
  check_image(ds, 0, 0);
  assert_ibx_ok(ibx_dataset_read(ds, 0, NULL, &label));
  assert_int_equal(label, 0);
  assert_ibx_ok(ibx_dataset_box(ds, 0, box));
  assert_true(box[0] == 2.0f && box[1] == 3.0f && box[2] == 8.0f && box[3] == 10.0f);
  /* id 3 is 32x48: resized to 16x16, box scaled by (16/48, 16/32) */
  uint8_t img[3 * 16 * 16];
  assert_ibx_ok(ibx_dataset_read(ds, 1, img, &label));
  assert_int_equal(label, 2);
  /* 8x8 blocks of the 32x48 image become 4x(8/3) areas: the pixel at the
   * centre of a source block's image keeps its colour */
  for (int ch = 0; ch < 3; ch++)
    assert_true(abs(img[(ch * 16 + 1) * 16 + 1] - value(2, ch, 0, 0)) <= 3);
  assert_ibx_ok(ibx_dataset_box(ds, 1, box));
  assert_float_equal(box[0], 4.0f, 1e-5);
  assert_float_equal(box[1], 2.0f, 1e-5);
  assert_float_equal(box[2], 8.0f, 1e-5);
  assert_float_equal(box[3], 8.0f, 1e-5);
  ibx_dataset_close(ds);

  /* test: ids 2 (grayscale: three equal channels) and 4 */
  assert_ibx_ok(ibx_dataset_open_cub(dir, "test", 16, &ds));
  assert_int_equal(ibx_dataset_count(ds), 2);
  check_image(ds, 0, 1);
  check_image(ds, 1, 3);
  assert_ibx_ok(ibx_dataset_read(ds, 0, NULL, &label));
  assert_int_equal(label, 1);
  assert_ibx_ok(ibx_dataset_read(ds, 1, NULL, &label));
  assert_int_equal(label, 0);
  assert_ibx_ok(ibx_dataset_box(ds, 1, box));
  assert_true(box[0] == 1.5f && box[1] == 2.5f && box[2] == 3.5f && box[3] == 4.5f);
  ibx_dataset_close(ds);

  /* all, at 8x8; a resized copy keeps (scaled) boxes */
  assert_ibx_ok(ibx_dataset_open_cub(dir, "all", 8, &ds));
  assert_int_equal(ibx_dataset_count(ds), 4);
  assert_ibx_ok(ibx_dataset_box(ds, 2, box));
  assert_float_equal(box[0], 2.0f, 1e-5);
  assert_float_equal(box[3], 4.0f, 1e-5);
  ibx_dataset *copy = NULL;
  assert_ibx_ok(ibx_dataset_resize_copy(ds, 16, 16, &copy));
  assert_true(ibx_dataset_has_boxes(copy));
  assert_ibx_ok(ibx_dataset_box(copy, 2, box));
  assert_float_equal(box[0], 4.0f, 1e-5);
  assert_float_equal(box[3], 8.0f, 1e-5);
  assert_ibx_ok(ibx_dataset_read(copy, 3, NULL, &label));
  assert_int_equal(label, 0);
  ibx_dataset_close(copy);
  ibx_dataset_close(ds);
}

static void test_bad_text(void **state) {
  (void)state;
  char dir[1024], p[2048];
  ibx_dataset *ds = NULL;
  make_cub(dir, sizeof dir, "cub_bad");
  assert_one_line_error(ibx_dataset_open_cub(dir, "val", 16, &ds), IBX_ERR_ARG, "val", NULL);
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 0, &ds), IBX_ERR_ARG, "size", NULL);
  /* missing files */
  const char *required[4] = {"images.txt", "image_class_labels.txt", "train_test_split.txt",
                             "bounding_boxes.txt"};
  for (int k = 0; k < 4; k++) {
    make_cub(dir, sizeof dir, "cub_bad");
    snprintf(p, sizeof p, "%s/%s", dir, required[k]);
    assert_int_equal(remove(p), 0);
    assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_IO, required[k],
                          NULL);
  }
  /* classes.txt is optional: names become numbers */
  make_cub(dir, sizeof dir, "cub_bad");
  snprintf(p, sizeof p, "%s/classes.txt", dir);
  assert_int_equal(remove(p), 0);
  assert_ibx_ok(ibx_dataset_open_cub(dir, "all", 16, &ds));
  assert_int_equal(ibx_dataset_num_classes(ds), 3);
  assert_string_equal(ibx_dataset_class_name(ds, 2), "2");
  ibx_dataset_close(ds);
  ds = NULL;
  /* class id out of range */
  make_cub(dir, sizeof dir, "cub_bad");
  write_text(dir, "image_class_labels.txt", "1 1\n2 2\n3 4\n4 1\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "image_class_labels.txt line 3", "class id 4");
  /* count mismatch: an image without a split */
  write_text(dir, "image_class_labels.txt", "1 1\n2 2\n3 3\n4 1\n");
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n4 0\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "train_test_split.txt has 3 entries", "4 images");
  /* an id not in images.txt, a duplicate, a malformed box, a bad split flag */
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n3 1\n5 0\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "train_test_split.txt line 4", NULL);
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n3 1\n3 0\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT, "twice",
                        NULL);
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n3 2\n4 0\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "train_test_split.txt line 3", NULL);
  write_text(dir, "train_test_split.txt", "1 1\n2 0\n3 1\n4 0\n");
  write_text(dir, "bounding_boxes.txt", "1 2.0 3.0 8.0 10.0\n2 0 0 16\n3 1 2 3 4\n4 1 2 3 4\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "bounding_boxes.txt line 2", NULL);
  write_text(dir, "bounding_boxes.txt", "1 2 3 8 10\n2 0 0 16 16\n3 1 2 3 4\n4 1 2 3 4\n");
  write_text(dir, "images.txt", "1 a.jpg\nx b.jpg\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "images.txt line 2", "image id");
  /* ids may leave gaps, but not beyond 4 x the lines + 1024 (the id table
   * is sized by the largest id: this one line cost 671 MB before) */
  write_text(dir, "images.txt", "1 a.jpg\n2 b.jpg\n3 c.jpg\n9999999 d.jpg\n");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "images.txt line 4", "1..1040");
  write_text(dir, "images.txt", "");
  assert_one_line_error(ibx_dataset_open_cub(dir, "all", 16, &ds), IBX_ERR_FORMAT,
                        "no images", NULL);
  assert_null(ds);
}

static void test_bad_jpeg(void **state) {
  (void)state;
  char dir[1024], p[2048];
  make_cub(dir, sizeof dir, "cub_badjpeg");
  ibx_dataset *ds = NULL;
  assert_ibx_ok(ibx_dataset_open_cub(dir, "train", 16, &ds));
  uint8_t img[3 * 16 * 16];
  float box[4];
  /* missing JPEG: the read fails naming it */
  snprintf(p, sizeof p, "%s/images/%s", dir, rel[2]);
  assert_int_equal(remove(p), 0);
  assert_one_line_error(ibx_dataset_read(ds, 1, img, NULL), IBX_ERR_IO, rel[2], NULL);
  assert_one_line_error(ibx_dataset_box(ds, 1, box), IBX_ERR_IO, rel[2], NULL);
  /* not a JPEG */
  FILE *f = fopen(p, "wb");
  fputs("GIF89a this is not a jpeg", f);
  fclose(f);
  assert_one_line_error(ibx_dataset_read(ds, 1, img, NULL), IBX_ERR_FORMAT, rel[2], "JPEG");
  /* every truncation of a valid JPEG fails cleanly */
  write_jpeg(p, 2, 32, 48, 0);
  f = fopen(p, "rb");
  static uint8_t full[65536];
  size_t n = fread(full, 1, sizeof full, f);
  fclose(f);
  assert_true(n > 200 && n < sizeof full);
  for (size_t len = 0; len < n - 2; len += 7) {
    f = fopen(p, "wb");
    fwrite(full, 1, len, f);
    fclose(f);
    int rc = ibx_dataset_read(ds, 1, img, NULL);
    if (rc == IBX_OK)
      fail_msg("JPEG truncated to %zu of %zu bytes was read", len, n);
    assert_one_line_error(rc, IBX_ERR_FORMAT, rel[2], NULL);
  }
  /* a header claiming 65280 x 65280 pixels is refused before any buffer of
   * that size is allocated (12.8 GB of RGB before) */
  size_t sof = 0;
  for (size_t i = 0; i + 9 < n && !sof; i++)
    if (full[i] == 0xFF && full[i + 1] == 0xC0) /* SOF0: len(2) prec(1) h(2) w(2) */
      sof = i;
  assert_true(sof > 0);
  full[sof + 5] = full[sof + 7] = 0xFF, full[sof + 6] = full[sof + 8] = 0x00;
  f = fopen(p, "wb");
  fwrite(full, 1, n, f);
  fclose(f);
  assert_one_line_error(ibx_dataset_read(ds, 1, img, NULL), IBX_ERR_FORMAT, rel[2],
                        "65280 x 65280 pixels is larger");
  /* the other sample still reads */
  assert_ibx_ok(ibx_dataset_read(ds, 0, img, NULL));
  ibx_dataset_close(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_bad_text),
      cmocka_unit_test(test_bad_jpeg),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
