/* Raw text sources: IMDB's aclImdb directory and the fortunes category
 * files (the embedded default). Both read every text at open, sanitise it
 * (invalid UTF-8 -> U+FFFD, NUL -> space) and tokenize it with the train
 * split's WordPiece vocabulary. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"
#include "ibx/error.h"
#include "text_internal.h"

/* A NUL-terminated copy of data[0..n) with invalid UTF-8 bytes replaced by
 * U+FFFD and NUL bytes by spaces; NULL on NOMEM. */
static char *sanitize(const uint8_t *data, size_t n) {
  char *out = malloc(3 * n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    int32_t cp;
    int len = ibxt_utf8_decode(data + i, n - i, &cp);
    if (cp < 0) {
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
    } else if (cp == 0) {
      out[o++] = ' ';
    } else {
      memcpy(out + o, data + i, (size_t)len);
      o += (size_t)len;
    }
    i += (size_t)len;
  }
  out[o] = '\0';
  char *shrunk = realloc(out, o + 1);
  return shrunk ? shrunk : out;
}

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
      return 0;
  return 1;
}

/* ---- IMDB ----------------------------------------------------------------- */

static const char *const imdb_classes[2] = {"neg", "pos"};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replaces every "<br />" (IMDB's line breaks) by a newline, in place. */
static void imdb_breaks(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (!strncmp(r, "<br />", 6)) {
      *w++ = '\n';
      r += 6;
    } else if (!strncmp(r, "<br/>", 5)) {
      *w++ = '\n';
      r += 5;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* Appends a copy of name to the growing array *names (*n used, *cap
 * allocated); `what` and `dir` name the listing in the error. */
static int push_name(char ***names, long *n, long *cap, const char *name, const char *what,
                     const char *dir) {
  if (*n == *cap) {
    const long grown = *cap ? 2 * *cap : 64;
    char **nn = realloc(*names, (size_t)grown * sizeof *nn);
    if (!nn)
      return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory listing %s", what, dir);
    *names = nn, *cap = grown;
  }
  if (!((*names)[*n] = strdup(name)))
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory listing %s", what, dir);
  (*n)++;
  return IBX_OK;
}

static int imdb_read_class(const char *dir, const char *split, int label, ibxt_corpus *c) {
  char sub[4096];
  if (snprintf(sub, sizeof sub, "%s/%s/%s", dir, split, imdb_classes[label]) >= (int)sizeof sub)
    return ibx_fail(IBX_ERR_ARG, "imdb: path too long: %s", dir);
  DIR *d = opendir(sub);
  if (!d)
    return ibx_fail(IBX_ERR_IO, "imdb: cannot open %s: %s (expected the aclImdb layout "
                    "%s/{train,test}/{neg,pos}/*.txt)", sub, strerror(errno), dir);
  char **names = NULL;
  long n = 0, cap = 0;
  int rc = IBX_OK;
  struct dirent *e;
  while (rc == IBX_OK && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".txt") || e->d_name[0] == '.')
      continue;
    rc = push_name(&names, &n, &cap, e->d_name, "imdb", sub);
  }
  closedir(d);
  if (rc == IBX_OK && n == 0)
    rc = ibx_fail(IBX_ERR_FORMAT, "imdb: %s holds no *.txt review (missing labels)", sub);
  if (rc == IBX_OK)
    qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (long k = 0; k < n && rc == IBX_OK; k++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", sub, names[k]);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue; /* a directory or a dangling link named *.txt */
    uint8_t *data;
    size_t size;
    rc = ibxd_load_file(path, "imdb", NULL, &data, &size);
    if (rc != IBX_OK)
      break;
    char *text = sanitize(data, size);
    free(data);
    if (!text) {
      rc = ibx_fail(IBX_ERR_NOMEM, "imdb: out of memory reading %s", path);
      break;
    }
    imdb_breaks(text);
    if (blank(text)) {
      free(text);
      rc = ibx_fail(IBX_ERR_FORMAT, "imdb: %s: empty review (%zu bytes of whitespace)", path,
                    size);
      break;
    }
    rc = ibxt_corpus_add(c, text, label);
  }
  for (long k = 0; k < n; k++)
    free(names[k]);
  free(names);
  return rc;
}

static int imdb_read(const char *dir, const char *split, ibxt_corpus *c) {
  int rc = imdb_read_class(dir, split, 0, c);
  if (rc == IBX_OK)
    rc = imdb_read_class(dir, split, 1, c);
  return rc;
}

int ibx_text_open_imdb(const char *dir, const char *split, const ibx_text_options *opt,
                       ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "imdb: NULL output");
  *out = NULL;
  if (!dir || !*dir)
    return ibx_fail(IBX_ERR_ARG, "imdb: no directory given");
  IBX_TRY(ibxt_check_split("imdb", split));
  ibx_text_options def;
  ibx_text_options_default(&def);
  if (!opt)
    opt = &def;
  ibxt_corpus data = {0}, train = {0};
  int rc = imdb_read(dir, split, &data);
  int need_train = rc == IBX_OK && !opt->vocab && strcmp(split, "train") != 0;
  if (need_train)
    rc = imdb_read(dir, "train", &train);
  char name[300];
  snprintf(name, sizeof name, "imdb %s", split);
  if (rc == IBX_OK)
    rc = ibxt_dataset_from_corpus(&data, need_train ? &train : &data, imdb_classes, 2, opt, name,
                                  out);
  ibxt_corpus_free(&data);
  ibxt_corpus_free(&train);
  return rc;
}

