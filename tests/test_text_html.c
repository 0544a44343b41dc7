/* The token heatmap page (src/eval/text_html.c): escaping, no URL of any
 * kind, colours as documented; then the page is rendered by headless
 * Chromium (Debian's chromium) and the screenshot must show the highlighted
 * tokens: red (the sequential scale's top), blue (a signed method's
 * negative end) and dark text pixels. Exits 77 (skipped) after the other
 * checks pass when chromium is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/png.h"
#include "ibx/text_html.h"
#include "testutil.h"

static char page_path[4096];

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

static void write_page(void) {
  const char *s1[] = {"[CLS]", "the", "movie", "was", "<script>alert(1)</script>", "great",
                      "!", "[SEP]"};
  const unsigned char j1[] = {0, 0, 0, 0, 0, 0, 0, 0};
  const float iba1[] = {0.0f, 0.1f, 0.3f, 0.0f, 0.2f, 1.0f, 0.4f, 0.0f};
  const float grad1[] = {0.0f, -0.2f, 0.1f, -1.0f, 0.0f, 0.9f, -0.5f, 0.0f};
  const float rnd1[] = {0.5f, 0.2f, 0.9f, 0.1f, 0.7f, 0.3f, 0.6f, 0.4f};
  const char *s2[] = {"un", "aff", "able", "a&b", "\"quoted\"", "it's", "bad\xff\xfe", "ctl\x01"};
  const unsigned char j2[] = {0, 1, 1, 0, 0, 0, 0, 0};
  const float iba2[] = {0.9f, 0.8f, 0.7f, 0.0f, 0.1f, 0.2f, 0.3f, 0.4f};
  const float grad2[] = {0.3f, -0.3f, 0.0f, 0.6f, -0.6f, 0.1f, 0.0f, 0.2f};
  const float nan2[] = {0.1f, 0.2f, 0.3f, NAN, 0.5f, 0.6f, 0.7f, 0.8f};
  const float *h1[] = {iba1, grad1, rnd1};
  const float *h2[] = {iba2, grad2, nan2};
  ibx_html_sentence sent[2] = {
      {8, s1, j1, h1, "true: pos, predicted: pos (0.93) <b>not bold</b>"},
      {8, s2, j2, h2, NULL},
  };
  const char *methods[] = {"IBA (beta 1e-5)", "gradient x embedding", "random & <co>"};
  ibx_html_page page = {"Token heatmaps: a <test> page", "No network: everything is inline.", 3,
                        methods, 2, sent};
  snprintf(page_path, sizeof page_path, "%s/text_heatmaps.html", IBX_TEST_TMP);
  assert_ibx_ok(ibx_text_html_write(page_path, &page));
}

static void test_page_content(void **state) {
  (void)state;
  write_page();
  char *html = slurp(page_path);
  /* no URL, no external resource, no script */
  assert_null(strstr(html, "http://"));
  assert_null(strstr(html, "https://"));
  assert_null(strstr(html, "://"));
  assert_null(strstr(html, "url("));
  assert_null(strstr(html, "src="));
  assert_null(strstr(html, "href="));
  assert_null(strstr(html, "@import"));
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "<link"));
  /* escaping */
  assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_non_null(strstr(html, "&lt;b&gt;not bold&lt;/b&gt;"));
  assert_null(strstr(html, "<b>"));
  assert_non_null(strstr(html, ">a&amp;b<"));
  assert_non_null(strstr(html, ">&quot;quoted&quot;<"));
  assert_non_null(strstr(html, ">it&#39;s<"));
  assert_non_null(strstr(html, ">bad&#xfffd;&#xfffd;<"));
  assert_non_null(strstr(html, ">ctl&#xfffd;<"));
  assert_non_null(strstr(html, "random &amp; &lt;co&gt;"));
  assert_non_null(strstr(html, "<title>Token heatmaps: a &lt;test&gt; page</title>"));
  /* 16 tokens x 3 methods */
  assert_int_equal(count(html, "<span class=\"t\""), 48);
  /* continuation pieces join the previous token without a space */
  assert_non_null(strstr(html, "</span><span class=\"t\" style=\"background:#"));
  /* colours: IBA's maximum is red (215,25,28), its minimum white; the
   * signed method's -1 is blue (44,123,182) with white text */
  assert_non_null(strstr(html, "background:#d7191c;color:#fff\" title=\"IBA (beta 1e-5): 1\""));
  assert_non_null(strstr(html, "background:#ffffff;color:#000\" title=\"IBA (beta 1e-5): 0\""));
  assert_non_null(
      strstr(html, "background:#2c7bb6;color:#fff\" title=\"gradient x embedding: -1\""));
  /* a non-finite value is grey, its tooltip n/a */
  assert_non_null(strstr(html, "background:#bebebe;color:#000\" title=\"random &amp; &lt;co&gt;: n/a\""));
  /* one legend per method: two sequential, one diverging */
  assert_int_equal(count(html, "class=\"legend\""), 3);
  assert_int_equal(count(html, ">against<"), 1);
  free(html);
  /* bad arguments */
  ibx_html_page empty = {"x", NULL, 0, NULL, 0, NULL};
  assert_int_equal(ibx_text_html_write(page_path, &empty), IBX_ERR_ARG);
  char bad_dir[4200];
  snprintf(bad_dir, sizeof bad_dir, "%s/no/such/dir/page.html", IBX_TEST_TMP);
  const char *m[] = {"m"};
  assert_int_equal(ibx_text_html_write(bad_dir, &(ibx_html_page){"x", NULL, 1, m, 0, NULL}),
                   IBX_ERR_IO);
  assert_null(strchr(ibx_errmsg(), '\n'));
}

