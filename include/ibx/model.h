/* Models: a backbone (VGG or WRN) plus a head (plain, gap, dvib, att2, att3,
 * pan, abn, aib, aib-qt), behind one interface that the trainer, evaluation
 * and attribution code use without special-casing any model.
 *
 * All trainable parameters live in one ibx_params store (one contiguous value
 * buffer, one gradient buffer); non-trainable state (batch-norm running
 * statistics) in a second store. Parameter names follow PyTorch conventions
 * ("features.0.weight") so checkpoints read naturally with h5py. */
#ifndef IBX_MODEL_H
#define IBX_MODEL_H

#include <stdint.h>

#include "ibx/layers.h"
#include "ibx/params.h"
#include "ibx/sequential.h"
#include "ibx/tensor.h"
#include "ibx/transformer.h"

/* The loss and its parts, each already multiplied by its weight
 * (total = ce + kl + vq + commit + aux; parts a model lacks are 0). */
typedef struct {
  float total;
  float ce;     /* cross-entropy, mean over the batch */
  float kl;     /* beta * KL(p(z|x) || N(0, I)) */
  float vq;     /* lambda_q * ||sg[a] - a_q||^2 (aib-qt) */
  float commit; /* lambda_c * ||a - sg[a_q]||^2 (aib-qt) */
  float aux;    /* added field: the attention branch's cross-entropy (abn) */
} ibx_loss_parts;

/* The head registry: every head, as X(identifier, "name"), in the order the
 * docs, config choices and messages list them. Adding a head: one line here
 * plus src/models/head_<name>.c defining `const head_ops ibx_head_<identifier>`
 * (src/models/model_internal.h); the config schema's choices, validation
 * messages and the CLI's lists follow from this list. SEP goes between
 * entries (IBX_MODEL_HEAD_CHOICES passes "|"). */
#define IBX_MODEL_HEADS(X, SEP)                                                                   \
  X(plain, "plain") SEP X(gap, "gap") SEP X(dvib, "dvib") SEP X(att2, "att2") SEP X(att3, "att3") \
  SEP X(pan, "pan") SEP X(abn, "abn") SEP X(aib, "aib") SEP X(aib_qt, "aib-qt")
#define IBX_MODEL_HEAD_NAME_(id, name) name
/* "plain|gap|dvib|att2|att3|pan|abn|aib|aib-qt", a string literal */
#define IBX_MODEL_HEAD_CHOICES IBX_MODEL_HEADS(IBX_MODEL_HEAD_NAME_, "|")

/* The registered heads' names joined by sep into buf ("plain, gap, ...");
 * with_attention_only: only heads that produce attention maps. IBX_ERR_ARG
 * when buf is too short. */
int ibx_model_head_names(char *buf, size_t len, const char *sep, int with_attention_only);

typedef struct {
  char backbone[16];  /* "vgg16" or "wrn" */
  char head[16];      /* plain, gap, dvib, att2, att3, pan, abn, aib, aib-qt */
  int in_channels, in_height, in_width;
  int num_classes;
  float width;        /* VGG width multiplier (1 = 64..512 channels) */
  int wrn_depth;      /* WRN-d-k: depth d (6n+4) and widening factor k */
  int wrn_widen;
  int K;              /* latent dimension of dvib/aib (default 256) */
  float beta;         /* KL weight (default 0.01) */
  int Q;              /* aib-qt anchors (default 30) */
  float lambda_q, lambda_c; /* aib-qt loss weights (defaults 0.4, 0.1) */
  int attention_layer; /* backbone stage the attention reads (head-specific default if 0) */
  uint64_t seed;      /* initialisation */
  /* backbone "transformer" (text; ibx/transformer.h): the head is ignored,
   * the classifier is the [CLS] pooler; in_* are ignored. vocab and max_len
   * come from the dataset the model reads. */
  int tf_layers, tf_d_model, tf_heads, tf_d_ff, tf_max_len, tf_vocab;
  float tf_dropout;
  int tf_pool_mean; /* model.pool = mean */
  int tf_mlm;       /* model.objective = mlm: the masked-language-model head
                       instead of the classifier (pre-training) */
} ibx_model_config;

/* Fills cfg with the defaults above for the given backbone and head: a
 * non-empty cfg->backbone / cfg->head is kept (else "vgg16" / "aib"), every
 * other field is reset, so zero the struct or set only those two first. */
