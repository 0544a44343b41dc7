/* The contiguous parameter/gradient store (see include/ibx/params.h). */
#include "ibx/params.h"

#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/memory.h"

#define PARAM_ALIGN_FLOATS 16

void ibx_params_init(ibx_params *p, int with_grads) {
  memset(p, 0, sizeof *p);
  p->with_grads = with_grads;
}

int ibx_params_declare(ibx_params *p, const char *name, int ndim, const int *dim, int *index) {
  if (p->values)
    return ibx_fail(IBX_ERR_ARG, "params: cannot declare '%s' after allocation", name);
  if (ndim < 1 || ndim > IBX_MAX_DIMS)
    return ibx_fail(IBX_ERR_ARG, "params: '%s' has %d dims (1..%d allowed)", name, ndim,
                    IBX_MAX_DIMS);
  if (strlen(name) >= IBX_PARAM_NAME_MAX)
    return ibx_fail(IBX_ERR_ARG, "params: name '%s' is too long", name);
  if (ibx_params_find(p, name) >= 0)
    return ibx_fail(IBX_ERR_ARG, "params: '%s' declared twice", name);
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    if (dim[i] <= 0)
      return ibx_fail(IBX_ERR_ARG, "params: '%s' has non-positive dim %d", name, dim[i]);
    numel *= (size_t)dim[i];
  }
  if (p->count == p->capacity) {
    int cap = p->capacity ? 2 * p->capacity : 32;
    ibx_param_info *grown = realloc(p->info, (size_t)cap * sizeof *grown);
    if (!grown)
      return ibx_fail(IBX_ERR_NOMEM, "params: out of memory declaring '%s'", name);
    p->info = grown;
    p->capacity = cap;
  }
  ibx_param_info *pi = &p->info[p->count];
  memset(pi, 0, sizeof *pi);
  strcpy(pi->name, name);
  pi->ndim = ndim;
  for (int i = 0; i < IBX_MAX_DIMS; i++)
    pi->dim[i] = i < ndim ? dim[i] : 1;
  pi->offset = p->total;
  pi->numel = numel;
  p->total += (numel + PARAM_ALIGN_FLOATS - 1) / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS;
  if (index)
    *index = p->count;
  p->count++;
  return IBX_OK;
}

int ibx_params_allocate(ibx_params *p) {
  if (p->values)
    return ibx_fail(IBX_ERR_ARG, "params: already allocated");
  p->values = ibx_calloc(p->total * sizeof(float), "parameters");
  if (!p->values)
    return IBX_ERR_NOMEM;
  if (p->with_grads) {
    p->grads = ibx_calloc(p->total * sizeof(float), "gradients");
    if (!p->grads) {
      ibx_free(p->values);
      p->values = NULL;
      return IBX_ERR_NOMEM;
    }
  }
  return IBX_OK;
}

static ibx_tensor view(const ibx_param_info *pi, float *base) {
  ibx_tensor t = {base ? base + pi->offset : NULL, pi->ndim, {1, 1, 1, 1}};
  for (int i = 0; i < pi->ndim; i++)
    t.dim[i] = pi->dim[i];
  return t;
}

ibx_tensor ibx_params_value(const ibx_params *p, int index) {
  return view(&p->info[index], p->values);
}

ibx_tensor ibx_params_grad(const ibx_params *p, int index) {
  return view(&p->info[index], p->grads);
}

int ibx_params_find(const ibx_params *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->info[i].name, name) == 0)
      return i;
  return -1;
}

size_t ibx_params_count(const ibx_params *p) {
  size_t n = 0;
  for (int i = 0; i < p->count; i++)
    n += p->info[i].numel;
  return n;
}

void ibx_params_zero_grads(ibx_params *p) {
  if (p->grads)
    memset(p->grads, 0, p->total * sizeof(float));
}

void ibx_params_free(ibx_params *p) {
  ibx_free(p->values);
  ibx_free(p->grads);
  free(p->info);
  memset(p, 0, sizeof *p);
}
