/* Shared internals of the text readers (src/data/text_*.c); not installed. */
#ifndef IBX_DATA_TEXT_INTERNAL_H
#define IBX_DATA_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ibx/text.h"

struct ibx_vocab {
  int size;
  char **pieces;   /* size strings */
  int *slots;      /* open-addressing table of ids, -1 empty; nslots a power of 2 */
  int nslots;
};

struct ibx_text_dataset {
  char name[256];
  long count;
  int max_len;
  int num_classes;
  char **class_names;
  ibx_vocab *vocab;
  int32_t *ids;     /* count * max_len */
  int32_t *lengths; /* count */
  int32_t *labels;  /* count */
  char *text_bytes; /* all raw texts, each NUL-terminated, or NULL */
  int64_t *text_offsets; /* count + 1 offsets into text_bytes, or NULL */
};

/* FNV-1a hash of n bytes. */
uint64_t ibxt_hash(const char *s, size_t n);
/* The id of the n-byte piece s (not NUL-terminated), or -1. */
int ibxt_vocab_find(const ibx_vocab *v, const char *s, size_t n);
/* Builds the lookup table of a vocabulary whose pieces are set; checks that
 * pieces are distinct. */
int ibxt_vocab_index(ibx_vocab *v);

/* Decodes one UTF-8 character at s[0..n): returns its byte length (>= 1)
 * and the code point in *cp, or -1 in *cp for an invalid byte (length 1). */
int ibxt_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);
/* Encodes cp as UTF-8 into out (4 bytes room); returns the byte count. */
int ibxt_utf8_encode(int32_t cp, char *out);

/* New empty dataset (NULL with NOMEM recorded). */
ibx_text_dataset *ibxt_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Allocates ids/lengths/labels for count sequences of max_len. */
int ibxt_alloc(ibx_text_dataset *ds, long count, int max_len);
/* Copies n class names. */
int ibxt_set_classes(ibx_text_dataset *ds, const char *const *names, int n);

/* IBX_OK when split is "train" or "test", else a one-line error
 * "<what>: split must be train or test, got '<split>'". */
int ibxt_check_split(const char *what, const char *split);
/* The raw-source options are usable (max_len, vocabulary size, validation
 * folds); a one-line error naming the bad option otherwise. */
int ibxt_check_options(const ibx_text_options *opt);

/* A growable list of texts and labels read from a raw source. */
typedef struct {
  char **texts;
  int32_t *labels;
  long n, cap;
} ibxt_corpus;
int ibxt_corpus_add(ibxt_corpus *c, char *text /* taken */, int32_t label);
void ibxt_corpus_free(ibxt_corpus *c);

/* The train split's vocabulary (opt->vocab copied when set, else learned
 * from train with opt's sizes) and the split's dataset from a corpus. */
int ibxt_dataset_from_corpus(const ibxt_corpus *split, const ibxt_corpus *train,
                             const char *const *class_names, int num_classes,
                             const ibx_text_options *opt, const char *name,
                             ibx_text_dataset **out);

#endif
