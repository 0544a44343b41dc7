/* CIFAR-style VGG builder (see include/ibx/vgg.h). */
#include "ibx/vgg.h"

#include "ibx/error.h"

const int ibx_vgg16_cfg[18] = {64,  64,  IBX_VGG_POOL, 128, 128, IBX_VGG_POOL,
                               256, 256, 256,          IBX_VGG_POOL, 512, 512,
                               512, IBX_VGG_POOL,      512, 512, 512, IBX_VGG_POOL};

int ibx_vgg_build(ibx_seq *s, const int *cfg, int cfg_len, float width_mult, int batch_norm,
                  int num_classes) {
  if (!(width_mult > 0.0f) || num_classes <= 0 || cfg_len <= 0)
    return ibx_fail(IBX_ERR_ARG, "vgg: bad config (width %g, classes %d, %d layers)",
                    (double)width_mult, num_classes, cfg_len);
  for (int i = 0; i < cfg_len; i++) {
    if (cfg[i] == IBX_VGG_POOL) {
      IBX_TRY(ibx_seq_add_maxpool(s, 2, 2));
      continue;
    }
    int width = (int)(cfg[i] * width_mult);
    if (width < 1)
      width = 1;
    /* Batch norm's shift makes the conv bias redundant, but torchvision's and
     * the reference benchmark's VGG keep it (14,728,266 parameters for
     * VGG-16-BN, 10 classes), so we keep it too. */
    IBX_TRY(ibx_seq_add_conv(s, width, 3, 1, 1, 1));
    if (batch_norm)
      IBX_TRY(ibx_seq_add_batchnorm(s));
    IBX_TRY(ibx_seq_add_relu(s));
  }
  IBX_TRY(ibx_seq_add_flatten(s));
  return ibx_seq_add_linear(s, num_classes, 1);
}
