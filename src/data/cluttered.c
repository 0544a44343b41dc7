/* Cluttered datasets (after Mnih et al.'s cluttered MNIST): sample i is the
 * source's sample i placed at a random position on a larger zero canvas,
 * over which clutter fragments cut from other random source samples are
 * laid; canvas = max(fragments, item). The box is the tight box of the
 * item's nonzero pixels on the canvas: the ground truth for the attribution
 * bounding-box metric. Samples are generated on each read as a pure function
 * of (seed, i), so the dataset costs no memory beyond its source. */
#include <stdlib.h>
#include <string.h>

#include "dataset_internal.h"
#include "ibx/error.h"
#include "ibx/rng.h"

/* Philox stream: "CLUT". Draw k of sample i is index i * 64 + k. */
#define CLUTTER_STREAM 0x434C5554ull

typedef struct {
  ibx_dataset *src;
  ibx_clutter_config cfg;
} clutter_impl;

static uint32_t draw(const clutter_impl *c, long i, int k, uint32_t bound) {
  uint32_t r[4];
  ibx_rng_u32x4(c->cfg.seed, CLUTTER_STREAM, (uint64_t)i * 64 + (uint64_t)k, r);
  uint64_t u = ((uint64_t)r[0] << 32) | r[1];
  return bound ? (uint32_t)(u % bound) : 0;
}

/* Item position for sample i. */
static void item_pos(const clutter_impl *c, long i, int *px, int *py) {
  const ibx_dataset *s = c->src;
  *px = (int)draw(c, i, 0, (uint32_t)(c->cfg.size - s->width + 1));
  *py = (int)draw(c, i, 1, (uint32_t)(c->cfg.size - s->height + 1));
}

static int clutter_read(const ibx_dataset *ds, long i, uint8_t *image, int *label) {
  const clutter_impl *c = ds->impl;
  const ibx_dataset *s = c->src;
  const int C = s->channels, h = s->height, w = s->width, S = c->cfg.size, F = c->cfg.fragment_size;
  uint8_t *item = malloc((size_t)C * h * w), *frag = malloc((size_t)C * h * w);
  if (!item || !frag) {
    free(item), free(frag);
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory", ds->name);
  }
  int rc = ibx_dataset_read(s, i, item, label);
  if (rc != IBX_OK || !image) {
    free(item), free(frag);
    return rc;
  }
  memset(image, 0, (size_t)C * S * S);
  for (int f = 0; f < c->cfg.fragments; f++) {
    long j = (long)draw(c, i, 2 + 5 * f, (uint32_t)s->count);
    if (j == i && s->count > 1)
      j = (j + 1) % s->count;
    int fx = (int)draw(c, i, 3 + 5 * f, (uint32_t)(w - F + 1));
    int fy = (int)draw(c, i, 4 + 5 * f, (uint32_t)(h - F + 1));
    int cx = (int)draw(c, i, 5 + 5 * f, (uint32_t)(S - F + 1));
    int cy = (int)draw(c, i, 6 + 5 * f, (uint32_t)(S - F + 1));
    rc = ibx_dataset_read(s, j, frag, NULL);
    if (rc != IBX_OK)
      break;
    for (int ch = 0; ch < C; ch++)
      for (int y = 0; y < F; y++)
        for (int x = 0; x < F; x++) {
          uint8_t v = frag[((size_t)ch * h + fy + y) * w + fx + x];
          uint8_t *d = &image[((size_t)ch * S + cy + y) * S + cx + x];
          if (v > *d)
            *d = v;
        }
  }
  if (rc == IBX_OK) {
    int px, py;
    item_pos(c, i, &px, &py);
    for (int ch = 0; ch < C; ch++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          uint8_t v = item[((size_t)ch * h + y) * w + x];
          uint8_t *d = &image[((size_t)ch * S + py + y) * S + px + x];
          if (v > *d)
            *d = v;
        }
  }
  free(item), free(frag);
  return rc;
}

