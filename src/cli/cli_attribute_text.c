/* ibx attribute on a text run: every token-attribution method on test
 * sequences over MPI ranks, the token-deletion table, RUN/results/
 * attribution.h5 (/text_attribution), an HTML page of token heatmaps and a
 * PNG of the degradation curves (docs/attribution.md, "Text"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ibx/error.h"
#include "ibx/eval.h"
#include "ibx/png.h"
#include "ibx/text_attribution.h"
#include "ibx/text_html.h"
#include "ibx/trainer.h"

#define MAX_METHODS 32

typedef struct {
  char names[MAX_METHODS][IBX_TEXT_ATTR_NAME_MAX];
  const char *ptr[MAX_METHODS];
  int n;
} method_list;

static int add_method(method_list *l, const char *name) {
  if (l->n == MAX_METHODS)
    return ibx_fail(IBX_ERR_ARG, "--methods: more than %d methods", MAX_METHODS);
  if (strlen(name) >= IBX_TEXT_ATTR_NAME_MAX)
    return ibx_fail(IBX_ERR_ARG, "--methods: name '%s' too long", name);
  IBX_TRY(ibx_text_attr_check(name));
  for (int i = 0; i < l->n; i++)
    if (!strcmp(l->names[i], name))
      return IBX_OK;
  snprintf(l->names[l->n], IBX_TEXT_ATTR_NAME_MAX, "%s", name);
  l->ptr[l->n] = l->names[l->n];
  l->n++;
  return IBX_OK;
}

static int pick_methods(const ibx_text_attr_cli *o, method_list *l) {
  char buf[1024];
  memset(l, 0, sizeof *l);
  snprintf(buf, sizeof buf, "%s", o->methods ? o->methods : ibx_text_attr_default_methods);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    IBX_TRY(add_method(l, t));
  /* the beta x layer grid: iba_l<L>_beta<B> (a missing list: the default) */
  double betas[16];
  long layers[16];
  int nb = 0, nl = 0;
  if (o->betas) {
    snprintf(buf, sizeof buf, "%s", o->betas);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *end;
      const double b = strtod(t, &end);
      if (*end || !(b >= 0.0) || nb == 16)
        return ibx_fail(IBX_ERR_ARG, "--iba-betas: '%s' is not a beta >= 0 (16 at most)", t);
      betas[nb++] = b;
    }
  }
  if (o->layers) {
    snprintf(buf, sizeof buf, "%s", o->layers);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *end;
      const long v = strtol(t, &end, 10);
      if (*end || v < 0 || nl == 16)
        return ibx_fail(IBX_ERR_ARG, "--iba-layers: '%s' is not a layer >= 0 (16 at most)", t);
      layers[nl++] = v;
    }
  }
  for (int i = 0; i < (nl ? nl : 1) && (nb || nl); i++)
    for (int j = 0; j < (nb ? nb : 1); j++) {
      char name[IBX_TEXT_ATTR_NAME_MAX], lpart[24] = "", bpart[32] = "";
      if (nl)
        snprintf(lpart, sizeof lpart, "_l%ld", layers[i]);
      if (nb)
        snprintf(bpart, sizeof bpart, "_beta%g", betas[j]);
      snprintf(name, sizeof name, "iba%s%s", lpart, bpart);
      IBX_TRY(add_method(l, name));
    }
  return l->n ? IBX_OK : ibx_fail(IBX_ERR_ARG, "--methods: empty list");
}

/* ---- results file -------------------------------------------------------------- */

typedef struct {
  const ibx_text_attr_result *res;
  int n, steps, with_mask, layer, T;
  long keep, stats_positions;
  double beta;
  const int32_t *ids;
  const int32_t *len, *label;
} results_ctx;

static int write_deg(ibx_h5 *f, const char *grp, const ibx_tokdeg_result *r, double seconds) {
  IBX_TRY(ibx_results_group(f, grp));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "score", r->score));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "morf_area", r->morf_area));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "lerf_area", r->lerf_area));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "morf_acc_50", r->morf_acc_50));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "lerf_acc_50", r->lerf_acc_50));
  IBX_TRY(ibx_h5_write_attr_i64(f, grp, "n_sequences", r->sequences));
  IBX_TRY(ibx_h5_write_attr_f64(f, grp, "seconds_per_sequence", seconds));
  const int64_t d = r->steps + 1;
  const struct {
    const char *name;
    const float *v;
  } curves[] = {{"morf_prob", r->morf_prob},
                {"lerf_prob", r->lerf_prob},
                {"morf_acc", r->morf_acc},
                {"lerf_acc", r->lerf_acc}};
  for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", grp, curves[i].name);
    IBX_TRY(ibx_h5_write_f32(f, p, 1, &d, curves[i].v));
  }
  return IBX_OK;
}

