/* Finite-difference gradient checks for the transformer layers
 * (ibx/transformer_layers.h): token embedding (table), learned position
 * embedding (input, table), LayerNorm (x, gamma, beta), GELU, multi-head
 * self-attention with a key padding mask (x, in/out projection weights and
 * biases; with and without attention dropout), the feed-forward block (x,
 * both linears, with dropout), plus the numerical-stability cases: large
 * attention logits, a fully padded sample, LayerNorm of rows with a large
 * common offset.
 *
 * The masked-language model (encoder + BERT's LM head with the decoder tied
 * to the token embedding) is checked end to end on its own loss.
 *
 * Method and tolerance as tests/test_grad_pointwise.c: L = sum(y .* G) for a
 * fixed random G, summed in double; central differences with eps = 1e-2;
 * |fd - an| <= 1e-3 + 1e-2 * max(|fd|, |an|). The forward passes run in
 * float32 (~6e-8 relative per output), which over 2 eps = 2e-2 stays below
 * atol; the smooth non-linearities (softmax, erf, 1/sqrt) add O(eps^2)
 * truncation error of ~1e-5. Sizes are odd (T = 5, D = 6 with 3 heads of 2,
 * d_ff = 7) so no loop relies on a power of two.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/transformer.h"
#include "ibx/transformer_layers.h"

#define EPS 1e-2f
#define RTOL 1e-2
#define ATOL 1e-3

enum { N = 2, T = 5, D = 6, H = 3, F = 7, V = 9 };
#define M_PI_VALUE 3.14159265358979323846

static float *zeros(size_t n) {
  float *p = calloc(n, sizeof(float));
  assert_non_null(p);
  return p;
}

/* ---- embeddings ------------------------------------------------------------ */

typedef struct {
  int32_t ids[N * T];
  ibx_tensor w, pos, y, y2;
  float *G;
} emb_ctx;

static double emb_loss(void *p) {
  emb_ctx *c = p;
  assert_ibx_ok(ibx_embedding_forward(c->ids, N * T, &c->w, &c->y));
  ibx_tensor y3 = ibx_t3(c->y.data, N, T, D);
  assert_ibx_ok(ibx_position_add_forward(&y3, &c->pos, &c->y2));
  return tu_dot(c->y2.data, c->G, (size_t)N * T * D);
}

static void test_embeddings(void **state) {
  (void)state;
  emb_ctx c;
  for (int i = 0; i < N * T; i++)
    c.ids[i] = (int32_t)((i * 4 + 1) % V); /* repeats: rows accumulate */
  c.w = ibx_t2(tu_alloc_randn((size_t)V * D, 1.0f, 1), V, D);
  c.pos = ibx_t2(tu_alloc_randn((size_t)(T + 2) * D, 1.0f, 2), T + 2, D);
  c.y = ibx_t2(zeros((size_t)N * T * D), N * T, D);
  c.y2 = ibx_t3(zeros((size_t)N * T * D), N, T, D);
  c.G = tu_alloc_randn((size_t)N * T * D, 1.0f, 3);
  (void)emb_loss(&c);
  float *dw = zeros((size_t)V * D), *dpos = zeros((size_t)(T + 2) * D);
  float *dx = zeros((size_t)N * T * D);
  ibx_tensor dy = ibx_t3(c.G, N, T, D), dxt = ibx_t3(dx, N, T, D);
  ibx_tensor dwt = ibx_t2(dw, V, D), dpt = ibx_t2(dpos, T + 2, D);
  assert_ibx_ok(ibx_position_add_backward(&dy, &dxt, &dpt));
  ibx_tensor dx2 = ibx_t2(dx, N * T, D);
  assert_ibx_ok(ibx_embedding_backward(c.ids, N * T, &dx2, &dwt));
  tu_check_grad("embedding: dw", emb_loss, &c, c.w.data, dw, (size_t)V * D, EPS, RTOL, ATOL, 0);
  tu_check_grad("position: dpos", emb_loss, &c, c.pos.data, dpos, (size_t)(T + 2) * D, EPS, RTOL,
                ATOL, 0);
  /* rows past T get no gradient; an unknown id is a clear error */
  for (int i = T * D; i < (T + 2) * D; i++)
    assert_true(dpos[i] == 0.0f);
  c.ids[3] = V;
  assert_int_equal(ibx_embedding_forward(c.ids, N * T, &c.w, &c.y), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "outside the vocabulary"));
  c.ids[3] = -1;
  assert_int_equal(ibx_embedding_forward(c.ids, N * T, &c.w, &c.y), IBX_ERR_ARG);
  /* a table shorter than the sequence */
  ibx_tensor short_pos = ibx_t2(c.pos.data, T - 1, D), y3 = ibx_t3(c.y.data, N, T, D);
  assert_int_equal(ibx_position_add_forward(&y3, &short_pos, &c.y2), IBX_ERR_SHAPE);
  free(c.w.data), free(c.pos.data), free(c.y.data), free(c.y2.data), free(c.G);
  free(dw), free(dpos), free(dx);
}

