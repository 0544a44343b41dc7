/* att2 / att3: Learn To Pay Attention (Jetley et al., ICLR 2018), the
 * "(VGG-att)-concat-pc" variant, on the VGG-16 backbone (docs/models.md;
 * SaoYan/LearnToPayAttention blocks.py LinearAttentionBlock, model1.py):
 *
 *   g      = dense(flatten(maxpool(block 5)))              global feature [N, Cg]
 *   l_i    = block (L+i) output before its pool, projected by a 1x1 conv
 *            (no bias) to Cg channels when it has fewer     [N, Cg, h, w]
 *   c_i    = <u_i, l_i + g>   (1x1 conv to 1 channel, no bias)
 *   a_i    = softmax of c_i over the h*w positions          (the attention map)
 *   g_i    = sum_p a_i[p] l_i[:, p]
 *   logits = linear(concat(g_1, ..., g_n))
 *
 * att3 uses blocks 3, 4, 5 (VGG layers 7, 10, 13), att2 blocks 4, 5 (layers
 * 10, 13); attention_layer moves the first one. Note: since softmax ignores
 * a constant shift, <u, g> drops out of a_i and g (the dense layer) gets a
 * zero gradient -- a property of the pc compatibility with softmax
 * normalisation, kept as published. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "model_internal.h"

typedef struct {
  int n, s0, Cg;
  unit *dense, *cls;
  unit *proj[3];
  int u[3];
  size_t hw[3];
  float *c[3], *a[3], *dc[3], *dl[3], *dproj[3];
  float *G, *dG, *dg;
  double *du; /* [Cg] */
} ltpa_state;

static int ltpa_build(ibx_model *m, int n) {
  ltpa_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  h->n = n, h->s0 = m->att_stage;
  const stage *l5 = &m->st[4];
  h->Cg = m->chan[4];
  IBX_TRY(unit_new(m, "dense", l5->out_dim[0], l5->out_dim[1], l5->out_dim[2], &h->dense));
  IBX_TRY(ibx_seq_add_maxpool(h->dense->seq, 2, 2));
  IBX_TRY(ibx_seq_add_flatten(h->dense->seq));
  IBX_TRY(ibx_seq_add_linear(h->dense->seq, h->Cg, 1));
  IBX_TRY(unit_declare(m, h->dense, "dense", 0));
  const size_t B = (size_t)m->max_batch;
  for (int i = 0; i < n; i++) {
    const stage *st = &m->st[h->s0 + i];
    const int layer = h->s0 + i + 1;
    char name[48];
    h->hw[i] = (size_t)st->out_dim[1] * st->out_dim[2];
    if (st->out_dim[0] != h->Cg) {
      snprintf(name, sizeof name, "projector%d", layer);
      IBX_TRY(unit_new(m, name, st->out_dim[0], st->out_dim[1], st->out_dim[2], &h->proj[i]));
      IBX_TRY(ibx_seq_add_conv(h->proj[i]->seq, h->Cg, 1, 1, 0, 0));
      IBX_TRY(unit_declare(m, h->proj[i], name, 0));
      h->dproj[i] = model_alloc(m, B * st->out_n, "projector gradient");
      if (!h->dproj[i])
        return IBX_ERR_NOMEM;
    }
    snprintf(name, sizeof name, "attention%d.weight", layer);
    const int ud[4] = {1, h->Cg, 1, 1};
    IBX_TRY(model_param(m, name, 4, ud, &h->u[i]));
    h->c[i] = model_alloc(m, 3 * B * h->hw[i], "compatibility");
    h->dl[i] = model_alloc(m, B * h->hw[i] * h->Cg, "local feature gradient");
    if (!h->c[i] || !h->dl[i])
      return IBX_ERR_NOMEM;
    h->a[i] = h->c[i] + B * h->hw[i], h->dc[i] = h->a[i] + B * h->hw[i];
  }
  IBX_TRY(unit_new(m, "classify", n * h->Cg, 0, 0, &h->cls));
  IBX_TRY(ibx_seq_add_linear(h->cls->seq, m->classes, 1));
  IBX_TRY(unit_declare(m, h->cls, "classify", 0));
  h->G = model_alloc(m, 2 * B * n * h->Cg + B * h->Cg, "glimpses");
  if (!h->G)
    return IBX_ERR_NOMEM;
  h->dG = h->G + B * n * h->Cg, h->dg = h->dG + B * n * h->Cg;
  h->du = model_alloc_bytes(m, (size_t)h->Cg * sizeof(double), "compatibility gradient");
  return h->du ? IBX_OK : IBX_ERR_NOMEM;
}

