/* CUB-200-2011 (Wah et al. 2011) in its published directory layout:
 *   images.txt             <image_id> <relative path under images/>
 *   image_class_labels.txt <image_id> <class_id 1..200>
 *   train_test_split.txt   <image_id> <1 = train, 0 = test>
 *   bounding_boxes.txt     <image_id> <x> <y> <width> <height>  (pixels)
 *   classes.txt            <class_id> <NNN.Name>  (optional here)
 *   images/...jpg          JPEGs of varying size (a few are grayscale)
 * The text files are read at open; JPEGs are decoded (libjpeg-turbo) and
 * resampled to size x size (aspect ratio not kept) on each read. Labels are
 * class_id - 1. Boxes are scaled into the size x size image's pixels (the
 * original image size comes from the JPEG header). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <jerror.h>
#include <jpeglib.h>

#include "dataset_internal.h"
#include "ibx/error.h"
#include "ibx/memory.h"

#define CUB_MAX_IMAGES 10000000L
#define CUB_MAX_SIDE 16384
#define CUB_MAX_PIXELS (1 << 26) /* 64 Mpixel: 192 MB of RGB */

typedef struct {
  char dir[4096];
  int size;
  char **paths;    /* per sample, relative to images/ */
  float *raw_box;  /* per sample, in original pixels */
  long n;
} cub_impl;

/* ---- JPEG decoding ------------------------------------------------------ */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  int truncated;
} jerr_mgr;

static void jerr_exit(j_common_ptr cinfo) {
  jerr_mgr *e = (jerr_mgr *)cinfo->err;
  longjmp(e->jump, 1);
}

/* libjpeg must not print; a premature end of data is an error, other
 * warnings (e.g. extraneous bytes) are tolerated as libjpeg does. */
static void jerr_message(j_common_ptr cinfo, int level) {
  jerr_mgr *e = (jerr_mgr *)cinfo->err;
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    e->truncated = 1;
}

static void jerr_output(j_common_ptr cinfo) { (void)cinfo; }

/* Decodes path to RGB HWC (malloc'd) or, when header_only, just the size. */
static int decode_jpeg(const char *path, int header_only, uint8_t **rgb, int *h, int *w) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "cub: cannot open %s: %s", path, strerror(errno));
  struct jpeg_decompress_struct cinfo;
  jerr_mgr err;
  uint8_t *volatile buf = NULL;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jerr_exit;
  err.pub.emit_message = jerr_message;
  err.pub.output_message = jerr_output;
  err.truncated = 0;
  if (setjmp(err.jump)) {
    char msg[JMSG_LENGTH_MAX];
    err.pub.format_message((j_common_ptr)&cinfo, msg);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    free(buf);
    return ibx_fail(IBX_ERR_FORMAT, "cub: %s: bad JPEG: %s", path, msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  *h = (int)cinfo.image_height, *w = (int)cinfo.image_width;
  if (header_only) {
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return IBX_OK;
  }
  /* The header's size alone sizes the decode buffers (ours and libjpeg's):
   * a 100-byte file may claim 65535 x 65535. CUB's images are at most a few
   * hundred pixels a side. */
  if (*w > CUB_MAX_SIDE || *h > CUB_MAX_SIDE || (long long)*w * *h > CUB_MAX_PIXELS) {
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return ibx_fail(IBX_ERR_FORMAT,
                    "cub: %s: JPEG of %d x %d pixels is larger than ibx decodes (at most %d a "
                    "side and %d pixels)",
                    path, *w, *h, CUB_MAX_SIDE, CUB_MAX_PIXELS);
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return ibx_fail(IBX_ERR_FORMAT, "cub: %s: JPEG with %d components cannot be read as RGB",
                    path, cinfo.output_components);
  }
  size_t stride = (size_t)cinfo.output_width * 3;
  buf = malloc(stride * cinfo.output_height);
  if (!buf) {
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return ibx_fail(IBX_ERR_NOMEM, "cub: out of memory decoding %s", path);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = buf + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (err.truncated)
      break;
  }
  *h = (int)cinfo.output_height, *w = (int)cinfo.output_width;
  if (!err.truncated)
    jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  fclose(f);
  if (err.truncated) {
    free(buf);
    return ibx_fail(IBX_ERR_FORMAT, "cub: %s: truncated JPEG data", path);
  }
  *rgb = buf;
  return IBX_OK;
}

static int image_path(const cub_impl *c, long i, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "%s/images/%s", c->dir, c->paths[i]);
  if (n < 0 || (size_t)n >= cap)
    return ibx_fail(IBX_ERR_ARG, "cub: path too long: %s/images/%s", c->dir, c->paths[i]);
  return IBX_OK;
}

