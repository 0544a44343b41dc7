/* Token heatmap pages (include/ibx/text_html.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/text_html.h"

/* Writes s HTML-escaped; invalid UTF-8 and control characters as U+FFFD. */
static void put_escaped(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    unsigned c = *p;
    if (c < 0x80) {
      if (c == '&')
        fputs("&amp;", f);
      else if (c == '<')
        fputs("&lt;", f);
      else if (c == '>')
        fputs("&gt;", f);
      else if (c == '"')
        fputs("&quot;", f);
      else if (c == '\'')
        fputs("&#39;", f);
      else if (c < 0x20 || c == 0x7f)
        fputs("&#xfffd;", f);
      else
        fputc((int)c, f);
      p++;
      continue;
    }
    int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t cp = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    int ok = len > 0;
    for (int k = 1; ok && k < len; k++) {
      if ((p[k] & 0xc0) != 0x80)
        ok = 0;
      else
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
               (cp >= 0x80 && cp < 0xa0)))
      ok = 0;
    if (!ok) {
      fputs("&#xfffd;", f);
      p++;
      continue;
    }
    fwrite(p, 1, (size_t)len, f);
    p += len;
  }
}

typedef struct {
  unsigned char r, g, b;
} rgb;

static rgb mix(rgb a, rgb b, double t) {
  return (rgb){(unsigned char)lround(a.r + (b.r - a.r) * t),
               (unsigned char)lround(a.g + (b.g - a.g) * t),
               (unsigned char)lround(a.b + (b.b - a.b) * t)};
}

static const rgb WHITE = {255, 255, 255}, YELLOW = {254, 217, 118}, RED = {215, 25, 28},
                 BLUE = {44, 123, 182}, GREY = {190, 190, 190};

/* t in [0, 1] */
static rgb sequential(double t) {
  return t < 0.5 ? mix(WHITE, YELLOW, t / 0.5) : mix(YELLOW, RED, (t - 0.5) / 0.5);
}
/* t in [-1, 1] */
static rgb diverging(double t) { return t < 0 ? mix(WHITE, BLUE, -t) : mix(WHITE, RED, t); }

static void put_token(FILE *f, const char *tok, int join, const char *method, float h, rgb c) {
  const double lum = (0.299 * c.r + 0.587 * c.g + 0.114 * c.b) / 255.0;
  if (!join)
    fputc(' ', f);
  fprintf(f, "<span class=\"t\" style=\"background:#%02x%02x%02x;color:%s\" title=\"", c.r, c.g,
          c.b, lum < 0.5 ? "#fff" : "#000");
  put_escaped(f, method);
  if (isfinite(h))
    fprintf(f, ": %.4g\">", (double)h);
  else
    fputs(": n/a\">", f);
  put_escaped(f, tok);
  fputs("</span>", f);
}

static void put_legend(FILE *f, int diverging_scale) {
  if (diverging_scale)
    fputs("<div class=\"legend\"><span>against</span><span class=\"bar\" style=\"background:"
          "linear-gradient(to right,#2c7bb6,#ffffff,#d7191c)\"></span><span>for</span></div>",
          f);
  else
    fputs("<div class=\"legend\"><span>low</span><span class=\"bar\" style=\"background:"
          "linear-gradient(to right,#ffffff,#fed976,#d7191c)\"></span><span>high</span></div>",
          f);
}

static int check_page(const ibx_html_page *page) {
  if (!page || page->num_methods < 1 || !page->methods || page->num_sentences < 0 ||
      (page->num_sentences > 0 && !page->sentences))
    return ibx_fail(IBX_ERR_ARG, "html: a page needs at least one method and its sentences");
  for (int s = 0; s < page->num_sentences; s++) {
    const ibx_html_sentence *st = &page->sentences[s];
    if (st->length < 0 || (st->length > 0 && !st->tokens) || !st->heat)
      return ibx_fail(IBX_ERR_ARG, "html: sentence %d has no tokens or heatmaps", s);
    for (int t = 0; t < st->length; t++)
      if (!st->tokens[t])
        return ibx_fail(IBX_ERR_ARG, "html: sentence %d token %d is NULL", s, t);
  }
  return IBX_OK;
}

