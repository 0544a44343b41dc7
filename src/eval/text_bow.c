/* Bag-of-words logistic regression (include/ibx/text_baseline.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/text_baseline.h"

struct ibx_bow {
  int V, K;
  float l2;
  float *w; /* V x K */
  float *b; /* K */
};

void ibx_bow_options_default(ibx_bow_options *opt) {
  if (!opt)
    return;
  opt->epochs = 30;
  opt->batch = 32;
  opt->lr = 0.01f;
  opt->l2 = -1.0f;
  opt->val_fraction = 0.1f;
  opt->seed = 1;
}

/* Sparse features of one sequence: distinct ids and their values. */
typedef struct {
  int n;
  int32_t *id;
  float *x;
} sparse;

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Features of ids[0..length) into f (id/x arrays of room length). */
static void featurize(const int32_t *ids, int length, int V, int32_t *tmp, sparse *f) {
  int m = 0;
  for (int p = 0; p < length; p++) {
    int32_t t = ids[p];
    if (t == IBX_TOK_PAD || t == IBX_TOK_CLS || t == IBX_TOK_SEP || t < 0 || t >= V)
      continue;
    tmp[m++] = t;
  }
  qsort(tmp, (size_t)m, sizeof *tmp, cmp_i32);
  f->n = 0;
  double norm = 0.0;
  for (int i = 0; i < m;) {
    int j = i;
    while (j < m && tmp[j] == tmp[i])
      j++;
    f->id[f->n] = tmp[i];
    f->x[f->n] = (float)log1p((double)(j - i));
    norm += (double)f->x[f->n] * f->x[f->n];
    f->n++;
    i = j;
  }
  if (norm > 0)
    for (int k = 0; k < f->n; k++)
      f->x[k] = (float)(f->x[k] / sqrt(norm));
}

static void predict(const ibx_bow *m, const sparse *f, float *probs) {
  double z[256];
  const int K = m->K;
  double mx = -INFINITY;
  for (int k = 0; k < K; k++) {
    double s = m->b[k];
    for (int i = 0; i < f->n; i++)
      s += (double)f->x[i] * m->w[(size_t)f->id[i] * K + k];
    z[k] = s;
    if (s > mx)
      mx = s;
  }
  double sum = 0.0;
  for (int k = 0; k < K; k++)
    sum += (z[k] = exp(z[k] - mx));
  for (int k = 0; k < K; k++)
    probs[k] = (float)(z[k] / sum);
}

typedef struct {
  long n;
  sparse *f;
  int32_t *labels;
  int32_t *id_store;
  float *x_store;
} featset;

static void featset_free(featset *s) {
  free(s->f), free(s->labels), free(s->id_store), free(s->x_store);
  memset(s, 0, sizeof *s);
}

static int featset_build(const ibx_text_dataset *ds, int V, featset *s) {
  memset(s, 0, sizeof *s);
  const long n = ibx_text_count(ds);
  const int L = ibx_text_max_len(ds);
  s->n = n;
  s->f = calloc((size_t)(n ? n : 1), sizeof *s->f);
  s->labels = malloc((size_t)(n ? n : 1) * sizeof *s->labels);
  s->id_store = malloc((size_t)(n ? n : 1) * (size_t)L * sizeof *s->id_store);
  s->x_store = malloc((size_t)(n ? n : 1) * (size_t)L * sizeof *s->x_store);
  int32_t *ids = malloc((size_t)L * sizeof *ids), *tmp = malloc((size_t)L * sizeof *tmp);
  int rc = IBX_OK;
  if (!s->f || !s->labels || !s->id_store || !s->x_store || !ids || !tmp)
    rc = ibx_fail(IBX_ERR_NOMEM, "bow: out of memory for %ld sequences", n);
  for (long i = 0; i < n && rc == IBX_OK; i++) {
    int len, label;
    rc = ibx_text_read(ds, i, ids, &len, &label);
    if (rc != IBX_OK)
      break;
    s->labels[i] = label;
    s->f[i].id = s->id_store + (size_t)i * L;
    s->f[i].x = s->x_store + (size_t)i * L;
    featurize(ids, len, V, tmp, &s->f[i]);
  }
  free(ids), free(tmp);
  if (rc != IBX_OK)
    featset_free(s);
  return rc;
}