static int att2_build(ibx_model *m) { return ltpa_build(m, 2); }
static int att3_build(ibx_model *m) { return ltpa_build(m, 3); }

static void ltpa_init(ibx_model *m) {
  ltpa_state *h = m->head;
  head_init_unit(m, h->dense);
  head_init_unit(m, h->cls);
  for (int i = 0; i < h->n; i++) {
    if (h->proj[i])
      head_init_unit(m, h->proj[i]);
    ibx_tensor u = model_value(m, h->u[i]);
    ibx_init_uniform(u.data, (size_t)h->Cg, 1.0f / sqrtf((float)h->Cg), m->cfg.seed,
                     0x4c5450410000ULL + (uint64_t)i);
  }
}

static const float *local_feature(ltpa_state *h, ibx_model *m, int i) {
  return h->proj[i] ? h->proj[i]->out : m->st[h->s0 + i].out;
}

static int ltpa_forward(ibx_model *m, const float *x, const int *labels, int training,
                        uint64_t seed) {
  (void)labels;
  ltpa_state *h = m->head;
  const int N = m->batch, C = h->Cg, n = h->n;
  IBX_TRY(backbone_forward(m, 0, 4, x, training, seed));
  IBX_TRY(unit_forward(h->dense, m->st[4].out, N, training, seed));
  const float *g = h->dense->out;
  for (int i = 0; i < n; i++) {
    if (h->proj[i])
      IBX_TRY(unit_forward(h->proj[i], m->st[h->s0 + i].out, N, training, seed));
    const float *l = local_feature(h, m, i), *u = model_value(m, h->u[i]).data;
    const size_t hw = h->hw[i];
    for (int b = 0; b < N; b++) {
      const float *lb = l + (size_t)b * C * hw;
      float *cb = h->c[i] + (size_t)b * hw, *ab = h->a[i] + (size_t)b * hw;
      double ug = 0.0;
      for (int c = 0; c < C; c++)
        ug += (double)u[c] * g[(size_t)b * C + c];
      for (size_t p = 0; p < hw; p++)
        cb[p] = (float)ug;
      for (int c = 0; c < C; c++)
        for (size_t p = 0; p < hw; p++)
          cb[p] += u[c] * lb[(size_t)c * hw + p];
      float mx = cb[0];
      for (size_t p = 1; p < hw; p++)
        mx = cb[p] > mx ? cb[p] : mx;
      double sum = 0.0;
      for (size_t p = 0; p < hw; p++)
        sum += ab[p] = expf(cb[p] - mx);
      for (size_t p = 0; p < hw; p++)
        ab[p] = (float)(ab[p] / sum);
      float *Gb = h->G + (size_t)b * n * C + (size_t)i * C;
      for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (size_t p = 0; p < hw; p++)
          acc += (double)ab[p] * lb[(size_t)c * hw + p];
        Gb[c] = (float)acc;
      }
    }
    const int *d = m->st[h->s0 + i].out_dim;
    m->map[i] = h->a[i], m->map_h[i] = d[1], m->map_w[i] = d[2];
  }
  m->nmaps = n;
  IBX_TRY(unit_forward(h->cls, h->G, N, training, seed));
  memcpy(m->logits, h->cls->out, (size_t)N * m->classes * sizeof(float));
  static const char *cn[3] = {"compat0", "compat1", "compat2"};
  for (int i = 0; i < n; i++)
    model_expose(m, cn[i], h->c[i], N, 1, m->map_h[i], m->map_w[i]);
  model_expose(m, "global", g, N, C, 1, 1);
  model_expose(m, "glimpses", h->G, N, n * C, 1, 1);
  return IBX_OK;
}

