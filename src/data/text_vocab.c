/* WordPiece vocabularies: id <-> piece, with an open-addressing hash table. */
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "text_internal.h"

const char *const ibx_tok_special_names[IBX_TOK_NUM_SPECIAL] = {"[PAD]", "[UNK]", "[CLS]",
                                                                "[SEP]", "[MASK]"};

uint64_t ibxt_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

int ibxt_vocab_find(const ibx_vocab *v, const char *s, size_t n) {
  if (!v || v->nslots == 0)
    return -1;
  size_t mask = (size_t)v->nslots - 1;
  for (size_t k = (size_t)ibxt_hash(s, n) & mask;; k = (k + 1) & mask) {
    int id = v->slots[k];
    if (id < 0)
      return -1;
    const char *p = v->pieces[id];
    if (strlen(p) == n && memcmp(p, s, n) == 0)
      return id;
  }
}

int ibxt_vocab_index(ibx_vocab *v) {
  int nslots = 16;
  while (nslots < 2 * v->size + 16)
    nslots *= 2;
  free(v->slots);
  v->slots = malloc((size_t)nslots * sizeof *v->slots);
  if (!v->slots)
    return ibx_fail(IBX_ERR_NOMEM, "vocabulary: out of memory");
  v->nslots = nslots;
  for (int k = 0; k < nslots; k++)
    v->slots[k] = -1;
  size_t mask = (size_t)nslots - 1;
  for (int id = 0; id < v->size; id++) {
    const char *p = v->pieces[id];
    size_t n = strlen(p);
    if (ibxt_vocab_find(v, p, n) >= 0)
      return ibx_fail(IBX_ERR_FORMAT, "vocabulary: piece '%.40s' appears twice (ids %d and %d)", p,
                      ibxt_vocab_find(v, p, n), id);
    size_t k = (size_t)ibxt_hash(p, n) & mask;
    while (v->slots[k] >= 0)
      k = (k + 1) & mask;
    v->slots[k] = id;
  }
  return IBX_OK;
}

int ibx_vocab_size(const ibx_vocab *v) { return v ? v->size : 0; }

const char *ibx_vocab_token(const ibx_vocab *v, int id) {
  return v && id >= 0 && id < v->size ? v->pieces[id] : NULL;
}

int ibx_vocab_lookup(const ibx_vocab *v, const char *piece) {
  return piece ? ibxt_vocab_find(v, piece, strlen(piece)) : -1;
}

void ibx_vocab_free(ibx_vocab *v) {
  if (!v)
    return;
  for (int k = 0; v->pieces && k < v->size; k++)
    free(v->pieces[k]);
  free(v->pieces);
  free(v->slots);
  free(v);
}

/* A piece is valid UTF-8 without whitespace or control characters. */
static int piece_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > 200)
    return 0;
  for (size_t i = 0; i < n;) {
    int32_t cp;
    int len = ibxt_utf8_decode((const unsigned char *)p + i, n - i, &cp);
    if (cp < 0 || cp <= 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
      return 0;
    i += (size_t)len;
  }
  return 1;
}

int ibx_vocab_from_pieces(const char *const *pieces, int n, ibx_vocab **out) {
  if (!out)
    return ibx_fail(IBX_ERR_ARG, "vocabulary: NULL output");
  *out = NULL;
  if (!pieces || n <= IBX_TOK_NUM_SPECIAL)
    return ibx_fail(IBX_ERR_FORMAT, "vocabulary: %d entries, need the %d special tokens and at "
                    "least one piece (empty vocabulary)", n, IBX_TOK_NUM_SPECIAL);
  for (int k = 0; k < IBX_TOK_NUM_SPECIAL; k++)
    if (!pieces[k] || strcmp(pieces[k], ibx_tok_special_names[k]) != 0)
      return ibx_fail(IBX_ERR_FORMAT, "vocabulary: id %d must be %s, is '%.40s'", k,
                      ibx_tok_special_names[k], pieces[k] ? pieces[k] : "(null)");
  for (int k = IBX_TOK_NUM_SPECIAL; k < n; k++)
    if (!pieces[k] || !piece_ok(pieces[k]))
      return ibx_fail(IBX_ERR_FORMAT,
                      "vocabulary: piece %d is empty, too long, not UTF-8 or has whitespace", k);
  ibx_vocab *v = calloc(1, sizeof *v);
  if (!v || !(v->pieces = calloc((size_t)n, sizeof *v->pieces))) {
    free(v);
    return ibx_fail(IBX_ERR_NOMEM, "vocabulary: out of memory");
  }
  for (int k = 0; k < n; k++) {
    v->pieces[k] = strdup(pieces[k]);
    v->size = k + 1;
    if (!v->pieces[k]) {
      ibx_vocab_free(v);
      return ibx_fail(IBX_ERR_NOMEM, "vocabulary: out of memory");
    }
  }
  int rc = ibxt_vocab_index(v);
  if (rc != IBX_OK) {
    ibx_vocab_free(v);
    return rc;
  }
  *out = v;
  return IBX_OK;
}

int ibx_vocab_copy(const ibx_vocab *v, ibx_vocab **out) {
  if (!v)
    return ibx_fail(IBX_ERR_ARG, "vocabulary: NULL vocabulary to copy");
  return ibx_vocab_from_pieces((const char *const *)v->pieces, v->size, out);
}

int ibx_token_display(const ibx_vocab *v, int32_t id, char *buf, size_t cap) {
  if (!buf || cap == 0)
    return 0;
  const char *p = ibx_vocab_token(v, id);
  int cont = 0;
  if (!p)
    p = "?";
  else if (id >= IBX_TOK_NUM_SPECIAL && p[0] == '#' && p[1] == '#' && p[2]) {
    p += 2;
    cont = 1;
  }
  size_t n = strlen(p);
  if (n >= cap) { /* truncate on a character boundary */
    n = cap - 1;
    while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
      n--;
  }
  memcpy(buf, p, n);
  buf[n] = '\0';
  return cont;
}
