/* Tensor views and shape checks. */
#include "ibx/tensor.h"

#include <stdio.h>

#include "ibx/error.h"

ibx_tensor ibx_t1(float *data, int n0) { return (ibx_tensor){data, 1, {n0, 1, 1, 1}}; }
ibx_tensor ibx_t2(float *data, int n0, int n1) { return (ibx_tensor){data, 2, {n0, n1, 1, 1}}; }
ibx_tensor ibx_t3(float *data, int n0, int n1, int n2) {
  return (ibx_tensor){data, 3, {n0, n1, n2, 1}};
}
ibx_tensor ibx_t4(float *data, int n0, int n1, int n2, int n3) {
  return (ibx_tensor){data, 4, {n0, n1, n2, n3}};
}

int64_t ibx_numel(const ibx_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->dim[i];
  return n;
}

const char *ibx_shape_str(const ibx_tensor *t, char *buf, int len) {
  int used = snprintf(buf, len, "[");
  for (int i = 0; i < t->ndim && used < len; i++)
    used += snprintf(buf + used, len - used, i ? ",%d" : "%d", t->dim[i]);
  if (used < len)
    snprintf(buf + used, len - used, "]");
  return buf;
}

int ibx_check_ndim(const ibx_tensor *t, int ndim, const char *op, const char *name) {
  char s[64];
  if (!t || !t->data)
    return ibx_fail(IBX_ERR_SHAPE, "%s: tensor %s is missing", op, name);
  if (t->ndim != ndim)
    return ibx_fail(IBX_ERR_SHAPE, "%s: %s has shape %s, expected %d dims", op, name,
                    ibx_shape_str(t, s, sizeof s), ndim);
  for (int i = 0; i < ndim; i++)
    if (t->dim[i] <= 0)
      return ibx_fail(IBX_ERR_SHAPE, "%s: %s has non-positive dim in %s", op, name,
                      ibx_shape_str(t, s, sizeof s));
  return IBX_OK;
}

int ibx_check_same(const ibx_tensor *a, const ibx_tensor *b, const char *op, const char *na,
                   const char *nb) {
  char sa[64], sb[64];
  if (!a || !a->data || !b || !b->data)
    return ibx_fail(IBX_ERR_SHAPE, "%s: tensor %s is missing", op, (!a || !a->data) ? na : nb);
  int same = a->ndim == b->ndim;
  for (int i = 0; same && i < a->ndim; i++)
    same = a->dim[i] == b->dim[i];
  if (!same)
    return ibx_fail(IBX_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape", op, na,
                    ibx_shape_str(a, sa, sizeof sa), nb, ibx_shape_str(b, sb, sizeof sb));
  return IBX_OK;
}
