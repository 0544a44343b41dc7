/* ibx data info|convert|baseline for text datasets (include/ibx/text.h,
 * text_baseline.h; docs/data.md "Text datasets"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_data_text.h"
#include "ibx/error.h"
#include "ibx/text.h"
#include "ibx/text_baseline.h"
#include "ibx/text_degradation.h"
#include "ibx/text_html.h"

static int usage(FILE *to, int status) {
  fprintf(to,
          "usage: ibx data info     --format FMT [--split S] [TEXT OPTIONS] SRC\n"
          "       ibx data convert  --format fortunes|fortunes-corpus|imdb [TEXT OPTIONS] SRC DSTDIR\n"
          "       ibx data baseline --format FMT [TEXT OPTIONS] [BOW OPTIONS] SRC\n"
          "\n"
          "text formats (SRC):\n"
          "  fortunes   the embedded default: category files of Debian's fortunes package\n"
          "             ('default' or a directory; classes computers, politics, science,\n"
          "             songs-poems; a fixed 80/20 split by --seed)\n"
          "  fortunes-corpus  unlabelled pre-training text: every fortune file of the same\n"
          "             directory, without any text of the fortunes test split (by --seed);\n"
          "             test: 1 in 20 unlabelled texts held out for the MLM evaluation\n"
          "  imdb       the aclImdb directory (train|test/pos|neg/NAME.txt)\n"
          "  text-h5    a native text file written by 'ibx data convert' (info), or the\n"
          "             directory holding its train.h5 and test.h5 (baseline); --format h5\n"
          "             works too when the file is a text dataset\n"
          "convert writes DSTDIR/train.h5 and DSTDIR/test.h5: the WordPiece vocabulary is\n"
          "learned from the train split only and the test split is tokenized with it.\n"
          "baseline trains a bag-of-words logistic regression on the train split and\n"
          "reports its test accuracy.\n"
          "\n"
          "text options (raw formats):\n"
          "  --max-len N     sequence capacity with [CLS] and [SEP] (128)\n"
          "  --vocab-size N  WordPiece vocabulary size with the 5 specials (4000)\n"
          "  --min-freq N    minimum count of a character or merged pair (2)\n"
          "  --seed N        the fortunes train/test split (12)\n"
          "  --vocab-from NAME  use the vocabulary raw source NAME (e.g. fortunes-corpus)\n"
          "                  learns from its train split in SRC, instead of SRC's own\n"
          "  --validation    fortunes: 80 %% of the train split as train, the other 20 %%\n"
          "                  as test (tuning without the test split): fold 0 of 5\n"
          "  --validation-fold K   with --validation: test on fold K (0..N-1) of the train\n"
          "                  split cut into N stratified folds, train on the others (0)\n"
          "  --validation-folds N  the number of folds (5; 2..100)\n"
          "  --split S       train (default) or test (info)\n"
          "bow options:\n"
          "  --epochs N (30)  --batch N (32)  --lr X (0.01)  --bow-seed N (1)\n"
          "  --l2 X           L2 strength; default: chosen on 10%% of the train split\n"
          "  --deletion       token-deletion degradation of the trained model on the test\n"
          "                   split: its own weights as heatmap vs random vs reversed\n"
          "  --replace-with-mask  remove tokens by [MASK] instead of deleting them\n"
          "  --plot FILE.png  the deletion curves (gnuplot), with --deletion\n"
          "  --html FILE      a heatmap page of the first --html-sentences N (8) test\n"
          "                   sequences (bow weight, random)\n");
  return status;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int dir_has_text_train(const char *dir) {
  char p[4200];
  snprintf(p, sizeof p, "%s/train.h5", dir);
  return ibx_text_h5_is_text(p);
}

int ibx_cli_data_is_text(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "baseline"))
    return 1;
  const char *fmt = NULL;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--format"))
      fmt = argv[i + 1];
  if (!fmt)
    return 0;
  if (!strcmp(fmt, "fortunes") || !strcmp(fmt, "fortunes-corpus") || !strcmp(fmt, "imdb") ||
      !strcmp(fmt, "text-h5"))
    return 1;
  if (strcmp(fmt, "h5") != 0)
    return 0;
  for (int i = 2; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1] == '-') {
      if (strcmp(argv[i], "--deletion") && strcmp(argv[i], "--replace-with-mask") &&
          strcmp(argv[i], "--validation"))
        i++; /* the other options take a value */
      continue;
    }
    if (ibx_text_h5_is_text(argv[i]) || (is_dir(argv[i]) && dir_has_text_train(argv[i])))
      return 1;
  }
  return 0;
}

