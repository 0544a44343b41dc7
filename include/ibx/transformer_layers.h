/* Transformer layers with explicit forward and backward passes: token and
 * learned position embeddings, LayerNorm, GELU, multi-head self-attention
 * with a key padding mask, and the position-wise feed-forward block.
 *
 * Conventions are those of ibx/layers.h: tensors are float32 row-major views,
 * shapes are checked (IBX_ERR_SHAPE with a message), backward writes the
 * input gradient (dx may be NULL when nobody needs it) and *accumulates*
 * parameter gradients (+=); a NULL parameter gradient (frozen weights, e.g.
 * attribution) skips it. Sequences are [N, T, D] tensors (ibx_t3): batch,
 * positions, features. Residual adds use ibx_add_forward, dropout
 * ibx_dropout_forward (ibx/layers.h).
 *
 * Padding: key_pad[n*T + t] != 0 marks position t of sample n as padding
 * (PyTorch's key_padding_mask, True = ignore). Padded keys get attention
 * weight exactly 0. A sample whose keys are all padded (PyTorch returns NaN)
 * gets all-zero attention weights, so its attention output is the output
 * projection's bias, and no gradient flows through the weights. */
#ifndef IBX_TRANSFORMER_LAYERS_H
#define IBX_TRANSFORMER_LAYERS_H

#include <stdint.h>

#include "ibx/layers.h"
#include "ibx/memory.h"
#include "ibx/tensor.h"

/* ---- token embedding: ids [n] in [0, V), w [V, D] -> y [n, D] -------------
 * An id outside [0, V) is IBX_ERR_ARG naming it. Backward accumulates dy
 * rows into dw rows (no gradient for the ids). */
int ibx_embedding_forward(const int32_t *ids, int n, const ibx_tensor *w, ibx_tensor *y);
int ibx_embedding_backward(const int32_t *ids, int n, const ibx_tensor *dy, ibx_tensor *dw);

/* ---- learned position embedding: y[n,t,:] = x[n,t,:] + pos[t,:] -----------
 * x, y [N, T, D], pos [P, D] with P >= T (max_len). y may alias x; dx may
 * alias dy or be NULL; dpos accumulates (may be NULL). */
int ibx_position_add_forward(const ibx_tensor *x, const ibx_tensor *pos, ibx_tensor *y);
int ibx_position_add_backward(const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *dpos);

/* ---- LayerNorm over the last dim D of x (any shape, R = numel / D rows) ---
 * y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance as
 * PyTorch. Mean and variance are two-pass in double, so a large common
 * offset does not cancel the variance. mean, rstd [R] are written by forward
 * (mean may be NULL); backward needs rstd and x (it recomputes the mean in
 * double), (so y may alias x only when no
 * backward follows). dx may alias dy. */
int ibx_layernorm_forward(float eps, const ibx_tensor *x, const ibx_tensor *gamma,
                          const ibx_tensor *beta, ibx_tensor *y, float *mean, float *rstd);
int ibx_layernorm_backward(const ibx_tensor *x, const ibx_tensor *gamma, const float *rstd, const ibx_tensor *dy, ibx_tensor *dx,
                           ibx_tensor *dgamma, ibx_tensor *dbeta);

/* ---- GELU, exact (erf) form, PyTorch's default ----------------------------
 * y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). Backward needs the input x:
 * dx = dy * (Phi(x) + x phi(x)). y may alias x only if backward is not
 * needed; dx may alias dy. */
int ibx_gelu_forward(const ibx_tensor *x, ibx_tensor *y);
int ibx_gelu_backward(const ibx_tensor *x, const ibx_tensor *dy, ibx_tensor *dx);

/* ---- multi-head self-attention (nn.MultiheadAttention, batch_first) -------
 * x [N, T, D] -> y [N, T, D], heads H dividing D, head size hd = D / H:
 *   [q k v] = x in_w^T + in_b            in_w [3D, D], in_b [3D]
 *   P_h = softmax(q_h k_h^T / sqrt(hd))  masked by key_pad, per head
 *   ctx_h = dropout(P_h) v_h             attention dropout (training only)
 *   y = ctx out_w^T + out_b              out_w [D, D], out_b [D]
 * The softmax subtracts the row maximum over unmasked keys (no overflow for
 * large logits). saved holds what backward needs; the caller owns it and
 * sizes it with ibx_mha_saved_floats. Backward uses scratch s. */
typedef struct {
  int d_model, heads;
  ibx_dropout attn_dropout; /* p = 0: none */
} ibx_mha;

typedef struct {
  float *qkv;   /* [N, T, 3D] */
  float *probs; /* [N, H, T, T]: the softmax (before dropout) */
  float *drop;  /* [N, H, T, T]: after dropout; unused when p = 0 or not training */
  float *ctx;   /* [N, T, D] */
} ibx_mha_saved;

/* Floats of each saved buffer for N x T (qkv, probs, drop, ctx). */
void ibx_mha_saved_sizes(const ibx_mha *L, int N, int T, size_t sizes[4]);
int ibx_mha_forward(const ibx_mha *L, int training, const ibx_tensor *x, const uint8_t *key_pad,
                    const ibx_tensor *in_w, const ibx_tensor *in_b, const ibx_tensor *out_w,
                    const ibx_tensor *out_b, ibx_tensor *y, const ibx_mha_saved *saved);
/* dx (may be NULL) is written; d*_w, d*_b accumulate (each may be NULL). */
int ibx_mha_backward(const ibx_mha *L, int training, const ibx_tensor *x, const uint8_t *key_pad,
                     const ibx_tensor *in_w, const ibx_tensor *out_w, const ibx_mha_saved *saved,
                     const ibx_tensor *dy, ibx_tensor *dx, ibx_tensor *din_w, ibx_tensor *din_b,
                     ibx_tensor *dout_w, ibx_tensor *dout_b, ibx_scratch *s);

/* ---- position-wise feed-forward (TransformerEncoderLayer's linear1 ->
 * GELU -> dropout -> linear2): x [R, D] -> y [R, D] through [R, F].
 * h (pre-activation) and a (after GELU and dropout) [R, F] are saved by
 * forward for backward. Backward uses scratch s. */
typedef struct {
  int d_model, d_ff;
  ibx_dropout dropout; /* after the activation; p = 0: none */
} ibx_ffn;

int ibx_ffn_forward(const ibx_ffn *L, int training, const ibx_tensor *x, const ibx_tensor *w1,
                    const ibx_tensor *b1, const ibx_tensor *w2, const ibx_tensor *b2,
                    ibx_tensor *y, float *h, float *a);
int ibx_ffn_backward(const ibx_ffn *L, int training, const ibx_tensor *x, const ibx_tensor *w1,
                     const ibx_tensor *w2, const float *h, const float *a, const ibx_tensor *dy,
                     ibx_tensor *dx, ibx_tensor *dw1, ibx_tensor *db1, ibx_tensor *dw2,
                     ibx_tensor *db2, ibx_scratch *s);

#endif
