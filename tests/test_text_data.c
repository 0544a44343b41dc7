/* Text datasets (src/data/text_dataset.c, text_sources.c, text_h5.c): the
 * IMDB reader on a small aclImdb tree the test writes, the fortunes reader on
 * a hand-made category directory (and on the Debian package when it is
 * installed), the pre-training corpus (fortunes-corpus: no text of the
 * labelled test split, held-out text, one shared vocabulary), the K folds of
 * the validation split, the native HDF5 text format (round trip, ranges, checksums,
 * corrupt files) and bad input: empty files, non-UTF-8 bytes, long texts,
 * missing labels, empty vocabularies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "ibx/data.h"
#include "ibx/text.h"
#include "testutil.h"

static void assert_one_line_error(int rc, int expect, const char *needle1, const char *needle2) {
  const char *msg = ibx_errmsg();
  if (rc != expect)
    fail_msg("expected %s, got %s: %s", ibx_errname(expect), ibx_errname(rc), msg);
  if (strchr(msg, '\n'))
    fail_msg("error message is not one line: %s", msg);
  if (needle1 && !strstr(msg, needle1))
    fail_msg("error message lacks '%s': %s", needle1, msg);
  if (needle2 && !strstr(msg, needle2))
    fail_msg("error message lacks '%s': %s", needle2, msg);
}

static void tmp(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", IBX_TEST_TMP, name);
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f)
    fail_msg("cannot write %s", path);
  if (n)
    assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void mkdirs(const char *root, const char *sub) {
  char p[8300];
  snprintf(p, sizeof p, "%s/%s", root, sub);
  mkdir(p, 0755);
}

static void write_review(const char *root, const char *sub, const char *name, const char *text) {
  char p[12400];
  snprintf(p, sizeof p, "%s/%s/%s", root, sub, name);
  write_file(p, text, strlen(text));
}

static void rm_rf(const char *path) {
  char cmd[8400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  assert_int_equal(system(cmd), 0);
}

/* A small aclImdb tree: 3 neg + 3 pos train reviews, 2 + 2 test, plus the
 * files a real download has that the reader must ignore. */
static void make_imdb(const char *root) {
  rm_rf(root);
  mkdir(root, 0755);
  const char *subs[] = {"train", "test", "train/pos", "train/neg", "test/pos", "test/neg",
                        "train/unsup"};
  for (int k = 0; k < 7; k++)
    mkdirs(root, subs[k]);
  write_review(root, "train/neg", "0_3.txt", "A terrible, boring film.<br /><br />Awful acting.");
  write_review(root, "train/neg", "1_1.txt", "Boring and awful. I hated it.");
  write_review(root, "train/neg", "10_2.txt", "The worst film; terrible plot, awful.");
  write_review(root, "train/pos", "0_9.txt", "A wonderful, great film. I loved it!");
  write_review(root, "train/pos", "1_10.txt", "Great acting, wonderful plot. Loved it.");
  write_review(root, "train/pos", "2_8.txt", "The best film: great, great, great.");
  write_review(root, "train/unsup", "0_0.txt", "unsupervised text that must be ignored");
  write_review(root, "train", "urls_pos.txt", "http://www.imdb.com/title/tt0453418/usercomments");
  write_review(root, "train", "labeledBow.feat", "9 0:9 1:1 2:4");
  write_review(root, ".", "imdb.vocab", "the\nand\n");
  write_review(root, "test/neg", "0_2.txt", "Awful. Zyzzyva quux is unseen in training.");
  write_review(root, "test/neg", "1_4.txt", "Boring film, terrible.");
  write_review(root, "test/pos", "0_10.txt", "Wonderful film, great plot!");
  /* non-UTF-8 bytes (Latin-1 e-acute) are read as U+FFFD and dropped */
  write_review(root, "test/pos", "1_7.txt", "Caf\xe9 scenes were great.");
}

