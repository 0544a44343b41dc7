/* libFuzzer harness: MNIST / Fashion-MNIST IDX reader (src/data/idx.c).
 *
 * Input: <flags byte> <image file bytes> FUZZ_SEP <label file bytes>
 *   flags bit 0: gzip the image file before writing it
 *   flags bit 1: gzip the label file
 *   flags bit 2: open through ibx_dataset_open_fashion_mnist(dir, "test")
 *                (files t10k-*-ubyte[.gz]) instead of ibx_dataset_open_idx
 *   flags bit 3: (open_idx only) 3 named classes instead of 10
 * Raw gzip data in the parts is read as such too (gunzip is by content). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const unsigned flags = data[0];
  fuzz_part parts[2];
  int np = fuzz_split(data + 1, size - 1, parts, 2);
  if (np < 2)
    parts[1].data = NULL, parts[1].size = 0;
  const int gzi = flags & 1, gzl = (flags >> 1) & 1, fm = (flags >> 2) & 1;
  char ipath[PATH_MAX], lpath[PATH_MAX];
  if (fm) {
    fuzz_path(ipath, gzi ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
    fuzz_path(lpath, gzl ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte");
  } else {
    fuzz_path(ipath, "images.idx");
    fuzz_path(lpath, "labels.idx");
  }
  fuzz_write(ipath, parts[0].data, parts[0].size, gzi);
  if (np >= 2) /* one part only: the label file is missing */
    fuzz_write(lpath, parts[1].data, parts[1].size, gzl);
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc;
  if (fm)
    rc = ibx_dataset_open_fashion_mnist(fuzz_dir(), "test", &ds);
  else if (flags & 8) {
    static const char *const names[3] = {"a", "b", "c"};
    rc = ibx_dataset_open_idx(ipath, lpath, names, 3, &ds);
  } else
    rc = ibx_dataset_open_idx(ipath, lpath, NULL, 10, &ds);
  if (rc == IBX_OK) {
    fuzz_read_all(ds);
    ibx_dataset_close(ds);
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort(); /* failures leave *out NULL and record a one-line message */
  fuzz_unlink(ipath);
  fuzz_unlink(lpath);
  return 0;
}
