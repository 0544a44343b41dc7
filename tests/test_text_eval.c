/* Text evaluation pieces that need no sequence model: token-deletion
 * degradation (src/eval/text_degradation.c) with hand-made classifiers
 * whose probabilities after every step are computed here independently, and
 * the bag-of-words baseline (src/eval/text_bow.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/attrib_metrics.h"
#include "ibx/png.h"
#include "ibx/text.h"
#include "ibx/text_baseline.h"
#include "ibx/text_degradation.h"
#include "testutil.h"

/* A linear two-class "keyword" classifier: logit_1 = sum of weight[id] over
 * positions 1..length-2, logit_0 = 0. It checks what it is given: [CLS]
 * first, [SEP] at length - 1, [PAD] after; it records every length. */
typedef struct {
  float weight[64];
  int calls, seen;
  int lengths[512];
  int expect_len; /* > 0: every sequence must have this length (mask mode) */
  int fail;       /* return an error */
  int nan;        /* return NaN probabilities */
} keyword_clf;

static int keyword_classify(void *ctx, const int32_t *ids, const int *lengths, int batch,
                            int max_len, float *probs) {
  keyword_clf *c = ctx;
  c->calls++;
  if (c->fail)
    return ibx_fail(IBX_ERR_NUMERIC, "keyword classifier: asked to fail");
  for (int q = 0; q < batch; q++) {
    const int32_t *s = ids + (size_t)q * max_len;
    const int len = lengths[q];
    assert_true(len >= 2 && len <= max_len);
    assert_int_equal(s[0], IBX_TOK_CLS);
    assert_int_equal(s[len - 1], IBX_TOK_SEP);
    for (int p = len; p < max_len; p++)
      assert_int_equal(s[p], IBX_TOK_PAD);
    if (c->expect_len)
      assert_int_equal(len, c->expect_len);
    c->lengths[c->seen++ % 512] = len;
    double z = 0.0;
    for (int p = 1; p < len - 1; p++) {
      assert_true(s[p] >= 0 && s[p] < 64);
      z += c->weight[s[p]];
    }
    const double p1 = 1.0 / (1.0 + exp(-z));
    probs[2 * q] = c->nan ? NAN : (float)(1.0 - p1);
    probs[2 * q + 1] = (float)p1;
  }
  return IBX_OK;
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Expected true-class probability after removing `removed` tokens in the
 * given order (positions), for the keyword classifier. */
static double expect_prob(const keyword_clf *c, const int32_t *ids, int length,
                          const int *order, int removed, int label, int mask) {
  double z = 0.0;
  for (int p = 1; p < length - 1; p++) {
    int gone = 0;
    for (int k = 0; k < removed; k++)
      gone |= order[k] == p;
    z += gone ? (mask ? c->weight[IBX_TOK_MASK] : 0.0) : c->weight[ids[p]];
  }
  return label == 1 ? sigmoid(z) : 1.0 - sigmoid(z);
}

static void test_curves_known(void **state) {
  (void)state;
  keyword_clf c;
  memset(&c, 0, sizeof c);
  /* ids 10..19 carry weights -1.0 .. +1.25; [MASK] weighs -0.3 */
  for (int k = 0; k < 10; k++)
    c.weight[10 + k] = -1.0f + 0.25f * (float)k;
  c.weight[IBX_TOK_MASK] = -0.3f;
  /* [CLS] 13 19 11 16 10 18 12 17 15 14 [SEP] [PAD] [PAD] */
  const int L = 14, length = 12;
  const int32_t ids[14] = {IBX_TOK_CLS, 13, 19, 11, 16, 10, 18, 12, 17, 15, 14, IBX_TOK_SEP,
                           IBX_TOK_PAD, IBX_TOK_PAD};
  /* oracle heatmap: the weight for class 1; garbage at [CLS]/[SEP] */
  float heat[12];
  heat[0] = 100.0f, heat[11] = 100.0f;
  for (int p = 1; p < 11; p++)
    heat[p] = c.weight[ids[p]];
  /* MoRF order by heat (desc), LeRF by -heat (desc) */
  int morf_order[10], lerf_order[10];
  for (int k = 0; k < 10; k++) { /* weights are distinct: sort positions */
    int best = -1, worst = -1;
    for (int p = 1; p < 11; p++) {
      int used_m = 0, used_l = 0;
      for (int q = 0; q < k; q++)
        used_m |= morf_order[q] == p, used_l |= lerf_order[q] == p;
      if (!used_m && (best < 0 || heat[p] > heat[best]))
        best = p;
      if (!used_l && (worst < 0 || heat[p] < heat[worst]))
        worst = p;
    }
    morf_order[k] = best, lerf_order[k] = worst;
  }
  for (int mask = 0; mask < 2; mask++) {
    ibx_tokdeg_options opt;
    ibx_tokdeg_options_default(&opt);
    assert_int_equal(opt.steps, 10);
    opt.replace_with_mask = mask;
    opt.batch = 5; /* several calls */
    c.expect_len = mask ? length : 0;
    c.seen = 0, c.calls = 0;
    float mp[11], lp[11];
    int mc[11], lc[11];
    assert_ibx_ok(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, length, L, 1, heat, &opt, mp,
                                      lp, mc, lc));
    assert_int_equal(c.calls, 5); /* 22 sequences in batches of 5 */
    for (int j = 0; j <= 10; j++) {
      /* 10 content tokens: step j removes j tokens */
      const double em = expect_prob(&c, ids, length, morf_order, j, 1, mask);
      const double el = expect_prob(&c, ids, length, lerf_order, j, 1, mask);
      assert_float_equal(mp[j], em, 1e-6);
      assert_float_equal(lp[j], el, 1e-6);
      assert_int_equal(mc[j], em > 0.5);
      assert_int_equal(lc[j], el > 0.5);
      if (!mask) {
        assert_int_equal(c.lengths[j], length - j); /* deleted: shorter */
        assert_int_equal(c.lengths[11 + j], length - j);
      }
    }
    /* removing the most class-1 tokens first lowers p(1) fastest */
    assert_true(mp[5] < lp[5]);
    /* class 0 as the true class: the same sequences, probabilities 1 - p */
    float mp0[11], lp0[11];
    assert_ibx_ok(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, length, L, 0, heat, &opt,
                                      mp0, lp0, NULL, NULL));
    for (int j = 0; j <= 10; j++)
      assert_float_equal(mp0[j], 1.0f - mp[j], 1e-6);
  }
}