static void test_imdb(void **state) {
  (void)state;
  char root[4096];
  tmp(root, sizeof root, "aclImdb");
  make_imdb(root);
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = 16;
  opt.vocab_size = 80;
  opt.min_freq = 1;
  ibx_text_dataset *tr = NULL, *te = NULL;
  assert_ibx_ok(ibx_text_open_imdb(root, "train", &opt, &tr));
  assert_int_equal(ibx_text_count(tr), 6);
  assert_int_equal(ibx_text_num_classes(tr), 2);
  assert_string_equal(ibx_text_class_name(tr, 0), "neg");
  assert_string_equal(ibx_text_class_name(tr, 1), "pos");
  assert_null(ibx_text_class_name(tr, 2));
  assert_int_equal(ibx_text_max_len(tr), 16);
  assert_string_equal(ibx_text_name(tr), "imdb train");
  /* neg first, files in name order: 0_3, 10_2, 1_1 */
  int32_t ids[16];
  int len, label;
  assert_ibx_ok(ibx_text_read(tr, 0, ids, &len, &label));
  assert_int_equal(label, 0);
  assert_string_equal(ibx_text_raw(tr, 0), "A terrible, boring film.\n\nAwful acting.");
  assert_string_equal(ibx_text_raw(tr, 1), "The worst film; terrible plot, awful.");
  assert_ibx_ok(ibx_text_read(tr, 5, ids, &len, &label));
  assert_int_equal(label, 1);
  assert_int_equal(ids[0], IBX_TOK_CLS);
  assert_int_equal(ids[len - 1], IBX_TOK_SEP);
  /* the reader's ids are exactly the tokenizer's */
  const ibx_vocab *v = ibx_text_vocab(tr);
  for (long i = 0; i < 6; i++) {
    int32_t want[16];
    int wl;
    assert_ibx_ok(ibx_text_read(tr, i, ids, &len, NULL));
    assert_ibx_ok(ibx_tokenize(v, ibx_text_raw(tr, i), 16, want, &wl));
    assert_int_equal(len, wl);
    assert_memory_equal(ids, want, sizeof want);
  }
  /* the test split uses the train split's vocabulary (learned from train) */
  assert_ibx_ok(ibx_text_open_imdb(root, "test", &opt, &te));
  assert_int_equal(ibx_text_count(te), 4);
  const ibx_vocab *vt = ibx_text_vocab(te);
  assert_int_equal(ibx_vocab_size(vt), ibx_vocab_size(v));
  for (int k = 0; k < ibx_vocab_size(v); k++)
    assert_string_equal(ibx_vocab_token(vt, k), ibx_vocab_token(v, k));
  /* characters never seen in training ('z', 'q', 'x' are absent): [UNK] */
  assert_ibx_ok(ibx_text_read(te, 0, ids, &len, &label));
  int unk = 0;
  for (int k = 0; k < len; k++)
    unk += ids[k] == IBX_TOK_UNK;
  assert_true(unk >= 2);
  assert_string_equal(ibx_text_raw(te, 3), "Caf\xef\xbf\xbd scenes were great.");
  /* long reviews are truncated to max_len, ending in [SEP] */
  opt.max_len = 6;
  ibx_text_dataset *short_ds = NULL;
  assert_ibx_ok(ibx_text_open_imdb(root, "train", &opt, &short_ds));
  assert_ibx_ok(ibx_text_read(short_ds, 0, ids, &len, NULL));
  assert_int_equal(len, 6);
  assert_int_equal(ids[5], IBX_TOK_SEP);
  ibx_text_close(short_ds);
  /* an explicit vocabulary is used as given */
  opt.max_len = 16;
  opt.vocab = v;
  ibx_text_dataset *same = NULL;
  assert_ibx_ok(ibx_text_open("imdb", root, "test", &opt, &same));
  for (long i = 0; i < 4; i++) {
    int32_t a[16], b[16];
    assert_ibx_ok(ibx_text_read(te, i, a, NULL, NULL));
    assert_ibx_ok(ibx_text_read(same, i, b, NULL, NULL));
    assert_memory_equal(a, b, sizeof a);
  }
  ibx_text_close(same);
  assert_int_equal(ibx_text_read(te, 4, ids, &len, &label), IBX_ERR_ARG);
  ibx_text_close(tr);
  ibx_text_close(te);
}

static void test_imdb_bad_input(void **state) {
  (void)state;
  char root[4096], p[4200];
  tmp(root, sizeof root, "aclImdb-bad");
  ibx_text_dataset *ds = NULL;
  rm_rf(root);
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_IO, "aclImdb-bad",
                        "train/neg");
  assert_null(ds);
  make_imdb(root);
  /* an empty review file */
  write_review(root, "train/pos", "5_9.txt", "");
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_FORMAT, "5_9.txt",
                        "empty review");
  write_review(root, "train/pos", "5_9.txt", " \n<br /> \t");
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_FORMAT, "5_9.txt",
                        "empty review");
  snprintf(p, sizeof p, "%s/train/pos/5_9.txt", root);
  unlink(p);
  /* a class directory without reviews: labels missing */
  rm_rf(root);
  make_imdb(root);
  snprintf(p, sizeof p, "%s/train/pos", root);
  rm_rf(p);
  mkdir(p, 0755);
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_FORMAT, "train/pos",
                        "missing labels");
  rm_rf(p);
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_IO, "train/pos",
                        NULL);
  /* the test split needs the train split for its vocabulary */
  assert_one_line_error(ibx_text_open_imdb(root, "test", NULL, &ds), IBX_ERR_IO, "train/pos",
                        NULL);
  assert_one_line_error(ibx_text_open_imdb(root, "unsup", NULL, &ds), IBX_ERR_ARG, "split", NULL);
  /* texts without a single word: empty vocabulary */
  rm_rf(root);
  make_imdb(root);
  const char *dirs[] = {"train/neg", "train/pos"};
  for (int d = 0; d < 2; d++) {
    snprintf(p, sizeof p, "%s/%s", root, dirs[d]);
    rm_rf(p);
    mkdir(p, 0755);
    write_review(root, dirs[d], "0_1.txt", "\xff\xfe\x01");
  }
  assert_one_line_error(ibx_text_open_imdb(root, "train", NULL, &ds), IBX_ERR_ARG,
                        "empty vocabulary", NULL);
  assert_null(ds);
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = 1;
  assert_one_line_error(ibx_text_open("imdb", root, "train", &opt, &ds), IBX_ERR_ARG, "max_len",
                        NULL);
  assert_one_line_error(ibx_text_open_named("nope", root, "train", &ds), IBX_ERR_ARG, "nope",
                        NULL);
  rm_rf(root);
}

