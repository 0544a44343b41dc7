/* MNIST / Fashion-MNIST IDX reader. Format (LeCun): big-endian magic
 * 0x0000TTDD (TT = 0x08 for uint8, DD = number of dimensions), DD big-endian
 * 32-bit sizes, then the data in C order. Images: 0x00000803, N x rows x
 * cols. Labels: 0x00000801, N. Files may be gzipped; the whole data is held in
 * memory (Fashion-MNIST train is 47 MB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "ibx/error.h"

const char *const ibx_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

/* Checks an IDX header: magic, then that the file holds exactly the data it
 * declares. dims receives the ndims sizes. */
static int check_idx(const char *what, const char *path, const uint8_t *buf, size_t size,
                     uint32_t magic, const char *kind, uint32_t *dims) {
  int ndims = (int)(magic & 0xff);
  if (size < 4)
    return ibx_fail(IBX_ERR_FORMAT, "%s: %s: truncated IDX %s file (%zu bytes, no header)", what,
                    path, kind, size);
  uint32_t got = ibxd_be32(buf);
  if (got != magic)
    return ibx_fail(IBX_ERR_FORMAT,
                    "%s: %s: wrong magic number 0x%08x, expected 0x%08x (IDX uint8 %s file)", what,
                    path, got, magic, kind);
  size_t header = 4 + 4 * (size_t)ndims;
  if (size < header)
    return ibx_fail(IBX_ERR_FORMAT, "%s: %s: truncated IDX %s file (%zu bytes, header needs %zu)",
                    what, path, kind, size, header);
  size_t expect = 1;
  for (int d = 0; d < ndims; d++) {
    dims[d] = ibxd_be32(buf + 4 + 4 * d);
    if (dims[d] > 0x7fffffffu || (dims[d] && expect > SIZE_MAX / 4 / dims[d]))
      return ibx_fail(IBX_ERR_FORMAT, "%s: %s: implausible IDX dimension %u", what, path,
                      dims[d]);
    expect *= dims[d];
  }
  if (size - header < expect)
    return ibx_fail(IBX_ERR_FORMAT,
                    "%s: %s: truncated IDX %s file (%zu data bytes, header declares %zu)", what,
                    path, kind, size - header, expect);
  if (size - header > expect)
    return ibx_fail(IBX_ERR_FORMAT,
                    "%s: %s: %zu unexpected bytes after the %zu data bytes the header declares",
                    what, path, size - header - expect, expect);
  return IBX_OK;
}

static int open_idx(const char *what, const char *images_path, const char *labels_path,
                    const char *const *class_names, int num_classes, const char *hint,
                    ibx_dataset **out) {
  *out = NULL;
  if (!images_path || !labels_path)
    return ibx_fail(IBX_ERR_ARG, "%s: NULL path", what);
  if (num_classes <= 0 || num_classes > 256)
    return ibx_fail(IBX_ERR_ARG, "%s: number of classes must be in [1, 256], got %d", what,
                    num_classes);
  uint8_t *img = NULL, *lab = NULL;
  size_t img_size = 0, lab_size = 0;
  ibx_dataset *ds = NULL;
  uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};
  int rc = ibxd_load_file(images_path, what, hint, &img, &img_size);
  if (rc == IBX_OK)
    rc = ibxd_load_file(labels_path, what, hint, &lab, &lab_size);
  if (rc == IBX_OK)
    rc = check_idx(what, images_path, img, img_size, IDX_IMAGES_MAGIC, "image", idims);
  if (rc == IBX_OK)
    rc = check_idx(what, labels_path, lab, lab_size, IDX_LABELS_MAGIC, "label", ldims);
  if (rc == IBX_OK && idims[0] != ldims[0])
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s has %u images but %s has %u labels", what, images_path,
                  idims[0], labels_path, ldims[0]);
  if (rc == IBX_OK && (idims[1] == 0 || idims[2] == 0))
    rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: empty image size %u x %u", what, images_path, idims[1],
                  idims[2]);
  const uint8_t *labels = lab ? lab + 8 : NULL;
  for (uint32_t i = 0; rc == IBX_OK && i < ldims[0]; i++)
    if (labels[i] >= num_classes)
      rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: label %u of sample %u is out of range [0, %d)", what,
                    labels_path, labels[i], i, num_classes);
  if (rc == IBX_OK) {
    ds = ibxd_new("%s", what);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, class_names, num_classes);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, (long)idims[0], 1, (int)idims[1], (int)idims[2], 0);
  if (rc == IBX_OK) {
    memcpy(ds->images, img + 16, (size_t)idims[0] * idims[1] * idims[2]);
    for (uint32_t i = 0; i < ldims[0]; i++)
      ds->labels[i] = labels[i];
  }
  free(img);
  free(lab);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibx_dataset_open_idx(const char *images_path, const char *labels_path,
                         const char *const *class_names, int num_classes, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "idx: NULL output pointer");
  if (!class_names && num_classes <= 0)
    num_classes = 10;
  return open_idx(images_path ? images_path : "idx", images_path, labels_path, class_names,
                  num_classes, NULL, out);
}

/* dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]: prefers the .gz name,
 * falls back to the plain one, and names the .gz one when neither exists. */
static int split_paths(const char *what, const char *dir, const char *split, char *images,
                       char *labels, size_t cap) {
  const char *prefix;
  if (split && strcmp(split, "train") == 0)
    prefix = "train";
  else if (split && (strcmp(split, "test") == 0 || strcmp(split, "t10k") == 0))
    prefix = "t10k";
  else
    return ibx_fail(IBX_ERR_ARG, "%s: unknown split '%s' (use train or test)", what,
                    split ? split : "(null)");
  char *paths[2] = {images, labels};
  const char *kinds[2] = {"images-idx3", "labels-idx1"};
  for (int k = 0; k < 2; k++) {
    char name[64], plain[64];
    snprintf(name, sizeof name, "%s-%s-ubyte.gz", prefix, kinds[k]);
    snprintf(plain, sizeof plain, "%s-%s-ubyte", prefix, kinds[k]);
    IBX_TRY(ibxd_join(paths[k], cap, dir, name));
    if (!ibxd_path_exists(paths[k])) {
      char alt[4096];
      IBX_TRY(ibxd_join(alt, sizeof alt, dir, plain));
      if (ibxd_path_exists(alt) && strlen(alt) < cap)
        strcpy(paths[k], alt);
    }
  }
  return IBX_OK;
}

int ibx_dataset_open_fashion_mnist(const char *dir, const char *split, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "fashion-mnist: NULL output pointer");
  *out = NULL;
  int is_default = !dir || strcmp(dir, IBX_FASHION_MNIST_DIR) == 0;
  if (!dir)
    dir = IBX_FASHION_MNIST_DIR;
  char what[64], images[4096], labels[4096];
  snprintf(what, sizeof what, "fashion-mnist %s", split ? split : "?");
  IBX_TRY(split_paths("fashion-mnist", dir, split, images, labels, sizeof images));
  return open_idx(what, images, labels, ibx_fashion_mnist_classes, 10,
                  is_default ? "(Debian package dataset-fashion-mnist provides it)" : NULL, out);
}

int ibx_dataset_open_mnist(const char *dir, const char *split, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "mnist: NULL output pointer");
  *out = NULL;
  if (!dir)
    return ibx_fail(IBX_ERR_ARG, "mnist: no directory given");
  char what[64], images[4096], labels[4096];
  snprintf(what, sizeof what, "mnist %s", split ? split : "?");
  IBX_TRY(split_paths("mnist", dir, split, images, labels, sizeof images));
  return open_idx(what, images, labels, NULL, 10, NULL, out);
}
