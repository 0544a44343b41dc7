/* Shared between the conv2d algorithms; not part of the public API.
 * Shapes are validated by the dispatcher in conv2d.c before these run. */
#ifndef IBX_CONV_INTERNAL_H
#define IBX_CONV_INTERNAL_H

#include <omp.h>

#include "ibx/layers.h"

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

int ibx_winograd_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                         const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s);
int ibx_winograd_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                          ibx_scratch *s);

void ibx_im2col(const float *x, int C, int H, int W, int KH, int KW, int stride, int ph, int pw,
                int OH, int OW, float *cols);
void ibx_col2im(const float *cols, int C, int H, int W, int KH, int KW, int stride, int ph,
                int pw, int OH, int OW, float *x);
/* db[o] += sum over n, h, w of dy[n][o]. */
void ibx_conv_bias_grad(const ibx_tensor *dy, ibx_tensor *db);

/* Threads to use over `work` independent items (never more than items). */
static inline int ibx_conv_threads(int work) {
  int t = omp_get_max_threads();
  return t < work ? t : (work > 0 ? work : 1);
}
static inline int ibx_conv_thread_id(void) { return omp_get_thread_num(); }

#endif
