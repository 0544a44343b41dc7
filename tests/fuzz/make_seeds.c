/* Writes the seed corpora of the fuzz harnesses: small valid inputs in each
 * harness's input format (see the comment at the top of each fuzz_*.c).
 *   make_seeds OUTDIR [READER...] -> OUTDIR/{idx,cifar,svhn,stl10,cub,h5,text,text_h5}/...
 * (only the named readers' seeds when readers are given)
 * The committed seeds under tests/fuzz/corpus were made by this program;
 * .mat and HDF5 seeds embed creation times, so a rerun differs in those
 * bytes only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <matio.h>
#include <zlib.h>

#include "ibx/data.h"
#include "ibx/error.h"
#include "ibx/text.h"

#define SEP "\n--IBXFUZZ--\n"

static char outdir[4096];
static char tmpdir[4096];

static void die(const char *what) {
  fprintf(stderr, "make_seeds: %s: %s\n", what, ibx_errmsg());
  exit(1);
}

/* A growable byte buffer: one seed being assembled. */
typedef struct {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
      die("realloc");
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void put_byte(buf *b, unsigned v) {
  uint8_t c = (uint8_t)v;
  put(b, &c, 1);
}
static void put_str(buf *b, const char *s) { put(b, s, strlen(s)); }
static void put_sep(buf *b) { put_str(b, SEP); }
static void put_be32(buf *b, uint32_t v) {
  uint8_t c[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(b, c, 4);
}

static void put_file(buf *b, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    die(path);
  uint8_t tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    put(b, tmp, n);
  fclose(f);
}

static void save(const char *reader, const char *name, buf *b) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", outdir, reader);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", outdir, reader, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0)
    die(path);
  free(b->p);
  memset(b, 0, sizeof *b);
}

static void write_bytes(const char *path, const void *d, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0)
    die(path);
}

static char *tmp(const char *name) {
  static char p[8][8192];
  static int k;
  k = (k + 1) % 8;
  snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
  return p[k];
}

/* gzip of d (in memory, via a temporary file). */
static void put_gz(buf *b, const void *d, size_t n) {
  gzFile g = gzopen(tmp("gz"), "wb9");
  if (!g || gzwrite(g, d, (unsigned)n) != (int)n || gzclose(g) != Z_OK)
    die("gzip");
  put_file(b, tmp("gz"));
}

/* ---- IDX ------------------------------------------------------------------ */

static void idx_images(buf *b, int n, int rows, int cols) {
  put_be32(b, 0x803), put_be32(b, (uint32_t)n), put_be32(b, (uint32_t)rows),
      put_be32(b, (uint32_t)cols);
  for (int i = 0; i < n * rows * cols; i++)
    put_byte(b, (unsigned)(i * 37 + 11));
}
static void idx_labels(buf *b, int n, int mod) {
  put_be32(b, 0x801), put_be32(b, (uint32_t)n);
  for (int i = 0; i < n; i++)
    put_byte(b, (unsigned)((i * 7 + 3) % mod));
}

static void seeds_idx(void) {
  buf b = {0}, im = {0}, lb = {0};
  /* plain files, open_idx */
  put_byte(&b, 0), idx_images(&b, 3, 4, 5), put_sep(&b), idx_labels(&b, 3, 10);
  save("idx", "plain", &b);
  /* harness gzips both */
  put_byte(&b, 3), idx_images(&b, 2, 3, 3), put_sep(&b), idx_labels(&b, 2, 10);
  save("idx", "gzip_by_harness", &b);
  /* parts that are gzip streams themselves */
  idx_images(&im, 2, 4, 4), idx_labels(&lb, 2, 10);
  put_byte(&b, 0), put_gz(&b, im.p, im.n), put_sep(&b), put_gz(&b, lb.p, lb.n);
  save("idx", "gzip_raw", &b);
  /* Fashion-MNIST file names, images gzipped by the harness */
  put_byte(&b, 4 | 1), idx_images(&b, 2, 28, 28), put_sep(&b), idx_labels(&b, 2, 10);
  save("idx", "fashion_names", &b);
  /* 3 named classes */
  put_byte(&b, 8), idx_images(&b, 4, 2, 2), put_sep(&b), idx_labels(&b, 4, 3);
  save("idx", "three_classes", &b);
  free(im.p), free(lb.p);
}

