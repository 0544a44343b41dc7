/* abn: Attention Branch Network (Fukui et al., CVPR 2019) on WRN, as in
 * machine-perception-robotics-group/attention_branch_network
 * models/cifar/wrn.py (docs/models.md):
 *
 *   f   = WRN group s output
 *   r   = relu(bn(conv1x1_{C'->classes}(bn(group'(f)))))   group' = a stride-1
 *                                                          copy of the next group
 *   att = sigmoid(bn(conv3x3_{classes->1}(r)))             [N,1,h,w]
 *   att logits = GAP(conv1x1_{classes->classes}(r))        (attention branch)
 *   perception logits = classifier(rest of WRN on f + f * att)
 *   loss = CE(perception) + CE(attention branch)           (aux part)
 *
 * Also the attention-mean branch of aib on WRN (the authors' wrn_va), which
 * is the same stack without the branch classifier. */
#include <math.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"
#include "model_internal.h"

static int branch_group(ibx_model *m, int s, stage *grp) {
  const int n = (m->cfg.wrn_depth - 4) / 6;
  const int cin = m->chan[s], cout = m->chan[s < 3 ? s + 1 : 3];
  const int *d = m->st[s].out_dim;
  return wrn_group_new(m, "att_block", n, cin, cout, 1, d[1], d[2], grp);
}

/* BN, conv1x1 to classes, BN, ReLU appended to u. */
static int branch_trunk(ibx_model *m, unit *u) {
  IBX_TRY(ibx_seq_add_batchnorm(u->seq));
  IBX_TRY(ibx_seq_add_conv(u->seq, m->classes, 1, 1, 0, 0));
  IBX_TRY(ibx_seq_add_batchnorm(u->seq));
  return ibx_seq_add_relu(u->seq);
}

int abn_branch_new(ibx_model *m, int s, stage *grp, unit **head, int with_map) {
  (void)with_map;
  IBX_TRY(branch_group(m, s, grp));
  unit *u;
  IBX_TRY(unit_new(m, "attention.mu", grp->out_dim[0], grp->out_dim[1], grp->out_dim[2], &u));
  IBX_TRY(branch_trunk(m, u));
  IBX_TRY(ibx_seq_add_conv(u->seq, 1, 3, 1, 1, 0));
  IBX_TRY(ibx_seq_add_batchnorm(u->seq));
  IBX_TRY(unit_declare(m, u, "attention.mu", 0));
  *head = u;
  return IBX_OK;
}

typedef struct {
  int s, C, H, W;
  size_t HW;
  stage grp;
  unit *A, *M, *L, *tail;
  float *att, *g, *dg, *df2, *datt, *dt, *dr, *dr2, *dbr, *probs, *dll;
} abn_state;

static int abn_build(ibx_model *m) {
  abn_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  h->s = m->att_stage;
  const int *d = m->st[h->s].out_dim;
  h->C = d[0], h->H = d[1], h->W = d[2];
  h->HW = (size_t)h->H * h->W;
  IBX_TRY(branch_group(m, h->s, &h->grp));
  const int *gd = h->grp.out_dim;
  IBX_TRY(unit_new(m, "attention.branch", gd[0], gd[1], gd[2], &h->A));
  IBX_TRY(branch_trunk(m, h->A));
  IBX_TRY(unit_declare(m, h->A, "attention.branch", 0));
  IBX_TRY(unit_new(m, "attention.map", m->classes, gd[1], gd[2], &h->M));
  IBX_TRY(ibx_seq_add_conv(h->M->seq, 1, 3, 1, 1, 0));
  IBX_TRY(ibx_seq_add_batchnorm(h->M->seq));
  IBX_TRY(unit_declare(m, h->M, "attention.map", 0));
  IBX_TRY(unit_new(m, "attention.classifier", m->classes, gd[1], gd[2], &h->L));
  IBX_TRY(ibx_seq_add_conv(h->L->seq, m->classes, 1, 1, 0, 0));
  IBX_TRY(ibx_seq_add_global_avgpool(h->L->seq));
  IBX_TRY(unit_declare(m, h->L, "attention.classifier", 0));
  IBX_TRY(head_tail_new(m, "classifier", m->classes, &h->tail));
  const size_t B = (size_t)m->max_batch, nm = B * h->HW, nf = nm * h->C;
  const size_t nr = B * h->HW * (size_t)m->classes;
  h->att = model_alloc(m, 3 * nm + 3 * nf + 2 * nr + 2 * B * m->classes, "abn buffers");
  h->dbr = model_alloc(m, B * h->grp.out_n, "abn branch gradient");
  if (!h->att || !h->dbr)
    return IBX_ERR_NOMEM;
  h->datt = h->att + nm, h->dt = h->datt + nm;
  h->g = h->dt + nm, h->dg = h->g + nf, h->df2 = h->dg + nf;
  h->dr = h->df2 + nf, h->dr2 = h->dr + nr;
  h->probs = h->dr2 + nr, h->dll = h->probs + B * m->classes;
  return IBX_OK;
}

