/* aib and aib-qt: the attentive variational information bottleneck of Lai
 * et al. (IJCAI 2021), Eqs. (8) and (10). docs/models.md has the choices
 * and their sources; in short:
 *
 *   f        = backbone stage s (VGG block s+1 before its pool / WRN group s)
 *   mu_a     = sigmoid(att(f))                    [N,1,h,w]
 *   logvar_a = conv3x3(mu_a) + LOGVAR_SHIFT
 *   a        = mu_a + eps_a * exp(logvar_a / 2)    (training; mu_a otherwise)
 *   a_q      = nearest anchor of each score        (aib-qt, straight-through)
 *   g        = f + f * a   (a broadcast over channels)
 *   e        = encoder(rest of the backbone on g)  [N, 2K]
 *   z ~ N(e[:K], exp(e[K:] + LOGVAR_SHIFT)), logits = decoder(z)
 *   loss     = CE + beta KL(N(mu_z, var_z) || N(0,I)) [+ vq + commit]
 *
 * att is conv3x3(C->1) on VGG (the authors' VGG code) and the attention
 * branch of ABN (a stride-1 copy of the next residual group, BN, conv1x1 to
 * num_classes channels, BN, ReLU, conv3x3 to 1, BN) on WRN (the authors'
 * WRN code). */
#include <math.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/quantize.h"
#include "ibx/rng.h"
#include "model_internal.h"

typedef struct {
  int qt, s, C, H, W;
  size_t HW;
  stage grp;           /* WRN: the attention branch's residual group */
  unit *mu, *lv, *enc;
  vib_state v;
  int anchors;         /* parameter index (aib-qt) */
  float *mu_a, *lv_a, *eps, *a, *aq, *duse, *da, *dlv, *ds, *dmu;
  float *g, *dg, *datt, *dbr;
  const float *use;    /* the map that modulates f: a or a_q */
  int *idx;
  float *a0, *q0;      /* frozen quantiser state (tests) */
  int *idx0;
} aib_state;

/* The WRN attention branch up to the map's logit: BN, conv1x1 to classes,
 * BN, ReLU, conv3x3 to 1, BN (ABN's att_* layers, shared with head_abn). */
int abn_branch_new(ibx_model *m, int s, stage *grp, unit **head, int with_map);

static int aib_build_common(ibx_model *m, int qt) {
  aib_state *h = model_alloc_bytes(m, sizeof *h, "head");
  if (!h)
    return IBX_ERR_NOMEM;
  m->head = h;
  h->qt = qt;
  h->s = m->att_stage;
  const stage *st = &m->st[h->s];
  h->C = st->out_dim[0], h->H = st->out_dim[1], h->W = st->out_dim[2];
  h->HW = (size_t)h->H * h->W;
  if (m->nst == 5) {
    IBX_TRY(unit_new(m, "attention.mu", h->C, h->H, h->W, &h->mu));
    IBX_TRY(ibx_seq_add_conv(h->mu->seq, 1, 3, 1, 1, 1));
    IBX_TRY(unit_declare(m, h->mu, "attention.mu", 0));
  } else {
    IBX_TRY(abn_branch_new(m, h->s, &h->grp, &h->mu, 1));
  }
  IBX_TRY(unit_new(m, "attention.logvar", 1, h->H, h->W, &h->lv));
  IBX_TRY(ibx_seq_add_conv(h->lv->seq, 1, 3, 1, 1, 1));
  IBX_TRY(unit_declare(m, h->lv, "attention.logvar", 0));
  IBX_TRY(head_tail_new(m, "encoder", 2 * m->cfg.K, &h->enc));
  IBX_TRY(vib_build(m, &h->v, m->cfg.K));
  if (qt) {
    const int Q = m->cfg.Q;
    IBX_TRY(model_param(m, "quantiser.anchors", 1, &Q, &h->anchors));
  }
  const size_t B = (size_t)m->max_batch, nm = B * h->HW, nf = nm * h->C;
  h->mu_a = model_alloc(m, 13 * nm, "attention maps");
  h->g = model_alloc(m, 3 * nf, "modulated features");
  h->idx = model_alloc_bytes(m, 2 * nm * sizeof(int), "anchor indices");
  if (!h->mu_a || !h->g || !h->idx)
    return IBX_ERR_NOMEM;
  float *p = h->mu_a;
  float **maps[] = {&h->lv_a, &h->eps, &h->a, &h->aq, &h->duse, &h->da,
                    &h->dlv,  &h->ds,  &h->dmu, &h->a0, &h->q0};
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++)
    *maps[i] = (p += nm);
  h->dg = h->g + nf, h->datt = h->dg + nf;
  h->idx0 = h->idx + nm;
  if (h->grp.nblk) {
    h->dbr = model_alloc(m, B * h->grp.out_n, "attention branch gradient");
    if (!h->dbr)
      return IBX_ERR_NOMEM;
  }
  return IBX_OK;
}

