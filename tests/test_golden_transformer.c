/* The transformer layers and the transformer text classifier against
 * PyTorch (tests/fixtures/golden_transformer.h5, written by
 * scripts/make_golden_transformer.py with Debian's python3-torch):
 * nn.MultiheadAttention with a key_padding_mask, nn.LayerNorm on rows with
 * a 1e3 offset, GELU, and a 2-layer post-LN nn.TransformerEncoder with
 * BERT embeddings and a [CLS] pooled classifier (logits, loss, every
 * parameter gradient, the token-embedding gradient, the last layer's [CLS]
 * attention, the hidden states after layer 1), and the masked-language
 * model (BERT's LM head tied to the token embedding: loss and every
 * parameter gradient). Tolerance: golden.h's
 * default, 1e-5 relative plus 1e-5 of the tensor's scale. */
#include "testutil.h"

#include "golden.h"
#include "ibx/layers.h"
#include "ibx/transformer.h"
#include "ibx/transformer_layers.h"

#define FIXTURE "golden_transformer.h5"

G_FIXTURE(F, FIXTURE)

static void check_ref(const char *grp, const char *name, const float *got, size_t n) {
  char what[256];
  ibx_tensor ref;
  g_read(&F, grp, name, &ref);
  if (g_numel(&ref) != n)
    fail_msg("%s/%s: %zu elements, ibx has %zu", grp, name, g_numel(&ref), n);
  g_check(G_WHAT(what, grp, name), got, ref.data, n);
  ibx_free(ref.data);
}

