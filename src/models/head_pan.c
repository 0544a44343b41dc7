/* pan: Progressive Attention Networks (Seo et al., BMVC 2018) for plain
 * classification on the VGG-16 backbone (docs/models.md):
 *
 *   at every block s from attention_layer to 4 (before its pool):
 *     alpha_s = sigmoid(att_s(f_s)),   f_s <- f_s * alpha_s   (fed onwards)
 *   at block 5:
 *     a = softmax over positions of att_5(f_5),  g = sum_p a[p] f_5[:, p]
 *   logits = linear(g)
 *
 * att_s is the local-context attention function: conv3x3 (C -> C/4, bias),
 * ReLU, conv1x1 (C/4 -> 1, bias). Classification has no query, so the
 * query input of Seo et al.'s attention function is dropped. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "model_internal.h"

typedef struct {
  int s0;
  unit *att[5], *cls;
  size_t hw[5];
  float *alpha[5], *fhat[5], *dfhat[5], *dt[5], *datt[5];
  float *G, *dG;
} pan_state;

static int pan_build(ibx_model *m) {
  pan_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  h->s0 = m->att_stage;
  const size_t B = (size_t)m->max_batch;
  for (int s = h->s0; s < 5; s++) {
    const stage *st = &m->st[s];
    const int C = st->out_dim[0], hid = C / 4 > 0 ? C / 4 : 1;
    char name[32];
    snprintf(name, sizeof name, "attention%d", s + 1);
    IBX_TRY(unit_new(m, name, C, st->out_dim[1], st->out_dim[2], &h->att[s]));
    IBX_TRY(ibx_seq_add_conv(h->att[s]->seq, hid, 3, 1, 1, 1));
    IBX_TRY(ibx_seq_add_relu(h->att[s]->seq));
    IBX_TRY(ibx_seq_add_conv(h->att[s]->seq, 1, 1, 1, 0, 1));
    IBX_TRY(unit_declare(m, h->att[s], name, 0));
    h->hw[s] = (size_t)st->out_dim[1] * st->out_dim[2];
    h->alpha[s] = model_alloc(m, 2 * B * h->hw[s], "attention map");
    h->datt[s] = model_alloc(m, B * st->out_n, "attention gradient");
    if (!h->alpha[s] || !h->datt[s])
      return IBX_ERR_NOMEM;
    h->dt[s] = h->alpha[s] + B * h->hw[s];
    if (s < 4) {
      h->fhat[s] = model_alloc(m, 2 * B * st->out_n, "attended features");
      if (!h->fhat[s])
        return IBX_ERR_NOMEM;
      h->dfhat[s] = h->fhat[s] + B * st->out_n;
    }
  }
  const int C5 = m->chan[4];
  IBX_TRY(unit_new(m, "classify", C5, 0, 0, &h->cls));
  IBX_TRY(ibx_seq_add_linear(h->cls->seq, m->classes, 1));
  IBX_TRY(unit_declare(m, h->cls, "classify", 0));
  h->G = model_alloc(m, 2 * B * C5, "glimpse");
  if (!h->G)
    return IBX_ERR_NOMEM;
  h->dG = h->G + B * C5;
  return IBX_OK;
}

static void pan_init(ibx_model *m) {
  pan_state *h = m->head;
  for (int s = h->s0; s < 5; s++)
    head_init_unit(m, h->att[s]);
  head_init_unit(m, h->cls);
}

static int pan_forward(ibx_model *m, const float *x, const int *labels, int training,
                       uint64_t seed) {
  (void)labels;
  pan_state *h = m->head;
  const int N = m->batch;
  const float *in = x;
  for (int s = 0; s < 5; s++) {
    stage *st = &m->st[s];
    IBX_TRY(stage_forward(m, st, in, N, training, seed));
    in = st->out;
    if (s < h->s0)
      continue;
    const int C = st->out_dim[0];
    const size_t hw = h->hw[s];
    IBX_TRY(unit_forward(h->att[s], st->out, N, training, seed));
    const float *t = h->att[s]->out;
    float *al = h->alpha[s];
    if (s < 4) {
      for (size_t i = 0; i < (size_t)N * hw; i++)
        al[i] = model_sigmoid(t[i]);
      for (int b = 0; b < N; b++)
        for (int c = 0; c < C; c++) {
          const size_t o = ((size_t)b * C + c) * hw;
          for (size_t p = 0; p < hw; p++)
            h->fhat[s][o + p] = st->out[o + p] * al[(size_t)b * hw + p];
        }
      in = h->fhat[s];
    } else {
      for (int b = 0; b < N; b++) {
        const float *tb = t + (size_t)b * hw;
        float *ab = al + (size_t)b * hw;
        float mx = tb[0];
        for (size_t p = 1; p < hw; p++)
          mx = tb[p] > mx ? tb[p] : mx;
        double sum = 0.0;
        for (size_t p = 0; p < hw; p++)
          sum += ab[p] = expf(tb[p] - mx);
        for (size_t p = 0; p < hw; p++)
          ab[p] = (float)(ab[p] / sum);
        for (int c = 0; c < C; c++) {
          double acc = 0.0;
          const float *fr = st->out + ((size_t)b * C + c) * hw;
          for (size_t p = 0; p < hw; p++)
            acc += (double)ab[p] * fr[p];
          h->G[(size_t)b * C + c] = (float)acc;
        }
      }
    }
    const int k = s - h->s0;
    m->map[k] = al, m->map_h[k] = st->out_dim[1], m->map_w[k] = st->out_dim[2];
  }
  m->nmaps = 5 - h->s0;
  IBX_TRY(unit_forward(h->cls, h->G, N, training, seed));
  memcpy(m->logits, h->cls->out, (size_t)N * m->classes * sizeof(float));
  return IBX_OK;
}

static int pan_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  (void)with_aux;
  pan_state *h = m->head;
  const int N = m->batch;
  IBX_TRY(unit_backward(h->cls, dlogits, h->dG));
  /* block 5: g = sum_p a[p] f[:, p], a = softmax(t) */
  {
    stage *st = &m->st[4];
    const int C = st->out_dim[0];
    const size_t hw = h->hw[4];
    float *df = st->dout, *dt = h->dt[4];
    for (int b = 0; b < N; b++) {
      const float *ab = h->alpha[4] + (size_t)b * hw, *dGb = h->dG + (size_t)b * C;
      float *dtb = dt + (size_t)b * hw;
      double dot = 0.0;
      for (size_t p = 0; p < hw; p++) {
        double da = 0.0;
        for (int c = 0; c < C; c++)
          da += (double)dGb[c] * st->out[((size_t)b * C + c) * hw + p];
        dtb[p] = (float)da;
        dot += da * ab[p];
      }
      for (size_t p = 0; p < hw; p++)
        dtb[p] = (float)(ab[p] * (dtb[p] - dot));
      for (int c = 0; c < C; c++)
        for (size_t p = 0; p < hw; p++)
          df[((size_t)b * C + c) * hw + p] = ab[p] * dGb[c];
    }
    IBX_TRY(unit_backward(h->att[4], dt, h->datt[4]));
    for (size_t i = 0; i < (size_t)N * st->out_n; i++)
      df[i] += h->datt[4][i];
  }
  for (int s = 4; s >= 0; s--) {
    stage *st = &m->st[s];
    const int prev = s - 1, prev_att = prev >= h->s0;
    float *dxs = s ? (prev_att ? h->dfhat[prev] : m->st[prev].dout) : dx;
    IBX_TRY(stage_backward(m, st, st->dout, dxs));
    if (!s || !prev_att)
      continue;
    /* f_hat = f * alpha, alpha = sigmoid(t) */
    stage *ps = &m->st[prev];
    const int C = ps->out_dim[0];
    const size_t hw = h->hw[prev];
    float *df = ps->dout, *dt = h->dt[prev];
    const float *al = h->alpha[prev];
    memset(dt, 0, (size_t)N * hw * sizeof(float));
    for (int b = 0; b < N; b++)
      for (int c = 0; c < C; c++) {
        const size_t o = ((size_t)b * C + c) * hw;
        for (size_t p = 0; p < hw; p++) {
          df[o + p] = dxs[o + p] * al[(size_t)b * hw + p];
          dt[(size_t)b * hw + p] += dxs[o + p] * ps->out[o + p];
        }
      }
    for (size_t i = 0; i < (size_t)N * hw; i++)
      dt[i] *= al[i] * (1.0f - al[i]);
    IBX_TRY(unit_backward(h->att[prev], dt, h->datt[prev]));
    for (size_t i = 0; i < (size_t)N * ps->out_n; i++)
      df[i] += h->datt[prev][i];
  }
  return IBX_OK;
}

const head_ops ibx_head_pan = {.name = "pan",
    .on_vgg = 1, .default_layer_vgg = 3, .span = 1,
    .build = pan_build, .init = pan_init, .forward = pan_forward, .backward = pan_backward};
