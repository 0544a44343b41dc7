/* Test hooks of the model (ibx/model.h) used by the finite-difference and
 * golden tests; not for training code. */
#ifndef IBX_MODEL_TESTING_H
#define IBX_MODEL_TESTING_H

#include "ibx/model.h"

/* Training-mode forwards take their reparameterisation noise from these
 * arrays instead of Philox: eps_attention [batch * map size] for the
 * attention map a, eps_z [batch * K] for the latent z (either may be NULL
 * for Philox). The arrays must outlive the forwards that use them. */
void ibx_model_test_set_noise(ibx_model *m, const float *eps_attention, const float *eps_z);

/* aib-qt: with on != 0, the next forward records the quantiser's state (the
 * continuous map a0, the anchor index of every score, the anchor values q0)
 * and every later forward uses the straight-through surrogate
 *     a_q = a + (q0 - a0),  vq = lambda_q mean (a0 - v_idx)^2,
 *     commit = lambda_c mean (a - q0)^2,
 * whose values equal the real ones at the recorded point and whose exact
 * derivatives are the straight-through gradients the backward computes, so
 * finite differences can check them. 0 returns to the real quantiser. */
void ibx_model_test_freeze_quantiser(ibx_model *m, int on);

/* An intermediate of the last forward by name ("attention_mean",
 * "attention_logvar", "attention", "attention_q", "z_mean", "z_logvar", "z",
 * "g", "compat<i>", ...; which exist depends on the head), as a view
 * [d0,d1,d2,d3]. IBX_ERR_ARG when the head has none of that name. */
int ibx_model_test_tensor(const ibx_model *m, const char *name, ibx_tensor *t);

#endif
