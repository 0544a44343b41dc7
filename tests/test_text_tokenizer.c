/* The tokenizer (src/data/text_basic.c, text_wordpiece.c, text_vocab.c)
 * against tests/fixtures/text_tokenizer.txt, written by an independent Python
 * transcription of BERT's BasicTokenizer / WordpieceTokenizer and a naive
 * version of the vocabulary learner (scripts/make_golden_tokenizer.py): 336
 * inputs (including invalid UTF-8, controls, CJK, Hangul, combining marks
 * and random Unicode), three learned vocabularies piece for piece, and their
 * encodings at three max_len. Plus hand-made cases: spans, truncation,
 * [UNK], display strings and vocabulary errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/text.h"
#include "testutil.h"

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex ("-" is empty) into a malloc'd NUL-terminated buffer. */
static char *unhex(const char *h, size_t n, size_t *len) {
  char *out = malloc(n / 2 + 1);
  assert_non_null(out);
  size_t o = 0;
  if (!(n == 1 && h[0] == '-'))
    for (size_t i = 0; i + 1 < n + 1 && i < n; i += 2)
      out[o++] = (char)(hexval(h[i]) * 16 + hexval(h[i + 1]));
  out[o] = '\0';
  if (len)
    *len = o;
  return out;
}

typedef struct {
  char words[4096];
  size_t n;
} collect;

static int collect_word(const char *w, int nb, int b, int e, void *ctx) {
  collect *c = ctx;
  assert_true(b >= 0 && e > b);
  if (c->n + (size_t)nb + 1 >= sizeof c->words)
    fail_msg("too many words");
  if (c->n)
    c->words[c->n++] = '\x1f';
  memcpy(c->words + c->n, w, (size_t)nb);
  c->n += (size_t)nb;
  c->words[c->n] = '\0';
  return 0;
}

static char *read_fixture(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/text_tokenizer.txt", IBX_FIXTURE_DIR);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_golden(void **state) {
  (void)state;
  char *all = read_fixture();
  char *texts[64];
  int ntexts = 0, nbasic = 0, nvocab = 0, nenc = 0;
  ibx_vocab *vocab = NULL;
  char *save = NULL;
  for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == 'B') {
      char *in = line + 2, *sp = strchr(in, ' ');
      assert_non_null(sp);
      char *text = unhex(in, (size_t)(sp - in), NULL);
      /* expected words joined by 0x1f */
      char expect[4096];
      size_t e = 0;
      const char *w = sp + 1;
      if (strcmp(w, "-") != 0)
        while (*w) {
          const char *comma = strchr(w, ',');
          size_t len = comma ? (size_t)(comma - w) : strlen(w);
          char *word = unhex(w, len, &len);
          if (e)
            expect[e++] = '\x1f';
          memcpy(expect + e, word, len);
          e += len;
          free(word);
          w += (comma ? (size_t)(comma - w) + 1 : strlen(w));
        }
      expect[e] = '\0';
      collect c = {.n = 0};
      c.words[0] = '\0';
      assert_ibx_ok(ibx_basic_tokenize(text, collect_word, &c));
      if (strcmp(c.words, expect) != 0)
        fail_msg("basic tokenizer differs from BERT's on input %s:\n got    '%s'\n expect '%s'",
                 in, c.words, expect);
      free(text);
      nbasic++;
    } else if (line[0] == 'C') {
      texts[ntexts++] = unhex(line + 2, strlen(line + 2), NULL);
    } else if (line[0] == 'T') {
      int vs, mf, n;
      assert_int_equal(sscanf(line + 2, "%d %d %d", &vs, &mf, &n), 3);
      ibx_vocab_free(vocab);
      assert_ibx_ok(ibx_wordpiece_train((const char *const *)texts, ntexts, vs, mf, &vocab));
      assert_int_equal(ibx_vocab_size(vocab), n);
      for (int k = 0; k < n; k++) {
        char *p = strtok_r(NULL, "\n", &save);
        assert_non_null(p);
        assert_true(p[0] == 'P');
        char *piece = unhex(p + 2, strlen(p + 2), NULL);
        if (strcmp(piece, ibx_vocab_token(vocab, k)) != 0)
          fail_msg("vocab %d/%d: piece %d is '%s', expected '%s'", vs, mf, k,
                   ibx_vocab_token(vocab, k), piece);
        assert_int_equal(ibx_vocab_lookup(vocab, piece), k);
        free(piece);
      }
      nvocab++;
    } else if (line[0] == 'E') {
      int max_len;
      char *p = line + 2;
      max_len = (int)strtol(p, &p, 10);
      p++;
      char *sp = strchr(p, ' ');
      char *text = unhex(p, (size_t)(sp - p), NULL);
      int32_t ids[64];
      int len = -1;
      assert_ibx_ok(ibx_tokenize(vocab, text, max_len, ids, &len));
      char *q = sp + 1;
      int expect_len = 0;
      for (int k = 0; k < max_len; k++) {
        long want = strtol(q, &q, 10);
        if (ids[k] != want)
          fail_msg("encoding of %.*s at max_len %d: id %d at %d, expected %ld", (int)(sp - p), p,
                   max_len, (int)ids[k], k, want);
        if (want != IBX_TOK_PAD)
          expect_len = k + 1;
      }
      assert_int_equal(len, expect_len);
      free(text);
      nenc++;
    }
  }
  assert_int_equal(nvocab, 3);
  assert_true(nbasic > 300 && nenc > 100);
  ibx_vocab_free(vocab);
  for (int k = 0; k < ntexts; k++)
    free(texts[k]);
  free(all);
}

