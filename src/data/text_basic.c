/* BERT's basic tokenizer (BasicTokenizer, do_lower_case=True), in C.
 *
 * Per character of the input, in BERT's order: invalid UTF-8 bytes, NUL,
 * U+FFFD and control/format characters (Cc, Cf) are dropped (_clean_text;
 * invalid bytes as Python's decode(errors="ignore") drops them); whitespace
 * (space, tab, newline, carriage return, Zs, and U+2028/U+2029, where
 * BERT's whitespace_tokenize, Python's str.split(), also splits) ends a word; a CJK ideograph is
 * a word of its own; every other character is lower-cased and decomposed
 * (NFD) with its nonspacing marks (Mn) dropped, and each resulting
 * punctuation character (ASCII punctuation or General Category P*) is a word
 * of its own. The Unicode tables (src/data/text_unicode_tables.h) are
 * generated from Python's unicodedata by scripts/make_unicode_tables.py, so
 * the output equals BERT's for that Unicode version, except that a word-final
 * capital sigma becomes σ, not ς (Python's lower() is context-sensitive). */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "text_internal.h"
#include "text_unicode_tables.h"

int ibxt_utf8_decode(const unsigned char *s, size_t n, int32_t *cp) {
  unsigned c = s[0];
  int len;
  int32_t v, min;
  if (c < 0x80) {
    *cp = (int32_t)c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    *cp = -1;
    return 1;
  }
  if ((size_t)len > n) {
    *cp = -1;
    return 1;
  }
  for (int k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80) {
      *cp = -1;
      return 1;
    }
    v = (v << 6) | (s[k] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
    *cp = -1;
    return 1;
  }
  *cp = v;
  return len;
}

int ibxt_utf8_encode(int32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

static int is_whitespace(int32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f || c == 0x3000 ||
         c == 0x2028 || c == 0x2029; /* Zl, Zp: Python's str.split() splits there */
}

/* Control (Cc) and format (Cf) characters, NUL and U+FFFD (Unicode 14's
 * Cf list). */
static int is_dropped(int32_t c) {
  if (c < 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ||
      (c >= 0x80 && c < 0xa0) || c == 0xad || c == 0xfffd)
    return 1;
  if (c < 0x600)
    return 0;
  return (c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x890 ||
         c == 0x891 || c == 0x8e2 || c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) ||
         (c >= 0x2066 && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) ||
         c == 0x110bd || c == 0x110cd || (c >= 0x13430 && c <= 0x13438) ||
         (c >= 0x1bca0 && c <= 0x1bca3) || (c >= 0x1d173 && c <= 0x1d17a) || c == 0xe0001 ||
         (c >= 0xe0020 && c <= 0xe007f);
}

static int in(int32_t c, int32_t lo, int32_t hi) { return c >= lo && c <= hi; }

static int in_ranges(int32_t c, const ibxt_range *r, int n) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (c < r[mid].lo)
      hi = mid - 1;
    else if (c > r[mid].hi)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

static int is_punctuation(int32_t c) {
  if (in(c, 33, 47) || in(c, 58, 64) || in(c, 91, 96) || in(c, 123, 126))
    return 1;
  return c > 0x7f &&
         in_ranges(c, ibxt_punct, (int)(sizeof ibxt_punct / sizeof ibxt_punct[0]));
}

static int is_cjk(int32_t c) {
  return in(c, 0x4e00, 0x9fff) || in(c, 0x3400, 0x4dbf) || in(c, 0x20000, 0x2a6df) ||
         in(c, 0x2a700, 0x2b73f) || in(c, 0x2b740, 0x2b81f) || in(c, 0x2b820, 0x2ceaf) ||
         in(c, 0xf900, 0xfaff) || in(c, 0x2f800, 0x2fa1f);
}

/* The non-Mn characters of NFD(lower(c)) into out; returns their count
 * (0..3). */
static int fold(int32_t c, int32_t out[3]) {
  if (c < 'A' || (c > 'Z' && c < 0xc0)) {
    out[0] = c;
    return 1;
  }
  if (in(c, 'A', 'Z')) {
    out[0] = c + 32;
    return 1;
  }
  if (in(c, 0xac00, 0xd7a3)) { /* Hangul syllable: L V [T] jamo */
    int s = c - 0xac00;
    out[0] = 0x1100 + s / 588;
    out[1] = 0x1161 + (s % 588) / 28;
    out[2] = 0x11a7 + s % 28;
    return s % 28 ? 3 : 2;
  }
  if (in_ranges(c, ibxt_mn, (int)(sizeof ibxt_mn / sizeof ibxt_mn[0])))
    return 0;
  int lo = 0, hi = (int)(sizeof ibxt_fold / sizeof ibxt_fold[0]) - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (c < ibxt_fold[mid].cp)
      hi = mid - 1;
    else if (c > ibxt_fold[mid].cp)
      lo = mid + 1;
    else {
      int n = 0;
      while (n < 3 && ibxt_fold[mid].out[n])
        out[n] = ibxt_fold[mid].out[n], n++;
      return n;
    }
  }
  out[0] = c;
  return 1;
}

