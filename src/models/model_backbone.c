/* Backbones as lists of stages (docs/models.md):
 *  - vgg16: the CIFAR VGG-16-BN of ibx/vgg.h split at its five max-pools.
 *    Stage s (0..4) is block s+1 (conv3x3-BN-ReLU x 2 or 3) preceded by the
 *    previous block's max-pool, so a stage's output is block s+1's features
 *    *before* its pool; the fifth pool belongs to the head. Parameter names
 *    follow torchvision's vgg16_bn ("features.<i>.") across the split.
 *  - wrn: WRN-d-k (Zagoruyko & Komodakis): stem conv3x3 (stage 0) and three
 *    groups of n = (d-4)/6 pre-activation basic blocks (stages 1..3). The
 *    final BN-ReLU belongs to the head. */
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/vgg.h"
#include "model_internal.h"

static int vgg_build(ibx_model *m) {
  const ibx_model_config *c = &m->cfg;
  int cin = c->in_channels, h = c->in_height, w = c->in_width;
  int li = 0, s = 0, first = 0;
  unit *u = NULL;
  char name[32];
  snprintf(name, sizeof name, "features[%d]", s);
  IBX_TRY(unit_new(m, name, cin, h, w, &u));
  for (int e = 0; e < 18; e++) {
    const int v = ibx_vgg16_cfg[e];
    if (v == IBX_VGG_POOL) {
      IBX_TRY(unit_declare(m, u, "features", first));
      stage *st = &m->st[s];
      st->u = u;
      memcpy(st->in_dim, u->in_dim, sizeof st->in_dim);
      memcpy(st->out_dim, u->out_dim, sizeof st->out_dim);
      m->chan[s] = u->out_dim[0];
      s++;
      if (s == 5)
        break;
      snprintf(name, sizeof name, "features[%d]", s);
      IBX_TRY(unit_new(m, name, u->out_dim[0], u->out_dim[1], u->out_dim[2], &u));
      first = li;
      IBX_TRY(ibx_seq_add_maxpool(u->seq, 2, 2));
      li++;
      continue;
    }
    int width = (int)(v * c->width);
    if (width < 1)
      width = 1;
    IBX_TRY(ibx_seq_add_conv(u->seq, width, 3, 1, 1, 1));
    IBX_TRY(ibx_seq_add_batchnorm(u->seq));
    IBX_TRY(ibx_seq_add_relu(u->seq));
    li += 3;
  }
  m->nst = 5;
  m->nlayers = 5;
  return IBX_OK;
}

/* One residual block: pre = BN-ReLU, body = conv-BN-ReLU-conv, shortcut. */
static int wrn_block_new(ibx_model *m, const char *prefix, int cin, int cout, int stride, int h,
                         int w, wrn_block *b) {
  char name[IBX_PARAM_NAME_MAX];
  memset(b, 0, sizeof *b);
  NAMEF(name, "%s.pre", prefix);
  IBX_TRY(unit_new(m, name, cin, h, w, &b->pre));
  IBX_TRY(ibx_seq_add_batchnorm(b->pre->seq));
  IBX_TRY(ibx_seq_add_relu(b->pre->seq));
  IBX_TRY(unit_declare(m, b->pre, name, 0));
  NAMEF(name, "%s.body", prefix);
  IBX_TRY(unit_new(m, name, cin, h, w, &b->body));
  IBX_TRY(ibx_seq_add_conv(b->body->seq, cout, 3, stride, 1, 0));
  IBX_TRY(ibx_seq_add_batchnorm(b->body->seq));
  IBX_TRY(ibx_seq_add_relu(b->body->seq));
  IBX_TRY(ibx_seq_add_conv(b->body->seq, cout, 3, 1, 1, 0));
  IBX_TRY(unit_declare(m, b->body, name, 0));
  if (cin != cout || stride != 1) {
    NAMEF(name, "%s.shortcut", prefix);
    IBX_TRY(unit_new(m, name, cin, h, w, &b->sc));
    IBX_TRY(ibx_seq_add_conv(b->sc->seq, cout, 1, stride, 0, 0));
    IBX_TRY(unit_declare(m, b->sc, name, 0));
  }
  b->in_n = (size_t)cin * h * w;
  b->out_n = b->body->out_n;
  return IBX_OK;
}