/* T not divisible by the steps: round(j * T / steps) tokens, half away from
 * zero; ties in the heatmap go by position (earlier first) in both orders. */
static void test_counts_and_ties(void **state) {
  (void)state;
  keyword_clf c;
  memset(&c, 0, sizeof c);
  c.weight[20] = 1.0f, c.weight[21] = 2.0f, c.weight[22] = 4.0f, c.weight[23] = 8.0f;
  c.weight[24] = 16.0f, c.weight[25] = 32.0f, c.weight[26] = 64.0f;
  const int32_t ids[9] = {IBX_TOK_CLS, 20, 21, 22, 23, 24, 25, 26, IBX_TOK_SEP};
  const float flat[9] = {0, 5, 5, 5, 5, 5, 5, 5, 0};
  ibx_tokdeg_options opt;
  ibx_tokdeg_options_default(&opt);
  float mp[11], lp[11];
  assert_ibx_ok(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 9, 9, 1, flat, &opt, mp, lp,
                                    NULL, NULL));
  const int removed[11] = {0, 1, 1, 2, 3, 4, 4, 5, 6, 6, 7};
  for (int j = 0; j <= 10; j++) {
    assert_int_equal(c.lengths[j], 9 - removed[j]);
    /* ties: both orders remove from the front, so the sums of the remaining
     * weights (a binary code) identify the removed tokens exactly */
    double z = 0.0;
    for (int p = 1 + removed[j]; p <= 7; p++)
      z += c.weight[ids[p]];
    assert_float_equal(mp[j], sigmoid(z), 1e-6);
    assert_float_equal(lp[j], mp[j], 0);
  }
  /* an empty text ([CLS] [SEP]): nothing to remove, flat curves */
  const int32_t empty[4] = {IBX_TOK_CLS, IBX_TOK_SEP, IBX_TOK_PAD, IBX_TOK_PAD};
  assert_ibx_ok(ibx_tokdeg_sequence(keyword_classify, &c, 2, empty, 2, 4, 1, flat, &opt, mp, lp,
                                    NULL, NULL));
  for (int j = 0; j <= 10; j++)
    assert_float_equal(mp[j], 0.5f, 1e-7);
}