static int write_results(ibx_h5 *f, void *ctx) {
  const results_ctx *c = ctx;
  const char *top = "/text_attribution";
  IBX_TRY(ibx_results_group(f, top));
  IBX_TRY(ibx_h5_write_attr_i64(f, top, "iba_layer", c->layer));
  IBX_TRY(ibx_h5_write_attr_f64(f, top, "iba_beta", c->beta));
  IBX_TRY(ibx_h5_write_attr_i64(f, top, "steps", c->steps));
  IBX_TRY(ibx_h5_write_attr_i64(f, top, "stats_positions", c->stats_positions));
  for (int k = 0; k < c->n; k++) {
    char grp[256];
    snprintf(grp, sizeof grp, "%s/delete/%s", top, c->res[k].name);
    IBX_TRY(write_deg(f, grp, &c->res[k].deletion, c->res[k].seconds));
    if (c->with_mask) {
      snprintf(grp, sizeof grp, "%s/mask/%s", top, c->res[k].name);
      IBX_TRY(write_deg(f, grp, &c->res[k].masking, c->res[k].seconds));
    }
  }
  if (c->keep > 0) {
    const int64_t d2[2] = {c->keep, c->T}, d1 = c->keep;
    IBX_TRY(ibx_h5_write_i32(f, "/text_attribution/heatmaps/ids", 2, d2, c->ids));
    IBX_TRY(ibx_h5_write_i32(f, "/text_attribution/heatmaps/lengths", 1, &d1, c->len));
    IBX_TRY(ibx_h5_write_i32(f, "/text_attribution/heatmaps/labels", 1, &d1, c->label));
    for (int k = 0; k < c->n; k++) {
      char p[256];
      snprintf(p, sizeof p, "/text_attribution/heatmaps/%s", c->res[k].name);
      IBX_TRY(ibx_h5_write_f32(f, p, 2, d2, c->res[k].heat));
    }
  }
  return IBX_OK;
}

/* ---- the degradation-curve picture ----------------------------------------------- */

static const uint8_t palette[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                     {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                     {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                     {23, 190, 207}};
#define NPAL ((int)(sizeof palette / sizeof palette[0]))

static void plot_point(ibx_picture *p, int x, int y, const uint8_t c[3]) {
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++)
      if (x + dx >= 0 && x + dx < p->w && y + dy >= 0 && y + dy < p->h)
        memcpy(p->rgb + ((size_t)(y + dy) * p->w + x + dx) * 3, c, 3);
}

/* A line from (x0,y0) to (x1,y1); dashed: every other 6-pixel run skipped. */
static void plot_line(ibx_picture *p, int x0, int y0, int x1, int y1, const uint8_t c[3],
                      int dashed) {
  const int n = abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0);
  for (int i = 0; i <= n; i++) {
    if (dashed && (i / 6) % 2)
      continue;
    const double t = n ? (double)i / n : 0.0;
    plot_point(p, (int)lround(x0 + t * (x1 - x0)), (int)lround(y0 + t * (y1 - y0)), c);
  }
}

/* Mean true-class probability against the removed fraction: one colour per
 * method (palette order), MoRF solid, LeRF dashed; frame and 0.25 grid. */
static int curves_png(const char *path, const ibx_text_attr_result *res, int n) {
  const int W = 640, H = 400, X0 = 40, Y0 = 20, PW = 580, PH = 350;
  ibx_picture p;
  IBX_TRY(ibx_picture_new(W, H, 255, &p));
  const uint8_t grid[3] = {220, 220, 220}, black[3] = {0, 0, 0};
  for (int g = 0; g <= 4; g++) {
    plot_line(&p, X0, Y0 + PH * g / 4, X0 + PW, Y0 + PH * g / 4, grid, 0);
    plot_line(&p, X0 + PW * g / 4, Y0, X0 + PW * g / 4, Y0 + PH, grid, 0);
  }
  plot_line(&p, X0, Y0, X0, Y0 + PH, black, 0);
  plot_line(&p, X0, Y0 + PH, X0 + PW, Y0 + PH, black, 0);
  for (int k = 0; k < n; k++) {
    const ibx_tokdeg_result *r = &res[k].deletion;
    for (int curve = 0; curve < 2; curve++) {
      const float *v = curve ? r->lerf_prob : r->morf_prob;
      for (int j = 0; j < r->steps; j++) {
        const int xa = X0 + PW * j / r->steps, xb = X0 + PW * (j + 1) / r->steps;
        const int ya = Y0 + (int)lround(PH * (1.0 - v[j]));
        const int yb = Y0 + (int)lround(PH * (1.0 - v[j + 1]));
        plot_line(&p, xa, ya, xb, yb, palette[k % NPAL], curve);
      }
    }
  }
  const int rc = ibx_png_write(path, &p);
  ibx_picture_free(&p);
  return rc;
}

