/* Shared helpers of the libFuzzer harnesses in tests/fuzz (one harness per
 * binary dataset reader). Each harness turns one fuzz input into one or more
 * files in a per-process temporary directory, opens them with the reader,
 * reads every sample (and boxes / coarse labels where the dataset has them),
 * closes and deletes the files. Nothing here prints: a harness is silent
 * unless a sanitizer or libFuzzer reports a crash.
 *
 * Inputs that hold several files (IDX images + labels, STL-10 X + y, the CUB
 * text files and JPEGs, several CIFAR batches) are split on FUZZ_SEP, a
 * byte string that does not occur in the seed files; a separator-based split
 * survives mutation better than length prefixes. Most harnesses take their
 * first byte as option flags (gzip this part, which entry point, ...). */
#ifndef IBX_FUZZ_COMMON_H
#define IBX_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "ibx/data.h"
#include "ibx/error.h"

#define FUZZ_SEP "\n--IBXFUZZ--\n"
#define FUZZ_SEP_LEN (sizeof FUZZ_SEP - 1)
#define FUZZ_MAX_PARTS 16

typedef struct {
  const uint8_t *data;
  size_t size;
} fuzz_part;

/* Splits data on FUZZ_SEP into at most max parts (the last part keeps any
 * further separators). Returns the number of parts (>= 1). */
static inline int fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int max) {
  int n = 0;
  size_t start = 0, i = 0;
  while (n < max - 1 && size >= FUZZ_SEP_LEN && i <= size - FUZZ_SEP_LEN) {
    if (memcmp(data + i, FUZZ_SEP, FUZZ_SEP_LEN) == 0) {
      parts[n].data = data + start, parts[n].size = i - start, n++;
      i += FUZZ_SEP_LEN;
      start = i;
    } else
      i++;
  }
  parts[n].data = data + start, parts[n].size = size - start, n++;
  return n;
}

/* Aborts the process (a harness bug, never an input problem). */
static inline void fuzz_die(const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
  abort();
}

/* The per-process temporary directory ($TMPDIR or /tmp, ibx-fuzz-XXXXXX),
 * created on first use and removed (with whatever is left in it) at exit. */
static char fuzz_dir_buf[PATH_MAX];

/* Removes dir's entries (one level of subdirectories deep) and dir. */
static inline void fuzz_rm_tree(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) != 0 && depth > 0)
        fuzz_rm_tree(p, depth - 1);
    }
    closedir(d);
  }
  (void)rmdir(dir);
}

static inline void fuzz_rm_dir(void) {
  if (fuzz_dir_buf[0])
    fuzz_rm_tree(fuzz_dir_buf, 1);
}

static inline const char *fuzz_dir(void) {
  if (!fuzz_dir_buf[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_buf, sizeof fuzz_dir_buf, "%s/ibx-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir_buf))
      fuzz_die("mkdtemp");
    atexit(fuzz_rm_dir);
  }
  return fuzz_dir_buf;
}

/* dir/name into buf (PATH_MAX). */
static inline char *fuzz_path(char *buf, const char *name) {
  snprintf(buf, PATH_MAX, "%s/%s", fuzz_dir(), name);
  return buf;
}

/* Writes data to path, gzip-compressed (level 1) when gz. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size, int gz) {
  if (gz) {
    gzFile g = gzopen(path, "wb1");
    if (!g)
      fuzz_die(path);
    if (size > 0 && gzwrite(g, data, (unsigned)size) != (int)size)
      fuzz_die(path);
    if (gzclose(g) != Z_OK)
      fuzz_die(path);
    return;
  }
  FILE *f = fopen(path, "wb");
  if (!f)
    fuzz_die(path);
  if (size > 0 && fwrite(data, 1, size, f) != size)
    fuzz_die(path);
  if (fclose(f) != 0)
    fuzz_die(path);
}

static inline void fuzz_mkdir(const char *path) {
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    fuzz_die(path);
}

static inline void fuzz_unlink(const char *path) { (void)unlink(path); }

/* Reads every sample of ds (image and label), every coarse label and every
 * box, checking the invariants the interface promises; a broken invariant
 * aborts (it is a reader bug). */
static inline void fuzz_read_all(const ibx_dataset *ds) {
  const long n = ibx_dataset_count(ds);
  const long img = ibx_dataset_image_size(ds);
  const int nc = ibx_dataset_num_classes(ds), ncoarse = ibx_dataset_num_coarse_classes(ds);
  if (n < 0 || img <= 0 || nc <= 0)
    abort();
  for (int k = 0; k < nc; k++)
    if (!ibx_dataset_class_name(ds, k))
      abort();
  for (int k = 0; k < ncoarse; k++)
    if (!ibx_dataset_coarse_class_name(ds, k))
      abort();
  (void)ibx_dataset_name(ds);
  uint8_t *buf = malloc((size_t)img);
  if (!buf)
    fuzz_die("malloc");
  for (long i = 0; i < n; i++) {
    int label = -1;
    if (ibx_dataset_read(ds, i, buf, &label) == IBX_OK && (label < 0 || label >= nc))
      abort();
    int coarse = ibx_dataset_coarse_label(ds, i);
    if (ncoarse > 0 ? (coarse < 0 || coarse >= ncoarse) : coarse != -1)
      abort();
    if (ibx_dataset_has_boxes(ds)) {
      float box[4];
      (void)ibx_dataset_box(ds, i, box);
    }
  }
  free(buf);
}

#endif
