/* Text datasets: the memory-backed token-id dataset every text reader
 * returns, building one from raw texts, and opening one by name. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "text_internal.h"

ibx_text_dataset *ibxt_new(const char *fmt, ...) {
  ibx_text_dataset *ds = calloc(1, sizeof *ds);
  if (!ds) {
    ibx_fail(IBX_ERR_NOMEM, "text dataset: out of memory");
    return NULL;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ds->name, sizeof ds->name, fmt, ap);
  va_end(ap);
  return ds;
}

int ibxt_alloc(ibx_text_dataset *ds, long count, int max_len) {
  if (count < 0 || max_len < 2)
    return ibx_fail(IBX_ERR_ARG, "text dataset: %s: bad size %ld x %d", ds->name, count, max_len);
  size_t n = count > 0 ? (size_t)count : 1;
  ds->ids = malloc(n * (size_t)max_len * sizeof *ds->ids);
  ds->lengths = malloc(n * sizeof *ds->lengths);
  ds->labels = malloc(n * sizeof *ds->labels);
  if (!ds->ids || !ds->lengths || !ds->labels)
    return ibx_fail(IBX_ERR_NOMEM, "text dataset: %s: out of memory for %ld sequences", ds->name,
                    count);
  ds->count = count;
  ds->max_len = max_len;
  return IBX_OK;
}

int ibxt_set_classes(ibx_text_dataset *ds, const char *const *names, int n) {
  if (n < 1)
    return ibx_fail(IBX_ERR_ARG, "text dataset: %s: needs at least one class", ds->name);
  ds->class_names = calloc((size_t)n, sizeof *ds->class_names);
  if (!ds->class_names)
    return ibx_fail(IBX_ERR_NOMEM, "text dataset: out of memory");
  ds->num_classes = n;
  for (int k = 0; k < n; k++) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%d", k);
    ds->class_names[k] = strdup(names && names[k] ? names[k] : tmp);
    if (!ds->class_names[k])
      return ibx_fail(IBX_ERR_NOMEM, "text dataset: out of memory");
  }
  return IBX_OK;
}

long ibx_text_count(const ibx_text_dataset *ds) { return ds ? ds->count : 0; }
int ibx_text_max_len(const ibx_text_dataset *ds) { return ds ? ds->max_len : 0; }
int ibx_text_num_classes(const ibx_text_dataset *ds) { return ds ? ds->num_classes : 0; }
const char *ibx_text_class_name(const ibx_text_dataset *ds, int k) {
  return ds && k >= 0 && k < ds->num_classes ? ds->class_names[k] : NULL;
}
const ibx_vocab *ibx_text_vocab(const ibx_text_dataset *ds) { return ds ? ds->vocab : NULL; }
const char *ibx_text_name(const ibx_text_dataset *ds) { return ds ? ds->name : ""; }

const char *ibx_text_raw(const ibx_text_dataset *ds, long i) {
  if (!ds || !ds->text_bytes || !ds->text_offsets || i < 0 || i >= ds->count)
    return NULL;
  return ds->text_bytes + ds->text_offsets[i];
}

int ibx_text_read(const ibx_text_dataset *ds, long i, int32_t *ids, int *length, int *label) {
  if (!ds)
    return ibx_fail(IBX_ERR_ARG, "text dataset: NULL dataset");
  if (i < 0 || i >= ds->count)
    return ibx_fail(IBX_ERR_ARG, "text dataset: %s: sequence %ld out of range [0, %ld)", ds->name,
                    i, ds->count);
  if (ids)
    memcpy(ids, ds->ids + (size_t)i * (size_t)ds->max_len, (size_t)ds->max_len * sizeof *ids);
  if (length)
    *length = ds->lengths[i];
  if (label)
    *label = ds->labels[i];
  return IBX_OK;
}

void ibx_text_close(ibx_text_dataset *ds) {
  if (!ds)
    return;
  for (int k = 0; ds->class_names && k < ds->num_classes; k++)
    free(ds->class_names[k]);
  free(ds->class_names);
  ibx_vocab_free(ds->vocab);
  free(ds->ids), free(ds->lengths), free(ds->labels);
  free(ds->text_bytes), free(ds->text_offsets);
  free(ds);
}

void ibx_text_options_default(ibx_text_options *opt) {
  if (!opt)
    return;
  opt->max_len = 128;
  opt->vocab_size = 4000;
  opt->min_freq = 2;
  opt->split_seed = 12;
  opt->validation = 0;
  opt->validation_fold = 0;
  opt->validation_folds = 5;
  opt->vocab = NULL;
}

int ibx_text_dataset_from_texts(const char *const *texts, const int32_t *labels, long n,
                                const char *const *class_names, int num_classes,
                                const ibx_vocab *vocab, int max_len, const char *name,
                                ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "text dataset: NULL output");
  *out = NULL;
  if ((!texts || !labels) && n > 0)
    return ibx_fail(IBX_ERR_ARG, "text dataset: NULL texts or labels");
  if (!vocab)
    return ibx_fail(IBX_ERR_ARG, "text dataset: %s: no vocabulary", name ? name : "");
  if (max_len < 2)
    return ibx_fail(IBX_ERR_ARG, "text dataset: max_len %d must be at least 2", max_len);
  if (num_classes < 1)
    return ibx_fail(IBX_ERR_ARG, "text dataset: %s: no classes", name ? name : "");
  for (long i = 0; i < n; i++) {
    if (labels[i] < 0 || labels[i] >= num_classes)
      return ibx_fail(IBX_ERR_FORMAT, "text dataset: %s: text %ld has label %d outside [0, %d)",
                      name ? name : "", i, (int)labels[i], num_classes);
    if (!texts[i])
      return ibx_fail(IBX_ERR_FORMAT, "text dataset: %s: text %ld is missing", name ? name : "",
                      i);
  }
  ibx_text_dataset *ds = ibxt_new("%s", name ? name : "texts");
  if (!ds)
    return IBX_ERR_NOMEM;
  int rc = ibxt_alloc(ds, n, max_len);
  if (rc == IBX_OK)
    rc = ibxt_set_classes(ds, class_names, num_classes);
  if (rc == IBX_OK)
    rc = ibx_vocab_copy(vocab, &ds->vocab);
  size_t total = 0;
  for (long i = 0; i < n; i++)
    total += strlen(texts[i]) + 1;
  if (rc == IBX_OK) {
    ds->text_bytes = malloc(total ? total : 1);
    ds->text_offsets = malloc((size_t)(n + 1) * sizeof *ds->text_offsets);
    if (!ds->text_bytes || !ds->text_offsets)
      rc = ibx_fail(IBX_ERR_NOMEM, "text dataset: %s: out of memory", ds->name);
  }
  size_t off = 0;
  for (long i = 0; i < n && rc == IBX_OK; i++) {
    int len;
    rc = ibx_tokenize(ds->vocab, texts[i], max_len, ds->ids + (size_t)i * (size_t)max_len, &len);
    ds->lengths[i] = len;
    ds->labels[i] = labels[i];
    size_t tl = strlen(texts[i]) + 1;
    memcpy(ds->text_bytes + off, texts[i], tl);
    ds->text_offsets[i] = (int64_t)off;
    off += tl;
  }
  if (rc == IBX_OK)
    ds->text_offsets[n] = (int64_t)off;
  if (rc != IBX_OK) {
    ibx_text_close(ds);
    return rc;
  }
  *out = ds;
  return IBX_OK;
}

int ibxt_corpus_add(ibxt_corpus *c, char *text, int32_t label) {
  if (c->n == c->cap) {
    long cap = c->cap ? 2 * c->cap : 256;
    char **t = realloc(c->texts, (size_t)cap * sizeof *t);
    if (t)
      c->texts = t;
    int32_t *l = realloc(c->labels, (size_t)cap * sizeof *l);
    if (l)
      c->labels = l;
    if (!t || !l) {
      free(text);
      return ibx_fail(IBX_ERR_NOMEM, "text dataset: out of memory");
    }
    c->cap = cap;
  }
  c->texts[c->n] = text;
  c->labels[c->n] = label;
  c->n++;
  return IBX_OK;
}

void ibxt_corpus_free(ibxt_corpus *c) {
  for (long i = 0; i < c->n; i++)
    free(c->texts[i]);
  free(c->texts);
  free(c->labels);
  memset(c, 0, sizeof *c);
}

int ibxt_dataset_from_corpus(const ibxt_corpus *split, const ibxt_corpus *train,
                             const char *const *class_names, int num_classes,
                             const ibx_text_options *opt, const char *name,
                             ibx_text_dataset **out) {
  ibx_vocab *learned = NULL;
  const ibx_vocab *vocab = opt->vocab;
  if (!vocab) {
    int rc = ibx_wordpiece_train((const char *const *)train->texts, train->n, opt->vocab_size,
                                 opt->min_freq, &learned);
    if (rc != IBX_OK) {
      char why[512]; /* ibx_fail writes the buffer ibx_errmsg returns */
      snprintf(why, sizeof why, "%s", ibx_errmsg());
      return ibx_fail(rc, "%s: %s", name, why);
    }
    vocab = learned;
  }
  int rc = ibx_text_dataset_from_texts((const char *const *)split->texts, split->labels, split->n,
                                       class_names, num_classes, vocab, opt->max_len, name, out);
  ibx_vocab_free(learned);
  return rc;
}

