/* Token attribution methods and their token-deletion evaluation
 * (include/ibx/text_attribution.h). */
#include "ibx/text_attribution.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ibx/error.h"
#include "ibx/memory.h"
#include "ibx/rng.h"
#include "ibx/transformer.h"

#define RANDOM_STREAM 0x52414e44ULL /* "RAND" */

const char ibx_text_attr_default_methods[] =
    "random,grad_x_embedding,integrated_gradients,occlusion,cls_attention,iba";

struct ibx_text_attributor {
  ibx_model *m;
  ibx_transformer *t;
  ibx_text_attr_config cfg;
  int D, max_len, classes, chunk;
  int layers, def_layer;
  ibx_iba_text *iba[IBX_TEXT_ATTR_MAX_LAYERS + 1]; /* per bottleneck layer, created on demand */
  float *emb, *demb, *acc, *dlogits, *probs; /* [chunk * max_len * D], ..., [chunk * classes] */
  int32_t *ids;                              /* [chunk * max_len] */
  int *len;                                  /* [chunk] */
};

void ibx_text_attr_default(ibx_text_attr_config *c) {
  memset(c, 0, sizeof *c);
  ibx_iba_text_default(&c->iba);
  c->ig_steps = 50;
}

int ibx_text_attributor_create(ibx_model *m, const ibx_text_attr_config *cfg,
                               ibx_text_attributor **out) {
  *out = NULL;
  if (!ibx_model_is_text(m))
    return ibx_fail(IBX_ERR_ARG, "text attribution: the model (backbone %s) does not read text",
                    ibx_model_config_of(m)->backbone);
  if (cfg->ig_steps < 1)
    return ibx_fail(IBX_ERR_ARG, "text attribution: integrated gradients need >= 1 step");
  ibx_text_attributor *a = calloc(1, sizeof *a);
  if (!a)
    return ibx_fail(IBX_ERR_NOMEM, "text attribution: out of memory");
  a->m = m, a->t = ibx_model_transformer(m), a->cfg = *cfg;
  const ibx_transformer_config *tc = ibx_transformer_config_of(a->t);
  a->D = tc->d_model, a->max_len = tc->max_len, a->classes = tc->num_classes;
  a->chunk = cfg->iba.batch;
  a->layers = tc->layers;
  a->def_layer = cfg->iba_layer ? cfg->iba_layer : ibx_iba_text_default_layer(tc->layers);
  int rc = tc->layers <= IBX_TEXT_ATTR_MAX_LAYERS
               ? ibx_iba_text_create(a->t, a->def_layer, &cfg->iba, &a->iba[a->def_layer])
               : ibx_fail(IBX_ERR_ARG, "text attribution: more than %d layers",
                          IBX_TEXT_ATTR_MAX_LAYERS);
  const size_t e = (size_t)a->chunk * a->max_len * a->D;
  if (!rc) {
    a->emb = ibx_calloc((3 * e + 2 * (size_t)a->chunk * a->classes) * sizeof(float),
                        "attribution buffers");
    a->ids = calloc((size_t)a->chunk * a->max_len, sizeof *a->ids);
    a->len = calloc((size_t)a->chunk, sizeof *a->len);
    if (!a->emb || !a->ids || !a->len)
      rc = ibx_fail(IBX_ERR_NOMEM, "text attribution: out of memory");
  }
  if (rc) {
    ibx_text_attributor_free(a);
    return rc;
  }
  a->demb = a->emb + e, a->acc = a->demb + e, a->dlogits = a->acc + e;
  a->probs = a->dlogits + (size_t)a->chunk * a->classes;
  ibx_model_set_param_grads(m, 0);
  *out = a;
  return IBX_OK;
}

void ibx_text_attributor_free(ibx_text_attributor *a) {
  if (!a)
    return;
  for (int l = 0; l <= IBX_TEXT_ATTR_MAX_LAYERS; l++)
    ibx_iba_text_free(a->iba[l]);
  ibx_free(a->emb);
  free(a->ids), free(a->len);
  free(a);
}

ibx_iba_text *ibx_text_attributor_iba(ibx_text_attributor *a) { return a->iba[a->def_layer]; }

/* iba, iba_beta<B>, iba_l<L>, iba_l<L>_beta<B>: *layer (-1: the default)
 * and *beta (< 0: the default); returns 1 when name has one of the forms. */
