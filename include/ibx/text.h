/* Text data: a WordPiece tokenizer and token-id datasets for sequence models.
 *
 * A text dataset is a fixed number of sequences of token ids, each of one
 * fixed capacity max_len: [CLS] piece ... piece [SEP] then [PAD] up to
 * max_len, its length (counting [CLS] and [SEP], without padding), and an
 * integer class label in [0, num_classes). Every text dataset carries the
 * vocabulary its ids refer to. Raw sources (the embedded fortunes default,
 * IMDB's aclImdb directory) are tokenized at open with a vocabulary learned
 * from their train split only; the native HDF5 file stores ids, vocabulary
 * and (optionally) the raw texts.
 *
 * Every function that can fail returns an ibx_status and records a one-line
 * message (ibx_errmsg) naming the file and the problem; nothing here prints.
 * Reading from an open dataset or tokenizing with a vocabulary is
 * thread-safe (const). See docs/data.md ("Text datasets"). */
#ifndef IBX_TEXT_H
#define IBX_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* ---- special tokens: always ids 0..4 of every vocabulary ----------------- */
#define IBX_TOK_PAD 0
#define IBX_TOK_UNK 1
#define IBX_TOK_CLS 2
#define IBX_TOK_SEP 3
#define IBX_TOK_MASK 4
#define IBX_TOK_NUM_SPECIAL 5
/* Their strings: "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]". */
extern const char *const ibx_tok_special_names[IBX_TOK_NUM_SPECIAL];

/* ---- vocabulary ---------------------------------------------------------- */

typedef struct ibx_vocab ibx_vocab;

/* Number of entries, specials included. */
int ibx_vocab_size(const ibx_vocab *v);
/* The piece of id (word-initial pieces as is, continuation pieces with the
 * "##" prefix, specials as "[PAD]" etc.), or NULL when id is out of range. */
const char *ibx_vocab_token(const ibx_vocab *v, int id);
/* The id of piece, or -1 when it is not in the vocabulary. */
int ibx_vocab_lookup(const ibx_vocab *v, const char *piece);
/* A vocabulary from n pieces in id order. The first five must be the special
 * tokens in the order above; pieces must be non-empty, valid UTF-8 without
 * whitespace or control characters (at most 200 bytes) and distinct. */
int ibx_vocab_from_pieces(const char *const *pieces, int n, ibx_vocab **out);
/* A deep copy. */
int ibx_vocab_copy(const ibx_vocab *v, ibx_vocab **out);
/* Frees everything; NULL is fine. */
void ibx_vocab_free(ibx_vocab *v);

/* ---- tokenizer ------------------------------------------------------------ */

/* Learns a WordPiece vocabulary of at most vocab_size entries (specials
 * included, so vocab_size > 5) from n texts: the basic tokenizer (below)
 * splits each text into words; the vocabulary starts with the five specials
 * and every character (word-initial c and continuation ##c) whose count is
 * at least min_freq, most frequent first when they do not all fit; then it
 * repeatedly adds the merge of the adjacent piece pair that is most frequent
 * over all words (ties: the pair whose pieces were added first), as long as
 * that pair occurs at least min_freq (>= 1) times. Deterministic: the same
 * texts in the same order give the same vocabulary. IBX_ERR_ARG when the
 * texts contain no word at all (an empty vocabulary). */
int ibx_wordpiece_train(const char *const *texts, long n, int vocab_size, int min_freq,
                        ibx_vocab **out);

/* Tokenizes utf8 (NUL-terminated) into ids[0..max_len): [CLS], the WordPiece
 * pieces (greedy longest-match-first per word; a word that cannot be pieced,
 * or longer than 100 characters, becomes one [UNK]), [SEP], then [PAD] up to
 * max_len. Documents longer than max_len - 2 pieces are truncated (the first
 * max_len - 2 pieces are kept, then [SEP]). *length (may be NULL) is the
 * number of ids before the padding, [CLS] and [SEP] included. max_len >= 2.
 * Invalid UTF-8 bytes and control characters are dropped (BERT's clean-up);
 * an empty text gives [CLS] [SEP]. */
int ibx_tokenize(const ibx_vocab *v, const char *utf8, int max_len, int32_t *ids, int *length);
/* As ibx_tokenize, and for each id k < *length the byte range
 * [span_begin[k], span_end[k]) of utf8 its piece came from (an [UNK] word:
 * the whole word); [CLS] and [SEP] get -1, -1. Either span array may be
 * NULL. */