/* ---- LayerNorm -------------------------------------------------------------- */

typedef struct {
  ibx_tensor x, g, b, y;
  float *mean, *rstd, *G;
} ln_ctx;

static double ln_loss(void *p) {
  ln_ctx *c = p;
  assert_ibx_ok(ibx_layernorm_forward(1e-5f, &c->x, &c->g, &c->b, &c->y, c->mean, c->rstd));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_layernorm(void **state) {
  (void)state;
  const size_t n = (size_t)N * T * D;
  ln_ctx c = {ibx_t3(tu_alloc_randn(n, 1.0f, 11), N, T, D),
              ibx_t1(tu_alloc_randn(D, 0.5f, 12), D),
              ibx_t1(tu_alloc_randn(D, 0.5f, 13), D),
              ibx_t3(zeros(n), N, T, D),
              zeros(N * T),
              zeros(N * T),
              tu_alloc_randn(n, 1.0f, 14)};
  for (int d = 0; d < D; d++)
    c.g.data[d] += 1.0f;
  (void)ln_loss(&c);
  float *dx = zeros(n), *dg = zeros(D), *db = zeros(D);
  ibx_tensor dy = ibx_t3(c.G, N, T, D), dxt = ibx_t3(dx, N, T, D), dgt = ibx_t1(dg, D),
             dbt = ibx_t1(db, D);
  assert_ibx_ok(ibx_layernorm_backward(&c.x, &c.g, c.rstd, &dy, &dxt, &dgt, &dbt));
  tu_check_grad("layernorm: dx", ln_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);
  tu_check_grad("layernorm: dgamma", ln_loss, &c, c.g.data, dg, D, EPS, RTOL, ATOL, 0);
  tu_check_grad("layernorm: dbeta", ln_loss, &c, c.b.data, db, D, EPS, RTOL, ATOL, 0);

  /* dx may alias dy */
  float *g2 = malloc(n * sizeof(float));
  memcpy(g2, c.G, n * sizeof(float));
  ibx_tensor g2t = ibx_t3(g2, N, T, D);
  assert_ibx_ok(ibx_layernorm_backward(&c.x, &c.g, c.rstd, &g2t, &g2t, NULL, NULL));
  tu_assert_close("layernorm: aliased dx", g2, dx, n, 1e-6, 1e-7);

  /* Stability: a large common offset (1e4) with unit spread normalises as
   * the offset-free rows do (float32 sum-of-squares would lose it all). */
  float *x2 = malloc(n * sizeof(float)), *y2 = zeros(n);
  for (size_t i = 0; i < n; i++)
    x2[i] = c.x.data[i] + 1e4f;
  ibx_tensor x2t = ibx_t3(x2, N, T, D), y2t = ibx_t3(y2, N, T, D);
  assert_ibx_ok(ibx_layernorm_forward(1e-5f, &x2t, &c.g, &c.b, &y2t, c.mean, c.rstd));
  (void)ln_loss(&c);
  tu_assert_close("layernorm: offset 1e4", y2, c.y.data, n, 1e-2, 5e-3);
  /* a constant row gives beta, not NaN */
  for (int d = 0; d < D; d++)
    x2[d] = 3.0f;
  assert_ibx_ok(ibx_layernorm_forward(1e-5f, &x2t, &c.g, &c.b, &y2t, c.mean, c.rstd));
  tu_assert_close("layernorm: constant row", y2, c.b.data, D, 0.0, 1e-6);
  free(x2), free(y2), free(g2);
  free(c.x.data), free(c.g.data), free(c.b.data), free(c.y.data), free(c.mean), free(c.rstd);
  free(c.G), free(dx), free(dg), free(db);
}

/* ---- GELU ------------------------------------------------------------------- */

typedef struct {
  ibx_tensor x, y;
  float *G;
} gelu_ctx;

static double gelu_loss(void *p) {
  gelu_ctx *c = p;
  assert_ibx_ok(ibx_gelu_forward(&c->x, &c->y));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_gelu(void **state) {
  (void)state;
  const size_t n = 3 * 7;
  gelu_ctx c = {ibx_t2(tu_alloc_randn(n, 2.0f, 21), 3, 7), ibx_t2(zeros(n), 3, 7),
                tu_alloc_randn(n, 1.0f, 22)};
  (void)gelu_loss(&c);
  /* exact values: gelu(1) = 0.8413447, gelu(-1) = -0.1586553 (erf form) */
  float v[2] = {1.0f, -1.0f}, w[2];
  ibx_tensor vt = ibx_t1(v, 2), wt = ibx_t1(w, 2);
  assert_ibx_ok(ibx_gelu_forward(&vt, &wt));
  assert_float_equal(w[0], 0.8413447f, 1e-6f);
  assert_float_equal(w[1], -0.1586553f, 1e-6f);
  /* the vectorised erf/exp against libm in double over [-12, 12]: GELU
   * within 3e-7 absolute (x Phi(x) with erf to 1.5e-7), its derivative
   * likewise */
  enum { NS = 2401 };
  float *xs = zeros(NS), *ys = zeros(NS), *ones = zeros(NS), *ds = zeros(NS);
  for (int i = 0; i < NS; i++)
    xs[i] = -12.0f + 0.01f * (float)i, ones[i] = 1.0f;
  ibx_tensor xst = ibx_t1(xs, NS), yst = ibx_t1(ys, NS), ot = ibx_t1(ones, NS),
             dst = ibx_t1(ds, NS);
  assert_ibx_ok(ibx_gelu_forward(&xst, &yst));
  assert_ibx_ok(ibx_gelu_backward(&xst, &ot, &dst));
  for (int i = 0; i < NS; i++) {
    const double xv = xs[i], cdf = 0.5 * (1.0 + erf(xv / sqrt(2.0)));
    const double pdf = exp(-0.5 * xv * xv) / sqrt(2.0 * M_PI_VALUE);
    if (fabs(ys[i] - xv * cdf) > 3e-7 * fmax(1.0, fabs(xv)) ||
        fabs(ds[i] - (cdf + xv * pdf)) > 3e-7 * fmax(1.0, fabs(xv)))
      fail_msg("gelu at %g: %.9g (exact %.9g), derivative %.9g (exact %.9g)", xv, ys[i],
               xv * cdf, ds[i], cdf + xv * pdf);
  }
  free(xs), free(ys), free(ones), free(ds);
  float *dx = zeros(n);
  ibx_tensor dy = ibx_t2(c.G, 3, 7), dxt = ibx_t2(dx, 3, 7);
  assert_ibx_ok(ibx_gelu_backward(&c.x, &dy, &dxt));
  tu_check_grad("gelu: dx", gelu_loss, &c, c.x.data, dx, n, EPS, RTOL, ATOL, 0);
  free(c.x.data), free(c.y.data), free(c.G), free(dx);
}

/* ---- multi-head self-attention ------------------------------------------------ */

typedef struct {
  ibx_mha L;
  int training;
  ibx_tensor x, in_w, in_b, out_w, out_b, y;
  uint8_t pad[N * T];
  ibx_mha_saved sv;
  float *G;
} mha_ctx;

static double mha_loss(void *p) {
  mha_ctx *c = p;
  assert_ibx_ok(ibx_mha_forward(&c->L, c->training, &c->x, c->pad, &c->in_w, &c->in_b, &c->out_w,
                                &c->out_b, &c->y, &c->sv));
  return tu_dot(c->y.data, c->G, (size_t)N * T * D);
}

static void mha_setup(mha_ctx *c, float attn_p, int training, float x_scale) {
  memset(c, 0, sizeof *c);
  c->L = (ibx_mha){D, H, {attn_p, 77, 5}};
  c->training = training;
  c->x = ibx_t3(tu_alloc_randn((size_t)N * T * D, x_scale, 31), N, T, D);
  c->in_w = ibx_t2(tu_alloc_randn((size_t)3 * D * D, 0.5f, 32), 3 * D, D);
  c->in_b = ibx_t1(tu_alloc_randn((size_t)3 * D, 0.3f, 33), 3 * D);
  c->out_w = ibx_t2(tu_alloc_randn((size_t)D * D, 0.5f, 34), D, D);
  c->out_b = ibx_t1(tu_alloc_randn(D, 0.3f, 35), D);
  c->y = ibx_t3(zeros((size_t)N * T * D), N, T, D);
  /* sample 0: length 3 (two padded keys); sample 1: a padded key inside */
  c->pad[3] = c->pad[4] = 1;
  c->pad[T + 2] = 1;
  size_t sz[4];
  ibx_mha_saved_sizes(&c->L, N, T, sz);
  c->sv = (ibx_mha_saved){zeros(sz[0]), zeros(sz[1]), zeros(sz[2]), zeros(sz[3])};
  c->G = tu_alloc_randn((size_t)N * T * D, 1.0f, 36);
}

static void mha_free(mha_ctx *c) {
  free(c->x.data), free(c->in_w.data), free(c->in_b.data), free(c->out_w.data);
  free(c->out_b.data), free(c->y.data), free(c->G);
  free(c->sv.qkv), free(c->sv.probs), free(c->sv.drop), free(c->sv.ctx);
}

static void run_mha(const char *name, float attn_p, int training) {
  mha_ctx c;
  mha_setup(&c, attn_p, training, 1.0f);
  (void)mha_loss(&c);
  /* padded keys get weight exactly 0, rows sum to 1 */
  for (int n = 0; n < N; n++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        const float *row = c.sv.probs + (((size_t)n * H + h) * T + i) * T;
        double s = 0.0;
        for (int j = 0; j < T; j++) {
          if (c.pad[n * T + j])
            assert_true(row[j] == 0.0f);
          s += row[j];
        }
        assert_float_equal(s, 1.0, 1e-5);
      }
  float *dx = zeros((size_t)N * T * D), *diw = zeros((size_t)3 * D * D),
        *dib = zeros((size_t)3 * D), *dow = zeros((size_t)D * D), *dob = zeros(D);
  ibx_tensor dy = ibx_t3(c.G, N, T, D), dxt = ibx_t3(dx, N, T, D),
             diwt = ibx_t2(diw, 3 * D, D), dibt = ibx_t1(dib, 3 * D), dowt = ibx_t2(dow, D, D),
             dobt = ibx_t1(dob, D);
  ibx_scratch s = {0};
  assert_ibx_ok(ibx_mha_backward(&c.L, c.training, &c.x, c.pad, &c.in_w, &c.out_w, &c.sv, &dy,
                                 &dxt, &diwt, &dibt, &dowt, &dobt, &s));
  char what[96];
  snprintf(what, sizeof what, "%s: dx", name);
  tu_check_grad(what, mha_loss, &c, c.x.data, dx, (size_t)N * T * D, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: d in_proj_weight", name);
  tu_check_grad(what, mha_loss, &c, c.in_w.data, diw, (size_t)3 * D * D, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: d in_proj_bias", name);
  tu_check_grad(what, mha_loss, &c, c.in_b.data, dib, (size_t)3 * D, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: d out_proj.weight", name);
  tu_check_grad(what, mha_loss, &c, c.out_w.data, dow, (size_t)D * D, EPS, RTOL, ATOL, 0);
  snprintf(what, sizeof what, "%s: d out_proj.bias", name);
  tu_check_grad(what, mha_loss, &c, c.out_b.data, dob, D, EPS, RTOL, ATOL, 0);
  /* gradients accumulate: a second backward doubles the weight gradient */
  float *dow1 = malloc((size_t)D * D * sizeof(float));
  memcpy(dow1, dow, (size_t)D * D * sizeof(float));
  assert_ibx_ok(ibx_mha_backward(&c.L, c.training, &c.x, c.pad, &c.in_w, &c.out_w, &c.sv, &dy,
                                 NULL, NULL, NULL, &dowt, NULL, &s));
  for (int i = 0; i < D * D; i++)
    assert_float_equal(dow[i], 2.0f * dow1[i], 1e-5f * (1.0f + fabsf(dow1[i])));
  free(dow1);
  ibx_scratch_free(&s);
  free(dx), free(diw), free(dib), free(dow), free(dob);
  mha_free(&c);
}

static void test_mha(void **state) {
  (void)state;
  run_mha("mha", 0.0f, 1);
}

static void test_mha_attention_dropout(void **state) {
  (void)state;
  run_mha("mha dropout 0.3", 0.3f, 1);
}

/* Large logits (inputs scaled by 1e3: logits ~1e5) stay finite and become a
 * one-hot over the unpadded keys; a fully padded sample gives the output
 * bias and zero gradients instead of NaN. */
static void test_mha_stability(void **state) {
  (void)state;
  mha_ctx c;
  mha_setup(&c, 0.0f, 0, 1e3f);
  for (int t = 0; t < T; t++)
    c.pad[T + t] = 1; /* sample 1 fully padded */
  (void)mha_loss(&c);
  for (size_t i = 0; i < (size_t)N * T * D; i++)
    assert_true(isfinite(c.y.data[i]));
  for (int i = 0; i < H * T; i++) {
    const float *row = c.sv.probs + (size_t)i * T;
    double s = 0.0, mx = 0.0;
    for (int j = 0; j < T; j++)
      s += row[j], mx = fmax(mx, row[j]);
    assert_float_equal(s, 1.0, 1e-5);
    assert_true(mx > 0.99);
  }
  for (int t = 0; t < T; t++)
    tu_assert_close("mha: fully padded sample", c.y.data + (size_t)(T + t) * D, c.out_b.data, D,
                    0.0, 1e-6);
  float *dx = zeros((size_t)N * T * D), *diw = zeros((size_t)3 * D * D);
  ibx_tensor dy = ibx_t3(c.G, N, T, D), dxt = ibx_t3(dx, N, T, D),
             diwt = ibx_t2(diw, 3 * D, D);
  ibx_scratch s = {0};
  assert_ibx_ok(ibx_mha_backward(&c.L, 0, &c.x, c.pad, &c.in_w, &c.out_w, &c.sv, &dy, &dxt,
                                 &diwt, NULL, NULL, NULL, &s));
  for (size_t i = 0; i < (size_t)N * T * D; i++)
    assert_true(isfinite(dx[i]));
  for (size_t i = (size_t)T * D; i < (size_t)N * T * D; i++)
    assert_true(dx[i] == 0.0f);
  for (int i = 0; i < 3 * D * D; i++)
    assert_true(isfinite(diw[i]));
  /* heads must divide d_model */
  c.L.heads = 4;
  assert_int_equal(ibx_mha_forward(&c.L, 0, &c.x, c.pad, &c.in_w, &c.in_b, &c.out_w, &c.out_b,
                                   &c.y, &c.sv),
                   IBX_ERR_ARG);
  ibx_scratch_free(&s);
  free(dx), free(diw);
  mha_free(&c);
}

/* ---- feed-forward ------------------------------------------------------------- */

typedef struct {
  ibx_ffn L;
  ibx_tensor x, w1, b1, w2, b2, y;
  float *h, *a, *G;
} ffn_ctx;

static double ffn_loss(void *p) {
  ffn_ctx *c = p;
  assert_ibx_ok(
      ibx_ffn_forward(&c->L, 1, &c->x, &c->w1, &c->b1, &c->w2, &c->b2, &c->y, c->h, c->a));
  return tu_dot(c->y.data, c->G, (size_t)ibx_numel(&c->y));
}

static void test_ffn(void **state) {
  (void)state;
  const int R = N * T;
  ffn_ctx c = {{D, F, {0.2f, 99, 3}},
               ibx_t2(tu_alloc_randn((size_t)R * D, 1.0f, 41), R, D),
               ibx_t2(tu_alloc_randn((size_t)F * D, 0.5f, 42), F, D),
               ibx_t1(tu_alloc_randn(F, 0.3f, 43), F),
               ibx_t2(tu_alloc_randn((size_t)D * F, 0.5f, 44), D, F),
               ibx_t1(tu_alloc_randn(D, 0.3f, 45), D),
               ibx_t2(zeros((size_t)R * D), R, D),
               zeros((size_t)R * F),
               zeros((size_t)R * F),
               tu_alloc_randn((size_t)R * D, 1.0f, 46)};
  (void)ffn_loss(&c);
  float *dx = zeros((size_t)R * D), *dw1 = zeros((size_t)F * D), *db1 = zeros(F),
        *dw2 = zeros((size_t)D * F), *db2 = zeros(D);
  ibx_tensor dy = ibx_t2(c.G, R, D), dxt = ibx_t2(dx, R, D), dw1t = ibx_t2(dw1, F, D),
             db1t = ibx_t1(db1, F), dw2t = ibx_t2(dw2, D, F), db2t = ibx_t1(db2, D);
  ibx_scratch s = {0};
  assert_ibx_ok(ibx_ffn_backward(&c.L, 1, &c.x, &c.w1, &c.w2, c.h, c.a, &dy, &dxt, &dw1t, &db1t,
                                 &dw2t, &db2t, &s));
  tu_check_grad("ffn: dx", ffn_loss, &c, c.x.data, dx, (size_t)R * D, EPS, RTOL, ATOL, 0);
  tu_check_grad("ffn: dlinear1.weight", ffn_loss, &c, c.w1.data, dw1, (size_t)F * D, EPS, RTOL,
                ATOL, 0);
  tu_check_grad("ffn: dlinear1.bias", ffn_loss, &c, c.b1.data, db1, F, EPS, RTOL, ATOL, 0);
  tu_check_grad("ffn: dlinear2.weight", ffn_loss, &c, c.w2.data, dw2, (size_t)D * F, EPS, RTOL,
                ATOL, 0);
  tu_check_grad("ffn: dlinear2.bias", ffn_loss, &c, c.b2.data, db2, D, EPS, RTOL, ATOL, 0);
  ibx_scratch_free(&s);
  free(c.x.data), free(c.w1.data), free(c.b1.data), free(c.w2.data), free(c.b2.data);
  free(c.y.data), free(c.h), free(c.a), free(c.G);
  free(dx), free(dw1), free(db1), free(dw2), free(db2);
}

/* ---- the whole text classifier (ibx/transformer.h) ---------------------------
 * Training mode with dropout 0.1 (masks fixed by the noise seed), an
 * intercept after layer 1 that doubles the hidden states (backward doubles
 * the gradient), padded samples; checks every parameter tensor (a spread of
 * elements each) and the token-embedding gradient, and that the grad-ready
 * hook reports a decreasing frontier that ends at 0. */

typedef struct {
  ibx_transformer *t;
  int32_t ids[3 * 6];
  int len[3];
  float *emb, *G;
  int use_emb;
} tf_ctx;

static int icpt_fwd(void *ctx, ibx_tensor *h) {
  (void)ctx;
  for (int64_t i = 0; i < ibx_numel(h); i++)
    h->data[i] *= 2.0f;
  return IBX_OK;
}
static int icpt_bwd(void *ctx, ibx_tensor *dh) { return icpt_fwd(ctx, dh); }

static double tf_loss(void *p) {
  tf_ctx *c = p;
  ibx_tensor lg;
  assert_ibx_ok(ibx_transformer_forward(c->t, c->ids, 6, c->len, c->use_emb ? c->emb : NULL, 3,
                                        1, 1234, &lg));
  return tu_dot(lg.data, c->G, (size_t)ibx_numel(&lg));
}

typedef struct {
  size_t last;
  int calls, bad;
} hook_log;

static void hook(void *ctx, size_t ready_from) {
  hook_log *h = ctx;
  if (h->calls && ready_from > h->last)
    h->bad = 1;
  h->last = ready_from, h->calls++;
}

static void run_transformer_model(int pool_mean) {
  ibx_transformer_config cfg;
  ibx_transformer_config_defaults(&cfg);
  cfg.pool_mean = pool_mean;
  cfg.layers = 2, cfg.d_model = 6, cfg.heads = 3, cfg.d_ff = 7, cfg.max_len = 6, cfg.vocab = 11;
  cfg.num_classes = 3, cfg.dropout = 0.1f, cfg.seed = 5;
  tf_ctx c = {0};
  assert_ibx_ok(ibx_transformer_create(&cfg, 3, &c.t));
  ibx_params *P = ibx_transformer_params(c.t);
  /* larger weights than BERT's 0.02 so every path carries signal */
  tu_randn(P->values, P->total, 0.4f, 61);
  for (int i = 0; i < P->count; i++)
    if (strstr(P->info[i].name, "norm.weight") || strstr(P->info[i].name, "norm1.weight") ||
        strstr(P->info[i].name, "norm2.weight"))
      for (size_t k = 0; k < P->info[i].numel; k++)
        P->values[P->info[i].offset + k] += 1.0f;
  const int len[3] = {6, 4, 1};
  for (int n = 0; n < 3; n++) {
    c.len[n] = len[n];
    for (int i = 0; i < 6; i++)
      c.ids[n * 6 + i] = i < len[n] ? (int32_t)(5 + (n * 7 + i * 3) % 6) : 0;
    c.ids[n * 6] = 2;
  }
  c.G = tu_alloc_randn(9, 1.0f, 62);
  assert_ibx_ok(ibx_transformer_set_intercept(c.t, 1, icpt_fwd, icpt_bwd, NULL, 0));
  hook_log hl = {0};
  ibx_transformer_set_grad_hook(c.t, hook, &hl);
  (void)tf_loss(&c);
  ibx_params_zero_grads(P);
  float *demb = zeros(3 * 6 * 6);
  assert_ibx_ok(ibx_transformer_backward(c.t, c.G, demb));
  assert_true(hl.calls >= 4 && !hl.bad && hl.last == 0);
  for (int i = 0; i < P->count; i++) {
    char what[160];
    snprintf(what, sizeof what, "transformer: %s", P->info[i].name);
    float *g = malloc(P->info[i].numel * sizeof(float));
    memcpy(g, P->grads + P->info[i].offset, P->info[i].numel * sizeof(float));
    tu_check_grad(what, tf_loss, &c, P->values + P->info[i].offset, g, P->info[i].numel, EPS,
                  RTOL, ATOL, 12);
    free(g);
  }
  /* token embeddings as input */
  ibx_tensor te;
  assert_ibx_ok(ibx_transformer_token_embeddings(c.t, &te));
  c.emb = malloc(3 * 6 * 6 * sizeof(float));
  memcpy(c.emb, te.data, 3 * 6 * 6 * sizeof(float));
  c.use_emb = 1;
  /* eps 3e-3 here: the embedding LayerNorm over 6 features makes the loss
   * strongly curved in e, and the O(eps^2) truncation error at 1e-2 exceeds
   * atol for some dropout masks; float32 rounding over 2 eps = 6e-3 is
   * still ~1e-5 of the loss, far below atol */
  tu_check_grad("transformer: d token embeddings", tf_loss, &c, c.emb, demb, 3 * 6 * 6, 3e-3f, RTOL,
                ATOL, 0);
  /* bad input: an id outside the vocabulary, a length past max_len */
  c.use_emb = 0;
  c.ids[2] = 11;
  ibx_tensor lg;
  assert_int_equal(ibx_transformer_forward(c.t, c.ids, 6, c.len, NULL, 3, 0, 0, &lg), IBX_ERR_ARG);
  c.ids[2] = 5, c.len[0] = 7;
  assert_int_equal(ibx_transformer_forward(c.t, c.ids, 6, c.len, NULL, 3, 0, 0, &lg), IBX_ERR_ARG);
  cfg.heads = 4;
  ibx_transformer *bad;
  assert_int_equal(ibx_transformer_create(&cfg, 3, &bad), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "model.heads"));
  free(c.emb), free(c.G), free(demb);
  ibx_transformer_free(c.t);
}

/* ---- the masked-language model: encoder + BERT's LM head (tied decoder) -- */

typedef struct {
  ibx_transformer *t;
  int32_t ids[3 * 7], tgt[3 * 7];
  int len[3];
} mlm_ctx;

static double mlm_loss(void *p) {
  mlm_ctx *c = p;
  ibx_mlm_stats st;
  assert_ibx_ok(ibx_transformer_forward_mlm(c->t, c->ids, 7, c->len, c->tgt, 3, 1, 99, &st));
  return st.loss;
}

static void test_transformer_mlm(void **state) {
  (void)state;
  ibx_transformer_config cfg;
  ibx_transformer_config_defaults(&cfg);
  cfg.layers = 2, cfg.d_model = 6, cfg.heads = 3, cfg.d_ff = 7, cfg.max_len = 7, cfg.vocab = 13;
  cfg.num_classes = 0, cfg.dropout = 0.1f, cfg.seed = 8, cfg.mlm = 1;
  mlm_ctx c = {0};
  assert_ibx_ok(ibx_transformer_create(&cfg, 3, &c.t));
  ibx_params *P = ibx_transformer_params(c.t);
  int has_head = 0, has_pooler = 0;
  for (int i = 0; i < P->count; i++) {
    has_head += !strcmp(P->info[i].name, "mlm.decoder.bias");
    has_pooler += !strncmp(P->info[i].name, "pooler", 6);
  }
  assert_int_equal(has_head, 1);
  assert_int_equal(has_pooler, 0);
  tu_randn(P->values, P->total, 0.4f, 71);
  for (int i = 0; i < P->count; i++)
    if (strstr(P->info[i].name, "norm"))
      if (!strcmp(strrchr(P->info[i].name, '.'), ".weight"))
        for (size_t k = 0; k < P->info[i].numel; k++)
          P->values[P->info[i].offset + k] += 1.0f;
  /* odd lengths, padding, a sample without any target, targets at padding
   * positions past the length are ignored */
  const int len[3] = {7, 5, 2};
  for (int n = 0; n < 3; n++) {
    c.len[n] = len[n];
    for (int i = 0; i < 7; i++) {
      c.ids[n * 7 + i] = i < len[n] ? (int32_t)(5 + (n * 5 + i * 3) % 8) : 0;
      c.tgt[n * 7 + i] = -1;
    }
    c.ids[n * 7] = 2;
    c.ids[n * 7 + len[n] - 1] = 3;
  }
  c.tgt[1] = 9, c.ids[1] = 4;  /* [MASK] */
  c.tgt[4] = 12;               /* kept token */
  c.tgt[5] = 6, c.ids[5] = 11; /* random token */
  c.tgt[7 + 2] = 5, c.ids[7 + 2] = 4;
  c.tgt[7 + 6] = 7; /* padding: ignored */
  hook_log hl = {0};
  ibx_transformer_set_grad_hook(c.t, hook, &hl);
  ibx_mlm_stats st;
  assert_ibx_ok(ibx_transformer_forward_mlm(c.t, c.ids, 7, c.len, c.tgt, 3, 1, 99, &st));
  assert_int_equal(st.count, 4);
  assert_true(st.loss > 0.0f && st.correct >= 0 && st.correct <= 4);
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_transformer_backward_mlm(c.t));
  assert_true(hl.calls >= 3 && !hl.bad && hl.last == 0);
  for (int i = 0; i < P->count; i++) {
    char what[160];
    snprintf(what, sizeof what, "mlm transformer: %s", P->info[i].name);
    float *g = malloc(P->info[i].numel * sizeof(float));
    memcpy(g, P->grads + P->info[i].offset, P->info[i].numel * sizeof(float));
    tu_check_grad(what, mlm_loss, &c, P->values + P->info[i].offset, g, P->info[i].numel, EPS,
                  RTOL, ATOL, 12);
    free(g);
  }
  /* the tied decoder: the embedding rows of target ids get gradient even
   * when those ids never appear in the input */
  const ibx_param_info *emb = &P->info[0];
  assert_string_equal(emb->name, "embedding.token.weight");
  double g12 = 0.0;
  for (int d = 0; d < 6; d++)
    g12 += fabs(P->grads[emb->offset + 12 * 6 + d]);
  assert_true(g12 > 0.0);
  /* bad input: a target outside the vocabulary; the classifier calls */
  c.tgt[1] = 13;
  assert_int_equal(ibx_transformer_forward_mlm(c.t, c.ids, 7, c.len, c.tgt, 3, 0, 0, &st),
                   IBX_ERR_ARG);
  ibx_tensor lg;
  assert_int_equal(ibx_transformer_forward(c.t, c.ids, 7, c.len, NULL, 3, 0, 0, &lg), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "masked-language"));
  /* no target at all: loss 0, backward still runs (every rank joins) */
  for (int i = 0; i < 21; i++)
    c.tgt[i] = -1;
  assert_ibx_ok(ibx_transformer_forward_mlm(c.t, c.ids, 7, c.len, c.tgt, 3, 1, 99, &st));
  assert_int_equal(st.count, 0);
  assert_true(st.loss == 0.0f);
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_transformer_backward_mlm(c.t));
  double gsum = 0.0;
  for (size_t k = 0; k < P->total; k++)
    gsum += fabs(P->grads[k]);
  assert_true(gsum == 0.0);
  ibx_transformer_free(c.t);
}

static void test_transformer_model(void **state) {
  (void)state;
  run_transformer_model(0);
}

/* the mean-pooling ablation (model.pool = mean) */
static void test_transformer_model_mean_pool(void **state) {
  (void)state;
  run_transformer_model(1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embeddings),
      cmocka_unit_test(test_layernorm),
      cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_mha),
      cmocka_unit_test(test_mha_attention_dropout),
      cmocka_unit_test(test_mha_stability),
      cmocka_unit_test(test_ffn),
      cmocka_unit_test(test_transformer_model),
      cmocka_unit_test(test_transformer_model_mean_pool),
      cmocka_unit_test(test_transformer_mlm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
