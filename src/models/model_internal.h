/* Internals shared by the model files (src/models/model*.c, head_*.c):
 * units (sequential stacks with a parameter range), backbone stages, the
 * model struct, and the per-head operations. See docs/models.md for the
 * architecture of every backbone and head and the sources of each choice. */
#ifndef IBX_MODEL_INTERNAL_H
#define IBX_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ibx/model.h"
#include "ibx/sequential.h"

#define MAX_UNITS 512
#define MAX_STAGES 8
#define MAX_MAPS 6

/* Philox streams of the reparameterisation noise (ibx/rng.h). */
#define NOISE_STREAM_ATT 0x4154544eULL /* "ATTN": attention map a */
#define NOISE_STREAM_Z 0x5a4c4154ULL   /* "ZLAT": latent z */

/* log-variance = (network output) + LOGVAR_SHIFT, so an output near 0 at
 * initialisation gives a standard deviation of exp(-5) ~ softplus(-5), the
 * authors' initial noise scale (docs/models.md). */
#define LOGVAR_SHIFT (-10.0f)

/* A sequential stack plus the range of parameter indices it declared. */
typedef struct unit {
  ibx_seq *seq;
  struct ibx_model *m;
  char name[48];
  int p_first, p_end;         /* [p_first, p_end) in m->params */
  int in_dim[3], out_dim[3];  /* per sample; flat output: [F,1,1] */
  size_t in_n, out_n;         /* floats per sample */
  float *out;                 /* output of the last forward */
  uint64_t seed_salt;
  int first_index;            /* names "<name>.<first_index + i>." */
} unit;

/* A pre-activation wide-ResNet basic block (Zagoruyko & Komodakis):
 *   o1 = relu(bn1(x)); c2 = conv2(relu(bn2(conv1(o1))));
 *   y = x + c2 (same shape) or y = shortcut(o1) + c2 (1x1 conv, stride). */
typedef struct {
  unit *pre, *body, *sc;
  size_t in_n, out_n;
  const float *in;
  float *out, *d_o1, *d_tmp, *din;
} wrn_block;

typedef struct {
  unit *u;                 /* a single stack (VGG stage, WRN stem) */
  wrn_block *blk;          /* or a group of residual blocks */
  int nblk;
  int in_dim[3], out_dim[3];
  size_t in_n, out_n;
  const float *in;
  float *out;              /* output of the last forward */
  float *dout;             /* gradient w.r.t. out, accumulated by the head */
} stage;

typedef struct ibx_model ibx_model_t;

/* One head: what it supports (the registry in model.c validates a config
 * against these) and its operations. Define with designated fields, e.g.
 *   const head_ops ibx_head_aib = {.name = "aib", .on_vgg = 1, .on_wrn = 1,
 *       .default_layer_vgg = 3, .default_layer_wrn = 2, .span = 1,
 *       .uses_K = 1, .build = aib_build, ...};
 * and list it in IBX_MODEL_HEADS (ibx/model.h). */
typedef struct {
  const char *name;  /* as in IBX_MODEL_HEADS (checked when a model is created) */
  int on_vgg, on_wrn; /* backbones it supports */
  int default_layer_vgg, default_layer_wrn; /* attention layer when the config says 0 */
  int span;           /* attention layers used from attention_layer on (0: no attention) */
  int uses_K, uses_Q; /* reads model.K/beta, model.Q/lambda_q/lambda_c */
  int (*build)(struct ibx_model *m);
  /* Initialises hand-declared parameters (after the stacks' own init). */
  void (*init)(struct ibx_model *m);
  /* Computes m->logits (and m->loss's kl/vq/commit/aux parts). */
  int (*forward)(struct ibx_model *m, const float *x, const int *labels, int training,
                 uint64_t noise_seed);
  /* Backward from dlogits; with_aux adds the gradients of the kl/vq/commit/
   * aux loss terms (off for ibx_model_backward_from_logits). */
  int (*backward)(struct ibx_model *m, const float *dlogits, int with_aux, float *dx);
} head_ops;

struct ibx_model {
  ibx_model_config cfg;
  const head_ops *ops;
  ibx_params params, buffers;
  int max_batch, batch, training, has_loss;
  int in_n; /* floats per input sample */
  const int *labels;

  unit *units[MAX_UNITS];
  int nunits;
  void *allocs[8 * MAX_UNITS];
  int nallocs;

  /* backbone */
  stage st[MAX_STAGES];
  int nst;
  int nlayers;   /* attention layers (VGG blocks 1..5, WRN groups 1..3) */
  int att_stage; /* stage index the head reads (from cfg.attention_layer) */
  int chan[MAX_STAGES];

  float beta; /* KL weight of the last forward (cfg.beta, or a schedule's) */

  /* logits and the cross-entropy */
  int classes;
  float *logits, *probs, *dlogits;
  ibx_loss_parts loss;

  /* attention maps of the last forward */
  int nmaps;
  float *map[MAX_MAPS];
  int map_h[MAX_MAPS], map_w[MAX_MAPS];

  /* head state (each head uses what it needs) */
  void *head;

  /* gradient-ready hook: done flags per parameter tensor and the frontier */
  ibx_grad_ready_fn hook;
  void *hook_ctx;
  unsigned char *done;
  int frontier;

  /* test hooks (ibx/model_testing.h) */
  const float *noise_override[2];
  int freeze_quantiser;

  void *rows; /* summary rows in declaration order */
  struct {
    const char *name;
    const float *data;
    int dim[4];
  } named[16]; /* intermediates exposed to the tests */
  int nnamed;

  float *gtmp; /* scratch gradient, the widest stage input */

