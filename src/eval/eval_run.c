/* Opening a trained run for evaluation: its model, weights, input pipeline
 * and datasets (include/ibx/eval.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../train/run_dir.h"
#include "ibx/augment.h"
#include "ibx/checkpoint.h"
#include "ibx/error.h"
#include "ibx/eval.h"
#include "ibx/trainer.h"

static int locate(const char *path, ibx_eval_run *run) {
  struct stat st;
  if (stat(path, &st))
    return ibx_fail(IBX_ERR_IO, "%s: no such run directory or checkpoint", path);
  char dir[4096];
  if (S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof dir, "%s", path);
    IBX_TRY(ibx_run_dir_latest(dir, run->ckpt, sizeof run->ckpt));
  } else {
    snprintf(run->ckpt, sizeof run->ckpt, "%s", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = '\0';
    else
      snprintf(dir, sizeof dir, ".");
  }
  if (strlen(dir) + sizeof "/results" > sizeof run->results)
    return ibx_fail(IBX_ERR_ARG, "%s: path too long", path);
  memcpy(run->results, dir, strlen(dir));
  memcpy(run->results + strlen(dir), "/results", sizeof "/results");
  return IBX_OK;
}


/* A text run: the model from the training set's vocabulary and classes. */
static int open_text(ibx_eval_run *run, int max_batch) {
  ibx_text_dataset *train = NULL;
  int rc = ibx_run_open_text(&run->settings, "train", &train);
  if (rc)
    return ibx_fail(rc, "%s: the run's training set is needed for its vocabulary: %s", run->ckpt,
                    ibx_errmsg());
  ibx_model_config mc;
  ibx_run_model_config_text(&run->settings, train, &mc);
  run->max_len = ibx_text_max_len(train);
  ibx_text_close(train);
  run->text = 1;
  run->max_batch = max_batch;
  IBX_TRY(ibx_model_create(&mc, max_batch, &run->model));
  return ibx_checkpoint_read(run->ckpt, ibx_model_params(run->model),
                             ibx_model_buffers(run->model), NULL, NULL);
}

static int open_local(const char *path, int max_batch, ibx_eval_run *run) {
  IBX_TRY(locate(path, run));
  char *ini = NULL;
  IBX_TRY(ibx_checkpoint_read_config(run->ckpt, &ini));
  int rc = ibx_config_init(&run->cfg);
  if (!rc)
    rc = ibx_config_load_string(&run->cfg, ini, run->ckpt);
  free(ini);
  IBX_TRY(rc);
  IBX_TRY(ibx_run_config_resolve(&run->cfg, &run->settings));
  if (ibx_run_is_text(&run->settings))
    return open_text(run, max_batch);
  /* the training set gives the normalisation, channels, classes and size */
  ibx_dataset *train = NULL;
  rc = ibx_run_open_dataset(&run->settings, "train", &train);
  if (rc)
    return ibx_fail(rc, "%s: the run's training set is needed for its normalisation: %s",
                    run->ckpt, ibx_errmsg());
  ibx_model_config mc;
  ibx_run_model_config(&run->settings, train, &mc);
  ibx_dataset_shape(train, NULL, &run->src_h, &run->src_w);
  if (mc.in_channels > IBX_AUGMENT_MAX_CHANNELS)
    rc = ibx_fail(IBX_ERR_ARG, "%s: %d channels are more than evaluation supports", run->ckpt,
                  mc.in_channels);
  if (!rc)
    rc = ibx_dataset_channel_stats(train, run->mean, run->std);
  ibx_dataset_close(train);
  IBX_TRY(rc);
  run->in_c = mc.in_channels, run->in_h = mc.in_height, run->in_w = mc.in_width;
  run->max_batch = max_batch;
  IBX_TRY(ibx_model_create(&mc, max_batch, &run->model));
  IBX_TRY(ibx_checkpoint_read(run->ckpt, ibx_model_params(run->model),
                              ibx_model_buffers(run->model), NULL, NULL));
  const size_t img = (size_t)run->in_c * run->in_h * run->in_w;
  run->x = calloc((size_t)max_batch * img, sizeof(float));
  if (!run->x)
    return ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory for a batch");
  /* heads publish their attention maps' shapes in forward: run one */
  ibx_tensor logits;
  return ibx_model_forward(run->model, run->x, NULL, 1, 0, 0, NULL, &logits);
}

int ibx_eval_open(const char *path, int max_batch, ibx_eval_run *run) {
  memset(run, 0, sizeof *run);
  if (max_batch < 1)
    return ibx_fail(IBX_ERR_ARG, "evaluation: batch size %d must be >= 1", max_batch);
  const int rc = open_local(path, max_batch, run);
  if (rc)
    ibx_eval_close(run);
  return rc;
}