static void test_mha(void **state) {
  (void)state;
  ibx_tensor x, iw, ib, ow, ob, dy;
  g_read(&F, "mha", "x", &x);
  g_read(&F, "mha", "params/in_proj_weight", &iw);
  g_read(&F, "mha", "params/in_proj_bias", &ib);
  g_read(&F, "mha", "params/out_proj.weight", &ow);
  g_read(&F, "mha", "params/out_proj.bias", &ob);
  g_read(&F, "mha", "dy", &dy);
  const int N = x.dim[0], T = x.dim[1], D = x.dim[2];
  uint8_t pad[64];
  assert_true(N * T <= 64);
  int32_t pi[64];
  assert_ibx_ok(ibx_h5_read_i32(&F, "mha/key_pad", pi, (size_t)N * T));
  for (int i = 0; i < N * T; i++)
    pad[i] = (uint8_t)pi[i];
  const ibx_mha L = {D, (int)g_attr_i(&F, "mha", "heads"), {0.0f, 0, 0}};
  size_t sz[4];
  ibx_mha_saved_sizes(&L, N, T, sz);
  ibx_mha_saved sv = {ibx_calloc(sz[0] * 4, "t"), ibx_calloc(sz[1] * 4, "t"),
                      ibx_calloc(sz[2] * 4, "t"), ibx_calloc(sz[3] * 4, "t")};
  ibx_tensor y, dx, diw, dib, dow, dob;
  g_zeros_like(&x, &y), g_zeros_like(&x, &dx), g_zeros_like(&iw, &diw);
  g_zeros_like(&ib, &dib), g_zeros_like(&ow, &dow), g_zeros_like(&ob, &dob);
  x.ndim = y.ndim = dx.ndim = dy.ndim = 3;
  assert_ibx_ok(ibx_mha_forward(&L, 1, &x, pad, &iw, &ib, &ow, &ob, &y, &sv));
  check_ref("mha", "y", y.data, g_numel(&y));
  ibx_scratch s = {0};
  assert_ibx_ok(ibx_mha_backward(&L, 1, &x, pad, &iw, &ow, &sv, &dy, &dx, &diw, &dib, &dow, &dob,
                                 &s));
  check_ref("mha", "dx", dx.data, g_numel(&dx));
  check_ref("mha", "grads/in_proj_weight", diw.data, g_numel(&diw));
  check_ref("mha", "grads/in_proj_bias", dib.data, g_numel(&dib));
  check_ref("mha", "grads/out_proj.weight", dow.data, g_numel(&dow));
  check_ref("mha", "grads/out_proj.bias", dob.data, g_numel(&dob));
  ibx_scratch_free(&s);
  float *bufs[] = {x.data, iw.data, ib.data, ow.data, ob.data, dy.data, y.data, dx.data,
                   diw.data, dib.data, dow.data, dob.data, sv.qkv, sv.probs, sv.drop, sv.ctx};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_layernorm(void **state) {
  (void)state;
  ibx_tensor x, g, b, dy, y, dx, dg, db;
  g_read(&F, "layernorm", "x", &x);
  g_read(&F, "layernorm", "params/weight", &g);
  g_read(&F, "layernorm", "params/bias", &b);
  g_read(&F, "layernorm", "dy", &dy);
  g_zeros_like(&x, &y), g_zeros_like(&x, &dx), g_zeros_like(&g, &dg), g_zeros_like(&b, &db);
  float mean[64], rstd[64];
  assert_true(g_numel(&x) / (size_t)g.dim[0] <= 64);
  assert_ibx_ok(ibx_layernorm_forward(1e-5f, &x, &g, &b, &y, mean, rstd));
  check_ref("layernorm", "y", y.data, g_numel(&y));
  assert_ibx_ok(ibx_layernorm_backward(&x, &g, rstd, &dy, &dx, &dg, &db));
  /* x ~ 1e3 + N(0,1) in float32 carries ~6e-5 absolute rounding in x itself,
   * which both sides share (the fixture's x is that float32 value) */
  check_ref("layernorm", "dx", dx.data, g_numel(&dx));
  check_ref("layernorm", "grads/weight", dg.data, g_numel(&dg));
  check_ref("layernorm", "grads/bias", db.data, g_numel(&db));
  float *bufs[] = {x.data, g.data, b.data, dy.data, y.data, dx.data, dg.data, db.data};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    ibx_free(bufs[i]);
}

static void test_gelu(void **state) {
  (void)state;
  ibx_tensor x, dy, y, dx;
  g_read(&F, "gelu", "x", &x);
  g_read(&F, "gelu", "dy", &dy);
  g_zeros_like(&x, &y), g_zeros_like(&x, &dx);
  assert_ibx_ok(ibx_gelu_forward(&x, &y));
  check_ref("gelu", "y", y.data, g_numel(&y));
  assert_ibx_ok(ibx_gelu_backward(&x, &dy, &dx));
  check_ref("gelu", "dx", dx.data, g_numel(&dx));
  ibx_free(x.data), ibx_free(dy.data), ibx_free(y.data), ibx_free(dx.data);
}

/* The encoder shape stored as attributes of fixture group GRP. */
static void fixture_config(const char *grp, ibx_transformer_config *c) {
  ibx_transformer_config_defaults(c);
  c->layers = (int)g_attr_i(&F, grp, "layers");
  c->d_model = (int)g_attr_i(&F, grp, "d");
  c->heads = (int)g_attr_i(&F, grp, "heads");
  c->d_ff = (int)g_attr_i(&F, grp, "d_ff");
  c->max_len = (int)g_attr_i(&F, grp, "max_len");
  c->vocab = (int)g_attr_i(&F, grp, "vocab");
}

/* Every parameter from GRP/params/<PyTorch name>; the counts must agree. */
static void load_fixture_params(const char *grp, ibx_params *P) {
  assert_int_equal(P->count, g_attr_i(&F, grp, "n_params"));
  char p[160];
  for (int i = 0; i < P->count; i++) {
    ibx_tensor v = ibx_params_value(P, i);
    snprintf(p, sizeof p, "%s/params/%s", grp, P->info[i].name);
    if (!ibx_h5_exists(&F, p))
      fail_msg("fixture has no %s", p);
    assert_ibx_ok(ibx_h5_read_tensor(&F, p, &v));
  }
}

/* Every parameter gradient against GRP/grads/<PyTorch name>. */
static void check_param_grads(const char *grp, const ibx_params *P) {
  char p[160];
  for (int i = 0; i < P->count; i++) {
    ibx_tensor gr = ibx_params_grad(P, i);
    snprintf(p, sizeof p, "grads/%s", P->info[i].name);
    check_ref(grp, p, gr.data, g_numel(&gr));
  }
}

static void test_model(void **state) {
  (void)state;
  const char *grp = "model";
  ibx_transformer_config c;
  fixture_config(grp, &c);
  c.num_classes = (int)g_attr_i(&F, grp, "classes");
  c.dropout = 0.0f;
  const int N = 3, T = c.max_len, D = c.d_model, K = c.num_classes;
  ibx_transformer *t;
  assert_ibx_ok(ibx_transformer_create(&c, N, &t));
  ibx_params *P = ibx_transformer_params(t);
  load_fixture_params(grp, P);
  int32_t ids[64], lengths[3], labels[3];
  assert_ibx_ok(ibx_h5_read_i32(&F, "model/ids", ids, (size_t)N * T));
  assert_ibx_ok(ibx_h5_read_i32(&F, "model/lengths", lengths, N));
  assert_ibx_ok(ibx_h5_read_i32(&F, "model/labels", labels, N));
  ibx_tensor lg;
  /* training mode (dropout 0) and evaluation must agree */
  assert_ibx_ok(ibx_transformer_forward(t, ids, T, lengths, NULL, N, 1, 7, &lg));
  check_ref(grp, "logits", lg.data, (size_t)N * K);
  ibx_tensor h1;
  assert_ibx_ok(ibx_transformer_hidden(t, 1, &h1));
  check_ref(grp, "hidden1", h1.data, g_numel(&h1));
  float att[64];
  assert_ibx_ok(ibx_transformer_cls_attention(t, att));
  check_ref(grp, "cls_attention", att, (size_t)N * T);
  float probs[64], loss, dlogits[64];
  ibx_tensor pt = ibx_t2(probs, N, K), dlt = ibx_t2(dlogits, N, K);
  assert_ibx_ok(ibx_softmax_xent_forward(&lg, labels, &loss, &pt));
  check_ref(grp, "loss", &loss, 1);
  assert_ibx_ok(ibx_softmax_xent_backward(&pt, labels, 1.0f, &dlt));
  ibx_params_zero_grads(P);
  float *dtok = ibx_calloc((size_t)N * T * D * sizeof(float), "dtok");
  assert_ibx_ok(ibx_transformer_backward(t, dlogits, dtok));
  check_ref(grp, "d_tok_emb", dtok, (size_t)N * T * D);
  check_param_grads(grp, P);

  /* Forward from the token embeddings gives the same logits, and the
   * embedding gradient without touching the table. */
  ibx_tensor te;
  assert_ibx_ok(ibx_transformer_token_embeddings(t, &te));
  float *emb = g_copy(te.data, g_numel(&te));
  ibx_transformer_set_param_grads(t, 0);
  assert_ibx_ok(ibx_transformer_forward(t, NULL, T, lengths, emb, N, 0, 0, &lg));
  check_ref(grp, "logits", lg.data, (size_t)N * K);
  memset(dtok, 0, (size_t)N * T * D * sizeof(float));
  assert_ibx_ok(ibx_transformer_backward(t, dlogits, dtok));
  check_ref(grp, "d_tok_emb", dtok, (size_t)N * T * D);
  ibx_free(emb);
  ibx_free(dtok);
  ibx_transformer_free(t);
}

/* The masked-language model: BERT's LM head with the decoder tied to the
 * token embedding, loss over the predicted positions only (PyTorch's
 * cross_entropy with ignore_index = -1). */
static void test_mlm(void **state) {
  (void)state;
  const char *grp = "mlm";
  ibx_transformer_config c;
  fixture_config(grp, &c);
  c.num_classes = 0, c.mlm = 1, c.dropout = 0.0f;
  const int N = 3, T = c.max_len;
  ibx_transformer *t;
  assert_ibx_ok(ibx_transformer_create(&c, N, &t));
  ibx_params *P = ibx_transformer_params(t);
  load_fixture_params(grp, P);
  int32_t ids[64], lengths[3], targets[64];
  assert_ibx_ok(ibx_h5_read_i32(&F, "mlm/ids", ids, (size_t)N * T));
  assert_ibx_ok(ibx_h5_read_i32(&F, "mlm/lengths", lengths, N));
  assert_ibx_ok(ibx_h5_read_i32(&F, "mlm/targets", targets, (size_t)N * T));
  ibx_mlm_stats st;
  assert_ibx_ok(ibx_transformer_forward_mlm(t, ids, T, lengths, targets, N, 1, 7, &st));
  assert_int_equal(st.count, 5);
  check_ref(grp, "loss", &st.loss, 1);
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_transformer_backward_mlm(t));
  check_param_grads(grp, P);
  ibx_transformer_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mha),
      cmocka_unit_test(test_layernorm),
      cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_model),
      cmocka_unit_test(test_mlm),
  };
  return cmocka_run_group_tests(tests, g_group_setup, g_group_teardown);
}