void ibx_model_config_defaults(ibx_model_config *cfg);

typedef struct ibx_model ibx_model;

/* Validates cfg (unknown head, K <= 0, Q < 2, attention layer out of range:
 * IBX_ERR_ARG with a one-line message naming the key), builds, allocates for
 * max_batch and initialises. */
int ibx_model_create(const ibx_model_config *cfg, int max_batch, ibx_model **out);
void ibx_model_free(ibx_model *m);


ibx_params *ibx_model_params(ibx_model *m);
ibx_params *ibx_model_buffers(ibx_model *m);
const ibx_model_config *ibx_model_config_of(const ibx_model *m);
/* Whether head (a model.head name) reads the model key (e.g. "beta", "Q",
 * "K"): 0 for a key that does not change that head (plain ignores beta), 1
 * otherwise, also for keys of the backbone and for unknown names. For plots
 * that must not draw a model against a key it does not use. */
int ibx_model_head_uses_key(const char *head, const char *key);

/* Forward pass on x [batch, C, H, W]. training selects batch statistics and
 * sampling (reparameterisation noise is a pure function of noise_seed, the
 * sample's position and the element; evaluation uses the means). With labels
 * (non-NULL) the loss is computed into *loss (may be NULL). Logits [batch,
 * classes] stay valid until the next forward. */
int ibx_model_forward(ibx_model *m, const float *x, const int *labels, int batch, int training,
                      uint64_t noise_seed, ibx_loss_parts *loss, ibx_tensor *logits);
/* ibx_model_forward with the KL weight of this forward (and of the backward
 * that follows) given, instead of cfg.beta: a training schedule such as the
 * KL warm-up (ibx_kl_warmup_beta, ibx/optim.h) passes it per step, and the
 * model's config never changes. IBX_ERR_ARG when beta < 0 or not finite. */
int ibx_model_forward_beta(ibx_model *m, const float *x, const int *labels, int batch,
                           int training, uint64_t noise_seed, float beta, ibx_loss_parts *loss,
                           ibx_tensor *logits);

/* ---- inputs other than images ------------------------------------------
 * A model input: images [batch, C, H, W] for the image backbones, or token
 * ids [batch, stride] with lengths [batch] for the transformer
 * (ibx/transformer.h: [CLS] first, positions past a length are padding). */
typedef struct {
  const float *images;
  const int32_t *tokens;
  const int *lengths;
  int stride;
} ibx_model_input;

/* ibx_model_forward for any input kind (IBX_ERR_ARG when the input does not
 * suit the model, e.g. images for a transformer). */
int ibx_model_forward_input(ibx_model *m, const ibx_model_input *in, const int *labels, int batch,
                            int training, uint64_t noise_seed, ibx_loss_parts *loss,
                            ibx_tensor *logits);
/* ibx_model_forward_input with the KL weight given, as ibx_model_forward_beta. */
int ibx_model_forward_input_beta(ibx_model *m, const ibx_model_input *in, const int *labels,
                                 int batch, int training, uint64_t noise_seed, float beta,
                                 ibx_loss_parts *loss, ibx_tensor *logits);
/* 1 for a model that reads token ids (backbone "transformer"). */
int ibx_model_is_text(const ibx_model *m);
/* The transformer of a text model (for attribution: intercepts, embedding
 * gradients, [CLS] attention), NULL for image models. */
struct ibx_transformer *ibx_model_transformer(ibx_model *m);

/* ---- masked-language models (model.objective = mlm, a transformer) -------
 * 1 when m predicts masked tokens instead of classes. */
int ibx_model_is_mlm(const ibx_model *m);
/* Forward on in's token ids (already masked) predicting targets [batch,
 * in->stride] (the original id at a masked position, -1 elsewhere;
 * ibx_transformer_forward_mlm): loss->ce = loss->total = the mean
 * cross-entropy over the predicted positions; *stats (may be NULL) the
 * counts. ibx_model_backward then runs that loss's backward. */
int ibx_model_forward_mlm(ibx_model *m, const ibx_model_input *in, const int32_t *targets,
                          int batch, int training, uint64_t noise_seed, ibx_loss_parts *loss,
                          ibx_mlm_stats *stats);

/* Backward of the last forward's total loss (requires labels in forward).
 * Parameter gradients accumulate into the gradient buffer; dx (the input
 * gradient, [batch,C,H,W]) is written when non-NULL. */