static int iba_name(const char *name, int *layer, float *beta) {
  *layer = -1, *beta = -1.0f;
  if (strncmp(name, "iba", 3))
    return 0;
  const char *p = name + 3;
  char *end;
  if (!strncmp(p, "_l", 2) && p[2] >= '0' && p[2] <= '9') {
    const long l = strtol(p + 2, &end, 10);
    if (l < 0 || l > IBX_TEXT_ATTR_MAX_LAYERS)
      return 0;
    *layer = (int)l, p = end;
  }
  if (!strncmp(p, "_beta", 5) && p[5]) {
    const double b = strtod(p + 5, &end);
    if (!(b >= 0.0) || !isfinite(b))
      return 0;
    *beta = (float)b, p = end;
  }
  return *p == 0;
}

int ibx_text_attr_check(const char *name) {
  static const char *const names[] = {"random", "grad_x_embedding", "integrated_gradients",
                                      "occlusion", "cls_attention", "iba"};
  float b;
  int l;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(name, names[i]))
      return IBX_OK;
  if (iba_name(name, &l, &b))
    return IBX_OK;
  return ibx_fail(IBX_ERR_ARG, "unknown text attribution method '%s' (random, grad_x_embedding, "
                  "integrated_gradients, occlusion, cls_attention, iba, iba_beta<B>, "
                  "iba_l<L>, iba_l<L>_beta<B>)", name);
}

int ibx_text_attr_needs_iba(const char *name) {
  return !strncmp(name, "iba", 3);
}

int ibx_text_attr_iba_layer(const ibx_text_attributor *a, const char *name) {
  int l;
  float b;
  if (!iba_name(name, &l, &b))
    return -1;
  return l < 0 ? a->def_layer : l;
}

int ibx_text_attr_classify(void *ctx, const int32_t *ids, const int *lengths, int batch,
                           int max_len, float *probs) {
  ibx_text_attributor *a = ctx;
  for (int s = 0; s < batch; s += a->chunk) {
    const int nb = batch - s < a->chunk ? batch - s : a->chunk;
    const ibx_model_input in = {.tokens = ids + (size_t)s * max_len, .lengths = lengths + s,
                                .stride = max_len};
    ibx_tensor lg;
    IBX_TRY(ibx_model_forward_input(a->m, &in, NULL, nb, 0, 0, NULL, &lg));
    ibx_tensor pt = ibx_t2(probs + (size_t)s * a->classes, nb, a->classes);
    IBX_TRY(ibx_softmax_forward(&lg, &pt));
  }
  return IBX_OK;
}

/* dS/de for the rows already in a->emb ([nb, L, D]); S = target logit. */
static int embedding_grad(ibx_text_attributor *a, int nb, int L, int target) {
  for (int s = 0; s < nb; s++)
    a->len[s] = L;
  IBX_TRY(ibx_transformer_forward(a->t, NULL, L, a->len, a->emb, nb, 0, 0, NULL));
  memset(a->dlogits, 0, (size_t)nb * a->classes * sizeof(float));
  for (int s = 0; s < nb; s++)
    a->dlogits[(size_t)s * a->classes + target] = 1.0f;
  return ibx_transformer_backward(a->t, a->dlogits, a->demb);
}

/* The token embeddings of ids (one row). */
static int token_embeddings(ibx_text_attributor *a, const int32_t *ids, int L, float *e) {
  a->len[0] = L;
  IBX_TRY(ibx_transformer_forward(a->t, ids, L, a->len, NULL, 1, 0, 0, NULL));
  ibx_tensor te;
  IBX_TRY(ibx_transformer_token_embeddings(a->t, &te));
  memcpy(e, te.data, (size_t)L * a->D * sizeof(float));
  return IBX_OK;
}

static int grad_x_embedding(ibx_text_attributor *a, const int32_t *ids, int L, int target,
                            float *heat) {
  const int D = a->D;
  IBX_TRY(token_embeddings(a, ids, L, a->acc));
  memcpy(a->emb, a->acc, (size_t)L * D * sizeof(float));
  IBX_TRY(embedding_grad(a, 1, L, target));
  for (int p = 0; p < L; p++) {
    double s = 0.0;
    for (int d = 0; d < D; d++)
      s += (double)a->acc[(size_t)p * D + d] * a->demb[(size_t)p * D + d];
    heat[p] = (float)s;
  }
  return IBX_OK;
}

