/* GEMM precision: run-time CPU detection, the process-wide setting and the
 * dispatch between OpenBLAS sgemm (fp32) and the bf16 kernels
 * (gemm_bf16.c). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/precision.h"

static ibx_precision current = IBX_PRECISION_FP32;

static int cpu_reports_bf16(void) {
#if defined(__x86_64__) && defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 11)
  /* __builtin_cpu_supports also checks that the OS saves the zmm state. */
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return 0;
#endif
}

int ibx_cpu_has_bf16(void) {
  const char *off = getenv("IBX_CPU_NO_BF16");
  if (off && *off && strcmp(off, "0") != 0)
    return 0;
  return ibx_bf16_kernels_built() && cpu_reports_bf16();
}

int ibx_precision_parse(const char *name, ibx_precision *p) {
  if (name && !strcmp(name, "fp32"))
    *p = IBX_PRECISION_FP32;
  else if (name && !strcmp(name, "bf16"))
    *p = IBX_PRECISION_BF16;
  else
    return ibx_fail(IBX_ERR_ARG, "precision '%s': expected fp32 or bf16", name ? name : "(null)");
  return IBX_OK;
}

const char *ibx_precision_name(ibx_precision p) {
  return p == IBX_PRECISION_BF16 ? "bf16" : "fp32";
}

int ibx_precision_set(ibx_precision p) {
  if (p == IBX_PRECISION_BF16 && !ibx_cpu_has_bf16())
    return ibx_fail(IBX_ERR_ARG,
                    "precision bf16: this CPU has no AVX512-BF16 dot products (avx512_bf16 "
                    "missing in /proc/cpuinfo%s); use fp32",
                    ibx_bf16_kernels_built() ? "" : ", or this build has no bf16 kernels");
  current = p;
  return IBX_OK;
}

ibx_precision ibx_precision_get(void) { return current; }

int ibx_gemm_bf16_pays(int M, int N, int K) {
  return K >= IBX_BF16_MIN_K && M >= IBX_BF16_MIN_MN && N >= IBX_BF16_MIN_MN;
}

void ibx_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
  if (current == IBX_PRECISION_BF16 && ibx_gemm_bf16_pays(M, N, K)) {
    ibx_gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
