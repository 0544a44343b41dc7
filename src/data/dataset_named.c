/* Datasets by name (include/ibx/data.h, "datasets by name"): the table of
 * every reader, the one place a data.dataset or `ibx data --format` name is
 * mapped to a reader. A new reader is one row here. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ibx/data.h"
#include "ibx/error.h"

static int open_fashion_mnist(const char *path, const char *split, const ibx_dataset_options *o,
                              ibx_dataset **out) {
  (void)o;
  return ibx_dataset_open_fashion_mnist(path, split, out);
}

static int open_mnist(const char *path, const char *split, const ibx_dataset_options *o,
                      ibx_dataset **out) {
  (void)o;
  return ibx_dataset_open_mnist(path, split, out);
}

/* path is IMAGES,LABELS; split is not used */
static int open_idx(const char *path, const char *split, const ibx_dataset_options *o,
                    ibx_dataset **out) {
  (void)split, (void)o;
  char images[4096];
  const char *comma = strchr(path, ',');
  if (!comma || (size_t)(comma - path) >= sizeof images)
    return ibx_fail(IBX_ERR_ARG, "idx source must be IMAGES,LABELS, got '%s'", path);
  memcpy(images, path, (size_t)(comma - path));
  images[comma - path] = '\0';
  return ibx_dataset_open_idx(images, comma + 1, NULL, 10, out);
}

static int open_cifar10(const char *path, const char *split, const ibx_dataset_options *o,
                        ibx_dataset **out) {
  (void)o;
  return ibx_dataset_open_cifar10(path, split, out);
}

static int open_cifar100(const char *path, const char *split, const ibx_dataset_options *o,
                         ibx_dataset **out) {
  (void)o;
  return ibx_dataset_open_cifar100(path, split, out);
}

/* a directory of {train,test,extra}_32x32.mat, or one .mat file */
static int open_svhn(const char *path, const char *split, const ibx_dataset_options *o,
                     ibx_dataset **out) {
  (void)o;
  const size_t n = strlen(path);
  if (n > 4 && !strcmp(path + n - 4, ".mat"))
    return ibx_dataset_open_svhn_mat(path, out);
  return ibx_dataset_open_svhn(path, split, out);
}

static int open_stl10(const char *path, const char *split, const ibx_dataset_options *o,
                      ibx_dataset **out) {
  (void)o;
  return ibx_dataset_open_stl10(path, split, out);
}

static int open_stl10_cifar10(const char *path, const char *split, const ibx_dataset_options *o,
                              ibx_dataset **out) {
  return ibx_dataset_open_stl10_as_cifar10(path, split, o->size, out);
}

static int open_cub(const char *path, const char *split, const ibx_dataset_options *o,
                    ibx_dataset **out) {
  return ibx_dataset_open_cub(path, split, o->size, out);
}

static int open_cluttered(const char *path, const char *split, const ibx_dataset_options *o,
                          ibx_dataset **out) {
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  if (o->size > 0)
    cfg.size = o->size;
  cfg.seed = o->seed;
  return ibx_dataset_open_cluttered_fashion_mnist(path, split, &cfg, out);
}

/* a native file, or a directory holding <split>.h5 */
static int open_h5(const char *path, const char *split, const ibx_dataset_options *o,
                   ibx_dataset **out) {
  (void)o;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
    return ibx_dataset_open_h5(path, out);
  char file[4096];
  snprintf(file, sizeof file, "%s/%s.h5", path, split);
  return ibx_dataset_open_h5(file, out);
}

/* Text sources are tokenized by ibx_text_open (ibx/text.h, a transformer
 * run's data); as images they are an error naming the reader to use. */
static int open_text_kind(const char *path, const char *split, const ibx_dataset_options *o,
                          ibx_dataset **out) {
  (void)path, (void)split, (void)o;
  *out = NULL;
  return ibx_fail(IBX_ERR_ARG, "a text dataset (fortunes, imdb) has no images: it is read as "
                               "token ids (model.backbone = transformer, 'ibx data info "
                               "--format fortunes')");
}