/* Four category files in a directory of the test's own. */
static void make_fortunes(const char *dir) {
  rm_rf(dir);
  mkdir(dir, 0755);
  const char *names[4] = {"computers", "politics", "science", "songs-poems"};
  for (int k = 0; k < 4; k++) {
    char path[4200], body[8192] = "";
    snprintf(path, sizeof path, "%s/%s", dir, names[k]);
    for (int i = 0; i < 10; i++) {
      char e[256];
      snprintf(e, sizeof e, "%s fortune number %d about %s.\n\t-- Someone\n%%\n", names[k], i,
               names[k]);
      strcat(body, e);
    }
    strcat(body, "%\n\n%\n"); /* blank entries are skipped */
    strcat(body, "A shared fortune.\n%\n");   /* in every file: dropped everywhere */
    if (k == 0)
      strcat(body, "Twice in computers.\n%\nTwice in computers.\n"); /* kept once */
    write_file(path, body, strlen(body));
  }
}

/* The fortunes fixture written into a scratch directory NAME (returned in
 * DIR), opened as train and test with every word counted (min_freq 1) and,
 * when VOCAB_SIZE > 0, that vocabulary size. */
static void open_fortunes_fixture(const char *name, char *dir, size_t cap, int vocab_size,
                                  ibx_text_options *opt, ibx_text_dataset **tr,
                                  ibx_text_dataset **te) {
  tmp(dir, cap, name);
  make_fortunes(dir);
  ibx_text_options_default(opt);
  opt->min_freq = 1;
  if (vocab_size > 0)
    opt->vocab_size = vocab_size;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "train", opt, tr));
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", opt, te));
}

static void test_fortunes_files(void **state) {
  (void)state;
  char dir[4096];
  ibx_text_options opt;
  ibx_text_dataset *tr = NULL, *te = NULL;
  open_fortunes_fixture("fortunes", dir, sizeof dir, 0, &opt, &tr, &te);
  /* 41 entries in computers (10 + the repeated one), 10 in the others;
   * 20 % of each class (rounded) is test */
  assert_int_equal(ibx_text_count(tr) + ibx_text_count(te), 41);
  assert_int_equal(ibx_text_count(te), 2 + 2 + 2 + 2);
  assert_int_equal(ibx_text_num_classes(tr), IBX_FORTUNES_NUM_CLASSES);
  assert_string_equal(ibx_text_class_name(tr, 3), "songs-poems");
  int seen_twice = 0;
  for (long i = 0; i < ibx_text_count(tr); i++) {
    const char *t = ibx_text_raw(tr, i);
    assert_null(strstr(t, "shared fortune"));
    assert_null(strchr(t, '%'));
    seen_twice += strcmp(t, "Twice in computers.") == 0;
    /* no training text is in the test split */
    for (long j = 0; j < ibx_text_count(te); j++)
      assert_string_not_equal(t, ibx_text_raw(te, j));
    int label;
    assert_ibx_ok(ibx_text_read(tr, i, NULL, NULL, &label));
    char want[64];
    snprintf(want, sizeof want, "%s fortune", ibx_text_class_name(tr, label));
    if (strcmp(t, "Twice in computers.") != 0)
      assert_true(strncmp(t, want, strlen(want)) == 0);
  }
  for (long j = 0; j < ibx_text_count(te); j++)
    seen_twice += strcmp(ibx_text_raw(te, j), "Twice in computers.") == 0;
  assert_int_equal(seen_twice, 1);
  assert_string_equal(ibx_text_raw(tr, 0) + strlen(ibx_text_raw(tr, 0)) - 11, "\t-- Someone");
  /* the split is fixed by the seed: same seed same split, another seed
   * another split */
  ibx_text_dataset *again = NULL, *other = NULL;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", &opt, &again));
  opt.split_seed = 99;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", &opt, &other));
  int same = 1, differs = 0;
  for (long j = 0; j < ibx_text_count(te); j++) {
    same &= strcmp(ibx_text_raw(te, j), ibx_text_raw(again, j)) == 0;
    differs |= strcmp(ibx_text_raw(te, j), ibx_text_raw(other, j)) != 0;
  }
  assert_true(same);
  assert_true(differs);
  ibx_text_close(again);
  ibx_text_close(other);
  ibx_text_close(tr);
  ibx_text_close(te);
  /* a missing or empty category file */
  char path[4200];
  snprintf(path, sizeof path, "%s/politics", dir);
  write_file(path, "%\n\n%\n", 5);
  ibx_text_dataset *ds = NULL;
  assert_one_line_error(ibx_text_open_fortunes(dir, "train", NULL, &ds), IBX_ERR_FORMAT,
                        "politics", "no fortune");
  unlink(path);
  assert_one_line_error(ibx_text_open_fortunes(dir, "train", NULL, &ds), IBX_ERR_IO, "politics",
                        "fortunes");
  assert_null(ds);
  rm_rf(dir);
}

