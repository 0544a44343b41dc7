/* Tensors: a float32 pointer plus a shape (row-major, NCHW for images).
 * A tensor is a *view*: it never owns its data. Memory is owned by the
 * parameter store (ibx_params), a model's activation arena, or the caller. */
#ifndef IBX_TENSOR_H
#define IBX_TENSOR_H

#include <stdint.h>

#define IBX_MAX_DIMS 4

typedef struct {
  float *data;
  int ndim;
  int dim[IBX_MAX_DIMS];
} ibx_tensor;

/* Views of given shapes. */
ibx_tensor ibx_t1(float *data, int n0);
ibx_tensor ibx_t2(float *data, int n0, int n1);
ibx_tensor ibx_t3(float *data, int n0, int n1, int n2); /* sequences [N,T,D] */
ibx_tensor ibx_t4(float *data, int n0, int n1, int n2, int n3);

int64_t ibx_numel(const ibx_tensor *t);

/* Writes "[2,3,4,5]" into buf (for error messages); returns buf. */
const char *ibx_shape_str(const ibx_tensor *t, char *buf, int len);

/* IBX_OK when t is non-NULL, has data, and has exactly `ndim` dims;
 * otherwise IBX_ERR_SHAPE with a message naming op and tensor. */
int ibx_check_ndim(const ibx_tensor *t, int ndim, const char *op, const char *name);

/* IBX_OK when a and b have identical shapes, else IBX_ERR_SHAPE. */
int ibx_check_same(const ibx_tensor *a, const ibx_tensor *b, const char *op,
                   const char *na, const char *nb);

#endif