static void test_aggregate_score(void **state) {
  (void)state;
  keyword_clf c;
  memset(&c, 0, sizeof c);
  for (int k = 0; k < 40; k++)
    c.weight[10 + k] = (float)(k % 7) * 0.4f - 1.0f;
  ibx_tokdeg_result good, reversed, random;
  assert_ibx_ok(ibx_tokdeg_init(&good, 10));
  assert_ibx_ok(ibx_tokdeg_init(&reversed, 10));
  assert_ibx_ok(ibx_tokdeg_init(&random, 10));
  assert_int_equal(ibx_tokdeg_finish(&good), IBX_ERR_ARG); /* nothing added */
  double sum_m5 = 0.0;
  uint64_t st = 12345;
  for (int s = 0; s < 60; s++) {
    int32_t ids[24];
    float heat[24], rev[24], rnd[24];
    const int T = 8 + s % 13, length = T + 2;
    ids[0] = IBX_TOK_CLS;
    for (int p = 1; p <= T; p++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      ids[p] = 10 + (int)((st >> 33) % 40);
      rnd[p] = (float)((st >> 13) % 1000);
    }
    ids[length - 1] = IBX_TOK_SEP;
    for (int p = length; p < 24; p++)
      ids[p] = IBX_TOK_PAD;
    /* the true class is what the full text says; heat = evidence for it */
    double z = 0.0;
    for (int p = 1; p <= T; p++)
      z += c.weight[ids[p]];
    const int label = z > 0;
    for (int p = 1; p <= T; p++) {
      heat[p] = label ? c.weight[ids[p]] : -c.weight[ids[p]];
      rev[p] = -heat[p];
    }
    heat[0] = rev[0] = rnd[0] = heat[length - 1] = rev[length - 1] = rnd[length - 1] = 0;
    assert_ibx_ok(ibx_tokdeg_add(&good, keyword_classify, &c, 2, ids, length, 24, label, heat,
                                 NULL));
    assert_ibx_ok(ibx_tokdeg_add(&reversed, keyword_classify, &c, 2, ids, length, 24, label, rev,
                                 NULL));
    assert_ibx_ok(ibx_tokdeg_add(&random, keyword_classify, &c, 2, ids, length, 24, label, rnd,
                                 NULL));
    float mp[11], lp[11];
    assert_ibx_ok(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, length, 24, label, heat, NULL,
                                      mp, lp, NULL, NULL));
    sum_m5 += mp[5];
  }
  assert_ibx_ok(ibx_tokdeg_finish(&good));
  assert_ibx_ok(ibx_tokdeg_finish(&reversed));
  assert_ibx_ok(ibx_tokdeg_finish(&random));
  assert_int_equal(good.sequences, 60);
  assert_float_equal(good.morf_prob[5], sum_m5 / 60.0, 1e-5);
  /* every sequence starts correct (label = the full text's class) and the
   * fully removed text is the same for every order */
  assert_float_equal(good.morf_acc[0], 1.0, 0);
  assert_float_equal(good.morf_prob[10], good.lerf_prob[10], 1e-6);
  assert_float_equal(good.morf_prob[0], random.morf_prob[0], 1e-6);
  /* the oracle ranks well, its reverse swaps MoRF and LeRF, random is in
   * between; the score is the image metric's on the mean curves */
  assert_true(good.score > 0.2);
  assert_float_equal(reversed.score, -good.score, 1e-5);
  assert_float_equal(reversed.morf_area, good.lerf_area, 1e-6);
  assert_true(fabs(random.score) < good.score);
  assert_true(good.morf_area < random.morf_area && random.morf_area < good.lerf_area);
  assert_true(good.morf_acc_50 < good.lerf_acc_50);
  float m[11], l[11];
  memcpy(m, good.morf_prob, sizeof m);
  memcpy(l, good.lerf_prob, sizeof l);
  double score;
  assert_ibx_ok(ibx_degradation_score(m, l, 11, &score));
  assert_float_equal(score, good.score, 1e-12);
  double area_m = 0.0;
  for (int j = 0; j <= 10; j++)
    area_m += (j == 0 || j == 10 ? 0.05 : 0.1) * good.morf_prob[j];
  assert_float_equal(good.morf_area, area_m, 1e-6);
}

