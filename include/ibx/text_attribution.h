/* Token attribution for the transformer text classifier: every method
 * behind one interface, sequence -> per-token heatmap, and the token-deletion
 * evaluation over a dataset on MPI ranks (docs/attribution.md, "Text").
 *
 * Methods (S = the target's logit; e = token embeddings, before positions):
 *   random               uniform noise (Philox, seeded by seed and sequence id)
 *   grad_x_embedding     sum over hidden dims of e * dS/de (signed)
 *   integrated_gradients sum over hidden dims of e * mean_k dS/de(k/m e),
 *                        k = 1..m (m = 50, right Riemann sum), baseline e = 0
 *   occlusion            p(target | x) - p(target | x without token t)
 *                        (leave-one-token-out: deleted, later tokens move left)
 *   cls_attention        the last layer's [CLS] attention, mean over heads
 *   iba                  per-sample IBA (ibx/iba_text.h) at the configured layer
 *                        and beta; iba_beta<B> (e.g. iba_beta0.001) the same
 *                        at beta B, iba_l<L> after layer L, iba_l<L>_beta<B>
 *                        both (the beta x layer sweep)
 * [CLS] and [SEP] get heat 0 from occlusion (they are never removed). */
#ifndef IBX_TEXT_ATTRIBUTION_H
#define IBX_TEXT_ATTRIBUTION_H

#include <mpi.h>
#include <stdio.h>
#include <stdint.h>

#include "ibx/iba_text.h"
#include "ibx/model.h"
#include "ibx/text.h"
#include "ibx/text_degradation.h"

#define IBX_TEXT_ATTR_NAME_MAX 48
#define IBX_TEXT_ATTR_MAX_LAYERS 48

typedef struct {
  int iba_layer;       /* bottleneck layer (0: ibx_iba_text_default_layer) */
  ibx_iba_text_config iba;
  int ig_steps;        /* integrated gradients (50) */
  uint64_t seed;       /* random */
} ibx_text_attr_config;
void ibx_text_attr_default(ibx_text_attr_config *c);

typedef struct ibx_text_attributor ibx_text_attributor;

/* m: a text model (ibx_model_is_text) with max_batch >= the IBA batch;
 * used, not owned (its parameter gradients are turned off). */
int ibx_text_attributor_create(ibx_model *m, const ibx_text_attr_config *cfg,
                               ibx_text_attributor **out);
void ibx_text_attributor_free(ibx_text_attributor *a);
ibx_iba_text *ibx_text_attributor_iba(ibx_text_attributor *a);

/* IBX_OK when name is a method (the list above; iba_beta<B> with B >= 0). */
int ibx_text_attr_check(const char *name);
/* 1 when the method needs the IBA statistics. */
int ibx_text_attr_needs_iba(const char *name);
/* The bottleneck layer of an iba method, -1 for other methods. */
int ibx_text_attr_iba_layer(const ibx_text_attributor *a, const char *name);
/* The default methods, comma-separated. */
extern const char ibx_text_attr_default_methods[];

/* heat[0..length) for ids[0..length) ([CLS] ... [SEP]) and class target;
 * id seeds the random method. */
int ibx_text_attribute(ibx_text_attributor *a, const char *method, const int32_t *ids, int length,
                       int target, uint64_t id, float *heat);

/* Softmax probabilities of the model: an ibx_text_classify_fn
 * (text_degradation.h) with ctx = the attributor. */
int ibx_text_attr_classify(void *ctx, const int32_t *ids, const int *lengths, int batch,
                           int max_len, float *probs);

/* IBA statistics over the first n sequences of ds (sequence i on rank
 * i % world), Welford per rank, merged over comm in rank order, for the
 * default layer and every layer that methods[0..n_methods) use. */
int ibx_text_attr_estimate_stats(MPI_Comm comm, ibx_text_attributor *a,
                                 const ibx_text_dataset *ds, long n, const char *const *methods,
                                 int n_methods);

/* ---- evaluation -------------------------------------------------------------- */
typedef struct {
  char name[IBX_TEXT_ATTR_NAME_MAX];
  ibx_tokdeg_result deletion; /* tokens deleted */
  ibx_tokdeg_result masking;  /* tokens replaced by [MASK] */
  double seconds;             /* per sequence, mean over ranks */
  /* heatmaps of the first n_kept sequences [n_kept, max_len] (rank 0) */
  float *heat;
} ibx_text_attr_result;

typedef struct {
  long sequences;  /* test sequences (0: all) */
  int steps;       /* removal steps (10) */
  int with_mask;   /* also the --replace-with-mask variant */
  long keep;       /* heatmaps kept for the page (sequences 0..keep-1) */
  FILE *progress;  /* rank 0: a line every 20 sequences (the CLI: stderr); NULL: none */
} ibx_text_attr_eval_options;

/* Every method on the first `sequences` of ds (sequence i on rank
 * i % world), target = the true label; per-rank sums reduced, so 1 and 2
 * ranks give the same results. res[i] for methods[i]; free with
 * ibx_text_attr_results_free. */
int ibx_text_attr_evaluate(MPI_Comm comm, ibx_text_attributor *a, const ibx_text_dataset *ds,
                           const char *const *methods, int n,
                           const ibx_text_attr_eval_options *o, ibx_text_attr_result *res);
void ibx_text_attr_results_free(ibx_text_attr_result *res, int n);

#endif
