/* Token-deletion degradation for text classifiers (the text counterpart of
 * the image degradation in attrib_metrics.h; docs/text.md).
 *
 * A sequence is [CLS] t_1 ... t_T [SEP] (length T + 2, padded to max_len).
 * Its T content tokens are ranked by a per-token heatmap and removed in
 * `steps` equal steps, 0 % .. 100 %: after step j, round(j * T / steps)
 * tokens are gone. MoRF removes the most relevant first, LeRF the least
 * relevant first; ties are broken by position (earlier first) in both
 * orders, as the image metric breaks ties by tile index. [CLS] and [SEP] are
 * never removed. Removing a token either deletes it (the sequence gets
 * shorter, later tokens move left, [PAD] fills up) or, with
 * replace_with_mask, puts [MASK] in its place (the length stays).
 *
 * At every step the classifier's true-class probability and whether its
 * arg-max is the true class are recorded; over many sequences the mean
 * probability and the accuracy per step give two curves each. The score is
 * the image metric's (ibx_degradation_score): both mean-probability curves
 * normalised by their shared start (nothing removed) and end (everything
 * removed) values, then the area of LeRF' - MoRF' over the removed fraction
 * [0, 1] (trapezoid rule); higher is better, about 0 for a random ranking.
 * The raw (unnormalised) areas under the mean-probability curves and the
 * accuracy after 50 % removal are reported too. */
#ifndef IBX_TEXT_DEGRADATION_H
#define IBX_TEXT_DEGRADATION_H

#include <stdint.h>

/* The classifier: for `batch` sequences of max_len ids each (row-major,
 * padded with [PAD]) and their lengths, writes softmax probabilities
 * [batch x num_classes] into probs. Returns an ibx_status. */
typedef int (*ibx_text_classify_fn)(void *ctx, const int32_t *ids, const int *lengths, int batch,
                                    int max_len, float *probs);

#define IBX_TOKDEG_MAX_STEPS 100

typedef struct {
  int steps;             /* removal steps (10): points = steps + 1 */
  int replace_with_mask; /* 0: delete tokens; 1: replace them by [MASK] */
  int batch;             /* sequences per classifier call, >= 1 (22: one call per sequence) */
} ibx_tokdeg_options;
void ibx_tokdeg_options_default(ibx_tokdeg_options *opt);

/* Curves of one sequence: prob[j] the true-class probability and correct[j]
 * (0/1) after step j, for MoRF and LeRF; each array has steps + 1 entries.
 * ids: max_len ids ([CLS] first, [SEP] at length - 1, [PAD] after);
 * heat: per position, at least `length` values (positions 0 and length - 1
 * are ignored); label in [0, num_classes). */
int ibx_tokdeg_sequence(ibx_text_classify_fn fn, void *ctx, int num_classes, const int32_t *ids,
                        int length, int max_len, int label, const float *heat,
                        const ibx_tokdeg_options *opt, float *morf_prob, float *lerf_prob,
                        int *morf_correct, int *lerf_correct);

/* Sums over sequences (add them with ibx_tokdeg_add; ranks may add their
 * own sequences and sum the `sums` arrays and `sequences` over MPI before
 * ibx_tokdeg_finish). */
typedef struct {
  int steps;
  long sequences;
  /* sums over sequences, per step: MoRF prob, LeRF prob, MoRF correct,
   * LeRF correct (4 x (steps + 1) used) */
  double sums[4][IBX_TOKDEG_MAX_STEPS + 1];
  /* filled by ibx_tokdeg_finish */
  float morf_prob[IBX_TOKDEG_MAX_STEPS + 1], lerf_prob[IBX_TOKDEG_MAX_STEPS + 1];
  float morf_acc[IBX_TOKDEG_MAX_STEPS + 1], lerf_acc[IBX_TOKDEG_MAX_STEPS + 1];
  double morf_area, lerf_area;   /* areas under the mean-probability curves, [0, 1] */
  double morf_acc_50, lerf_acc_50; /* accuracy after 50 % removal (steps even), else NaN */
  double score;                  /* normalised LeRF - MoRF area; NaN when undefined */
} ibx_tokdeg_result;

int ibx_tokdeg_init(ibx_tokdeg_result *r, int steps);
int ibx_tokdeg_add(ibx_tokdeg_result *r, ibx_text_classify_fn fn, void *ctx, int num_classes,
                   const int32_t *ids, int length, int max_len, int label, const float *heat,
                   const ibx_tokdeg_options *opt);
/* Means, areas and score from the sums. IBX_ERR_ARG when no sequence was
 * added; a score that cannot be normalised (start == end) is NaN, not an
 * error. */
int ibx_tokdeg_finish(ibx_tokdeg_result *r);

/* The degradation curves of n finished results (one per method, same
 * steps) as a PNG drawn by gnuplot (Debian gnuplot-nox): left the mean
 * true-class probability, right the accuracy, against the removed fraction;
 * MoRF solid, LeRF dashed, one colour per method. png_path must end in
 * ".png"; the data and the gnuplot script are kept beside it (same name,
 * ".dat" and ".gp"). IBX_ERR_IO naming gnuplot's complaint when it cannot
 * draw (the .dat file is still there). */
int ibx_tokdeg_plot(const char *png_path, const char *title, int n, const char *const *names,
                    const ibx_tokdeg_result *const *results);

#endif