static int cmp_cstr_ptr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when some text of a has the normalised key of some text of b. */
static int key_overlap(const ibx_text_dataset *a, const ibx_text_dataset *b, long *count) {
  long hits = 0;
  for (long i = 0; i < ibx_text_count(b); i++) {
    char *kb = ibx_text_normalized_key(ibx_text_raw(b, i));
    assert_non_null(kb);
    for (long j = 0; j < ibx_text_count(a); j++) {
      char *ka = ibx_text_normalized_key(ibx_text_raw(a, j));
      assert_non_null(ka);
      hits += strcmp(ka, kb) == 0;
      free(ka);
    }
    free(kb);
  }
  if (count)
    *count = hits;
  return hits > 0;
}

/* The pre-training corpus: every fortune file, no labelled test text (not
 * even a copy in another file that differs in case and white space), index
 * files and subdirectories (off/) ignored, held-out text for the MLM
 * evaluation, one shared vocabulary; the validation split of fortunes. */
static void test_fortunes_corpus(void **state) {
  (void)state;
  char dir[4096], path[4200];
  ibx_text_options opt;
  ibx_text_dataset *ltr = NULL, *lte = NULL;
  open_fortunes_fixture("fortunes_corpus", dir, sizeof dir, 200, &opt, &ltr, &lte);
  /* another file: every labelled text again, upper-cased with other white
   * space, and 200 unlabelled texts */
  static char body[65536];
  body[0] = '\0';
  for (int s = 0; s < 2; s++) {
    const ibx_text_dataset *d = s ? lte : ltr;
    for (long i = 0; i < ibx_text_count(d); i++) {
      char e[512];
      snprintf(e, sizeof e, "  %s  \n%%\n", ibx_text_raw(d, i));
      for (char *c = e; *c; c++)
        *c = *c == '\t' ? ' ' : (*c >= 'a' && *c <= 'z') ? (char)(*c - 32) : *c;
      strcat(body, e);
    }
  }
  for (int i = 0; i < 200; i++) {
    char e[128];
    snprintf(e, sizeof e, "Unlabelled saying %d of the other file.\n%%\n", i);
    strcat(body, e);
  }
  snprintf(path, sizeof path, "%s/other", dir);
  write_file(path, body, strlen(body));
  snprintf(path, sizeof path, "%s/other.dat", dir);
  write_file(path, "Indexfile text\n%\n", 17);
  snprintf(path, sizeof path, "%s/off", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/off/rude", dir);
  write_file(path, "Offensive text\n%\n", 17);
  ibx_text_dataset *ctr = NULL, *cte = NULL;
  assert_ibx_ok(ibx_text_open("fortunes-corpus", dir, "train", &opt, &ctr));
  assert_ibx_ok(ibx_text_open("fortunes-corpus", dir, "test", &opt, &cte));
  assert_int_equal(ibx_text_num_classes(ctr), 1);
  /* no labelled test text in either split */
  assert_false(key_overlap(ctr, lte, NULL));
  assert_false(key_overlap(cte, lte, NULL));
  /* every labelled train text is pre-training text, exactly once */
  long hits = 0;
  key_overlap(ctr, ltr, &hits);
  assert_int_equal(hits, ibx_text_count(ltr));
  assert_false(key_overlap(cte, ltr, NULL));
  /* the held-out split: some unlabelled text, none of it in train */
  assert_true(ibx_text_count(cte) > 0 && ibx_text_count(cte) < 40);
  assert_false(key_overlap(ctr, cte, NULL));
  /* 200 unlabelled + the shared fortune (dropped from the labelled set, not
   * a test text) + the labelled train texts, each once */
  assert_int_equal(ibx_text_count(ctr) + ibx_text_count(cte), 200 + 1 + ibx_text_count(ltr));
  for (long i = 0; i < ibx_text_count(ctr); i++) {
    assert_null(strstr(ibx_text_raw(ctr, i), "Indexfile"));
    assert_null(strstr(ibx_text_raw(ctr, i), "Offensive"));
  }
  /* one shared vocabulary: the corpus's, learned from its train split */
  ibx_vocab *v = NULL;
  assert_ibx_ok(ibx_text_learn_vocab("fortunes-corpus", dir, &opt, &v));
  const ibx_vocab *cv = ibx_text_vocab(ctr);
  assert_int_equal(ibx_vocab_size(v), ibx_vocab_size(cv));
  for (int i = 0; i < ibx_vocab_size(v); i++)
    assert_string_equal(ibx_vocab_token(v, i), ibx_vocab_token(cv, i));
  ibx_text_options fo = opt;
  fo.vocab = v;
  ibx_text_dataset *shared = NULL;
  assert_ibx_ok(ibx_text_open("fortunes", dir, "test", &fo, &shared));
  assert_ptr_not_equal(ibx_text_vocab(shared), v); /* copied */
  assert_string_equal(ibx_vocab_token(ibx_text_vocab(shared), 40), ibx_vocab_token(v, 40));
  ibx_text_close(shared);
  ibx_vocab_free(v);
  assert_one_line_error(ibx_text_learn_vocab("h5", dir, &opt, &v), IBX_ERR_ARG, "h5",
                        "raw text source");
  /* the validation split: 80 / 20 of the labelled train split, no test text */
  ibx_text_options vo = opt;
  vo.validation = 1;
  ibx_text_dataset *vtr = NULL, *vva = NULL;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "train", &vo, &vtr));
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", &vo, &vva));
  assert_int_equal(ibx_text_count(vtr) + ibx_text_count(vva), ibx_text_count(ltr));
  assert_true(ibx_text_count(vva) > 0);
  assert_false(key_overlap(vtr, lte, NULL));
  assert_false(key_overlap(vva, lte, NULL));
  assert_false(key_overlap(vtr, vva, NULL));
  ibx_text_close(vtr), ibx_text_close(vva);
  ibx_text_close(ctr), ibx_text_close(cte), ibx_text_close(ltr), ibx_text_close(lte);
  assert_one_line_error(ibx_text_open("fortunes-corpus", "/nonexistent/fortunes", "train", &opt,
                                      &ctr),
                        IBX_ERR_IO, "/nonexistent/fortunes", NULL);
  rm_rf(dir);
}