int ibx_text_html_write(const char *path, const ibx_html_page *page) {
  if (!path)
    return ibx_fail(IBX_ERR_ARG, "html: NULL path");
  IBX_TRY(check_page(page));
  const int M = page->num_methods;
  /* which methods have negative values anywhere */
  unsigned char *signed_m = calloc((size_t)M, 1);
  if (!signed_m)
    return ibx_fail(IBX_ERR_NOMEM, "html: out of memory");
  for (int s = 0; s < page->num_sentences; s++)
    for (int m = 0; m < M; m++) {
      const float *h = page->sentences[s].heat[m];
      for (int t = 0; h && t < page->sentences[s].length; t++)
        if (h[t] < 0)
          signed_m[m] = 1;
    }
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    free(signed_m);
    return ibx_fail(IBX_ERR_ARG, "html: path too long: %s", path);
  }
  FILE *f = fopen(tmp, "w");
  if (!f) {
    free(signed_m);
    return ibx_fail(IBX_ERR_IO, "html: cannot write %s: %s", tmp, strerror(errno));
  }
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
  put_escaped(f, page->title ? page->title : "token heatmaps");
  fputs("</title>\n<style>\n"
        "body{font-family:sans-serif;margin:1.5em;color:#111;background:#fff}\n"
        "h1{font-size:1.3em}\n"
        ".sentence{margin:1.2em 0;padding:.6em;border:1px solid #ccc;border-radius:4px}\n"
        ".caption{font-weight:bold;margin-bottom:.4em}\n"
        ".row{display:flex;align-items:baseline;margin:.25em 0}\n"
        ".method{flex:0 0 11em;font-size:.85em;color:#444}\n"
        ".tokens{flex:1;line-height:1.9;font-family:monospace;font-size:1.05em}\n"
        ".t{padding:.1em .15em;border-radius:3px}\n"
        ".legend{display:flex;align-items:center;gap:.5em;font-size:.85em;margin:.2em 0}\n"
        ".bar{display:inline-block;width:12em;height:.9em;border:1px solid #999}\n"
        ".legends td{padding:.1em .8em .1em 0;font-size:.85em}\n"
        "</style>\n</head>\n<body>\n<h1>",
        f);
  put_escaped(f, page->title ? page->title : "token heatmaps");
  fputs("</h1>\n", f);
  if (page->note) {
    fputs("<p>", f);
    put_escaped(f, page->note);
    fputs("</p>\n", f);
  }
  fputs("<table class=\"legends\">\n", f);
  for (int m = 0; m < M; m++) {
    fputs("<tr><td>", f);
    put_escaped(f, page->methods[m]);
    fputs("</td><td>", f);
    put_legend(f, signed_m[m]);
    fputs(signed_m[m] ? "</td><td>h / max |h| per sentence</td></tr>\n"
                      : "</td><td>(h - min) / (max - min) per sentence</td></tr>\n",
          f);
  }
  fputs("</table>\n", f);
  for (int s = 0; s < page->num_sentences; s++) {
    const ibx_html_sentence *st = &page->sentences[s];
    fputs("<div class=\"sentence\">\n", f);
    if (st->caption) {
      fputs("<div class=\"caption\">", f);
      put_escaped(f, st->caption);
      fputs("</div>\n", f);
    }
    for (int m = 0; m < M; m++) {
      const float *h = st->heat[m];
      if (!h)
        continue;
      double lo = INFINITY, hi = -INFINITY, amax = 0.0;
      for (int t = 0; t < st->length; t++)
        if (isfinite(h[t])) {
          lo = fmin(lo, h[t]);
          hi = fmax(hi, h[t]);
          amax = fmax(amax, fabs(h[t]));
        }
      fputs("<div class=\"row\"><div class=\"method\">", f);
      put_escaped(f, page->methods[m]);
      fputs("</div><div class=\"tokens\">", f);
      for (int t = 0; t < st->length; t++) {
        rgb c;
        if (!isfinite(h[t]))
          c = GREY;
        else if (signed_m[m])
          c = diverging(amax > 0 ? h[t] / amax : 0.0);
        else
          c = sequential(hi > lo ? (h[t] - lo) / (hi - lo) : 0.0);
        put_token(f, st->tokens[t], t > 0 && st->joins && st->joins[t], page->methods[m], h[t],
                  c);
      }
      fputs("</div></div>\n", f);
    }
    fputs("</div>\n", f);
  }
  fputs("</body>\n</html>\n", f);
  free(signed_m);
  int rc = IBX_OK;
  if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
    rc = ibx_fail(IBX_ERR_IO, "html: cannot write %s: %s", tmp, strerror(errno));
  if (fclose(f) != 0 && rc == IBX_OK)
    rc = ibx_fail(IBX_ERR_IO, "html: cannot close %s: %s", tmp, strerror(errno));
  if (rc == IBX_OK && rename(tmp, path) != 0)
    rc = ibx_fail(IBX_ERR_IO, "html: cannot rename %s to %s: %s", tmp, path, strerror(errno));
  if (rc != IBX_OK)
    remove(tmp);
  return rc;
}

int ibx_text_html_tokens(const ibx_vocab *v, const int32_t *ids, int length, char ***tokens,
                         unsigned char **joins) {
  if (!v || !ids || !tokens || !joins || length < 0)
    return ibx_fail(IBX_ERR_ARG, "html: bad arguments for token strings");
  *tokens = calloc((size_t)(length ? length : 1), sizeof **tokens);
  *joins = calloc((size_t)(length ? length : 1), 1);
  if (!*tokens || !*joins) {
    free(*tokens), free(*joins);
    *tokens = NULL, *joins = NULL;
    return ibx_fail(IBX_ERR_NOMEM, "html: out of memory");
  }
  for (int t = 0; t < length; t++) {
    char buf[256];
    (*joins)[t] = (unsigned char)ibx_token_display(v, ids[t], buf, sizeof buf);
    if (!((*tokens)[t] = strdup(buf))) {
      ibx_text_html_tokens_free(*tokens, *joins, length);
      *tokens = NULL, *joins = NULL;
      return ibx_fail(IBX_ERR_NOMEM, "html: out of memory");
    }
  }
  return IBX_OK;
}

void ibx_text_html_tokens_free(char **tokens, unsigned char *joins, int length) {
  for (int t = 0; tokens && t < length; t++)
    free(tokens[t]);
  free(tokens);
  free(joins);
}
