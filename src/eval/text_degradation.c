/* Token-deletion degradation (include/ibx/text_degradation.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/attrib_metrics.h"
#include "ibx/error.h"
#include "ibx/text.h"
#include "ibx/text_degradation.h"

void ibx_tokdeg_options_default(ibx_tokdeg_options *opt) {
  if (!opt)
    return;
  opt->steps = 10;
  opt->replace_with_mask = 0;
  opt->batch = 22;
}

typedef struct {
  float score;
  int pos;
} ranked;

static int by_score_desc(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return a->pos - b->pos;
}

/* Sequence after removing the first `removed` tokens of order[]. */
static void degrade(const int32_t *ids, int length, int max_len, const ranked *order, int removed,
                    int mask, unsigned char *gone, int32_t *out, int *out_len) {
  const int T = length - 2;
  memset(gone, 0, (size_t)length);
  for (int k = 0; k < removed; k++)
    gone[order[k].pos] = 1;
  if (mask) {
    memcpy(out, ids, (size_t)max_len * sizeof *out);
    for (int p = 1; p <= T; p++)
      if (gone[p])
        out[p] = IBX_TOK_MASK;
    *out_len = length;
    return;
  }
  int o = 0;
  out[o++] = ids[0];
  for (int p = 1; p <= T; p++)
    if (!gone[p])
      out[o++] = ids[p];
  out[o++] = ids[length - 1];
  *out_len = o;
  for (int p = o; p < max_len; p++)
    out[p] = IBX_TOK_PAD;
}

int ibx_tokdeg_sequence(ibx_text_classify_fn fn, void *ctx, int num_classes, const int32_t *ids,
                        int length, int max_len, int label, const float *heat,
                        const ibx_tokdeg_options *opt, float *morf_prob, float *lerf_prob,
                        int *morf_correct, int *lerf_correct) {
  ibx_tokdeg_options def;
  ibx_tokdeg_options_default(&def);
  if (!opt)
    opt = &def;
  if (!fn || !ids || !heat || !morf_prob || !lerf_prob)
    return ibx_fail(IBX_ERR_ARG, "token degradation: NULL classifier, ids, heatmap or output");
  if (opt->steps < 1 || opt->steps > IBX_TOKDEG_MAX_STEPS || opt->batch < 1)
    return ibx_fail(IBX_ERR_ARG, "token degradation: steps %d (1..%d), batch %d (>= 1)",
                    opt->steps, IBX_TOKDEG_MAX_STEPS, opt->batch);
  if (num_classes < 1 || label < 0 || label >= num_classes)
    return ibx_fail(IBX_ERR_ARG, "token degradation: label %d outside [0, %d)", label,
                    num_classes);
  if (length < 2 || length > max_len || ids[0] != IBX_TOK_CLS || ids[length - 1] != IBX_TOK_SEP)
    return ibx_fail(IBX_ERR_ARG,
                    "token degradation: the sequence must be [CLS] ... [SEP] of length 2..%d "
                    "(length %d)", max_len, length);
  const int T = length - 2, P = opt->steps + 1;
  for (int p = 1; p <= T; p++)
    if (!isfinite(heat[p]))
      return ibx_fail(IBX_ERR_NUMERIC, "token degradation: heatmap value %d is not finite", p);
  const size_t L = (size_t)max_len;
  ranked *order = malloc((size_t)(T > 0 ? T : 1) * sizeof *order);
  unsigned char *gone = malloc((size_t)length);
  int32_t *seqs = malloc(2 * (size_t)P * L * sizeof *seqs);
  int *lens = malloc(2 * (size_t)P * sizeof *lens);
  float *probs = malloc(2 * (size_t)P * (size_t)num_classes * sizeof *probs);
  int rc = IBX_OK;
  if (!order || !gone || !seqs || !lens || !probs)
    rc = ibx_fail(IBX_ERR_NOMEM, "token degradation: out of memory");
  for (int dir = 0; dir < 2 && rc == IBX_OK; dir++) {
    for (int p = 1; p <= T; p++) /* LeRF: the reverse ranking, ties again by position */
      order[p - 1] = (ranked){dir == 0 ? heat[p] : -heat[p], p};
    qsort(order, (size_t)T, sizeof *order, by_score_desc);
    for (int j = 0; j < P; j++) {
      const int removed = (int)lround((double)j * T / opt->steps);
      const size_t row = (size_t)dir * P + (size_t)j;
      degrade(ids, length, max_len, order, removed, opt->replace_with_mask, gone, seqs + row * L,
              &lens[row]);
    }
  }
  for (int s = 0; s < 2 * P && rc == IBX_OK; s += opt->batch) {
    const int nb = 2 * P - s < opt->batch ? 2 * P - s : opt->batch;
    rc = fn(ctx, seqs + (size_t)s * L, lens + s, nb, max_len, probs + (size_t)s * num_classes);
  }
  for (int row = 0; row < 2 * P && rc == IBX_OK; row++) {
    const float *pr = probs + (size_t)row * num_classes;
    int best = 0;
    for (int k = 1; k < num_classes; k++)
      if (pr[k] > pr[best])
        best = k;
    if (!isfinite(pr[label])) {
      rc = ibx_fail(IBX_ERR_NUMERIC, "token degradation: the classifier returned %g", pr[label]);
      break;
    }
    const int j = row % P;
    if (row < P) {
      morf_prob[j] = pr[label];
      if (morf_correct)
        morf_correct[j] = best == label;
    } else {
      lerf_prob[j] = pr[label];
      if (lerf_correct)
        lerf_correct[j] = best == label;
    }
  }
  free(order), free(gone), free(seqs), free(lens), free(probs);
  return rc;
}

