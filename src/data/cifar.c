/* CIFAR-10 and CIFAR-100, binary versions (Krizhevsky 2009,
 * https://www.cs.toronto.edu/~kriz/cifar.html). Each file is a sequence of
 * fixed-size records:
 *   CIFAR-10:  <1 byte label 0..9> <3072 bytes image>
 *   CIFAR-100: <1 byte coarse label 0..19> <1 byte fine label 0..99> <3072>
 * where the image is 1024 red, 1024 green, 1024 blue bytes, each plane
 * 32x32 row-major: already CHW. CIFAR-10: data_batch_1..5.bin (train),
 * test_batch.bin; CIFAR-100: train.bin, test.bin. The label of a CIFAR-100
 * sample is its fine label; the coarse one is ibx_dataset_coarse_label. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "ibx/error.h"

#define CIFAR_IMAGE 3072

const char *const ibx_cifar10_classes[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                             "dog",      "frog",       "horse", "ship", "truck"};

const char *const ibx_cifar100_classes[100] = {
    "apple",      "aquarium_fish", "baby",         "bear",        "beaver",      "bed",
    "bee",        "beetle",        "bicycle",      "bottle",      "bowl",        "boy",
    "bridge",     "bus",           "butterfly",    "camel",       "can",         "castle",
    "caterpillar", "cattle",       "chair",        "chimpanzee",  "clock",       "cloud",
    "cockroach",  "couch",         "crab",         "crocodile",   "cup",         "dinosaur",
    "dolphin",    "elephant",      "flatfish",     "forest",      "fox",         "girl",
    "hamster",    "house",         "kangaroo",     "keyboard",    "lamp",        "lawn_mower",
    "leopard",    "lion",          "lizard",       "lobster",     "man",         "maple_tree",
    "motorcycle", "mountain",      "mouse",        "mushroom",    "oak_tree",    "orange",
    "orchid",     "otter",         "palm_tree",    "pear",        "pickup_truck", "pine_tree",
    "plain",      "plate",         "poppy",        "porcupine",   "possum",      "rabbit",
    "raccoon",    "ray",           "road",         "rocket",      "rose",        "sea",
    "seal",       "shark",         "shrew",        "skunk",       "skyscraper",  "snail",
    "snake",      "spider",        "squirrel",     "streetcar",   "sunflower",   "sweet_pepper",
    "table",      "tank",          "telephone",    "television",  "tiger",       "tractor",
    "train",      "trout",         "tulip",        "turtle",      "wardrobe",    "whale",
    "willow_tree", "wolf",         "woman",        "worm"};

const char *const ibx_cifar100_coarse_classes[20] = {"aquatic_mammals",
                                                     "fish",
                                                     "flowers",
                                                     "food_containers",
                                                     "fruit_and_vegetables",
                                                     "household_electrical_devices",
                                                     "household_furniture",
                                                     "insects",
                                                     "large_carnivores",
                                                     "large_man-made_outdoor_things",
                                                     "large_natural_outdoor_scenes",
                                                     "large_omnivores_and_herbivores",
                                                     "medium_mammals",
                                                     "non-insect_invertebrates",
                                                     "people",
                                                     "reptiles",
                                                     "small_mammals",
                                                     "trees",
                                                     "vehicles_1",
                                                     "vehicles_2"};

int ibx_dataset_open_cifar_files(const char *const *paths, int npaths, int variant,
                                 ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "cifar: NULL output pointer");
  *out = NULL;
  if (variant != 10 && variant != 100)
    return ibx_fail(IBX_ERR_ARG, "cifar: variant must be 10 or 100, got %d", variant);
  if (!paths || npaths <= 0)
    return ibx_fail(IBX_ERR_ARG, "cifar-%d: no files given", variant);
  const char *what = variant == 10 ? "cifar-10" : "cifar-100";
  const size_t head = variant == 10 ? 1 : 2, rec = head + CIFAR_IMAGE;
  /* Load every file first: the total count sizes the dataset. */
  uint8_t **bufs = calloc((size_t)npaths, sizeof *bufs);
  size_t *sizes = calloc((size_t)npaths, sizeof *sizes);
  int rc = (bufs && sizes) ? IBX_OK
                           : ibx_fail(IBX_ERR_NOMEM, "%s: out of memory for file list", what);
  long total = 0;
  for (int f = 0; rc == IBX_OK && f < npaths; f++) {
    rc = ibxd_load_file(paths[f], what, NULL, &bufs[f], &sizes[f]);
    if (rc != IBX_OK)
      break;
    if (sizes[f] == 0 || sizes[f] % rec != 0)
      rc = ibx_fail(IBX_ERR_FORMAT,
                    "%s: %s: truncated or not a %s binary batch (%zu bytes is not a whole "
                    "number of %zu-byte records)",
                    what, paths[f], what, sizes[f], rec);
    const uint8_t *b = bufs[f];
    for (size_t r = 0; rc == IBX_OK && r < sizes[f] / rec; r++) {
      const uint8_t *p = b + r * rec;
      if (variant == 10 && p[0] >= 10)
        rc = ibx_fail(IBX_ERR_FORMAT, "%s: %s: label %u of record %zu is out of range [0, 10)",
                      what, paths[f], p[0], r);
      else if (variant == 100 && p[0] >= 20)
        rc = ibx_fail(IBX_ERR_FORMAT,
                      "%s: %s: coarse label %u of record %zu is out of range [0, 20)", what,
                      paths[f], p[0], r);
      else if (variant == 100 && p[1] >= 100)
        rc = ibx_fail(IBX_ERR_FORMAT,
                      "%s: %s: fine label %u of record %zu is out of range [0, 100)", what,
                      paths[f], p[1], r);
    }
    total += (long)(sizes[f] / rec);
  }
  ibx_dataset *ds = NULL;
  if (rc == IBX_OK) {
    ds = npaths == 1 ? ibxd_new("%s %s", what, paths[0])
                     : ibxd_new("%s %s (+%d files)", what, paths[0], npaths - 1);
    rc = ds ? IBX_OK : IBX_ERR_NOMEM;
  }
  if (rc == IBX_OK)
    rc = variant == 10 ? ibxd_set_classes(ds, ibx_cifar10_classes, 10)
                       : ibxd_set_classes(ds, ibx_cifar100_classes, 100);
  if (rc == IBX_OK && variant == 100)
    rc = ibxd_set_coarse_classes(ds, ibx_cifar100_coarse_classes, 20);
  if (rc == IBX_OK)
    rc = ibxd_alloc_memory(ds, total, 3, 32, 32, variant == 100);
  if (rc == IBX_OK) {
    long i = 0;
    for (int f = 0; f < npaths; f++)
      for (size_t r = 0; r < sizes[f] / rec; r++, i++) {
        const uint8_t *p = bufs[f] + r * rec;
        memcpy(ds->images + (size_t)i * CIFAR_IMAGE, p + head, CIFAR_IMAGE);
        ds->labels[i] = variant == 10 ? p[0] : p[1];
        if (variant == 100)
          ds->coarse[i] = p[0];
      }
  }
  for (int f = 0; bufs && f < npaths; f++)
    free(bufs[f]);
  free(bufs);
  free(sizes);
  if (rc != IBX_OK) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