static void test_bad_input(void **state) {
  (void)state;
  keyword_clf c;
  memset(&c, 0, sizeof c);
  const int32_t ids[6] = {IBX_TOK_CLS, 10, 11, 12, IBX_TOK_SEP, IBX_TOK_PAD};
  const int32_t no_cls[6] = {10, 10, 11, 12, IBX_TOK_SEP, IBX_TOK_PAD};
  float heat[6] = {0, 1, 2, 3, 0, 0};
  float mp[11], lp[11];
  ibx_tokdeg_options opt;
  ibx_tokdeg_options_default(&opt);
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, no_cls, 5, 6, 1, heat, &opt, mp,
                                       lp, NULL, NULL),
                   IBX_ERR_ARG);
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 4, 6, 1, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_ARG); /* [SEP] not at length - 1 */
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 5, 6, 2, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_ARG);
  heat[2] = NAN;
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 5, 6, 1, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_NUMERIC);
  heat[2] = 2;
  opt.steps = 0;
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 5, 6, 1, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_ARG);
  opt.steps = 10;
  c.fail = 1;
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 5, 6, 1, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_NUMERIC);
  assert_non_null(strstr(ibx_errmsg(), "asked to fail"));
  c.fail = 0;
  c.nan = 1;
  assert_int_equal(ibx_tokdeg_sequence(keyword_classify, &c, 2, ids, 5, 6, 0, heat, &opt, mp, lp,
                                       NULL, NULL),
                   IBX_ERR_NUMERIC);
  ibx_tokdeg_result r;
  assert_int_equal(ibx_tokdeg_init(&r, 0), IBX_ERR_ARG);
  assert_int_equal(ibx_tokdeg_init(&r, 101), IBX_ERR_ARG);
  assert_ibx_ok(ibx_tokdeg_init(&r, 5));
  c.nan = 0;
  assert_int_equal(ibx_tokdeg_add(&r, keyword_classify, &c, 2, ids, 5, 6, 1, heat, NULL),
                   IBX_ERR_ARG); /* 10 steps into a 5-step result */
  opt.steps = 5;
  assert_ibx_ok(ibx_tokdeg_add(&r, keyword_classify, &c, 2, ids, 5, 6, 1, heat, &opt));
  assert_ibx_ok(ibx_tokdeg_finish(&r));
  assert_true(isnan(r.morf_acc_50)); /* odd steps: no 50 % point */
  /* all-zero weights: start == end, the score is undefined (NaN), not an error */
  assert_true(isnan(r.score));
}

/* The bag-of-words baseline learns a task it can solve: the class is
 * which of two word groups the text uses. */
