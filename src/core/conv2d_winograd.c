/* Winograd F(2x2,3x3) convolution for 3x3, stride-1, pad-1 layers.
 *
 * Notation (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016): every 2x2 output tile y is computed from the 4x4 input
 * tile d around it (input stride 2, zero padded) and the 3x3 filter g as
 *
 *     y = A^T [ (G g G^T) .* (B^T d B) ] A,
 *
 *     B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
 *           [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
 *           [0 -1  1  0]         [1/2 -1/2  1/2]
 *           [0  1  0 -1]         [ 0    0    1 ]
 *
 * Summed over input channels, each of the 16 Winograd-domain positions xi
 * becomes one matrix product over channels:
 *
 *     M[xi] (O x T) = U[xi] (O x C) . V[xi] (C x T),   T = number of tiles,
 *
 * which is where the time goes (ibx_gemm: OpenBLAS sgemm, or bf16), at 16/36 of the multiplies of
 * the direct (im2col) method.
 *
 * Backward data is the same algorithm applied to dy with the 180-degree
 * rotated, channel-transposed filter. Rotating g permutes U: G J = P G, with
 * J the 3x3 reversal and P the 4x4 permutation swapping positions 0 and 3,
 * so U_rot[i][j] = U[p(i)][p(j)] and no second filter transform is needed.
 * Backward weights is the exact adjoint: dU[xi] = sum over tiles of
 * dM[xi] . V[xi]^T with dM = A dy_tile A^T, then dg = G^T dU G.
 *
 * Layout: V[xi][c][t], M[xi][o][t] (tile index fastest) so the transforms
 * vectorise across the tiles of a tile row and every GEMM is a plain
 * row-major product; the 16 xi planes sit an odd number of cache lines apart
 * (see xstride). Tiles are processed in chunks of consecutive tile rows (a
 * tile row = the TW tiles of one image at one tile y) so the scratch stays
 * bounded and a chunk stays cache-resident between the transform, GEMM and
 * inverse-transform phases. Transforms read a zero-padded copy of a block of
 * image rows. Threads either share each chunk (transforms split over
 * (channel, block), the 16 GEMMs split over xi, each GEMM single-threaded:
 * OpenBLAS's OpenMP build does so inside a parallel region, and on 2 cores
 * that beats running each GEMM on both threads; a thread count that does not
 * divide 16 gets the GEMMs cut into equal slices) or, for layers with many
 * tiles and few channels, take whole chunks each (see "modes" below).
 */
#include <stddef.h>
#include <string.h>

#include "conv_internal.h"
#include "ibx/error.h"
#include "ibx/precision.h"
#include "isa_clones.h"
#include "reduce.h"

/* The tile transforms get AVX-512 and AVX2 clones picked at load time when the
 * build is portable (no -march); with -march=native the compiler uses them anyway. */

/* Floats of chunk buffers (V, M, ...) per chunk: at least CHUNK_MIN (2 MiB:
 * about what the two cores' L2 caches hold; smaller GEMMs in tile count lose
 * nothing down to ~128 tiles), and up to the size of the transformed filters
 * U (at most CHUNK_MAX, 16 MiB) so that wide layers, whose U every chunk's
 * GEMMs must read again, come in few chunks. A chunk holds at least one tile
 * row. */
#ifndef IBX_WINO_CHUNK_MIN
#define IBX_WINO_CHUNK_MIN ((size_t)1 << 19)
#endif
#ifndef IBX_WINO_CHUNK_MAX
#define IBX_WINO_CHUNK_MAX ((size_t)1 << 22)
#endif

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Distance between the 16 xi planes of n floats each: a multiple of 16
 * floats (64 bytes) that is an odd number of cache lines, so the 16 streams
 * a transform reads or writes never share cache sets (a power-of-two
 * distance would map all 16 to one set). */
static size_t xstride(size_t n) {
  size_t s = round16(n);
  return (s / 16) % 2 ? s : s + 16;
}

/* ---- filter transforms ---------------------------------------------------- */

#define WINO_CB 64 /* channels per block in the filter transforms */

/* U[xi][o][c0 .. c0+nc-1] for the filters g = w[o][c]: a loop over channels
 * that vectorises (the 16 outputs of a channel go to 16 contiguous rows). */
IBX_ISA_CLONES
static void filter_tiles(const float *w, int C, int o, int c0, int nc, float *U, size_t xs) {
  const float *g0 = w + ((size_t)o * C + c0) * 9;
  float *u = U + (size_t)o * C + c0;
#pragma omp simd
  for (int cc = 0; cc < nc; cc++) {
    const float *g = g0 + (size_t)cc * 9;
    float t[4][3];
    for (int j = 0; j < 3; j++) {
      t[0][j] = g[j];
      t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
      t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
      t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
      u[(4 * i + 0) * xs + cc] = t[i][0];
      u[(4 * i + 1) * xs + cc] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[(4 * i + 2) * xs + cc] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[(4 * i + 3) * xs + cc] = t[i][2];
    }
  }
}

/* Pairs (o, c) per unit of the AVX-512 filter transforms' loops. */
#define WINO_PAIR_BLOCK 1024

/* The transform kernels in use: the portable ones below or the AVX-512 ones
 * (conv2d_winograd_avx512.c: dy, output and filter transforms; the input
 * transform is always the portable one), picked once per call of forward or
 * backward. */
typedef struct {
  void (*input)(const float *P, int Wp, int TW, float *dst, size_t xs);
  void (*dy)(const float *P, int Wp, int TW, float *dst, size_t xs);
  void (*output)(const float *src, size_t xs, int TW, float *plane, int H, int W, int ty,
                 float bias);
  int avx512; /* filter transforms too */
} wkernels;

