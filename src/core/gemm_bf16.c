/* bf16 GEMM: C = alpha op(A) op(B) + beta C with the operands rounded to
 * bfloat16 and products accumulated in fp32 by AVX512-BF16's vdpbf16ps
 * (acc[i] += a[2i] b[2i] + a[2i+1] b[2i+1] for each of 16 fp32 lanes).
 *
 * Goto-style blocking: for each block of NC columns and KC depth, B is packed
 * into panels of 32 columns, each [KC/2][32] 32-bit words holding the bf16
 * pair (k, k+1) of one column; for each block of MC rows A is packed into
 * panels of 8 rows, [KC/2][8] words (the pair (k, k+1) of one row). The
 * micro-kernel keeps an 8 x 32 fp32 tile in 16 zmm registers; per k pair it
 * loads two B vectors and broadcasts 8 A words. Rounding is to nearest even
 * (vcvtneps2bf16; zero padding for odd K and ragged edges).
 *
 * Every function that uses the instructions carries a target attribute, so
 * the portable build (no -march) compiles them and runs them only after the
 * run-time check in precision.c. Packing buffers are per thread and grow on
 * demand (kept for the thread's life). */
#define _DEFAULT_SOURCE /* syscall(2), for the AMX permission request */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ibx/precision.h"
#include "isa_clones.h"

#define BF16_MR 8
#define BF16_NR 32
#define BF16_KC 384 /* depth per block (192 pairs): an A panel is 6 KiB, a B panel 24 KiB */
#define BF16_MC 96
#define BF16_NC 512

#if defined(__x86_64__) && defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 10)
#define IBX_BF16_KERNELS 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#else
#define IBX_BF16_KERNELS 0
#endif

/* Scalar round-to-nearest-even, NaN kept quiet; matches vcvtneps2bf16 on
 * normal numbers (the instruction flushes fp32 denormals to zero). */
static uint16_t to_bf16_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float ibx_round_bf16(float x) {
  uint32_t u = (uint32_t)to_bf16_bits(x) << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#if IBX_BF16_KERNELS

/* Per-thread packing buffers. */
static _Thread_local uint32_t *pack_buf;
static _Thread_local size_t pack_cap; /* words */

static uint32_t *pack_space(size_t words) {
  if (words > pack_cap) {
    free(pack_buf);
    pack_cap = words + words / 4;
    pack_buf = aligned_alloc(64, ((pack_cap * 4 + 63) / 64) * 64);
    if (!pack_buf)
      pack_cap = 0;
  }
  return pack_buf;
}

/* 16 fp32 lanes of row r0 and r1 -> 16 words (r0[j] low, r1[j] high). */
BF16_TARGET static __m512i interleave_rows(__m512 r0, __m512 r1) {
  __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(r0));
  __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(r1));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

/* 32 consecutive fp32 (n valid) -> 16 words of consecutive pairs. */
BF16_TARGET static __m512i pairs_of_row(const float *src, int n) {
  __m512 lo = _mm512_maskz_loadu_ps(ibx_lanes16(n), src);
  __m512 hi = _mm512_maskz_loadu_ps(ibx_lanes16(n - 16), src + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Pack `width` (<= W) of rows-or-columns into a panel [kp][W] of words from
 * a source where element (k, j) sits at src[k * ks + j] ("k-major": B not
 * transposed, A transposed). Columns beyond `width`, and k beyond kc, are 0. */
BF16_TARGET static void pack_kmajor(const float *src, long ks, int kc, int width, int W,
                                    uint32_t *dst) {
  const int kp_n = (kc + 1) / 2;
  for (int kp = 0; kp < kp_n; kp++) {
    const float *r0 = src + (long)(2 * kp) * ks;
    const int has1 = 2 * kp + 1 < kc;
    for (int j = 0; j < W; j += 16) {
      const __mmask16 m = ibx_lanes16(width - j);
      __m512 a = _mm512_maskz_loadu_ps(m, r0 + j);
      __m512 b = has1 ? _mm512_maskz_loadu_ps(m, r0 + ks + j) : _mm512_setzero_ps();
      __m512i w = interleave_rows(a, b);
      if (W - j >= 16)
        _mm512_storeu_si512(dst + (long)kp * W + j, w);
      else
        _mm256_storeu_si256((__m256i *)(dst + (long)kp * W + j), _mm512_castsi512_si256(w));
    }
  }
}

/* In-register transpose of a 16 x 16 matrix of 32-bit words. */
BF16_TARGET static void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 2; i++)
    for (int q = 0; q < 4; q++) {
      t[8 * i + q] = _mm512_shuffle_i32x4(r[8 * i + q], r[8 * i + 4 + q], 0x88);
      t[8 * i + 4 + q] = _mm512_shuffle_i32x4(r[8 * i + q], r[8 * i + 4 + q], 0xdd);
    }
  for (int q = 0; q < 8; q++) {
    r[q] = _mm512_shuffle_i32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_i32x4(t[q], t[8 + q], 0xdd);
  }
}

