/* Parameter store (llm.c style): all parameters of a model live in one
 * contiguous float buffer and all their gradients in a second one of the same
 * layout, so one allreduce, one optimiser loop and one checkpoint dataset
 * cover the whole model. Each parameter is a named view into the buffers,
 * named as PyTorch would name it (e.g. "features.0.weight").
 *
 * Usage: declare every tensor, then allocate once, then take views.
 * Non-trainable state (batch-norm running statistics) lives in a second store
 * created with with_grads = 0. */
#ifndef IBX_PARAMS_H
#define IBX_PARAMS_H

#include <stddef.h>

#include "ibx/tensor.h"

#define IBX_PARAM_NAME_MAX 96

typedef struct {
  char name[IBX_PARAM_NAME_MAX];
  int ndim;
  int dim[IBX_MAX_DIMS];
  size_t offset; /* in floats, into values/grads */
  size_t numel;
} ibx_param_info;

typedef struct {
  ibx_param_info *info;
  int count, capacity;
  size_t total;   /* floats in each buffer */
  float *values;  /* NULL until ibx_params_allocate */
  float *grads;   /* NULL when with_grads == 0 */
  int with_grads;
} ibx_params;

void ibx_params_init(ibx_params *p, int with_grads);
/* Declares a tensor; *index receives its handle. Fails after allocation,
 * on duplicate names and on non-positive dims. */
int ibx_params_declare(ibx_params *p, const char *name, int ndim, const int *dim, int *index);
/* Allocates values (zeroed) and, if with_grads, grads (zeroed). Each tensor
 * starts at a 16-float boundary so SIMD loads inside one tensor stay aligned. */
int ibx_params_allocate(ibx_params *p);
ibx_tensor ibx_params_value(const ibx_params *p, int index);
ibx_tensor ibx_params_grad(const ibx_params *p, int index);
/* Index of the named tensor, or -1. */
int ibx_params_find(const ibx_params *p, const char *name);
/* Number of real parameters (excluding alignment padding). */
size_t ibx_params_count(const ibx_params *p);
void ibx_params_zero_grads(ibx_params *p);
void ibx_params_free(ibx_params *p);

#endif