/* ---- CIFAR ---------------------------------------------------------------- */

static void cifar_records(buf *b, int variant, int n, int seed) {
  for (int r = 0; r < n; r++) {
    if (variant == 100)
      put_byte(b, (unsigned)((r * 3 + seed) % 20)), put_byte(b, (unsigned)((r * 41 + seed) % 100));
    else
      put_byte(b, (unsigned)((r * 3 + seed) % 10));
    for (int i = 0; i < 3072; i++)
      put_byte(b, (unsigned)((i / 3 + r * 17 + seed) & 0xff));
  }
}

static void seeds_cifar(void) {
  buf b = {0};
  put_byte(&b, 0), cifar_records(&b, 10, 2, 1);
  save("cifar", "cifar10_two_records", &b);
  put_byte(&b, 1), cifar_records(&b, 100, 2, 5);
  save("cifar", "cifar100_two_records", &b);
  put_byte(&b, 0), cifar_records(&b, 10, 1, 2), put_sep(&b), cifar_records(&b, 10, 1, 7);
  save("cifar", "cifar10_two_files", &b);
  put_byte(&b, 3), cifar_records(&b, 100, 1, 9);
  save("cifar", "cifar100_gzip_by_harness", &b);
}

/* ---- SVHN (.mat through libmatio) ----------------------------------------- */

static void svhn_mat(const char *path, size_t side, size_t n, int yclass,
                     enum matio_compression comp) {
  remove(path);
  mat_t *mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
  if (!mat)
    die("Mat_CreateVer");
  size_t xd[4] = {side, side, 3, n}, yd[2] = {n, 1};
  uint8_t *x = malloc(side * side * 3 * n);
  for (size_t i = 0; i < side * side * 3 * n; i++)
    x[i] = (uint8_t)(i * 29 + 5);
  matvar_t *vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xd, x, 0);
  double yd64[16];
  uint8_t yu8[16];
  for (size_t i = 0; i < n; i++)
    yd64[i] = (double)(1 + (i * 3) % 10), yu8[i] = (uint8_t)yd64[i];
  matvar_t *vy = yclass == 0 ? Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, yd, yd64, 0)
                             : Mat_VarCreate("y", MAT_C_UINT8, MAT_T_UINT8, 2, yd, yu8, 0);
  if (!vx || !vy || Mat_VarWrite(mat, vx, comp) != 0 || Mat_VarWrite(mat, vy, comp) != 0)
    die("Mat_VarWrite");
  Mat_VarFree(vx), Mat_VarFree(vy);
  Mat_Close(mat);
  free(x);
}

static void seeds_svhn(void) {
  buf b = {0};
  svhn_mat(tmp("a.mat"), 32, 2, 0, MAT_COMPRESSION_NONE);
  put_file(&b, tmp("a.mat")), save("svhn", "x32_y_double", &b);
  svhn_mat(tmp("b.mat"), 32, 3, 0, MAT_COMPRESSION_ZLIB);
  put_file(&b, tmp("b.mat")), save("svhn", "x32_y_double_zlib", &b);
  svhn_mat(tmp("c.mat"), 4, 3, 1, MAT_COMPRESSION_NONE);
  put_file(&b, tmp("c.mat")), save("svhn", "x4_y_uint8", &b);
  svhn_mat(tmp("d.mat"), 4, 2, 1, MAT_COMPRESSION_ZLIB);
  put_file(&b, tmp("d.mat")), save("svhn", "x4_y_uint8_zlib", &b);
}

/* ---- STL-10 --------------------------------------------------------------- */

static void seeds_stl10(void) {
  buf b = {0};
  const int img = 3 * 96 * 96;
  /* one image, label 1 (airplane): plain y, open_stl10 */
  put_byte(&b, 0), put_byte(&b, 31);
  for (int i = 0; i < img; i++)
    put_byte(&b, (unsigned)(i % 96 + (i / 9216) * 50));
  put_sep(&b), put_byte(&b, 1);
  save("stl10", "one_image", &b);
  /* one image, label 3 (car): y gzipped by the harness, as CIFAR-10 at 32 */
  put_byte(&b, 3), put_byte(&b, 31);
  for (int i = 0; i < img; i++)
    put_byte(&b, (unsigned)((i / 96) % 96 * 2));
  put_sep(&b), put_byte(&b, 3);
  save("stl10", "one_image_as_cifar10", &b);
}