/* The same panel from a source where (k, j) sits at src[j * js + k]
 * ("j-major": B transposed, A not transposed): pairs are contiguous. Panels
 * of a multiple of 16 go 16 x 16 words at a time through a register
 * transpose; narrower ones scatter. */
BF16_TARGET static void pack_jmajor(const float *src, long js, int kc, int width, int W,
                                    uint32_t *dst) {
  const int kp_n = (kc + 1) / 2;
  const __m512i idx =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(W));
  if (W % 16 == 0) {
    for (int j0 = 0; j0 < W; j0 += 16)
      for (int k = 0; k < kc; k += 32) {
        const int n = kc - k, np = n >= 32 ? 16 : (n + 1) / 2;
        __m512i r[16];
        for (int i = 0; i < 16; i++)
          r[i] = j0 + i < width ? pairs_of_row(src + (long)(j0 + i) * js + k, n)
                                : _mm512_setzero_si512();
        transpose16(r);
        for (int i = 0; i < np; i++)
          _mm512_storeu_si512(dst + (long)(k / 2 + i) * W + j0, r[i]);
      }
    return;
  }
  for (int j = 0; j < W; j++) {
    if (j >= width) {
      for (int kp = 0; kp < kp_n; kp++)
        dst[(long)kp * W + j] = 0;
      continue;
    }
    const float *row = src + (long)j * js;
    for (int k = 0; k < kc; k += 32) {
      const int n = kc - k;
      __m512i w = pairs_of_row(row + k, n);
      const int np = n >= 32 ? 16 : (n + 1) / 2;
      _mm512_mask_i32scatter_epi32(dst + (long)(k / 2) * W + j, ibx_lanes16(np), idx, w, 4);
    }
  }
}

/* acc (8 x 32) over kp_n pairs, then C = alpha acc + beta C for the mr x nr
 * valid part (C not read when beta == 0). */
BF16_TARGET static void micro_kernel(int kp_n, const uint32_t *Ap, const uint32_t *Bp, float *C,
                                     long ldc, int mr, int nr, float alpha, float beta) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(),
         c11 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(),
         c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(),
         c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(),
         c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(),
         c71 = _mm512_setzero_ps();
  for (int kp = 0; kp < kp_n; kp++) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(Bp + (long)kp * BF16_NR);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(Bp + (long)kp * BF16_NR + 16);
    const uint32_t *a = Ap + (long)kp * BF16_MR;
#define BF16_ROW(r, x0, x1)                                                                        \
  do {                                                                                             \
    const __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[r]);                                    \
    x0 = _mm512_dpbf16_ps(x0, ar, b0);                                                             \
    x1 = _mm512_dpbf16_ps(x1, ar, b1);                                                             \
  } while (0)
    BF16_ROW(0, c00, c01);
    BF16_ROW(1, c10, c11);
    BF16_ROW(2, c20, c21);
    BF16_ROW(3, c30, c31);
    BF16_ROW(4, c40, c41);
    BF16_ROW(5, c50, c51);
    BF16_ROW(6, c60, c61);
    BF16_ROW(7, c70, c71);
#undef BF16_ROW
  }
  const __m512 acc[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                            {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  const __mmask16 m0 = ibx_lanes16(nr), m1 = ibx_lanes16(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < mr; r++) {
    float *c = C + (long)r * ldc;
    __m512 y0 = _mm512_mul_ps(va, acc[r][0]), y1 = _mm512_mul_ps(va, acc[r][1]);
    if (beta != 0.0f) {
      y0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), y0);
      y1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), y1);
    }
    _mm512_mask_storeu_ps(c, m0, y0);
    _mm512_mask_storeu_ps(c + 16, m1, y1);
  }
}