/* ---- fortunes --------------------------------------------------------------- */

const char *const ibx_fortunes_classes[IBX_FORTUNES_NUM_CLASSES] = {"computers", "politics",
                                                                   "science", "songs-poems"};

/* Splits one fortune file into entries (separated by lines that are "%"),
 * trimmed; blank entries are skipped. */
static int fortunes_read_named(const char *dir, const char *file, int label, ibxt_corpus *c) {
  char path[4096];
  IBX_TRY(ibxd_join(path, sizeof path, dir, file));
  uint8_t *data;
  size_t size;
  IBX_TRY(ibxd_load_file(path, "fortunes", "(Debian package fortunes)", &data, &size));
  char *all = sanitize(data, size);
  free(data);
  if (!all)
    return ibx_fail(IBX_ERR_NOMEM, "fortunes: out of memory reading %s", path);
  int rc = IBX_OK;
  long before = c->n;
  char *p = all;
  while (*p && rc == IBX_OK) {
    /* find the next line that is exactly "%" */
    char *start = p, *end = NULL, *next = NULL;
    for (char *line = p; *line;) {
      char *nl = strchr(line, '\n');
      size_t len = nl ? (size_t)(nl - line) : strlen(line);
      if ((len == 1 && line[0] == '%') || (len == 2 && line[0] == '%' && line[1] == '\r')) {
        end = line;
        next = nl ? nl + 1 : line + len;
        break;
      }
      line = nl ? nl + 1 : line + len;
    }
    if (!end) {
      end = start + strlen(start);
      next = end;
    }
    while (end > start && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
      end--;
    while (start < end && (*start == '\n' || *start == '\r'))
      start++;
    if (end > start) {
      size_t len = (size_t)(end - start);
      char *text = malloc(len + 1);
      if (!text)
        rc = ibx_fail(IBX_ERR_NOMEM, "fortunes: out of memory");
      else {
        memcpy(text, start, len);
        text[len] = '\0';
        if (blank(text))
          free(text);
        else
          rc = ibxt_corpus_add(c, text, label);
      }
    }
    p = next;
  }
  free(all);
  if (rc == IBX_OK && c->n == before)
    rc = ibx_fail(IBX_ERR_FORMAT, "fortunes: %s holds no fortune (empty file)", path);
  return rc;
}

static int fortunes_read_file(const char *dir, int label, ibxt_corpus *c) {
  return fortunes_read_named(dir, ibx_fortunes_classes[label], label, c);
}

typedef struct {
  const char *text;
  int label;
  long index; /* position in the corpus */
} entry_ref;

static int cmp_entry(const void *a, const void *b) {
  const entry_ref *x = a, *y = b;
  int c = strcmp(x->text, y->text);
  if (c)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Marks keep[i] = 0 for repeated texts: every copy after the first when all
 * copies have the same label, every copy when the labels differ. */
static int dedupe(const ibxt_corpus *c, unsigned char *keep) {
  entry_ref *r = malloc((size_t)(c->n ? c->n : 1) * sizeof *r);
  if (!r)
    return ibx_fail(IBX_ERR_NOMEM, "fortunes: out of memory");
  for (long i = 0; i < c->n; i++)
    r[i] = (entry_ref){c->texts[i], c->labels[i], i}, keep[i] = 1;
  qsort(r, (size_t)c->n, sizeof *r, cmp_entry);
  for (long i = 0; i < c->n;) {
    long j = i + 1;
    int same = 1;
    while (j < c->n && !strcmp(r[j].text, r[i].text)) {
      same &= r[j].label == r[i].label;
      j++;
    }
    for (long k = i + 1; k < j; k++)
      keep[r[k].index] = 0;
    if (!same)
      keep[r[i].index] = 0;
    i = j;
  }
  free(r);
  return IBX_OK;
}

/* Moves the kept entries of `all` into *train and *test, stratified by
 * label: each class's entries are shuffled by seed and cut into `folds`
 * consecutive runs of near-equal size (run f: positions [b_f, b_f+1) with
 * b_f = round(f m / folds)); run `fold` goes to *test, the others to *train,
 * each in the order of `all`. Fold 0 of 5 is the first round(m / 5) =
 * (m + 2) / 5 entries: the 80/20 split ibx has always made. */
static int fortunes_split(ibxt_corpus *all, uint64_t seed, int fold, int folds,
                          ibxt_corpus *train, ibxt_corpus *test) {
  unsigned char *keep = malloc((size_t)(all->n ? all->n : 1));
  if (!keep)
    return ibx_fail(IBX_ERR_NOMEM, "fortunes: out of memory");
  int rc = dedupe(all, keep);
  unsigned char *is_test = calloc((size_t)(all->n ? all->n : 1), 1);
  long *idx = malloc((size_t)(all->n ? all->n : 1) * sizeof *idx);
  if (rc == IBX_OK && (!is_test || !idx))
    rc = ibx_fail(IBX_ERR_NOMEM, "fortunes: out of memory");
  for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES && rc == IBX_OK; k++) {
    long m = 0;
    for (long i = 0; i < all->n; i++)
      if (keep[i] && all->labels[i] == k)
        idx[m++] = i;
    uint64_t state = seed * 0x100000001b3ull + (uint64_t)k;
    for (long i = m - 1; i > 0; i--) { /* Fisher-Yates */
      long j = (long)(splitmix64(&state) % (uint64_t)(i + 1));
      long t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    const long lo = (2 * (long)fold * m + folds) / (2 * folds); /* round(fold m / folds) */
    const long hi = (2 * (long)(fold + 1) * m + folds) / (2 * folds);
    for (long i = lo; i < hi; i++)
      is_test[idx[i]] = 1;
  }
  for (long i = 0; i < all->n && rc == IBX_OK; i++) {
    if (!keep[i]) {
      free(all->texts[i]);
    } else {
      rc = ibxt_corpus_add(is_test[i] ? test : train, all->texts[i], all->labels[i]);
    }
    all->texts[i] = NULL;
  }
  free(keep), free(is_test), free(idx);
  return rc;
}

/* The labelled dataset's two splits (the 4 category files, deduplicated,
 * stratified 80/20 by seed). */
static int fortunes_labelled(const char *dir, uint64_t seed, ibxt_corpus *train,
                             ibxt_corpus *test) {
  ibxt_corpus all = {0};
  int rc = IBX_OK;
  for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES && rc == IBX_OK; k++)
    rc = fortunes_read_file(dir, k, &all);
  if (rc == IBX_OK)
    rc = fortunes_split(&all, seed, 0, 5, train, test); /* 80 / 20 */
  ibxt_corpus_free(&all);
  return rc;
}

int ibx_text_open_fortunes(const char *dir, const char *split, const ibx_text_options *opt,
                           ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "fortunes: NULL output");
  *out = NULL;
  IBX_TRY(ibxt_check_split("fortunes", split));
  if (!dir || !*dir)
    dir = IBX_FORTUNES_DIR;
  ibx_text_options def;
  ibx_text_options_default(&def);
  if (!opt)
    opt = &def;
  IBX_TRY(ibxt_check_options(opt));
  ibxt_corpus train = {0}, test = {0};
  int rc = fortunes_labelled(dir, opt->split_seed, &train, &test);
  const int fold = opt->validation_fold, folds = opt->validation_folds;
  if (rc == IBX_OK && opt->validation) { /* train -> the other folds + fold `fold` */
    ibxt_corpus_free(&test);
    ibxt_corpus all = train;
    memset(&train, 0, sizeof train);
    rc = fortunes_split(&all, opt->split_seed * 31 + 0x56414cULL, fold, folds, &train, &test);
    ibxt_corpus_free(&all);
  }
  char name[300];
  if (!opt->validation)
    snprintf(name, sizeof name, "fortunes %s", split);
  else if (fold == 0 && folds == 5) /* the split's name before folds existed */
    snprintf(name, sizeof name, "fortunes %s", !strcmp(split, "test")
                                                   ? "validation (20 % of the train split)"
                                                   : "train (80 %)");
  else if (!strcmp(split, "test"))
    snprintf(name, sizeof name, "fortunes validation (fold %d of %d of the train split)", fold,
             folds);
  else
    snprintf(name, sizeof name, "fortunes train (the train split without fold %d of %d)", fold,
             folds);
  if (rc == IBX_OK)
    rc = ibxt_dataset_from_corpus(strcmp(split, "test") ? &train : &test, &train,
                                  ibx_fortunes_classes, IBX_FORTUNES_NUM_CLASSES, opt, name, out);
  ibxt_corpus_free(&train);
  ibxt_corpus_free(&test);
  return rc;
}