/* ---- CUB ------------------------------------------------------------------ */

static void jpeg_file(const char *path, int h, int w, int gray, int progressive) {
  FILE *f = fopen(path, "wb");
  if (!f)
    die(path);
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
  c.input_components = gray ? 1 : 3;
  c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 75, TRUE);
  if (progressive)
    jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  uint8_t row[3 * 64];
  while (c.next_scanline < c.image_height) {
    for (int x = 0; x < w * c.input_components; x++)
      row[x] = (uint8_t)(x * 9 + (int)c.next_scanline * 13);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
}

static void seeds_cub(void) {
  buf b = {0};
  jpeg_file(tmp("0.jpg"), 8, 12, 0, 0);
  jpeg_file(tmp("1.jpg"), 10, 6, 1, 1);
  const char *images = "1 0.jpg\n2 1.jpg\n";
  const char *labels = "1 1\n2 2\n";
  const char *split = "1 1\n2 0\n";
  const char *boxes = "1 1.0 2.0 5.0 4.0\n2 0.0 0.5 6.0 9.5\n";
  const char *classes = "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n";
  for (int v = 0; v < 3; v++) {
    static const unsigned flags[3] = {2 | 4, 0, 1 | 4};
    static const unsigned size[3] = {15, 7, 31};
    static const char *names[3] = {"all_with_classes", "train_no_classes", "test_with_classes"};
    put_byte(&b, flags[v]), put_byte(&b, size[v]);
    put_str(&b, images), put_sep(&b), put_str(&b, labels), put_sep(&b), put_str(&b, split);
    put_sep(&b), put_str(&b, boxes), put_sep(&b), put_str(&b, classes), put_sep(&b);
    put_file(&b, tmp("0.jpg")), put_sep(&b), put_file(&b, tmp("1.jpg"));
    save("cub", names[v], &b);
  }
}

/* ---- native HDF5 ---------------------------------------------------------- */

static void h5_seed(ibx_dataset *ds, const char *name) {
  buf b = {0};
  if (ibx_dataset_write_h5(ds, tmp("s.h5"), "make_seeds") != IBX_OK)
    die("write_h5");
  put_file(&b, tmp("s.h5"));
  save("h5", name, &b);
  ibx_dataset_close(ds);
}

static void seeds_h5(void) {
  buf im = {0}, lb = {0}, cf = {0};
  ibx_dataset *ds = NULL;
  /* grey 4x4, 3 samples, 10 classes */
  idx_images(&im, 3, 4, 4), idx_labels(&lb, 3, 10);
  write_bytes(tmp("i.idx"), im.p, im.n), write_bytes(tmp("l.idx"), lb.p, lb.n);
  if (ibx_dataset_open_idx(tmp("i.idx"), tmp("l.idx"), NULL, 10, &ds) != IBX_OK)
    die("idx");
  h5_seed(ds, "grey_4x4");
  /* cluttered: boxes */
  if (ibx_dataset_open_idx(tmp("i.idx"), tmp("l.idx"), NULL, 10, &ds) != IBX_OK)
    die("idx");
  ibx_clutter_config cfg;
  ibx_clutter_default(&cfg);
  cfg.size = 8, cfg.fragments = 1, cfg.fragment_size = 2;
  ibx_dataset *cl = NULL;
  if (ibx_dataset_open_cluttered(ds, &cfg, &cl) != IBX_OK)
    die("cluttered");
  h5_seed(cl, "cluttered_boxes");
  /* CIFAR-100: coarse labels, 100 class names, 3x32x32 */
  cifar_records(&cf, 100, 2, 4);
  write_bytes(tmp("c.bin"), cf.p, cf.n);
  const char *paths[1] = {tmp("c.bin")};
  if (ibx_dataset_open_cifar_files(paths, 1, 100, &ds) != IBX_OK)
    die("cifar");
  h5_seed(ds, "cifar100_coarse");
  free(im.p), free(lb.p), free(cf.p);
}