static ibx_vocab *small_vocab(void) {
  const char *pieces[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff",
                          "##able", "run", "##ning", "the", "!", "caf", "##e", "a", "##b"};
  ibx_vocab *v = NULL;
  assert_ibx_ok(ibx_vocab_from_pieces(pieces, (int)(sizeof pieces / sizeof *pieces), &v));
  return v;
}

static void test_spans_truncation_unk(void **state) {
  (void)state;
  ibx_vocab *v = small_vocab();
  const char *text = "  Unaffable  RUNNING, the Café xyz!";
  int32_t ids[16];
  int sb[16], se[16], len;
  assert_ibx_ok(ibx_tokenize_spans(v, text, 16, ids, &len, sb, se));
  /* [CLS] un ##aff ##able run ##ning [UNK](,) the caf ##e [UNK](xyz) ! [SEP] */
  const int32_t want[] = {2, 5, 6, 7, 8, 9, 1, 10, 12, 13, 1, 11, 3, 0, 0, 0};
  assert_memory_equal(ids, want, sizeof want);
  assert_int_equal(len, 13);
  assert_int_equal(sb[0], -1);
  assert_int_equal(se[12], -1);
  assert_int_equal(sb[1], 2); /* "Un" */
  assert_int_equal(se[1], 4);
  assert_int_equal(sb[3], 7); /* "able" */
  assert_int_equal(se[3], 11);
  assert_int_equal(sb[6], 20); /* "," */
  assert_int_equal(se[6], 21);
  /* "é" is two bytes: ##e covers "é" (bytes 29..31) */
  assert_int_equal(sb[9], 29);
  assert_int_equal(se[9], 31);
  assert_int_equal(sb[10], 32); /* xyz -> one [UNK] over the whole word */
  assert_int_equal(se[10], 35);
  /* truncation keeps the first max_len - 2 pieces and ends with [SEP] */
  assert_ibx_ok(ibx_tokenize(v, text, 5, ids, &len));
  const int32_t want5[] = {2, 5, 6, 7, 3};
  assert_memory_equal(ids, want5, sizeof want5);
  assert_int_equal(len, 5);
  assert_ibx_ok(ibx_tokenize(v, text, 2, ids, &len));
  assert_int_equal(len, 2);
  assert_int_equal(ids[0], IBX_TOK_CLS);
  assert_int_equal(ids[1], IBX_TOK_SEP);
  /* empty and all-whitespace/control text: [CLS] [SEP] */
  assert_ibx_ok(ibx_tokenize(v, " \t\x01\n", 4, ids, &len));
  assert_int_equal(len, 2);
  assert_int_equal(ids[2], IBX_TOK_PAD);
  assert_int_equal(ids[3], IBX_TOK_PAD);
  /* a word of 101 characters is [UNK] even when it could be pieced */
  char longw[300] = "";
  for (int k = 0; k < 101; k++)
    strcat(longw, k ? "b" : "a");
  assert_ibx_ok(ibx_tokenize(v, longw, 8, ids, &len));
  assert_int_equal(len, 3);
  assert_int_equal(ids[1], IBX_TOK_UNK);
  longw[100] = '\0'; /* 100 characters: a ##b ##b ... */
  assert_ibx_ok(ibx_tokenize(v, longw, 8, ids, &len));
  assert_int_equal(ids[1], 14);
  assert_int_equal(ids[2], 15);
  assert_int_equal(len, 8);
  /* display strings */
  char buf[16];
  assert_int_equal(ibx_token_display(v, 6, buf, sizeof buf), 1);
  assert_string_equal(buf, "aff");
  assert_int_equal(ibx_token_display(v, 5, buf, sizeof buf), 0);
  assert_string_equal(buf, "un");
  assert_int_equal(ibx_token_display(v, IBX_TOK_CLS, buf, sizeof buf), 0);
  assert_string_equal(buf, "[CLS]");
  ibx_token_display(v, 99, buf, sizeof buf);
  assert_string_equal(buf, "?");
  ibx_token_display(v, 7, buf, 3);
  assert_string_equal(buf, "ab");
  assert_null(ibx_vocab_token(v, -1));
  assert_null(ibx_vocab_token(v, 16));
  assert_int_equal(ibx_vocab_lookup(v, "nothere"), -1);
  /* bad arguments */
  assert_int_equal(ibx_tokenize(v, text, 1, ids, &len), IBX_ERR_ARG);
  assert_int_equal(ibx_tokenize(NULL, text, 4, ids, &len), IBX_ERR_ARG);
  ibx_vocab_free(v);
}

