/* The interpretability score's loop and attention consistency
 * (include/ibx/interpret.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/interpret.h"

static void normalise(const float *a, long n, ibx_map_norm norm, double *out) {
  double lo = 0.0, span = 1.0;
  if (norm == IBX_MAP_NORM_MINMAX) {
    double hi = a[0];
    lo = a[0];
    for (long i = 1; i < n; i++)
      lo = a[i] < lo ? a[i] : lo, hi = a[i] > hi ? a[i] : hi;
    span = hi - lo;
  }
  for (long i = 0; i < n; i++)
    out[i] = span > 0.0 ? (a[i] - lo) / span : 0.0;
}

double ibx_map_cosine(const float *a, const float *b, long n, ibx_map_norm norm) {
  if (n < 1)
    return 1.0;
  double *na = malloc(2 * (size_t)n * sizeof *na);
  if (!na)
    return NAN;
  double *nb = na + n;
  normalise(a, n, norm, na);
  normalise(b, n, norm, nb);
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (long i = 0; i < n; i++)
    ab += na[i] * nb[i], aa += na[i] * na[i], bb += nb[i] * nb[i];
  free(na);
  if (aa == 0.0 || bb == 0.0)
    return aa == bb ? 1.0 : 0.0; /* both empty: identical; one empty: unrelated */
  return ab / sqrt(aa * bb);
}

double ibx_interpret_score(const ibx_interpret_result *r) {
  return r->n_prediction_consistent
             ? 100.0 * (double)r->n_attention_consistent / (double)r->n_prediction_consistent
             : 0.0;
}

static int keep(ibx_interpret_result *r, float cosine) {
  const long n = r->n_prediction_consistent; /* already counted: slot n - 1 */
  if ((n & (n - 1)) == 0) { /* grow at powers of two */
    float *grown = realloc(r->cosine, (size_t)(2 * n) * sizeof *grown);
    if (!grown)
      return ibx_fail(IBX_ERR_NOMEM, "interpretability: out of memory for cosines");
    r->cosine = grown;
  }
  r->cosine[n - 1] = cosine;
  return IBX_OK;
}

typedef struct {
  float *x0, *x1, *map0, *map1;
  int *pred0, *pred1, *label;
} buffers;

static void free_buffers(buffers *b) {
  free(b->x0), free(b->x1), free(b->map0), free(b->map1);
  free(b->pred0), free(b->pred1), free(b->label);
}

/* Modifies the batch in parallel; a worker's error message is thread-local,
 * so the first one is carried back to the calling thread. */
static int modify_batch(const buffers *b, int nb, size_t img, int c, int h, int w,
                        const ibx_interpret_result *r, const ibx_interpret_options *o,
                        const long *samples) {
  int rc = IBX_OK;
  char msg[512] = "";
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < nb; i++) {
    float *x = b->x1 + (size_t)i * img;
    memcpy(x, b->x0 + (size_t)i * img, img * sizeof *x);
    const int e = ibx_mod_apply(x, c, h, w, r->kind, r->param, o->seed, samples[i], b->label[i],
                                o->patches);
    if (e) {
#pragma omp critical(ibx_interpret_error)
      if (!rc)
        rc = e, snprintf(msg, sizeof msg, "%s", ibx_errmsg());
    }
  }
  return rc ? ibx_fail(rc, "%s", msg) : IBX_OK;
}

static int judge(const ibx_attn_model *m, const buffers *b, int nb, const ibx_interpret_options *o,
                 ibx_interpret_result *r, int keep_cosine) {
  IBX_TRY(m->forward(m->ctx, b->x1, nb, b->pred1, b->map1));
  for (int i = 0; i < nb; i++) {
    r->n_total++;
    if (b->pred0[i] != b->pred1[i])
      continue;
    r->n_prediction_consistent++;
    const double cs = ibx_map_cosine(b->map0 + (size_t)i * m->map_size,
                                     b->map1 + (size_t)i * m->map_size, m->map_size, o->norm);
    if (isnan(cs))
      return ibx_fail(IBX_ERR_NOMEM, "interpretability: out of memory for map cosines");
    r->n_attention_consistent += cs >= o->threshold;
    if (keep_cosine)
      IBX_TRY(keep(r, (float)cs));
  }
  return IBX_OK;
}

int ibx_interpret_run(const ibx_attn_model *m, ibx_canvas_fn read_canvas, void *read_ctx, int c,
                      int h, int w, const long *samples, long n, const ibx_interpret_options *o,
                      ibx_interpret_result *res, int n_mods, int keep_cosine) {
  if (!m || !m->forward || m->map_size < 1 || m->max_batch < 1 || c < 1 || h < 1 || w < 1)
    return ibx_fail(IBX_ERR_ARG, "interpretability: bad model or image description");
  if (!(o->threshold >= -1.0 && o->threshold <= 1.0))
    return ibx_fail(IBX_ERR_ARG, "interpretability: threshold %g outside [-1, 1]", o->threshold);
  const int B = m->max_batch;
  const size_t img = (size_t)c * h * w, ms = (size_t)m->map_size;
  buffers b = {malloc(B * img * sizeof(float)), malloc(B * img * sizeof(float)),
               malloc(B * ms * sizeof(float)), malloc(B * ms * sizeof(float)),
               malloc(B * sizeof(int)), malloc(B * sizeof(int)), malloc(B * sizeof(int))};
  int rc = b.x0 && b.x1 && b.map0 && b.map1 && b.pred0 && b.pred1 && b.label
               ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "interpretability: out of memory for a batch");
  for (long start = 0; rc == IBX_OK && start < n; start += B) {
    const int nb = (int)(n - start < B ? n - start : B);
    for (int i = 0; rc == IBX_OK && i < nb; i++)
      rc = read_canvas(read_ctx, samples[start + i], b.x0 + (size_t)i * img, &b.label[i]);
    if (rc == IBX_OK)
      rc = m->forward(m->ctx, b.x0, nb, b.pred0, b.map0);
    for (int k = 0; rc == IBX_OK && k < n_mods; k++) {
      rc = modify_batch(&b, nb, img, c, h, w, &res[k], o, samples + start);
      if (rc == IBX_OK)
        rc = judge(m, &b, nb, o, &res[k], keep_cosine);
    }
  }
  free_buffers(&b);
  return rc;
}
