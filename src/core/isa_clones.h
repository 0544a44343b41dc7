/* IBX_ISA_CLONES: give a hot loop function AVX-512 and AVX2 clones, picked at
 * load time by the CPU, when the build is portable (no -march, so the
 * compiler may only assume SSE2: 4 float lanes). With -march=native
 * (IBX_NATIVE), clang, or another architecture it expands to nothing.
 * Clone plain functions, not ones holding an OpenMP region: GCC does not
 * clone the outlined parallel bodies. Built in ISO C mode, where
 * -ffp-contract=off, every clone computes the same bits. */
#ifndef IBX_ISA_CLONES_H
#define IBX_ISA_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define IBX_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef IBX_ISA_CLONES
#define IBX_ISA_CLONES
#endif

/* 1 when hand-written AVX-512 kernels may run: the CPU has AVX-512F and
 * IBX_CPU_NO_AVX512 is unset (tests set it to compare them with the
 * portable ones). Always 0 where they are not built. */
int ibx_cpu_use_avx512(void);

#endif