int ibx_model_backward(ibx_model *m, float *dx);

/* Backward from an arbitrary logit gradient dlogits [batch, classes] (for
 * attribution methods: e.g. one-hot of the target class). */
int ibx_model_backward_from_logits(ibx_model *m, const float *dlogits, float *dx);

/* Called during backward each time a layer's parameter gradients are final:
 * every gradient at offset >= ready_from (in floats, into the gradient buffer)
 * is done. The distributed trainer starts bucket allreduces from here. */
typedef void (*ibx_grad_ready_fn)(void *ctx, size_t ready_from);
void ibx_model_set_grad_hook(ibx_model *m, ibx_grad_ready_fn fn, void *ctx);

/* Synchronised batch norm: every batch-norm layer of the model (backbone and
 * head) reduces its training-mode batch statistics and gradient sums through
 * fn, e.g. an MPI_Allreduce over the data-parallel ranks (ibx_dist_bn_allreduce
 * in ibx/dist.h), so it normalises over the global batch. A collective: every
 * replica must run the same forwards and backwards. NULL (the default):
 * statistics of the local batch only. */
void ibx_model_set_bn_reduce(ibx_model *m, ibx_bn_reduce_fn fn, void *ctx);

/* Attention maps of the last forward: how many (0 for heads without
 * attention), and map i as [batch, 1, h, w] (normalised as the head uses it). */
int ibx_model_attention_count(const ibx_model *m);
int ibx_model_attention(const ibx_model *m, int i, ibx_tensor *map);

/* ---- layer access for attribution (IBA, Grad-CAM, guided backprop) ----
 * Every layer of every stack, named as its parameters are ("features.22":
 * the ReLU after VGG-16's 7th conv), in forward order. Only layers whose
 * output may carry an intercept are listed (see ibx_seq_set_intercept). */
int ibx_model_layer_count(const ibx_model *m);
/* Name and per-sample output shape [C,H,W] (flat: [F,1,1]) of layer i. */
int ibx_model_layer(const ibx_model *m, int i, char *name, size_t len, int dim[3]);
/* The named layer's output of the last forward, [batch, C, H, W] (valid
 * until the next forward). */
int ibx_model_layer_output(const ibx_model *m, const char *name, ibx_tensor *out);
/* Index of the named layer, or IBX_ERR_ARG naming it when there is none. */
int ibx_model_find_layer(const ibx_model *m, const char *name, int *index);
/* Intercepts layer `name`'s output in every later forward/backward (the
 * callbacks of ibx/sequential.h; the tensors carry the batch); name NULL
 * removes it. With stop != 0 backward ends at the intercept: dL/dZ is all
 * that is computed, the dx argument of the backward is not written. */
int ibx_model_set_intercept(ibx_model *m, const char *name, ibx_seq_intercept_fwd forward,
                            ibx_seq_intercept_bwd backward, void *ctx, int stop);
/* With on != 0, later forwards reuse everything up to the intercept from
 * the last forward (same input and batch, which the caller guarantees):
 * only the layers after it run (ibx_seq_set_reuse_prefix). Needs an
 * intercept in a backbone stage of a VGG; IBX_ERR_ARG otherwise. Removing
 * the intercept turns it off. */
int ibx_model_set_reuse_prefix(ibx_model *m, int on);
/* Attribution set-up: on = 0 makes backward skip the convolutions' weight
 * gradients (ibx_seq_set_param_grads) -- the gradient buffer is then not
 * meaningful; on = 1 restores training behaviour. */
void ibx_model_set_param_grads(ibx_model *m, int on);
/* Convolution algorithm of every stack (ibx_seq_set_conv_algo). Winograd
 * re-transforms the filters on every call, which dominates small maps at
 * small batches: attribution (frozen weights, batch 10) uses im2col. */
void ibx_model_set_conv_algo(ibx_model *m, int algo);
/* Guided-backprop ReLU rule in every stack (ibx_seq_set_guided_relu). */
void ibx_model_set_guided_relu(ibx_model *m, int on);

/* Writes a human-readable table (layer, output shape, parameters, forward
 * multiply-adds) into buf; returns IBX_OK or IBX_ERR_ARG if buf is too short. */
int ibx_model_summary(const ibx_model *m, char *buf, size_t len);

#endif
