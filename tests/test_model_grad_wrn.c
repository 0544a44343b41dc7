/* Finite-difference gradients of every head on WRN-10-1 (see
 * test_model_grad_common.h for the method and tolerances). */
#include <omp.h>

#include "test_model_grad_common.h"

HEAD_TEST(test_wrn_plain, "wrn", "plain")
HEAD_TEST(test_wrn_dvib, "wrn", "dvib")
HEAD_TEST(test_wrn_aib, "wrn", "aib")
HEAD_TEST(test_wrn_aib_qt, "wrn", "aib-qt")
HEAD_TEST(test_wrn_abn, "wrn", "abn")

int main(void) {
  grad_test_init();
  omp_set_num_threads(1); /* tiny tensors: threads only add overhead here */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrn_plain), cmocka_unit_test(test_wrn_dvib),
      cmocka_unit_test(test_wrn_aib),   cmocka_unit_test(test_wrn_aib_qt),
      cmocka_unit_test(test_wrn_abn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
