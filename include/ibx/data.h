/* Datasets: one interface for every image dataset ibx reads.
 *
 * A dataset is a fixed number of samples, each an 8-bit image of one fixed
 * shape (channels x height x width, stored CHW: channel planes, rows top to
 * bottom, pixels left to right) and an integer class label in
 * [0, num_classes). Some datasets carry more per sample: a coarse label
 * (CIFAR-100) or a bounding box (CUB-200-2011).
 *
 * Every function that can fail returns an ibx_status and records a one-line
 * message (ibx_errmsg) naming the file and the problem; nothing here prints.
 * Reading samples from an open dataset is thread-safe (const). */
#ifndef IBX_DATA_H
#define IBX_DATA_H

#include <stdint.h>

typedef struct ibx_dataset ibx_dataset;

/* ---- the interface ------------------------------------------------------ */

/* Number of samples. */
long ibx_dataset_count(const ibx_dataset *ds);
/* Image shape; any pointer may be NULL. */
void ibx_dataset_shape(const ibx_dataset *ds, int *channels, int *height, int *width);
/* channels * height * width: the bytes one ibx_dataset_read writes. */
long ibx_dataset_image_size(const ibx_dataset *ds);
int ibx_dataset_num_classes(const ibx_dataset *ds);
/* Name of class k, or NULL when k is out of range. */
const char *ibx_dataset_class_name(const ibx_dataset *ds, int k);
/* Short description of the source, e.g. "fashion-mnist train" or a path. */
const char *ibx_dataset_name(const ibx_dataset *ds);

/* Reads sample i (0 <= i < count): the image into image_chw (image_size
 * bytes, CHW uint8) and its class into *label. Either output may be NULL. */
int ibx_dataset_read(const ibx_dataset *ds, long i, uint8_t *image_chw, int *label);

/* Coarse labels (CIFAR-100's 20 superclasses): 0 when the dataset has none. */
int ibx_dataset_num_coarse_classes(const ibx_dataset *ds);
const char *ibx_dataset_coarse_class_name(const ibx_dataset *ds, int k);
/* Coarse label of sample i, or -1 when the dataset has none. */
int ibx_dataset_coarse_label(const ibx_dataset *ds, long i);

/* Bounding boxes (CUB-200-2011): 1 when the dataset has them. */
int ibx_dataset_has_boxes(const ibx_dataset *ds);
/* Box of sample i as {x, y, width, height} in pixels of the image that
 * ibx_dataset_read returns (x to the right, y down, origin at the top-left
 * corner of the top-left pixel). IBX_ERR_ARG when the dataset has none. */
int ibx_dataset_box(const ibx_dataset *ds, long i, float box_xywh[4]);

/* Frees everything; NULL is fine. */
void ibx_dataset_close(ibx_dataset *ds);

/* ---- MNIST / Fashion-MNIST (IDX files, gzipped or not) ------------------- */

/* Opens an IDX image file (magic 0x00000803, uint8, N x rows x cols) and its
 * IDX label file (magic 0x00000801, N labels). Either file may be gzipped
 * (detected by content, not by name). class_names: num_classes names, or
 * NULL for 10 classes named "0".."9"; num_classes is 10 when class_names is
 * NULL. Labels must be < num_classes. The whole data is loaded at open. */
int ibx_dataset_open_idx(const char *images_path, const char *labels_path,
                         const char *const *class_names, int num_classes, ibx_dataset **out);

/* Fashion-MNIST from dir (NULL: IBX_FASHION_MNIST_DIR, the Debian package's
 * location), split "train" (60,000) or "test" (10,000): files
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, falling back to the same
 * names without .gz. 1x28x28, classes IBX_FASHION_MNIST_CLASSES. */
#define IBX_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
int ibx_dataset_open_fashion_mnist(const char *dir, const char *split, ibx_dataset **out);
/* Class names of Fashion-MNIST, in label order (10 entries). */
extern const char *const ibx_fashion_mnist_classes[10];

/* MNIST digits from dir (no default location): same file names, classes
 * "0".."9". */
int ibx_dataset_open_mnist(const char *dir, const char *split, ibx_dataset **out);

/* ---- CIFAR-10 / CIFAR-100 (binary versions) ------------------------------ */

