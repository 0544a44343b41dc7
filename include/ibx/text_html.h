/* Token heatmaps as a self-contained HTML page (docs/text.md): each sentence
 * once per method, every token's background coloured by that method's heat,
 * with a colour legend. Inline CSS only: no script, no image, no font, no
 * link, no URL of any kind, so the page renders offline exactly as written.
 *
 * Colours, per method and sentence: a method whose heat is never negative
 * (over the whole page) uses a white -> yellow -> red scale of
 * (h - min) / (max - min) over the sentence's tokens (white when all are
 * equal); a method with negative values uses a blue <- white -> red scale of
 * h / max |h| (evidence against / for). Non-finite values are grey. Each
 * token's exact value is its tooltip. Text is HTML-escaped; invalid UTF-8
 * and control characters in tokens, captions and names are shown as U+FFFD. */
#ifndef IBX_TEXT_HTML_H
#define IBX_TEXT_HTML_H

#include <stdint.h>

#include "ibx/text.h"

typedef struct {
  int length;                 /* tokens */
  const char *const *tokens;  /* display strings (UTF-8) */
  const unsigned char *joins; /* optional: 1 when a token continues the previous word (drawn
                                 without a space before it, as "##" pieces) */
  const float *const *heat;   /* per method, `length` values (a NULL entry: not shown) */
  const char *caption;        /* optional, e.g. "true: pos, predicted: pos (0.93)" */
} ibx_html_sentence;

typedef struct {
  const char *title;
  const char *note; /* optional paragraph under the title */
  int num_methods;
  const char *const *methods;
  int num_sentences;
  const ibx_html_sentence *sentences;
} ibx_html_page;

/* Writes the page to path atomically (temporary file, fsync, rename). */
int ibx_text_html_write(const char *path, const ibx_html_page *page);

/* Display strings for ids[0..length) (ibx_token_display): *tokens gets
 * length malloc'd strings and *joins length flags; free both with
 * ibx_text_html_tokens_free. */
int ibx_text_html_tokens(const ibx_vocab *v, const int32_t *ids, int length, char ***tokens,
                         unsigned char **joins);
void ibx_text_html_tokens_free(char **tokens, unsigned char *joins, int length);

#endif
