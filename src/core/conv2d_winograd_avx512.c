/* AVX-512 kernels of the Winograd F(2x2,3x3) transforms (conv2d_winograd.c
 * has the math and the portable versions these replace at run time).
 *
 * Why: the filter transforms read or write 9 floats per (o, c) pair
 * (stride 9), which the compiler left scalar: here they gather and scatter
 * (full-width VGG-16 in bf16, one thread: 123 -> 153 img/s; the two filter
 * transforms had been 17 % of the step). The portable tile transforms
 * vectorise over the TW = W/2 tiles of one tile row, so every layer below
 * 32 x 32 (TW < 16) ran in their scalar remainder loop; the dy and output
 * transforms here use masked loads and stores for any TW and de-interleave
 * or interleave the stride-2 columns with vpermt2ps. (An input transform
 * written the same way was slower than the portable one at quarter width,
 * where the calls are short and memory-bound, and was dropped.) For small
 * planes (tile rows of at most 4 tiles) the group kernels take 16 tiles
 * across tile rows and images at once instead (conv2d_winograd.c, "small
 * planes"): quarter-width VGG step 1.25-1.3x faster.
 *
 * Every function computes the same expressions in the same order as its
 * portable twin (the only multiplications are by 0.5, which are exact, so
 * whether the compiler contracts them into FMAs changes nothing), so both
 * give the same results; tests/test_conv_winograd.c runs its comparisons
 * with both (IBX_CPU_NO_AVX512=1 selects the portable ones). */
#include "conv_internal.h"
#include "isa_clones.h"

#if IBX_AVX512_KERNELS

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* Columns c, c+2, ..., c+30 of a row (even) and c+1, ..., c+31 (odd), read
 * with masks so that nothing at or beyond `len` floats from row is touched. */
AVX512 static inline void deinterleave(const float *row, long c, long len, __m512 *even,
                                       __m512 *odd) {
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512 lo = _mm512_maskz_loadu_ps(ibx_lanes16(len - c), row + c);
  const __m512 hi = _mm512_maskz_loadu_ps(ibx_lanes16(len - c - 16), row + c + 16);
  *even = _mm512_permutex2var_ps(lo, ie, hi);
  *odd = _mm512_permutex2var_ps(lo, io, hi);
}

AVX512 static inline __m512 neg(__m512 v) {
  return _mm512_castsi512_ps(
      _mm512_xor_epi32(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)));
}

/* ---- tile transforms ------------------------------------------------------ */

AVX512 void ibx_wino_dy_tiles_avx512(const float *P, int Wp, int TW, float *dst, size_t xs) {
  /* P is column 1 of a padded row: Wp - 1 floats of the row remain */
  for (int k0 = 0; k0 < TW; k0 += 16) {
    const __mmask16 m = ibx_lanes16(TW - k0);
    const long c = 2L * k0;
    __m512 a0, b0, a1, b1;
    deinterleave(P, c, Wp - 1, &a0, &b0);
    deinterleave(P + Wp, c, Wp - 1, &a1, &b1);
    const __m512 sa = _mm512_add_ps(a0, a1), sb = _mm512_add_ps(b0, b1);
    const __m512 da = _mm512_sub_ps(a0, a1), db = _mm512_sub_ps(b0, b1);
    const __m512 v[16] = {a0,
                          _mm512_add_ps(a0, b0),
                          _mm512_sub_ps(a0, b0),
                          neg(b0),
                          sa,
                          _mm512_add_ps(sa, sb),
                          _mm512_sub_ps(sa, sb),
                          neg(sb),
                          da,
                          _mm512_add_ps(da, db),
                          _mm512_sub_ps(da, db),
                          neg(db),
                          neg(a1),
                          _mm512_sub_ps(neg(a1), b1),
                          _mm512_sub_ps(b1, a1),
                          b1};
    for (int xi = 0; xi < 16; xi++)
      _mm512_mask_storeu_ps(dst + (size_t)xi * xs + k0, m, v[xi]);
  }
}

/* One output row pair of 16 tiles, y0 = s0 + s1 + s2 + bias and
 * y1 = s1 - s2 - s3 + bias (the rows of A^T M A), interleaved into the
 * columns y0[0] y1[0] y0[1] y1[1] ... of `row`, masked to its valid columns. */