static void test_vocab_errors(void **state) {
  (void)state;
  ibx_vocab *v = NULL;
  const char *only_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  assert_int_equal(ibx_vocab_from_pieces(only_specials, 5, &v), IBX_ERR_FORMAT);
  assert_non_null(strstr(ibx_errmsg(), "empty vocabulary"));
  assert_null(v);
  const char *wrong_order[] = {"[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"};
  assert_int_equal(ibx_vocab_from_pieces(wrong_order, 6, &v), IBX_ERR_FORMAT);
  const char *dup[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "a"};
  assert_int_equal(ibx_vocab_from_pieces(dup, 8, &v), IBX_ERR_FORMAT);
  assert_non_null(strstr(ibx_errmsg(), "twice"));
  const char *space[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a b"};
  assert_int_equal(ibx_vocab_from_pieces(space, 6, &v), IBX_ERR_FORMAT);
  const char *bad_utf8[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a\xff"};
  assert_int_equal(ibx_vocab_from_pieces(bad_utf8, 6, &v), IBX_ERR_FORMAT);
  assert_null(strchr(ibx_errmsg(), '\n'));
  /* learning from texts without a single word: a clear error, no vocabulary */
  const char *empty[] = {"", "  \t", "\x01\x02", "\xff\xfe"};
  assert_int_equal(ibx_wordpiece_train(empty, 4, 100, 1, &v), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "empty vocabulary"));
  assert_null(v);
  const char *one[] = {"hello"};
  assert_int_equal(ibx_wordpiece_train(one, 1, 5, 1, &v), IBX_ERR_ARG);
  assert_int_equal(ibx_wordpiece_train(one, 1, 50, 0, &v), IBX_ERR_ARG);
  /* min_freq above every character count: empty vocabulary */
  const char *once[] = {"abc"};
  assert_int_equal(ibx_wordpiece_train(once, 1, 50, 2, &v), IBX_ERR_ARG);
  assert_null(v);
  /* vocab_size smaller than the alphabet keeps the most frequent characters */
  const char *abc[] = {"aaa bb c", "ab"};
  assert_ibx_ok(ibx_wordpiece_train(abc, 2, 7, 1, &v));
  assert_int_equal(ibx_vocab_size(v), 7);
  /* counts: ##a 2, ##b 2, a 2, b 1, c 1; ties by bytes ('#' < 'a') */
  assert_string_equal(ibx_vocab_token(v, 5), "##a");
  assert_string_equal(ibx_vocab_token(v, 6), "##b");
  ibx_vocab *copy = NULL;
  assert_ibx_ok(ibx_vocab_copy(v, &copy));
  assert_int_equal(ibx_vocab_size(copy), 7);
  assert_int_equal(ibx_vocab_lookup(copy, "##b"), 6);
  assert_int_equal(ibx_vocab_lookup(copy, "a"), -1);
  ibx_vocab_free(copy);
  ibx_vocab_free(v);
}

/* Deterministic: the same texts give the same vocabulary; order matters
 * only through ties, and the vocabulary never exceeds vocab_size. */
static void test_train_deterministic(void **state) {
  (void)state;
  const char *texts[] = {"low lower lowest newer newest wider widest", "low low low newest",
                         "the lowest is the newest", "a widest newer lower low"};
  ibx_vocab *a = NULL, *b = NULL;
  assert_ibx_ok(ibx_wordpiece_train(texts, 4, 40, 1, &a));
  assert_ibx_ok(ibx_wordpiece_train(texts, 4, 40, 1, &b));
  assert_int_equal(ibx_vocab_size(a), ibx_vocab_size(b));
  assert_true(ibx_vocab_size(a) <= 40);
  for (int k = 0; k < ibx_vocab_size(a); k++)
    assert_string_equal(ibx_vocab_token(a, k), ibx_vocab_token(b, k));
  /* frequent words become single pieces */
  assert_true(ibx_vocab_lookup(a, "low") >= 0);
  int32_t ids[8];
  int len;
  assert_ibx_ok(ibx_tokenize(a, "low", 8, ids, &len));
  assert_int_equal(len, 3);
  ibx_vocab_free(a);
  ibx_vocab_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden),
      cmocka_unit_test(test_spans_truncation_unk),
      cmocka_unit_test(test_vocab_errors),
      cmocka_unit_test(test_train_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