static void assert_same_text(const ibx_text_dataset *a, long a0, const ibx_text_dataset *b,
                             long n);

/* Opens fold `fold` of `folds` of the labelled train split (validation) as
 * *tr (the other folds) and *va (the fold). */
static void open_fold(const char *dir, const ibx_text_options *base, int fold, int folds,
                      ibx_text_dataset **tr, ibx_text_dataset **va) {
  ibx_text_options o = *base;
  o.validation = 1;
  o.validation_fold = fold;
  o.validation_folds = folds;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "train", &o, tr));
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", &o, va));
}

static long class_count(const ibx_text_dataset *d, int k) {
  long n = 0;
  for (long i = 0; i < ibx_text_count(d); i++) {
    int label;
    assert_ibx_ok(ibx_text_read(d, i, NULL, NULL, &label));
    n += label == k;
  }
  return n;
}

/* K-fold cross-validation on the labelled train split: for 5 and 3 folds the
 * validation folds are disjoint, cover the train split exactly once, never
 * hold a test text, each fold's train part is the rest of the train split,
 * and each class is spread over the folds within one text; fold 0 of 5 is
 * the 80/20 validation split (the default); bad fold options fail with one
 * line. */
static void test_fortunes_folds(void **state) {
  (void)state;
  char dir[4096];
  ibx_text_options opt;
  ibx_text_dataset *ltr = NULL, *lte = NULL;
  open_fortunes_fixture("fortunes_folds", dir, sizeof dir, 200, &opt, &ltr, &lte);
  const long n = ibx_text_count(ltr);
  static const int fold_counts[2] = {5, 3};
  for (int c = 0; c < 2; c++) {
    const int folds = fold_counts[c];
    long *seen = calloc((size_t)n, sizeof *seen); /* folds holding train text i */
    long total = 0;
    for (int f = 0; f < folds; f++) {
      ibx_text_dataset *tr = NULL, *va = NULL;
      open_fold(dir, &opt, f, folds, &tr, &va);
      assert_true(ibx_text_count(va) > 0);
      assert_int_equal(ibx_text_count(tr) + ibx_text_count(va), n);
      total += ibx_text_count(va);
      assert_false(key_overlap(va, lte, NULL));
      assert_false(key_overlap(tr, lte, NULL));
      assert_false(key_overlap(tr, va, NULL));
      for (long i = 0; i < n; i++)
        for (long j = 0; j < ibx_text_count(va); j++)
          seen[i] += !strcmp(ibx_text_raw(ltr, i), ibx_text_raw(va, j));
      /* stratified: each class's share of the fold is m / folds, rounded */
      for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES; k++) {
        const long m = class_count(ltr, k), got = class_count(va, k);
        assert_true(got * folds >= m - folds && got * folds <= m + folds);
      }
      char want[128];
      snprintf(want, sizeof want, "fold %d of %d", f, folds);
      if (f || folds != 5)
        assert_non_null(strstr(ibx_text_name(va), want));
      ibx_text_close(tr), ibx_text_close(va);
    }
    assert_int_equal(total, n);
    for (long i = 0; i < n; i++)
      assert_int_equal(seen[i], 1);
    free(seen);
  }
  /* fold 0 of 5 is the validation split by default, text for text */
  ibx_text_options vo = opt;
  vo.validation = 1;
  ibx_text_dataset *dtr = NULL, *dva = NULL, *f0tr = NULL, *f0va = NULL;
  assert_ibx_ok(ibx_text_open_fortunes(dir, "train", &vo, &dtr));
  assert_ibx_ok(ibx_text_open_fortunes(dir, "test", &vo, &dva));
  open_fold(dir, &opt, 0, 5, &f0tr, &f0va);
  assert_string_equal(ibx_text_name(dva), "fortunes validation (20 % of the train split)");
  assert_int_equal(ibx_text_count(dva), ibx_text_count(f0va));
  assert_same_text(dva, 0, f0va, ibx_text_count(dva));
  assert_same_text(dtr, 0, f0tr, ibx_text_count(dtr));
  /* 20 % of each class, rounded, as before folds existed */
  for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES; k++)
    assert_int_equal(class_count(dva, k), (class_count(ltr, k) + 2) / 5);
  ibx_text_close(dtr), ibx_text_close(dva), ibx_text_close(f0tr), ibx_text_close(f0va);
  /* bad fold options: one line, through both openers */
  ibx_text_dataset *ds = NULL;
  ibx_text_options bad = vo;
  bad.validation_folds = 1;
  assert_one_line_error(ibx_text_open_fortunes(dir, "test", &bad, &ds), IBX_ERR_ARG,
                        "validation_folds 1", "2..");
  bad.validation_folds = 5, bad.validation_fold = 5;
  assert_one_line_error(ibx_text_open("fortunes", dir, "train", &bad, &ds), IBX_ERR_ARG,
                        "validation_fold 5", "0..4");
  bad.validation_fold = -1;
  assert_one_line_error(ibx_text_open_fortunes(dir, "train", &bad, &ds), IBX_ERR_ARG,
                        "validation_fold -1", NULL);
  bad = opt; /* folds without validation */
  bad.validation_fold = 2;
  assert_one_line_error(ibx_text_open_fortunes(dir, "train", &bad, &ds), IBX_ERR_ARG,
                        "fold 2 of 5", "without validation");
  bad = opt;
  bad.validation_folds = 10;
  assert_one_line_error(ibx_text_open("fortunes", dir, "test", &bad, &ds), IBX_ERR_ARG,
                        "without validation", NULL);
  assert_null(ds);
  ibx_text_close(ltr), ibx_text_close(lte);
  rm_rf(dir);
}