static int cub_read(const ibx_dataset *ds, long i, uint8_t *image, int *label) {
  const cub_impl *c = ds->impl;
  if (label)
    *label = ds->labels[i];
  if (!image)
    return IBX_OK;
  char path[8192];
  IBX_TRY(image_path(c, i, path, sizeof path));
  uint8_t *rgb = NULL;
  int h = 0, w = 0;
  IBX_TRY(decode_jpeg(path, 0, &rgb, &h, &w));
  size_t plane = (size_t)h * w;
  uint8_t *chw = malloc(3 * plane);
  if (!chw) {
    free(rgb);
    return ibx_fail(IBX_ERR_NOMEM, "cub: out of memory for %s", path);
  }
  for (size_t p = 0; p < plane; p++)
    for (int ch = 0; ch < 3; ch++)
      chw[ch * plane + p] = rgb[3 * p + ch];
  free(rgb);
  ibxd_resize_u8(chw, 3, h, w, image, c->size, c->size);
  free(chw);
  return IBX_OK;
}

static int cub_box(const ibx_dataset *ds, long i, float box[4]) {
  const cub_impl *c = ds->impl;
  char path[8192];
  IBX_TRY(image_path(c, i, path, sizeof path));
  int h = 0, w = 0;
  IBX_TRY(decode_jpeg(path, 1, NULL, &h, &w));
  if (h <= 0 || w <= 0)
    return ibx_fail(IBX_ERR_FORMAT, "cub: %s: empty JPEG", path);
  const float *b = c->raw_box + 4 * (size_t)i;
  float sx = (float)c->size / w, sy = (float)c->size / h;
  box[0] = b[0] * sx, box[1] = b[1] * sy, box[2] = b[2] * sx, box[3] = b[3] * sy;
  return IBX_OK;
}

static void cub_destroy(void *impl) {
  cub_impl *c = impl;
  if (!c)
    return;
  for (long i = 0; c->paths && i < c->n; i++)
    free(c->paths[i]);
  free(c->paths);
  free(c->raw_box);
  free(c);
}

static const ibxd_ops cub_ops = {cub_read, cub_box, cub_destroy};

/* ---- the text files ----------------------------------------------------- */

/* Per image id (1..maxid): what the files say. */
typedef struct {
  char *path;
  int label;   /* class id, 0 = not given */
  int split;   /* -1 = not given */
  int has_box;
  float box[4];
} cub_entry;

typedef struct {
  char path[4096];
  FILE *f;
  long line;
  char *buf;
  size_t cap;
} text_file;

static int open_text(text_file *t, const char *dir, const char *name, int optional) {
  memset(t, 0, sizeof *t);
  IBX_TRY(ibxd_join(t->path, sizeof t->path, dir, name));
  t->f = fopen(t->path, "r");
  if (!t->f && !(optional && errno == ENOENT))
    return ibx_fail(IBX_ERR_IO, "cub: cannot open %s: %s", t->path, strerror(errno));
  return IBX_OK;
}

/* Next non-blank line with trailing whitespace removed, or NULL at the end. */
static char *next_line(text_file *t) {
  for (;;) {
    ssize_t n = getline(&t->buf, &t->cap, t->f);
    if (n < 0)
      return NULL;
    t->line++;
    while (n > 0 && (t->buf[n - 1] == '\n' || t->buf[n - 1] == '\r' || t->buf[n - 1] == ' ' ||
                     t->buf[n - 1] == '\t'))
      t->buf[--n] = '\0';
    char *s = t->buf;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s)
      return s;
  }
}

static void close_text(text_file *t) {
  if (t->f)
    fclose(t->f);
  free(t->buf);
  t->f = NULL, t->buf = NULL, t->cap = 0;
}

static int parse_id(text_file *t, char **s, long maxid, long *id) {
  char *end;
  errno = 0;
  long v = strtol(*s, &end, 10);
  if (end == *s || errno || v < 1 || v > maxid || (*end != ' ' && *end != '\t' && *end != '\0'))
    return ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: bad image id (expected 1..%ld)", t->path,
                    t->line, maxid);
  *id = v;
  *s = end;
  while (**s == ' ' || **s == '\t')
    (*s)++;
  return IBX_OK;
}

