/* AVX-512 2x2 max pooling of small planes (pool.c has the rules these follow).
 *
 * Why: the portable loops vectorise across the OW windows of one output row,
 * so planes narrower than 32 columns (OW < 16: every VGG pool after the first
 * at 32 x 32 input) ran short or scalar, one call per plane. With H = 2 OH
 * and W = 2 OW, output q of the whole N*C tensor (q = row pair * OW + ox)
 * reads the four floats of its window inside x[4q0 .. 4q0 + 63] for the 16
 * outputs q0 .. q0 + 15 of a block (q0 a multiple of 16 and OW dividing 16),
 * so a block is 4 contiguous loads, and a, b, c, e (top left, top right,
 * bottom left, bottom right) of the 16 windows come out of two vpermt2ps and
 * a blend each; the backward writes dx with the inverse permutation. Same
 * comparisons in the same order as the portable kernels, only selects: the
 * same results (tests/test_layers_pool.c runs both). */
#include <stdint.h>

#include "pool_internal.h"

#if IBX_AVX512_KERNELS

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* Position of window j's top-left float in its block of 64 (j = 0 .. 15). */
static int window_pos(int j, int OW) { return 2 * (j + (j & ~(OW - 1))); }

typedef struct {
  __m512i gather;      /* lanes j: window_pos(j mod 8) mod 32, for vpermt2ps */
  __m512i top[4], bot[4]; /* dx zmm m: source lane in (da, db) or (dc, de) */
  __mmask16 is_top[4];    /* dx zmm m: lanes fed by a or b */
  int down;               /* offset of c from a: one row, 2 OW floats */
} pool_perm;

AVX512 static pool_perm make_perm(int OW) {
  int32_t g[16], top[4][16], bot[4][16];
  pool_perm p;
  p.down = 2 * OW;
  for (int j = 0; j < 16; j++)
    g[j] = window_pos(j % 8, OW);
  for (int m = 0; m < 4; m++)
    p.is_top[m] = 0;
  /* inverse: every float of the block comes from exactly one (vector, lane) */
  for (int j = 0; j < 16; j++)
    for (int v = 0; v < 4; v++) {
      const int P = window_pos(j, OW) + (v & 1) + (v >> 1) * p.down, m = P / 16, l = P % 16;
      const int32_t src = j + 16 * (v & 1); /* b, e: the second vpermt2ps source */
      if (v < 2) {
        top[m][l] = src, bot[m][l] = 0;
        p.is_top[m] |= (__mmask16)(1u << l);
      } else {
        bot[m][l] = src, top[m][l] = 0;
      }
    }
  p.gather = _mm512_loadu_si512((const void *)g);
  for (int m = 0; m < 4; m++) {
    p.top[m] = _mm512_loadu_si512((const void *)top[m]);
    p.bot[m] = _mm512_loadu_si512((const void *)bot[m]);
  }
  return p;
}

/* Wide planes (OW a multiple of 16): 16 windows lie in one output row; the
 * top row's 32 floats at x, the bottom row's at x + 2 OW; even columns are a
 * and c, odd ones b and e. (Q is then a multiple of 16: no short block.) */
AVX512 static inline void load_wide(const float *x, int OW, __m512 *a, __m512 *b, __m512 *c,
                                    __m512 *e) {
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_add_epi32(ie, _mm512_set1_epi32(1));
  const __m512 t0 = _mm512_loadu_ps(x), t1 = _mm512_loadu_ps(x + 16);
  const __m512 b0 = _mm512_loadu_ps(x + 2 * OW), b1 = _mm512_loadu_ps(x + 2 * OW + 16);
  *a = _mm512_permutex2var_ps(t0, ie, t1), *b = _mm512_permutex2var_ps(t0, io, t1);
  *c = _mm512_permutex2var_ps(b0, ie, b1), *e = _mm512_permutex2var_ps(b0, io, b1);
}

/* x offset of the 16 windows from output q (OW a multiple of 16): row pair
 * q / OW starts at 4 OW (q / OW), column q % OW at 2 (q % OW). */
static long wide_offset(long q, int OW) { return 4L * OW * (q / OW) + 2L * (q % OW); }

