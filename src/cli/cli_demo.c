/* ibx demo: placeholder until the Fashion-MNIST trainer lands. */
#include <stdio.h>

#include "cli.h"

int ibx_cmd_demo(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "ibx demo: not implemented yet\n");
  return 1;
}