/* ---- the pre-training corpus (fortunes-corpus) ------------------------------ */

const char *const ibx_fortunes_corpus_classes[1] = {"text"};

typedef struct {
  char *buf;
  size_t n, cap;
} key_buf;

static int key_word(const char *word, int nbytes, int begin, int end, void *ctx) {
  (void)begin, (void)end;
  key_buf *k = ctx;
  if (k->n + (size_t)nbytes + 2 > k->cap) {
    size_t cap = 2 * k->cap + (size_t)nbytes + 64;
    char *b = realloc(k->buf, cap);
    if (!b)
      return IBX_ERR_NOMEM;
    k->buf = b, k->cap = cap;
  }
  if (k->n)
    k->buf[k->n++] = ' ';
  memcpy(k->buf + k->n, word, (size_t)nbytes);
  k->n += (size_t)nbytes;
  k->buf[k->n] = '\0';
  return 0;
}

char *ibx_text_normalized_key(const char *utf8) {
  key_buf k = {calloc(1, 64), 0, 64};
  if (!k.buf)
    return NULL;
  if (ibx_basic_tokenize(utf8, key_word, &k) != 0) {
    free(k.buf);
    return NULL;
  }
  return k.buf;
}

typedef struct {
  char *key;
  long index; /* position in the pool */
} key_ref;

