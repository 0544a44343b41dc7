/* BERT's basic tokenizer (uncased), in C without a Unicode database.
 *
 * Per character of the input: invalid UTF-8 bytes, NUL, U+FFFD, control and
 * format characters are dropped (BERT's _clean_text); whitespace ends a
 * word; a punctuation character or a CJK ideograph is a word of its own;
 * anything else is lower-cased, stripped of its accent and appended to the
 * current word. Lower-casing covers ASCII, Latin-1, Latin Extended-A, Greek
 * and Cyrillic; accent stripping covers the Latin letters of those blocks
 * (what NFD + dropping Mn does to them) and drops combining marks
 * (U+0300..U+036F); punctuation is ASCII's and the common Unicode
 * punctuation blocks' (General Punctuation, CJK, fullwidth forms, ...).
 * Letters of other scripts pass through unchanged. */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "text_internal.h"

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
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

/* Control (Cc) and the common format (Cf) characters, NUL and U+FFFD. */
static int is_dropped(int32_t c) {
  return c < 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f ||
         (c >= 0x80 && c < 0xa0) || c == 0xad || (c >= 0x200b && c <= 0x200f) ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2064) || c == 0xfeff ||
         c == 0xfffd;
}

static int in(int32_t c, int32_t lo, int32_t hi) { return c >= lo && c <= hi; }

static int is_punctuation(int32_t c) {
  if (in(c, 33, 47) || in(c, 58, 64) || in(c, 91, 96) || in(c, 123, 126))
    return 1;
  if (c < 0xa1)
    return 0;
  return c == 0xa1 || c == 0xa7 || c == 0xab || c == 0xb6 || c == 0xb7 || c == 0xbb ||
         c == 0xbf || c == 0x37e || c == 0x387 || in(c, 0x55a, 0x55f) || in(c, 0x589, 0x58a) ||
         c == 0x5be || c == 0x5c0 || c == 0x5c3 || c == 0x5c6 || in(c, 0x5f3, 0x5f4) ||
         in(c, 0x60c, 0x60d) || c == 0x61b || c == 0x61f || in(c, 0x66a, 0x66d) || c == 0x6d4 ||
         in(c, 0x964, 0x965) || c == 0x970 || c == 0xe4f || in(c, 0xe5a, 0xe5b) ||
         in(c, 0x2010, 0x2027) || in(c, 0x2030, 0x2043) || in(c, 0x2045, 0x2051) ||
         in(c, 0x2053, 0x205e) || in(c, 0x207d, 0x207e) || in(c, 0x208d, 0x208e) ||
         in(c, 0x2308, 0x230b) || in(c, 0x2329, 0x232a) || in(c, 0x2768, 0x2775) ||
         in(c, 0x27c5, 0x27c6) || in(c, 0x27e6, 0x27ef) || in(c, 0x2983, 0x2998) ||
         in(c, 0x29d8, 0x29db) || in(c, 0x29fc, 0x29fd) || in(c, 0x2e00, 0x2e4f) ||
         in(c, 0x3001, 0x3003) || in(c, 0x3008, 0x3011) || in(c, 0x3014, 0x301f) ||
         c == 0x3030 || c == 0x303d || c == 0x30a0 || c == 0x30fb || in(c, 0xfe10, 0xfe19) ||
         in(c, 0xfe30, 0xfe52) || in(c, 0xfe54, 0xfe61) || c == 0xfe63 || c == 0xfe68 ||
         in(c, 0xfe6a, 0xfe6b) || in(c, 0xff01, 0xff03) || in(c, 0xff05, 0xff0a) ||
         in(c, 0xff0c, 0xff0f) || in(c, 0xff1a, 0xff1b) || in(c, 0xff1f, 0xff20) ||
         in(c, 0xff3b, 0xff3d) || c == 0xff3f || c == 0xff5b || c == 0xff5d ||
         in(c, 0xff5f, 0xff65);
}

static int is_cjk(int32_t c) {
  return in(c, 0x4e00, 0x9fff) || in(c, 0x3400, 0x4dbf) || in(c, 0x20000, 0x2a6df) ||
         in(c, 0x2a700, 0x2b73f) || in(c, 0x2b740, 0x2b81f) || in(c, 0x2b820, 0x2ceaf) ||
         in(c, 0xf900, 0xfaff) || in(c, 0x2f800, 0x2fa1f);
}

static int32_t to_lower(int32_t c) {
  if (in(c, 'A', 'Z'))
    return c + 32;
  if (c < 0xc0)
    return c;
  if (in(c, 0xc0, 0xde) && c != 0xd7)
    return c + 32;
  if (c == 0x130)
    return 'i';
  if (c == 0x178)
    return 0xff;
  if ((in(c, 0x100, 0x137) || in(c, 0x14a, 0x177)) && (c & 1) == 0)
    return c + 1;
  if ((in(c, 0x139, 0x148) || in(c, 0x179, 0x17e)) && (c & 1) == 1)
    return c + 1;
  if (in(c, 0x391, 0x3a9) && c != 0x3a2)
    return c + 32;
  if (in(c, 0x410, 0x42f))
    return c + 32;
  if (in(c, 0x400, 0x40f))
    return c + 80;
  return c;
}

/* Base letters of U+00C0..U+017F after NFD minus marks ('?': no change). */
static const char latin_base[] =
    "aaaaaa?ceeeeiiii?nooooo??uuuuy??"  /* U+00C0 */
    "aaaaaa?ceeeeiiii?nooooo??uuuuy?y"  /* U+00E0 */
    "aaaaaaccccccccdd??eeeeeeeeeegggg"  /* U+0100 */
    "gggghh??iiiiiiiii???jjkk?llllll?"  /* U+0120 */
    "???nnnnnn???oooooo??rrrrrrssssss"  /* U+0140 */
    "sstttt??uuuuuuuuuuuuwwyyyzzzzzz?"; /* U+0160 */

/* -1: drop the character (a combining mark). */
static int32_t strip_accent(int32_t c) {
  if (in(c, 0x300, 0x36f))
    return -1;
  if (in(c, 0xc0, 0x17f) && latin_base[c - 0xc0] != '?')
    return latin_base[c - 0xc0];
  return c;
}

typedef struct {
  char *buf;
  int *orig_begin, *orig_end; /* per byte of buf: its character's original range */
  int n, cap;
} word_buf;

static int word_push(word_buf *w, int32_t cp, int begin, int end) {
  if (w->n + 4 > w->cap) {
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
    } else if (is_punctuation(cp) || is_cjk(cp)) {
      rc = flush(&w, fn, ctx);
      if (rc == 0)
        rc = word_push(&w, cp, begin, end);
      if (rc == 0)
        rc = flush(&w, fn, ctx);
    } else {
      int32_t c = strip_accent(to_lower(cp));
      if (c >= 0)
        rc = word_push(&w, c, begin, end);
    }
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