static int parse_int(const char *s, long lo, long hi, const char *what, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || !*s || v < lo || v > hi) {
    fprintf(stderr, "ibx data: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_float(const char *s, const char *what, float *out) {
  char *end;
  float v = strtof(s, &end);
  if (*end || !*s || !(v == v)) {
    fprintf(stderr, "ibx data: bad %s '%s'\n", what, s);
    return 0;
  }
  *out = v;
  return 1;
}

/* Opens split of SRC in format fmt ("h5"/"text-h5": SRC is a file for
 * info, a directory with <split>.h5 otherwise). */
static int open_text(const char *fmt, const char *src, const char *split,
                     const ibx_text_options *opt, int src_is_file, ibx_text_dataset **ds) {
  if (!strcmp(fmt, "h5") || !strcmp(fmt, "text-h5")) {
    if (src_is_file && !is_dir(src))
      return ibx_text_open_h5(src, ds);
    return ibx_text_open_named("h5", src, split, ds);
  }
  const char *path = !strncmp(fmt, "fortunes", 8) && !strcmp(src, "default") ? NULL : src;
  return ibx_text_open(fmt, path, split, opt, ds);
}

static void print_info(const ibx_text_dataset *ds) {
  const long n = ibx_text_count(ds);
  const int L = ibx_text_max_len(ds), K = ibx_text_num_classes(ds);
  const ibx_vocab *v = ibx_text_vocab(ds);
  long *per = calloc((size_t)K, sizeof *per);
  int32_t *ids = malloc((size_t)L * sizeof *ids);
  long full = 0, tokens = 0, unk = 0, min_len = L, max_seen = 0;
  for (long i = 0; per && ids && i < n; i++) {
    int len, label;
    if (ibx_text_read(ds, i, ids, &len, &label) != IBX_OK)
      continue;
    per[label]++;
    full += len == L;
    tokens += len - 2;
    for (int k = 1; k < len - 1; k++)
      unk += ids[k] == IBX_TOK_UNK;
    if (len < min_len)
      min_len = len;
    if (len > max_seen)
      max_seen = len;
  }
  printf("name:       %s\n", ibx_text_name(ds));
  printf("sequences:  %ld\n", n);
  printf("max_len:    %d ([CLS] and [SEP] included)\n", L);
  printf("vocabulary: %d pieces (5 special)\n", ibx_vocab_size(v));
  printf("length:     mean %.1f tokens without [CLS]/[SEP], min %ld, max %ld with them\n",
         n ? (double)tokens / (double)n : 0.0, n ? min_len : 0, max_seen);
  printf("at max_len: %ld sequences (%.1f %%, truncated or exactly full)\n", full,
         n ? 100.0 * (double)full / (double)n : 0.0);
  printf("[UNK]:      %ld of %ld tokens (%.2f %%)\n", unk, tokens,
         tokens ? 100.0 * (double)unk / (double)tokens : 0.0);
  printf("raw texts:  %s\n", n > 0 && ibx_text_raw(ds, 0) ? "kept" : "no");
  printf("classes:    %d\n", K);
  for (int k = 0; per && k < K; k++)
    printf("  %3d %-32s %ld\n", k, ibx_text_class_name(ds, k), per[k]);
  if (n > 0 && ids && ibx_text_read(ds, 0, ids, NULL, NULL) == IBX_OK) {
    int len;
    ibx_text_read(ds, 0, ids, &len, NULL);
    printf("sequence 0:");
    for (int k = 0; k < len && k < 40; k++)
      printf(" %s", ibx_vocab_token(v, ids[k]));
    printf("%s\n", len > 40 ? " ..." : "");
  }
  free(per);
  free(ids);
}

static int convert(const char *fmt, const char *src, const char *dst, ibx_text_options *opt,
                   const char *source) {
  if (strcmp(fmt, "fortunes") && strcmp(fmt, "fortunes-corpus") && strcmp(fmt, "imdb")) {
    fprintf(stderr, "ibx data convert: --format %s is already native; convert reads fortunes, "
                    "fortunes-corpus or imdb\n", fmt);
    return 2;
  }
  if (mkdir(dst, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "ibx data convert: cannot create %s: %s\n", dst, strerror(errno));
    return 1;
  }
  ibx_text_dataset *train = NULL, *test = NULL;
  if (open_text(fmt, src, "train", opt, 0, &train) != IBX_OK) {
    fprintf(stderr, "ibx data convert: %s\n", ibx_errmsg());
    return 1;
  }
  opt->vocab = ibx_text_vocab(train); /* the test split with the train split's vocabulary */
  int rc = open_text(fmt, src, "test", opt, 0, &test);
  char path[4200];
  for (int s = 0; rc == IBX_OK && s < 2; s++) {
    const ibx_text_dataset *ds = s ? test : train;
    snprintf(path, sizeof path, "%s/%s.h5", dst, s ? "test" : "train");
    rc = ibx_text_write_h5(ds, path, source);
    if (rc == IBX_OK)
      printf("wrote %ld sequences of %s (max_len %d, vocabulary %d) to %s\n", ibx_text_count(ds),
             ibx_text_name(ds), ibx_text_max_len(ds), ibx_vocab_size(ibx_text_vocab(ds)), path);
  }
  if (rc != IBX_OK)
    fprintf(stderr, "ibx data convert: %s\n", ibx_errmsg());
  ibx_text_close(train);
  ibx_text_close(test);
  return rc == IBX_OK ? 0 : 1;
}

typedef struct {
  int deletion, mask, html_sentences;
  const char *html, *plot;
} eval_options;

/* Heat of position p for the bag-of-words model: the weight of its id for
 * the class minus the mean weight over classes (0 for specials). */
static void bow_heat(const ibx_bow *m, const int32_t *ids, int len, int label, float *heat) {
  const float *w = ibx_bow_weights(m);
  const int K = ibx_bow_num_classes(m), V = ibx_bow_vocab_size(m);
  for (int p = 0; p < len; p++) {
    const int32_t t = ids[p];
    heat[p] = 0.0f;
    if (t == IBX_TOK_PAD || t == IBX_TOK_CLS || t == IBX_TOK_SEP || t < 0 || t >= V)
      continue;
    double mean = 0.0;
    for (int k = 0; k < K; k++)
      mean += w[(size_t)t * K + k];
    heat[p] = (float)(w[(size_t)t * K + label] - mean / K);
  }
}

static float rand_heat(uint64_t i, int p) {
  uint64_t z = (i * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)p * 0xbf58476d1ce4e5b9ull) ^ 0x1234567ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (float)((z >> 11) * (1.0 / 9007199254740992.0));
}