  /* intercept (ibx_model_set_intercept): its stack, and whether the current
   * backward has reached a stopping intercept (later stacks are skipped) */
  unit *icpt_unit;
  int bwd_stopped;
  int reuse_stage; /* > 0: stages before it are not recomputed (reuse prefix) */
  size_t gtmp_n;

  struct ibx_transformer *tf; /* backbone "transformer" (model_text.c), else NULL */
};

/* snprintf into a char array, failing (IBX_ERR_ARG) when it does not fit. */
#define NAMEF(buf, ...)                                                          \
  do {                                                                           \
    int namef_k_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                    \
    if (namef_k_ < 0 || namef_k_ >= (int)sizeof(buf))                            \
      return ibx_fail(IBX_ERR_ARG, "model: layer name too long");                \
  } while (0)

/* ---- memory ------------------------------------------------------------ */
/* Zeroed buffer of n floats owned by the model (freed with it); NULL on OOM. */
float *model_alloc(ibx_model *m, size_t n, const char *what);
void *model_alloc_bytes(ibx_model *m, size_t bytes, const char *what);

/* ---- units ---------------------------------------------------------------- */
/* New stack with a [c,h,w] (or flat, when h == 0) input, registered with m. */
int unit_new(ibx_model *m, const char *name, int c, int h, int w, unit **out);
/* After adding layers: declares its parameters named "<prefix>.<first+i>."
 * and records the parameter range. */
int unit_declare(ibx_model *m, unit *u, const char *prefix, int first_index);
int unit_forward(unit *u, const float *x, int batch, int training, uint64_t seed);
int unit_backward(unit *u, const float *dy, float *dx);

/* Parameter declared by hand (head layers); returns its index. */
int model_param(ibx_model *m, const char *name, int ndim, const int *dim, int *index);
ibx_tensor model_value(ibx_model *m, int index);
ibx_tensor model_grad(ibx_model *m, int index);
/* Marks parameter tensors [first, end) final and advances the hook. */
void model_grads_done(ibx_model *m, int first, int end);

/* ---- backbones (model_backbone.c) ---------------------------------------- */
int backbone_build(ibx_model *m);
int backbone_bind(ibx_model *m);
/* Runs stages [lo, hi] on x (x is the input of stage lo). */
int backbone_forward(ibx_model *m, int lo, int hi, const float *x, int training, uint64_t seed);
/* Zeroes the dout of every stage. */
void backbone_zero_dout(ibx_model *m);
/* Backward through stages hi..lo: stage i's dout must hold its output
 * gradient; stage i-1's dout receives (+=) stage i's input gradient; stage
 * lo's input gradient goes to dx_lo (NULL: not needed). */
int backbone_backward(ibx_model *m, int hi, int lo, float *dx_lo);
/* Builds a stride-1 group of n residual blocks (the ABN / authors' attention
 * branch) as a stand-alone stage. */
int wrn_group_new(ibx_model *m, const char *prefix, int n, int cin, int cout, int stride, int h,
                  int w, stage *st);
int stage_forward(ibx_model *m, stage *st, const float *x, int batch, int training, uint64_t seed);
int stage_backward(ibx_model *m, stage *st, const float *dy, float *dx);
int stage_alloc(ibx_model *m, stage *st);

/* ---- the text backbone (model_text.c) ------------------------------------ */
/* A model struct around a transformer (ibx_model_create's path for backbone
 * "transformer"); the other functions are no-ops on image models. */
int text_model_new(const ibx_model_config *cfg, int max_batch, ibx_model **out);
void text_model_free(ibx_model *m);
ibx_params *text_model_params(ibx_model *m);
void text_model_set_grad_hook(ibx_model *m, ibx_grad_ready_fn fn, void *ctx);
int text_model_summary(const ibx_model *m, char *buf, size_t len);
/* Fills m->logits from a token input. */
int text_model_forward(ibx_model *m, const ibx_model_input *in, int training,
                       uint64_t noise_seed);
int text_model_backward(ibx_model *m, const float *dlogits, float *dx);
int text_model_backward_mlm(ibx_model *m);

/* ---- heads ------------------------------------------------------------- */
#define HEAD_OPS_EXTERN_(id, name) extern const head_ops ibx_head_##id;
IBX_MODEL_HEADS(HEAD_OPS_EXTERN_, )

/* The variational bottleneck shared by dvib and aib: e [N, 2K] -> mu,
 * logvar (+ LOGVAR_SHIFT), z (sampled in training, the mean otherwise),
 * decoder logits. */
typedef struct {
  int K, in_f;
  unit *dec;
  float *mu, *logvar, *eps, *z, *dz, *dlv, *de;
} vib_state;
int vib_build(ibx_model *m, vib_state *v, int K);
int vib_forward(ibx_model *m, vib_state *v, const float *e, int training, uint64_t noise_seed);
/* From dlogits: de [N, 2K] (including beta * dKL when with_aux). */
int vib_backward(ibx_model *m, vib_state *v, const float *dlogits, int with_aux);

/* Exposes an intermediate [d0,d1,d2,d3] of the last forward to the tests
 * (ibx_model_test_tensor); name must be a string literal. */
void model_expose(ibx_model *m, const char *name, const float *data, int d0, int d1, int d2,
                  int d3);

/* Re-initialises a head stack's weights U(+-1/sqrt(fan_in)) (biases 0). */
void head_init_unit(ibx_model *m, unit *u);
/* The tail on the last stage ending in a linear layer with out features. */
int head_tail_new(ibx_model *m, const char *prefix, int out, unit **u_out);

/* sigmoid, numerically safe */
float model_sigmoid(float x);

#endif
