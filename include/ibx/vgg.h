/* CIFAR-style VGG (as in Learn To Pay Attention / AIB): conv3x3-BN-ReLU
 * stacks with max-pools, then a linear classifier on the flattened map. */
#ifndef IBX_VGG_H
#define IBX_VGG_H

#include "ibx/sequential.h"

#define IBX_VGG_POOL 0 /* cfg entry meaning a 2x2 max-pool */

/* VGG-16: 64,64,M,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M */
extern const int ibx_vgg16_cfg[18];

/* Appends the feature stack (widths scaled by width_mult, at least 1) and
 * the classifier (flatten + linear to num_classes) to s. */
int ibx_vgg_build(ibx_seq *s, const int *cfg, int cfg_len, float width_mult, int batch_norm,
                  int num_classes);

#endif
