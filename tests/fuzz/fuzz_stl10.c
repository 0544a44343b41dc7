/* libFuzzer harness: STL-10 binary reader (src/data/stl10.c).
 *
 * Input: <flags byte> <size byte> <X file bytes> FUZZ_SEP <y file bytes>
 *   flags bit 0: gzip the y file (it is read through the gunzipping loader;
 *                X is read plain)
 *   flags bit 1: open through ibx_dataset_open_stl10_as_cifar10(dir,
 *                "train", 1 + size % 128) (drops monkeys, maps the labels,
 *                resizes) instead of ibx_dataset_open_stl10(dir, "train") */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  const unsigned flags = data[0], side = 1 + data[1] % 128;
  fuzz_part parts[2];
  int np = fuzz_split(data + 2, size - 2, parts, 2);
  char xpath[PATH_MAX], ypath[PATH_MAX];
  fuzz_path(xpath, "train_X.bin");
  fuzz_path(ypath, "train_y.bin");
  fuzz_write(xpath, parts[0].data, parts[0].size, 0);
  if (np >= 2)
    fuzz_write(ypath, parts[1].data, parts[1].size, flags & 1);
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc = (flags & 2) ? ibx_dataset_open_stl10_as_cifar10(fuzz_dir(), "train", (int)side, &ds)
                       : ibx_dataset_open_stl10(fuzz_dir(), "train", &ds);
  if (rc == IBX_OK) {
    fuzz_read_all(ds);
    if (flags & 2)
      for (long i = 0; i < ibx_dataset_count(ds); i++) {
        int label;
        if (ibx_dataset_read(ds, i, NULL, &label) != IBX_OK || label == 6)
          abort(); /* CIFAR-10's frog has no STL-10 counterpart */
      }
    ibx_dataset_close(ds);
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
  fuzz_unlink(xpath);
  fuzz_unlink(ypath);
  return 0;
}