int ibx_tokenize_spans(const ibx_vocab *v, const char *utf8, int max_len, int32_t *ids,
                       int *length, int *span_begin, int *span_end);

/* The basic tokenizer alone: BERT's BasicTokenizer (do_lower_case=True),
 * character for character (tested against a Python transcription of it;
 * Unicode tables from Python's unicodedata, see src/data/text_basic.c):
 * drops invalid UTF-8, NUL, U+FFFD and control/format characters, splits on
 * whitespace, lower-cases, strips accents (NFD, nonspacing marks dropped)
 * and splits around every punctuation character and CJK ideograph.
 * Calls fn(word, nbytes, begin, end, ctx) for each word in order: word is the
 * normalised word (not NUL-terminated, nbytes long), [begin, end) its byte
 * range in utf8. Stops and returns fn's value when it is not 0 (so fn should
 * return negative values to stop; positive ones are ibx_status codes). */
typedef int (*ibx_word_fn)(const char *word, int nbytes, int begin, int end, void *ctx);
int ibx_basic_tokenize(const char *utf8, ibx_word_fn fn, void *ctx);

/* Writes the display form of id into buf (cap bytes, NUL-terminated,
 * truncated to fit): the piece without a leading "##", specials as is,
 * "?" for ids out of range. Returns 1 when the piece continues the
 * previous word (a "##" piece), else 0. */
int ibx_token_display(const ibx_vocab *v, int32_t id, char *buf, size_t cap);

/* ---- datasets ------------------------------------------------------------- */

typedef struct ibx_text_dataset ibx_text_dataset;

/* Number of sequences. */
long ibx_text_count(const ibx_text_dataset *ds);
/* The fixed capacity of every sequence (ids written by ibx_text_read). */
int ibx_text_max_len(const ibx_text_dataset *ds);
int ibx_text_num_classes(const ibx_text_dataset *ds);
/* Name of class k, or NULL when k is out of range. */
const char *ibx_text_class_name(const ibx_text_dataset *ds, int k);
/* Reads sequence i (0 <= i < count): max_len ids (padded with [PAD]) into
 * ids, the length (with [CLS] and [SEP]) into *length and the class into
 * *label. Any output may be NULL. */
int ibx_text_read(const ibx_text_dataset *ds, long i, int32_t *ids, int *length, int *label);
/* The vocabulary the ids refer to (owned by the dataset). */
const ibx_vocab *ibx_text_vocab(const ibx_text_dataset *ds);
/* Short description of the source, e.g. "fortunes train". */
const char *ibx_text_name(const ibx_text_dataset *ds);
/* The raw text of sequence i when the dataset keeps it (raw sources and h5
 * files written from them), else NULL. */
const char *ibx_text_raw(const ibx_text_dataset *ds, long i);
/* Frees everything; NULL is fine. */
void ibx_text_close(ibx_text_dataset *ds);

/* How raw sources are turned into token ids. */
#define IBX_TEXT_MAX_FOLDS 100

typedef struct {
  int max_len;         /* sequence capacity, [CLS]/[SEP] included (128) */
  int vocab_size;      /* WordPiece vocabulary size, specials included (4000) */
  int min_freq;        /* minimum count of a character or merged pair (2) */
  uint64_t split_seed; /* the fortunes train/test split (12) */
  /* fortunes only: 1 = tuning without the test split: the labelled train
   * split is cut into validation_folds stratified folds (fixed by
   * split_seed); "test" is fold validation_fold and "train" the other folds;
   * the real test split is not read into the dataset (0). Fold 0 of 5 is the
   * 80/20 validation split ibx has always used. */
  int validation;
  int validation_fold;  /* 0 <= fold < folds (0); only with validation */
  int validation_folds; /* 2..IBX_TEXT_MAX_FOLDS (5); only with validation */
  /* NULL: learn the vocabulary from the source's train split (also when
   * opening its test split); else use this one (copied). */
  const ibx_vocab *vocab;
} ibx_text_options;
void ibx_text_options_default(ibx_text_options *opt);

/* A text dataset from n texts and labels in [0, num_classes) (class_names:
 * num_classes names), tokenized with vocab (copied) at max_len; keeps the
 * texts. */
int ibx_text_dataset_from_texts(const char *const *texts, const int32_t *labels, long n,
                                const char *const *class_names, int num_classes,
                                const ibx_vocab *vocab, int max_len, const char *name,
                                ibx_text_dataset **out);