int ibx_tokdeg_init(ibx_tokdeg_result *r, int steps) {
  if (!r)
    return ibx_fail(IBX_ERR_ARG, "token degradation: NULL result");
  if (steps < 1 || steps > IBX_TOKDEG_MAX_STEPS)
    return ibx_fail(IBX_ERR_ARG, "token degradation: steps %d outside 1..%d", steps,
                    IBX_TOKDEG_MAX_STEPS);
  memset(r, 0, sizeof *r);
  r->steps = steps;
  r->score = NAN;
  r->morf_acc_50 = r->lerf_acc_50 = NAN;
  return IBX_OK;
}

int ibx_tokdeg_add(ibx_tokdeg_result *r, ibx_text_classify_fn fn, void *ctx, int num_classes,
                   const int32_t *ids, int length, int max_len, int label, const float *heat,
                   const ibx_tokdeg_options *opt) {
  if (!r)
    return ibx_fail(IBX_ERR_ARG, "token degradation: NULL result");
  ibx_tokdeg_options o;
  ibx_tokdeg_options_default(&o);
  if (opt)
    o = *opt;
  if (o.steps != r->steps)
    return ibx_fail(IBX_ERR_ARG, "token degradation: %d steps, the result was set up for %d",
                    o.steps, r->steps);
  float mp[IBX_TOKDEG_MAX_STEPS + 1], lp[IBX_TOKDEG_MAX_STEPS + 1];
  int mc[IBX_TOKDEG_MAX_STEPS + 1], lc[IBX_TOKDEG_MAX_STEPS + 1];
  IBX_TRY(ibx_tokdeg_sequence(fn, ctx, num_classes, ids, length, max_len, label, heat, &o, mp, lp,
                              mc, lc));
  for (int j = 0; j <= r->steps; j++) {
    r->sums[0][j] += mp[j];
    r->sums[1][j] += lp[j];
    r->sums[2][j] += mc[j];
    r->sums[3][j] += lc[j];
  }
  r->sequences++;
  return IBX_OK;
}

static double area(const float *y, int points) {
  double a = 0.0;
  for (int j = 0; j < points; j++)
    a += (j == 0 || j == points - 1 ? 0.5 : 1.0) * y[j];
  return a / (points - 1);
}

int ibx_tokdeg_finish(ibx_tokdeg_result *r) {
  if (!r || r->sequences <= 0)
    return ibx_fail(IBX_ERR_ARG, "token degradation: no sequence was evaluated");
  const int P = r->steps + 1;
  const double n = (double)r->sequences;
  for (int j = 0; j < P; j++) {
    r->morf_prob[j] = (float)(r->sums[0][j] / n);
    r->lerf_prob[j] = (float)(r->sums[1][j] / n);
    r->morf_acc[j] = (float)(r->sums[2][j] / n);
    r->lerf_acc[j] = (float)(r->sums[3][j] / n);
  }
  r->morf_area = area(r->morf_prob, P);
  r->lerf_area = area(r->lerf_prob, P);
  if (r->steps % 2 == 0) {
    r->morf_acc_50 = r->morf_acc[r->steps / 2];
    r->lerf_acc_50 = r->lerf_acc[r->steps / 2];
  } else {
    r->morf_acc_50 = r->lerf_acc_50 = NAN;
  }
  float m[IBX_TOKDEG_MAX_STEPS + 1], l[IBX_TOKDEG_MAX_STEPS + 1];
  memcpy(m, r->morf_prob, (size_t)P * sizeof *m);
  memcpy(l, r->lerf_prob, (size_t)P * sizeof *l);
  double score;
  if (ibx_degradation_score(m, l, P, &score) == IBX_OK)
    r->score = score;
  else {
    r->score = NAN;
    ibx_clear_error();
  }
  return IBX_OK;
}
