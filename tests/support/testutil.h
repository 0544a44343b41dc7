/* Shared test helpers: cmocka includes, tolerance checks, finite differences. */
#ifndef IBX_TESTUTIL_H
#define IBX_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ibx/error.h"
#include "ibx/tensor.h"

/* Asserts an ibx call returned IBX_OK, printing the recorded message if not. */
#define assert_ibx_ok(expr)                                                        \
  do {                                                                             \
    int rc_ = (expr);                                                              \
    if (rc_ != IBX_OK)                                                             \
      fail_msg("%s returned %s: %s", #expr, ibx_errname(rc_), ibx_errmsg());       \
  } while (0)

/* Fills with N(0, scale^2) from a fixed Philox stream (deterministic). */
void tu_randn(float *x, size_t n, float scale, uint64_t stream);
float *tu_alloc_randn(size_t n, float scale, uint64_t stream);

/* Compares arrays: |a-b| <= atol + rtol*|b| for every element; on failure
 * reports the worst index. */
void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double rtol,
                     double atol);

/* Finite-difference gradient check.
 * loss(ctx) must run the forward pass and return sum(y .* G) accumulated in
 * double, for a fixed random G, so dLoss/dy = G. analytic[i] is the backward
 * pass's gradient for var[i]. Each var element is perturbed by +-eps (central
 * difference) and restored. Tolerance: |fd - an| <= atol + rtol*max(|fd|,|an|).
 * Checks at most max_checks elements spread evenly across var (all if 0). */
typedef double (*tu_loss_fn)(void *ctx);
void tu_check_grad(const char *what, tu_loss_fn loss, void *ctx, float *var,
                   const float *analytic, size_t n, float eps, double rtol, double atol,
                   size_t max_checks);

/* sum(y .* g) in double. */
double tu_dot(const float *y, const float *g, size_t n);

/* Config values by "section.key", for the config tests (the library reads
 * typed fields, ibx/run_config.h); fail the test on a key the schema lacks
 * or of another type. */
#include "ibx/config.h"
long ibx_config_int(const ibx_config *c, const char *name);
double ibx_config_float(const ibx_config *c, const char *name);
int ibx_config_bool(const ibx_config *c, const char *name);
const char *ibx_config_string(const ibx_config *c, const char *name);
int ibx_config_list(const ibx_config *c, const char *name, const long **items);

#endif
