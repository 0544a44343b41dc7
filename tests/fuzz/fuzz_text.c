/* libFuzzer harness: the raw text readers and the tokenizer
 * (src/data/text_sources.c, text_basic.c, text_wordpiece.c, text_vocab.c,
 * text_dataset.c).
 *
 * Input: <mode byte> <max_len byte> <vocab byte> <min_freq byte> parts...
 * split on FUZZ_SEP:
 *   mode % 3 == 0: an aclImdb tree; part k becomes review k / 4 of
 *                  train/neg, train/pos, test/neg, test/pos (k % 4); both
 *                  splits are opened (the test split learns its vocabulary
 *                  from train), and the test split again with the train
 *                  split's vocabulary
 *   mode % 3 == 1: a fortunes directory; parts 0..3 are the category files
 *                  (fewer parts: missing files); both splits, seed = mode
 *   mode % 3 == 2: the tokenizer alone: a vocabulary learned from the parts
 *                  (NUL bytes end a part, as C strings do), then every part
 *                  tokenized with spans, and basic-tokenized
 * max_len = 2 + byte % 62, vocab_size = 6 + byte (up to 261), min_freq =
 * 1 + byte % 3. Every sequence read back is checked (fuzz_text_common.h),
 * including that its raw text tokenizes to the same ids again. */
#include "fuzz_text_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_part(const char *dir, const char *sub, int index, const fuzz_part *p) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/%d_5.txt", dir, sub, index);
  fuzz_write(path, p->data, p->size, 0);
}

/* the basic tokenizer refuses a NULL callback with a message */
static void check_words(const char *text) {
  ibx_clear_error();
  if (ibx_basic_tokenize(text, NULL, NULL) != IBX_ERR_ARG || !ibx_errmsg()[0])
    abort();
}

typedef struct {
  int last_begin, n;
} word_ctx;

static int on_word(const char *w, int nb, int begin, int end, void *ctx) {
  word_ctx *c = ctx;
  if (!w || nb <= 0 || begin < c->last_begin || end <= begin || end > c->n)
    abort();
  c->last_begin = begin;
  return 0;
}

static void tokenizer_mode(fuzz_part *parts, int np, int max_len, int vocab_size,
                           int min_freq) {
  char *texts[FUZZ_MAX_PARTS];
  for (int k = 0; k < np; k++) {
    texts[k] = malloc(parts[k].size + 1);
    if (!texts[k])
      fuzz_die("malloc");
    memcpy(texts[k], parts[k].data, parts[k].size);
    texts[k][parts[k].size] = '\0';
  }
  ibx_vocab *v = NULL;
  ibx_clear_error();
  int rc = ibx_wordpiece_train((const char *const *)texts, np, vocab_size, min_freq, &v);
  if (rc != IBX_OK) {
    if (v || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
      abort();
  } else {
    if (ibx_vocab_size(v) > vocab_size || ibx_vocab_size(v) <= IBX_TOK_NUM_SPECIAL)
      abort();
    int32_t ids[64];
    int sb[64], se[64], len;
    for (int k = 0; k < np; k++) {
      if (ibx_tokenize_spans(v, texts[k], max_len, ids, &len, sb, se) != IBX_OK)
        abort();
      const int n = (int)strlen(texts[k]);
      if (len < 2 || len > max_len || ids[0] != IBX_TOK_CLS || ids[len - 1] != IBX_TOK_SEP)
        abort();
      for (int p = 1; p < len - 1; p++)
        if ((ids[p] != IBX_TOK_UNK && ids[p] < IBX_TOK_NUM_SPECIAL) ||
            ids[p] >= ibx_vocab_size(v) || sb[p] < 0 || se[p] <= sb[p] || se[p] > n ||
            (p > 1 && sb[p] < sb[p - 1]))
          abort();
      char buf[32];
      for (int p = 0; p < len; p++)
        (void)ibx_token_display(v, ids[p], buf, sizeof buf);
    }
    ibx_vocab *copy = NULL;
    if (ibx_vocab_copy(v, &copy) != IBX_OK || ibx_vocab_size(copy) != ibx_vocab_size(v))
      abort();
    ibx_vocab_free(copy);
    ibx_vocab_free(v);
  }
  for (int k = 0; k < np; k++) {
    word_ctx c = {0, (int)strlen(texts[k])};
    if (ibx_basic_tokenize(texts[k], on_word, &c) != IBX_OK)
      abort();
    check_words(texts[k]);
    free(texts[k]);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  const int mode = data[0] % 3;
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = 2 + data[1] % 62;
  opt.vocab_size = 6 + data[2];
  opt.min_freq = 1 + data[3] % 3;
  opt.split_seed = data[0];
  fuzz_part parts[FUZZ_MAX_PARTS];
  const int np = fuzz_split(data + 4, size - 4, parts, FUZZ_MAX_PARTS);
  if (mode == 2) {
    tokenizer_mode(parts, np, opt.max_len, opt.vocab_size, opt.min_freq);
    return 0;
  }
  const char *dir = fuzz_dir();
  char path[PATH_MAX];
  ibx_text_dataset *tr = NULL, *te = NULL;
  if (mode == 0) {
    static const char *const subs[4] = {"train/neg", "train/pos", "test/neg", "test/pos"};
    fuzz_mkdir(fuzz_path(path, "train"));
    fuzz_mkdir(fuzz_path(path, "test"));
    for (int s = 0; s < 4; s++) {
      snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
      fuzz_mkdir(path);
    }
    for (int k = 0; k < np; k++)
      write_part(dir, subs[k % 4], k / 4, &parts[k]);
    ibx_clear_error();
    if (ibx_text_open_imdb(dir, "train", &opt, &tr) == IBX_OK) {
      fuzz_text_read_all(tr, 1);
      ibx_clear_error();
      if (ibx_text_open_imdb(dir, "test", &opt, &te) == IBX_OK) {
        fuzz_text_read_all(te, 1);
        ibx_text_close(te);
        te = NULL;
      } else
        fuzz_text_check_failure(te);
      opt.vocab = ibx_text_vocab(tr);
      if (ibx_text_open_imdb(dir, "test", &opt, &te) == IBX_OK) {
        fuzz_text_read_all(te, 1);
        ibx_text_close(te);
      } else
        fuzz_text_check_failure(te);
      ibx_text_close(tr);
    } else
      fuzz_text_check_failure(tr);
    for (int k = 0; k < np; k++) {
      snprintf(path, sizeof path, "%s/%s/%d_5.txt", dir, subs[k % 4], k / 4);
      fuzz_unlink(path);
    }
    for (int s = 3; s >= 0; s--) {
      snprintf(path, sizeof path, "%s/%s", dir, subs[s]);
      rmdir(path);
    }
    rmdir(fuzz_path(path, "train"));
    rmdir(fuzz_path(path, "test"));
    return 0;
  }
  /* fortunes */
  for (int k = 0; k < np && k < IBX_FORTUNES_NUM_CLASSES; k++)
    fuzz_write(fuzz_path(path, ibx_fortunes_classes[k]), parts[k].data, parts[k].size, 0);
  for (int s = 0; s < 2; s++) {
    ibx_text_dataset *ds = NULL;
    ibx_clear_error();
    if (ibx_text_open_fortunes(dir, s ? "test" : "train", &opt, &ds) == IBX_OK) {
      fuzz_text_read_all(ds, 1);
      ibx_text_close(ds);
    } else
      fuzz_text_check_failure(ds);
  }
  for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES; k++)
    fuzz_unlink(fuzz_path(path, ibx_fortunes_classes[k]));
  return 0;
}