/* U[xi][o][c] = (G g G^T)[xi] for g = w[o][c]; xi planes xs apart. */
static void filter_transform(const wkernels *kn, const float *w, int O, int C, float *U,
                             size_t xs) {
  if (kn->avx512) {
    const long pairs = (long)O * C, units = (pairs + WINO_PAIR_BLOCK - 1) / WINO_PAIR_BLOCK;
#pragma omp for schedule(static)
    for (long u = 0; u < units; u++) {
      const long p0 = u * WINO_PAIR_BLOCK;
      ibx_wino_filter_avx512(w, p0, p0 + WINO_PAIR_BLOCK < pairs ? p0 + WINO_PAIR_BLOCK : pairs, U,
                             xs);
    }
    return;
  }
  const long units = (long)O * ((C + WINO_CB - 1) / WINO_CB);
#pragma omp for schedule(static)
  for (long u = 0; u < units; u++) {
    const int o = (int)(u % O), c0 = (int)(u / O) * WINO_CB;
    filter_tiles(w, C, o, c0, C - c0 < WINO_CB ? C - c0 : WINO_CB, U, xs);
  }
}

/* dw[o][c0 .. c0+nc-1] += G^T dU[.][o][c] G, vectorised over channels. */
IBX_ISA_CLONES
static void filter_grad_tiles(const float *dU, size_t xs, int C, int o, int c0, int nc,
                              float *dw) {
  const float *d = dU + (size_t)o * C + c0;
  float *g0 = dw + ((size_t)o * C + c0) * 9;
#pragma omp simd
  for (int cc = 0; cc < nc; cc++) {
    float t[3][4];
    for (int j = 0; j < 4; j++) {
      const float x0 = d[j * xs + cc], x1 = d[(4 + j) * xs + cc], x2 = d[(8 + j) * xs + cc],
                  x3 = d[(12 + j) * xs + cc];
      t[0][j] = x0 + 0.5f * (x1 + x2);
      t[1][j] = 0.5f * (x1 - x2);
      t[2][j] = 0.5f * (x1 + x2) + x3;
    }
    float *g = g0 + (size_t)cc * 9;
    for (int i = 0; i < 3; i++) {
      g[3 * i + 0] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
      g[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
      g[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
    }
  }
}

/* dw[o][c] += G^T dU[.][o][c] G (the adjoint of filter_transform). */
static void filter_grad(const wkernels *kn, const float *dU, size_t xs, int O, int C,
                        float *dw) {
  if (kn->avx512) {
    const long pairs = (long)O * C, units = (pairs + WINO_PAIR_BLOCK - 1) / WINO_PAIR_BLOCK;
#pragma omp for schedule(static)
    for (long u = 0; u < units; u++) {
      const long p0 = u * WINO_PAIR_BLOCK;
      ibx_wino_filter_grad_avx512(dU, xs, p0,
                                  p0 + WINO_PAIR_BLOCK < pairs ? p0 + WINO_PAIR_BLOCK : pairs, dw);
    }
    return;
  }
  const long units = (long)O * ((C + WINO_CB - 1) / WINO_CB);
#pragma omp for schedule(static)
  for (long u = 0; u < units; u++) {
    const int o = (int)(u % O), c0 = (int)(u / O) * WINO_CB;
    filter_grad_tiles(dU, xs, C, o, c0, C - c0 < WINO_CB ? C - c0 : WINO_CB, dw);
  }
}

/* ---- tile transforms -------------------------------------------------------
 * Each works on one tile row of one channel, read from a zero-padded copy P
 * of the image rows it needs (row stride Wp = 2*TW + 2, column q of P is
 * image column q - 1), so every tile is an interior tile and the loops over
 * tiles vectorise (stride-2 loads). dst[xi*xs + k] receives tile k. */

/* V = B^T d B; P points at the tile row's first padded row. */
IBX_ISA_CLONES
static void input_tiles(const float *P, int Wp, int TW, float *dst, size_t xs) {
  const float *r0 = P, *r1 = P + Wp, *r2 = P + 2 * Wp, *r3 = P + 3 * Wp;
  float *d0 = dst, *d1 = dst + xs, *d2 = dst + 2 * xs, *d3 = dst + 3 * xs;
  float *d4 = dst + 4 * xs, *d5 = dst + 5 * xs, *d6 = dst + 6 * xs, *d7 = dst + 7 * xs;
  float *d8 = dst + 8 * xs, *d9 = dst + 9 * xs, *d10 = dst + 10 * xs, *d11 = dst + 11 * xs;
  float *d12 = dst + 12 * xs, *d13 = dst + 13 * xs, *d14 = dst + 14 * xs, *d15 = dst + 15 * xs;
#pragma omp simd
  for (int k = 0; k < TW; k++) {
    const int q = 2 * k;
    /* Rows: t = B^T d, column by column. */
    float t00 = r0[q] - r2[q], t01 = r0[q + 1] - r2[q + 1];
    float t02 = r0[q + 2] - r2[q + 2], t03 = r0[q + 3] - r2[q + 3];
    float t10 = r1[q] + r2[q], t11 = r1[q + 1] + r2[q + 1];
    float t12 = r1[q + 2] + r2[q + 2], t13 = r1[q + 3] + r2[q + 3];
    float t20 = r2[q] - r1[q], t21 = r2[q + 1] - r1[q + 1];
    float t22 = r2[q + 2] - r1[q + 2], t23 = r2[q + 3] - r1[q + 3];
    float t30 = r1[q] - r3[q], t31 = r1[q + 1] - r3[q + 1];
    float t32 = r1[q + 2] - r3[q + 2], t33 = r1[q + 3] - r3[q + 3];
    /* Columns: t B. */
    d0[k] = t00 - t02, d1[k] = t01 + t02, d2[k] = t02 - t01, d3[k] = t01 - t03;
    d4[k] = t10 - t12, d5[k] = t11 + t12, d6[k] = t12 - t11, d7[k] = t11 - t13;
    d8[k] = t20 - t22, d9[k] = t21 + t22, d10[k] = t22 - t21, d11[k] = t21 - t23;
    d12[k] = t30 - t32, d13[k] = t31 + t32, d14[k] = t32 - t31, d15[k] = t31 - t33;
  }
}

/* dM = A dY A^T for the 2x2 dy tiles; P points at the tile row's first dy
 * value (padded row 1, column 1 of the tile row's window). */
IBX_ISA_CLONES
static void dy_tiles(const float *P, int Wp, int TW, float *dst, size_t xs) {
  const float *p0 = P, *p1 = P + Wp;
  float *d0 = dst, *d1 = dst + xs, *d2 = dst + 2 * xs, *d3 = dst + 3 * xs;
  float *d4 = dst + 4 * xs, *d5 = dst + 5 * xs, *d6 = dst + 6 * xs, *d7 = dst + 7 * xs;
  float *d8 = dst + 8 * xs, *d9 = dst + 9 * xs, *d10 = dst + 10 * xs, *d11 = dst + 11 * xs;
  float *d12 = dst + 12 * xs, *d13 = dst + 13 * xs, *d14 = dst + 14 * xs, *d15 = dst + 15 * xs;
#pragma omp simd
  for (int k = 0; k < TW; k++) {
    const float a0 = p0[2 * k], b0 = p0[2 * k + 1], a1 = p1[2 * k], b1 = p1[2 * k + 1];
    /* Rows of A dY: Y0, Y0 + Y1, Y0 - Y1, -Y1; then each row [a b] times
     * A^T: [a, a + b, a - b, -b]. */
    const float sa = a0 + a1, sb = b0 + b1, da = a0 - a1, db = b0 - b1;
    d0[k] = a0, d1[k] = a0 + b0, d2[k] = a0 - b0, d3[k] = -b0;
    d4[k] = sa, d5[k] = sa + sb, d6[k] = sa - sb, d7[k] = -sb;
    d8[k] = da, d9[k] = da + db, d10[k] = da - db, d11[k] = -db;
    d12[k] = -a1, d13[k] = -a1 - b1, d14[k] = b1 - a1, d15[k] = b1;
  }
}

/* Y = A^T M A (+ bias) for the tiles of tile row ty, written over the output
 * plane; the parts of tiles outside the H x W plane are dropped. */
#define WINO_OUT_TILE(src, xs, k, bias, y00, y01, y10, y11)                                    \
  do {                                                                                         \
    const float *m_ = (src) + (k);                                                             \
    const float s0_ = m_[0] + m_[4 * (xs)] + m_[8 * (xs)];                                     \
    const float s1_ = m_[(xs)] + m_[5 * (xs)] + m_[9 * (xs)];                                  \
    const float s2_ = m_[2 * (xs)] + m_[6 * (xs)] + m_[10 * (xs)];                             \
    const float s3_ = m_[3 * (xs)] + m_[7 * (xs)] + m_[11 * (xs)];                             \
    const float e0_ = m_[4 * (xs)] - m_[8 * (xs)] - m_[12 * (xs)];                             \
    const float e1_ = m_[5 * (xs)] - m_[9 * (xs)] - m_[13 * (xs)];                             \
    const float e2_ = m_[6 * (xs)] - m_[10 * (xs)] - m_[14 * (xs)];                            \
    const float e3_ = m_[7 * (xs)] - m_[11 * (xs)] - m_[15 * (xs)];                            \
    y00 = s0_ + s1_ + s2_ + (bias);                                                            \
    y01 = s1_ - s2_ - s3_ + (bias);                                                            \
    y10 = e0_ + e1_ + e2_ + (bias);                                                            \
    y11 = e1_ - e2_ - e3_ + (bias);                                                            \
  } while (0)

IBX_ISA_CLONES
static void output_tiles(const float *src, size_t xs, int TW, float *plane, int H, int W, int ty,
                         float bias) {
  float *row0 = plane + (size_t)(2 * ty) * W, *row1 = row0 + W;
  const int full = W / 2; /* tiles with both columns inside (TW or TW - 1) */
  if (2 * ty + 1 < H) {
#pragma omp simd
    for (int k = 0; k < full; k++) {
      float y00, y01, y10, y11;
      WINO_OUT_TILE(src, xs, k, bias, y00, y01, y10, y11);
      row0[2 * k] = y00, row0[2 * k + 1] = y01;
      row1[2 * k] = y10, row1[2 * k + 1] = y11;
    }
  } else {
#pragma omp simd
    for (int k = 0; k < full; k++) {
      float y00, y01, y10, y11;
      WINO_OUT_TILE(src, xs, k, bias, y00, y01, y10, y11);
      (void)y10, (void)y11;
      row0[2 * k] = y00, row0[2 * k + 1] = y01;
    }
  }
  if (full < TW) { /* odd W: the last tile's left column */
    float y00, y01, y10, y11;
    WINO_OUT_TILE(src, xs, full, bias, y00, y01, y10, y11);
    (void)y01, (void)y11;
    row0[2 * full] = y00;
    if (2 * ty + 1 < H)
      row1[2 * full] = y10;
  }
}

/* P rows p = 0 .. rows-1 = plane rows iy0 + p with one zero column on the
 * left and zeros from column W + 1 to Wp - 1; rows outside are zero. */
static void pad_rows(const float *plane, int H, int W, int iy0, int rows, int Wp, float *P) {
  for (int p = 0; p < rows; p++) {
    float *dst = P + (size_t)p * Wp;
    const int iy = iy0 + p;
    if (iy < 0 || iy >= H) {
      memset(dst, 0, (size_t)Wp * sizeof(float));
      continue;
    }
    dst[0] = 0.0f;
    memcpy(dst + 1, plane + (size_t)iy * W, (size_t)W * sizeof(float));
    for (int q = W + 1; q < Wp; q++)
      dst[q] = 0.0f;
  }
}

/* ---- blocks and chunks -------------------------------------------------------
 * Each image's TH tile rows are cut into nb blocks of at most RB rows (a
 * block's padded rows fit in L1); a chunk is a run of consecutive blocks,
 * i.e. of consecutive global tile rows, whose buffers fit the budget. */

typedef struct {
  int N, H, W, TH, TW, Wp;
  int RB, nb;          /* tile rows per block, blocks per image */
  long blocks;         /* N * nb */
  long chunks;         /* number of chunks: chunk ci holds blocks
                        * [blocks * ci / chunks, blocks * (ci + 1) / chunks) */
  size_t tiles_max;    /* tiles in the largest chunk */
  size_t pad_floats;   /* per-thread buffer: padded rows, or the lane groups */
  int small;           /* transforms by lane groups (see "small planes") */
} wgrid;

#define WINO_PAD_FLOATS 6144 /* 24 KiB: the padded rows of one block */

static size_t shared_budget(int O, int C) {
  size_t u = 16 * (size_t)O * C;
  if (u > IBX_WINO_CHUNK_MAX)
    u = IBX_WINO_CHUNK_MAX;
  return u > IBX_WINO_CHUNK_MIN ? u : IBX_WINO_CHUNK_MIN;
}

/* threads: > 1 for private mode, whose chunk count is rounded up to a
 * multiple of it so that every thread gets as many chunks of (within a
 * block) equal size: 13 chunks on 2 threads left one thread idle for a
 * thirteenth of the layer. */
static wgrid make_grid(int N, int H, int W, size_t budget, size_t floats_per_tile, int threads) {
  wgrid g;
  g.N = N, g.H = H, g.W = W;
  g.TH = (H + 1) / 2, g.TW = (W + 1) / 2, g.Wp = 2 * g.TW + 2;
  const size_t per_row = 16 * floats_per_tile * (size_t)g.TW;
  long cr = (long)(budget / per_row); /* tile rows per chunk */
  if (cr < 1)
    cr = 1;
  long rb = ((long)(WINO_PAD_FLOATS / g.Wp) - 2) / 2;
  if (rb > cr)
    rb = cr;
  if (rb > g.TH)
    rb = g.TH;
  if (rb < 1)
    rb = 1;
  g.nb = (int)((g.TH + rb - 1) / rb);
  g.RB = (g.TH + g.nb - 1) / g.nb; /* same block count, rows spread evenly */
  g.blocks = (long)N * g.nb;
  long bpc = cr / g.RB;
  if (bpc < 1)
    bpc = 1;
  if (bpc > g.blocks)
    bpc = g.blocks;
  long nchunks = (g.blocks + bpc - 1) / bpc;
  if (threads > 1 && nchunks % threads) {
    const long up = (nchunks / threads + 1) * threads;
    nchunks = up <= g.blocks ? up : nchunks;
  }
  g.chunks = nchunks;
  g.tiles_max = (size_t)((g.blocks + nchunks - 1) / nchunks) * g.RB * g.TW;
  g.pad_floats = round16((size_t)(2 * g.RB + 2) * g.Wp);
  g.small = 0;
  return g;
}

/* Global tile row where block id starts, and its number of tile rows. */
static long block_row(const wgrid *g, long id) {
  return (id / g->nb) * g->TH + (id % g->nb) * g->RB;
}
static int block_rows(const wgrid *g, long id) {
  const int left = g->TH - (int)(id % g->nb) * g->RB;
  return left < g->RB ? left : g->RB;
}

typedef struct {
  long b0, nblk; /* first block, number of blocks */
  long row0;     /* global tile row of b0 */
  int Tc;        /* tiles in the chunk */
} wchunk;

static wchunk make_chunk(const wgrid *g, long ci) {
  wchunk ch;
  ch.b0 = g->blocks * ci / g->chunks;
  ch.nblk = g->blocks * (ci + 1) / g->chunks - ch.b0;
  ch.row0 = block_row(g, ch.b0);
  const long last = ch.b0 + ch.nblk - 1;
  ch.Tc = (int)((block_row(g, last) + block_rows(g, last) - ch.row0) * g->TW);
  return ch;
}

/* Input transform of channel c of block id of x [N,C,H,W] into
 * V[xi][c][t] (Tc tiles per plane) when V is set, and the dM transform of
 * the same plane into D when D is set (backward passes dy here, with C = O;
 * V is then the transformed dy for dx, or NULL). P is the thread's
 * padded-row buffer. planesum, when set (only where a block is a whole
 * plane), gets the plane's sum at index n * C + c: the bias gradient, from
 * the plane while it is in cache. */
static void transform_block(const wkernels *kn, const wgrid *g, const wchunk *ch, const float *x,
                            int C, int c, long id, float *P, float *V, float *D,
                            double *planesum) {
  const int n = (int)(id / g->nb), ty0 = (int)(id % g->nb) * g->RB, rows = block_rows(g, id);
  const size_t Tc = (size_t)ch->Tc, xs = xstride((size_t)C * Tc);
  const size_t t0 = (size_t)(block_row(g, id) - ch->row0) * g->TW;
  const float *plane = x + ((size_t)n * C + c) * g->H * g->W;
  pad_rows(plane, g->H, g->W, 2 * ty0 - 1, 2 * rows + 2, g->Wp, P);
  for (int r = 0; r < rows; r++) {
    const size_t off = (size_t)c * Tc + t0 + (size_t)r * g->TW;
    if (V)
      kn->input(P + (size_t)(2 * r) * g->Wp, g->Wp, g->TW, V + off, xs);
    if (D)
      kn->dy(P + (size_t)(2 * r + 1) * g->Wp + 1, g->Wp, g->TW, D + off, xs);
  }
  if (planesum)
    planesum[(size_t)n * C + c] = ibx_sum_f32(plane, (long)g->H * g->W);
}

/* Output transform of plane k of M[xi][k][t] into block id of y [N,K,H,W]. */
static void output_block(const wkernels *kn, const wgrid *g, const wchunk *ch, const float *M,
                         int K, int k, long id, const float *bias, float *y) {
  const int n = (int)(id / g->nb), ty0 = (int)(id % g->nb) * g->RB, rows = block_rows(g, id);
  const size_t Tc = (size_t)ch->Tc, xs = xstride((size_t)K * Tc);
  const size_t t0 = (size_t)(block_row(g, id) - ch->row0) * g->TW;
  float *plane = y + ((size_t)n * K + k) * g->H * g->W;
  for (int r = 0; r < rows; r++)
    kn->output(M + (size_t)k * Tc + t0 + (size_t)r * g->TW, xs, g->TW, plane, g->H, g->W,
               ty0 + r, bias ? bias[k] : 0.0f);
}

static wkernels pick_kernels(void) {
  wkernels k = {input_tiles, dy_tiles, output_tiles, 0};
#if IBX_AVX512_KERNELS
  if (ibx_cpu_use_avx512()) {
    k.dy = ibx_wino_dy_tiles_avx512;
    k.output = ibx_wino_output_tiles_avx512, k.avx512 = 1;
  }
#endif
  return k;
}

/* ---- small planes ------------------------------------------------------------
 * Below 32 columns a tile row has fewer than 16 tiles, so the tile-row
 * kernels run short (the portable input transform in its scalar remainder)
 * and every plane costs a padded copy and a few calls: at quarter width that
 * is every layer after the first two. Where a block is a whole plane, the
 * tiles of a chunk's channel are consecutive in V/M across tile rows and
 * images, so the AVX-512 group kernels take them 16 at a time, gathering
 * and scattering through a table of where each lane's tile lies, built once
 * per chunk by every thread (it is small: Tc / 16 entries). */

#ifndef IBX_WINO_SMALL_TW
#define IBX_WINO_SMALL_TW 4 /* widest tile row (in tiles) taken by lane groups */
#endif

static long lane_groups(const wchunk *ch) { return ((long)ch->Tc + 15) / 16; }

/* Floats of the per-thread lane-group table for the largest chunk. */
static size_t lanes_floats(const wgrid *g) {
  return round16(((g->tiles_max + 15) / 16) * sizeof(ibx_wino_lanes) / sizeof(float) + 1);
}

/* channels: the most planes per image of the tensors transformed (the
 * kernels index a chunk's planes with 32-bit offsets). */
static void use_small_planes(const wkernels *kn, wgrid *g, int channels) {
  const long images = (long)(g->tiles_max / ((size_t)g->TH * g->TW)) + 1;
  const long span = images * channels * g->H * g->W; /* floats a chunk's gathers cover */
  g->small = kn->avx512 && g->nb == 1 && g->TW <= IBX_WINO_SMALL_TW && span < (1L << 31);
  if (g->small && lanes_floats(g) > g->pad_floats)
    g->pad_floats = lanes_floats(g);
}

static void build_lanes(const wgrid *g, const wchunk *ch, ibx_wino_lanes *tab) {
  const int per_plane = g->TH * g->TW;
  memset(tab, 0, (size_t)lane_groups(ch) * sizeof *tab);
  for (int t = 0; t < ch->Tc; t++) {
    ibx_wino_lanes *L = tab + t / 16;
    const int l = t % 16, q = t % per_plane, r = q / g->TW, k = q % g->TW;
    const uint16_t bit = (uint16_t)(1u << l);
    L->img[l] = t / per_plane;
    L->off[l] = 2 * r * g->W + 2 * k;
    L->live |= bit;
    for (int i = 0; i < 4; i++) {
      if (2 * r - 1 + i >= 0 && 2 * r - 1 + i < g->H)
        L->row[i] |= bit;
      if (2 * k - 1 + i >= 0 && 2 * k - 1 + i < g->W)
        L->col[i] |= bit;
    }
  }
}

/* Units of a chunk's transform phase over C planes per image: (channel,
 * block) pairs, or (channel, lane group) pairs for small planes. */
static long phase_units(const wgrid *g, const wchunk *ch, int C) {
  return (long)C * (g->small ? lane_groups(ch) : ch->nblk);
}

/* Called by every thread at the start of a chunk, before its units. */
static void start_chunk(const wgrid *g, const wchunk *ch, float *P) {
  if (g->small)
    build_lanes(g, ch, (ibx_wino_lanes *)P);
}

static int threads_for(void) {
  int t = omp_get_max_threads();
  return t < 1 ? 1 : t;
}

/* The 16 products go whole to the threads when their number divides 16;
 * otherwise each is cut into `threads` slices so the shares are equal. */
static int gemm_parts(int threads) { return 16 % threads == 0 ? 1 : threads; }

/* [lo, hi) of part p of n items cut into parts. */
static int part_lo(int n, int p, int parts) { return (int)((long)n * p / parts); }

/* ---- modes -------------------------------------------------------------------
 * Shared: all threads work on one chunk at a time (transforms split over
 * (channel, block), the 16 GEMMs over xi, then the inverse transform), with
 * big chunks (shared_budget), so that layers with few tiles and many
 * channels keep their GEMMs large and read U few times.
 * Private: each thread takes whole chunks (dynamic schedule) and runs all
 * phases on them alone with single-threaded GEMMs. Used when there are many
 * tiles for few channels: as fast on an idle machine, and no barrier per
 * phase, so a thread that loses its core to another process does not stall
 * the other (with barriers that costs a scheduler time slice per phase).
 * Backward needs a dU partial per thread then, so only while dU is small. */
#ifndef IBX_WINO_PRIVATE_BUDGET
#define IBX_WINO_PRIVATE_BUDGET ((size_t)1 << 19) /* floats of one thread's chunk: 2 MiB */
#endif
#ifndef IBX_WINO_PRIVATE_MAX_DU
#define IBX_WINO_PRIVATE_MAX_DU ((size_t)1 << 18) /* floats of one thread's dU partial */
#endif
#define WINO_PRIVATE_MIN_TILES 64 /* smallest GEMM width worth a private chunk */

/* Picks the mode and its grid; returns 1 for private. */
static int pick_mode(int N, int H, int W, int O, int C, size_t floats_per_tile, int threads,
                     int backward, wgrid *g) {
  *g = make_grid(N, H, W, IBX_WINO_PRIVATE_BUDGET, floats_per_tile, 1);
  const int priv = threads > 1 && g->chunks >= 4 * (long)threads &&
                   IBX_WINO_PRIVATE_BUDGET / (16 * floats_per_tile) >= WINO_PRIVATE_MIN_TILES &&
                   (!backward || 16 * (size_t)O * C <= IBX_WINO_PRIVATE_MAX_DU);
  *g = priv ? make_grid(N, H, W, IBX_WINO_PRIVATE_BUDGET, floats_per_tile, threads)
            : make_grid(N, H, W, shared_budget(O, C), floats_per_tile, 1);
  return priv;
}

#if IBX_AVX512_KERNELS
/* Small planes: unit u = (channel c, lane group j); P holds the chunk's
 * lane groups (start_chunk). Plane sums as transform_block takes them, for
 * the planes whose first tile is in the group. */
static void input_groups(const wgrid *g, const wchunk *ch, const float *x, int C, long u0, long u1,
                         const float *P, float *V, float *D, double *planesum) {
  const long G = lane_groups(ch), HW = (long)g->H * g->W, per_plane = (long)g->TH * g->TW;
  const size_t Tc = (size_t)ch->Tc, xs = xstride((size_t)C * Tc);
  const ibx_wino_lanes *tab = (const ibx_wino_lanes *)P;
  for (long u = u0; u < u1; u++) {
    const int c = (int)(u / G);
    const long j = u % G;
    const float *plane0 = x + ((size_t)ch->b0 * C + c) * HW;
    const size_t off = (size_t)c * Tc + 16 * (size_t)j;
    if (V)
      ibx_wino_input_group_avx512(plane0, (long)C * HW, g->W, tab + j, V + off, xs);
    if (D)
      ibx_wino_dy_group_avx512(plane0, (long)C * HW, g->W, tab + j, D + off, xs);
    if (planesum)
      for (long n = (16 * j + per_plane - 1) / per_plane;
           n < ch->nblk && n * per_plane < 16 * (j + 1); n++)
        planesum[(size_t)(ch->b0 + n) * C + c] =
            ibx_sum_f32(plane0 + (size_t)n * C * HW, HW);
  }
}

static void output_groups(const wgrid *g, const wchunk *ch, const float *M, int K, long u0, long u1,
                          const float *P, const float *bias, float *y) {
  const long G = lane_groups(ch), HW = (long)g->H * g->W;
  const size_t Tc = (size_t)ch->Tc, xs = xstride((size_t)K * Tc);
  const ibx_wino_lanes *tab = (const ibx_wino_lanes *)P;
  for (long u = u0; u < u1; u++) {
    const int k = (int)(u / G);
    const long j = u % G;
    ibx_wino_output_group_avx512(M + (size_t)k * Tc + 16 * (size_t)j, xs, tab + j,
                                 y + ((size_t)ch->b0 * K + k) * HW, (long)K * HW, g->W,
                                 bias ? bias[k] : 0.0f);
  }
}
#endif

/* Units u0 .. u1-1 of a chunk's transforms: u = channel * nblk + block, or
 * channel * lane groups + group for small planes. */
static void input_units(const wkernels *kn, const wgrid *g, const wchunk *ch, const float *x,
                        int C, long u0, long u1, float *P, float *V, float *D, double *planesum) {
#if IBX_AVX512_KERNELS
  if (g->small) {
    input_groups(g, ch, x, C, u0, u1, P, V, D, planesum);
    return;
  }
#endif
  for (long u = u0; u < u1; u++)
    transform_block(kn, g, ch, x, C, (int)(u / ch->nblk), ch->b0 + u % ch->nblk, P, V, D,
                    planesum);
}
static void output_units(const wkernels *kn, const wgrid *g, const wchunk *ch, const float *M,
                         int K, long u0, long u1, const float *P, const float *bias, float *y) {
#if IBX_AVX512_KERNELS
  if (g->small) {
    output_groups(g, ch, M, K, u0, u1, P, bias, y);
    return;
  }
#endif
  (void)P;
  for (long u = u0; u < u1; u++)
    output_block(kn, g, ch, M, K, (int)(u / ch->nblk), ch->b0 + u % ch->nblk, bias, y);
}

/* ---- fused reductions ----------------------------------------------------
 * Batch norm's plane moments (forward) and the bias gradient's plane sums
 * (backward) come from the planes while the transforms have them in cache,
 * where a block is a whole plane (nb == 1: every VGG layer on 32 x 32
 * inputs); then they are the same computation on the same values as the
 * separate passes (ibx_bn_moments_of, ibx_conv_bias_grad), so the results do
 * not depend on which path or grid (thread count) ran. Otherwise the caller
 * makes the separate pass. */

/* Moments of the planes of units u0 .. u1-1 of a chunk (nb == 1: unit u is
 * plane (n = b0 + u % nblk, k = u / nblk)), read back after the thread wrote
 * all of them: reading each right after its own stores waits for them. */
static void moments_units(const wgrid *g, const wchunk *ch, const float *y, int K, long u0,
                          long u1, ibx_bn_moments *planes) {
  const size_t S = (size_t)g->H * g->W;
  for (long u = u0; u < u1; u++) {
    const size_t p = (size_t)(ch->b0 + u % ch->nblk) * K + (size_t)(u / ch->nblk);
    ibx_bn_moments_of(y + p * S, (long)S, &planes[p]);
  }
}

/* db[o] += sum over n of planesum[n * O + o], in the order of
 * ibx_conv_bias_grad. No barrier at the end. */
static void bias_grad_from_planes(const double *planesum, int N, int O, float *db) {
#pragma omp for schedule(static) nowait
  for (int o = 0; o < O; o++) {
    double acc = 0.0;
    for (int n = 0; n < N; n++)
      acc += planesum[(size_t)n * O + o];
    db[o] += (float)acc;
  }
}

/* ---- forward -------------------------------------------------------------- */

int ibx_winograd_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                         const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s,
                         ibx_bn_moments *planes, int *planes_done) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int O = y->dim[1];
  (void)L;
  const int threads = threads_for(), parts = gemm_parts(threads);
  const wkernels kn = pick_kernels();
  wgrid g;
  const int priv = pick_mode(N, H, W, O, C, (size_t)C + O, threads, 0, &g);
  use_small_planes(&kn, &g, C > O ? C : O);
  const size_t xsU = xstride((size_t)O * C), nU = 16 * xsU;
  const size_t nV = 16 * xstride((size_t)C * g.tiles_max), nM = 16 * xstride((size_t)O * g.tiles_max);
  /* U; per thread: P (+ V, M in private mode); shared mode: V, M. */
  const size_t per_thread = g.pad_floats + (priv ? nV + nM : 0);
  float *buf = ibx_scratch_get(s, nU + (size_t)threads * per_thread + (priv ? 0 : nV + nM));
  if (!buf)
    return IBX_ERR_NOMEM;
  float *U = buf, *Tall = U + nU, *Sh = Tall + (size_t)threads * per_thread;
  const float *bias = (b && b->data) ? b->data : NULL;
  const int fuse = planes && g.nb == 1; /* see "fused reductions" */
  if (planes_done)
    *planes_done = fuse;

#pragma omp parallel num_threads(threads)
  {
    float *P = Tall + (size_t)omp_get_thread_num() * per_thread;
    float *V = priv ? P + g.pad_floats : Sh, *M = V + nV;
    filter_transform(&kn, w->data, O, C, U, xsU);
    if (priv) {
#pragma omp for schedule(dynamic, 1)
      for (long ci = 0; ci < g.chunks; ci++) {
        const wchunk ch = make_chunk(&g, ci);
        const size_t xsV = xstride((size_t)C * ch.Tc), xsM = xstride((size_t)O * ch.Tc);
        start_chunk(&g, &ch, P);
        input_units(&kn, &g, &ch, x->data, C, 0, phase_units(&g, &ch, C), P, V, NULL, NULL);
        for (int xi = 0; xi < 16; xi++)
          ibx_gemm(0, 0, O, ch.Tc, C, 1.0f,
                      U + xi * xsU, C, V + xi * xsV, ch.Tc, 0.0f, M + xi * xsM, ch.Tc);
        output_units(&kn, &g, &ch, M, O, 0, phase_units(&g, &ch, O), P, bias, y->data);
        if (fuse)
          moments_units(&g, &ch, y->data, O, 0, (long)O * ch.nblk, planes);
      }
    } else {
      for (long ci = 0; ci < g.chunks; ci++) {
        const wchunk ch = make_chunk(&g, ci);
        const size_t xsV = xstride((size_t)C * ch.Tc), xsM = xstride((size_t)O * ch.Tc);
        start_chunk(&g, &ch, P);
#pragma omp for schedule(static)
        for (long u = 0; u < phase_units(&g, &ch, C); u++)
          input_units(&kn, &g, &ch, x->data, C, u, u + 1, P, V, NULL, NULL);
        /* M[xi] (O x Tc) = U[xi] (O x C) . V[xi] (C x Tc), in column slices. */
#pragma omp for schedule(static)
        for (int it = 0; it < 16 * parts; it++) {
          const int xi = it / parts, p = it % parts;
          const int j0 = part_lo(ch.Tc, p, parts), j1 = part_lo(ch.Tc, p + 1, parts);
          if (j1 > j0)
            ibx_gemm(0, 0, O, j1 - j0, C, 1.0f,
                        U + xi * xsU, C, V + xi * xsV + j0, ch.Tc, 0.0f, M + xi * xsM + j0,
                        ch.Tc);
        }
        /* No barrier after the output phase: the next chunk's input phase
         * writes V only, and its GEMMs (which write M) start after a barrier.
         * The moments loop has the same static schedule as the output loop,
         * so each thread reads back the planes it wrote (by blocks; lane
         * groups need the barrier below). */
#pragma omp for schedule(static) nowait
        for (long u = 0; u < phase_units(&g, &ch, O); u++)
          output_units(&kn, &g, &ch, M, O, u, u + 1, P, bias, y->data);
        if (fuse) {
          /* lane groups are not planes: a plane may have been written by
           * another thread */
          if (g.small) {
#pragma omp barrier
          }
#pragma omp for schedule(static) nowait
          for (long u = 0; u < (long)O * ch.nblk; u++)
            moments_units(&g, &ch, y->data, O, u, u + 1, planes);
        }
      }
    }
  }
  return IBX_OK;
}