/* FNV-1a 64 over each sequence's label byte, raw text and a NUL, in order. */
static uint64_t text_digest(const ibx_text_dataset *d) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (long i = 0; i < ibx_text_count(d); i++) {
    int label;
    assert_ibx_ok(ibx_text_read(d, i, NULL, NULL, &label));
    const char *t = ibx_text_raw(d, i);
    h = (h ^ (uint8_t)label) * 0x100000001b3ull;
    for (size_t j = 0; j <= strlen(t); j++)
      h = (h ^ (uint8_t)t[j]) * 0x100000001b3ull;
  }
  return h;
}

/* Options for the tests on the Debian fortunes package; 0 when it is absent.
 * The texts are what is checked, not the vocabulary: a small one will do. */
static int package_options(ibx_text_options *opt) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", IBX_FORTUNES_DIR, ibx_fortunes_classes[0]);
  if (access(p, R_OK) != 0)
    return 0;
  ibx_text_options_default(opt);
  opt->vocab_size = 100;
  opt->max_len = 8;
  return 1;
}

/* On the Debian package (skipped when absent): fold 0 of 5 is exactly the
 * validation split ibx made before folds existed (digests of its 1980 train
 * and 495 validation texts and labels, in order, from `ibx data convert
 * --format fortunes --validation` at commit 02b71b7), and the 5 folds
 * partition the 2475 train texts. */
static void test_fortunes_folds_package(void **state) {
  (void)state;
  ibx_text_options opt;
  if (!package_options(&opt))
    skip();
  ibx_vocab *v = NULL;
  assert_ibx_ok(ibx_text_learn_vocab("fortunes", NULL, &opt, &v));
  opt.vocab = v;
  ibx_text_dataset *tr = NULL, *va = NULL;
  open_fold(NULL, &opt, 0, 5, &tr, &va);
  assert_int_equal(ibx_text_count(tr), 1980);
  assert_int_equal(ibx_text_count(va), 495);
  assert_true(text_digest(tr) == 0x33e14069785ce563ull);
  assert_true(text_digest(va) == 0x5f2be2f622d8db97ull);
  ibx_text_close(tr), ibx_text_close(va);
  long total = 0;
  for (int f = 1; f < 5; f++) {
    open_fold(NULL, &opt, f, 5, &tr, &va);
    assert_int_equal(ibx_text_count(tr) + ibx_text_count(va), 2475);
    total += ibx_text_count(va);
    ibx_text_close(tr), ibx_text_close(va);
  }
  assert_int_equal(total + 495, 2475);
  ibx_vocab_free(v);
}