static int bow_deletion(ibx_bow *m, const ibx_text_dataset *test, const eval_options *eo) {
  const int L = ibx_text_max_len(test), K = ibx_text_num_classes(test);
  enum { WEIGHT, RANDOM, REVERSED, NM };
  static const char *const names[NM] = {"bow weight", "random", "reversed bow weight"};
  ibx_tokdeg_result r[NM];
  ibx_tokdeg_options o;
  ibx_tokdeg_options_default(&o);
  o.replace_with_mask = eo->mask;
  for (int k = 0; k < NM; k++)
    IBX_TRY(ibx_tokdeg_init(&r[k], o.steps));
  int32_t *ids = malloc((size_t)L * sizeof *ids);
  float *heat = malloc(3 * (size_t)L * sizeof *heat);
  int rc = ids && heat ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "deletion: out of memory");
  for (long i = 0; rc == IBX_OK && i < ibx_text_count(test); i++) {
    int len, label;
    rc = ibx_text_read(test, i, ids, &len, &label);
    if (rc != IBX_OK)
      break;
    bow_heat(m, ids, len, label, heat);
    for (int p = 0; p < len; p++) {
      heat[L + p] = rand_heat((uint64_t)i, p);
      heat[2 * L + p] = -heat[p];
    }
    for (int k = 0; rc == IBX_OK && k < NM; k++)
      rc = ibx_tokdeg_add(&r[k], ibx_bow_classify, m, K, ids, len, L, label,
                          heat + (size_t)k * L, &o);
  }
  for (int k = 0; rc == IBX_OK && k < NM; k++)
    rc = ibx_tokdeg_finish(&r[k]);
  if (rc == IBX_OK) {
    printf("token deletion on %s (%ld sequences, %s, %d steps), bag-of-words classifier:\n",
           ibx_text_name(test), r[0].sequences, eo->mask ? "replaced by [MASK]" : "deleted",
           o.steps);
    printf("  %-20s %9s %9s %7s %11s %11s\n", "heatmap", "MoRF area", "LeRF area", "score",
           "MoRF acc50", "LeRF acc50");
    for (int k = 0; k < NM; k++)
      printf("  %-20s %9.4f %9.4f %7.4f %11.4f %11.4f\n", names[k], r[k].morf_area,
             r[k].lerf_area, r[k].score, r[k].morf_acc_50, r[k].lerf_acc_50);
    printf("  mean true-class probability per step (MoRF, bow weight):");
    for (int j = 0; j <= o.steps; j++)
      printf(" %.3f", (double)r[0].morf_prob[j]);
    printf("\n");
  }
  if (rc == IBX_OK && eo->plot) {
    const ibx_tokdeg_result *rs[NM] = {&r[0], &r[1], &r[2]};
    char title[400];
    snprintf(title, sizeof title, "token deletion (%s), bag-of-words classifier, %s",
             ibx_text_name(test), eo->mask ? "[MASK]" : "delete");
    rc = ibx_tokdeg_plot(eo->plot, title, NM, names, rs);
    if (rc == IBX_OK)
      printf("wrote the curves to %s\n", eo->plot);
  }
  free(ids);
  free(heat);
  return rc;
}

