/* IBX_ISA_CLONES: give a hot loop function AVX-512 and AVX2 clones, picked at
 * load time by the CPU, when the build is portable (no -march, so the
 * compiler may only assume SSE2: 4 float lanes). With -march=native
 * (IBX_NATIVE), clang, or another architecture it expands to nothing.
 * Clone plain functions, not ones holding an OpenMP region: GCC does not
 * clone the outlined parallel bodies. Built in ISO C mode, where
 * -ffp-contract=off, every clone computes the same bits, provided no loop
 * reorders additions by the vector width (`omp simd reduction` does): sums
 * go through reduce.h. -DIBX_NO_ISA_CLONES turns cloning off (a test
 * builds one file once per ISA with it). */
#ifndef IBX_ISA_CLONES_H
#define IBX_ISA_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__) && \
    !defined(IBX_NO_ISA_CLONES) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define IBX_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef IBX_ISA_CLONES
#define IBX_ISA_CLONES
#endif

/* IBX_AVX512_KERNELS: 1 where the hand-written AVX-512 kernels
 * (conv2d_winograd_avx512.c, pool_avx512.c) are built (x86-64 GCC: they use
 * target attributes), 0 elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define IBX_AVX512_KERNELS 1
#else
#define IBX_AVX512_KERNELS 0
#endif

/* 1 when hand-written AVX-512 kernels may run: the CPU has AVX-512F and
 * IBX_CPU_NO_AVX512 is unset (tests set it to compare them with the
 * portable ones). Always 0 where they are not built. */
int ibx_cpu_use_avx512(void);

/* The mask of lanes 0 .. n-1 of a 16-lane vector (n clamped to 0 .. 16), for
 * the masked loads and stores of those kernels. */
static inline unsigned short ibx_lanes16(long n) {
  return n >= 16 ? (unsigned short)0xffff : n <= 0 ? (unsigned short)0
                                                   : (unsigned short)((1u << n) - 1u);
}

#endif