/* One thread's whole GEMM. */
BF16_TARGET static void gemm_serial(int ta, int tb, int M, int N, int K, float alpha,
                                    const float *A, long lda, const float *B, long ldb, float beta,
                                    float *C, long ldc) {
  const int kpc = BF16_KC / 2;
  const size_t b_words = (size_t)kpc * ((BF16_NC + BF16_NR - 1) / BF16_NR) * BF16_NR;
  const size_t a_words = (size_t)kpc * BF16_MC;
  uint32_t *buf = pack_space(b_words + a_words + 16);
  if (!buf)
    abort(); /* a few hundred KiB per thread: out of memory here is fatal */
  uint32_t *Bp = buf, *Ap = buf + b_words;
  for (int j0 = 0; j0 < N; j0 += BF16_NC) {
    const int nc = N - j0 < BF16_NC ? N - j0 : BF16_NC;
    for (int k0 = 0; k0 < K; k0 += BF16_KC) {
      const int kc = K - k0 < BF16_KC ? K - k0 : BF16_KC, kp_n = (kc + 1) / 2;
      const float bk = k0 == 0 ? beta : 1.0f;
      for (int jp = 0; jp < nc; jp += BF16_NR) {
        const int w = nc - jp < BF16_NR ? nc - jp : BF16_NR;
        uint32_t *dst = Bp + (size_t)(jp / BF16_NR) * kp_n * BF16_NR;
        if (tb)
          pack_jmajor(B + (long)(j0 + jp) * ldb + k0, ldb, kc, w, BF16_NR, dst);
        else
          pack_kmajor(B + (long)k0 * ldb + j0 + jp, ldb, kc, w, BF16_NR, dst);
      }
      for (int i0 = 0; i0 < M; i0 += BF16_MC) {
        const int mc = M - i0 < BF16_MC ? M - i0 : BF16_MC;
        for (int ip = 0; ip < mc; ip += BF16_MR) {
          const int h = mc - ip < BF16_MR ? mc - ip : BF16_MR;
          uint32_t *dst = Ap + (size_t)(ip / BF16_MR) * kp_n * BF16_MR;
          if (ta)
            pack_kmajor(A + (long)k0 * lda + i0 + ip, lda, kc, h, BF16_MR, dst);
          else
            pack_jmajor(A + (long)(i0 + ip) * lda + k0, lda, kc, h, BF16_MR, dst);
        }
        for (int jp = 0; jp < nc; jp += BF16_NR) {
          const int nr = nc - jp < BF16_NR ? nc - jp : BF16_NR;
          const uint32_t *bp = Bp + (size_t)(jp / BF16_NR) * kp_n * BF16_NR;
          for (int ip = 0; ip < mc; ip += BF16_MR) {
            const int mr = mc - ip < BF16_MR ? mc - ip : BF16_MR;
            micro_kernel(kp_n, Ap + (size_t)(ip / BF16_MR) * kp_n * BF16_MR, bp,
                         C + (long)(i0 + ip) * ldc + j0 + jp, ldc, mr, nr, alpha, bk);
          }
        }
      }
    }
  }
}

/* ---- AMX-BF16 ---------------------------------------------------------------
 * Where the CPU has AMX (Sapphire Rapids and later), the products run on the
 * tile unit: TDPBF16PS multiplies a 16 x 32 bf16 tile of A by a 32 x 16 tile
 * of B (VNNI pairs, the same panel layout as above) into 16 x 16 fp32, 16x
 * the work of one vdpbf16ps. Blocks of 32 x 32 of C live in tiles 0-3, A's
 * two row halves in tiles 4-5, B's two column halves in 6-7. A is packed
 * row-major in bf16 (rows of kcp, padded with zeros to a multiple of 32 in
 * both directions), B's panels get zero rows up to kcp/2. */

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512bf16,avx512f,avx512bw,avx512vl")))
#define AMX_M 32 /* rows of a C block */

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_tilecfg;

/* Rows i0 .. i0+h-1 (h <= 32 valid, padded to 32) of op(A), depth k0 ..
 * k0+kc-1, as bf16 pairs: word (r, kp) at dst[r * (kcp / 2) + kp]. */
AMX_TARGET static void amx_pack_a(int ta, const float *A, long lda, int i0, int h, int k0, int kc,
                                  int kcp, uint32_t *dst) {
  const int wpr = kcp / 2; /* words per packed row */
  if (!ta) {
    for (int r = 0; r < AMX_M; r++) {
      uint32_t *row = dst + (long)r * wpr;
      if (r >= h) {
        memset(row, 0, (size_t)wpr * sizeof(uint32_t));
        continue;
      }
      const float *src = A + (long)(i0 + r) * lda + k0;
      for (int k = 0; k < kcp; k += 32)
        _mm512_storeu_si512(row + k / 2, pairs_of_row(src + k, kc - k));
    }
    return;
  }
  /* A stored k-major: rows k and k+1 interleave into 16 words of 16 rows. */
  const __m512i idx =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(wpr));
  for (int kp = 0; kp < wpr; kp++) {
    const int k = 2 * kp;
    for (int r = 0; r < AMX_M; r += 16) {
      const __mmask16 m = ibx_lanes16(h - r);
      __m512 a = k < kc ? _mm512_maskz_loadu_ps(m, A + (long)(k0 + k) * lda + i0 + r)
                        : _mm512_setzero_ps();
      __m512 b = k + 1 < kc ? _mm512_maskz_loadu_ps(m, A + (long)(k0 + k + 1) * lda + i0 + r)
                            : _mm512_setzero_ps();
      _mm512_i32scatter_epi32(dst + (long)r * wpr + kp, idx, interleave_rows(a, b), 4);
    }
  }
}