static int bow_html(ibx_bow *m, const ibx_text_dataset *test, const eval_options *eo) {
  const int L = ibx_text_max_len(test), K = ibx_text_num_classes(test);
  const long n = ibx_text_count(test) < eo->html_sentences ? ibx_text_count(test)
                                                            : eo->html_sentences;
  ibx_html_sentence *sent = calloc((size_t)(n ? n : 1), sizeof *sent);
  char **captions = calloc((size_t)(n ? n : 1), sizeof *captions);
  float *heat = calloc((size_t)(n ? n : 1) * 2 * (size_t)L, sizeof *heat);
  const float **rows = calloc((size_t)(n ? n : 1) * 2, sizeof *rows);
  int32_t *ids = malloc((size_t)L * sizeof *ids);
  float *probs = malloc((size_t)K * sizeof *probs);
  int rc = sent && captions && heat && rows && ids && probs
               ? IBX_OK
               : ibx_fail(IBX_ERR_NOMEM, "html: out of memory");
  for (long i = 0; rc == IBX_OK && i < n; i++) {
    int len, label;
    rc = ibx_text_read(test, i, ids, &len, &label);
    char **tok = NULL;
    unsigned char *join = NULL;
    if (rc == IBX_OK)
      rc = ibx_text_html_tokens(ibx_text_vocab(test), ids, len, &tok, &join);
    if (rc == IBX_OK)
      rc = ibx_bow_classify(m, ids, &len, 1, L, probs);
    if (rc != IBX_OK)
      break;
    float *h = heat + (size_t)i * 2 * L;
    bow_heat(m, ids, len, label, h);
    for (int p = 0; p < len; p++)
      h[L + p] = rand_heat((uint64_t)i, p);
    int best = 0;
    for (int k = 1; k < K; k++)
      if (probs[k] > probs[best])
        best = k;
    char cap[512];
    snprintf(cap, sizeof cap, "#%ld  true: %s, predicted: %s (%.2f)", i,
             ibx_text_class_name(test, label), ibx_text_class_name(test, best),
             (double)probs[best]);
    captions[i] = strdup(cap);
    rows[2 * i] = h, rows[2 * i + 1] = h + L;
    sent[i] = (ibx_html_sentence){len, (const char *const *)tok, join, rows + 2 * i,
                                  captions[i]};
  }
  if (rc == IBX_OK) {
    const char *methods[2] = {"bow weight (true class)", "random"};
    char title[400];
    snprintf(title, sizeof title, "Bag-of-words token heatmaps: %s", ibx_text_name(test));
    ibx_html_page page = {title,
                          "Heat: the logistic-regression weight of each token for the true "
                          "class minus its mean weight over classes.",
                          2, methods, (int)n, sent};
    rc = ibx_text_html_write(eo->html, &page);
    if (rc == IBX_OK)
      printf("wrote %ld sentences to %s\n", n, eo->html);
  }
  for (long i = 0; i < n && sent; i++) {
    ibx_text_html_tokens_free((char **)sent[i].tokens, (unsigned char *)sent[i].joins,
                              sent[i].length);
    free(captions ? captions[i] : NULL);
  }
  free(sent), free(captions), free(heat), free(rows), free(ids), free(probs);
  return rc;
}