static int open_dir(const char *dir, const char *split, int variant, ibx_dataset **out) {
  const char *what = variant == 10 ? "cifar-10" : "cifar-100";
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "%s: NULL output pointer", what);
  *out = NULL;
  if (!dir)
    return ibx_fail(IBX_ERR_ARG, "%s: no directory given", what);
  int train;
  if (split && strcmp(split, "train") == 0)
    train = 1;
  else if (split && strcmp(split, "test") == 0)
    train = 0;
  else
    return ibx_fail(IBX_ERR_ARG, "%s: unknown split '%s' (use train or test)", what,
                    split ? split : "(null)");
  char paths[5][4096];
  const char *ptrs[5];
  int n = 0;
  if (variant == 10 && train)
    for (n = 0; n < 5; n++) {
      char name[32];
      snprintf(name, sizeof name, "data_batch_%d.bin", n + 1);
      IBX_TRY(ibxd_join(paths[n], sizeof paths[n], dir, name));
    }
  else {
    IBX_TRY(ibxd_join(paths[0], sizeof paths[0], dir,
                      variant == 10 ? "test_batch.bin" : (train ? "train.bin" : "test.bin")));
    n = 1;
  }
  for (int k = 0; k < n; k++)
    ptrs[k] = paths[k];
  IBX_TRY(ibx_dataset_open_cifar_files(ptrs, n, variant, out));
  snprintf((*out)->name, sizeof (*out)->name, "%s %s (%s)", what, split, dir);
  return IBX_OK;
}

int ibx_dataset_open_cifar10(const char *dir, const char *split, ibx_dataset **out) {
  return open_dir(dir, split, 10, out);
}

int ibx_dataset_open_cifar100(const char *dir, const char *split, ibx_dataset **out) {
  return open_dir(dir, split, 100, out);
}