static int integrated_gradients(ibx_text_attributor *a, const int32_t *ids, int L, int target,
                                float *heat) {
  const int D = a->D, m = a->cfg.ig_steps;
  const size_t row = (size_t)L * D;
  float *e = a->acc; /* the embeddings, then (after the loop) unused */
  IBX_TRY(token_embeddings(a, ids, L, e));
  double *sum = calloc(row, sizeof *sum);
  if (!sum)
    return ibx_fail(IBX_ERR_NOMEM, "integrated gradients: out of memory");
  int rc = IBX_OK;
  for (int k0 = 1; k0 <= m && !rc; k0 += a->chunk) {
    const int nb = m - k0 + 1 < a->chunk ? m - k0 + 1 : a->chunk;
    for (int s = 0; s < nb; s++) {
      const float f = (float)(k0 + s) / (float)m;
      for (size_t i = 0; i < row; i++)
        a->emb[(size_t)s * row + i] = f * e[i];
    }
    rc = embedding_grad(a, nb, L, target);
    for (int s = 0; s < nb && !rc; s++)
      for (size_t i = 0; i < row; i++)
        sum[i] += a->demb[(size_t)s * row + i];
  }
  for (int p = 0; p < L && !rc; p++) {
    double s = 0.0;
    for (int d = 0; d < D; d++)
      s += (double)e[(size_t)p * D + d] * sum[(size_t)p * D + d] / m;
    heat[p] = (float)s;
  }
  free(sum);
  return rc;
}

static int occlusion(ibx_text_attributor *a, const int32_t *ids, int L, int target,
                     float *heat) {
  const int T = a->max_len;
  float full;
  {
    memcpy(a->ids, ids, (size_t)L * sizeof *ids);
    a->len[0] = L;
    IBX_TRY(ibx_text_attr_classify(a, a->ids, a->len, 1, T, a->probs));
    full = a->probs[target];
  }
  heat[0] = heat[L - 1] = 0.0f;
  for (int p0 = 1; p0 < L - 1; p0 += a->chunk) {
    const int nb = L - 1 - p0 < a->chunk ? L - 1 - p0 : a->chunk;
    for (int s = 0; s < nb; s++) {
      int32_t *row = a->ids + (size_t)s * T;
      int n = 0;
      for (int q = 0; q < L; q++)
        if (q != p0 + s)
          row[n++] = ids[q];
      a->len[s] = n;
    }
    IBX_TRY(ibx_text_attr_classify(a, a->ids, a->len, nb, T, a->probs));
    for (int s = 0; s < nb; s++)
      heat[p0 + s] = full - a->probs[(size_t)s * a->classes + target];
  }
  return IBX_OK;
}

int ibx_text_attribute(ibx_text_attributor *a, const char *method, const int32_t *ids, int length,
                       int target, uint64_t id, float *heat) {
  if (length < 2 || length > a->max_len)
    return ibx_fail(IBX_ERR_ARG, "text attribution: length %d outside 2..%d", length,
                    a->max_len);
  if (target < 0 || target >= a->classes)
    return ibx_fail(IBX_ERR_ARG, "text attribution: target %d outside 0..%d", target,
                    a->classes - 1);
  float beta;
  if (!strcmp(method, "random")) {
    for (int p = 0; p < length; p++)
      heat[p] = ibx_rng_uniform(a->cfg.seed, RANDOM_STREAM, id * (uint64_t)a->max_len + p);
    return IBX_OK;
  }
  if (!strcmp(method, "grad_x_embedding"))
    return grad_x_embedding(a, ids, length, target, heat);
  if (!strcmp(method, "integrated_gradients"))
    return integrated_gradients(a, ids, length, target, heat);
  if (!strcmp(method, "occlusion"))
    return occlusion(a, ids, length, target, heat);
  if (!strcmp(method, "cls_attention")) {
    a->len[0] = length;
    IBX_TRY(ibx_transformer_forward(a->t, ids, length, a->len, NULL, 1, 0, 0, NULL));
    return ibx_transformer_cls_attention(a->t, heat);
  }
  int layer;
  if (iba_name(method, &layer, &beta)) {
    if (layer < 0)
      layer = a->def_layer;
    if (layer > a->layers || !a->iba[layer])
      return ibx_fail(IBX_ERR_ARG, "text attribution: %s: no statistics for layer %d (0..%d; "
                      "ibx_text_attr_estimate_stats)", method, layer, a->layers);
    ibx_iba_text *b = a->iba[layer];
    ibx_iba_text_set_beta(b, beta >= 0.0f ? beta : a->cfg.iba.beta);
    const int rc = ibx_iba_text_heatmap(b, ids, length, target, heat, NULL);
    ibx_iba_text_set_beta(b, a->cfg.iba.beta);
    return rc;
  }
  return ibx_text_attr_check(method);
}

