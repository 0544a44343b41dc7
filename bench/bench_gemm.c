/* GEMM throughput, one thread: OpenBLAS sgemm (fp32) against ibx's
 * bf16 kernels, AVX512-BF16 and AMX (ibx/precision.h), on the shapes VGG
 * training runs (Winograd's 16 transform-domain products per chunk, forward,
 * backward-data and backward-weights). Timed in thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so that other processes on a loaded machine do not
 * count; memory and cache interference from them still does. bf16 times include
 * rounding and packing the fp32 operands (as in training).
 *
 * usage: bench_gemm [REPS]   (OMP_NUM_THREADS=1) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ibx/precision.h"
#include "ibx/rng.h"

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 20;
  /* name, ta, tb, M, N, K */
  static const struct {
    const char *name;
    int ta, tb, M, N, K;
  } shapes[] = {
      {"wino fwd q 32x32 T1024", 0, 0, 32, 1024, 32},
      {"wino fwd q 64x64 T512", 0, 0, 64, 512, 64},
      {"wino fwd q 128x128 T128", 0, 0, 128, 128, 128},
      {"wino dU q 64x64 T512", 0, 1, 64, 64, 512},
      {"wino dx q 64x64 T512", 1, 0, 64, 512, 64},
      {"wino fwd f 128x128 T1024", 0, 0, 128, 1024, 128},
      {"wino fwd f 256x256 T512", 0, 0, 256, 512, 256},
      {"wino fwd f 512x512 T256", 0, 0, 512, 256, 512},
      {"wino dU f 256x256 T512", 0, 1, 256, 256, 512},
      {"wino dx f 256x256 T512", 1, 0, 256, 512, 256},
  };
  if (!ibx_cpu_has_bf16()) {
    fprintf(stderr, "bench_gemm: no avx512_bf16 on this CPU\n");
    return 1;
  }
  printf("%-26s %10s %12s %12s %7s %7s\n", "shape (M x N x K)", "sgemm GF/s", "avx512bf16",
         ibx_bf16_has_amx() ? "amx GF/s" : "(no amx)", "ratio", "ratio");
  const int kernels = ibx_bf16_has_amx() ? 3 : 2;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K, ta = shapes[s].ta,
              tb = shapes[s].tb;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * N * sizeof(float));
    float *C = malloc((size_t)M * N * sizeof(float));
    ibx_rng_fill_normal(A, (size_t)M * K, 0, 1, 1);
    ibx_rng_fill_normal(B, (size_t)K * N, 0, 1, 2);
    const int lda = ta ? M : K, ldb = tb ? K : N;
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < reps; r++)
      for (int p = 0; p < kernels; p++) {
        ibx_bf16_set_amx(p == 2);
        const double t0 = cpu_now();
        for (int i = 0; i < 16; i++)
          if (p)
            ibx_gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
          else
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        const double t = cpu_now() - t0;
        if (t < best[p])
          best[p] = t;
      }
    const double flop = 16.0 * 2.0 * M * N * K;
    printf("%-26s %10.1f %12.1f %12.1f %7.2f %7.2f\n", shapes[s].name, flop / best[0] / 1e9,
           flop / best[1] / 1e9, flop / best[2] / 1e9, best[0] / best[1], best[0] / best[2]);
    free(A), free(B), free(C);
  }
  return 0;
}