/* The same no-leak rule on the Debian package (skipped when absent). */
static void test_fortunes_corpus_package(void **state) {
  (void)state;
  ibx_text_options opt;
  if (!package_options(&opt))
    skip();
  ibx_text_dataset *lte = NULL, *ctr = NULL, *cte = NULL;
  assert_ibx_ok(ibx_text_open("fortunes", NULL, "test", &opt, &lte));
  assert_ibx_ok(ibx_text_open("fortunes-corpus", NULL, "train", &opt, &ctr));
  assert_ibx_ok(ibx_text_open("fortunes-corpus", NULL, "test", &opt, &cte));
  assert_true(ibx_text_count(ctr) > 10000 && ibx_text_count(cte) > 300);
  /* sorted keys of the test split, then a binary search per corpus text */
  const long nt = ibx_text_count(lte);
  char **keys = malloc((size_t)nt * sizeof *keys);
  for (long i = 0; i < nt; i++)
    assert_non_null(keys[i] = ibx_text_normalized_key(ibx_text_raw(lte, i)));
  qsort(keys, (size_t)nt, sizeof *keys, cmp_cstr_ptr);
  for (int s = 0; s < 2; s++) {
    const ibx_text_dataset *d = s ? cte : ctr;
    for (long i = 0; i < ibx_text_count(d); i++) {
      char *k = ibx_text_normalized_key(ibx_text_raw(d, i));
      if (bsearch(&k, keys, (size_t)nt, sizeof *keys, cmp_cstr_ptr))
        fail_msg("corpus %s text %ld is a test-split text: %s", s ? "test" : "train", i, k);
      free(k);
    }
  }
  for (long i = 0; i < nt; i++)
    free(keys[i]);
  free(keys);
  ibx_text_close(lte), ibx_text_close(ctr), ibx_text_close(cte);
}

/* The embedded default, from the Debian package (skipped when absent). */
static void test_fortunes_package(void **state) {
  (void)state;
  ibx_text_options unused;
  if (!package_options(&unused))
    skip();
  ibx_text_dataset *tr = NULL, *te = NULL;
  assert_ibx_ok(ibx_text_open_named("fortunes", NULL, "train", &tr));
  assert_ibx_ok(ibx_text_open_named("fortunes", "", "test", &te));
  const long ntr = ibx_text_count(tr), nte = ibx_text_count(te);
  assert_true(ntr > 2000 && nte > 500);
  assert_true(nte * 4 >= ntr - 8 && nte * 4 <= ntr + 8); /* 80 / 20 */
  assert_int_equal(ibx_vocab_size(ibx_text_vocab(tr)), 4000);
  long counts[IBX_FORTUNES_NUM_CLASSES] = {0};
  for (long i = 0; i < ntr; i++) {
    int label;
    assert_ibx_ok(ibx_text_read(tr, i, NULL, NULL, &label));
    counts[label]++;
  }
  for (int k = 0; k < IBX_FORTUNES_NUM_CLASSES; k++)
    assert_true(counts[k] > 300);
  ibx_text_close(tr);
  ibx_text_close(te);
}

static void assert_same_text(const ibx_text_dataset *a, long a0, const ibx_text_dataset *b,
                             long n) {
  const int L = ibx_text_max_len(a);
  assert_int_equal(L, ibx_text_max_len(b));
  int32_t *x = malloc((size_t)L * sizeof *x), *y = malloc((size_t)L * sizeof *y);
  for (long i = 0; i < n; i++) {
    int la, lb, ca, cb;
    assert_ibx_ok(ibx_text_read(a, a0 + i, x, &la, &ca));
    assert_ibx_ok(ibx_text_read(b, i, y, &lb, &cb));
    assert_int_equal(la, lb);
    assert_int_equal(ca, cb);
    assert_memory_equal(x, y, (size_t)L * sizeof *x);
    assert_string_equal(ibx_text_raw(a, a0 + i), ibx_text_raw(b, i));
  }
  free(x);
  free(y);
}

/* Overwrites one int32 element of /name (row, col) in an HDF5 file. */
static void poke_i32(const char *path, const char *name, int rank, hsize_t row, hsize_t col,
                     int32_t value) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hsize_t start[2] = {row, col}, count[2] = {1, 1};
  H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t m = H5Screate_simple(1, count, NULL);
  assert_true(H5Dwrite(d, H5T_NATIVE_INT32, m, sp, H5P_DEFAULT, &value) >= 0);
  (void)rank;
  H5Sclose(m);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
}

static void copy_file(const char *from, const char *to) {
  char cmd[8500];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
  assert_int_equal(system(cmd), 0);
}

