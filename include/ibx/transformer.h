/* The transformer text classifier: a BERT-style post-LN encoder over token
 * ids with a [CLS] pooled classifier.
 *
 *   e   = LayerNorm(tok[ids] + pos[t])          embedding.{token,position,norm}
 *   h0  = dropout(e)
 *   for l < layers (nn.TransformerEncoderLayer, norm_first = False, GELU):
 *     u      = LayerNorm1(h_l + dropout(MHA(h_l, key_padding_mask)))
 *     h_l+1  = LayerNorm2(u + dropout(linear2(dropout(gelu(linear1(u))))))
 *   pooled = tanh(pooler(h_L[:, 0]))               BERT's pooler on [CLS]
 *            (pool_mean: on the mean of h_L over the sequence instead)
 *   logits = classifier(dropout(pooled))
 *
 * Parameters live in one ibx_params store (one value buffer, one gradient
 * buffer) under PyTorch's names: embedding.token.weight,
 * embedding.position.weight, embedding.norm.{weight,bias},
 * encoder.layers.<l>.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,
 * out_proj.bias}, encoder.layers.<l>.{linear1,linear2,norm1,norm2}.{weight,
 * bias}, pooler.{weight,bias}, classifier.{weight,bias} (with cfg.mlm instead:
 * mlm.dense.{weight,bias}, mlm.norm.{weight,bias}, mlm.decoder.bias)
 * (scripts/make_golden_transformer.py builds the same module in PyTorch).
 *
 * A batch is ids [batch, stride] (row n's first lengths[n] entries are the
 * sequence, [CLS] first; the rest is ignored) and lengths [batch]. Forward
 * runs on T = the longest length in the batch; positions t >= lengths[n] are
 * padding (masked keys). Hidden states are [batch, T, d_model]. */
#ifndef IBX_TRANSFORMER_H
#define IBX_TRANSFORMER_H

#include <stdint.h>

#include "ibx/params.h"
#include "ibx/tensor.h"

typedef struct {
  int layers;      /* encoder layers (2) */
  int d_model;     /* hidden size (128) */
  int heads;       /* attention heads, dividing d_model (4) */
  int d_ff;        /* feed-forward size (512) */
  int max_len;     /* longest sequence incl. [CLS]/[SEP] (128) */
  int vocab;       /* token ids are in [0, vocab) */
  int num_classes; /* >= 2 */
  float dropout;   /* hidden, attention and classifier dropout (0.1) */
  int pool_mean;   /* 0: the pooler reads [CLS] (BERT); 1: the mean over the
                      sequence's positions (an ablation) */
  uint64_t seed;   /* initialisation */
  int mlm;         /* 1: a masked-language model (pre-training): BERT's LM head
                      (mlm.dense, mlm.norm, mlm.decoder.bias; the decoder
                      weight is embedding.token.weight) instead of the pooler
                      and classifier; num_classes is then ignored */
} ibx_transformer_config;

void ibx_transformer_config_defaults(ibx_transformer_config *c);
/* IBX_ERR_ARG with a one-line message naming the bad key (model.<key>). */
int ibx_transformer_config_check(const ibx_transformer_config *c);

typedef struct ibx_transformer ibx_transformer;

/* Validates, allocates activations for max_batch x max_len and initialises
 * (BERT: weights N(0, 0.02), biases 0, LayerNorm 1/0). */
int ibx_transformer_create(const ibx_transformer_config *c, int max_batch, ibx_transformer **out);
void ibx_transformer_free(ibx_transformer *t);
ibx_params *ibx_transformer_params(ibx_transformer *t);
const ibx_transformer_config *ibx_transformer_config_of(const ibx_transformer *t);

/* Forward. ids/stride/lengths as above (lengths in 1..max_len, ids in
 * [0, vocab): IBX_ERR_ARG otherwise). tok_emb, when non-NULL, replaces the
 * token-embedding lookup: [batch, T, d_model] with T the longest length
 * (gradient x input and integrated gradients on the embeddings); ids are
 * then not read (may be NULL). training turns dropout on; its masks are a
 * pure function of noise_seed. Logits [batch, classes] (valid until the next
 * forward) go to *logits if non-NULL. */
int ibx_transformer_forward(ibx_transformer *t, const int32_t *ids, int stride,
                            const int *lengths, const float *tok_emb, int batch, int training,
                            uint64_t noise_seed, ibx_tensor *logits);