AVX512 static inline void store_output_row(float *row, __m512 s0, __m512 s1, __m512 s2, __m512 s3,
                                           __m512 bias, __mmask16 mlo, __mmask16 mhi) {
  const __m512i il = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i ih = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512 y0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), s2), bias);
  const __m512 y1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1, s2), s3), bias);
  _mm512_mask_storeu_ps(row, mlo, _mm512_permutex2var_ps(y0, il, y1));
  _mm512_mask_storeu_ps(row + 16, mhi, _mm512_permutex2var_ps(y0, ih, y1));
}

AVX512 void ibx_wino_output_tiles_avx512(const float *src, size_t xs, int TW, float *plane, int H,
                                         int W, int ty, float bias) {
  const __m512 bv = _mm512_set1_ps(bias);
  float *row0 = plane + (size_t)(2 * ty) * W, *row1 = row0 + W;
  const int two_rows = 2 * ty + 1 < H;
  for (int k0 = 0; k0 < TW; k0 += 16) {
    const __mmask16 m = ibx_lanes16(TW - k0);
    __m512 v[16];
    for (int xi = 0; xi < 16; xi++)
      v[xi] = _mm512_maskz_loadu_ps(m, src + (size_t)xi * xs + k0);
    /* columns 2k0 .. 2k0+31 of the output rows that lie inside the plane */
    const long cols = (long)W - 2L * k0 < 2L * (TW - k0) ? (long)W - 2L * k0 : 2L * (TW - k0);
    const __mmask16 mlo = ibx_lanes16(cols), mhi = ibx_lanes16(cols - 16);
    /* (A^T M) row 0: M rows 0 + 1 + 2; row 1: M rows 1 - 2 - 3 */
    store_output_row(row0 + 2 * k0, _mm512_add_ps(_mm512_add_ps(v[0], v[4]), v[8]),
                     _mm512_add_ps(_mm512_add_ps(v[1], v[5]), v[9]),
                     _mm512_add_ps(_mm512_add_ps(v[2], v[6]), v[10]),
                     _mm512_add_ps(_mm512_add_ps(v[3], v[7]), v[11]), bv, mlo, mhi);
    if (two_rows)
      store_output_row(row1 + 2 * k0, _mm512_sub_ps(_mm512_sub_ps(v[4], v[8]), v[12]),
                       _mm512_sub_ps(_mm512_sub_ps(v[5], v[9]), v[13]),
                       _mm512_sub_ps(_mm512_sub_ps(v[6], v[10]), v[14]),
                       _mm512_sub_ps(_mm512_sub_ps(v[7], v[11]), v[15]), bv, mlo, mhi);
  }
}

/* ---- small planes: 16 tiles of a chunk at a time --------------------------- */

/* Plane offsets of lane l's tile corner, shifted by `shift` floats. */
AVX512 static inline __m512i tile_index(const ibx_wino_lanes *L, long img_stride, long shift) {
  const __m512i img = _mm512_loadu_si512((const void *)L->img);
  const __m512i off = _mm512_loadu_si512((const void *)L->off);
  return _mm512_add_epi32(_mm512_mullo_epi32(img, _mm512_set1_epi32((int)img_stride)),
                          _mm512_add_epi32(off, _mm512_set1_epi32((int)shift)));
}

