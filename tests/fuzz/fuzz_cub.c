/* libFuzzer harness: CUB-200-2011 directory reader (src/data/cub.c: the
 * text files and the JPEGs, libjpeg-turbo).
 *
 * Input: <flags byte> <size byte> images.txt FUZZ_SEP image_class_labels.txt
 *        FUZZ_SEP train_test_split.txt FUZZ_SEP bounding_boxes.txt
 *        FUZZ_SEP classes.txt FUZZ_SEP jpeg 0 [FUZZ_SEP jpeg 1 ...]
 *   flags bits 0-1: split 0 train, 1 test, 2/3 all
 *   flags bit 2: write classes.txt (otherwise it is absent: names "0".."n")
 *   size byte: output image side 1 + size % 64
 * Text files missing from the input are missing from the directory. JPEG k
 * is written as images/k.jpg (the seeds' images.txt name them so). ".." in
 * images.txt is replaced by "__" so that no fuzzed path leaves the
 * temporary directory (the harness must not open arbitrary files of the
 * machine, e.g. a FIFO or a terminal). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const text_names[5] = {"images.txt", "image_class_labels.txt",
                                          "train_test_split.txt", "bounding_boxes.txt",
                                          "classes.txt"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  const unsigned flags = data[0];
  const int side = 1 + data[1] % 64;
  static const char *const splits[4] = {"train", "test", "all", "all"};
  fuzz_part parts[FUZZ_MAX_PARTS];
  const int np = fuzz_split(data + 2, size - 2, parts, FUZZ_MAX_PARTS);
  char paths[FUZZ_MAX_PARTS][PATH_MAX], images_dir[PATH_MAX];
  int written[FUZZ_MAX_PARTS] = {0};
  fuzz_path(images_dir, "images");
  fuzz_mkdir(images_dir);
  for (int k = 0; k < np; k++) {
    if (k < 5) {
      if (k == 4 && !(flags & 4))
        continue;
      fuzz_path(paths[k], text_names[k]);
      if (k == 0) { /* images.txt: no way out of the directory */
        uint8_t *copy = malloc(parts[0].size + 1);
        if (!copy)
          fuzz_die("malloc");
        memcpy(copy, parts[0].data, parts[0].size);
        for (size_t i = 0; i + 1 < parts[0].size; i++)
          if (copy[i] == '.' && copy[i + 1] == '.')
            copy[i] = copy[i + 1] = '_';
        fuzz_write(paths[k], copy, parts[0].size, 0);
        free(copy);
      } else
        fuzz_write(paths[k], parts[k].data, parts[k].size, 0);
    } else {
      snprintf(paths[k], PATH_MAX, "%s/%d.jpg", images_dir, k - 5);
      fuzz_write(paths[k], parts[k].data, parts[k].size, 0);
    }
    written[k] = 1;
  }
  ibx_dataset *ds = NULL;
  ibx_clear_error();
  int rc = ibx_dataset_open_cub(fuzz_dir(), splits[flags & 3], side, &ds);
  if (rc == IBX_OK) {
    if (!ibx_dataset_has_boxes(ds))
      abort();
    fuzz_read_all(ds);
    ibx_dataset_close(ds);
  } else if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
  for (int k = 0; k < np; k++)
    if (written[k])
      fuzz_unlink(paths[k]);
  return 0;
}