/* ---- backward ------------------------------------------------------------- */

/* The Winograd position of the 180-degree rotated filter: G J = P G with P
 * swapping rows 0 and 3, so U_rot[i][j] = U[p(i)][p(j)]. */
static int rot_xi(int xi) {
  static const int p[4] = {3, 1, 2, 0};
  return p[xi >> 2] * 4 + p[xi & 3];
}

/* One xi of a chunk, whole: dU[xi] (O x C) (+)= dM[xi] (O x Tc) . V[xi]^T,
 * then for dx (E set) U_rot[xi]^T (C x O) . E[xi] (O x Tc) over V[xi]. */
static void backward_gemms(int xi, int O, int C, int Tc, const float *D, size_t xsD, float *V,
                           size_t xsV, const float *E, const float *U, float *dU, size_t xsF,
                           float beta) {
  float *Vx = V + xi * xsV;
  ibx_gemm(0, 1, O, C, Tc, 1.0f, D + xi * xsD, Tc, Vx, Tc,
              beta, dU + xi * xsF, C);
  if (E)
    ibx_gemm(1, 0, C, Tc, O, 1.0f, U + rot_xi(xi) * xsF, C,
                E + xi * xsD, Tc, 0.0f, Vx, Tc);
}

#define WINO_MAX_THREADS 1024