/* ---- statistics over ranks ----------------------------------------------------- */

static int estimate_layer(MPI_Comm comm, ibx_text_attributor *a, ibx_iba_text *iba,
                          const ibx_text_dataset *ds, long n);

int ibx_text_attr_estimate_stats(MPI_Comm comm, ibx_text_attributor *a,
                                 const ibx_text_dataset *ds, long n, const char *const *methods,
                                 int n_methods) {
  int want[IBX_TEXT_ATTR_MAX_LAYERS + 1] = {0};
  want[a->def_layer] = 1;
  for (int k = 0; k < n_methods; k++) {
    const int l = ibx_text_attr_iba_layer(a, methods[k]);
    if (l > a->layers)
      return ibx_fail(IBX_ERR_ARG, "text attribution: %s: layer %d outside 0..%d", methods[k], l,
                      a->layers);
    if (l >= 0)
      want[l] = 1;
  }
  for (int l = 0; l <= a->layers; l++) {
    if (!want[l])
      continue;
    if (!a->iba[l])
      IBX_TRY(ibx_iba_text_create(a->t, l, &a->cfg.iba, &a->iba[l]));
    IBX_TRY(estimate_layer(comm, a, a->iba[l], ds, n));
  }
  return IBX_OK;
}

static int estimate_layer(MPI_Comm comm, ibx_text_attributor *a, ibx_iba_text *iba,
                          const ibx_text_dataset *ds, long n) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  if (n <= 0 || n > ibx_text_count(ds))
    n = ibx_text_count(ds);
  const int T = ibx_text_max_len(ds), B = a->chunk;
  int rc = T == a->max_len ? IBX_OK
                           : ibx_fail(IBX_ERR_ARG, "%s: sequences of %d tokens, the model takes %d",
                                      ibx_text_name(ds), T, a->max_len);
  for (long i = rank; !rc && i < n;) {
    int nb = 0;
    for (; !rc && nb < B && i < n; nb++, i += world)
      rc = ibx_text_read(ds, i, a->ids + (size_t)nb * T, &a->len[nb], NULL);
    if (!rc)
      rc = ibx_iba_text_add_samples(iba, a->ids, T, a->len, nb);
  }
  int any = rc != IBX_OK, failed;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (failed)
    return rc ? rc : ibx_fail(IBX_ERR_MPI, "attribute: statistics failed on another rank");
  ibx_welford *w = ibx_iba_text_welford(iba);
  const int k = w->k;
  double *mine = malloc((2 * (size_t)k + 1) * sizeof *mine);
  double *all = malloc((size_t)world * (2 * (size_t)k + 1) * sizeof *all);
  if (!mine || !all) {
    free(mine), free(all);
    return ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  }
  mine[0] = (double)w->n;
  memcpy(mine + 1, w->mean, (size_t)k * sizeof(double));
  memcpy(mine + 1 + k, w->m2, (size_t)k * sizeof(double));
  MPI_Allgather(mine, 2 * k + 1, MPI_DOUBLE, all, 2 * k + 1, MPI_DOUBLE, comm);
  /* every rank merges the same accumulators in rank order */
  w->n = 0;
  memset(w->mean, 0, (size_t)k * sizeof(double));
  memset(w->m2, 0, (size_t)k * sizeof(double));
  for (int r = 0; r < world; r++) {
    const double *p = all + (size_t)r * (2 * k + 1);
    ibx_welford_merge(w, (long)p[0], p + 1, p + 1 + k);
  }
  free(mine), free(all);
  return ibx_iba_text_finish_stats(iba);
}