AVX512 void ibx_wino_input_group_avx512(const float *plane0, long img_stride, int W,
                                        const ibx_wino_lanes *L, float *dst, size_t xs) {
  /* d[i][j] = input row 2r - 1 + i, column 2k - 1 + j (zero outside) */
  const __m512i base = tile_index(L, img_stride, -(long)W - 1);
  __m512 d[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      d[i][j] = _mm512_mask_i32gather_ps(
          _mm512_setzero_ps(), (__mmask16)(L->row[i] & L->col[j]),
          _mm512_add_epi32(base, _mm512_set1_epi32(i * W + j)), plane0, 4);
  /* as input_tiles: t = B^T d by columns, then t B by rows */
  __m512 t[4][4];
  for (int j = 0; j < 4; j++) {
    t[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
    t[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
    t[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
    t[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
  }
  const __mmask16 m = (__mmask16)L->live;
  for (int i = 0; i < 4; i++) {
    float *o = dst + (size_t)(4 * i) * xs;
    _mm512_mask_storeu_ps(o, m, _mm512_sub_ps(t[i][0], t[i][2]));
    _mm512_mask_storeu_ps(o + xs, m, _mm512_add_ps(t[i][1], t[i][2]));
    _mm512_mask_storeu_ps(o + 2 * xs, m, _mm512_sub_ps(t[i][2], t[i][1]));
    _mm512_mask_storeu_ps(o + 3 * xs, m, _mm512_sub_ps(t[i][1], t[i][3]));
  }
}

AVX512 void ibx_wino_dy_group_avx512(const float *plane0, long img_stride, int W,
                                     const ibx_wino_lanes *L, float *dst, size_t xs) {
  /* the 2x2 dy tile: rows 2r, 2r + 1 (input rows i = 1, 2), columns 2k, 2k + 1 */
  const __m512i base = tile_index(L, img_stride, 0), one = _mm512_set1_epi32(1);
  const __m512i below = _mm512_add_epi32(base, _mm512_set1_epi32(W));
  const __m512 z = _mm512_setzero_ps();
  const __mmask16 m = (__mmask16)L->live, right = (__mmask16)(L->col[2] & L->live);
  const __mmask16 down = (__mmask16)(L->row[2] & L->live);
  const __m512 a0 = _mm512_mask_i32gather_ps(z, m, base, plane0, 4);
  const __m512 b0 = _mm512_mask_i32gather_ps(z, right, _mm512_add_epi32(base, one), plane0, 4);
  const __m512 a1 = _mm512_mask_i32gather_ps(z, down, below, plane0, 4);
  const __m512 b1 =
      _mm512_mask_i32gather_ps(z, (__mmask16)(down & right), _mm512_add_epi32(below, one), plane0, 4);
  const __m512 sa = _mm512_add_ps(a0, a1), sb = _mm512_add_ps(b0, b1);
  const __m512 da = _mm512_sub_ps(a0, a1), db = _mm512_sub_ps(b0, b1);
  const __m512 v[16] = {a0, _mm512_add_ps(a0, b0), _mm512_sub_ps(a0, b0), neg(b0),
                        sa, _mm512_add_ps(sa, sb), _mm512_sub_ps(sa, sb), neg(sb),
                        da, _mm512_add_ps(da, db), _mm512_sub_ps(da, db), neg(db),
                        neg(a1), _mm512_sub_ps(neg(a1), b1), _mm512_sub_ps(b1, a1), b1};
  for (int xi = 0; xi < 16; xi++)
    _mm512_mask_storeu_ps(dst + (size_t)xi * xs, m, v[xi]);
}

AVX512 void ibx_wino_output_group_avx512(const float *src, size_t xs, const ibx_wino_lanes *L,
                                         float *plane0, long img_stride, int W, float bias) {
  const __mmask16 m = (__mmask16)L->live, right = (__mmask16)(L->col[2] & L->live);
  const __mmask16 down = (__mmask16)(L->row[2] & L->live);
  __m512 v[16];
  for (int xi = 0; xi < 16; xi++)
    v[xi] = _mm512_maskz_loadu_ps(m, src + (size_t)xi * xs);
  const __m512 bv = _mm512_set1_ps(bias);
  /* as ibx_wino_output_tiles_avx512: (A^T M) rows, then the two columns */
  const __m512 s0 = _mm512_add_ps(_mm512_add_ps(v[0], v[4]), v[8]);
  const __m512 s1 = _mm512_add_ps(_mm512_add_ps(v[1], v[5]), v[9]);
  const __m512 s2 = _mm512_add_ps(_mm512_add_ps(v[2], v[6]), v[10]);
  const __m512 s3 = _mm512_add_ps(_mm512_add_ps(v[3], v[7]), v[11]);
  const __m512 e0 = _mm512_sub_ps(_mm512_sub_ps(v[4], v[8]), v[12]);
  const __m512 e1 = _mm512_sub_ps(_mm512_sub_ps(v[5], v[9]), v[13]);
  const __m512 e2 = _mm512_sub_ps(_mm512_sub_ps(v[6], v[10]), v[14]);
  const __m512 e3 = _mm512_sub_ps(_mm512_sub_ps(v[7], v[11]), v[15]);
  const __m512i base = tile_index(L, img_stride, 0), one = _mm512_set1_epi32(1);
  const __m512i below = _mm512_add_epi32(base, _mm512_set1_epi32(W));
  _mm512_mask_i32scatter_ps(plane0, m, base,
                            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), s2), bv), 4);
  _mm512_mask_i32scatter_ps(plane0, right, _mm512_add_epi32(base, one),
                            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1, s2), s3), bv), 4);
  _mm512_mask_i32scatter_ps(plane0, down, below,
                            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(e0, e1), e2), bv), 4);
  _mm512_mask_i32scatter_ps(plane0, (__mmask16)(down & right), _mm512_add_epi32(below, one),
                            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(e1, e2), e3), bv), 4);
}