void ibx_eval_close(ibx_eval_run *run) {
  ibx_model_free(run->model);
  ibx_config_free(&run->cfg);
  free(run->x);
  memset(run, 0, sizeof *run);
}

int ibx_eval_open_data(const ibx_eval_run *run, const ibx_eval_data *spec, ibx_dataset **out,
                       char *label, size_t len) {
  *out = NULL;
  const char *own = run->settings.data.dataset;
  const char *name = spec->name && *spec->name ? spec->name : own;
  const char *split = spec->split && *spec->split ? spec->split : "test";
  const char *path = spec->path && *spec->path ? spec->path
                     : !strcmp(name, own) ? run->settings.data.path : NULL;
  ibx_dataset *ds = NULL;
  if (!strcmp(name, "stl10") && !strcmp(own, "cifar10")) {
    if (!path || !*path)
      return ibx_fail(IBX_ERR_ARG, "dataset 'stl10' needs a path (--data-path)");
    IBX_TRY(ibx_dataset_open_stl10_as_cifar10(path, split, run->src_h, &ds));
  } else {
    IBX_TRY(ibx_dataset_open_named(name, path, split, run->src_h, &ds));
  }
  snprintf(label, len, "%s-%s", name, split);
  int c, h, w, rc = IBX_OK;
  ibx_dataset_shape(ds, &c, &h, &w);
  const int classes = ibx_model_config_of(run->model)->num_classes;
  if (c != run->in_c)
    rc = ibx_fail(IBX_ERR_ARG, "%s: images have %d channels, the model (%s) takes %d",
                  ibx_dataset_name(ds), c, run->ckpt, run->in_c);
  else if (ibx_dataset_num_classes(ds) != classes)
    rc = ibx_fail(IBX_ERR_ARG, "%s: %d classes, the model (%s) predicts %d", ibx_dataset_name(ds),
                  ibx_dataset_num_classes(ds), run->ckpt, classes);
  else if ((h != run->src_h || w != run->src_w) && !spec->resize)
    rc = ibx_fail(IBX_ERR_ARG, "%s: images are %dx%d, the model was trained on %dx%d images "
                  "(%s); pass --resize to resample them", ibx_dataset_name(ds), h, w,
                  run->src_h, run->src_w, own);
  else if (h != run->src_h || w != run->src_w) {
    ibx_dataset *resized = NULL;
    rc = ibx_dataset_resize_copy(ds, run->src_h, run->src_w, &resized);
    ibx_dataset_close(ds);
    ds = resized;
  }
  if (rc) {
    ibx_dataset_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibx_eval_canvas(const ibx_eval_run *run, const ibx_dataset *ds, long i, float *canvas,
                    int *label) {
  int c, h, w;
  ibx_dataset_shape(ds, &c, &h, &w);
  uint8_t *pix = malloc((size_t)ibx_dataset_image_size(ds));
  if (!pix)
    return ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory for an image");
  const int rc = ibx_dataset_read(ds, i, pix, label);
  /* centred as the trainer's pipeline places it (ibx/augment.h, step 1) */
  const int oh = run->in_h, ow = run->in_w, oy = (oh - h) / 2, ox = (ow - w) / 2;
  for (int ch = 0; rc == IBX_OK && ch < c; ch++)
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        const int sy = y - oy, sx = x - ox;
        canvas[((size_t)ch * oh + y) * ow + x] =
            sy >= 0 && sy < h && sx >= 0 && sx < w ? (float)pix[((size_t)ch * h + sy) * w + sx]
                                                   : 0.0f;
      }
  free(pix);
  return rc;
}

int ibx_eval_attention_size(const ibx_eval_run *run, int *h, int *w, long *size) {
  const ibx_model *m = run->model;
  const int k = run->attention_map, n = ibx_model_attention_count(m);
  if (n == 0) {
    char heads[128];
    IBX_TRY(ibx_model_head_names(heads, sizeof heads, ", ", 1));
    return ibx_fail(IBX_ERR_ARG, "%s: model head '%s' has no attention map (attention heads: %s)",
                    run->ckpt, ibx_model_config_of(m)->head, heads);
  }
  if (k < 0 || k >= n)
    return ibx_fail(IBX_ERR_ARG, "%s: attention map %d asked, head '%s' has maps 0..%d", run->ckpt,
                    k, ibx_model_config_of(m)->head, n - 1);
  ibx_tensor t;
  IBX_TRY(ibx_model_attention(m, k, &t));
  *h = t.dim[2], *w = t.dim[3], *size = (long)t.dim[2] * t.dim[3];
  return IBX_OK;
}

void ibx_eval_normalise(ibx_eval_run *run, const float *canvas, int n) {
  const size_t hw = (size_t)run->in_h * run->in_w;
  for (int ch = 0; ch < run->in_c; ch++) {
    /* the trainer's arithmetic exactly (src/data/augment.c) */
    const float scale = 1.0f / (255.0f * run->std[ch]), bias = -run->mean[ch] / run->std[ch];
    for (int i = 0; i < n; i++) {
      const size_t off = ((size_t)i * run->in_c + ch) * hw;
      for (size_t p = 0; p < hw; p++)
        run->x[off + p] = canvas[off + p] * scale + bias;
    }
  }
}

int ibx_eval_forward(ibx_eval_run *run, const float *canvas, int n, int *pred, float *maps) {
  if (n < 1 || n > run->max_batch)
    return ibx_fail(IBX_ERR_ARG, "evaluation: batch %d outside 1..%d", n, run->max_batch);
  ibx_eval_normalise(run, canvas, n);
  ibx_tensor logits;
  IBX_TRY(ibx_model_forward(run->model, run->x, NULL, n, 0, 0, NULL, &logits));
  const int K = logits.dim[1];
  for (int i = 0; i < n; i++) {
    const float *row = logits.data + (size_t)i * K;
    int best = 0;
    for (int k = 1; k < K; k++)
      best = row[k] > row[best] ? k : best;
    pred[i] = best;
  }
  if (!maps)
    return IBX_OK;
  int h, w;
  long size;
  IBX_TRY(ibx_eval_attention_size(run, &h, &w, &size));
  ibx_tensor t;
  IBX_TRY(ibx_model_attention(run->model, run->attention_map, &t));
  memcpy(maps, t.data, (size_t)n * size * sizeof(float));
  return IBX_OK;
}

static int attn_forward(void *ctx, const float *canvas, int n, int *pred, float *maps) {
  return ibx_eval_forward(ctx, canvas, n, pred, maps);
}

int ibx_eval_attn_model(ibx_eval_run *run, ibx_attn_model *m) {
  int h, w;
  memset(m, 0, sizeof *m);
  IBX_TRY(ibx_eval_attention_size(run, &h, &w, &m->map_size));
  m->forward = attn_forward, m->ctx = run, m->max_batch = run->max_batch;
  return IBX_OK;
}

int ibx_eval_open_text_data(const ibx_eval_run *run, const char *split, ibx_text_dataset **out,
                            char *label, size_t len) {
  *out = NULL;
  if (!run->text)
    return ibx_fail(IBX_ERR_ARG, "%s: not a text run", run->ckpt);
  split = split && *split ? split : "test";
  ibx_text_dataset *ds = NULL;
  IBX_TRY(ibx_run_open_text(&run->settings, split, &ds));
  const int classes = ibx_model_config_of(run->model)->num_classes;
  const int vocab = ibx_model_config_of(run->model)->tf_vocab;
  int rc = IBX_OK;
  if (ibx_text_num_classes(ds) != classes)
    rc = ibx_fail(IBX_ERR_ARG, "%s: %d classes, the model (%s) predicts %d", ibx_text_name(ds),
                  ibx_text_num_classes(ds), run->ckpt, classes);
  else if (ibx_vocab_size(ibx_text_vocab(ds)) != vocab)
    rc = ibx_fail(IBX_ERR_ARG, "%s: a vocabulary of %d pieces, the model (%s) has %d",
                  ibx_text_name(ds), ibx_vocab_size(ibx_text_vocab(ds)), run->ckpt, vocab);
  if (rc) {
    ibx_text_close(ds);
    return rc;
  }
  snprintf(label, len, "%s-%s", run->settings.data.dataset, split);
  *out = ds;
  return IBX_OK;
}

int ibx_eval_run_is_text(const char *path, int *text) {
  *text = 0;
  ibx_eval_run *run = calloc(1, sizeof *run);
  if (!run)
    return ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory");
  char *ini = NULL;
  int rc = locate(path, run);
  if (!rc)
    rc = ibx_checkpoint_read_config(run->ckpt, &ini);
  if (!rc)
    rc = ibx_config_init(&run->cfg);
  if (!rc) {
    rc = ibx_config_load_string(&run->cfg, ini, run->ckpt);
    if (!rc)
      rc = ibx_run_config_resolve(&run->cfg, &run->settings);
    if (!rc)
      *text = ibx_run_is_text(&run->settings);
    ibx_config_free(&run->cfg);
  }
  free(ini);
  free(run);
  return rc;
}
