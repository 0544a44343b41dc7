/* libFuzzer harness: native HDF5 dataset reader (src/data/h5data.c).
 * Input: the .h5 file's bytes. The file is counted (ibx_dataset_h5_count),
 * read whole (ibx_dataset_open_h5: checksums verified) and, when that works,
 * read again as two ranges (ibx_dataset_open_h5_range), as two ranks would.
 * Afterwards no HDF5 identifier may be left open (a handle leaked on some
 * error path would keep the file open in the library). */
#include <hdf5.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[PATH_MAX];
  fuzz_path(path, "data.h5");
  fuzz_write(path, data, size, 0);
  long count = 0;
  (void)ibx_dataset_h5_count(path, &count);
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc = ibx_dataset_open_h5(path, &ds);
  if (rc == IBX_OK) {
    fuzz_read_all(ds);
    const long n = ibx_dataset_count(ds);
    ibx_dataset_close(ds);
    const long half = n / 2;
    for (int r = 0; r < 2; r++) {
      ds = NULL;
      ibx_clear_error();
      rc = ibx_dataset_open_h5_range(path, r ? half : 0, r ? n - half : half, &ds);
      if (rc == IBX_OK) {
        fuzz_read_all(ds);
        ibx_dataset_close(ds);
      } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
        abort();
    }
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
    abort();
  fuzz_unlink(path);
  return 0;
}
