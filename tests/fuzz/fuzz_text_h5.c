/* libFuzzer harness: native HDF5 text dataset reader (src/data/text_h5.c).
 * Input: the .h5 file's bytes. The file is probed (ibx_text_h5_is_text),
 * counted (ibx_text_h5_count), read whole (checksums and every invariant
 * verified) and, when that works, read again as two ranges, as two ranks
 * would; every sequence is checked (fuzz_text_common.h). Afterwards no HDF5
 * identifier may be left open. */
#include <hdf5.h>

#include "fuzz_text_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[PATH_MAX];
  fuzz_path(path, "text.h5");
  fuzz_write(path, data, size, 0);
  (void)ibx_text_h5_is_text(path);
  long count = 0;
  (void)ibx_text_h5_count(path, &count);
  ibx_text_dataset *ds = NULL;
  ibx_clear_error();
  if (ibx_text_open_h5(path, &ds) == IBX_OK) {
    fuzz_text_read_all(ds, 0);
    const long n = ibx_text_count(ds);
    ibx_text_close(ds);
    const long half = n / 2;
    for (int r = 0; r < 2; r++) {
      ds = NULL;
      ibx_clear_error();
      if (ibx_text_open_h5_range(path, r ? half : 0, r ? n - half : half, &ds) == IBX_OK) {
        fuzz_text_read_all(ds, 0);
        ibx_text_close(ds);
      } else
        fuzz_text_check_failure(ds);
    }
  } else
    fuzz_text_check_failure(ds);
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
    abort();
  fuzz_unlink(path);
  return 0;
}
