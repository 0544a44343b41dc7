/* Learning-rate schedules: constant, multi-step, cosine and linear decay, each with an
 * optional linear warm-up over the first warmup_steps. */
#include <math.h>

#include "ibx/error.h"
#include "ibx/optim.h"

int ibx_schedule_check(const ibx_schedule *s) {
  if (!(s->base_lr > 0.0f))
    return ibx_fail(IBX_ERR_ARG, "schedule: base_lr must be > 0 (got %g)", (double)s->base_lr);
  if (s->warmup_steps < 0 || (s->warmup_steps > 0 && !(s->warmup_start >= 0.0f && s->warmup_start <= 1.0f)))
    return ibx_fail(IBX_ERR_ARG, "schedule: warmup needs warmup_steps >= 0 and warmup_start in [0,1]");
  switch (s->kind) {
  case IBX_SCHED_CONSTANT:
    return IBX_OK;
  case IBX_SCHED_MULTISTEP:
    if (s->n_milestones < 0 || s->n_milestones > IBX_SCHED_MAX_MILESTONES)
      return ibx_fail(IBX_ERR_ARG, "schedule: 0..%d milestones allowed", IBX_SCHED_MAX_MILESTONES);
    for (int i = 0; i < s->n_milestones; i++)
      if (s->milestones[i] <= 0 || (i > 0 && s->milestones[i] <= s->milestones[i - 1]))
        return ibx_fail(IBX_ERR_ARG, "schedule: milestones must be positive and increasing");
    if (!(s->gamma > 0.0f))
      return ibx_fail(IBX_ERR_ARG, "schedule: gamma must be > 0");
    return IBX_OK;
  case IBX_SCHED_COSINE:
  case IBX_SCHED_LINEAR:
    if (s->total_steps <= s->warmup_steps)
      return ibx_fail(IBX_ERR_ARG, "schedule: %s needs total_steps > warmup_steps",
                      s->kind == IBX_SCHED_COSINE ? "cosine" : "linear");
    if (s->min_lr < 0.0f || s->min_lr > s->base_lr)
      return ibx_fail(IBX_ERR_ARG, "schedule: min_lr must be in [0, base_lr]");
    return IBX_OK;
  }
  return ibx_fail(IBX_ERR_ARG, "schedule: unknown kind %d", (int)s->kind);
}

float ibx_schedule_lr(const ibx_schedule *s, long step) {
  if (step < s->warmup_steps) {
    const double f = (double)step / (double)s->warmup_steps;
    return (float)(s->base_lr * (s->warmup_start + (1.0 - s->warmup_start) * f));
  }
  switch (s->kind) {
  case IBX_SCHED_MULTISTEP: {
    double lr = s->base_lr;
    for (int i = 0; i < s->n_milestones; i++)
      if (step >= s->milestones[i])
        lr *= s->gamma;
    return (float)lr;
  }
  case IBX_SCHED_COSINE: {
    long span = s->total_steps - s->warmup_steps;
    double t = (double)(step - s->warmup_steps) / (double)span;
    if (t > 1.0)
      t = 1.0;
    return (float)(s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * t)));
  }
  case IBX_SCHED_LINEAR: {
    double t = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    if (t > 1.0)
      t = 1.0;
    return (float)(s->min_lr + (s->base_lr - s->min_lr) * (1.0 - t));
  }
  default:
    return s->base_lr;
  }
}

float ibx_kl_warmup_beta(double beta, double warmup_steps, long step) {
  if (!(warmup_steps > 0.0))
    return (float)beta;
  const double f = (double)step / warmup_steps;
  return (float)(beta * (f < 1.0 ? f : 1.0));
}