int ibxt_check_options(const ibx_text_options *opt) {
  if (opt->max_len < 2)
    return ibx_fail(IBX_ERR_ARG, "text options: max_len %d must be at least 2", opt->max_len);
  if (!opt->vocab && opt->vocab_size <= IBX_TOK_NUM_SPECIAL)
    return ibx_fail(IBX_ERR_ARG, "text options: vocab_size %d must exceed %d", opt->vocab_size,
                    IBX_TOK_NUM_SPECIAL);
  if (!opt->vocab && opt->min_freq < 1)
    return ibx_fail(IBX_ERR_ARG, "text options: min_freq %d must be at least 1", opt->min_freq);
  if (!opt->validation && (opt->validation_fold != 0 || opt->validation_folds != 5))
    return ibx_fail(IBX_ERR_ARG, "text options: validation fold %d of %d given without "
                    "validation", opt->validation_fold, opt->validation_folds);
  if (opt->validation_folds < 2 || opt->validation_folds > IBX_TEXT_MAX_FOLDS)
    return ibx_fail(IBX_ERR_ARG, "text options: validation_folds %d must be in 2..%d",
                    opt->validation_folds, IBX_TEXT_MAX_FOLDS);
  if (opt->validation_fold < 0 || opt->validation_fold >= opt->validation_folds)
    return ibx_fail(IBX_ERR_ARG, "text options: validation_fold %d must be in 0..%d (%d folds)",
                    opt->validation_fold, opt->validation_folds - 1, opt->validation_folds);
  return IBX_OK;
}

