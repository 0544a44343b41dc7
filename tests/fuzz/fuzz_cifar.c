/* libFuzzer harness: CIFAR-10 / CIFAR-100 binary batch reader
 * (src/data/cifar.c, ibx_dataset_open_cifar_files).
 *
 * Input: <flags byte> <batch 1> [FUZZ_SEP <batch 2> ...] (up to 5 files)
 *   flags bit 0: CIFAR-100 (coarse + fine label records) instead of CIFAR-10
 *   flags bit 1: gzip every batch file before writing it */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const unsigned flags = data[0];
  fuzz_part parts[5];
  const int np = fuzz_split(data + 1, size - 1, parts, 5);
  char paths[5][PATH_MAX];
  const char *ptrs[5];
  for (int k = 0; k < np; k++) {
    char name[32];
    snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
    fuzz_path(paths[k], name);
    fuzz_write(paths[k], parts[k].data, parts[k].size, (flags >> 1) & 1);
    ptrs[k] = paths[k];
  }
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc = ibx_dataset_open_cifar_files(ptrs, np, (flags & 1) ? 100 : 10, &ds);
  if (rc == IBX_OK) {
    if (ibx_dataset_num_coarse_classes(ds) != ((flags & 1) ? 20 : 0))
      abort();
    fuzz_read_all(ds);
    ibx_dataset_close(ds);
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
  for (int k = 0; k < np; k++)
    fuzz_unlink(paths[k]);
  return 0;
}