/* dir holds the extracted cifar-10-batches-bin: split "train" reads
 * data_batch_1.bin .. data_batch_5.bin (50,000), "test" test_batch.bin
 * (10,000). 3x32x32, classes ibx_cifar10_classes. */
int ibx_dataset_open_cifar10(const char *dir, const char *split, ibx_dataset **out);
/* dir holds the extracted cifar-100-binary: train.bin / test.bin. The label is
 * the fine label (100 classes, ibx_cifar100_classes); the coarse label (20
 * superclasses, ibx_cifar100_coarse_classes) is ibx_dataset_coarse_label. */
int ibx_dataset_open_cifar100(const char *dir, const char *split, ibx_dataset **out);
/* Any list of batch files of one variant (10 or 100), concatenated in order.
 * Files may be gzipped. */
int ibx_dataset_open_cifar_files(const char *const *paths, int npaths, int variant,
                                 ibx_dataset **out);
extern const char *const ibx_cifar10_classes[10];
extern const char *const ibx_cifar100_classes[100];
extern const char *const ibx_cifar100_coarse_classes[20];

/* ---- SVHN cropped digits (.mat, MATLAB v5, via libmatio) ---------------- */

/* dir/{train,test,extra}_32x32.mat. 3x32x32, labels are the digits 0..9
 * (the files' label 10 is digit 0), classes "0".."9". */
int ibx_dataset_open_svhn(const char *dir, const char *split, ibx_dataset **out);
/* One .mat file with X (uint8 rows x cols x 3 x N) and y (N labels 1..10). */
int ibx_dataset_open_svhn_mat(const char *path, ibx_dataset **out);

/* ---- STL-10 (binary version) --------------------------------------------- */

/* dir/{train,test}_X.bin and _y.bin: 3x96x96 (stored column-major per
 * channel, returned CHW), labels 0..9 (the files' 1..10 minus one), classes
 * ibx_stl10_classes. The unlabeled split is not supported. */
int ibx_dataset_open_stl10(const char *dir, const char *split, ibx_dataset **out);
int ibx_dataset_open_stl10_files(const char *x_path, const char *y_path, ibx_dataset **out);
extern const char *const ibx_stl10_classes[10];
/* STL-10 label -> CIFAR-10 label for the 9 shared classes, -1 for monkey:
 * airplane 0->0, bird 1->2, car 2->1, cat 3->3, deer 4->4, dog 5->5,
 * horse 6->7, monkey 7->-1, ship 8->8, truck 9->9 (CIFAR-10's frog, 6, has
 * no STL-10 counterpart). */
int ibx_stl10_to_cifar10(int stl_label);
/* Cross-domain test set (Learn To Pay Attention): STL-10 without monkeys,
 * labels as CIFAR-10 labels, class names ibx_cifar10_classes, images
 * resized (area averaging) to 3 x size x size (32 for a CIFAR-10 model). */
int ibx_dataset_open_stl10_as_cifar10(const char *dir, const char *split, int size,
                                      ibx_dataset **out);

/* ---- resizing ------------------------------------------------------------ */

/* A memory copy of src with every image resampled to height x width (area
 * averaging when shrinking, bilinear when enlarging); labels, coarse labels
 * and boxes (scaled) are kept. src stays open and owned by the caller. */
int ibx_dataset_resize_copy(const ibx_dataset *src, int height, int width, ibx_dataset **out);

/* ---- CUB-200-2011 ------------------------------------------------------- */

/* dir is the extracted CUB_200_2011 directory (images.txt,
 * image_class_labels.txt, train_test_split.txt, bounding_boxes.txt,
 * optional classes.txt, images/). split: "train", "test" or "all", in image
 * id order. Text files are read at open; each read decodes the JPEG
 * (grayscale ones become 3 equal channels) and resamples it to
 * 3 x size x size (aspect ratio not kept). Labels are class id - 1; class
 * names come from classes.txt without the "NNN." prefix. Boxes
 * (ibx_dataset_box) are bounding_boxes.txt's scaled into the size x size
 * image (reading the JPEG header for the original size). */
int ibx_dataset_open_cub(const char *dir, const char *split, int size, ibx_dataset **out);

/* ---- cluttered datasets (ground-truth boxes on real images) -------------- */