/* ---- the HTML page ---------------------------------------------------------------- */

static int html_page(const char *path, ibx_text_attributor *a, const ibx_text_dataset *ds,
                     const ibx_text_attr_result *res, const method_list *ml, long nsent,
                     const int32_t *ids, const int32_t *len, const int32_t *label,
                     const char *title) {
  const int T = ibx_text_max_len(ds), K = ibx_text_num_classes(ds);
  ibx_html_sentence *s = calloc((size_t)nsent, sizeof *s);
  char **caps = calloc((size_t)nsent, sizeof *caps);
  const float **heats = calloc((size_t)nsent * ml->n, sizeof *heats);
  float *probs = malloc((size_t)K * sizeof *probs);
  int rc = s && caps && heats && probs ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "html: out of memory");
  for (long i = 0; i < nsent && !rc; i++) {
    char **tokens = NULL;
    unsigned char *joins = NULL;
    rc = ibx_text_html_tokens(ibx_text_vocab(ds), ids + i * T, len[i], &tokens, &joins);
    int l = len[i];
    if (!rc)
      rc = ibx_text_attr_classify(a, ids + i * T, &l, 1, T, probs);
    if (rc)
      break;
    int pred = 0;
    for (int c = 1; c < K; c++)
      pred = probs[c] > probs[pred] ? c : pred;
    caps[i] = malloc(256);
    if (caps[i])
      snprintf(caps[i], 256, "test sequence %ld: true %s, predicted %s (p %.2f)", i,
               ibx_text_class_name(ds, label[i]), ibx_text_class_name(ds, pred),
               (double)probs[pred]);
    for (int k = 0; k < ml->n; k++)
      heats[i * ml->n + k] = res[k].heat + i * T;
    s[i] = (ibx_html_sentence){len[i], (const char *const *)tokens, joins, heats + i * ml->n,
                               caps[i]};
  }
  if (!rc) {
    const ibx_html_page page = {title,
                                "Token heatmaps of every attribution method (target: the true "
                                "class). Heat is min-max scaled per sentence and method; signed "
                                "methods use blue (against) to red (for). docs/attribution.md",
                                ml->n, ml->ptr, (int)nsent, s};
    rc = ibx_text_html_write(path, &page);
  }
  for (long i = 0; s && i < nsent; i++) {
    if (s[i].tokens)
      ibx_text_html_tokens_free((char **)s[i].tokens, (unsigned char *)s[i].joins, s[i].length);
    if (caps)
      free(caps[i]);
  }
  free(s), free(caps), free(heats), free(probs);
  return rc;
}

/* ---- the command --------------------------------------------------------------------- */

static void print_table(const ibx_text_attr_result *res, int n, int with_mask, long stats) {
  for (int mode = 0; mode <= with_mask; mode++) {
    printf("\nText attribution, token %s: mean true-class probability areas (MoRF: most "
           "relevant removed first; lower is better), score = normalised LeRF - MoRF area "
           "(higher is better), accuracy after 50 %% removed\n\n",
           mode ? "replacement by [MASK]" : "deletion");
    printf("%-26s %10s %10s %8s %10s %10s %10s\n", "method", "MoRF area", "LeRF area", "score",
           "MoRF acc50", "LeRF acc50", "s/seq");
    for (int k = 0; k < n; k++) {
      const ibx_tokdeg_result *r = mode ? &res[k].masking : &res[k].deletion;
      printf("%-26s %10.4f %10.4f %8.4f %10.4f %10.4f %10.4f\n", res[k].name, r->morf_area,
             r->lerf_area, r->score, r->morf_acc_50, r->lerf_acc_50, res[k].seconds);
    }
  }
  if (n)
    printf("\nsequences: %ld; IBA statistics over %ld token positions\n",
           res[0].deletion.sequences, stats);
}

