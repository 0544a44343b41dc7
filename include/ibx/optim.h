/* Optimisers and learning-rate schedules. Each optimiser updates one
 * contiguous parameter buffer from one contiguous gradient buffer (the
 * ibx_params layout) in a single loop. Semantics follow torch.optim. */
#ifndef IBX_OPTIM_H
#define IBX_OPTIM_H

#include <stddef.h>

typedef struct {
  float momentum;     /* 0 disables the momentum buffer */
  float weight_decay; /* L2, added to the gradient */
  int nesterov;       /* requires momentum > 0 */
  float dampening;    /* torch default 0 */
} ibx_sgd;

/* One step with learning rate lr. velocity has n floats, zero-initialised by
 * the caller; *step counts steps taken (0 before the first), as torch's first
 * step sets the buffer to the gradient rather than mixing it in. */
int ibx_sgd_step(const ibx_sgd *o, float lr, float *param, const float *grad, float *velocity,
                 size_t n, long step);

/* Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_: when the
 * L2 norm of grad exceeds max_norm (> 0), every element is scaled by
 * max_norm / (norm + 1e-6). max_norm <= 0 leaves grad alone. The norm before
 * clipping goes to *norm_out (may be NULL). Used after the gradient allreduce,
 * so every rank computes the same norm without more communication. */
void ibx_clip_grad_norm(float *grad, size_t n, float max_norm, double *norm_out);

typedef struct {
  float beta1, beta2, eps; /* torch defaults 0.9, 0.999, 1e-8 */
  float weight_decay;      /* L2 added to the gradient (torch.optim.Adam) */
  int decoupled;           /* 1: AdamW-style decoupled decay instead */
} ibx_adam;

/* step is the number of steps already taken (bias correction uses step+1).
 * m and v have n floats, zero-initialised by the caller. */
int ibx_adam_step(const ibx_adam *o, float lr, float *param, const float *grad, float *m,
                  float *v, size_t n, long step);

/* LINEAR: after warm-up, linear decay from base_lr to min_lr at total_steps
 * (BERT fine-tuning's get_linear_schedule_with_warmup when warmup_start and
 * min_lr are 0). */
typedef enum {
  IBX_SCHED_CONSTANT = 0,
  IBX_SCHED_MULTISTEP,
  IBX_SCHED_COSINE,
  IBX_SCHED_LINEAR
} ibx_sched_kind;

#define IBX_SCHED_MAX_MILESTONES 16

typedef struct {
  ibx_sched_kind kind;
  float base_lr;
  long warmup_steps;  /* linear warm-up from warmup_start * base_lr; 0 = none */
  float warmup_start; /* fraction of base_lr at step 0 of warm-up */
  /* multistep: lr *= gamma at each milestone (in steps) */
  long milestones[IBX_SCHED_MAX_MILESTONES];
  int n_milestones;
  float gamma;
  /* cosine and linear: from base_lr (after warm-up) to min_lr at total_steps */
  long total_steps;
  float min_lr;
} ibx_schedule;

/* Validates the schedule (IBX_ERR_ARG naming the bad field). */
int ibx_schedule_check(const ibx_schedule *s);
/* Learning rate for step (0-based). */
float ibx_schedule_lr(const ibx_schedule *s, long step);

/* The KL weight at step (steps taken so far) of a linear warm-up from 0 to
 * beta over warmup_steps (<= 0: none, beta throughout); a pure function of
 * the step, so a resumed run matches. */
float ibx_kl_warmup_beta(double beta, double warmup_steps, long step);

#endif