static int ltpa_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  (void)with_aux;
  ltpa_state *h = m->head;
  const int N = m->batch, C = h->Cg, n = h->n;
  IBX_TRY(unit_backward(h->cls, dlogits, h->dG));
  const float *g = h->dense->out;
  memset(h->dg, 0, (size_t)N * C * sizeof(float));
  for (int i = n - 1; i >= 0; i--) {
    const float *l = local_feature(h, m, i), *u = model_value(m, h->u[i]).data;
    float *du = model_grad(m, h->u[i]).data;
    const size_t hw = h->hw[i];
    memset(h->du, 0, (size_t)C * sizeof(double));
    for (int b = 0; b < N; b++) {
      const float *lb = l + (size_t)b * C * hw, *ab = h->a[i] + (size_t)b * hw;
      const float *dGb = h->dG + (size_t)b * n * C + (size_t)i * C;
      float *dlb = h->dl[i] + (size_t)b * C * hw;
      float *dc = h->dc[i] + (size_t)b * hw;
      double dot = 0.0;
      for (size_t p = 0; p < hw; p++) {
        double da = 0.0;
        for (int c = 0; c < C; c++)
          da += (double)dGb[c] * lb[(size_t)c * hw + p];
        dc[p] = (float)da;
        dot += da * ab[p];
      }
      double sdc = 0.0;
      for (size_t p = 0; p < hw; p++) {
        dc[p] = (float)(ab[p] * (dc[p] - dot));
        sdc += dc[p];
      }
      for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (size_t p = 0; p < hw; p++) {
          dlb[(size_t)c * hw + p] = ab[p] * dGb[c] + dc[p] * u[c];
          acc += (double)dc[p] * lb[(size_t)c * hw + p];
        }
        h->du[c] += acc + sdc * g[(size_t)b * C + c];
        h->dg[(size_t)b * C + c] += (float)(sdc * u[c]);
      }
    }
    for (int c = 0; c < C; c++) /* one addition: accumulation stays exact */
      du[c] += (float)h->du[c];
    model_grads_done(m, h->u[i], h->u[i] + 1);
  }
  IBX_TRY(unit_backward(h->dense, h->dg, m->st[4].dout));
  for (int s = 4; s >= 0; s--) {
    const int i = s - h->s0;
    if (i >= 0 && i < n) {
      stage *st = &m->st[s];
      const size_t k = (size_t)N * st->out_n;
      const float *add = h->dl[i];
      if (h->proj[i]) {
        IBX_TRY(unit_backward(h->proj[i], h->dl[i], h->dproj[i]));
        add = h->dproj[i];
      }
      for (size_t j = 0; j < k; j++)
        st->dout[j] += add[j];
    }
    IBX_TRY(stage_backward(m, &m->st[s], m->st[s].dout, s ? m->st[s - 1].dout : dx));
  }
  return IBX_OK;
}

const head_ops ibx_head_att2 = {.name = "att2",
    .on_vgg = 1, .default_layer_vgg = 4, .span = 2,
    .build = att2_build, .init = ltpa_init, .forward = ltpa_forward, .backward = ltpa_backward};
const head_ops ibx_head_att3 = {.name = "att3",
    .on_vgg = 1, .default_layer_vgg = 3, .span = 3,
    .build = att3_build, .init = ltpa_init, .forward = ltpa_forward, .backward = ltpa_backward};
