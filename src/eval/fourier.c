/* Frequency filters of the interpretability score (include/ibx/interpret.h):
 * per channel, 2-D DFT (FFTW, single precision), keep a centred disc (low
 * pass) or its complement (high pass) of the shifted spectrum, inverse DFT,
 * real part -- the construction of Wang et al. (CVPR 2020), which the AIB
 * paper cites for its radius. */
#include <fftw3.h>
#include <math.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/interpret.h"

/* Signed frequency of DFT bin k of n: its offset from the centre n/2 after
 * fftshift moves bin 0 there. */
static int centred(int k, int n) { return (k + n / 2) % n - n / 2; }

double ibx_fourier_radius(int h, int w, int ky, int kx) {
  const double dy = centred(ky, h), dx = centred(kx, w);
  return sqrt(dy * dy + dx * dx);
}

int ibx_fourier_filter(float *img, int c, int h, int w, double r, int low_pass) {
  if (!img || c < 1 || h < 1 || w < 1)
    return ibx_fail(IBX_ERR_ARG, "fourier filter: bad image %d x %d x %d", c, h, w);
  if (!(r >= 0))
    return ibx_fail(IBX_ERR_ARG, "fourier filter: radius %g must be >= 0", r);
  const size_t hw = (size_t)h * w;
  fftwf_complex *buf = fftwf_malloc(hw * sizeof *buf);
  if (!buf)
    return ibx_fail(IBX_ERR_NOMEM, "fourier filter: out of memory (%d x %d)", h, w);
  fftwf_plan fwd, bwd;
  /* FFTW's planner is not thread-safe; execution on a plan is */
#pragma omp critical(ibx_fftw_planner)
  {
    fwd = fftwf_plan_dft_2d(h, w, buf, buf, FFTW_FORWARD, FFTW_ESTIMATE);
    bwd = fftwf_plan_dft_2d(h, w, buf, buf, FFTW_BACKWARD, FFTW_ESTIMATE);
  }
  int rc = fwd && bwd ? IBX_OK : ibx_fail(IBX_ERR_NUMERIC, "fourier filter: FFTW planning failed");
  for (int ch = 0; rc == IBX_OK && ch < c; ch++) {
    float *plane = img + (size_t)ch * hw;
    for (size_t i = 0; i < hw; i++)
      buf[i][0] = plane[i], buf[i][1] = 0.0f;
    fftwf_execute(fwd);
    for (int ky = 0; ky < h; ky++)
      for (int kx = 0; kx < w; kx++) {
        const int inside = ibx_fourier_radius(h, w, ky, kx) < r;
        if (inside != low_pass) {
          buf[(size_t)ky * w + kx][0] = 0.0f;
          buf[(size_t)ky * w + kx][1] = 0.0f;
        }
      }
    fftwf_execute(bwd); /* unnormalised: divide by h*w */
    for (size_t i = 0; i < hw; i++)
      plane[i] = buf[i][0] / (float)hw;
  }
#pragma omp critical(ibx_fftw_planner)
  {
    if (fwd)
      fftwf_destroy_plan(fwd);
    if (bwd)
      fftwf_destroy_plan(bwd);
  }
  fftwf_free(buf);
  return rc;
}
