/* Layer access for attribution (include/ibx/model.h): names every
 * interceptable layer of the model's stacks "<prefix>.<index>" (the names
 * its parameters carry) and routes intercepts and the guided-backprop ReLU
 * rule to the stack that owns the layer. */
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/transformer.h"
#include "model_internal.h"

/* Calls visit for every interceptable layer in forward (declaration) order
 * until it returns non-zero; returns that value (0 when all were visited). */
static int each_layer(const ibx_model *m, int (*visit)(void *ctx, unit *u, int li, int index),
                      void *ctx) {
  int index = 0;
  for (int k = 0; k < m->nunits; k++) {
    unit *u = m->units[k];
    for (int li = 0; li < ibx_seq_length(u->seq); li++) {
      if (!ibx_seq_can_intercept(u->seq, li))
        continue;
      const int r = visit(ctx, u, li, index++);
      if (r)
        return r;
    }
  }
  return 0;
}

static void layer_name(const unit *u, int li, char *buf, size_t len) {
  snprintf(buf, len, "%s.%d", u->name, u->first_index + li);
}

static int count_visit(void *ctx, unit *u, int li, int index) {
  (void)u, (void)li;
  *(int *)ctx = index + 1;
  return 0;
}

int ibx_model_layer_count(const ibx_model *m) {
  int n = 0;
  each_layer(m, count_visit, &n);
  return n;
}

typedef struct {
  int want;            /* index wanted, or -1 to match by name */
  const char *name;
  unit *u;
  int li, index;
} find_ctx;

static int find_visit(void *ctx, unit *u, int li, int index) {
  find_ctx *f = ctx;
  char buf[96];
  if (f->want >= 0 ? index != f->want : (layer_name(u, li, buf, sizeof buf), strcmp(buf, f->name)))
    return 0;
  f->u = u, f->li = li, f->index = index;
  return 1;
}

int ibx_model_layer(const ibx_model *m, int i, char *name, size_t len, int dim[3]) {
  find_ctx f = {i, NULL, NULL, 0, 0};
  if (i < 0 || !each_layer(m, find_visit, &f))
    return ibx_fail(IBX_ERR_ARG, "model: layer %d outside 0..%d", i,
                    ibx_model_layer_count(m) - 1);
  if (name)
    layer_name(f.u, f.li, name, len);
  if (dim)
    ibx_seq_layer_shape(f.u->seq, f.li, dim, NULL);
  return IBX_OK;
}

static int find_named(const ibx_model *m, const char *name, find_ctx *f) {
  *f = (find_ctx){-1, name, NULL, 0, 0};
  if (!name || !each_layer(m, find_visit, f))
    return ibx_fail(IBX_ERR_ARG,
                    "model: no layer '%.64s' that can be intercepted (see 'ibx attribute "
                    "--list-layers')",
                    name ? name : "(null)");
  return IBX_OK;
}

int ibx_model_layer_output(const ibx_model *m, const char *name, ibx_tensor *out) {
  find_ctx f;
  IBX_TRY(find_named(m, name, &f));
  return ibx_seq_layer_output(f.u->seq, f.li, out);
}

int ibx_model_find_layer(const ibx_model *m, const char *name, int *index) {
  find_ctx f;
  IBX_TRY(find_named(m, name, &f));
  *index = f.index;
  return IBX_OK;
}

int ibx_model_set_intercept(ibx_model *m, const char *name, ibx_seq_intercept_fwd forward,
                            ibx_seq_intercept_bwd backward, void *ctx, int stop) {
  if (m->icpt_unit) {
    ibx_model_set_reuse_prefix(m, 0);
    IBX_TRY(ibx_seq_set_intercept(m->icpt_unit->seq, -1, NULL, NULL, NULL, 0));
  }
  m->icpt_unit = NULL;
  if (!name)
    return IBX_OK;
  find_ctx f;
  IBX_TRY(find_named(m, name, &f));
  IBX_TRY(ibx_seq_set_intercept(f.u->seq, f.li, forward, backward, ctx, stop));
  m->icpt_unit = f.u;
  return IBX_OK;
}

void ibx_model_set_guided_relu(ibx_model *m, int on) {
  for (int k = 0; k < m->nunits; k++)
    ibx_seq_set_guided_relu(m->units[k]->seq, on);
}

int ibx_model_set_reuse_prefix(ibx_model *m, int on) {
  int stage = -1;
  for (int s = 0; m->icpt_unit && s < m->nst; s++)
    if (m->st[s].u == m->icpt_unit)
      stage = s;
  if (on && (stage < 0 || m->nst != 5))
    return ibx_fail(IBX_ERR_ARG, "model: reusing the prefix needs an intercept in a VGG stage");
  if (m->icpt_unit)
    ibx_seq_set_reuse_prefix(m->icpt_unit->seq, on);
  m->reuse_stage = on ? stage : 0;
  return IBX_OK;
}

void ibx_model_set_conv_algo(ibx_model *m, int algo) {
  for (int k = 0; k < m->nunits; k++)
    ibx_seq_set_conv_algo(m->units[k]->seq, (ibx_conv_algo)algo);
}

void ibx_model_set_param_grads(ibx_model *m, int on) {
  if (m->tf)
    ibx_transformer_set_param_grads(m->tf, on);
  for (int k = 0; k < m->nunits; k++)
    ibx_seq_set_param_grads(m->units[k]->seq, on);
}
