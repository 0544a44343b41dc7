/* Scalar attention-score quantisation of AIB-qt (Lai et al., IJCAI 2021,
 * Eqs. 9-10): every score a_e is replaced by the nearest of Q learnable
 * anchor values v_j (ties: the lowest j), with the straight-through gradient
 * and the VQ-VAE loss pair
 *     vq     = lambda_q * mean_e (sg[a_e] - v_k(e))^2   (moves the anchors)
 *     commit = lambda_c * mean_e (a_e - sg[v_k(e)])^2   (moves the scores)
 * The means run over all n scores (F.mse_loss in the authors' code). The
 * straight-through rule passes the gradient of a_q to a unchanged and none
 * to the anchors (a_q = a + sg[v_k - a]); only the vq term moves anchors. */
#ifndef IBX_QUANTIZE_H
#define IBX_QUANTIZE_H

#include <stddef.h>

/* aq[e] = anchors[idx[e]], idx[e] = argmin_j |a[e] - anchors[j]|.
 * *mse (may be NULL) receives mean_e (a[e] - aq[e])^2. */
int ibx_quantize_forward(const float *a, size_t n, const float *anchors, int Q, float *aq,
                         int *idx, double *mse);

/* da[e] = daq[e] (+ 2 lambda_c / n * (a[e] - aq[e]) when with_loss) is
 * written (daq may be NULL: zero); danchors[j] += 2 lambda_q / n *
 * sum_{e: idx[e] = j} (aq[e] - a[e]) when with_loss (danchors may be NULL). */
int ibx_quantize_backward(const float *a, const float *aq, const int *idx, size_t n, int Q,
                          const float *daq, float lambda_q, float lambda_c, int with_loss,
                          float *da, float *danchors);

#endif
