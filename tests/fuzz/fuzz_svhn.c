/* libFuzzer harness: SVHN cropped-digits .mat reader (src/data/svhn.c,
 * libmatio). Input: the .mat file's bytes (MATLAB v5, compressed or not). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[PATH_MAX];
  fuzz_path(path, "train_32x32.mat");
  fuzz_write(path, data, size, 0);
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc = ibx_dataset_open_svhn_mat(path, &ds);
  if (rc == IBX_OK) {
    fuzz_read_all(ds);
    ibx_dataset_close(ds);
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
  fuzz_unlink(path);
  return 0;
}