static int cmp_key_ref(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The normalised keys of a corpus, sorted (for bsearch); NULL on NOMEM. */
static char **sorted_keys(const ibxt_corpus *c) {
  char **k = calloc((size_t)(c->n ? c->n : 1), sizeof *k);
  for (long i = 0; k && i < c->n; i++)
    if (!(k[i] = ibx_text_normalized_key(c->texts[i]))) {
      for (long j = 0; j < i; j++)
        free(k[j]);
      free(k);
      return NULL;
    }
  if (k)
    qsort(k, (size_t)c->n, sizeof *k, cmp_cstr);
  return k;
}

static void free_keys(char **k, long n) {
  for (long i = 0; k && i < n; i++)
    free(k[i]);
  free(k);
}

static int has_key(char **sorted, long n, const char *key) {
  return n > 0 && bsearch(&key, sorted, (size_t)n, sizeof *sorted, cmp_cstr) != NULL;
}

/* Every fortune file of dir (regular files without a dot in their name:
 * not the *.dat indexes, not the *.u8 links, not subdirectories such as
 * off/), in name order, into pool. */
static int corpus_read_all(const char *dir, ibxt_corpus *pool) {
  DIR *d = opendir(dir);
  if (!d)
    return ibx_fail(IBX_ERR_IO, "fortunes-corpus: cannot open %s: %s (Debian package fortunes)",
                    dir, strerror(errno));
  char **names = NULL;
  long n = 0, cap = 0;
  int rc = IBX_OK;
  struct dirent *e;
  while (rc == IBX_OK && (e = readdir(d))) {
    if (strchr(e->d_name, '.'))
      continue;
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
        stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    rc = push_name(&names, &n, &cap, e->d_name, "fortunes-corpus", dir);
  }
  closedir(d);
  if (rc == IBX_OK)
    qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (long k = 0; k < n && rc == IBX_OK; k++)
    rc = fortunes_read_named(dir, names[k], 0, pool);
  for (long k = 0; k < n; k++)
    free(names[k]);
  free(names);
  return rc;
}

/* Held out for the masked-language-model evaluation: 1 in 20 of the
 * unlabelled texts, by a hash of the normalised text and the seed. */
static int corpus_held_out(const char *key, uint64_t seed) {
  uint64_t s = ibxt_hash(key, strlen(key)) ^ (seed * 0x9e3779b97f4a7c15ull);
  return splitmix64(&s) % 20 == 0;
}

/* pool -> train/test of the corpus: one copy of each normalised text, none
 * equal to a labelled test text; labelled train texts always train. */
static int corpus_split(ibxt_corpus *pool, char **ltest, long n_ltest, char **ltrain,
                        long n_ltrain, uint64_t seed, ibxt_corpus *train, ibxt_corpus *test,
                        long *excluded) {
  key_ref *r = calloc((size_t)(pool->n ? pool->n : 1), sizeof *r);
  unsigned char *keep = calloc((size_t)(pool->n ? pool->n : 1), 1);
  unsigned char *held = calloc((size_t)(pool->n ? pool->n : 1), 1);
  int rc = r && keep && held ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "fortunes-corpus: out of memory");
  for (long i = 0; i < pool->n && rc == IBX_OK; i++) {
    r[i].index = i;
    if (!(r[i].key = ibx_text_normalized_key(pool->texts[i])))
      rc = ibx_fail(IBX_ERR_NOMEM, "fortunes-corpus: out of memory");
  }
  if (rc == IBX_OK)
    qsort(r, (size_t)pool->n, sizeof *r, cmp_key_ref);
  *excluded = 0;
  for (long i = 0; i < pool->n && rc == IBX_OK;) {
    long j = i + 1;
    while (j < pool->n && !strcmp(r[j].key, r[i].key))
      j++;
    if (!r[i].key[0]) {
      /* nothing a tokenizer would see */
    } else if (has_key(ltest, n_ltest, r[i].key)) {
      *excluded += j - i;
    } else {
      keep[r[i].index] = 1;
      held[r[i].index] =
          !has_key(ltrain, n_ltrain, r[i].key) && corpus_held_out(r[i].key, seed);
    }
    i = j;
  }
  for (long i = 0; i < pool->n && rc == IBX_OK; i++) {
    if (keep[i]) {
      rc = ibxt_corpus_add(held[i] ? test : train, pool->texts[i], 0);
      pool->texts[i] = NULL;
    }
  }
  for (long i = 0; r && i < pool->n; i++)
    free(r[i].key);
  free(r), free(keep), free(held);
  return rc;
}

