/* The transformer behind the model interface (ibx/model.h, backbone
 * "transformer"): token inputs through ibx_model_forward_input give the
 * transformer's logits and the mean cross-entropy; backward gives the same
 * parameter gradients as the transformer driven directly; the grad-ready
 * hook sees a decreasing frontier ending at 0; image inputs, bad labels and
 * bad configs are one-line errors; set_param_grads(0) leaves the gradient
 * buffer alone. Plus the linear-decay learning-rate schedule (BERT's
 * get_linear_schedule_with_warmup), hand-computed. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/layers.h"
#include "ibx/model.h"
#include "ibx/optim.h"
#include "ibx/transformer.h"

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

static ibx_model_config small_config(void) {
  ibx_model_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.backbone, sizeof c.backbone, "transformer");
  ibx_model_config_defaults(&c);
  c.num_classes = 4, c.tf_layers = 3, c.tf_d_model = 12, c.tf_heads = 3, c.tf_d_ff = 20;
  c.tf_max_len = 9, c.tf_vocab = 30, c.tf_dropout = 0.1f, c.seed = 3;
  return c;
}

static void test_model_interface(void **state) {
  (void)state;
  const ibx_model_config c = small_config();
  ibx_model *m;
  assert_ibx_ok(ibx_model_create(&c, 4, &m));
  assert_true(ibx_model_is_text(m));
  ibx_transformer *t = ibx_model_transformer(m);
  assert_non_null(t);
  ibx_params *P = ibx_model_params(m);
  assert_ptr_equal(P, ibx_transformer_params(t));
  assert_int_equal(P->count, 4 + 12 * 3 + 4);
  assert_true(ibx_params_find(P, "encoder.layers.2.self_attn.in_proj_weight") >= 0);
  assert_true(ibx_params_find(P, "classifier.weight") >= 0);

  enum { B = 3, S = 9 };
  int32_t ids[B * S];
  int len[B] = {9, 5, 2}, labels[B] = {3, 0, 2};
  for (int i = 0; i < B * S; i++)
    ids[i] = 5 + (i * 7) % 25;
  const ibx_model_input in = {.tokens = ids, .lengths = len, .stride = S};
  ibx_loss_parts lp;
  ibx_tensor lg;
  assert_ibx_ok(ibx_model_forward_input(m, &in, labels, B, 1, 77, &lp, &lg));
  float logits[B * 4];
  memcpy(logits, lg.data, sizeof logits);
  /* the loss is the mean cross-entropy of these logits */
  float probs[B * 4], ce;
  ibx_tensor lt = ibx_t2(logits, B, 4), pt = ibx_t2(probs, B, 4);
  assert_ibx_ok(ibx_softmax_xent_forward(&lt, labels, &ce, &pt));
  assert_float_equal(lp.ce, ce, 1e-6f);
  assert_float_equal(lp.total, ce, 1e-6f);
  hook_log hl = {0};
  ibx_model_set_grad_hook(m, hook, &hl);
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_model_backward(m, NULL));
  assert_true(hl.calls >= 5 && !hl.bad && hl.last == 0);
  float *g1 = malloc(P->total * sizeof(float));
  memcpy(g1, P->grads, P->total * sizeof(float));

  /* the transformer driven directly, same noise seed: same logits, grads */
  ibx_model_set_grad_hook(m, NULL, NULL);
  ibx_tensor lg2;
  assert_ibx_ok(ibx_transformer_forward(t, ids, S, len, NULL, B, 1, 77, &lg2));
  tu_assert_close("logits", lg2.data, logits, B * 4, 0.0, 0.0);
  float dl[B * 4];
  ibx_tensor dlt = ibx_t2(dl, B, 4);
  assert_ibx_ok(ibx_softmax_xent_backward(&pt, labels, 1.0f, &dlt));
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_transformer_backward(t, dl, NULL));
  tu_assert_close("parameter gradients", P->grads, g1, P->total, 1e-6, 1e-9);

  /* frozen weights: backward_from_logits leaves the gradient buffer alone */
  ibx_model_set_param_grads(m, 0);
  ibx_params_zero_grads(P);
  assert_ibx_ok(ibx_model_forward_input(m, &in, NULL, B, 0, 0, NULL, &lg));
  assert_ibx_ok(ibx_model_backward_from_logits(m, dl, NULL));
  for (size_t i = 0; i < P->total; i++)
    assert_true(P->grads[i] == 0.0f);
  ibx_model_set_param_grads(m, 1);

  /* bad input */
  float img[16] = {0};
  assert_int_equal(ibx_model_forward(m, img, NULL, 1, 0, 0, NULL, &lg), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "token ids"));
  labels[1] = 4;
  assert_int_equal(ibx_model_forward_input(m, &in, labels, B, 0, 0, NULL, &lg), IBX_ERR_ARG);
  labels[1] = 0;
  ids[4] = 30; /* outside the vocabulary */
  assert_int_equal(ibx_model_forward_input(m, &in, labels, B, 0, 0, NULL, &lg), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "vocabulary"));
  ids[4] = 6;
  len[2] = 0;
  assert_int_equal(ibx_model_forward_input(m, &in, labels, B, 0, 0, NULL, &lg), IBX_ERR_ARG);
  len[2] = 10; /* past max_len and the stride */
  assert_int_equal(ibx_model_forward_input(m, &in, labels, B, 0, 0, NULL, &lg), IBX_ERR_ARG);

  char summary[8192];
  assert_ibx_ok(ibx_model_summary(m, summary, sizeof summary));
  assert_non_null(strstr(summary, "transformer (3 layers"));
  assert_non_null(strstr(summary, "encoder.layers.1.linear1.weight"));
  free(g1);
  ibx_model_free(m);

  ibx_model_config bad = small_config();
  bad.tf_heads = 5;
  assert_int_equal(ibx_model_create(&bad, 2, &m), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "model.heads"));
  bad = small_config();
  bad.tf_vocab = 3;
  assert_int_equal(ibx_model_create(&bad, 2, &m), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "model.vocab"));
  bad = small_config();
  bad.tf_dropout = 1.0f;
  assert_int_equal(ibx_model_create(&bad, 2, &m), IBX_ERR_ARG);
}

/* Linear warm-up from 0 over 10 steps to 1e-3, then linear decay to 0 at
 * step 110: lr(5) = 5e-4, lr(10) = 1e-3, lr(60) = 5e-4, lr(110+) = 0. */
static void test_linear_schedule(void **state) {
  (void)state;
  ibx_schedule s;
  memset(&s, 0, sizeof s);
  s.kind = IBX_SCHED_LINEAR, s.base_lr = 1e-3f, s.warmup_steps = 10, s.warmup_start = 0.0f;
  s.total_steps = 110;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 0), 0.0f, 0.0f);
  assert_float_equal(ibx_schedule_lr(&s, 5), 5e-4f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 10), 1e-3f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 60), 5e-4f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 109), 1e-5f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 110), 0.0f, 0.0f);
  assert_float_equal(ibx_schedule_lr(&s, 500), 0.0f, 0.0f);
  s.total_steps = 10;
  assert_int_equal(ibx_schedule_check(&s), IBX_ERR_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_interface),
      cmocka_unit_test(test_linear_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