/* Sequence length T of the last forward. */
int ibx_transformer_seq_len(const ibx_transformer *t);
/* Token embeddings of the last forward, [batch, T, d_model]. */
int ibx_transformer_token_embeddings(const ibx_transformer *t, ibx_tensor *out);

/* Backward from dlogits [batch, classes]. Parameter gradients accumulate
 * (unless turned off by ibx_transformer_set_param_grads); d_tok_emb, when
 * non-NULL, receives dL/d(token embeddings) [batch, T, d_model]. */
int ibx_transformer_backward(ibx_transformer *t, const float *dlogits, float *d_tok_emb);

/* Gradient-ready hook, as ibx_model_set_grad_hook: called during backward
 * whenever every gradient at offset >= ready_from is final. */
typedef void (*ibx_transformer_grad_fn)(void *ctx, size_t ready_from);
void ibx_transformer_set_grad_hook(ibx_transformer *t, ibx_transformer_grad_fn fn, void *ctx);
/* on = 0: backward skips parameter gradients (attribution, frozen weights). */
void ibx_transformer_set_param_grads(ibx_transformer *t, int on);

/* Intercept on the hidden states after encoder layer `layer` (0: the
 * embedding output, 1..layers: after that layer), for the per-sample
 * bottleneck. forward(ctx, h) may rewrite h [batch, T, d_model] in place;
 * backward(ctx, dh) receives dL/d(rewritten h) and must turn it in place
 * into dL/d(original h). With stop != 0 backward ends there (dh is all that
 * is computed; d_tok_emb is not written). layer < 0 removes it. */
typedef int (*ibx_transformer_icpt_fwd)(void *ctx, ibx_tensor *h);
typedef int (*ibx_transformer_icpt_bwd)(void *ctx, ibx_tensor *dh);
int ibx_transformer_set_intercept(ibx_transformer *t, int layer, ibx_transformer_icpt_fwd fwd,
                                  ibx_transformer_icpt_bwd bwd, void *ctx, int stop);
/* Hidden states after layer `layer` (0..layers) of the last forward, before
 * any intercept rewrote them: [batch, T, d_model]. */
int ibx_transformer_hidden(const ibx_transformer *t, int layer, ibx_tensor *out);

/* Forward from hidden states: h [batch, T, d_model] stands for the states
 * after layer `layer` (0..layers) and only the layers after it run (the
 * per-sample bottleneck feeds its Z here; nothing before depends on it).
 * lengths as in ibx_transformer_forward, each <= T. Then
 * ibx_transformer_backward_hidden gives dL/dh [batch, T, d_model]. */
int ibx_transformer_forward_from(ibx_transformer *t, int layer, const float *h, int T,
                                 const int *lengths, int batch, int training,
                                 uint64_t noise_seed, ibx_tensor *logits);
int ibx_transformer_backward_hidden(ibx_transformer *t, const float *dlogits, float *dh);

/* ---- masked-language model (cfg.mlm) ------------------------------------
 * targets [batch, stride]: at position p < lengths[n] the id to predict
 * there (the original token of a masked position), or -1 for none. The
 * encoder runs on ids (already masked by the caller) as in
 * ibx_transformer_forward; the head runs on the M positions with a target:
 *   y = LayerNorm(gelu(mlm.dense(h_L))), logits = y E^T + mlm.decoder.bias
 * (E = embedding.token.weight, tied) and the loss is the mean cross-entropy
 * over those M positions (0 when M = 0). Backward (ibx_transformer_backward_mlm)
 * is that loss's; parameter gradients accumulate, the grad hook fires as for
 * the classifier. */
typedef struct {
  float loss;    /* mean cross-entropy over the predicted positions */
  long correct;  /* positions whose arg-max is the target */
  long count;    /* predicted positions (M) */
} ibx_mlm_stats;
int ibx_transformer_forward_mlm(ibx_transformer *t, const int32_t *ids, int stride,
                                const int *lengths, const int32_t *targets, int batch,
                                int training, uint64_t noise_seed, ibx_mlm_stats *stats);
int ibx_transformer_backward_mlm(ibx_transformer *t);

/* Attention of the last layer's [CLS] query over the keys, averaged over the
 * heads: out [batch, T] (padded keys 0). */
int ibx_transformer_cls_attention(const ibx_transformer *t, float *out);

#endif
