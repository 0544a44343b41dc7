/* Arithmetic precision of the convolution and linear GEMMs, and the GEMM that
 * every layer calls.
 *
 * fp32 (the default): OpenBLAS sgemm.
 * bf16: the operands are rounded to bfloat16 (round to nearest even) and
 * multiplied with AVX512-BF16 dot products (vdpbf16ps) accumulating in fp32,
 * as PyTorch's bf16 autocast does on CPU. Only the GEMM inputs are bf16:
 * weights, optimiser state, batch-norm statistics, losses, KL terms and all
 * reductions stay fp32, and checkpoints do not depend on the precision.
 *
 * The setting is process-wide (the trainer sets it from train.precision
 * before building the model). bf16 needs a CPU with avx512_bf16 (Intel
 * Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later); asking for
 * it elsewhere is an IBX_ERR_ARG with a one-line message, never a crash. The
 * environment variable IBX_CPU_NO_BF16=1 makes the detection report "missing"
 * (to test that path on a CPU that has it). */
#ifndef IBX_PRECISION_H
#define IBX_PRECISION_H

typedef enum { IBX_PRECISION_FP32 = 0, IBX_PRECISION_BF16 = 1 } ibx_precision;

/* 1 when this CPU and OS run AVX512-BF16 (and IBX_CPU_NO_BF16 is unset). */
int ibx_cpu_has_bf16(void);

/* "fp32" | "bf16" -> *p; IBX_ERR_ARG otherwise. */
int ibx_precision_parse(const char *name, ibx_precision *p);
const char *ibx_precision_name(ibx_precision p);

/* Sets the process-wide GEMM precision; IBX_ERR_ARG (nothing changed) when
 * bf16 is asked for and the CPU lacks it. */
int ibx_precision_set(ibx_precision p);
ibx_precision ibx_precision_get(void);

/* Whether a product is worth the bf16 kernel: at least one 32-deep AMX step
 * (K) and one 16-row tile each way (M, N). Smaller products (the first
 * layers' Winograd GEMMs over 1 or 16 channels, a 1-column weight gradient)
 * pay the rounding, packing and tile padding for little arithmetic and ran
 * slower than OpenBLAS sgemm (quarter-width VGG, bf16: the first layer's
 * convolution 11.0 -> 4.4 ms per step with sgemm), so in bf16 they stay
 * fp32, which is also exact-er. */
#define IBX_BF16_MIN_K 32
#define IBX_BF16_MIN_MN 16
int ibx_gemm_bf16_pays(int M, int N, int K);

/* Row-major C (M x N) = alpha op(A) op(B) + beta C, op(A) M x K, op(B) K x N,
 * op(X) = X^T when trans_x. In the current precision (bf16: where
 * ibx_gemm_bf16_pays, else fp32). Called outside a
 * parallel region it uses the OpenMP threads; inside one, the calling thread
 * alone. With beta == 0, C is not read. */
void ibx_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* The bf16 GEMM itself, whatever the current precision (tests compare it with
 * fp32). Must only be called when ibx_cpu_has_bf16(). */
void ibx_gemm_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* 1 when this build contains the AVX512-BF16 kernels (x86-64, GCC >= 10 or
 * clang); ibx_cpu_has_bf16() is 0 otherwise. */
int ibx_bf16_kernels_built(void);

/* The bf16 GEMM runs on AMX tiles (TDPBF16PS) where the CPU has amx_bf16 and
 * the kernel grants the tile state, otherwise on AVX512-BF16 (vdpbf16ps).
 * ibx_bf16_has_amx: 1 when AMX is used (IBX_CPU_NO_AMX=1 says 0).
 * ibx_bf16_set_amx(0) forces the AVX512-BF16 kernel, (1) allows AMX again;
 * returns the previous setting (tests and benchmarks compare the two). */
int ibx_bf16_has_amx(void);
int ibx_bf16_set_amx(int on);

/* x rounded to the nearest bfloat16 (ties to even), as a float. */
float ibx_round_bf16(float x);

#endif