/* Sample i of a cluttered dataset is the source's sample i (same label) at a
 * random position on a size x size zero canvas, under which `fragments`
 * fragment_size x fragment_size patches cut from random other source
 * samples lie at random positions (pixels combine by max). Its box is the
 * tight box of the item's nonzero pixels on the canvas. Everything is a
 * pure function of (seed, i); samples are generated on each read. */
typedef struct {
  int size;          /* canvas side (64) */
  int fragments;     /* clutter fragments per image, 0..12 (8) */
  int fragment_size; /* fragment side (9) */
  uint64_t seed;
} ibx_clutter_config;
void ibx_clutter_default(ibx_clutter_config *cfg);
/* Wraps src, which the new dataset owns from then on (it is closed with
 * it); on failure src stays the caller's. */
int ibx_dataset_open_cluttered(ibx_dataset *src, const ibx_clutter_config *cfg,
                               ibx_dataset **out);
/* Cluttered Fashion-MNIST (dir NULL: the Debian package's location). */
int ibx_dataset_open_cluttered_fashion_mnist(const char *dir, const char *split,
                                             const ibx_clutter_config *cfg, ibx_dataset **out);

/* ---- native format: one HDF5 file per split ------------------------------ */

/* Layout (format version 1; see src/data/h5data.c): /images uint8
 * [N,C,H,W] chunked by whole images, /labels int32 [N], /class_names
 * strings, optional /coarse_labels, /coarse_class_names, /boxes float32
 * [N,4]; attributes ibx_format="ibx-dataset", ibx_format_version=1, name,
 * source, images_crc32, labels_crc32. */
/* Writes every sample of ds (any reader) to path; source is free text. */
int ibx_dataset_write_h5(const ibx_dataset *ds, const char *path, const char *source);
/* Reads the whole file into memory, verifying the checksums. */
int ibx_dataset_open_h5(const char *path, ibx_dataset **out);

/* Reads samples [first, first + count) only (a rank's part); checksums
 * are not verified. */
int ibx_dataset_open_h5_range(const char *path, long first, long count, ibx_dataset **out);
/* Number of samples in the file without reading them. */
int ibx_dataset_h5_count(const char *path, long *count);

/* ---- datasets by name (src/data/dataset_named.c) ---------------------------
 * The one registry of dataset kinds: data.dataset (trainer, evaluation,
 * attribution) and `ibx data --format` both open datasets through it. A new
 * reader: one row in dataset_named.c's table (and, if it should be a
 * data.dataset choice, in the schema; test_config checks the two agree). */

typedef struct {
  int size;                /* image side of readers that resize (cub200, stl10-cifar10,
                              cluttered-fashion-mnist's canvas); <= 0: the kind's default */
  unsigned long long seed; /* cluttered-fashion-mnist: placement seed */
} ibx_dataset_options;

typedef struct ibx_dataset_kind {
  const char *name;   /* data.dataset / --format name */
  const char *alias;  /* another accepted name, or NULL ("cub" for cub200) */
  const char *source; /* what the path names, for help texts (may hold newlines) */
  int in_config;      /* a data.dataset choice (else `ibx data` only) */
  int needs_path;     /* no default location: an empty path is an error */
  int default_size;   /* ibx_dataset_options.size when that is <= 0 (0: none) */
  int text;           /* token ids, read by ibx_text_open (ibx/text.h), not as images */
  int (*open)(const char *path, const char *split, const ibx_dataset_options *o,
              ibx_dataset **out);
} ibx_dataset_kind;

int ibx_dataset_kind_count(void);
const ibx_dataset_kind *ibx_dataset_kind_at(int i);
/* The kind called name (or its alias); NULL when there is none. */
const ibx_dataset_kind *ibx_dataset_find_kind(const char *name);
/* Opens split (train, test; CUB also all) of the dataset kind `name` at
 * path (NULL or "": the kind's default location, fashion-mnist and
 * cluttered-fashion-mnist only; "default" means the same). o may be NULL. */
int ibx_dataset_open_kind(const char *name, const char *path, const char *split,
                          const ibx_dataset_options *o, ibx_dataset **out);
/* ibx_dataset_open_kind with options {size}: a data.dataset name, path and
 * data.image_size. */
int ibx_dataset_open_named(const char *name, const char *path, const char *split, int size,
                           ibx_dataset **out);

#endif
