/* Finite-difference gradients of every head on a 1/16-width VGG-16 (see
 * test_model_grad_common.h for the method and tolerances). */
#include <omp.h>

#include "test_model_grad_common.h"

HEAD_TEST(test_vgg_plain, "vgg16", "plain")
HEAD_TEST(test_vgg_gap, "vgg16", "gap")
HEAD_TEST(test_vgg_dvib, "vgg16", "dvib")
HEAD_TEST(test_vgg_aib, "vgg16", "aib")
HEAD_TEST(test_vgg_aib_qt, "vgg16", "aib-qt")
HEAD_TEST(test_vgg_att2, "vgg16", "att2")
HEAD_TEST(test_vgg_att3, "vgg16", "att3")
HEAD_TEST(test_vgg_pan, "vgg16", "pan")

int main(void) {
  grad_test_init();
  omp_set_num_threads(1); /* tiny tensors: threads only add overhead here */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vgg_plain),  cmocka_unit_test(test_vgg_gap),
      cmocka_unit_test(test_vgg_dvib),   cmocka_unit_test(test_vgg_aib),
      cmocka_unit_test(test_vgg_aib_qt), cmocka_unit_test(test_vgg_att2),
      cmocka_unit_test(test_vgg_att3),   cmocka_unit_test(test_vgg_pan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
