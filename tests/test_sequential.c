/* The sequential network: parameter counts equal PyTorch's for the reference
 * VGG-16-BN, and a whole small network's backward (every node kind) matches
 * central finite differences.
 * Tolerance for the finite differences: float32 forward passes through batch
 * norm, eps 1e-3 -> |diff| <= 2e-3 + 2e-2 * max(|fd|, |analytic|). */
#include <stdlib.h>
#include <string.h>

#include "ibx/vgg.h"
#include "testutil.h"

static size_t vgg_params(float width, int in_ch) {
  ibx_seq *s;
  ibx_params p, b;
  ibx_params_init(&p, 1);
  ibx_params_init(&b, 0);
  assert_ibx_ok(ibx_seq_create(in_ch, 32, 32, &s));
  assert_ibx_ok(ibx_vgg_build(s, ibx_vgg16_cfg, 18, width, 1, 10));
  assert_ibx_ok(ibx_seq_declare(s, "features", &p, &b));
  size_t n = ibx_params_count(&p);
  ibx_seq_free(s);
  ibx_params_free(&p);
  ibx_params_free(&b);
  return n;
}

/* Counts printed by ../shared/reference/torch_vgg_train_bench.py. */
static void test_vgg16_parameter_counts(void **state) {
  (void)state;
  assert_int_equal(vgg_params(1.0f, 3), 14728266);
  assert_int_equal(vgg_params(0.25f, 1), 923898);
}

typedef struct {
  ibx_seq *s;
  float *x, *g;
  int batch;
  size_t out_n;
} net_ctx;

static double net_loss(void *p) {
  net_ctx *c = p;
  ibx_tensor y;
  /* training mode so batch norm uses batch statistics (its real backward) */
  if (ibx_seq_forward(c->s, c->x, c->batch, 1, 7, &y) != IBX_OK)
    fail_msg("forward: %s", ibx_errmsg());
  return tu_dot(y.data, c->g, c->out_n);
}

static void test_whole_network_gradients(void **state) {
  (void)state;
  ibx_seq *s;
  ibx_params p, b;
  ibx_params_init(&p, 1);
  ibx_params_init(&b, 0);
  assert_ibx_ok(ibx_seq_create(2, 9, 7, &s));
  assert_ibx_ok(ibx_seq_add_conv(s, 4, 3, 1, 1, 1));
  assert_ibx_ok(ibx_seq_add_batchnorm(s));
  assert_ibx_ok(ibx_seq_add_relu(s));
  assert_ibx_ok(ibx_seq_add_maxpool(s, 2, 2));
  assert_ibx_ok(ibx_seq_add_conv(s, 3, 1, 1, 0, 0));
  assert_ibx_ok(ibx_seq_add_avgpool(s, 2, 1));
  assert_ibx_ok(ibx_seq_add_flatten(s));
  assert_ibx_ok(ibx_seq_add_dropout(s, 0.25f));
  assert_ibx_ok(ibx_seq_add_linear(s, 5, 1));
  assert_ibx_ok(ibx_seq_declare(s, "net", &p, &b));
  assert_ibx_ok(ibx_params_allocate(&p));
  assert_ibx_ok(ibx_params_allocate(&b));
  const int batch = 3;
  assert_ibx_ok(ibx_seq_bind(s, &p, &b, batch));
  ibx_seq_init(s, 3);
  /* give biases and BN affine parameters non-trivial values */
  for (int i = 0; i < p.count; i++)
    if (p.info[i].ndim == 1)
      tu_randn(p.values + p.info[i].offset, p.info[i].numel, 0.5f, 100 + i);
  int ndim, dim[4];
  ibx_seq_output_shape(s, &ndim, dim);
  assert_int_equal(ndim, 2);
  assert_int_equal(dim[1], 5);
  net_ctx c = {s, tu_alloc_randn((size_t)batch * 2 * 9 * 7, 1.0f, 1), tu_alloc_randn(batch * 5, 1.0f, 2),
               batch, (size_t)batch * 5};
  float *dx = calloc((size_t)batch * 2 * 9 * 7, sizeof(float));
  ibx_tensor y;
  assert_ibx_ok(ibx_seq_forward(s, c.x, batch, 1, 7, &y));
  ibx_params_zero_grads(&p);
  assert_ibx_ok(ibx_seq_backward(s, c.g, dx));
  float *grads = malloc(p.total * sizeof(float));
  memcpy(grads, p.grads, p.total * sizeof(float));
  tu_check_grad("dx", net_loss, &c, c.x, dx, (size_t)batch * 2 * 9 * 7, 1e-3f, 2e-2, 2e-3, 0);
  for (int i = 0; i < p.count; i++)
    tu_check_grad(p.info[i].name, net_loss, &c, p.values + p.info[i].offset,
                  grads + p.info[i].offset, p.info[i].numel, 1e-3f, 2e-2, 2e-3, 40);
  free(grads);
  free(dx);
  free(c.x);
  free(c.g);
  ibx_seq_free(s);
  ibx_params_free(&p);
  ibx_params_free(&b);
}

static void test_bad_layer_sequence(void **state) {
  (void)state;
  ibx_seq *s;
  assert_ibx_ok(ibx_seq_create(1, 4, 4, &s));
  assert_int_equal(ibx_seq_add_linear(s, 3, 1), IBX_ERR_ARG); /* needs flatten */
  assert_int_equal(ibx_seq_add_conv(s, 3, 7, 1, 0, 1), IBX_ERR_ARG); /* kernel > map */
  assert_ibx_ok(ibx_seq_add_flatten(s));
  assert_int_equal(ibx_seq_add_maxpool(s, 2, 2), IBX_ERR_ARG); /* flat input */
  assert_non_null(strstr(ibx_errmsg(), "flat"));
  ibx_seq_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vgg16_parameter_counts),
      cmocka_unit_test(test_whole_network_gradients),
      cmocka_unit_test(test_bad_layer_sequence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
