/* Winograd F(2x2,3x3) convolution -- placeholder until implemented.
 * IBX_HAVE_WINOGRAD stays 0, so AUTO never dispatches here. */
#include "conv_internal.h"
#include "ibx/error.h"

int ibx_winograd_forward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                         const ibx_tensor *b, ibx_tensor *y, ibx_scratch *s) {
  (void)L, (void)x, (void)w, (void)b, (void)y, (void)s;
  return ibx_fail(IBX_ERR_ARG, "conv2d: Winograd is not built in");
}

int ibx_winograd_backward(const ibx_conv2d *L, const ibx_tensor *x, const ibx_tensor *w,
                          const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dw, ibx_tensor *db,
                          ibx_scratch *s) {
  (void)L, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)db, (void)s;
  return ibx_fail(IBX_ERR_ARG, "conv2d: Winograd is not built in");
}