static void test_bow(void **state) {
  (void)state;
  const char *pos_words[] = {"great", "wonderful", "superb", "lovely", "brilliant"};
  const char *neg_words[] = {"awful", "terrible", "boring", "dreadful", "poor"};
  const char *filler[] = {"the", "film", "was", "a", "plot", "and", "story", "acting"};
  char *texts[200];
  int32_t labels[200];
  uint64_t st = 7;
  for (int i = 0; i < 200; i++) {
    char buf[512] = "";
    const int label = i % 2;
    for (int w = 0; w < 12; w++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      const unsigned r = (unsigned)(st >> 33);
      const char *word = (r % 3 == 0) ? (label ? pos_words : neg_words)[r % 5] : filler[r % 8];
      strcat(buf, word);
      strcat(buf, " ");
    }
    texts[i] = strdup(buf);
    labels[i] = label;
  }
  const char *names[2] = {"neg", "pos"};
  ibx_vocab *v = NULL;
  assert_ibx_ok(ibx_wordpiece_train((const char *const *)texts, 160, 200, 1, &v));
  ibx_text_dataset *tr = NULL, *te = NULL;
  assert_ibx_ok(ibx_text_dataset_from_texts((const char *const *)texts, labels, 160, names, 2, v,
                                            16, "bow train", &tr));
  assert_ibx_ok(ibx_text_dataset_from_texts((const char *const *)texts + 160, labels + 160, 40,
                                            names, 2, v, 16, "bow test", &te));
  ibx_bow *m = NULL;
  assert_ibx_ok(ibx_bow_train(tr, NULL, &m));
  double acc, loss;
  assert_ibx_ok(ibx_bow_evaluate(m, te, &acc, &loss));
  assert_true(acc >= 0.95);
  assert_true(loss < 0.3);
  assert_int_equal(ibx_bow_num_classes(m), 2);
  assert_int_equal(ibx_bow_vocab_size(m), ibx_vocab_size(v));
  assert_true(ibx_bow_l2(m) > 0);
  /* the learned weights point the right way */
  const float *w = ibx_bow_weights(m);
  const int great = ibx_vocab_lookup(v, "great"), awful = ibx_vocab_lookup(v, "awful");
  assert_true(great > 0 && awful > 0);
  assert_true(w[great * 2 + 1] - w[great * 2] > 0);
  assert_true(w[awful * 2 + 1] - w[awful * 2] < 0);
  /* as a classify callback: same probabilities as evaluate's predictions */
  int32_t ids[2 * 16];
  int lens[2];
  float probs[4];
  assert_ibx_ok(ibx_text_read(te, 0, ids, &lens[0], NULL));
  assert_ibx_ok(ibx_text_read(te, 1, ids + 16, &lens[1], NULL));
  assert_ibx_ok(ibx_bow_classify(m, ids, lens, 2, 16, probs));
  assert_float_equal(probs[0] + probs[1], 1.0f, 1e-6);
  assert_true(probs[1] < 0.5f && probs[3] > 0.5f); /* labels 0 and 1 */
  /* deterministic: the same options give the same weights */
  ibx_bow *m2 = NULL;
  assert_ibx_ok(ibx_bow_train(tr, NULL, &m2));
  assert_memory_equal(ibx_bow_weights(m), ibx_bow_weights(m2),
                      (size_t)ibx_vocab_size(v) * 2 * sizeof(float));
  /* token deletion with the BoW model: weight-based heat beats its reverse */
  ibx_tokdeg_result good, bad;
  assert_ibx_ok(ibx_tokdeg_init(&good, 10));
  assert_ibx_ok(ibx_tokdeg_init(&bad, 10));
  for (long i = 0; i < ibx_text_count(te); i++) {
    int len, label;
    assert_ibx_ok(ibx_text_read(te, i, ids, &len, &label));
    float heat[16], rev[16];
    for (int p = 0; p < len; p++) {
      heat[p] = w[ids[p] * 2 + label] - w[ids[p] * 2 + 1 - label];
      rev[p] = -heat[p];
    }
    assert_ibx_ok(ibx_tokdeg_add(&good, ibx_bow_classify, m, 2, ids, len, 16, label, heat, NULL));
    assert_ibx_ok(ibx_tokdeg_add(&bad, ibx_bow_classify, m, 2, ids, len, 16, label, rev, NULL));
  }
  assert_ibx_ok(ibx_tokdeg_finish(&good));
  assert_ibx_ok(ibx_tokdeg_finish(&bad));
  assert_true(good.score > 0.3);
  assert_true(good.morf_area < bad.morf_area);
  ibx_bow_free(m2);
  ibx_bow_free(m);
  ibx_text_close(tr);
  ibx_text_close(te);
  ibx_vocab_free(v);
  for (int i = 0; i < 200; i++)
    free(texts[i]);
}