static uint64_t splitmix64(uint64_t *st) {
  uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void shuffle(long *idx, long n, uint64_t *st) {
  for (long i = n - 1; i > 0; i--) {
    long j = (long)(splitmix64(st) % (uint64_t)(i + 1));
    long t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

/* Trains on the rows idx[0..n) of s. */
static int fit(const featset *s, const long *rows, long n, int V, int K, float l2,
               const ibx_bow_options *opt, ibx_bow **out) {
  ibx_bow *m = calloc(1, sizeof *m);
  const size_t P = (size_t)V * K + (size_t)K;
  float *params = calloc(P, sizeof *params), *grad = calloc(P, sizeof *grad);
  float *mom = calloc(P, sizeof *mom), *vel = calloc(P, sizeof *vel);
  long *order = malloc((size_t)(n ? n : 1) * sizeof *order);
  if (!m || !params || !grad || !mom || !vel || !order) {
    free(m), free(params), free(grad), free(mom), free(vel), free(order);
    return ibx_fail(IBX_ERR_NOMEM, "bow: out of memory");
  }
  m->V = V, m->K = K, m->l2 = l2, m->w = params, m->b = params + (size_t)V * K;
  memcpy(order, rows, (size_t)n * sizeof *order);
  uint64_t st = opt->seed * 0x9e3779b97f4a7c15ull + 7;
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  long t = 0;
  float probs[256];
  for (int e = 0; e < opt->epochs; e++) {
    shuffle(order, n, &st);
    for (long s0 = 0; s0 < n; s0 += opt->batch) {
      const long nb = n - s0 < opt->batch ? n - s0 : opt->batch;
      memset(grad, 0, P * sizeof *grad);
      for (long q = 0; q < nb; q++) {
        const long i = order[s0 + q];
        const sparse *f = &s->f[i];
        predict(m, f, probs);
        for (int k = 0; k < K; k++) {
          const float d = (probs[k] - (k == s->labels[i] ? 1.0f : 0.0f)) / (float)nb;
          for (int a = 0; a < f->n; a++)
            grad[(size_t)f->id[a] * K + k] += d * f->x[a];
          grad[(size_t)V * K + k] += d;
        }
      }
      for (size_t p = 0; p < (size_t)V * K; p++)
        grad[p] += l2 * params[p];
      t++;
      const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
      for (size_t p = 0; p < P; p++) {
        mom[p] = (float)(b1 * mom[p] + (1 - b1) * grad[p]);
        vel[p] = (float)(b2 * vel[p] + (1 - b2) * (double)grad[p] * grad[p]);
        params[p] -= (float)(opt->lr * (mom[p] / c1) / (sqrt(vel[p] / c2) + eps));
      }
    }
  }
  free(grad), free(mom), free(vel), free(order);
  *out = m;
  return IBX_OK;
}

static double accuracy_on(const ibx_bow *m, const featset *s, const long *rows, long n) {
  float probs[256];
  long ok = 0;
  for (long q = 0; q < n; q++) {
    const long i = rows ? rows[q] : q;
    predict(m, &s->f[i], probs);
    int best = 0;
    for (int k = 1; k < m->K; k++)
      if (probs[k] > probs[best])
        best = k;
    ok += best == s->labels[i];
  }
  return n > 0 ? (double)ok / (double)n : 0.0;
}

int ibx_bow_train(const ibx_text_dataset *train, const ibx_bow_options *opt, ibx_bow **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "bow: NULL output");
  *out = NULL;
  ibx_bow_options def;
  ibx_bow_options_default(&def);
  if (!opt)
    opt = &def;
  if (!train || ibx_text_count(train) < 1)
    return ibx_fail(IBX_ERR_ARG, "bow: no training sequences");
  if (opt->epochs < 1 || opt->batch < 1 || !(opt->lr > 0) || !(opt->val_fraction > 0) ||
      !(opt->val_fraction < 1))
    return ibx_fail(IBX_ERR_ARG, "bow: bad options (epochs %d, batch %d, lr %g, val %g)",
                    opt->epochs, opt->batch, opt->lr, opt->val_fraction);
  const int V = ibx_vocab_size(ibx_text_vocab(train)), K = ibx_text_num_classes(train);
  if (K < 1 || K > 256)
    return ibx_fail(IBX_ERR_ARG, "bow: %d classes (1..256)", K);
  featset s;
  IBX_TRY(featset_build(train, V, &s));
  long *all = malloc((size_t)s.n * sizeof *all);
  if (!all) {
    featset_free(&s);
    return ibx_fail(IBX_ERR_NOMEM, "bow: out of memory");
  }
  for (long i = 0; i < s.n; i++)
    all[i] = i;
  float l2 = opt->l2;
  int rc = IBX_OK;
  if (l2 < 0) {
    /* stratified validation split by seed */
    long *fit_rows = malloc((size_t)s.n * sizeof *fit_rows);
    long *val_rows = malloc((size_t)s.n * sizeof *val_rows);
    long *cls = malloc((size_t)s.n * sizeof *cls);
    long nfit = 0, nval = 0;
    if (!fit_rows || !val_rows || !cls)
      rc = ibx_fail(IBX_ERR_NOMEM, "bow: out of memory");
    uint64_t st = opt->seed * 0xbf58476d1ce4e5b9ull + 3;
    for (int k = 0; k < K && rc == IBX_OK; k++) {
      long m = 0;
      for (long i = 0; i < s.n; i++)
        if (s.labels[i] == k)
          cls[m++] = i;
      shuffle(cls, m, &st);
      const long nv = (long)lround(opt->val_fraction * (double)m);
      for (long q = 0; q < m; q++)
        if (q < nv)
          val_rows[nval++] = cls[q];
        else
          fit_rows[nfit++] = cls[q];
    }
    static const float grid[] = {1e-5f, 1e-4f, 1e-3f, 1e-2f};
    double best = -1.0;
    for (int g = 0; g < 4 && rc == IBX_OK && nval > 0; g++) {
      ibx_bow *m = NULL;
      rc = fit(&s, fit_rows, nfit, V, K, grid[g], opt, &m);
      if (rc != IBX_OK)
        break;
      const double acc = accuracy_on(m, &s, val_rows, nval);
      if (acc > best)
        best = acc, l2 = grid[g];
      ibx_bow_free(m);
    }
    if (l2 < 0)
      l2 = 1e-4f; /* no validation rows (tiny data) */
    free(fit_rows), free(val_rows), free(cls);
  }
  if (rc == IBX_OK)
    rc = fit(&s, all, s.n, V, K, l2, opt, out);
  free(all);
  featset_free(&s);
  return rc;
}

int ibx_bow_evaluate(const ibx_bow *m, const ibx_text_dataset *ds, double *accuracy,
                     double *mean_loss) {
  if (!m || !ds)
    return ibx_fail(IBX_ERR_ARG, "bow: NULL model or dataset");
  if (ibx_vocab_size(ibx_text_vocab(ds)) != m->V || ibx_text_num_classes(ds) != m->K)
    return ibx_fail(IBX_ERR_ARG, "bow: %s has %d ids and %d classes, the model %d and %d",
                    ibx_text_name(ds), ibx_vocab_size(ibx_text_vocab(ds)),
                    ibx_text_num_classes(ds), m->V, m->K);
  featset s;
  IBX_TRY(featset_build(ds, m->V, &s));
  float probs[256];
  double loss = 0.0;
  long ok = 0;
  for (long i = 0; i < s.n; i++) {
    predict(m, &s.f[i], probs);
    int best = 0;
    for (int k = 1; k < m->K; k++)
      if (probs[k] > probs[best])
        best = k;
    ok += best == s.labels[i];
    loss -= log(fmax((double)probs[s.labels[i]], 1e-30));
  }
  if (accuracy)
    *accuracy = s.n ? (double)ok / (double)s.n : 0.0;
  if (mean_loss)
    *mean_loss = s.n ? loss / (double)s.n : 0.0;
  featset_free(&s);
  return IBX_OK;
}

int ibx_bow_classify(void *ctx, const int32_t *ids, const int *lengths, int batch, int max_len,
                     float *probs) {
  const ibx_bow *m = ctx;
  if (!m || !ids || !lengths || !probs || batch < 0 || max_len < 1)
    return ibx_fail(IBX_ERR_ARG, "bow classify: bad arguments");
  int32_t *id = malloc((size_t)max_len * sizeof *id), *tmp = malloc((size_t)max_len * sizeof *tmp);
  float *x = malloc((size_t)max_len * sizeof *x);
  if (!id || !tmp || !x) {
    free(id), free(tmp), free(x);
    return ibx_fail(IBX_ERR_NOMEM, "bow classify: out of memory");
  }
  for (int q = 0; q < batch; q++) {
    sparse f = {0, id, x};
    int len = lengths[q] < 0 ? 0 : lengths[q] > max_len ? max_len : lengths[q];
    featurize(ids + (size_t)q * max_len, len, m->V, tmp, &f);
    predict(m, &f, probs + (size_t)q * m->K);
  }
  free(id), free(tmp), free(x);
  return IBX_OK;
}

int ibx_bow_num_classes(const ibx_bow *m) { return m ? m->K : 0; }
int ibx_bow_vocab_size(const ibx_bow *m) { return m ? m->V : 0; }
float ibx_bow_l2(const ibx_bow *m) { return m ? m->l2 : 0.0f; }
const float *ibx_bow_weights(const ibx_bow *m) { return m ? m->w : NULL; }
const float *ibx_bow_bias(const ibx_bow *m) { return m ? m->b : NULL; }

void ibx_bow_free(ibx_bow *m) {
  if (!m)
    return;
  free(m->w); /* w and b share one allocation */
  free(m);
}