/* C (mr x nr of a 32 x 32 block) = alpha T + beta C, T the tiles' result. */
AMX_TARGET static void amx_store(const float *T, float *C, long ldc, int mr, int nr, float alpha,
                                 float beta) {
  const __mmask16 m0 = ibx_lanes16(nr), m1 = ibx_lanes16(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < mr; r++) {
    float *c = C + (long)r * ldc;
    __m512 y0 = _mm512_mul_ps(va, _mm512_load_ps(T + r * 32));
    __m512 y1 = _mm512_mul_ps(va, _mm512_load_ps(T + r * 32 + 16));
    if (beta != 0.0f) {
      y0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), y0);
      y1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), y1);
    }
    _mm512_mask_storeu_ps(c, m0, y0);
    _mm512_mask_storeu_ps(c + 16, m1, y1);
  }
}

AMX_TARGET static void gemm_serial_amx(int ta, int tb, int M, int N, int K, float alpha,
                                       const float *A, long lda, const float *B, long ldb,
                                       float beta, float *C, long ldc) {
  const int kpc = BF16_KC / 2;
  const size_t b_words = (size_t)kpc * ((BF16_NC + BF16_NR - 1) / BF16_NR) * BF16_NR;
  const size_t a_words = (size_t)kpc * AMX_M;
  uint32_t *buf = pack_space(b_words + a_words + 32 * 32 + 32);
  if (!buf)
    abort(); /* a few hundred KiB per thread: out of memory here is fatal */
  uint32_t *Bp = buf, *Ap = buf + b_words;
  float *T = (float *)(Ap + a_words); /* 32 x 32 fp32, 64-byte aligned */
  amx_tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++)
    cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
  for (int j0 = 0; j0 < N; j0 += BF16_NC) {
    const int nc = N - j0 < BF16_NC ? N - j0 : BF16_NC;
    for (int k0 = 0; k0 < K; k0 += BF16_KC) {
      const int kc = K - k0 < BF16_KC ? K - k0 : BF16_KC, kcp = (kc + 31) & ~31;
      const int kp_n = (kc + 1) / 2, kpp = kcp / 2;
      const float bk = k0 == 0 ? beta : 1.0f;
      for (int jp = 0; jp < nc; jp += BF16_NR) {
        const int w = nc - jp < BF16_NR ? nc - jp : BF16_NR;
        uint32_t *dst = Bp + (size_t)(jp / BF16_NR) * kpp * BF16_NR;
        if (tb)
          pack_jmajor(B + (long)(j0 + jp) * ldb + k0, ldb, kc, w, BF16_NR, dst);
        else
          pack_kmajor(B + (long)k0 * ldb + j0 + jp, ldb, kc, w, BF16_NR, dst);
        memset(dst + (size_t)kp_n * BF16_NR, 0, (size_t)(kpp - kp_n) * BF16_NR * sizeof(uint32_t));
      }
      for (int i0 = 0; i0 < M; i0 += AMX_M) {
        const int mr = M - i0 < AMX_M ? M - i0 : AMX_M;
        amx_pack_a(ta, A, lda, i0, mr, k0, kc, kcp, Ap);
        __asm__ volatile("" ::: "memory"); /* the tile loads below read the packed data */
        const long astride = (long)kpp * 4;
        for (int jp = 0; jp < nc; jp += BF16_NR) {
          const int nr = nc - jp < BF16_NR ? nc - jp : BF16_NR;
          const uint32_t *bp = Bp + (size_t)(jp / BF16_NR) * kpp * BF16_NR;
          /* a whole block with alpha 1 and beta 0 or 1 accumulates on C in
           * the tiles themselves; edges and other alpha/beta go through T */
          const int direct = mr == AMX_M && nr == BF16_NR && alpha == 1.0f &&
                             (bk == 0.0f || bk == 1.0f);
          float *cb = C + (long)i0 * ldc + j0 + jp;
          if (direct && bk == 1.0f) {
            _tile_loadd(0, cb, ldc * 4);
            _tile_loadd(1, cb + 16, ldc * 4);
            _tile_loadd(2, cb + 16 * ldc, ldc * 4);
            _tile_loadd(3, cb + 16 * ldc + 16, ldc * 4);
          } else {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
          }
          for (int kk = 0; kk < kpp; kk += 16) {
            _tile_loadd(4, Ap + kk, astride);
            _tile_loadd(5, Ap + 16L * kpp + kk, astride);
            _tile_loadd(6, bp + (long)kk * BF16_NR, BF16_NR * 4);
            _tile_loadd(7, bp + (long)kk * BF16_NR + 16, BF16_NR * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
          if (direct) {
            _tile_stored(0, cb, ldc * 4);
            _tile_stored(1, cb + 16, ldc * 4);
            _tile_stored(2, cb + 16 * ldc, ldc * 4);
            _tile_stored(3, cb + 16 * ldc + 16, ldc * 4);
          } else {
            _tile_stored(0, T, 128);
            _tile_stored(1, T + 16, 128);
            _tile_stored(2, T + 16 * 32, 128);
            _tile_stored(3, T + 16 * 32 + 16, 128);
            amx_store(T, cb, ldc, mr, nr, alpha, bk);
          }
        }
      }
    }
  }
  _tile_release();
}

/* AMX use: detected once (CPUID and the kernel's permission for the tile
 * data state, which is per process); ibx_bf16_set_amx can turn it off. */
static int amx_state = -1; /* -1 unknown, 0 no, 1 yes */
static int amx_allowed = 1;

static int amx_detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return 0;
  if (!(d & (1u << 22)) || !(d & (1u << 24))) /* AMX-BF16, AMX-TILE */
    return 0;
  /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18) */
  return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