int ibx_text_is_text_name(const char *name) {
  return name && (!strcmp(name, "fortunes") || !strcmp(name, "fortunes-corpus") ||
                  !strcmp(name, "imdb"));
}

int ibxt_check_split(const char *what, const char *split) {
  if (!split || (strcmp(split, "train") && strcmp(split, "test")))
    return ibx_fail(IBX_ERR_ARG, "%s: split must be train or test, got '%s'", what,
                    split ? split : "(null)");
  return IBX_OK;
}

int ibx_text_open(const char *name, const char *path, const char *split,
                  const ibx_text_options *opt, ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "text dataset: NULL output");
  *out = NULL;
  if (!name)
    return ibx_fail(IBX_ERR_ARG, "text dataset: no name");
  char what[256];
  snprintf(what, sizeof what, "text dataset %s", name);
  IBX_TRY(ibxt_check_split(what, split));
  ibx_text_options def;
  ibx_text_options_default(&def);
  if (!opt)
    opt = &def;
  if (!strcmp(name, "h5")) {
    if (!path || !*path)
      return ibx_fail(IBX_ERR_ARG, "text dataset h5: needs a directory holding %s.h5", split);
    if (opt->vocab)
      return ibx_fail(IBX_ERR_ARG, "text dataset h5: the file carries its own vocabulary");
    char file[4096];
    if (snprintf(file, sizeof file, "%s/%s.h5", path, split) >= (int)sizeof file)
      return ibx_fail(IBX_ERR_ARG, "text dataset h5: path too long");
    return ibx_text_open_h5(file, out);
  }
  IBX_TRY(ibxt_check_options(opt));
  if (!strcmp(name, "fortunes"))
    return ibx_text_open_fortunes(path, split, opt, out);
  if (!strcmp(name, "fortunes-corpus"))
    return ibx_text_open_fortunes_corpus(path, split, opt, out);
  if (!strcmp(name, "imdb")) {
    if (!path || !*path)
      return ibx_fail(IBX_ERR_ARG, "text dataset imdb: needs the aclImdb directory");
    return ibx_text_open_imdb(path, split, opt, out);
  }
  return ibx_fail(IBX_ERR_ARG, "unknown text dataset '%s' (fortunes, fortunes-corpus, imdb, h5)", name);
}

int ibx_text_learn_vocab(const char *name, const char *path, const ibx_text_options *opt,
                         ibx_vocab **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "text vocabulary: NULL output");
  *out = NULL;
  if (!name || !ibx_text_is_text_name(name))
    return ibx_fail(IBX_ERR_ARG, "text vocabulary: '%s' is not a raw text source (fortunes, "
                    "fortunes-corpus, imdb)", name ? name : "(null)");
  ibx_text_options o;
  ibx_text_options_default(&o);
  if (opt)
    o = *opt;
  o.vocab = NULL;
  o.max_len = 2; /* only the vocabulary is wanted: tokenize nothing */
  ibx_text_dataset *train = NULL;
  IBX_TRY(ibx_text_open(name, path, "train", &o, &train));
  int rc = ibx_vocab_copy(ibx_text_vocab(train), out);
  ibx_text_close(train);
  return rc;
}

int ibx_text_open_named(const char *name, const char *path, const char *split,
                        ibx_text_dataset **out) {
  return ibx_text_open(name, path, split, NULL, out);
}