typedef struct {
  char *buf;
  int *orig_begin, *orig_end; /* per byte of buf: its character's original range */
  int n, cap;
} word_buf;

static int word_push(word_buf *w, int32_t cp, int begin, int end) {
  if (w->n + 12 > w->cap) {
    int cap = w->cap ? 2 * w->cap : 256;
    char *b = realloc(w->buf, (size_t)cap);
    if (b)
      w->buf = b;
    int *ob = realloc(w->orig_begin, (size_t)cap * sizeof *ob);
    if (ob)
      w->orig_begin = ob;
    int *oe = realloc(w->orig_end, (size_t)cap * sizeof *oe);
    if (oe)
      w->orig_end = oe;
    if (!b || !ob || !oe)
      return ibx_fail(IBX_ERR_NOMEM, "tokenizer: out of memory");
    w->cap = cap;
  }
  int len = ibxt_utf8_encode(cp, w->buf + w->n);
  for (int k = 0; k < len; k++)
    w->orig_begin[w->n + k] = begin, w->orig_end[w->n + k] = end;
  w->n += len;
  return IBX_OK;
}

/* The mapped basic tokenizer: fn also gets, per byte of the word, the
 * original byte range of the character it came from. */
typedef int (*ibxt_word_map_fn)(const char *word, int nbytes, const int *orig_begin,
                                const int *orig_end, void *ctx);
int ibxt_basic_tokenize_map(const char *utf8, ibxt_word_map_fn fn, void *ctx);

static int flush(word_buf *w, ibxt_word_map_fn fn, void *ctx) {
  int rc = 0;
  if (w->n > 0)
    rc = fn(w->buf, w->n, w->orig_begin, w->orig_end, ctx);
  w->n = 0;
  return rc;
}

int ibxt_basic_tokenize_map(const char *utf8, ibxt_word_map_fn fn, void *ctx) {
  if (!utf8 || !fn)
    return ibx_fail(IBX_ERR_ARG, "tokenizer: NULL text or callback");
  const unsigned char *s = (const unsigned char *)utf8;
  size_t n = strlen(utf8);
  if (n > (size_t)0x7fffffff)
    return ibx_fail(IBX_ERR_ARG, "tokenizer: text of %zu bytes is too long (2 GiB at most)", n);
  word_buf w = {0};
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0;) {
    int32_t cp;
    int len = ibxt_utf8_decode(s + i, n - i, &cp);
    int begin = (int)i, end = (int)(i + (size_t)len);
    i += (size_t)len;
    if (is_dropped(cp))
      continue;
    if (is_whitespace(cp)) {
      rc = flush(&w, fn, ctx);
      continue;
    }
    int32_t out[3];
    int nout = fold(cp, out);
    const int cjk = is_cjk(cp);
    if (cjk)
      rc = flush(&w, fn, ctx);
    for (int k = 0; k < nout && rc == 0; k++) {
      if (is_punctuation(out[k])) {
        rc = flush(&w, fn, ctx);
        if (rc == 0)
          rc = word_push(&w, out[k], begin, end);
        if (rc == 0)
          rc = flush(&w, fn, ctx);
      } else {
        rc = word_push(&w, out[k], begin, end);
      }
    }
    if (cjk && rc == 0)
      rc = flush(&w, fn, ctx);
  }
  if (rc == 0)
    rc = flush(&w, fn, ctx);
  free(w.buf);
  free(w.orig_begin);
  free(w.orig_end);
  return rc;
}

typedef struct {
  ibx_word_fn fn;
  void *ctx;
} plain_ctx;

static int plain_word(const char *word, int nbytes, const int *ob, const int *oe, void *ctx) {
  plain_ctx *p = ctx;
  return p->fn(word, nbytes, ob[0], oe[nbytes - 1], p->ctx);
}

int ibx_basic_tokenize(const char *utf8, ibx_word_fn fn, void *ctx) {
  if (!fn)
    return ibx_fail(IBX_ERR_ARG, "tokenizer: NULL callback");
  plain_ctx p = {fn, ctx};
  return ibxt_basic_tokenize_map(utf8, plain_word, &p);
}