int ibx_bf16_has_amx(void) {
  int s = __atomic_load_n(&amx_state, __ATOMIC_ACQUIRE);
  if (s < 0) {
    const char *off = getenv("IBX_CPU_NO_AMX");
    s = (off && *off && strcmp(off, "0") != 0) ? 0 : amx_detect();
    __atomic_store_n(&amx_state, s, __ATOMIC_RELEASE);
  }
  return s;
}

int ibx_bf16_set_amx(int on) {
  const int before = amx_allowed;
  amx_allowed = on;
  return before;
}

static int use_amx(void) { return amx_allowed && ibx_bf16_has_amx(); }

static void gemm_one(int ta, int tb, int M, int N, int K, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc, int amx) {
  if (amx)
    gemm_serial_amx(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* C = beta C when there is nothing to multiply (K == 0). */
static void scale_c(int M, int N, float beta, float *C, long ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      C[(long)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(long)i * ldc + j];
}

void ibx_gemm_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if ((double)M * N * K < 4e6)
    threads = 1;
  const int amx = use_amx();
  if (threads <= 1) {
    gemm_one(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, amx);
    return;
  }
  /* Split the wider dimension into whole register tiles. */
  const int by_cols = N >= M;
  const int unit = by_cols ? BF16_NR : amx ? AMX_M : BF16_MR, extent = by_cols ? N : M;
  const int tiles = (extent + unit - 1) / unit;
  if (threads > tiles)
    threads = tiles;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int lo = (int)((long)tiles * t / nt) * unit;
    int hi = (int)((long)tiles * (t + 1) / nt) * unit;
    if (hi > extent)
      hi = extent;
    if (hi > lo) {
      if (by_cols)
        gemm_one(trans_a, trans_b, M, hi - lo, K, alpha, A, lda,
                 trans_b ? B + (long)lo * ldb : B + lo, ldb, beta, C + lo, ldc, amx);
      else
        gemm_one(trans_a, trans_b, hi - lo, N, K, alpha, trans_a ? A + lo : A + (long)lo * lda, lda,
                 B, ldb, beta, C + (long)lo * ldc, ldc, amx);
    }
  }
}

int ibx_bf16_kernels_built(void) { return 1; }

#else /* no AVX512-BF16 code in this build */

void ibx_gemm_bf16(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
  (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
  abort(); /* unreachable: ibx_cpu_has_bf16() is 0 in such a build */
}

int ibx_bf16_kernels_built(void) { return 0; }
int ibx_bf16_has_amx(void) { return 0; }
int ibx_bf16_set_amx(int on) {
  (void)on;
  return 0;
}

#endif
