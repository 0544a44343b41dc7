/* Element-wise add and multiply, with b broadcast over any dim where it is 1
 * (attention maps [N,1,H,W] over features, gates [N,C,1,1], ...). */
#include <string.h>

#include "ibx/error.h"
#include "ibx/layers.h"

/* Shapes padded to 4 dims; strides of b are 0 along broadcast dims. */
typedef struct {
  int dim[4];
  int64_t bstride[4];
} bcast;

static int make_bcast(const ibx_tensor *a, const ibx_tensor *b, const char *op, bcast *bc) {
  char sa[64], sb[64];
  if (!a || !a->data || !b || !b->data)
    return ibx_fail(IBX_ERR_SHAPE, "%s: missing operand", op);
  if (a->ndim != b->ndim)
    return ibx_fail(IBX_ERR_SHAPE, "%s: a %s and b %s differ in rank", op,
                    ibx_shape_str(a, sa, sizeof sa), ibx_shape_str(b, sb, sizeof sb));
  int64_t stride = 1;
  for (int i = 3; i >= 0; i--) {
    const int ad = i < a->ndim ? a->dim[i] : 1, bd = i < b->ndim ? b->dim[i] : 1;
    if (bd != ad && bd != 1)
      return ibx_fail(IBX_ERR_SHAPE, "%s: b %s does not broadcast to a %s", op,
                      ibx_shape_str(b, sb, sizeof sb), ibx_shape_str(a, sa, sizeof sa));
    bc->dim[i] = ad;
    bc->bstride[i] = bd == 1 ? 0 : stride;
    stride *= bd;
  }
  return IBX_OK;
}

static inline int64_t b_offset(const bcast *bc, int i0, int i1, int i2) {
  return i0 * bc->bstride[0] + i1 * bc->bstride[1] + i2 * bc->bstride[2];
}

/* y = a (op) b; mul selects multiply. */
static int forward(const ibx_tensor *a, const ibx_tensor *b, ibx_tensor *y, int mul,
                   const char *op) {
  bcast bc;
  IBX_TRY(make_bcast(a, b, op, &bc));
  IBX_TRY(ibx_check_same(a, y, op, "a", "y"));
  const int D3 = bc.dim[3];
  const int64_t s3 = bc.bstride[3];
  for (int i0 = 0; i0 < bc.dim[0]; i0++)
    for (int i1 = 0; i1 < bc.dim[1]; i1++)
      for (int i2 = 0; i2 < bc.dim[2]; i2++) {
        const int64_t row = (((int64_t)i0 * bc.dim[1] + i1) * bc.dim[2] + i2) * D3;
        const float *ar = a->data + row, *br = b->data + b_offset(&bc, i0, i1, i2);
        float *yr = y->data + row;
        for (int i3 = 0; i3 < D3; i3++)
          yr[i3] = mul ? ar[i3] * br[i3 * s3] : ar[i3] + br[i3 * s3];
      }
  return IBX_OK;
}

/* db = reduce over broadcast dims of (dy * other), other == NULL meaning 1;
 * da = dy * b (mul) or dy (add). */
static int backward(const ibx_tensor *a, const ibx_tensor *b, const ibx_tensor *dy,
                    ibx_tensor *da, ibx_tensor *db, int mul, const char *op) {
  bcast bc;
  const ibx_tensor *bshape = db && db->data ? db : b;
  if (!bshape || !bshape->data) { /* only da requested, add: b's shape is irrelevant */
    IBX_TRY(ibx_check_same(dy, da, op, "dy", "da"));
    if (da->data != dy->data)
      memcpy(da->data, dy->data, (size_t)ibx_numel(dy) * sizeof(float));
    return IBX_OK;
  }
  IBX_TRY(make_bcast(dy, bshape, op, &bc));
  if (mul) {
    IBX_TRY(ibx_check_same(dy, a, op, "dy", "a"));
    IBX_TRY(make_bcast(dy, b, op, &bc));
    /* db is indexed with b's broadcast strides: a db of another (even
     * broadcast-compatible) shape would be written out of bounds. */
    if (db && db->data)
      IBX_TRY(ibx_check_same(b, db, op, "b", "db"));
  }
  if (da && da->data)
    IBX_TRY(ibx_check_same(dy, da, op, "dy", "da"));
  const int D3 = bc.dim[3];
  const int64_t s3 = bc.bstride[3];
  if (db && db->data) /* reduce first: da may alias dy */
    memset(db->data, 0, (size_t)ibx_numel(db) * sizeof(float));
  for (int i0 = 0; i0 < bc.dim[0]; i0++)
    for (int i1 = 0; i1 < bc.dim[1]; i1++)
      for (int i2 = 0; i2 < bc.dim[2]; i2++) {
        const int64_t row = (((int64_t)i0 * bc.dim[1] + i1) * bc.dim[2] + i2) * D3;
        const int64_t boff = b_offset(&bc, i0, i1, i2);
        const float *g = dy->data + row;
        if (db && db->data)
          for (int i3 = 0; i3 < D3; i3++)
            db->data[boff + i3 * s3] += mul ? g[i3] * a->data[row + i3] : g[i3];
        if (da && da->data) {
          float *d = da->data + row;
          for (int i3 = 0; i3 < D3; i3++)
            d[i3] = mul ? g[i3] * b->data[boff + i3 * s3] : g[i3];
        }
      }
  return IBX_OK;
}

int ibx_add_forward(const ibx_tensor *a, const ibx_tensor *b, ibx_tensor *y) {
  return forward(a, b, y, 0, "add_forward");
}
int ibx_add_backward(const ibx_tensor *dy, ibx_tensor *da, ibx_tensor *db) {
  return backward(NULL, NULL, dy, da, db, 0, "add_backward");
}
int ibx_mul_forward(const ibx_tensor *a, const ibx_tensor *b, ibx_tensor *y) {
  return forward(a, b, y, 1, "mul_forward");
}
int ibx_mul_backward(const ibx_tensor *a, const ibx_tensor *b, const ibx_tensor *dy,
                     ibx_tensor *da, ibx_tensor *db) {
  if (!b || !b->data)
    return ibx_fail(IBX_ERR_SHAPE, "mul_backward: operand b is missing");
  return backward(a, b, dy, da, db, 1, "mul_backward");
}