static int aib_build(ibx_model *m) { return aib_build_common(m, 0); }
static int aib_qt_build(ibx_model *m) { return aib_build_common(m, 1); }

static void aib_init(ibx_model *m) {
  aib_state *h = m->head;
  if (m->nst == 5)
    head_init_unit(m, h->mu);
  head_init_unit(m, h->lv);
  head_init_unit(m, h->enc);
  head_init_unit(m, h->v.dec);
  if (h->qt) {
    /* anchors evenly spread over [0, 1], the range of the sigmoid mean
     * (the authors' linspace(lin_min, lin_max, Q) initialisation) */
    ibx_tensor v = model_value(m, h->anchors);
    for (int j = 0; j < m->cfg.Q; j++)
      v.data[j] = (float)j / (float)(m->cfg.Q - 1);
  }
}

static int aib_forward(ibx_model *m, const float *x, const int *labels, int training,
                       uint64_t seed) {
  (void)labels;
  aib_state *h = m->head;
  const int N = m->batch, last = m->nst - 1;
  const size_t nm = (size_t)N * h->HW, HW = h->HW;
  IBX_TRY(backbone_forward(m, 0, h->s, x, training, seed));
  const float *f = m->st[h->s].out;
  /* attention mean and log-variance */
  if (h->grp.nblk) {
    IBX_TRY(stage_forward(m, &h->grp, f, N, training, seed));
    IBX_TRY(unit_forward(h->mu, h->grp.out, N, training, seed));
  } else {
    IBX_TRY(unit_forward(h->mu, f, N, training, seed));
  }
  for (size_t i = 0; i < nm; i++)
    h->mu_a[i] = model_sigmoid(h->mu->out[i]);
  IBX_TRY(unit_forward(h->lv, h->mu_a, N, training, seed));
  for (size_t i = 0; i < nm; i++)
    h->lv_a[i] = h->lv->out[i] + LOGVAR_SHIFT;
  /* reparameterised sample */
  if (training) {
    if (m->noise_override[0])
      memcpy(h->eps, m->noise_override[0], nm * sizeof(float));
    else
      ibx_rng_fill_normal(h->eps, nm, seed, NOISE_STREAM_ATT, 0);
    for (size_t i = 0; i < nm; i++)
      h->a[i] = h->mu_a[i] + h->eps[i] * expf(0.5f * h->lv_a[i]);
  } else {
    memcpy(h->a, h->mu_a, nm * sizeof(float));
  }
  h->use = h->a;
  /* quantisation (Eq. 9) */
  if (h->qt) {
    const float *v = model_value(m, h->anchors).data;
    const int Q = m->cfg.Q;
    double mse;
    if (m->freeze_quantiser == 2) {
      double sq = 0.0, sc = 0.0;
      for (size_t i = 0; i < nm; i++) {
        h->idx[i] = h->idx0[i];
        h->aq[i] = h->a[i] + (h->q0[i] - h->a0[i]);
        const double rq = (double)h->a0[i] - v[h->idx0[i]], rc = (double)h->a[i] - h->q0[i];
        sq += rq * rq, sc += rc * rc;
      }
      m->loss.vq = (float)(m->cfg.lambda_q * sq / (double)nm);
      m->loss.commit = (float)(m->cfg.lambda_c * sc / (double)nm);
    } else {
      IBX_TRY(ibx_quantize_forward(h->a, nm, v, Q, h->aq, h->idx, &mse));
      m->loss.vq = (float)(m->cfg.lambda_q * mse);
      m->loss.commit = (float)(m->cfg.lambda_c * mse);
      if (m->freeze_quantiser == 1) {
        memcpy(h->a0, h->a, nm * sizeof(float));
        memcpy(h->q0, h->aq, nm * sizeof(float));
        memcpy(h->idx0, h->idx, nm * sizeof(int));
        m->freeze_quantiser = 2;
      }
    }
    h->use = h->aq;
  }
  /* modulation g = f (1 + a) */
  for (int n = 0; n < N; n++)
    for (int c = 0; c < h->C; c++) {
      const float *fr = f + ((size_t)n * h->C + c) * HW;
      float *gr = h->g + ((size_t)n * h->C + c) * HW;
      const float *ar = h->use + (size_t)n * HW;
      for (size_t p = 0; p < HW; p++)
        gr[p] = fr[p] * (1.0f + ar[p]);
    }
  const float *e_in = h->g;
  if (h->s < last) {
    IBX_TRY(backbone_forward(m, h->s + 1, last, h->g, training, seed));
    e_in = m->st[last].out;
  }
  IBX_TRY(unit_forward(h->enc, e_in, N, training, seed));
  IBX_TRY(vib_forward(m, &h->v, h->enc->out, training, seed));
  m->nmaps = 1;
  m->map[0] = (float *)h->use, m->map_h[0] = h->H, m->map_w[0] = h->W;
  model_expose(m, "attention_mean", h->mu_a, N, 1, h->H, h->W);
  model_expose(m, "attention_logvar", h->lv_a, N, 1, h->H, h->W);
  model_expose(m, "attention", h->a, N, 1, h->H, h->W);
  if (h->qt)
    model_expose(m, "attention_q", h->aq, N, 1, h->H, h->W);
  model_expose(m, "g", h->g, N, h->C, h->H, h->W);
  return IBX_OK;
}