/* The objective the baseline documents (mean cross-entropy + l2/2 |W|^2)
 * is what it minimises: after full-batch training to convergence, finite
 * differences of that objective (through ibx_bow_evaluate) vanish at the
 * trained weights, while they are large at the start. */
static double objective(ibx_bow *m, const ibx_text_dataset *ds, float l2) {
  double loss;
  assert_ibx_ok(ibx_bow_evaluate(m, ds, NULL, &loss));
  const float *w = ibx_bow_weights(m);
  double reg = 0.0;
  for (long i = 0; i < (long)ibx_bow_vocab_size(m) * ibx_bow_num_classes(m); i++)
    reg += (double)w[i] * w[i];
  return loss + 0.5 * l2 * reg;
}

static void test_bow_stationary(void **state) {
  (void)state;
  const char *texts[8] = {"good great film",  "great good fun",   "bad awful film", "awful bad",
                          "good film",        "bad film",         "great fun fun",  "awful awful"};
  const int32_t labels[8] = {1, 1, 0, 0, 1, 0, 1, 0};
  const char *names[2] = {"neg", "pos"};
  ibx_vocab *v = NULL;
  ibx_text_dataset *ds = NULL;
  assert_ibx_ok(ibx_wordpiece_train(texts, 8, 60, 1, &v));
  assert_ibx_ok(ibx_text_dataset_from_texts(texts, labels, 8, names, 2, v, 8, "tiny", &ds));
  ibx_bow_options o;
  ibx_bow_options_default(&o);
  o.l2 = 0.05f, o.batch = 8, o.epochs = 4000, o.lr = 0.01f;
  ibx_bow *m = NULL, *m0 = NULL;
  assert_ibx_ok(ibx_bow_train(ds, &o, &m));
  o.epochs = 1, o.lr = 1e-30f; /* (almost) the initial zero weights */
  assert_ibx_ok(ibx_bow_train(ds, &o, &m0));
  const int ids[3] = {ibx_vocab_lookup(v, "good"), ibx_vocab_lookup(v, "awful"),
                      ibx_vocab_lookup(v, "fun")};
  for (int q = 0; q < 3; q++) {
    assert_true(ids[q] >= IBX_TOK_NUM_SPECIAL);
    for (int k = 0; k < 2; k++) {
      double g[2];
      ibx_bow *mm[2] = {m, m0};
      for (int which = 0; which < 2; which++) {
        float *w = (float *)ibx_bow_weights(mm[which]);
        float *x = &w[ids[q] * 2 + k];
        const float keep = *x, eps = 1e-3f;
        *x = keep + eps;
        const double up = objective(mm[which], ds, 0.05f);
        *x = keep - eps;
        const double down = objective(mm[which], ds, 0.05f);
        *x = keep;
        g[which] = (up - down) / (2.0 * eps);
      }
      if (!(fabs(g[1]) > 0.05 && fabs(g[0]) < 2e-3))
        fail_msg("d objective / d w[%s][%d]: %g at the trained weights, %g at zero",
                 ibx_vocab_token(v, ids[q]), k, g[0], g[1]);
    }
  }
  ibx_bow_free(m);
  ibx_bow_free(m0);
  ibx_text_close(ds);
  ibx_vocab_free(v);
}

/* The curves as a PNG (gnuplot): the file is drawn, has the documented
 * size, shows both methods' colours, and the data file holds the curves. */
