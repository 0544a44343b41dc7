/* ibx data: inspect any supported dataset and convert it to the native HDF5
 * format (include/ibx/data.h, ibx_dataset_write_h5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_data_text.h"
#include "ibx/data.h"
#include "ibx/error.h"

static int usage(FILE *to, int status) {
  fprintf(to, "usage: ibx data info    --format FMT [--split S] [--size N] [--seed N] SRC\n"
              "       ibx data convert --format FMT [--split S] [--size N] [--seed N] SRC DST.h5\n"
              "\n"
              "formats (SRC):\n");
  for (int i = 0; i < ibx_dataset_kind_count(); i++) {
    const ibx_dataset_kind *k = ibx_dataset_kind_at(i);
    if (k->text)
      continue; /* listed below */
    char name[64];
    snprintf(name, sizeof name, k->alias ? "%s (%s)" : "%s", k->name, k->alias);
    fprintf(to, "  %-24s ", name);
    for (const char *c = k->source; *c; c++)
      c[0] == '\n' ? fprintf(to, "\n%27s", "") : fputc(*c, to);
    fputc('\n', to);
  }
  fprintf(to, "--split is train (default) or test.\n"
              "text datasets (fortunes, imdb, text-h5) and 'ibx data baseline': see\n"
              "'ibx data info --format fortunes --help'.\n");
  return status;
}

/* mkdir -p of the directory that will hold path. */
static int make_parent_dirs(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return IBX_OK;
  *slash = '\0';
  for (char *p = dir + 1;; p++) {
    if (*p && *p != '/')
      continue;
    const char c = *p;
    *p = '\0';
    if (mkdir(dir, 0775) && errno != EEXIST)
      return ibx_fail(IBX_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!c)
      return IBX_OK;
    *p = '/';
  }
}

static void print_info(const ibx_dataset *ds) {
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  long n = ibx_dataset_count(ds);
  int k = ibx_dataset_num_classes(ds);
  printf("name:     %s\n", ibx_dataset_name(ds));
  printf("samples:  %ld\n", n);
  printf("image:    %d x %d x %d (channels x height x width, uint8)\n", c, h, w);
  printf("classes:  %d\n", k);
  printf("boxes:    %s\n", ibx_dataset_has_boxes(ds) ? "yes" : "no");
  if (ibx_dataset_num_coarse_classes(ds) > 0)
    printf("coarse:   %d classes\n", ibx_dataset_num_coarse_classes(ds));
  long *per = calloc((size_t)k, sizeof *per);
  if (!per)
    return;
  for (long i = 0; i < n; i++) {
    int label;
    if (ibx_dataset_read(ds, i, NULL, &label) == IBX_OK && label >= 0 && label < k)
      per[label]++;
  }
  for (int j = 0; j < k; j++)
    printf("  %3d %-32s %ld\n", j, ibx_dataset_class_name(ds, j), per[j]);
  free(per);
}

int ibx_cmd_data(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
  if (ibx_cli_data_is_text(argc, argv))
    return ibx_cmd_data_text(argc, argv);
  const char *action = argv[1];
  int convert = !strcmp(action, "convert");
  if (!convert && strcmp(action, "info") != 0)
    return fprintf(stderr, "ibx data: unknown action '%s'\n", action), usage(stderr, 2);
  const char *fmt = NULL, *split = "train", *pos[2] = {NULL, NULL};
  int npos = 0, size = 0;
  unsigned long long seed = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout, 0);
    if (!strcmp(a, "--format") && has_value)
      fmt = argv[++i];
    else if (!strcmp(a, "--split") && has_value)
      split = argv[++i];
    else if (!strcmp(a, "--size") && has_value) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v <= 0 || v > 8192)
        return fprintf(stderr, "ibx data: bad --size '%s'\n", argv[i]), 2;
      size = (int)v;
    } else if (!strcmp(a, "--seed") && has_value) {
      char *end;
      seed = strtoull(argv[++i], &end, 10);
      if (*end)
        return fprintf(stderr, "ibx data: bad --seed '%s'\n", argv[i]), 2;
    } else if (a[0] == '-' && a[1] == '-')
      return fprintf(stderr, "ibx data: unknown or incomplete option '%s'\n", a), usage(stderr, 2);
    else if (npos < 2)
      pos[npos++] = a;
    else
      return fprintf(stderr, "ibx data: too many arguments\n"), usage(stderr, 2);
  }
  if (!fmt || npos != (convert ? 2 : 1))
    return usage(stderr, 2);
  ibx_dataset *ds = NULL;
  const ibx_dataset_options opts = {.size = size, .seed = seed};
  if (ibx_dataset_open_kind(fmt, pos[0], split, &opts, &ds) != IBX_OK) {
    fprintf(stderr, "ibx data %s: %s\n", action, ibx_errmsg());
    return 1;
  }
  int status = 0;
  if (!convert)
    print_info(ds);
  else {
    char source[1024] = "ibx data convert";
    for (int i = 2; i < argc; i++) {
      size_t len = strlen(source);
      snprintf(source + len, sizeof source - len, " %s", argv[i]);
    }
    if (make_parent_dirs(pos[1]) != IBX_OK || ibx_dataset_write_h5(ds, pos[1], source) != IBX_OK) {
      fprintf(stderr, "ibx data convert: %s\n", ibx_errmsg());
      status = 1;
    } else
      printf("wrote %ld samples of %s to %s\n", ibx_dataset_count(ds), ibx_dataset_name(ds),
             pos[1]);
  }
  ibx_dataset_close(ds);
  return status;
}