static int clutter_box(const ibx_dataset *ds, long i, float box[4]) {
  const clutter_impl *c = ds->impl;
  const ibx_dataset *s = c->src;
  const int C = s->channels, h = s->height, w = s->width;
  uint8_t *item = malloc((size_t)C * h * w);
  if (!item)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory", ds->name);
  int rc = ibx_dataset_read(s, i, item, NULL);
  if (rc != IBX_OK) {
    free(item);
    return rc;
  }
  int x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int ch = 0; ch < C; ch++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        if (item[((size_t)ch * h + y) * w + x]) {
          x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
          y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
        }
  free(item);
  if (x1 < 0) /* a blank item: its whole placement */
    x0 = 0, y0 = 0, x1 = w - 1, y1 = h - 1;
  int px, py;
  item_pos(c, i, &px, &py);
  box[0] = (float)(px + x0), box[1] = (float)(py + y0);
  box[2] = (float)(x1 - x0 + 1), box[3] = (float)(y1 - y0 + 1);
  return IBX_OK;
}

static void clutter_destroy(void *impl) {
  clutter_impl *c = impl;
  if (!c)
    return;
  ibx_dataset_close(c->src);
  free(c);
}

static const ibxd_ops clutter_ops = {clutter_read, clutter_box, clutter_destroy};

void ibx_clutter_default(ibx_clutter_config *cfg) {
  cfg->size = 64;
  cfg->fragments = 8;
  cfg->fragment_size = 9;
  cfg->seed = 0;
}

int ibx_dataset_open_cluttered(ibx_dataset *src, const ibx_clutter_config *cfg,
                               ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "cluttered: NULL output pointer");
  *out = NULL;
  if (!src || !cfg)
    return ibx_fail(IBX_ERR_ARG, "cluttered: NULL source or configuration");
  if (src->count <= 0)
    return ibx_fail(IBX_ERR_ARG, "cluttered: source %s is empty", src->name);
  if (cfg->size < src->height || cfg->size < src->width || cfg->size > 4096)
    return ibx_fail(IBX_ERR_ARG, "cluttered: canvas %d cannot hold %s's %dx%d images", cfg->size,
                    src->name, src->height, src->width);
  if (cfg->fragments < 0 || cfg->fragments > 12)
    return ibx_fail(IBX_ERR_ARG, "cluttered: fragments must be in [0, 12], got %d",
                    cfg->fragments);
  if (cfg->fragments > 0 && (cfg->fragment_size <= 0 || cfg->fragment_size > src->height ||
                             cfg->fragment_size > src->width))
    return ibx_fail(IBX_ERR_ARG, "cluttered: fragment size %d must be in [1, %d]",
                    cfg->fragment_size, src->height < src->width ? src->height : src->width);
  ibx_dataset *ds = ibxd_new("%s, cluttered %dx%d", src->name, cfg->size, cfg->size);
  clutter_impl *c = calloc(1, sizeof *c);
  int rc = (ds && c) ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "cluttered: out of memory");
  if (rc == IBX_OK)
    rc = ibxd_set_classes(ds, (const char *const *)src->class_names, src->num_classes);
  if (rc != IBX_OK) {
    free(c);
    ibx_dataset_close(ds);
    return rc;
  }
  c->src = src;
  c->cfg = *cfg;
  ds->ops = &clutter_ops;
  ds->impl = c;
  ds->count = src->count;
  ds->channels = src->channels, ds->height = cfg->size, ds->width = cfg->size;
  *out = ds;
  return IBX_OK;
}

int ibx_dataset_open_cluttered_fashion_mnist(const char *dir, const char *split,
                                             const ibx_clutter_config *cfg, ibx_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "cluttered: NULL output pointer");
  *out = NULL;
  ibx_dataset *src = NULL;
  IBX_TRY(ibx_dataset_open_fashion_mnist(dir, split, &src));
  int rc = ibx_dataset_open_cluttered(src, cfg, out);
  if (rc != IBX_OK)
    ibx_dataset_close(src);
  return rc;
}