static int aib_backward(ibx_model *m, const float *dlogits, int with_aux, float *dx) {
  aib_state *h = m->head;
  const int N = m->batch, last = m->nst - 1;
  const size_t nm = (size_t)N * h->HW, HW = h->HW;
  IBX_TRY(vib_backward(m, &h->v, dlogits, with_aux));
  IBX_TRY(unit_backward(h->enc, h->v.de, h->s < last ? m->st[last].dout : h->dg));
  if (h->s < last)
    IBX_TRY(backbone_backward(m, last, h->s + 1, h->dg));
  /* through g = f (1 + a): df = dg (1 + a), da = sum_c dg f */
  const float *f = m->st[h->s].out;
  float *df = m->st[h->s].dout;
  for (int n = 0; n < N; n++) {
    float *du = h->duse + (size_t)n * HW;
    memset(du, 0, HW * sizeof(float));
    const float *ar = h->use + (size_t)n * HW;
    for (int c = 0; c < h->C; c++) {
      const size_t o = ((size_t)n * h->C + c) * HW;
      for (size_t p = 0; p < HW; p++) {
        df[o + p] = h->dg[o + p] * (1.0f + ar[p]);
        du[p] += h->dg[o + p] * f[o + p];
      }
    }
  }
  /* quantiser: straight-through, plus the vq/commit gradients */
  if (h->qt) {
    ibx_tensor gv = model_grad(m, h->anchors);
    const int frozen = m->freeze_quantiser == 2;
    IBX_TRY(ibx_quantize_backward(h->a, frozen ? h->q0 : h->aq, frozen ? h->idx0 : h->idx, nm,
                                  m->cfg.Q, h->duse, m->cfg.lambda_q, m->cfg.lambda_c, with_aux,
                                  h->da, gv.data));
    model_grads_done(m, h->anchors, h->anchors + 1);
  } else {
    memcpy(h->da, h->duse, nm * sizeof(float));
  }
  /* a = mu + eps exp(lv/2): dmu = da, dlv = da (a - mu) / 2 */
  for (size_t i = 0; i < nm; i++)
    h->dlv[i] = m->training ? 0.5f * h->da[i] * (h->a[i] - h->mu_a[i]) : 0.0f;
  IBX_TRY(unit_backward(h->lv, h->dlv, h->dmu));
  for (size_t i = 0; i < nm; i++)
    h->ds[i] = (h->da[i] + h->dmu[i]) * h->mu_a[i] * (1.0f - h->mu_a[i]);
  const size_t nf = nm * h->C;
  if (h->grp.nblk) {
    IBX_TRY(unit_backward(h->mu, h->ds, h->dbr));
    IBX_TRY(stage_backward(m, &h->grp, h->dbr, h->datt));
  } else {
    IBX_TRY(unit_backward(h->mu, h->ds, h->datt));
  }
  for (size_t i = 0; i < nf; i++)
    df[i] += h->datt[i];
  return backbone_backward(m, h->s, 0, dx);
}

const head_ops ibx_head_aib = {.name = "aib",
    .on_vgg = 1, .on_wrn = 1, .default_layer_vgg = 3, .default_layer_wrn = 2, .span = 1, .uses_K = 1,
    .build = aib_build, .init = aib_init, .forward = aib_forward, .backward = aib_backward};
const head_ops ibx_head_aib_qt = {.name = "aib-qt",
    .on_vgg = 1, .on_wrn = 1, .default_layer_vgg = 3, .default_layer_wrn = 2, .span = 1, .uses_K = 1, .uses_Q = 1,
    .build = aib_qt_build, .init = aib_init, .forward = aib_forward, .backward = aib_backward};