int wrn_group_new(ibx_model *m, const char *prefix, int n, int cin, int cout, int stride, int h,
                  int w, stage *st) {
  memset(st, 0, sizeof *st);
  st->blk = model_alloc_bytes(m, (size_t)n * sizeof *st->blk, "residual blocks");
  if (!st->blk)
    return IBX_ERR_NOMEM;
  st->nblk = n;
  st->in_dim[0] = cin, st->in_dim[1] = h, st->in_dim[2] = w;
  char name[IBX_PARAM_NAME_MAX];
  for (int b = 0; b < n; b++) {
    NAMEF(name, "%s.layer.%d", prefix, b);
    IBX_TRY(wrn_block_new(m, name, b ? cout : cin, cout, b ? 1 : stride, h, w, &st->blk[b]));
    memcpy(st->out_dim, st->blk[b].body->out_dim, sizeof st->out_dim);
    h = st->out_dim[1], w = st->out_dim[2];
  }
  return stage_alloc(m, st);
}

static int wrn_build(ibx_model *m) {
  const ibx_model_config *c = &m->cfg;
  const int n = (c->wrn_depth - 4) / 6, k = c->wrn_widen;
  const int ch[4] = {16, 16 * k, 32 * k, 64 * k};
  unit *u;
  IBX_TRY(unit_new(m, "conv1", c->in_channels, c->in_height, c->in_width, &u));
  IBX_TRY(ibx_seq_add_conv(u->seq, ch[0], 3, 1, 1, 0));
  IBX_TRY(unit_declare(m, u, "conv1", 0));
  stage *st = &m->st[0];
  st->u = u;
  memcpy(st->in_dim, u->in_dim, sizeof st->in_dim);
  memcpy(st->out_dim, u->out_dim, sizeof st->out_dim);
  m->chan[0] = ch[0];
  for (int g = 1; g <= 3; g++) {
    char prefix[16];
    snprintf(prefix, sizeof prefix, "block%d", g);
    const int *d = m->st[g - 1].out_dim;
    if (d[1] < (g > 1 ? 2 : 1) || d[2] < (g > 1 ? 2 : 1))
      return ibx_fail(IBX_ERR_ARG, "model: input %dx%d too small for wrn", c->in_height,
                      c->in_width);
    IBX_TRY(wrn_group_new(m, prefix, n, ch[g - 1], ch[g], g > 1 ? 2 : 1, d[1], d[2], &m->st[g]));
    m->chan[g] = ch[g];
  }
  m->nst = 4;
  m->nlayers = 3;
  return IBX_OK;
}

int stage_alloc(ibx_model *m, stage *st) {
  st->in_n = (size_t)st->in_dim[0] * st->in_dim[1] * st->in_dim[2];
  st->out_n = (size_t)st->out_dim[0] * st->out_dim[1] * st->out_dim[2];
  const size_t B = (size_t)m->max_batch;
  st->dout = model_alloc(m, st->out_n * B, "stage gradient");
  if (!st->dout)
    return IBX_ERR_NOMEM;
  for (int b = 0; b < st->nblk; b++) {
    wrn_block *k = &st->blk[b];
    k->out = model_alloc(m, k->out_n * B, "block output");
    k->d_o1 = model_alloc(m, k->in_n * B, "block gradient");
    k->d_tmp = model_alloc(m, k->in_n * B, "block gradient");
    k->din = b ? model_alloc(m, k->in_n * B, "block gradient") : NULL;
    if (!k->out || !k->d_o1 || !k->d_tmp || (b && !k->din))
      return IBX_ERR_NOMEM;
  }
  if (st->in_n > m->gtmp_n)
    m->gtmp_n = st->in_n;
  return IBX_OK;
}

