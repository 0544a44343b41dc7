/* Attribution methods behind one interface: image -> heatmap, so metrics
 * (degradation, bounding box; ibx/attrib_metrics.h) never special-case a
 * method. Inputs are normalised images x [C,H,W] as the model sees them;
 * the heatmap is [H*W] (higher = more relevant). docs/attribution.md
 * defines every method and its constants:
 *
 *   random                 uniform noise (Philox, per image id)
 *   gradient               sum_c dS/dx                        S: target logit
 *   saliency               max_c |dS/dx|                     (Simonyan et al.)
 *   grad_x_input           sum_c x * dS/dx
 *   integrated_gradients   sum_c (x - x0) * mean_k dS/dx(x0 + k/m (x - x0)),
 *                          k = 1..m (m = 50), x0 = 0 (the dataset mean)
 *   smoothgrad             sum_c |mean_n dS/dx(x + N(0, (0.15 (max x - min x))^2))|, 50 draws
 *   guided_backprop        sum_c |dS/dx| with the guided ReLU rule
 *   gradcam                relu(sum_k w_k A_k), w_k = mean dS/dA_k, A: gradcam layer,
 *                          bilinear to the input
 *   guided_gradcam         guided_backprop * gradcam
 *   occlusion_8/_14        drop of the target probability when a window of
 *                          round(8 or 14 * H / 224) pixels (stride = size) is set to
 *                          the image's per-channel mean
 *   iba_per_sample_beta1/10/100   per-sample IBA (ibx/iba.h) at the IBA layer
 *   iba_readout            readout bottleneck (ibx/iba.h), trained beforehand and
 *                          attached with ibx_attributor_set_readout */
#ifndef IBX_ATTRIBUTION_H
#define IBX_ATTRIBUTION_H

#include <stdint.h>

#include "ibx/iba.h"
#include "ibx/model.h"

typedef struct {
  const char *gradcam_layer; /* default "features.42" (VGG-16's last conv block) */
  const char *iba_layer;     /* default "features.22" (VGG-16 block 3, as conv3_3) */
  int ig_steps;              /* 50 */
  int smoothgrad_samples;    /* 50 */
  float smoothgrad_noise;    /* 0.15 of the input's range */
  uint64_t seed;             /* random, smoothgrad and IBA noise */
  int batch;                 /* forward batch, <= the model's max_batch (10) */
  ibx_iba_config iba;        /* beta is set per method */
} ibx_attr_config;
void ibx_attr_default(ibx_attr_config *cfg);

int ibx_attr_method_count(void);
const char *ibx_attr_method_name(int method);
/* Index of a method by name; IBX_ERR_ARG naming it (and the list) if none. */
int ibx_attr_find(const char *name, int *method);
/* 1 for the methods that need the IBA statistics (ibx_attributor_iba). */
int ibx_attr_needs_iba(int method);
/* 1 for iba_readout (needs a trained readout). */
int ibx_attr_is_readout(int method);

typedef struct ibx_attributor ibx_attributor;
/* cfg->batch and cfg->iba.batch must not exceed the model's max_batch. The
 * model is used, not owned. */
int ibx_attributor_create(ibx_model *m, const ibx_attr_config *cfg, ibx_attributor **out);
void ibx_attributor_free(ibx_attributor *a);
/* The per-sample bottleneck (for its statistics: ibx_iba_add_samples ...). */
ibx_iba *ibx_attributor_iba(ibx_attributor *a);
/* The trained readout bottleneck iba_readout uses (not owned). */
void ibx_attributor_set_readout(ibx_attributor *a, ibx_readout *r);

/* heat [H*W] of method for input x and class target; image_id seeds the
 * random methods so a heatmap does not depend on which rank computes it. */
int ibx_attribute(ibx_attributor *a, int method, const float *x, int target, long image_id,
                  float *heat);

/* Building blocks, exposed for tests: dS/dx of the target logit for n
 * inputs (chunked to the model's max_batch) into dx [n, C*H*W], and the
 * target logits into s (may be NULL). */
int ibx_attr_input_grad(ibx_attributor *a, const float *x, int n, int target, float *dx,
                        float *s);
/* Softmax probability of target for n inputs into p [n]. */
int ibx_attr_target_prob(ibx_model *m, const float *x, int n, int target, float *p);

#endif