static void test_tokens_from_ids(void **state) {
  (void)state;
  const char *pieces[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "<"};
  ibx_vocab *v = NULL;
  assert_ibx_ok(ibx_vocab_from_pieces(pieces, 8, &v));
  const int32_t ids[] = {2, 5, 6, 7, 3};
  char **tok;
  unsigned char *join;
  assert_ibx_ok(ibx_text_html_tokens(v, ids, 5, &tok, &join));
  assert_string_equal(tok[0], "[CLS]");
  assert_string_equal(tok[2], "aff");
  assert_int_equal(join[2], 1);
  assert_int_equal(join[1], 0);
  assert_string_equal(tok[3], "<");
  ibx_text_html_tokens_free(tok, join, 5);
  ibx_vocab_free(v);
}

static const char *find_chromium(void) {
  static const char *candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                     "/usr/bin/google-chrome"};
  for (size_t k = 0; k < sizeof candidates / sizeof *candidates; k++)
    if (access(candidates[k], X_OK) == 0)
      return candidates[k];
  return NULL;
}

static void test_render(void **state) {
  (void)state;
  const char *chromium = find_chromium();
  if (!chromium)
    skip();
  write_page();
  char png[4200], profile[4200], cmd[32768];
  snprintf(png, sizeof png, "%s/text_heatmaps.png", IBX_TEST_TMP);
  snprintf(profile, sizeof profile, "%s/chromium-profile", IBX_TEST_TMP);
  unlink(png);
  snprintf(cmd, sizeof cmd,
           "HOME='%s' timeout 120 '%s' --headless --no-sandbox --disable-gpu --no-first-run "
           "--hide-scrollbars --user-data-dir='%s' --screenshot='%s' --window-size=1000,700 "
           "'file://%s' >'%s.log' 2>&1",
           profile, chromium, profile, png, page_path, png);
  int rc = system(cmd);
  if (rc != 0)
    fail_msg("chromium failed (status %d); see %s.log", rc, png);
  ibx_picture pic;
  assert_ibx_ok(ibx_png_read(png, &pic));
  assert_int_equal(pic.w, 1000);
  assert_int_equal(pic.h, 700);
  long nonwhite = 0, red = 0, blue = 0, dark = 0;
  for (long i = 0; i < (long)pic.w * pic.h; i++) {
    const uint8_t *p = pic.rgb + 3 * i;
    nonwhite += p[0] < 245 || p[1] < 245 || p[2] < 245;
    red += p[0] > 190 && p[1] < 60 && p[2] < 60;
    blue += p[0] < 70 && p[1] > 100 && p[1] < 150 && p[2] > 160;
    dark += p[0] < 60 && p[1] < 60 && p[2] < 60;
  }
  ibx_picture_free(&pic);
  /* not blank: text, red and blue token backgrounds are on screen */
  if (nonwhite < 5000 || red < 200 || blue < 100 || dark < 1000)
    fail_msg("screenshot %s looks blank: %ld non-white, %ld red, %ld blue, %ld dark pixels", png,
             nonwhite, red, blue, dark);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_page_content),
      cmocka_unit_test(test_tokens_from_ids),
      cmocka_unit_test(test_render),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  if (failed)
    return failed;
  return find_chromium() ? 0 : 77;
}
