/* STL-10 binary version (Coates, Lee, Ng 2011,
 * https://cs.stanford.edu/~acoates/stl10/): train_X.bin / test_X.bin hold
 * N images of 3 x 96 x 96 bytes, each channel plane stored column-major
 * (byte (col * 96 + row) of a plane is pixel (row, col)); train_y.bin /
 * test_y.bin hold N labels 1..10, one byte each. ibx labels are 0..9.
 *
 * Cross-domain evaluation (Learn To Pay Attention, Jetley et al. 2018): a
 * CIFAR-10 model is tested on the 9 STL-10 classes CIFAR-10 shares. STL-10
 * has "monkey" where CIFAR-10 has "frog"; the mapping STL-10 -> CIFAR-10 is
 *   airplane 0->0, bird 1->2, car 2->1 (automobile), cat 3->3, deer 4->4,
 *   dog 5->5, horse 6->7, monkey 7->(dropped), ship 8->8, truck 9->9,
 * so CIFAR-10's frog (6) never occurs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"
#include "ibx/error.h"

#define STL_SIDE 96
#define STL_IMAGE (3 * STL_SIDE * STL_SIDE)

const char *const ibx_stl10_classes[10] = {"airplane", "bird",  "car",    "cat",  "deer",
                                           "dog",      "horse", "monkey", "ship", "truck"};

int ibx_stl10_to_cifar10(int stl_label) {
  static const int map[10] = {0, 2, 1, 3, 4, 5, 7, -1, 8, 9};
  return (stl_label >= 0 && stl_label < 10) ? map[stl_label] : -1;
}

/* CHW plane[row][col] <- column-major plane. */
static void stl_to_chw(const uint8_t *src, uint8_t *dst) {
  for (int c = 0; c < 3; c++) {
    const uint8_t *s = src + c * STL_SIDE * STL_SIDE;
    uint8_t *d = dst + c * STL_SIDE * STL_SIDE;
    for (int col = 0; col < STL_SIDE; col++)
      for (int row = 0; row < STL_SIDE; row++)
        d[row * STL_SIDE + col] = s[col * STL_SIDE + row];
  }
}

int ibx_dataset_open_stl10_files(const char *x_path, const char *y_path, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "stl-10: NULL output pointer");
  *out = NULL;
  if (!x_path || !y_path)
    return ibx_fail(IBX_ERR_ARG, "stl-10: NULL path");
  uint8_t *y = NULL;
  size_t ny = 0;
  IBX_TRY(ibxd_load_file(y_path, "stl-10", NULL, &y, &ny));
  FILE *f = fopen(x_path, "rb");
  int rc = IBX_OK;
  struct stat st;
  if (!f)
    rc = ibx_fail(IBX_ERR_IO, "stl-10: cannot open %s: %s", x_path, strerror(errno));
  else if (fstat(fileno(f), &st) != 0)
    rc = ibx_fail(IBX_ERR_IO, "stl-10: cannot stat %s: %s", x_path, strerror(errno));
  else if (st.st_size == 0 || st.st_size % STL_IMAGE != 0)
    rc = ibx_fail(IBX_ERR_FORMAT,
                  "stl-10: %s: truncated or not an STL-10 image file (%lld bytes is not a whole "
                  "number of %d-byte 96x96x3 images)",
                  x_path, (long long)st.st_size, STL_IMAGE);
  long n = rc == IBX_OK ? (long)(st.st_size / STL_IMAGE) : 0;
  if (rc == IBX_OK && (size_t)n != ny)
    rc = ibx_fail(IBX_ERR_FORMAT, "stl-10: %s has %ld images but %s has %zu labels", x_path, n,
                  y_path, ny);
  for (size_t i = 0; rc == IBX_OK && i < ny; i++)
    if (y[i] < 1 || y[i] > 10)
      rc = ibx_fail(IBX_ERR_FORMAT, "stl-10: %s: label %u of sample %zu is out of range 1..10",
                    y_path, y[i], i);
  ibx_dataset *ds = NULL;
  if (rc == IBX_OK) {
    ds = ibxd_new("stl-10 %s", x_path);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, ibx_stl10_classes, 10);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, n, 3, STL_SIDE, STL_SIDE, 0);
  uint8_t *buf = NULL;
  if (rc == IBX_OK && !(buf = malloc(STL_IMAGE)))
    rc = ibx_fail(IBX_ERR_NOMEM, "stl-10: out of memory reading %s", x_path);
  for (long i = 0; rc == IBX_OK && i < n; i++) {
    if (fread(buf, 1, STL_IMAGE, f) != STL_IMAGE) {
      rc = ibx_fail(IBX_ERR_IO, "stl-10: %s: read failed at image %ld", x_path, i);
      break;
    }
    stl_to_chw(buf, ds->images + (size_t)i * STL_IMAGE);
    ds->labels[i] = y[i] - 1;
  }
  free(buf);
  free(y);
  if (f)
    fclose(f);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

static int split_paths(const char *dir, const char *split, char *x, char *y, size_t cap) {
  if (!dir)
    return ibx_fail(IBX_ERR_ARG, "stl-10: no directory given");
  if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0))
    return ibx_fail(IBX_ERR_ARG, "stl-10: unknown split '%s' (use train or test)",
                    split ? split : "(null)");
  char name[32];
  snprintf(name, sizeof name, "%s_X.bin", split);
  IBX_TRY(ibxd_join(x, cap, dir, name));
  snprintf(name, sizeof name, "%s_y.bin", split);
  return ibxd_join(y, cap, dir, name);
}

int ibx_dataset_open_stl10(const char *dir, const char *split, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "stl-10: NULL output pointer");
  *out = NULL;
  char x[4096], y[4096];
  IBX_TRY(split_paths(dir, split, x, y, sizeof x));
  IBX_TRY(ibx_dataset_open_stl10_files(x, y, out));
  snprintf((*out)->name, sizeof (*out)->name, "stl-10 %s (%s)", split, dir);
  return IBX_OK;
}

extern const char *const ibx_cifar10_classes[10];

int ibx_dataset_open_stl10_as_cifar10(const char *dir, const char *split, int size,
                                      ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "stl-10: NULL output pointer");
  *out = NULL;
  if (size <= 0 || size > 4096)
    return ibx_fail(IBX_ERR_ARG, "stl-10: bad target size %d", size);
  ibx_dataset *stl = NULL, *ds = NULL;
  IBX_TRY(ibx_dataset_open_stl10(dir, split, &stl));
  long kept = 0;
  for (long i = 0; i < stl->count; i++)
    kept += ibx_stl10_to_cifar10(stl->labels[i]) >= 0;
  ds = ibxd_new("stl-10 %s as cifar-10 %dx%d (%s)", split, size, size, dir);
  int rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, ibx_cifar10_classes, 10);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, kept, 3, size, size, 0);
  const size_t osz = (size_t)3 * size * size;
  for (long i = 0, j = 0; rc == IBX_OK && i < stl->count; i++) {
    int cl = ibx_stl10_to_cifar10(stl->labels[i]);
    if (cl < 0)
      continue;
    ibxd_resize_u8(stl->images + (size_t)i * STL_IMAGE, 3, STL_SIDE, STL_SIDE,
                   ds->images + (size_t)j * osz, size, size);
    ds->labels[j++] = cl;
  }
  ibx_dataset_close(stl);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}