static int baseline(const char *fmt, const char *src, const ibx_text_options *opt,
                    const ibx_bow_options *bopt, const eval_options *eo) {
  ibx_text_dataset *train = NULL, *test = NULL;
  ibx_text_options o = *opt;
  int rc = open_text(fmt, src, "train", &o, 0, &train);
  if (rc == IBX_OK && strcmp(fmt, "h5") && strcmp(fmt, "text-h5"))
    o.vocab = ibx_text_vocab(train);
  if (rc == IBX_OK)
    rc = open_text(fmt, src, "test", &o, 0, &test);
  ibx_bow *m = NULL;
  if (rc == IBX_OK)
    rc = ibx_bow_train(train, bopt, &m);
  double train_acc = 0, test_acc = 0, test_loss = 0;
  if (rc == IBX_OK)
    rc = ibx_bow_evaluate(m, train, &train_acc, NULL);
  if (rc == IBX_OK)
    rc = ibx_bow_evaluate(m, test, &test_acc, &test_loss);
  if (rc == IBX_OK) {
    printf("bag-of-words logistic regression on %s\n", ibx_text_name(train));
    printf("  train: %ld sequences, test: %ld sequences, %d classes, vocabulary %d, max_len %d\n",
           ibx_text_count(train), ibx_text_count(test), ibx_text_num_classes(train),
           ibx_vocab_size(ibx_text_vocab(train)), ibx_text_max_len(train));
    printf("  l2 %g (%s), %d epochs, batch %d, lr %g\n", (double)ibx_bow_l2(m),
           bopt->l2 < 0 ? "chosen on 10 % of the train split" : "given", bopt->epochs,
           bopt->batch, (double)bopt->lr);
    printf("  train accuracy %.4f\n", train_acc);
    printf("  test accuracy  %.4f (mean cross-entropy %.4f)\n", test_acc, test_loss);
  }
  if (rc == IBX_OK && eo->deletion)
    rc = bow_deletion(m, test, eo);
  if (rc == IBX_OK && eo->html)
    rc = bow_html(m, test, eo);
  if (rc != IBX_OK)
    fprintf(stderr, "ibx data baseline: %s\n", ibx_errmsg());
  ibx_bow_free(m);
  ibx_text_close(train);
  ibx_text_close(test);
  return rc == IBX_OK ? 0 : 1;
}