static void test_plot(void **state) {
  (void)state;
  keyword_clf c;
  memset(&c, 0, sizeof c);
  for (int k = 0; k < 10; k++)
    c.weight[10 + k] = -1.0f + 0.25f * (float)k;
  const int32_t ids[12] = {IBX_TOK_CLS, 13, 19, 11, 16, 10, 18, 12, 17, 15, 14, IBX_TOK_SEP};
  float heat[12], flat[12];
  for (int p = 0; p < 12; p++)
    heat[p] = p > 0 && p < 11 ? c.weight[ids[p]] : 0.0f, flat[p] = 0.0f;
  ibx_tokdeg_result a, b;
  assert_ibx_ok(ibx_tokdeg_init(&a, 10));
  assert_ibx_ok(ibx_tokdeg_init(&b, 10));
  assert_ibx_ok(ibx_tokdeg_add(&a, keyword_classify, &c, 2, ids, 12, 12, 1, heat, NULL));
  assert_ibx_ok(ibx_tokdeg_add(&b, keyword_classify, &c, 2, ids, 12, 12, 1, flat, NULL));
  assert_ibx_ok(ibx_tokdeg_finish(&a));
  assert_ibx_ok(ibx_tokdeg_finish(&b));
  char png[4096], dat[4096];
  snprintf(png, sizeof png, "%s/tokdeg_curves.png", IBX_TEST_TMP);
  snprintf(dat, sizeof dat, "%s/tokdeg_curves.dat", IBX_TEST_TMP);
  unlink(png);
  const char *names[2] = {"oracle", "flat 'quoted'"};
  const ibx_tokdeg_result *rs[2] = {&a, &b};
  assert_ibx_ok(ibx_tokdeg_plot(png, "token deletion (test)", 2, names, rs));
  ibx_picture pic;
  assert_ibx_ok(ibx_png_read(png, &pic));
  assert_int_equal(pic.w, 1100);
  assert_int_equal(pic.h, 480);
  long red = 0, blue = 0;
  for (long i = 0; i < (long)pic.w * pic.h; i++) {
    const uint8_t *q = pic.rgb + 3 * i;
    red += q[0] > 190 && q[1] < 60 && q[2] < 60;
    blue += q[0] < 70 && q[1] > 100 && q[1] < 150 && q[2] > 160;
  }
  ibx_picture_free(&pic);
  if (red < 300 || blue < 300)
    fail_msg("%s: %ld red and %ld blue pixels: the curves are missing", png, red, blue);
  FILE *f = fopen(dat, "r");
  assert_non_null(f);
  char line[256];
  int rows = 0;
  float x, mp, lp, ma, la;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "%f %f %f %f %f", &x, &mp, &lp, &ma, &la) == 5) {
      if (rows == 5)
        assert_float_equal(mp, a.morf_prob[5], 1e-5);
      rows++;
    }
  fclose(f);
  assert_int_equal(rows, 22);
  /* bad arguments */
  assert_int_equal(ibx_tokdeg_plot(dat, "x", 2, names, rs), IBX_ERR_ARG); /* not .png */
  ibx_tokdeg_result unfinished;
  assert_ibx_ok(ibx_tokdeg_init(&unfinished, 10));
  const ibx_tokdeg_result *bad[2] = {&a, &unfinished};
  assert_int_equal(ibx_tokdeg_plot(png, "x", 2, names, bad), IBX_ERR_ARG);
  char nodir[4200];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.png", IBX_TEST_TMP);
  assert_int_equal(ibx_tokdeg_plot(nodir, "x", 2, names, rs), IBX_ERR_IO);
  assert_null(strchr(ibx_errmsg(), '\n'));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_curves_known),    cmocka_unit_test(test_counts_and_ties),
      cmocka_unit_test(test_aggregate_score), cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_bow),             cmocka_unit_test(test_bow_stationary),
      cmocka_unit_test(test_plot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