static char *strip_number_prefix(char *name) {
  char *p = name;
  while (*p >= '0' && *p <= '9')
    p++;
  return (p > name && *p == '.' && p[1]) ? p + 1 : name;
}

int ibx_dataset_open_cub(const char *dir, const char *split, int size, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "cub: NULL output pointer");
  *out = NULL;
  if (!dir)
    return ibx_fail(IBX_ERR_ARG, "cub: no directory given");
  int want;
  if (split && strcmp(split, "train") == 0)
    want = 1;
  else if (split && strcmp(split, "test") == 0)
    want = 0;
  else if (split && strcmp(split, "all") == 0)
    want = -1;
  else
    return ibx_fail(IBX_ERR_ARG, "cub: unknown split '%s' (use train, test or all)",
                    split ? split : "(null)");
  if (size <= 0 || size > 8192)
    return ibx_fail(IBX_ERR_ARG, "cub: bad image size %d", size);
  if (strlen(dir) >= sizeof((cub_impl *)0)->dir)
    return ibx_fail(IBX_ERR_ARG, "cub: directory path too long");

  text_file t = {0};
  cub_entry *e = NULL;
  long maxid = 0, nimages = 0;
  int rc = IBX_OK;
  char **class_names = NULL;
  int nclasses = 0;

  /* images.txt fixes the set of ids. The per-id table is sized by the
   * largest id, so ids may leave gaps (a subset of the dataset) but stay
   * within 4 x the number of lines + 1024: one line "9999999 x.jpg" must not
   * cost hundreds of megabytes. */
  rc = open_text(&t, dir, "images.txt", 0);
  long lines = 0;
  while (rc == IBX_OK && next_line(&t))
    lines++;
  const long id_limit = lines < (CUB_MAX_IMAGES - 1024) / 4 ? 4 * lines + 1024 : CUB_MAX_IMAGES;
  if (rc == IBX_OK) {
    rewind(t.f);
    t.line = 0;
  }
  long cap = 0;
  for (char *s; rc == IBX_OK && (s = next_line(&t));) {
    long id;
    rc = parse_id(&t, &s, id_limit, &id);
    if (rc != IBX_OK)
      break;
    if (!*s) {
      rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: expected '<id> <path>'", t.path, t.line);
      break;
    }
    if (id > cap) {
      long ncap = cap ? cap : 1024;
      while (ncap < id)
        ncap *= 2;
      cub_entry *ne = realloc(e, (size_t)ncap * sizeof *e);
      if (!ne) {
        rc = ibx_fail(IBX_ERR_NOMEM, "cub: out of memory reading %s", t.path);
        break;
      }
      memset(ne + cap, 0, (size_t)(ncap - cap) * sizeof *e);
      e = ne, cap = ncap;
    }
    if (e[id - 1].path) {
      rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: image id %ld appears twice", t.path,
                    t.line, id);
      break;
    }
    if (!(e[id - 1].path = strdup(s))) {
      rc = ibx_fail(IBX_ERR_NOMEM, "cub: out of memory reading %s", t.path);
      break;
    }
    e[id - 1].split = -1;
    if (id > maxid)
      maxid = id;
    nimages++;
  }
  close_text(&t);
  if (rc == IBX_OK && nimages == 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s/images.txt lists no images", dir);

  /* classes.txt (optional): names. */
  if (rc == IBX_OK)
    rc = open_text(&t, dir, "classes.txt", 1);
  for (char *s; rc == IBX_OK && t.f && (s = next_line(&t));) {
    long id;
    rc = parse_id(&t, &s, 100000, &id);
    if (rc != IBX_OK)
      break;
    if (id != nclasses + 1 || !*s) {
      rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: expected '%d <name>'", t.path, t.line,
                    nclasses + 1);
      break;
    }
    char **nn = realloc(class_names, (size_t)(nclasses + 1) * sizeof *nn);
    if (!nn || !(nn[nclasses] = strdup(strip_number_prefix(s)))) {
      if (nn)
        class_names = nn;
      rc = ibx_fail(IBX_ERR_NOMEM, "cub: out of memory reading %s", t.path);
      break;
    }
    class_names = nn;
    nclasses++;
  }
  int have_names = nclasses > 0;
  close_text(&t);

  /* image_class_labels.txt, train_test_split.txt, bounding_boxes.txt */
  const char *files[3] = {"image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt"};
  for (int k = 0; rc == IBX_OK && k < 3; k++) {
    rc = open_text(&t, dir, files[k], 0);
    long entries = 0;
    for (char *s; rc == IBX_OK && (s = next_line(&t));) {
      long id;
      rc = parse_id(&t, &s, maxid, &id);
      if (rc == IBX_OK && !e[id - 1].path)
        rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: image id %ld is not in images.txt",
                      t.path, t.line, id);
      if (rc != IBX_OK)
        break;
      cub_entry *x = &e[id - 1];
      int dup = k == 0 ? x->label != 0 : k == 1 ? x->split != -1 : x->has_box;
      if (dup) {
        rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: image id %ld appears twice", t.path,
                      t.line, id);
        break;
      }
      char *end;
      if (k == 0) {
        long v = strtol(s, &end, 10);
        if (end == s || *end)
          rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: expected '<id> <class id>'", t.path,
                        t.line);
        else if (v < 1 || v > (have_names ? nclasses : 100000))
          rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: class id %ld is out of range 1..%d",
                        t.path, t.line, v, have_names ? nclasses : 100000);
        else
          x->label = (int)v;
      } else if (k == 1) {
        if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
          rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: expected '<id> 0|1'", t.path, t.line);
        else
          x->split = s[0] - '0';
      } else {
        float b[4];
        int ok = 1;
        for (int q = 0; q < 4 && ok; q++) {
          b[q] = strtof(s, &end);
          ok = end != s && b[q] == b[q] && b[q] >= 0 && b[q] < 1e7f;
          s = end;
        }
        while (*s == ' ' || *s == '\t')
          s++;
        if (!ok || *s)
          rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s line %ld: expected '<id> <x> <y> <w> <h>'",
                        t.path, t.line);
        else
          memcpy(x->box, b, sizeof b), x->has_box = 1;
      }
      entries++;
    }
    if (rc == IBX_OK && entries != nimages)
      rc = ibx_fail(IBX_ERR_FORMAT, "cub: %s has %ld entries but images.txt has %ld images",
                    t.path, entries, nimages);
    close_text(&t);
  }

  /* The dataset. */
  if (rc == IBX_OK && !have_names)
    for (long id = 1; id <= maxid; id++)
      if (e[id - 1].path && e[id - 1].label > nclasses)
        nclasses = e[id - 1].label;
  long n = 0;
  for (long id = 1; rc == IBX_OK && id <= maxid; id++)
    n += e[id - 1].path && (want < 0 || e[id - 1].split == want);
  ibx_dataset *ds = NULL;
  cub_impl *c = NULL;
  if (rc == IBX_OK) {
    ds = ibxd_new("cub-200-2011 %s %dx%d (%s)", split, size, size, dir);
    c = calloc(1, sizeof *c);
    if (!ds || !c)
      rc = ibx_fail(IBX_ERR_NOMEM, "cub: out of memory");
  }
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, have_names ? (const char *const *)class_names : NULL, nclasses);
  if (rc == IBX_OK) {
    ds->ops = &cub_ops;
    ds->impl = c;
    strcpy(c->dir, dir);
    c->size = size;
    ds->channels = 3, ds->height = size, ds->width = size;
    ds->count = n;
    size_t nn = n > 0 ? (size_t)n : 1;
    c->paths = calloc(nn, sizeof *c->paths);
    c->raw_box = malloc(nn * 4 * sizeof(float));
    ds->labels = ibx_alloc(nn * sizeof(int32_t), "cub labels");
    if (!c->paths || !c->raw_box || !ds->labels)
      rc = ibx_fail(IBX_ERR_NOMEM, "cub: out of memory for %ld samples", n);
  }
  for (long id = 1, i = 0; rc == IBX_OK && id <= maxid; id++) {
    cub_entry *x = &e[id - 1];
    if (!x->path || !(want < 0 || x->split == want))
      continue;
    c->paths[i] = x->path, x->path = NULL; /* moved */
    c->n = i + 1;
    memcpy(c->raw_box + 4 * i, x->box, sizeof x->box);
    ds->labels[i] = x->label - 1;
    i++;
  }
  for (long id = 1; e && id <= maxid; id++)
    free(e[id - 1].path);
  free(e);
  for (int k = 0; class_names && k < nclasses && have_names; k++)
    free(class_names[k]);
  free(class_names);
  if (rc != IBX_OK) {
    if (!ds || !ds->impl)
      cub_destroy(c);
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}
