/* Token-deletion degradation (include/ibx/text_degradation.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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

/* Writes s into a gnuplot single-quoted string ('' escapes a quote). */
static void gp_quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputc('\'', f);
    if ((unsigned char)*s >= 0x20)
      fputc(*s, f);
  }
  fputc('\'', f);
}

int ibx_tokdeg_plot(const char *png_path, const char *title, int n, const char *const *names,
                    const ibx_tokdeg_result *const *results) {
  if (!png_path || n < 1 || !names || !results)
    return ibx_fail(IBX_ERR_ARG, "degradation plot: needs a path and at least one result");
  const size_t len = strlen(png_path);
  if (len < 5 || strcmp(png_path + len - 4, ".png") != 0 || len > 4000)
    return ibx_fail(IBX_ERR_ARG, "degradation plot: '%s' must end in .png", png_path);
  const int steps = results[0]->steps;
  for (int k = 0; k < n; k++)
    if (!results[k] || !names[k] || results[k]->steps != steps || results[k]->sequences <= 0)
      return ibx_fail(IBX_ERR_ARG,
                      "degradation plot: result %d is missing, unfinished or has other steps", k);
  char dat[4100], gp[4100];
  snprintf(dat, sizeof dat, "%.*s.dat", (int)(len - 4), png_path);
  snprintf(gp, sizeof gp, "%.*s.gp", (int)(len - 4), png_path);
  FILE *f = fopen(dat, "w");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "degradation plot: cannot write %s: %s", dat, strerror(errno));
  for (int k = 0; k < n; k++) {
    fprintf(f, "# %s: fraction removed, MoRF prob, LeRF prob, MoRF acc, LeRF acc\n", names[k]);
    for (int j = 0; j <= steps; j++)
      fprintf(f, "%.6f %.6f %.6f %.6f %.6f\n", (double)j / steps, (double)results[k]->morf_prob[j],
              (double)results[k]->lerf_prob[j], (double)results[k]->morf_acc[j],
              (double)results[k]->lerf_acc[j]);
    fprintf(f, "\n\n");
  }
  if (fclose(f) != 0)
    return ibx_fail(IBX_ERR_IO, "degradation plot: cannot write %s", dat);
  f = fopen(gp, "w");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "degradation plot: cannot write %s: %s", gp, strerror(errno));
  static const char *const colours[] = {"#d7191c", "#2c7bb6", "#1a9641", "#7b3294", "#e66101",
                                        "#636363", "#a6611a", "#f1b6da"};
  fprintf(f, "set terminal pngcairo size 1100,480\nset output ");
  gp_quoted(f, png_path);
  fprintf(f, "\nset multiplot layout 1,2 title ");
  gp_quoted(f, title ? title : "token deletion");
  fprintf(f, " noenhanced\nset grid\nset xrange [0:1]\nset yrange [0:1]\n"
             "set xlabel 'fraction of tokens removed'\nset key outside bottom center noenhanced\n");
  for (int panel = 0; panel < 2; panel++) {
    fprintf(f, "set ylabel '%s'\nplot ", panel ? "accuracy" : "mean true-class probability");
    for (int k = 0; k < n; k++) {
      for (int dir = 0; dir < 2; dir++) {
        fprintf(f, "%s", k || dir ? ", " : "");
        gp_quoted(f, dat);
        fprintf(f, " index %d using 1:%d with linespoints lw 2 pt %d ps 0.6 dt %d lc rgb '%s' "
                   "title ",
                k, 2 + 2 * panel + dir, dir ? 6 : 7, dir ? 2 : 1, colours[k % 8]);
        char t[300];
        snprintf(t, sizeof t, "%s %s", names[k], dir ? "LeRF" : "MoRF");
        gp_quoted(f, t);
      }
    }
    fprintf(f, "\n");
  }
  fprintf(f, "unset multiplot\n");
  if (fclose(f) != 0)
    return ibx_fail(IBX_ERR_IO, "degradation plot: cannot write %s", gp);
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", gp); /* gp has no quote: checked below */
  if (strchr(gp, '\''))
    return ibx_fail(IBX_ERR_ARG, "degradation plot: path %s contains a quote", gp);
  FILE *p = popen(cmd, "r");
  char out[512] = "";
  size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
  out[got] = '\0';
  for (char *c = out; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  const int status = p ? pclose(p) : -1;
  if (status != 0)
    return ibx_fail(IBX_ERR_IO, "degradation plot: gnuplot could not draw %s (%s); data in %s",
                    png_path, out[0] ? out : "is gnuplot-nox installed?", dat);
  return IBX_OK;
}