int backbone_build(ibx_model *m) {
  if (!strcmp(m->cfg.backbone, "vgg16"))
    IBX_TRY(vgg_build(m));
  else
    IBX_TRY(wrn_build(m));
  for (int s = 0; s < m->nst; s++)
    if (!m->st[s].nblk)
      IBX_TRY(stage_alloc(m, &m->st[s]));
  return IBX_OK;
}

static int block_forward(wrn_block *b, const float *x, int batch, int training, uint64_t seed) {
  b->in = x;
  IBX_TRY(unit_forward(b->pre, x, batch, training, seed));
  IBX_TRY(unit_forward(b->body, b->pre->out, batch, training, seed));
  const size_t n = b->out_n * (size_t)batch;
  const float *base = x;
  if (b->sc) {
    IBX_TRY(unit_forward(b->sc, b->pre->out, batch, training, seed));
    base = b->sc->out;
  }
  const float *c2 = b->body->out;
  for (size_t i = 0; i < n; i++)
    b->out[i] = base[i] + c2[i];
  return IBX_OK;
}

/* dx may be NULL (only parameter gradients wanted). */
static int block_backward(wrn_block *b, const float *dy, float *dx, int batch) {
  IBX_TRY(unit_backward(b->body, dy, b->d_o1));
  const size_t nin = b->in_n * (size_t)batch;
  if (b->sc) {
    IBX_TRY(unit_backward(b->sc, dy, b->d_tmp));
    for (size_t i = 0; i < nin; i++)
      b->d_o1[i] += b->d_tmp[i];
    return unit_backward(b->pre, b->d_o1, dx);
  }
  IBX_TRY(unit_backward(b->pre, b->d_o1, dx ? b->d_tmp : NULL));
  if (dx)
    for (size_t i = 0; i < nin; i++)
      dx[i] = dy[i] + b->d_tmp[i];
  return IBX_OK;
}

int stage_forward(ibx_model *m, stage *st, const float *x, int batch, int training,
                  uint64_t seed) {
  (void)m;
  st->in = x;
  if (st->u) {
    IBX_TRY(unit_forward(st->u, x, batch, training, seed));
    st->out = st->u->out;
    return IBX_OK;
  }
  for (int b = 0; b < st->nblk; b++) {
    IBX_TRY(block_forward(&st->blk[b], x, batch, training, seed));
    x = st->blk[b].out;
  }
  st->out = st->blk[st->nblk - 1].out;
  return IBX_OK;
}

int stage_backward(ibx_model *m, stage *st, const float *dy, float *dx) {
  if (st->u)
    return unit_backward(st->u, dy, dx);
  const float *g = dy;
  for (int b = st->nblk - 1; b >= 0; b--) {
    float *out = b ? st->blk[b].din : dx;
    IBX_TRY(block_backward(&st->blk[b], g, out, m->batch));
    g = out;
  }
  return IBX_OK;
}

int backbone_forward(ibx_model *m, int lo, int hi, const float *x, int training, uint64_t seed) {
  for (int s = lo; s <= hi; s++) {
    if (s < m->reuse_stage) { /* kept from the last forward (ibx_model_set_reuse_prefix) */
      x = m->st[s].out;
      continue;
    }
    IBX_TRY(stage_forward(m, &m->st[s], x, m->batch, training, seed));
    x = m->st[s].out;
  }
  return IBX_OK;
}

int backbone_backward(ibx_model *m, int hi, int lo, float *dx_lo) {
  for (int s = hi; s >= lo; s--)
    IBX_TRY(stage_backward(m, &m->st[s], m->st[s].dout, s > lo ? m->st[s - 1].dout : dx_lo));
  return IBX_OK;
}