/* ---- text (raw readers, tokenizer) and native text HDF5 ------------------ */

static void text_seed(const char *name, unsigned mode, unsigned max_len, unsigned vocab,
                      unsigned min_freq, const char *const *parts, int n) {
  buf b = {0};
  put_byte(&b, mode), put_byte(&b, max_len), put_byte(&b, vocab), put_byte(&b, min_freq);
  for (int k = 0; k < n; k++) {
    if (k)
      put_sep(&b);
    put_str(&b, parts[k]);
  }
  save("text", name, &b);
}

static void seeds_text(void) {
  const char *imdb[] = {"A terrible, boring film.<br /><br />Awful acting.",
                        "A wonderful film! Great acting.",
                        "Boring. Awful plot.",
                        "Great, wonderful plot; I loved it.",
                        "The worst film, terrible and boring.",
                        "Caf\xc3\xa9 cr\xc3\xa8me: the best film, great.",
                        "Bad \xff\xfe bytes.",
                        "Good."};
  text_seed("imdb_8", 0, 14, 60, 0, imdb, 8);
  const char *fortunes[] = {"Computers are fast.\n%\nA byte is eight bits.\n\t-- Someone\n%\n",
                            "Politics is the art.\n%\nVote early.\n%\n%\n",
                            "Science: e = mc^2.\n%\nAtoms are small.\n",
                            "Roses are red,\nviolets are blue.\n%\nSing a song.\n"};
  text_seed("fortunes_4", 1, 30, 80, 0, fortunes, 4);
  const char *tok[] = {"Hello, World! \xe4\xb8\xad\xe6\x96\x87 na\xc3\xafve caf\xc3\xa9",
                       "unaffable running runner \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
                       "e\xcc\x81 \x01\x7f tabs\tand\nnewlines \xe2\x80\xa8 end"};
  text_seed("tokenizer_3", 2, 20, 40, 0, tok, 3);
}

static void seeds_text_h5(void) {
  const char *texts[] = {"A great film.", "An awful film!", "Great, great acting.",
                         "Awful: boring \xc3\xa9"};
  const int32_t labels[] = {1, 0, 1, 0};
  const char *classes[] = {"neg", "pos"};
  ibx_vocab *v = NULL;
  ibx_text_dataset *ds = NULL;
  if (ibx_wordpiece_train(texts, 4, 40, 1, &v) != IBX_OK ||
      ibx_text_dataset_from_texts(texts, labels, 4, classes, 2, v, 10, "seed", &ds) != IBX_OK ||
      ibx_text_write_h5(ds, tmp("s.h5"), "make_seeds") != IBX_OK)
    die("text h5");
  buf b = {0};
  put_file(&b, tmp("s.h5"));
  save("text_h5", "imdb_like_4", &b);
  ibx_text_close(ds);
  ibx_vocab_free(v);
}

static int wanted(int argc, char **argv, const char *reader) {
  if (argc <= 2)
    return 1;
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], reader))
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: make_seeds OUTDIR [READER...]\n");
    return 2;
  }
  snprintf(outdir, sizeof outdir, "%s", argv[1]);
  mkdir(outdir, 0755);
  snprintf(tmpdir, sizeof tmpdir, "%s/.make_seeds_tmp", outdir);
  mkdir(tmpdir, 0755);
  if (wanted(argc, argv, "idx"))
    seeds_idx();
  if (wanted(argc, argv, "cifar"))
    seeds_cifar();
  if (wanted(argc, argv, "svhn"))
    seeds_svhn();
  if (wanted(argc, argv, "stl10"))
    seeds_stl10();
  if (wanted(argc, argv, "cub"))
    seeds_cub();
  if (wanted(argc, argv, "h5"))
    seeds_h5();
  if (wanted(argc, argv, "text"))
    seeds_text();
  if (wanted(argc, argv, "text_h5"))
    seeds_text_h5();
  const char *names[] = {"gz", "a.mat", "b.mat", "c.mat", "d.mat", "0.jpg", "1.jpg",
                         "s.h5", "i.idx", "l.idx", "c.bin"};
  for (size_t k = 0; k < sizeof names / sizeof *names; k++)
    remove(tmp(names[k]));
  rmdir(tmpdir);
  return 0;
}