int ibx_attribute_text(MPI_Comm comm, const ibx_text_attr_cli *o) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  method_list ml;
  IBX_TRY(pick_methods(o, &ml));
  if (o->steps < 2 || o->steps > IBX_TOKDEG_MAX_STEPS || o->steps % 2)
    return ibx_fail(IBX_ERR_ARG, "--steps %d: must be even, 2..%d", o->steps,
                    IBX_TOKDEG_MAX_STEPS);
  if (!(o->beta >= 0.0f))
    return ibx_fail(IBX_ERR_ARG, "--beta must be >= 0");
  ibx_eval_run run;
  IBX_TRY(ibx_eval_open(o->run, 32, &run));
  ibx_text_dataset *train = NULL, *test = NULL;
  ibx_text_attributor *a = NULL;
  ibx_text_attr_result *res = calloc((size_t)ml.n, sizeof *res);
  int rc = res ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  if (!rc)
    rc = ibx_run_open_text(&run.settings, "test", &test);
  ibx_text_attr_config cfg;
  ibx_text_attr_default(&cfg);
  cfg.iba_layer = o->layer, cfg.iba.beta = o->beta, cfg.iba.seed = o->seed, cfg.seed = o->seed;
  const int layers = ibx_model_config_of(run.model)->tf_layers;
  if (!rc && (o->layer < 0 || o->layer > layers))
    rc = ibx_fail(IBX_ERR_ARG, "--layer %d outside 0..%d (the run's encoder layers)", o->layer,
                  layers);
  if (!rc)
    rc = ibx_text_attributor_create(run.model, &cfg, &a);
  int need_iba = 0;
  for (int k = 0; k < ml.n; k++)
    need_iba |= ibx_text_attr_needs_iba(ml.ptr[k]);
  if (!rc && need_iba) {
    rc = ibx_run_open_text(&run.settings, "train", &train);
    if (!rc)
      rc = ibx_text_attr_estimate_stats(comm, a, train, o->stats, ml.ptr, ml.n);
    if (!rc && rank == 0 && !o->quiet)
      fprintf(stderr, "attribute: IBA statistics after encoder layer %d over %ld token "
              "positions\n", ibx_iba_text_layer(ibx_text_attributor_iba(a)),
              ibx_iba_text_welford(ibx_text_attributor_iba(a))->n);
  }
  int any = rc != IBX_OK, failed;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (failed && !rc)
    rc = ibx_fail(IBX_ERR_MPI, "attribute: failed on another rank");
  long keep = o->html > 0 ? o->html : 0;
  if (!rc) {
    const ibx_text_attr_eval_options eo = {o->sequences, o->steps, o->with_mask, keep,
                                               o->quiet ? NULL : stderr};
    rc = ibx_text_attr_evaluate(comm, a, test, ml.ptr, ml.n, &eo, res);
  }
  if (!rc && rank == 0) {
    const long n_seq = res[0].deletion.sequences;
    keep = keep < n_seq ? keep : n_seq;
    const long stats = need_iba ? ibx_iba_text_welford(ibx_text_attributor_iba(a))->n : 0;
    print_table(res, ml.n, o->with_mask, stats);
    const int T = ibx_text_max_len(test);
    int32_t *ids = calloc((size_t)(keep ? keep : 1) * T, sizeof *ids);
    int32_t *len = calloc((size_t)(keep ? keep : 1), sizeof *len);
    int32_t *lab = calloc((size_t)(keep ? keep : 1), sizeof *lab);
    if (!ids || !len || !lab)
      rc = ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
    for (long i = 0; i < keep && !rc; i++) {
      int l, y;
      rc = ibx_text_read(test, i, ids + i * T, &l, &y);
      len[i] = l, lab[i] = y;
    }
    char path[4200];
    if (!rc) {
      results_ctx c = {res, ml.n, o->steps, o->with_mask,
                       ibx_iba_text_layer(ibx_text_attributor_iba(a)), T, keep, stats,
                       o->beta, ids, len, lab};
      snprintf(path, sizeof path, "%s/attribution.h5", run.results);
      const char *replace[1] = {"/text_attribution"};
      rc = ibx_results_update(path, replace, 1, write_results, &c);
      if (!rc)
        printf("wrote %s (/text_attribution)\n", path);
    }
    if (!rc) {
      snprintf(path, sizeof path, "%s/degradation_text.png", run.results);
      rc = curves_png(path, res, ml.n);
      if (!rc) {
        printf("wrote %s (mean true-class probability vs fraction of tokens deleted; MoRF "
               "solid, LeRF dashed; colours in order:",
               path);
        for (int k = 0; k < ml.n; k++)
          printf(" %s=#%02x%02x%02x", ml.ptr[k], palette[k % NPAL][0], palette[k % NPAL][1],
                 palette[k % NPAL][2]);
        printf(")\n");
      }
    }
    if (!rc && keep > 0) {
      snprintf(path, sizeof path, "%s/attribution_text.html", run.results);
      char title[4400];
      snprintf(title, sizeof title, "ibx token attribution: %s (%s)", run.ckpt,
               ibx_text_name(test));
      rc = html_page(path, a, test, res, &ml, keep, ids, len, lab, title);
      if (!rc)
        printf("wrote %s (%ld sentences)\n", path, keep);
    }
    free(ids), free(len), free(lab);
  }
  ibx_text_attr_results_free(res, ml.n);
  free(res);
  ibx_text_attributor_free(a);
  ibx_text_close(train);
  ibx_text_close(test);
  ibx_eval_close(&run);
  return rc;
}