/* In the order the help texts list them. */
static const ibx_dataset_kind kinds[] = {
    {.name = "fashion-mnist",
     .source = "directory of the IDX files, or 'default' for\n"
               "/usr/share/datasets/fashion-mnist (dataset-fashion-mnist)",
     .in_config = 1,
     .open = open_fashion_mnist},
    {.name = "mnist", .source = "directory of the IDX files", .in_config = 1, .needs_path = 1,
     .open = open_mnist},
    {.name = "idx", .source = "IMAGES,LABELS (two IDX files, gzipped or not)", .needs_path = 1,
     .open = open_idx},
    {.name = "cifar10", .source = "extracted binary directory", .in_config = 1, .needs_path = 1,
     .open = open_cifar10},
    {.name = "cifar100", .source = "extracted binary directory", .in_config = 1,
     .needs_path = 1, .open = open_cifar100},
    {.name = "svhn", .source = "directory of {train,test,extra}_32x32.mat, or one .mat",
     .in_config = 1, .needs_path = 1, .open = open_svhn},
    {.name = "stl10", .source = "directory of {train,test}_{X,y}.bin", .in_config = 1,
     .needs_path = 1, .open = open_stl10},
    {.name = "stl10-cifar10",
     .source = "as stl10; 9 classes shared with CIFAR-10 at --size (32)",
     .needs_path = 1,
     .default_size = 32,
     .open = open_stl10_cifar10},
    {.name = "cub200",
     .alias = "cub",
     .source = "CUB_200_2011 directory; --size (224), --split train|test|all",
     .in_config = 1,
     .needs_path = 1,
     .default_size = 224,
     .open = open_cub},
    {.name = "cluttered-fashion-mnist",
     .source = "as fashion-mnist; canvas --size (64), --seed",
     .open = open_cluttered},
    {.name = "h5",
     .source = "a native file written by 'ibx data convert', or a directory of\n"
               "train.h5 and test.h5",
     .in_config = 1,
     .needs_path = 1,
     .open = open_h5},
    {.name = "fortunes",
     .source = "text: Debian's fortune cookies by category (embedded default)",
     .in_config = 1,
     .text = 1,
     .open = open_text_kind},
    {.name = "fortunes-corpus",
     .source = "text: unlabelled fortunes of every file, no fortunes test text (MLM pre-training)",
     .in_config = 1,
     .text = 1,
     .open = open_text_kind},
    {.name = "imdb",
     .source = "text: the aclImdb directory",
     .in_config = 1,
     .needs_path = 1,
     .text = 1,
     .open = open_text_kind},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

int ibx_dataset_kind_count(void) { return NKINDS; }

const ibx_dataset_kind *ibx_dataset_kind_at(int i) {
  return i >= 0 && i < NKINDS ? &kinds[i] : NULL;
}

const ibx_dataset_kind *ibx_dataset_find_kind(const char *name) {
  for (int i = 0; name && i < NKINDS; i++)
    if (!strcmp(kinds[i].name, name) || (kinds[i].alias && !strcmp(kinds[i].alias, name)))
      return &kinds[i];
  return NULL;
}

int ibx_dataset_open_kind(const char *name, const char *path, const char *split,
                          const ibx_dataset_options *o, ibx_dataset **out) {
  const ibx_dataset_kind *k = ibx_dataset_find_kind(name);
  if (!k) {
    char list[512];
    size_t at = 0;
    list[0] = 0;
    for (int i = 0; i < NKINDS && at < sizeof list; i++)
      at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", kinds[i].name);
    return ibx_fail(IBX_ERR_ARG, "unknown dataset '%s' (%s)", name ? name : "", list);
  }
  if (path && (!*path || !strcmp(path, "default")))
    path = NULL;
  if (!path && k->needs_path)
    return ibx_fail(IBX_ERR_ARG, "dataset '%s' needs a path (data.path)", name);
  ibx_dataset_options opts = o ? *o : (ibx_dataset_options){0};
  if (opts.size <= 0)
    opts.size = k->default_size;
  return k->open(path, split, &opts, out);
}

int ibx_dataset_open_named(const char *name, const char *path, const char *split, int size,
                           ibx_dataset **out) {
  const ibx_dataset_options o = {.size = size};
  return ibx_dataset_open_kind(name, path, split, &o, out);
}