/* ---- evaluation ---------------------------------------------------------------- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void ibx_text_attr_results_free(ibx_text_attr_result *res, int n) {
  for (int i = 0; res && i < n; i++) {
    free(res[i].heat);
    res[i].heat = NULL;
  }
}

static int evaluate_local(ibx_text_attributor *a, const ibx_text_dataset *ds,
                          const char *const *methods, int n, const ibx_text_attr_eval_options *o,
                          long count, int rank, int world, ibx_text_attr_result *res) {
  const int T = a->max_len;
  int32_t *ids = malloc((size_t)T * sizeof *ids);
  float *heat = malloc((size_t)T * sizeof *heat);
  if (!ids || !heat) {
    free(ids), free(heat);
    return ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  }
  ibx_tokdeg_options del, msk;
  ibx_tokdeg_options_default(&del);
  del.steps = o->steps;
  msk = del;
  msk.replace_with_mask = 1;
  int rc = IBX_OK;
  long done = 0;
  const double t_start = now();
  for (long i = rank; i < count && !rc; i += world) {
    int len, label;
    rc = ibx_text_read(ds, i, ids, &len, &label);
    for (int k = 0; k < n && !rc; k++) {
      const double t0 = now();
      rc = ibx_text_attribute(a, methods[k], ids, len, label, (uint64_t)i, heat);
      res[k].seconds += now() - t0;
      if (!rc)
        rc = ibx_tokdeg_add(&res[k].deletion, ibx_text_attr_classify, a, a->classes, ids, len, T,
                            label, heat, &del);
      if (!rc && o->with_mask)
        rc = ibx_tokdeg_add(&res[k].masking, ibx_text_attr_classify, a, a->classes, ids, len, T,
                            label, heat, &msk);
      if (!rc && i < o->keep)
        memcpy(res[k].heat + (size_t)i * T, heat, (size_t)len * sizeof(float));
    }
    done++;
    if (!rc && o->progress && rank == 0 && done % 20 == 0)
      fprintf(o->progress, "attribute: %ld of ~%ld sequences on rank 0 (%.1f s)\n", done,
              (count + world - 1) / world, now() - t_start);
  }
  free(ids), free(heat);
  return rc;
}

static int reduce_deg(MPI_Comm comm, ibx_tokdeg_result *r) {
  double buf[4 * (IBX_TOKDEG_MAX_STEPS + 1) + 1];
  memcpy(buf, r->sums, sizeof r->sums);
  buf[4 * (IBX_TOKDEG_MAX_STEPS + 1)] = (double)r->sequences;
  MPI_Allreduce(MPI_IN_PLACE, buf, 4 * (IBX_TOKDEG_MAX_STEPS + 1) + 1, MPI_DOUBLE, MPI_SUM, comm);
  memcpy(r->sums, buf, sizeof r->sums);
  r->sequences = (long)buf[4 * (IBX_TOKDEG_MAX_STEPS + 1)];
  return ibx_tokdeg_finish(r);
}

int ibx_text_attr_evaluate(MPI_Comm comm, ibx_text_attributor *a, const ibx_text_dataset *ds,
                           const char *const *methods, int n,
                           const ibx_text_attr_eval_options *o, ibx_text_attr_result *res) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  long count = ibx_text_count(ds);
  if (o->sequences > 0 && o->sequences < count)
    count = o->sequences;
  const long keep = o->keep < count ? o->keep : count;
  ibx_text_attr_eval_options oo = *o;
  oo.keep = keep;
  int rc = ibx_text_max_len(ds) == a->max_len
               ? IBX_OK
               : ibx_fail(IBX_ERR_ARG, "%s: sequences of %d tokens, the model takes %d",
                          ibx_text_name(ds), ibx_text_max_len(ds), a->max_len);
  for (int k = 0; k < n && !rc; k++) {
    memset(&res[k], 0, sizeof res[k]);
    snprintf(res[k].name, sizeof res[k].name, "%s", methods[k]);
    rc = ibx_text_attr_check(methods[k]);
    if (!rc)
      rc = ibx_tokdeg_init(&res[k].deletion, o->steps);
    if (!rc)
      rc = ibx_tokdeg_init(&res[k].masking, o->steps);
    if (!rc && keep > 0 && !(res[k].heat = calloc((size_t)keep * a->max_len, sizeof(float))))
      rc = ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  }
  if (!rc)
    rc = evaluate_local(a, ds, methods, n, &oo, count, rank, world, res);
  int any = rc != IBX_OK, failed;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (failed)
    return rc ? rc : ibx_fail(IBX_ERR_MPI, "attribute: failed on another rank");
  for (int k = 0; k < n && !rc; k++) {
    rc = reduce_deg(comm, &res[k].deletion);
    if (!rc && o->with_mask)
      rc = reduce_deg(comm, &res[k].masking);
    double sec = res[k].seconds;
    MPI_Allreduce(MPI_IN_PLACE, &sec, 1, MPI_DOUBLE, MPI_SUM, comm);
    res[k].seconds = sec / (double)count;
    if (keep > 0)
      MPI_Allreduce(MPI_IN_PLACE, res[k].heat, (int)(keep * a->max_len), MPI_FLOAT, MPI_SUM,
                    comm);
  }
  return rc;
}