int ibx_text_open_fortunes_corpus(const char *dir, const char *split,
                                  const ibx_text_options *opt, ibx_text_dataset **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "fortunes-corpus: NULL output");
  *out = NULL;
  IBX_TRY(ibxt_check_split("fortunes-corpus", split));
  if (!dir || !*dir)
    dir = IBX_FORTUNES_DIR;
  ibx_text_options def;
  ibx_text_options_default(&def);
  if (!opt)
    opt = &def;
  ibxt_corpus ltrain = {0}, ltest = {0}, pool = {0}, train = {0}, test = {0};
  char **ktest = NULL, **ktrain = NULL;
  long excluded = 0;
  int rc = fortunes_labelled(dir, opt->split_seed, &ltrain, &ltest);
  if (rc == IBX_OK) {
    ktest = sorted_keys(&ltest);
    ktrain = sorted_keys(&ltrain);
    if (!ktest || !ktrain)
      rc = ibx_fail(IBX_ERR_NOMEM, "fortunes-corpus: out of memory");
  }
  if (rc == IBX_OK)
    rc = corpus_read_all(dir, &pool);
  if (rc == IBX_OK)
    rc = corpus_split(&pool, ktest, ltest.n, ktrain, ltrain.n, opt->split_seed, &train, &test,
                      &excluded);
  if (rc == IBX_OK && (train.n == 0 || test.n == 0))
    rc = ibx_fail(IBX_ERR_FORMAT, "fortunes-corpus: %s: no %s text left", dir,
                  train.n ? "held-out" : "training");
  char name[300];
  snprintf(name, sizeof name, "fortunes-corpus %s (%ld entries equal to fortunes test texts left "
           "out)", split, excluded);
  if (rc == IBX_OK)
    rc = ibxt_dataset_from_corpus(strcmp(split, "test") ? &train : &test, &train,
                                  ibx_fortunes_corpus_classes, 1, opt, name, out);
  free_keys(ktest, ltest.n);
  free_keys(ktrain, ltrain.n);
  ibxt_corpus_free(&ltrain), ibxt_corpus_free(&ltest), ibxt_corpus_free(&pool);
  ibxt_corpus_free(&train), ibxt_corpus_free(&test);
  return rc;
}