static int abn_forward(ibx_model *m, const float *x, const int *labels, int training,
                       uint64_t seed) {
  abn_state *h = m->head;
  const int N = m->batch, last = m->nst - 1;
  const size_t nm = (size_t)N * h->HW, HW = h->HW;
  IBX_TRY(backbone_forward(m, 0, h->s, x, training, seed));
  const float *f = m->st[h->s].out;
  IBX_TRY(stage_forward(m, &h->grp, f, N, training, seed));
  IBX_TRY(unit_forward(h->A, h->grp.out, N, training, seed));
  IBX_TRY(unit_forward(h->M, h->A->out, N, training, seed));
  IBX_TRY(unit_forward(h->L, h->A->out, N, training, seed));
  for (size_t i = 0; i < nm; i++)
    h->att[i] = model_sigmoid(h->M->out[i]);
  if (labels) {
    const ibx_tensor al = ibx_t2(h->L->out, N, m->classes);
    ibx_tensor pr = ibx_t2(h->probs, N, m->classes);
    IBX_TRY(ibx_softmax_xent_forward(&al, labels, &m->loss.aux, &pr));
  }
  for (int n = 0; n < N; n++)
    for (int c = 0; c < h->C; c++) {
      const size_t o = ((size_t)n * h->C + c) * HW;
      const float *ar = h->att + (size_t)n * HW;
      for (size_t p = 0; p < HW; p++)
        h->g[o + p] = f[o + p] * (1.0f + ar[p]);
    }
  const float *in = h->g;
  if (h->s < last) {
    IBX_TRY(backbone_forward(m, h->s + 1, last, h->g, training, seed));
    in = m->st[last].out;
  }
  IBX_TRY(unit_forward(h->tail, in, N, training, seed));
  memcpy(m->logits, h->tail->out, (size_t)N * m->classes * sizeof(float));
  m->nmaps = 1;
  m->map[0] = h->att, m->map_h[0] = h->H, m->map_w[0] = h->W;
  model_expose(m, "attention", h->att, N, 1, h->H, h->W);
  model_expose(m, "attention_logits", h->L->out, N, m->classes, 1, 1);
  return IBX_OK;
}

static int abn_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  abn_state *h = m->head;
  const int N = m->batch, last = m->nst - 1;
  const size_t nm = (size_t)N * h->HW, HW = h->HW;
  IBX_TRY(unit_backward(h->tail, dlogits, h->s < last ? m->st[last].dout : h->dg));
  if (h->s < last)
    IBX_TRY(backbone_backward(m, last, h->s + 1, h->dg));
  const float *f = m->st[h->s].out;
  float *df = m->st[h->s].dout;
  memset(h->datt, 0, nm * sizeof(float));
  for (int n = 0; n < N; n++)
    for (int c = 0; c < h->C; c++) {
      const size_t o = ((size_t)n * h->C + c) * HW;
      const float *ar = h->att + (size_t)n * HW;
      float *da = h->datt + (size_t)n * HW;
      for (size_t p = 0; p < HW; p++) {
        df[o + p] = h->dg[o + p] * (1.0f + ar[p]);
        da[p] += h->dg[o + p] * f[o + p];
      }
    }
  for (size_t i = 0; i < nm; i++)
    h->dt[i] = h->datt[i] * h->att[i] * (1.0f - h->att[i]);
  IBX_TRY(unit_backward(h->M, h->dt, h->dr));
  const size_t nr = nm * (size_t)m->classes;
  if (with_aux && m->labels) {
    const ibx_tensor pr = ibx_t2(h->probs, N, m->classes);
    ibx_tensor dl = ibx_t2(h->dll, N, m->classes);
    IBX_TRY(ibx_softmax_xent_backward(&pr, m->labels, 1.0f, &dl));
    IBX_TRY(unit_backward(h->L, h->dll, h->dr2));
    for (size_t i = 0; i < nr; i++)
      h->dr[i] += h->dr2[i];
  } else {
    memset(h->dll, 0, (size_t)N * m->classes * sizeof(float));
    IBX_TRY(unit_backward(h->L, h->dll, NULL)); /* zero gradients; marks them done */
  }
  IBX_TRY(unit_backward(h->A, h->dr, h->dbr));
  IBX_TRY(stage_backward(m, &h->grp, h->dbr, h->df2));
  const size_t nf = nm * h->C;
  for (size_t i = 0; i < nf; i++)
    df[i] += h->df2[i];
  return backbone_backward(m, h->s, 0, dx);
}

const head_ops ibx_head_abn = {.name = "abn",
    .on_wrn = 1, .default_layer_wrn = 2, .span = 1,
    .build = abn_build, .init = NULL, .forward = abn_forward, .backward = abn_backward};