/* IMDB movie reviews in the aclImdb layout: dir/<split>/{neg,pos}/NAME.txt
 * (labels neg 0, pos 1; files in name order, neg first; unsup/, .feat files and
 * urls_*.txt are ignored). split: train or test. */
int ibx_text_open_imdb(const char *dir, const char *split, const ibx_text_options *opt,
                       ibx_text_dataset **out);

/* The embedded default: fortune cookies from Debian's fortunes packages,
 * one class per category file (ibx_fortunes_classes), '%'-separated
 * entries; a fixed stratified split by opt->split_seed (80 % train,
 * 20 % test). dir NULL or "": IBX_FORTUNES_DIR. */
#define IBX_FORTUNES_DIR "/usr/share/games/fortunes"
#define IBX_FORTUNES_NUM_CLASSES 4
extern const char *const ibx_fortunes_classes[IBX_FORTUNES_NUM_CLASSES];
int ibx_text_open_fortunes(const char *dir, const char *split, const ibx_text_options *opt,
                           ibx_text_dataset **out);

/* The pre-training corpus (masked-language-model pre-training, BERT's
 * recipe): every fortune file of dir (regular files without a dot in their
 * name, in name order: not the *.dat indexes, *.u8 links or subdirectories
 * such as off/), one unlabelled text per entry (class "text"), one copy of
 * each normalised text (ibx_text_normalized_key). No leak into the labelled
 * test split: every entry whose normalised text equals a text of
 * ibx_text_open_fortunes's test split at the same opt->split_seed is left
 * out, wherever it appears. Split "test" is held-out text for the MLM
 * evaluation: 1 in 20 of the entries that are not in the labelled train
 * split (by a hash of the normalised text); "train" is the rest, labelled
 * train texts included. The vocabulary is learned from "train" unless
 * opt->vocab is given. dir NULL or "": IBX_FORTUNES_DIR. */
extern const char *const ibx_fortunes_corpus_classes[1];
int ibx_text_open_fortunes_corpus(const char *dir, const char *split,
                                  const ibx_text_options *opt, ibx_text_dataset **out);
/* The text as the tokenizer sees it: the basic tokenizer's words joined by
 * single spaces (lower-cased, accents stripped, punctuation split). Two
 * texts that differ only in case, accents or white space have the same key.
 * malloc'ed; NULL on NOMEM. */
char *ibx_text_normalized_key(const char *utf8);

/* Native format: one HDF5 file per split (layout in src/data/text_h5.c and
 * docs/data.md): token ids, lengths, labels, class names, vocabulary,
 * optional raw texts, crc32 checksums verified on open. */
int ibx_text_write_h5(const ibx_text_dataset *ds, const char *path, const char *source);
int ibx_text_open_h5(const char *path, ibx_text_dataset **out);
/* Reads sequences [first, first + count) only (a rank's part); checksums are
 * not verified. */
int ibx_text_open_h5_range(const char *path, long first, long count, ibx_text_dataset **out);
/* Number of sequences in the file without reading them. */
int ibx_text_h5_count(const char *path, long *count);

/* A text dataset by name: "fortunes" or "fortunes-corpus" (path NULL or
 * "": the Debian location), "imdb" (path: the aclImdb directory) or "h5" (path/<split>.h5),
 * split train or test, with default options (ibx_text_options_default). */
int ibx_text_open_named(const char *name, const char *path, const char *split,
                        ibx_text_dataset **out);
/* The same with explicit options (ignored for h5 except vocab, which must be
 * NULL there). */
int ibx_text_open(const char *name, const char *path, const char *split,
                  const ibx_text_options *opt, ibx_text_dataset **out);
/* The WordPiece vocabulary the raw source `name` (fortunes, fortunes-corpus,
 * imdb) learns from its train split at path with opt's vocab_size, min_freq
 * and split_seed (opt->vocab and max_len are ignored): one vocabulary shared
 * by pre-training (fortunes-corpus) and fine-tuning (fortunes). */
int ibx_text_learn_vocab(const char *name, const char *path, const ibx_text_options *opt,
                         ibx_vocab **out);
/* 1 when name is a text dataset name (fortunes, fortunes-corpus, imdb) that
 * ibx_text_open_named understands; h5 files may be images or text: see
 * ibx_text_h5_is_text. */
int ibx_text_is_text_name(const char *name);
/* 1 when path is an HDF5 file written by ibx_text_write_h5, 0 otherwise
 * (an image dataset, a missing file, anything else). */
int ibx_text_h5_is_text(const char *path);

#endif