int ibx_winograd_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                          ibx_scratch *s) {
  const int N = x->dim[0], C = x->dim[1], H = x->dim[2], W = x->dim[3];
  const int O = dy->dim[1];
  const int want_dx = dx && dx->data;
  (void)L;
  int threads = threads_for();
  if (threads > WINO_MAX_THREADS)
    threads = WINO_MAX_THREADS;
  const int parts = gemm_parts(threads);
  const wkernels kn = pick_kernels();
  /* Per tile: V (C) and dM (O), plus the transformed dy E (O) for dx; the dx
   * GEMM writes its result over V. */
  wgrid g;
  const int priv = pick_mode(N, H, W, O, C, (size_t)C + (want_dx ? 2u : 1u) * O, threads, 1, &g);
  use_small_planes(&kn, &g, C > O ? C : O);
  const size_t xsF = xstride((size_t)O * C), nF = 16 * xsF, nU = want_dx ? nF : 0;
  const size_t nV = 16 * xstride((size_t)C * g.tiles_max);
  const size_t nD = 16 * xstride((size_t)O * g.tiles_max), nE = want_dx ? nD : 0;
  /* U (dx only); per thread: P (+ dU, V, D, E in private mode); shared mode:
   * dU, V, D, E. */
  const size_t work = nF + nV + nD + nE;
  const size_t per_thread = g.pad_floats + (priv ? work : 0);
  /* the bias gradient's plane sums of dy (2 floats each), after the rest
   * (every size before is a multiple of 16 floats: aligned) */
  const int want_db = db && db->data, fuse_db = want_db && g.nb == 1;
  const size_t nall = nU + (size_t)threads * per_thread + (priv ? 0 : work);
  float *buf = ibx_scratch_get(s, nall + (fuse_db ? 2 * (size_t)N * O : 0));
  if (!buf)
    return IBX_ERR_NOMEM;
  float *U = want_dx ? buf : NULL, *Tall = buf + nU, *Sh = Tall + (size_t)threads * per_thread;
  double *planesum = fuse_db ? (double *)(buf + nall) : NULL;
  unsigned char used[WINO_MAX_THREADS] = {0}; /* private: threads holding a dU partial */

#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float *P = Tall + (size_t)t * per_thread;
    float *dU = priv ? P + g.pad_floats : Sh;
    float *V = dU + nF, *D = V + nV, *E = want_dx ? D + nD : NULL;
    if (want_dx)
      filter_transform(&kn, w->data, O, C, U, xsF);
    if (priv) {
      int first = 1;
      /* static: each thread sums the same chunks into its dU partial in every
       * run, so training is bit-reproducible at a given thread count (the
       * chunk count is a multiple of the threads: static is balanced) */
#pragma omp for schedule(static) nowait
      for (long ci = 0; ci < g.chunks; ci++) {
        const wchunk ch = make_chunk(&g, ci);
        const size_t xsV = xstride((size_t)C * ch.Tc), xsD = xstride((size_t)O * ch.Tc);
        start_chunk(&g, &ch, P);
        input_units(&kn, &g, &ch, x->data, C, 0, phase_units(&g, &ch, C), P, V, NULL, NULL);
        input_units(&kn, &g, &ch, dy->data, O, 0, phase_units(&g, &ch, O), P, E, D, planesum);
        for (int xi = 0; xi < 16; xi++)
          backward_gemms(xi, O, C, ch.Tc, D, xsD, V, xsV, E, U, dU, xsF, first ? 0.0f : 1.0f);
        first = 0;
        if (want_dx)
          output_units(&kn, &g, &ch, V, C, 0, phase_units(&g, &ch, C), P, NULL, dx->data);
      }
      used[t] = (unsigned char)!first;
#pragma omp barrier
      /* Sum the partials into thread 0's dU (rows of C floats). */
      float *dU0 = Tall + g.pad_floats;
#pragma omp for schedule(static)
      for (long r = 0; r < 16L * O; r++) {
        const size_t off = (size_t)(r / O) * xsF + (size_t)(r % O) * C;
        int have = used[0];
        for (int k = 1; k < threads; k++) {
          if (!used[k])
            continue;
          const float *src = Tall + (size_t)k * per_thread + g.pad_floats + off;
          float *dst = dU0 + off;
          if (have) {
            for (int c = 0; c < C; c++)
              dst[c] += src[c];
          } else {
            memcpy(dst, src, (size_t)C * sizeof(float));
          }
          have = 1;
        }
      }
      filter_grad(&kn, dU0, xsF, O, C, dw->data);
    } else {
      for (long ci = 0; ci < g.chunks; ci++) {
        const wchunk ch = make_chunk(&g, ci);
        const int Tc = ch.Tc;
        const size_t xsV = xstride((size_t)C * Tc), xsD = xstride((size_t)O * Tc);
        const float beta = ci == 0 ? 0.0f : 1.0f;
        const long cunits = phase_units(&g, &ch, C), units = cunits + phase_units(&g, &ch, O);
        start_chunk(&g, &ch, P);
#pragma omp for schedule(static)
        for (long u = 0; u < units; u++) {
          if (u < cunits)
            input_units(&kn, &g, &ch, x->data, C, u, u + 1, P, V, NULL, NULL);
          else
            input_units(&kn, &g, &ch, dy->data, O, u - cunits, u - cunits + 1, P, E, D,
                        planesum);
        }
        if (parts == 1) {
#pragma omp for schedule(static)
          for (int xi = 0; xi < 16; xi++)
            backward_gemms(xi, O, C, Tc, D, xsD, V, xsV, E, U, dU, xsF, beta);
        } else {
          /* Sliced: dU by rows of O, then (those read all of V, hence the
           * barrier in between) dx by columns of tiles. */
#pragma omp for schedule(static)
          for (int it = 0; it < 16 * parts; it++) {
            const int xi = it / parts, p = it % parts;
            const int o0 = part_lo(O, p, parts), o1 = part_lo(O, p + 1, parts);
            if (o1 > o0)
              ibx_gemm(0, 1, o1 - o0, C, Tc, 1.0f,
                          D + xi * xsD + (size_t)o0 * Tc, Tc, V + xi * xsV, Tc, beta,
                          dU + xi * xsF + (size_t)o0 * C, C);
          }
          if (want_dx) {
#pragma omp for schedule(static)
            for (int it = 0; it < 16 * parts; it++) {
              const int xi = it / parts, p = it % parts;
              const int j0 = part_lo(Tc, p, parts), j1 = part_lo(Tc, p + 1, parts);
              if (j1 > j0)
                ibx_gemm(1, 0, C, j1 - j0, O, 1.0f,
                            U + rot_xi(xi) * xsF, C, E + xi * xsD + j0, Tc, 0.0f,
                            V + xi * xsV + j0, Tc);
            }
          }
        }
        if (want_dx) {
#pragma omp for schedule(static)
          for (long u = 0; u < cunits; u++)
            output_units(&kn, &g, &ch, V, C, u, u + 1, P, NULL, dx->data);
        }
      }
      filter_grad(&kn, dU, xsF, O, C, dw->data);
    }
    /* the plane sums are complete: both branches passed a barrier since */
    if (fuse_db)
      bias_grad_from_planes(planesum, N, O, db->data);
  }
  if (want_db && !fuse_db)
    ibx_conv_bias_grad(dy, db);
  return IBX_OK;
}