static void test_h5(void **state) {
  (void)state;
  char root[4096], dir[4096], train[4200], test[4200], bad[4200];
  tmp(root, sizeof root, "aclImdb-h5");
  make_imdb(root);
  tmp(dir, sizeof dir, "text-h5");
  rm_rf(dir);
  mkdir(dir, 0755);
  snprintf(train, sizeof train, "%s/train.h5", dir);
  snprintf(test, sizeof test, "%s/test.h5", dir);
  snprintf(bad, sizeof bad, "%s/bad.h5", dir);
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  opt.max_len = 12;
  opt.vocab_size = 60;
  opt.min_freq = 1;
  ibx_text_dataset *src = NULL, *src_te = NULL, *ds = NULL;
  assert_ibx_ok(ibx_text_open_imdb(root, "train", &opt, &src));
  assert_ibx_ok(ibx_text_open_imdb(root, "test", &opt, &src_te));
  assert_ibx_ok(ibx_text_write_h5(src, train, "test_text_data"));
  assert_ibx_ok(ibx_text_write_h5(src_te, test, "test_text_data"));
  assert_true(ibx_text_h5_is_text(train));
  long n = 0;
  assert_ibx_ok(ibx_text_h5_count(train, &n));
  assert_int_equal(n, 6);
  /* whole file */
  assert_ibx_ok(ibx_text_open_h5(train, &ds));
  assert_int_equal(ibx_text_count(ds), 6);
  assert_string_equal(ibx_text_name(ds), "imdb train");
  assert_int_equal(ibx_text_num_classes(ds), 2);
  assert_string_equal(ibx_text_class_name(ds, 1), "pos");
  const ibx_vocab *a = ibx_text_vocab(src), *b = ibx_text_vocab(ds);
  assert_int_equal(ibx_vocab_size(a), ibx_vocab_size(b));
  for (int k = 0; k < ibx_vocab_size(a); k++)
    assert_string_equal(ibx_vocab_token(a, k), ibx_vocab_token(b, k));
  assert_same_text(src, 0, ds, 6);
  ibx_text_close(ds);
  /* by name: path/<split>.h5 */
  assert_ibx_ok(ibx_text_open_named("h5", dir, "test", &ds));
  assert_same_text(src_te, 0, ds, 4);
  ibx_text_close(ds);
  /* ranges, as two ranks read them */
  assert_ibx_ok(ibx_text_open_h5_range(train, 2, 3, &ds));
  assert_int_equal(ibx_text_count(ds), 3);
  assert_same_text(src, 2, ds, 3);
  ibx_text_close(ds);
  assert_ibx_ok(ibx_text_open_h5_range(train, 6, 0, &ds));
  assert_int_equal(ibx_text_count(ds), 0);
  ibx_text_close(ds);
  ds = NULL;
  assert_one_line_error(ibx_text_open_h5_range(train, 4, 3, &ds), IBX_ERR_ARG, "range", NULL);
  /* an image dataset file is not a text file, and vice versa */
  assert_false(ibx_text_h5_is_text(bad));
  ibx_dataset *img = NULL;
  assert_int_not_equal(ibx_dataset_open_h5(train, &img), IBX_OK);
  assert_null(img);
  /* corrupt ids (valid id, wrong value): checksum mismatch */
  copy_file(train, bad);
  poke_i32(bad, "ids", 2, 0, 1, 7);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "ids_crc32", "bad.h5");
  assert_null(ds);
  /* ... but a range does not verify checksums */
  assert_ibx_ok(ibx_text_open_h5_range(bad, 0, 1, &ds));
  ibx_text_close(ds);
  /* id outside the vocabulary, [SEP] missing, label out of range, length */
  copy_file(train, bad);
  poke_i32(bad, "ids", 2, 1, 2, 100000);
  assert_one_line_error(ibx_text_open_h5_range(bad, 0, 6, &ds), IBX_ERR_FORMAT, "sequence 1",
                        "vocabulary");
  copy_file(train, bad);
  poke_i32(bad, "ids", 2, 0, 0, 5);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "[CLS]", NULL);
  copy_file(train, bad);
  poke_i32(bad, "labels", 1, 3, 0, 2);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "label 2", NULL);
  copy_file(train, bad);
  poke_i32(bad, "lengths", 1, 3, 0, 40);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "length 40", NULL);
  /* truncated file */
  FILE *f = fopen(train, "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *bytes = malloc((size_t)size);
  assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  write_file(bad, bytes, (size_t)size / 2);
  assert_int_equal(ibx_text_open_h5(bad, &ds) != IBX_OK, 1);
  assert_null(strchr(ibx_errmsg(), '\n'));
  assert_non_null(strstr(ibx_errmsg(), "bad.h5"));
  write_file(bad, "not hdf5 at all", 15);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "not an HDF5 file", NULL);
  free(bytes);
  unlink(bad);
  assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_IO, "bad.h5", NULL);
  /* missing /vocab and /labels, an empty vocabulary, missing class names */
  const char *drop[] = {"vocab", "labels", "class_names"};
  for (int k = 0; k < 3; k++) {
    copy_file(train, bad);
    hid_t h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(h, drop[k], H5P_DEFAULT) >= 0);
    H5Fclose(h);
    assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, drop[k], "bad.h5");
  }
  {
    copy_file(train, bad);
    hid_t h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(h, "vocab", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 8);
    hsize_t d1[1] = {5};
    hid_t sp = H5Screate_simple(1, d1, NULL);
    hid_t d = H5Dcreate2(h, "vocab", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char sp5[40] = "[PAD]\0\0\0[UNK]\0\0\0[CLS]\0\0\0[SEP]\0\0\0[MASK]\0\0";
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, sp5);
    H5Dclose(d), H5Sclose(sp), H5Tclose(t), H5Fclose(h);
    assert_one_line_error(ibx_text_open_h5(bad, &ds), IBX_ERR_FORMAT, "empty vocabulary", NULL);
  }
  ibx_text_close(src);
  ibx_text_close(src_te);
  rm_rf(dir);
  rm_rf(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_imdb),          cmocka_unit_test(test_imdb_bad_input),
      cmocka_unit_test(test_fortunes_files), cmocka_unit_test(test_fortunes_package),
      cmocka_unit_test(test_fortunes_corpus), cmocka_unit_test(test_fortunes_corpus_package),
      cmocka_unit_test(test_fortunes_folds),  cmocka_unit_test(test_fortunes_folds_package),
      cmocka_unit_test(test_h5),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