static int run_text_action(int is_convert, int is_baseline, const char *fmt, const char *split,
                           const char *const *pos, int argc, char **argv, ibx_text_options *opt,
                           const ibx_bow_options *bopt, const eval_options *eo);

int ibx_cmd_data_text(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr, 2);
  const char *action = argv[1];
  const int is_info = !strcmp(action, "info"), is_convert = !strcmp(action, "convert"),
            is_baseline = !strcmp(action, "baseline");
  if (!is_info && !is_convert && !is_baseline)
    return fprintf(stderr, "ibx data: unknown action '%s' for a text dataset\n", action),
           usage(stderr, 2);
  ibx_text_options opt;
  ibx_text_options_default(&opt);
  ibx_bow_options bopt;
  ibx_bow_options_default(&bopt);
  const char *fmt = NULL, *split = "train", *pos[2] = {NULL, NULL}, *vocab_from = NULL;
  int npos = 0, fold_given = 0;
  eval_options eo = {0, 0, 8, NULL, NULL};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const int has = i + 1 < argc;
    long v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout, 0);
    if (!strcmp(a, "--format") && has)
      fmt = argv[++i];
    else if (!strcmp(a, "--split") && has)
      split = argv[++i];
    else if (!strcmp(a, "--vocab-from") && has)
      vocab_from = argv[++i];
    else if (!strcmp(a, "--validation"))
      opt.validation = 1;
    else if (!strcmp(a, "--validation-fold") && has) {
      if (!parse_int(argv[++i], 0, IBX_TEXT_MAX_FOLDS - 1, "--validation-fold", &v))
        return 2;
      opt.validation_fold = (int)v, fold_given = 1;
    } else if (!strcmp(a, "--validation-folds") && has) {
      if (!parse_int(argv[++i], 2, IBX_TEXT_MAX_FOLDS, "--validation-folds", &v))
        return 2;
      opt.validation_folds = (int)v, fold_given = 1;
    }
    else if (!strcmp(a, "--deletion"))
      eo.deletion = 1;
    else if (!strcmp(a, "--replace-with-mask"))
      eo.mask = 1, eo.deletion = 1;
    else if (!strcmp(a, "--html") && has)
      eo.html = argv[++i];
    else if (!strcmp(a, "--plot") && has)
      eo.plot = argv[++i], eo.deletion = 1;
    else if (!strcmp(a, "--html-sentences") && has) {
      if (!parse_int(argv[++i], 1, 100000, "--html-sentences", &v))
        return 2;
      eo.html_sentences = (int)v;
    }
    else if (!strcmp(a, "--max-len") && has) {
      if (!parse_int(argv[++i], 2, 1 << 20, "--max-len", &v))
        return 2;
      opt.max_len = (int)v;
    } else if (!strcmp(a, "--vocab-size") && has) {
      if (!parse_int(argv[++i], 6, 1 << 24, "--vocab-size", &v))
        return 2;
      opt.vocab_size = (int)v;
    } else if (!strcmp(a, "--min-freq") && has) {
      if (!parse_int(argv[++i], 1, 1L << 30, "--min-freq", &v))
        return 2;
      opt.min_freq = (int)v;
    } else if (!strcmp(a, "--seed") && has) {
      if (!parse_int(argv[++i], 0, 0x7fffffffL, "--seed", &v))
        return 2;
      opt.split_seed = (uint64_t)v;
    } else if (!strcmp(a, "--epochs") && has) {
      if (!parse_int(argv[++i], 1, 100000, "--epochs", &v))
        return 2;
      bopt.epochs = (int)v;
    } else if (!strcmp(a, "--batch") && has) {
      if (!parse_int(argv[++i], 1, 1 << 20, "--batch", &v))
        return 2;
      bopt.batch = (int)v;
    } else if (!strcmp(a, "--bow-seed") && has) {
      if (!parse_int(argv[++i], 0, 0x7fffffffL, "--bow-seed", &v))
        return 2;
      bopt.seed = (uint64_t)v;
    } else if (!strcmp(a, "--lr") && has) {
      if (!parse_float(argv[++i], "--lr", &bopt.lr) || !(bopt.lr > 0))
        return fprintf(stderr, "ibx data: --lr must be positive\n"), 2;
    } else if (!strcmp(a, "--l2") && has) {
      if (!parse_float(argv[++i], "--l2", &bopt.l2) || bopt.l2 < 0)
        return fprintf(stderr, "ibx data: --l2 must be >= 0\n"), 2;
    } else if (a[0] == '-' && a[1] == '-')
      return fprintf(stderr, "ibx data: unknown or incomplete option '%s'\n", a), usage(stderr, 2);
    else if (npos < 2)
      pos[npos++] = a;
    else
      return fprintf(stderr, "ibx data: too many arguments\n"), usage(stderr, 2);
  }
  if (!fmt || npos != (is_convert ? 2 : 1))
    return usage(stderr, 2);
  if (fold_given && !opt.validation)
    return fprintf(stderr, "ibx data: --validation-fold/--validation-folds need --validation\n"), 2;
  if (opt.validation_fold >= opt.validation_folds)
    return fprintf(stderr, "ibx data: --validation-fold %d must be below --validation-folds %d\n",
                   opt.validation_fold, opt.validation_folds),
           2;
  if (strcmp(split, "train") && strcmp(split, "test"))
    return fprintf(stderr, "ibx data: --split must be train or test, got '%s'\n", split), 2;
  if (strcmp(fmt, "fortunes") && strcmp(fmt, "fortunes-corpus") && strcmp(fmt, "imdb") &&
      strcmp(fmt, "text-h5") && strcmp(fmt, "h5"))
    return fprintf(stderr, "ibx data: '%s' is not a text format (fortunes, fortunes-corpus, imdb, "
                           "text-h5)\n", fmt),
           2;
  ibx_vocab *shared = NULL; /* --vocab-from */
  if (vocab_from) {
    if (!strcmp(fmt, "h5") || !strcmp(fmt, "text-h5"))
      return fprintf(stderr, "ibx data: --vocab-from goes with a raw format; a text h5 file "
                             "carries its vocabulary\n"), 2;
    const char *vpath = !strcmp(pos[0], "default") ? NULL : pos[0];
    if (ibx_text_learn_vocab(vocab_from, vpath, &opt, &shared) != IBX_OK) {
      fprintf(stderr, "ibx data: --vocab-from %s: %s\n", vocab_from, ibx_errmsg());
      return 1;
    }
    opt.vocab = shared;
  }
  const int status = run_text_action(is_convert, is_baseline, fmt, split, pos, argc, argv, &opt,
                                     &bopt, &eo);
  ibx_vocab_free(shared);
  return status;
}

static int run_text_action(int is_convert, int is_baseline, const char *fmt, const char *split,
                           const char *const *pos, int argc, char **argv, ibx_text_options *opt,
                           const ibx_bow_options *bopt, const eval_options *eo) {
  if (is_convert) {
    char source[1024] = "ibx data convert";
    for (int i = 2; i < argc; i++) {
      size_t len = strlen(source);
      snprintf(source + len, sizeof source - len, " %s", argv[i]);
    }
    return convert(fmt, pos[0], pos[1], opt, source);
  }
  if (is_baseline)
    return baseline(fmt, pos[0], opt, bopt, eo);
  if (eo->deletion || eo->html)
    return fprintf(stderr, "ibx data: --deletion, --replace-with-mask, --plot and --html go "
                           "with baseline\n"), 2;
  ibx_text_dataset *ds = NULL;
  if (open_text(fmt, pos[0], split, opt, 1, &ds) != IBX_OK) {
    fprintf(stderr, "ibx data info: %s\n", ibx_errmsg());
    return 1;
  }
  print_info(ds);
  ibx_text_close(ds);
  return 0;
}
