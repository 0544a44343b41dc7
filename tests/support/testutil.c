#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/rng.h"

void tu_randn(float *x, size_t n, float scale, uint64_t stream) {
  ibx_rng_fill_normal(x, n, 12345, stream, 0);
  for (size_t i = 0; i < n; i++)
    x[i] *= scale;
}

float *tu_alloc_randn(size_t n, float scale, uint64_t stream) {
  float *x = malloc((n ? n : 1) * sizeof(float));
  assert_non_null(x);
  tu_randn(x, n, scale, stream);
  return x;
}

void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double rtol,
                     double atol) {
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < n; i++) {
    const double err = fabs((double)a[i] - b[i]);
    const double excess = err - (atol + rtol * fabs((double)b[i]));
    if (excess > worst_excess || isnan(a[i]) != isnan(b[i])) {
      worst_excess = isnan(a[i]) != isnan(b[i]) ? INFINITY : excess;
      worst = i;
    }
  }
  if (worst_excess > 0.0)
    fail_msg("%s: element %zu of %zu is %.8g, expected %.8g (rtol %g, atol %g)", what, worst, n,
             (double)a[worst], (double)b[worst], rtol, atol);
}

double tu_dot(const float *y, const float *g, size_t n) {
  double acc = 0.0;
  for (size_t i = 0; i < n; i++)
    acc += (double)y[i] * g[i];
  return acc;
}

void tu_check_grad(const char *what, tu_loss_fn loss, void *ctx, float *var,
                   const float *analytic, size_t n, float eps, double rtol, double atol,
                   size_t max_checks) {
  size_t stride = (max_checks && n > max_checks) ? n / max_checks : 1;
  for (size_t i = 0; i < n; i += stride) {
    const float saved = var[i];
    var[i] = saved + eps;
    const double up = loss(ctx);
    var[i] = saved - eps;
    const double down = loss(ctx);
    var[i] = saved;
    const double fd = (up - down) / (2.0 * (double)eps);
    const double an = analytic[i];
    const double tol = atol + rtol * fmax(fabs(fd), fabs(an));
    if (fabs(fd - an) > tol)
      fail_msg("%s: gradient element %zu of %zu: analytic %.8g, finite difference %.8g "
               "(|diff| %.3g > tol %.3g)", what, i, n, an, fd, fabs(fd - an), tol);
  }
}

/* ---- config values by name (tests only) ---------------------------------- */

static const ibx_cfg_value *tu_config_value(const ibx_config *c, const char *name,
                                            ibx_cfg_type want) {
  for (int i = 0; i < c->count; i++) {
    const ibx_cfg_key *k = c->values[i].key;
    const size_t ns = strlen(k->section);
    if (!strncmp(name, k->section, ns) && name[ns] == '.' && !strcmp(name + ns + 1, k->key) &&
        (k->type == want || (want == IBX_CFG_STRING && k->type == IBX_CFG_CHOICE)))
      return &c->values[i];
  }
  fail_msg("config key %s missing or of another type", name);
  return NULL;
}

long ibx_config_int(const ibx_config *c, const char *name) {
  return tu_config_value(c, name, IBX_CFG_INT)->i;
}
double ibx_config_float(const ibx_config *c, const char *name) {
  return tu_config_value(c, name, IBX_CFG_FLOAT)->f;
}
int ibx_config_bool(const ibx_config *c, const char *name) {
  return (int)tu_config_value(c, name, IBX_CFG_BOOL)->i;
}
const char *ibx_config_string(const ibx_config *c, const char *name) {
  return tu_config_value(c, name, IBX_CFG_STRING)->text;
}
int ibx_config_list(const ibx_config *c, const char *name, const long **items) {
  const ibx_cfg_value *v = tu_config_value(c, name, IBX_CFG_INT_LIST);
  *items = v->list;
  return v->n_list;
}
