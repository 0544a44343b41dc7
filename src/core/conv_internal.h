/* Shared between the conv2d algorithms; not part of the public API.
 * Shapes are validated by the dispatcher in conv2d.c before these run. */
#ifndef IBX_CONV_INTERNAL_H
#define IBX_CONV_INTERNAL_H

#include <omp.h>
#include <stdint.h>

#include "ibx/layers.h"
#include "isa_clones.h"

/* 1: conv2d_winograd.c provides the functions below and AUTO uses them for
 * 3x3, stride-1, pad-1 layers (build with -DIBX_HAVE_WINOGRAD=0 to force
 * im2col everywhere). */
#ifndef IBX_HAVE_WINOGRAD
#define IBX_HAVE_WINOGRAD 1
#endif
/* AUTO picks Winograd only from this many input channels: with fewer (an
 * RGB or grey first layer) the transforms' memory traffic costs more than
 * the multiplies saved, and im2col is faster. */
#ifndef IBX_WINOGRAD_MIN_CHANNELS
#define IBX_WINOGRAD_MIN_CHANNELS 8
#endif

/* planes: NULL, or [N*O] batch-norm moments of the output planes, computed
 * after the output transform while the planes are in cache where the
 * algorithm's blocks are whole planes: *planes_done says whether they were
 * (else the caller computes them). */
int ibx_winograd_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                         const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s,
                         ibx_bn_moments *planes, int *planes_done);
int ibx_winograd_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                          ibx_scratch *s);

void ibx_im2col(const float *x, int C, int H, int W, int KH, int KW, int stride, int ph, int pw,
                int OH, int OW, float *cols);
void ibx_col2im(const float *cols, int C, int H, int W, int KH, int KW, int stride, int ph,
                int pw, int OH, int OW, float *x);
/* AVX-512 Winograd transforms (conv2d_winograd_avx512.c), built where
 * IBX_AVX512_KERNELS and used when ibx_cpu_use_avx512() (isa_clones.h) says
 * the CPU has AVX-512F and IBX_CPU_NO_AVX512 is unset; same arguments and results as the portable ones in
 * conv2d_winograd.c (the tile-row input transform has no AVX-512 twin), the
 * filter ones over pairs p0 .. p1-1 of o * C + c. */
void ibx_wino_dy_tiles_avx512(const float *P, int Wp, int TW, float *dst, size_t xs);
void ibx_wino_output_tiles_avx512(const float *src, size_t xs, int TW, float *plane, int H, int W,
                                  int ty, float bias);
void ibx_wino_filter_avx512(const float *w, long p0, long p1, float *U, size_t xs);

/* Small planes (W < 32: fewer than 16 tiles per tile row, where the tile-row
 * kernels above run mostly masked or scalar): the tile transforms take 16
 * consecutive tiles of a chunk at a time, which may span tile rows and
 * images, gathering their inputs straight from the planes (no padded copy)
 * and scattering outputs back. ibx_wino_lanes says where each of the 16
 * tiles of such a group lies; a chunk's groups are built once per chunk
 * (conv2d_winograd.c). Same expressions in the same order as the tile-row
 * kernels, so the same results. */
typedef struct {
  int32_t img[16]; /* image of lane l's tile, counted from the chunk's first */
  int32_t off[16]; /* 2r * W + 2k: the tile's top-left output pixel in its plane */
  uint16_t row[4]; /* lanes whose input row 2r - 1 + i lies in the plane, i = 0 .. 3 */
  uint16_t col[4]; /* lanes whose input column 2k - 1 + j lies in the plane */
  uint16_t live;   /* lanes holding a tile (the chunk's last group may be short) */
} ibx_wino_lanes;
/* plane0: the channel's plane in the chunk's first image; img_stride: floats
 * from one image's plane to the next (channels * H * W); dst / src: the
 * group's first tile in the transform-domain plane, xi planes xs apart. */
void ibx_wino_input_group_avx512(const float *plane0, long img_stride, int W,
                                 const ibx_wino_lanes *L, float *dst, size_t xs);
void ibx_wino_dy_group_avx512(const float *plane0, long img_stride, int W, const ibx_wino_lanes *L,
                              float *dst, size_t xs);
void ibx_wino_output_group_avx512(const float *src, size_t xs, const ibx_wino_lanes *L,
                                  float *plane0, long img_stride, int W, float bias);
void ibx_wino_filter_grad_avx512(const float *dU, size_t xs, long p0, long p1, float *dw);

/* db[o] += sum over n, h, w of dy[n][o]. */
void ibx_conv_bias_grad(const ibx_tensor *dy, ibx_tensor *db);

/* Threads to use over `work` independent items (never more than items). */
static inline int ibx_conv_threads(int work) {
  int t = omp_get_max_threads();
  return t < work ? t : (work > 0 ? work : 1);
}
static inline int ibx_conv_thread_id(void) { return omp_get_thread_num(); }

#endif