/* ---- filter transforms ------------------------------------------------------
 * Over the flat pair index p = o * C + c, which indexes both w (9 floats per
 * pair) and every U plane. */

AVX512 void ibx_wino_filter_avx512(const float *w, long p0, long p1, float *U, size_t xs) {
  const __m512i idx = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(9));
  const __m512 half = _mm512_set1_ps(0.5f);
  for (long p = p0; p < p1; p += 16) {
    const __mmask16 m = ibx_lanes16(p1 - p);
    const float *g0 = w + (size_t)p * 9;
    __m512 g[9];
    for (int j = 0; j < 9; j++)
      g[j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g0 + j, 4);
    __m512 t[4][3];
    for (int j = 0; j < 3; j++) {
      t[0][j] = g[j];
      t[1][j] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(g[j], g[3 + j]), g[6 + j]));
      t[2][j] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(g[j], g[3 + j]), g[6 + j]));
      t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
      float *u = U + (size_t)(4 * i) * xs + p;
      _mm512_mask_storeu_ps(u, m, t[i][0]);
      _mm512_mask_storeu_ps(
          u + xs, m,
          _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(t[i][0], t[i][1]), t[i][2])));
      _mm512_mask_storeu_ps(
          u + 2 * xs, m,
          _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(t[i][0], t[i][1]), t[i][2])));
      _mm512_mask_storeu_ps(u + 3 * xs, m, t[i][2]);
    }
  }
}

AVX512 void ibx_wino_filter_grad_avx512(const float *dU, size_t xs, long p0, long p1, float *dw) {
  const __m512i idx = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(9));
  const __m512 half = _mm512_set1_ps(0.5f);
  for (long p = p0; p < p1; p += 16) {
    const __mmask16 m = ibx_lanes16(p1 - p);
    const float *d = dU + p;
    __m512 t[3][4];
    for (int j = 0; j < 4; j++) {
      const __m512 x0 = _mm512_maskz_loadu_ps(m, d + (size_t)j * xs);
      const __m512 x1 = _mm512_maskz_loadu_ps(m, d + (size_t)(4 + j) * xs);
      const __m512 x2 = _mm512_maskz_loadu_ps(m, d + (size_t)(8 + j) * xs);
      const __m512 x3 = _mm512_maskz_loadu_ps(m, d + (size_t)(12 + j) * xs);
      const __m512 h = _mm512_mul_ps(half, _mm512_add_ps(x1, x2));
      t[0][j] = _mm512_add_ps(x0, h);
      t[1][j] = _mm512_mul_ps(half, _mm512_sub_ps(x1, x2));
      t[2][j] = _mm512_add_ps(h, x3);
    }
    float *g0 = dw + (size_t)p * 9;
    for (int i = 0; i < 3; i++) {
      const __m512 h = _mm512_mul_ps(half, _mm512_add_ps(t[i][1], t[i][2]));
      const __m512 v[3] = {_mm512_add_ps(t[i][0], h),
                           _mm512_mul_ps(half, _mm512_sub_ps(t[i][1], t[i][2])),
                           _mm512_add_ps(h, t[i][3])};
      for (int j = 0; j < 3; j++) {
        float *g = g0 + 3 * i + j;
        const __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g, 4);
        _mm512_mask_i32scatter_ps(g, m, idx, _mm512_add_ps(old, v[j]), 4);
      }
    }
  }
}

#endif
