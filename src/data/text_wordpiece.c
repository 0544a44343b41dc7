/* WordPiece: learning a vocabulary (BPE-style merges with "##" continuation
 * pieces, as Hugging Face's BertWordPieceTokenizer trainer does) and
 * encoding (greedy longest-match-first, as BERT's WordpieceTokenizer). */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "text_internal.h"

#define MAX_WORD_CHARS 100

int ibxt_basic_tokenize_map(const char *utf8,
                            int (*fn)(const char *, int, const int *, const int *, void *),
                            void *ctx);

/* ---- a string -> index table (words, pieces) ------------------------------ */

typedef struct {
  char **keys; /* n strings, index order */
  long n, cap;
  long *slots; /* -1 empty */
  long nslots;
} str_table;

static void st_free(str_table *t) {
  for (long k = 0; k < t->n; k++)
    free(t->keys[k]);
  free(t->keys);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static long st_find(const str_table *t, const char *s, size_t n) {
  if (t->nslots == 0)
    return -1;
  size_t mask = (size_t)t->nslots - 1;
  for (size_t k = (size_t)ibxt_hash(s, n) & mask;; k = (k + 1) & mask) {
    long id = t->slots[k];
    if (id < 0)
      return -1;
    if (strlen(t->keys[id]) == n && memcmp(t->keys[id], s, n) == 0)
      return id;
  }
}

static int st_rehash(str_table *t, long nslots) {
  long *slots = malloc((size_t)nslots * sizeof *slots);
  if (!slots)
    return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  for (long k = 0; k < nslots; k++)
    slots[k] = -1;
  size_t mask = (size_t)nslots - 1;
  for (long id = 0; id < t->n; id++) {
    size_t k = (size_t)ibxt_hash(t->keys[id], strlen(t->keys[id])) & mask;
    while (slots[k] >= 0)
      k = (k + 1) & mask;
    slots[k] = id;
  }
  free(t->slots);
  t->slots = slots;
  t->nslots = nslots;
  return IBX_OK;
}

/* Index of s (n bytes), inserting it when absent; -1 on NOMEM. */
static long st_intern(str_table *t, const char *s, size_t n, int *added) {
  *added = 0;
  long id = st_find(t, s, n);
  if (id >= 0)
    return id;
  if (2 * (t->n + 1) > t->nslots && st_rehash(t, t->nslots ? 2 * t->nslots : 1024) != IBX_OK)
    return -1;
  if (t->n == t->cap) {
    long cap = t->cap ? 2 * t->cap : 1024;
    char **k = realloc(t->keys, (size_t)cap * sizeof *k);
    if (!k)
      return -1;
    t->keys = k;
    t->cap = cap;
  }
  char *copy = malloc(n + 1);
  if (!copy)
    return -1;
  memcpy(copy, s, n);
  copy[n] = '\0';
  id = t->n++;
  t->keys[id] = copy;
  size_t mask = (size_t)t->nslots - 1;
  size_t k = (size_t)ibxt_hash(s, n) & mask;
  while (t->slots[k] >= 0)
    k = (k + 1) & mask;
  t->slots[k] = id;
  *added = 1;
  return id;
}

/* ---- counting words ------------------------------------------------------- */

typedef struct {
  str_table words;
  long *freq;
  long freq_cap;
  int rc;
} word_counts;

static int count_word(const char *word, int nbytes, const int *ob, const int *oe, void *ctx) {
  (void)ob, (void)oe;
  word_counts *wc = ctx;
  int added;
  long id = st_intern(&wc->words, word, (size_t)nbytes, &added);
  if (id < 0)
    return wc->rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory counting words");
  if (id >= wc->freq_cap) {
    long cap = wc->freq_cap ? 2 * wc->freq_cap : 1024;
    long *f = realloc(wc->freq, (size_t)cap * sizeof *f);
    if (!f)
      return wc->rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory counting words");
    wc->freq = f;
    wc->freq_cap = cap;
  }
  if (added)
    wc->freq[id] = 0;
  wc->freq[id]++;
  return 0;
}

/* ---- merges ------------------------------------------------------------- */

typedef struct {
  int a, b;
  long count;
  long *words; /* word indices that contained the pair at some point */
  long nwords, capwords;
  long stamp;
} pair_rec;

typedef struct {
  long count;
  int a, b;
} heap_ent;

typedef struct {
  /* pieces (the vocabulary so far, specials first) */
  str_table pieces;
  /* words as symbol sequences */
  long nwords;
  int **sym;
  int *len;
  long *freq;
  long *word_stamp;
  /* pairs */
  pair_rec *pairs;
  long npairs, cappairs;
  long *pslots; /* pair hash: index into pairs, -1 empty */
  long npslots;
  heap_ent *heap;
  long nheap, capheap;
  long *touched;
  long ntouched, captouched;
} bpe;

static uint64_t pair_hash(int a, int b) {
  uint64_t h = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static int pair_rehash(bpe *m, long nslots) {
  long *s = malloc((size_t)nslots * sizeof *s);
  if (!s)
    return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  for (long k = 0; k < nslots; k++)
    s[k] = -1;
  size_t mask = (size_t)nslots - 1;
  for (long p = 0; p < m->npairs; p++) {
    size_t k = (size_t)pair_hash(m->pairs[p].a, m->pairs[p].b) & mask;
    while (s[k] >= 0)
      k = (k + 1) & mask;
    s[k] = p;
  }
  free(m->pslots);
  m->pslots = s;
  m->npslots = nslots;
  return IBX_OK;
}

/* Index of pair (a, b), created with count 0 when absent; -1 on NOMEM. */
static long pair_get(bpe *m, int a, int b) {
  if (m->npslots) {
    size_t mask = (size_t)m->npslots - 1;
    for (size_t k = (size_t)pair_hash(a, b) & mask;; k = (k + 1) & mask) {
      long p = m->pslots[k];
      if (p < 0)
        break;
      if (m->pairs[p].a == a && m->pairs[p].b == b)
        return p;
    }
  }
  if (2 * (m->npairs + 1) > m->npslots &&
      pair_rehash(m, m->npslots ? 2 * m->npslots : 4096) != IBX_OK)
    return -1;
  if (m->npairs == m->cappairs) {
    long cap = m->cappairs ? 2 * m->cappairs : 4096;
    pair_rec *np = realloc(m->pairs, (size_t)cap * sizeof *np);
    if (!np)
      return -1;
    m->pairs = np;
    m->cappairs = cap;
  }
  long p = m->npairs++;
  memset(&m->pairs[p], 0, sizeof m->pairs[p]);
  m->pairs[p].a = a, m->pairs[p].b = b, m->pairs[p].stamp = -1;
  size_t mask = (size_t)m->npslots - 1;
  size_t k = (size_t)pair_hash(a, b) & mask;
  while (m->pslots[k] >= 0)
    k = (k + 1) & mask;
  m->pslots[k] = p;
  return p;
}

/* heap order: larger count first, then smaller a, then smaller b */
static int heap_before(const heap_ent *x, const heap_ent *y) {
  if (x->count != y->count)
    return x->count > y->count;
  if (x->a != y->a)
    return x->a < y->a;
  return x->b < y->b;
}

static int heap_push(bpe *m, long count, int a, int b) {
  if (m->nheap == m->capheap) {
    long cap = m->capheap ? 2 * m->capheap : 4096;
    heap_ent *h = realloc(m->heap, (size_t)cap * sizeof *h);
    if (!h)
      return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
    m->heap = h;
    m->capheap = cap;
  }
  long i = m->nheap++;
  m->heap[i] = (heap_ent){count, a, b};
  while (i > 0) {
    long parent = (i - 1) / 2;
    if (!heap_before(&m->heap[i], &m->heap[parent]))
      break;
    heap_ent t = m->heap[i];
    m->heap[i] = m->heap[parent];
    m->heap[parent] = t;
    i = parent;
  }
  return IBX_OK;
}

static heap_ent heap_pop(bpe *m) {
  heap_ent top = m->heap[0];
  m->heap[0] = m->heap[--m->nheap];
  long i = 0;
  for (;;) {
    long l = 2 * i + 1, r = l + 1, best = i;
    if (l < m->nheap && heap_before(&m->heap[l], &m->heap[best]))
      best = l;
    if (r < m->nheap && heap_before(&m->heap[r], &m->heap[best]))
      best = r;
    if (best == i)
      break;
    heap_ent t = m->heap[i];
    m->heap[i] = m->heap[best];
    m->heap[best] = t;
    i = best;
  }
  return top;
}

static int touch(bpe *m, long p, long stamp) {
  if (m->pairs[p].stamp == stamp)
    return IBX_OK;
  m->pairs[p].stamp = stamp;
  if (m->ntouched == m->captouched) {
    long cap = m->captouched ? 2 * m->captouched : 1024;
    long *t = realloc(m->touched, (size_t)cap * sizeof *t);
    if (!t)
      return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
    m->touched = t;
    m->captouched = cap;
  }
  m->touched[m->ntouched++] = p;
  return IBX_OK;
}

static int pair_add_word(pair_rec *pr, long w) {
  if (pr->nwords == pr->capwords) {
    long cap = pr->capwords ? 2 * pr->capwords : 4;
    long *ws = realloc(pr->words, (size_t)cap * sizeof *ws);
    if (!ws)
      return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
    pr->words = ws;
    pr->capwords = cap;
  }
  pr->words[pr->nwords++] = w;
  return IBX_OK;
}

/* Adds delta * freq to every adjacent pair of word w; new pairs (or, when
 * only_with >= 0, pairs containing that symbol) get w in their word list. */
static int count_pairs(bpe *m, long w, long delta, int only_with, long stamp) {
  for (int i = 0; i + 1 < m->len[w]; i++) {
    int a = m->sym[w][i], b = m->sym[w][i + 1];
    long p = pair_get(m, a, b);
    if (p < 0)
      return ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
    m->pairs[p].count += delta * m->freq[w];
    if (delta > 0 && (only_with < 0 || a == only_with || b == only_with))
      IBX_TRY(pair_add_word(&m->pairs[p], w));
    if (stamp >= 0)
      IBX_TRY(touch(m, p, stamp));
  }
  return IBX_OK;
}

static void bpe_free(bpe *m) {
  st_free(&m->pieces);
  for (long w = 0; w < m->nwords; w++)
    free(m->sym[w]);
  free(m->sym), free(m->len), free(m->freq), free(m->word_stamp);
  for (long p = 0; p < m->npairs; p++)
    free(m->pairs[p].words);
  free(m->pairs), free(m->pslots), free(m->heap), free(m->touched);
}

/* Merges pair p into piece id c in every word; pushes the changed pairs. */
static int merge(bpe *m, long p, int c, long stamp) {
  int a = m->pairs[p].a, b = m->pairs[p].b;
  m->ntouched = 0;
  /* the list may grow while we walk it (new pairs with c are other pairs) */
  long nw = m->pairs[p].nwords;
  for (long k = 0; k < nw; k++) {
    long w = m->pairs[p].words[k];
    if (m->word_stamp[w] == stamp)
      continue;
    m->word_stamp[w] = stamp;
    int has = 0;
    for (int i = 0; i + 1 < m->len[w] && !has; i++)
      has = m->sym[w][i] == a && m->sym[w][i + 1] == b;
    if (!has)
      continue;
    IBX_TRY(count_pairs(m, w, -1, -1, stamp));
    int out = 0;
    for (int i = 0; i < m->len[w];) {
      if (i + 1 < m->len[w] && m->sym[w][i] == a && m->sym[w][i + 1] == b) {
        m->sym[w][out++] = c;
        i += 2;
      } else {
        m->sym[w][out++] = m->sym[w][i++];
      }
    }
    m->len[w] = out;
    IBX_TRY(count_pairs(m, w, +1, c, stamp));
  }
  m->pairs[p].count = 0;
  for (long t = 0; t < m->ntouched; t++) {
    pair_rec *pr = &m->pairs[m->touched[t]];
    if (pr->count > 0)
      IBX_TRY(heap_push(m, pr->count, pr->a, pr->b));
  }
  return IBX_OK;
}

typedef struct {
  long count;
  long id;           /* index in the character table */
  const char *piece; /* its string */
} char_rank;

/* most frequent first, then by bytes */
static int cmp_char_rank(const void *x, const void *y) {
  const char_rank *p = x, *q = y;
  if (p->count != q->count)
    return p->count > q->count ? -1 : 1;
  return strcmp(p->piece, q->piece);
}

/* Piece string of one character of word at bytes [i, i+len): "c" or "##c". */
static void char_piece(const char *word, int i, int len, char out[8]) {
  int o = 0;
  if (i > 0)
    out[o++] = '#', out[o++] = '#';
  memcpy(out + o, word + i, (size_t)len);
  out[o + len] = '\0';
}

static int utf8_len(const char *s, int i, int n) {
  int32_t cp;
  return ibxt_utf8_decode((const unsigned char *)s + i, (size_t)(n - i), &cp);
}

int ibx_wordpiece_train(const char *const *texts, long n, int vocab_size, int min_freq,
                        ibx_vocab **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "wordpiece: NULL output");
  *out = NULL;
  if (!texts || n < 0)
    return ibx_fail(IBX_ERR_ARG, "wordpiece: no texts");
  if (vocab_size <= IBX_TOK_NUM_SPECIAL)
    return ibx_fail(IBX_ERR_ARG, "wordpiece: vocabulary size %d must exceed the %d special tokens",
                    vocab_size, IBX_TOK_NUM_SPECIAL);
  if (min_freq < 1)
    return ibx_fail(IBX_ERR_ARG, "wordpiece: min_freq %d must be at least 1", min_freq);
  word_counts wc = {0};
  for (long i = 0; i < n && wc.rc == 0; i++) {
    if (!texts[i])
      continue;
    int rc = ibxt_basic_tokenize_map(texts[i], count_word, &wc);
    if (rc != 0 && wc.rc == 0)
      wc.rc = rc;
  }
  if (wc.rc != 0) {
    st_free(&wc.words);
    free(wc.freq);
    return wc.rc;
  }
  if (wc.words.n == 0) {
    st_free(&wc.words);
    free(wc.freq);
    return ibx_fail(IBX_ERR_ARG, "wordpiece: the %ld training texts contain no word (empty "
                    "vocabulary)", n);
  }
  int rc = IBX_OK;
  bpe m = {0};
  /* character pieces and their counts */
  str_table chars = {0};
  long *ccount = NULL, ccap = 0;
  for (long w = 0; w < wc.words.n && rc == IBX_OK; w++) {
    const char *word = wc.words.keys[w];
    int nb = (int)strlen(word);
    for (int i = 0; i < nb && rc == IBX_OK;) {
      int len = utf8_len(word, i, nb);
      char piece[8];
      char_piece(word, i, len, piece);
      int added;
      long id = st_intern(&chars, piece, strlen(piece), &added);
      if (id >= ccap) {
        long cap = ccap ? 2 * ccap : 1024;
        long *cc = realloc(ccount, (size_t)cap * sizeof *cc);
        if (!cc)
          id = -1;
        else
          ccount = cc, ccap = cap;
      }
      if (id < 0) {
        rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
        break;
      }
      if (added)
        ccount[id] = 0;
      ccount[id] += wc.freq[w];
      i += len;
    }
  }
  char_rank *rank = NULL;
  if (rc == IBX_OK && !(rank = malloc((size_t)chars.n * sizeof *rank)))
    rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  long nalpha = 0;
  if (rc == IBX_OK) {
    for (long k = 0; k < chars.n; k++)
      if (ccount[k] >= min_freq)
        rank[nalpha++] = (char_rank){ccount[k], k, chars.keys[k]};
    qsort(rank, (size_t)nalpha, sizeof *rank, cmp_char_rank);
    if (nalpha > vocab_size - IBX_TOK_NUM_SPECIAL)
      nalpha = vocab_size - IBX_TOK_NUM_SPECIAL;
  }
  /* the vocabulary so far: specials, then the alphabet */
  for (int k = 0; k < IBX_TOK_NUM_SPECIAL && rc == IBX_OK; k++) {
    int added;
    if (st_intern(&m.pieces, ibx_tok_special_names[k], strlen(ibx_tok_special_names[k]),
                  &added) < 0)
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  }
  for (long k = 0; k < nalpha && rc == IBX_OK; k++) {
    int added;
    const char *p = chars.keys[rank[k].id];
    if (st_intern(&m.pieces, p, strlen(p), &added) < 0)
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  }
  free(rank);
  free(ccount);
  st_free(&chars);
  if (rc == IBX_OK && nalpha == 0)
    rc = ibx_fail(IBX_ERR_ARG, "wordpiece: no character occurs min_freq=%d times (empty "
                  "vocabulary)", min_freq);
  /* words whose every character is in the alphabet, as symbol sequences */
  if (rc == IBX_OK) {
    m.sym = calloc((size_t)wc.words.n, sizeof *m.sym);
    m.len = calloc((size_t)wc.words.n, sizeof *m.len);
    m.freq = calloc((size_t)wc.words.n, sizeof *m.freq);
    m.word_stamp = malloc((size_t)wc.words.n * sizeof *m.word_stamp);
    if (!m.sym || !m.len || !m.freq || !m.word_stamp)
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
  }
  for (long w = 0; w < wc.words.n && rc == IBX_OK; w++) {
    const char *word = wc.words.keys[w];
    int nb = (int)strlen(word), nchar = 0, ok = 1;
    int *s = malloc((size_t)nb * sizeof *s);
    if (!s) {
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
      break;
    }
    for (int i = 0; i < nb && ok;) {
      int len = utf8_len(word, i, nb);
      char piece[8];
      char_piece(word, i, len, piece);
      long id = st_find(&m.pieces, piece, strlen(piece));
      if (id < 0)
        ok = 0;
      else
        s[nchar++] = (int)id;
      i += len;
    }
    if (!ok || nchar > MAX_WORD_CHARS || nchar < 2) {
      free(s); /* cannot be pieced, too long, or nothing to merge */
      continue;
    }
    long k = m.nwords++;
    m.sym[k] = s, m.len[k] = nchar, m.freq[k] = wc.freq[w], m.word_stamp[k] = -1;
  }
  st_free(&wc.words);
  free(wc.freq);
  for (long w = 0; w < m.nwords && rc == IBX_OK; w++)
    rc = count_pairs(&m, w, +1, -1, -1);
  for (long p = 0; p < m.npairs && rc == IBX_OK; p++)
    rc = heap_push(&m, m.pairs[p].count, m.pairs[p].a, m.pairs[p].b);
  /* merge until the vocabulary is full or no pair is frequent enough */
  long stamp = 0;
  char *buf = NULL;
  size_t bufcap = 0;
  while (rc == IBX_OK && m.pieces.n < vocab_size && m.nheap > 0) {
    heap_ent top = heap_pop(&m);
    long p = pair_get(&m, top.a, top.b);
    if (p < 0) {
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
      break;
    }
    if (m.pairs[p].count != top.count || top.count <= 0)
      continue; /* stale entry */
    if (top.count < min_freq)
      break;
    const char *pa = m.pieces.keys[top.a], *pb = m.pieces.keys[top.b];
    size_t la = strlen(pa), lb = strlen(pb) - 2; /* pb is a ## piece */
    if (la + lb + 1 > bufcap) {
      bufcap = 2 * (la + lb + 1);
      char *nb = realloc(buf, bufcap);
      if (!nb) {
        rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
        break;
      }
      buf = nb;
    }
    memcpy(buf, pa, la);
    memcpy(buf + la, pb + 2, lb);
    int added;
    long c = st_intern(&m.pieces, buf, la + lb, &added);
    if (c < 0) {
      rc = ibx_fail(IBX_ERR_NOMEM, "wordpiece: out of memory");
      break;
    }
    rc = merge(&m, p, (int)c, stamp++);
  }
  free(buf);
  if (rc == IBX_OK)
    rc = ibx_vocab_from_pieces((const char *const *)m.pieces.keys, (int)m.pieces.n, out);
  bpe_free(&m);
  return rc;
}

/* ---- encoding ------------------------------------------------------------- */

typedef struct {
  const ibx_vocab *v;
  int cap; /* pieces allowed (max_len - 2) */
  int n;
  int32_t *ids;
  int *sb, *se;
  char buf[4 * MAX_WORD_CHARS + 8];
} encoder;

static int emit(encoder *e, int32_t id, int b, int end) {
  if (e->n >= e->cap)
    return -1; /* full: stop the basic tokenizer (errors are > 0) */
  e->ids[e->n] = id;
  if (e->sb)
    e->sb[e->n] = b;
  if (e->se)
    e->se[e->n] = end;
  e->n++;
  return 0;
}

static int encode_word(const char *word, int nb, const int *ob, const int *oe, void *ctx) {
  encoder *e = ctx;
  int nchar = 0;
  for (int i = 0; i < nb; i += utf8_len(word, i, nb))
    nchar++;
  if (nchar > MAX_WORD_CHARS)
    return emit(e, IBX_TOK_UNK, ob[0], oe[nb - 1]);
  /* greedy longest match first; the whole word is [UNK] when a position
   * cannot be matched */
  int32_t ids[MAX_WORD_CHARS];
  int starts[MAX_WORD_CHARS], ends[MAX_WORD_CHARS], np = 0;
  for (int start = 0; start < nb;) {
    int found = -1, found_end = 0;
    for (int end = nb; end > start; end--) {
      if (end < nb && ((unsigned char)word[end] & 0xc0) == 0x80)
        continue; /* not a character boundary */
      int o = 0;
      if (start > 0)
        e->buf[o++] = '#', e->buf[o++] = '#';
      memcpy(e->buf + o, word + start, (size_t)(end - start));
      int id = ibxt_vocab_find(e->v, e->buf, (size_t)(o + end - start));
      if (id >= IBX_TOK_NUM_SPECIAL) {
        found = id, found_end = end;
        break;
      }
    }
    if (found < 0)
      return emit(e, IBX_TOK_UNK, ob[0], oe[nb - 1]);
    ids[np] = found, starts[np] = start, ends[np] = found_end, np++;
    start = found_end;
  }
  for (int k = 0; k < np; k++)
    if (emit(e, ids[k], ob[starts[k]], oe[ends[k] - 1]))
      return -1;
  return 0;
}

int ibx_tokenize_spans(const ibx_vocab *v, const char *utf8, int max_len, int32_t *ids,
                       int *length, int *span_begin, int *span_end) {
  if (!v || !utf8 || !ids)
    return ibx_fail(IBX_ERR_ARG, "tokenize: NULL vocabulary, text or ids");
  if (max_len < 2)
    return ibx_fail(IBX_ERR_ARG, "tokenize: max_len %d must be at least 2 ([CLS] and [SEP])",
                    max_len);
  encoder e = {.v = v, .cap = max_len - 2, .ids = ids + 1,
               .sb = span_begin ? span_begin + 1 : NULL, .se = span_end ? span_end + 1 : NULL};
  int rc = ibxt_basic_tokenize_map(utf8, encode_word, &e);
  if (rc > 0)
    return rc; /* -1: stopped at max_len */
  ids[0] = IBX_TOK_CLS;
  ids[e.n + 1] = IBX_TOK_SEP;
  for (int k = e.n + 2; k < max_len; k++)
    ids[k] = IBX_TOK_PAD;
  if (span_begin)
    span_begin[0] = span_begin[e.n + 1] = -1;
  if (span_end)
    span_end[0] = span_end[e.n + 1] = -1;
  if (length)
    *length = e.n + 2;
  return IBX_OK;
}

int ibx_tokenize(const ibx_vocab *v, const char *utf8, int max_len, int32_t *ids, int *length) {
  return ibx_tokenize_spans(v, utf8, max_len, ids, length, NULL, NULL);
}