/* The block's 64 floats (zero beyond `valid`) and its windows' four corners. */
AVX512 static inline void load_windows(const pool_perm *p, const float *x, long valid, __m512 *a,
                                       __m512 *b, __m512 *c, __m512 *e) {
  __m512 X[4];
  for (int m = 0; m < 4; m++)
    X[m] = _mm512_maskz_loadu_ps(ibx_lanes16(valid - 16L * m), x + 16 * m);
  const __m512i ia = p->gather, one = _mm512_set1_epi32(1);
  const __m512i ic = _mm512_add_epi32(ia, _mm512_set1_epi32(p->down));
  const __m512i ib = _mm512_add_epi32(ia, one), ie = _mm512_add_epi32(ic, one);
#define IBX_CORNER(idx) \
  _mm512_mask_blend_ps(0xff00, _mm512_permutex2var_ps(X[0], idx, X[1]), \
                       _mm512_permutex2var_ps(X[2], idx, X[3]))
  *a = IBX_CORNER(ia), *b = IBX_CORNER(ib), *c = IBX_CORNER(ic), *e = IBX_CORNER(ie);
#undef IBX_CORNER
}

AVX512 int ibx_max2x2_flat_avx512(const float *x, int OW, long q0, long q1, float *y) {
  const int wide = OW % 16 == 0;
  const pool_perm p = make_perm(wide ? 1 : OW);
  __mmask16 nan = 0;
  for (long q = q0; q < q1; q += 16) {
    __m512 a, b, c, e;
    if (wide)
      load_wide(x + wide_offset(q, OW), OW, &a, &b, &c, &e);
    else
      load_windows(&p, x + 4 * q, 4 * (q1 - q), &a, &b, &c, &e);
    /* as max2x2_plane: v = a; v = b > v ? b : v; ... */
    __m512 v = a;
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, v, _CMP_GT_OQ), v, b);
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(c, v, _CMP_GT_OQ), v, c);
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(e, v, _CMP_GT_OQ), v, e);
    const __mmask16 m = ibx_lanes16(q1 - q);
    nan |= (__mmask16)(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & m);
    _mm512_mask_storeu_ps(y + q, m, v);
  }
  return nan != 0;
}

AVX512 void ibx_max2x2_grad_flat_avx512(const float *x, const float *g, int OW, long q0, long q1,
                                        float *dx) {
  const int wide = OW % 16 == 0;
  const pool_perm p = make_perm(wide ? 1 : OW);
  const __m512 z = _mm512_setzero_ps();
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  for (long q = q0; q < q1; q += 16) {
    __m512 a, b, c, e;
    const long valid = 4 * (q1 - q);
    if (wide)
      load_wide(x + wide_offset(q, OW), OW, &a, &b, &c, &e);
    else
      load_windows(&p, x + 4 * q, valid, &a, &b, &c, &e);
    /* as max2x2_grad_plane: the first maximum in the order a, b, c, e */
    __m512 m = a;
    const __mmask16 kb = _mm512_cmp_ps_mask(b, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(kb, m, b);
    const __mmask16 kc = _mm512_cmp_ps_mask(c, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(kc, m, c);
    const __mmask16 ke = _mm512_cmp_ps_mask(e, m, _CMP_GT_OQ);
    /* winner: e if ke, else c if kc, else b if kb, else a */
    const __mmask16 we = ke, wc = (__mmask16)(kc & ~ke), wb = (__mmask16)(kb & ~kc & ~ke);
    const __mmask16 wa = (__mmask16)~(we | wc | wb);
    const __m512 gv = _mm512_maskz_loadu_ps(ibx_lanes16(q1 - q), g + q);
    const __m512 da = _mm512_mask_blend_ps(wa, z, gv), db = _mm512_mask_blend_ps(wb, z, gv);
    const __m512 dc = _mm512_mask_blend_ps(wc, z, gv), de = _mm512_mask_blend_ps(we, z, gv);
    if (wide) { /* interleave: a b a b ... on the top row, c e c e ... below */
      float *t = dx + wide_offset(q, OW);
      _mm512_storeu_ps(t, _mm512_permutex2var_ps(da, lo, db));
      _mm512_storeu_ps(t + 16, _mm512_permutex2var_ps(da, hi, db));
      _mm512_storeu_ps(t + 2 * OW, _mm512_permutex2var_ps(dc, lo, de));
      _mm512_storeu_ps(t + 2 * OW + 16, _mm512_permutex2var_ps(dc, hi, de));
      continue;
    }
    for (int k = 0; k < 4; k++) {
      const __m512 top = _mm512_permutex2var_ps(da, p.top[k], db);
      const __m512 bot = _mm512_permutex2var_ps(dc, p.bot[k], de);
      _mm512_mask_storeu_ps(dx + 4 * q + 16 * k, ibx_lanes16(valid - 16L * k),
                            _mm512_mask_blend_ps(p.is_top[k], bot, top));
    }
  }
}

#endif
