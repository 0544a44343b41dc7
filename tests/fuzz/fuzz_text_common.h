/* Shared checks of the text fuzz harnesses (fuzz_text.c, fuzz_text_h5.c):
 * every sequence of an open text dataset keeps the interface's promises;
 * a broken promise aborts (a reader bug). */
#ifndef IBX_FUZZ_TEXT_COMMON_H
#define IBX_FUZZ_TEXT_COMMON_H

#include "fuzz_common.h"
#include "ibx/text.h"

/* Reads every sequence; with retokenize, the raw text tokenized again with
 * the dataset's vocabulary must give the same ids. */
static inline void fuzz_text_read_all(const ibx_text_dataset *ds, int retokenize) {
  const long n = ibx_text_count(ds);
  const int L = ibx_text_max_len(ds), K = ibx_text_num_classes(ds);
  const ibx_vocab *v = ibx_text_vocab(ds);
  const int V = ibx_vocab_size(v);
  if (n < 0 || L < 2 || K < 1 || V <= IBX_TOK_NUM_SPECIAL)
    abort();
  for (int k = 0; k < K; k++)
    if (!ibx_text_class_name(ds, k))
      abort();
  for (int k = 0; k < V; k++)
    if (!ibx_vocab_token(v, k) || ibx_vocab_lookup(v, ibx_vocab_token(v, k)) != k)
      abort();
  (void)ibx_text_name(ds);
  int32_t *ids = malloc((size_t)L * sizeof *ids), *again = malloc((size_t)L * sizeof *again);
  if (!ids || !again)
    fuzz_die("malloc");
  for (long i = 0; i < n; i++) {
    int len = -1, label = -1;
    if (ibx_text_read(ds, i, ids, &len, &label) != IBX_OK)
      abort();
    if (label < 0 || label >= K || len < 2 || len > L || ids[0] != IBX_TOK_CLS ||
        ids[len - 1] != IBX_TOK_SEP)
      abort();
    for (int p = 0; p < L; p++)
      if (ids[p] < 0 || ids[p] >= V || (p >= len && ids[p] != IBX_TOK_PAD))
        abort();
    const char *raw = ibx_text_raw(ds, i);
    if (raw) {
      (void)strlen(raw);
      if (retokenize) {
        int len2 = -1;
        if (ibx_tokenize(v, raw, L, again, &len2) != IBX_OK || len2 != len ||
            memcmp(ids, again, (size_t)L * sizeof *ids) != 0)
          abort();
      }
    }
  }
  free(ids);
  free(again);
}

/* A failed open leaves no dataset and records a one-line message. */
static inline void fuzz_text_check_failure(const ibx_text_dataset *ds) {
  if (ds || !ibx_errmsg()[0] || strchr(ibx_errmsg(), '\n'))
    abort();
}

#endif
