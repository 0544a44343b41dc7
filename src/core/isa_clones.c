/* Whether the hand-written AVX-512 kernels may run (isa_clones.h). */
#include "isa_clones.h"

#include <stdlib.h>

/* Asked on every layer call, so that a test may set IBX_CPU_NO_AVX512
 * between calls; both questions cost a few nanoseconds (libgcc reads the
 * CPU's features once, at load time). */
int ibx_cpu_use_avx512(void) {
#if IBX_AVX512_KERNELS
  const char *off = getenv("IBX_CPU_NO_AVX512");
  if (off && *off && *off != '0')
    return 0;
  return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
  return 0;
#endif
}
