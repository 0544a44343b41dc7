/* Unit tests of the core: Philox4x32-10 known answers and counter-based
 * determinism, the normal/uniform samplers, the parameter store, SGD and Adam
 * (hand-computed steps following torch.optim), learning-rate schedules,
 * memory (alignment, failure injection, scratch growth), errors, tensor
 * helpers and initialisers.
 *
 * Tolerances: optimiser and schedule values are computed by hand (checked in
 * double precision) and compared with 1e-6 absolute error, the float32
 * rounding of a few operations on O(1) numbers. Statistical checks use
 * bounds of >= 5 standard errors, so they fail only on a real defect (the
 * samples are fixed, so they are deterministic anyway).
 */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/init.h"
#include "ibx/memory.h"
#include "ibx/optim.h"
#include "ibx/params.h"
#include "ibx/rng.h"
#include "ibx/tensor.h"

/* ---- Philox4x32-10 ------------------------------------------------------- */

/* Random123's tests/kat_vectors, the three "philox4x32 10" lines:
 * counter (4 words), key (2 words) -> output (4 words). */
static void test_philox_kat(void **state) {
  (void)state;
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[3] = {
      {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
       {0x00000000, 0x00000000},
       {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (int t = 0; t < 3; t++) {
    uint32_t out[4];
    ibx_philox4x32_10(kat[t].ctr, kat[t].key, out);
    for (int i = 0; i < 4; i++)
      if (out[i] != kat[t].out[i])
        fail_msg("KAT %d word %d: got %08x, expected %08x", t, i, out[i], kat[t].out[i]);
  }
}

/* ibx_rng_u32x4 is Philox with counter (index lo, index hi, stream lo,
 * stream hi) and key (seed lo, seed hi): all 64 bits of each matter. */
static void test_rng_u32x4_layout(void **state) {
  (void)state;
  const uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull,
                 index = 0x85a308d3243f6a88ull;
  uint32_t out[4];
  ibx_rng_u32x4(seed, stream, index, out);
  assert_int_equal(out[0], 0xd16cfe09);
  assert_int_equal(out[3], 0x24126ea1);
  uint32_t a[4], b[4];
  ibx_rng_u32x4(1, 0, 0, a);
  ibx_rng_u32x4(1ull | (1ull << 32), 0, 0, b);
  assert_memory_not_equal(a, b, sizeof a);
  ibx_rng_u32x4(1, 1ull << 32, 0, b);
  assert_memory_not_equal(a, b, sizeof a);
  ibx_rng_u32x4(1, 0, 1ull << 32, b);
  assert_memory_not_equal(a, b, sizeof a);
}

#define NBIG 100003 /* above the 65536 threshold where the fills go parallel */

static void test_rng_fill_thread_independent(void **state) {
  (void)state;
  float *ref = malloc(NBIG * sizeof(float)), *got = malloc(NBIG * sizeof(float));
  assert_true(ref && got);
  const int saved = omp_get_max_threads();
  for (int kind = 0; kind < 2; kind++) {
    void (*fill)(float *, size_t, uint64_t, uint64_t, uint64_t) =
        kind ? ibx_rng_fill_uniform : ibx_rng_fill_normal;
    omp_set_num_threads(1);
    fill(ref, NBIG, 42, 5, 1000);
    for (int t = 2; t <= 4; t++) {
      omp_set_num_threads(t);
      memset(got, 0, NBIG * sizeof(float));
      fill(got, NBIG, 42, 5, 1000);
      assert_memory_equal(got, ref, NBIG * sizeof(float));
    }
    /* Chunking: [0,k) then [k,n) with first offset k == all at once. */
    const size_t cuts[3] = {1, 65537, 77777};
    for (int c = 0; c < 3; c++) {
      const size_t k = cuts[c];
      memset(got, 0, NBIG * sizeof(float));
      fill(got, k, 42, 5, 1000);
      fill(got + k, NBIG - k, 42, 5, 1000 + k);
      assert_memory_equal(got, ref, NBIG * sizeof(float));
    }
    /* Element i is the scalar function at index first + i. */
    for (size_t i = 0; i < NBIG; i += 9973) {
      const float v = kind ? ibx_rng_uniform(42, 5, 1000 + i) : ibx_rng_normal(42, 5, 1000 + i);
      assert_memory_equal(&v, &ref[i], sizeof v);
    }
    /* Another stream or seed gives other numbers. */
    fill(got, 1000, 42, 6, 1000);
    assert_memory_not_equal(got, ref, 1000 * sizeof(float));
    fill(got, 1000, 43, 5, 1000);
    assert_memory_not_equal(got, ref, 1000 * sizeof(float));
  }
  omp_set_num_threads(saved);
  free(ref), free(got);
}

static void test_rng_normal_moments(void **state) {
  (void)state;
  float *z = malloc(NBIG * sizeof(float));
  ibx_rng_fill_normal(z, NBIG, 2024, 1, 0);
  double s = 0.0, s2 = 0.0, s4 = 0.0;
  size_t tail = 0;
  for (size_t i = 0; i < NBIG; i++) {
    assert_true(isfinite(z[i]));
    s += z[i];
    s2 += (double)z[i] * z[i];
    s4 += (double)z[i] * z[i] * z[i] * z[i];
    tail += fabsf(z[i]) > 1.959964f;
  }
  const double mean = s / NBIG, var = s2 / NBIG - mean * mean;
  /* standard errors: mean 0.0032, std 0.0022, 4th moment 0.03, tail 0.0007 */
  assert_true(fabs(mean) < 0.016);
  assert_true(fabs(sqrt(var) - 1.0) < 0.011);
  assert_true(fabs(s4 / NBIG - 3.0) < 0.15);
  assert_true(fabs((double)tail / NBIG - 0.05) < 0.0035);
  free(z);
}

static void test_rng_uniform_range(void **state) {
  (void)state;
  float *u = malloc(NBIG * sizeof(float));
  ibx_rng_fill_uniform(u, NBIG, 7, 3, 0);
  double s = 0.0;
  for (size_t i = 0; i < NBIG; i++) {
    assert_true(u[i] > 0.0f && u[i] < 1.0f);
    s += u[i];
  }
  assert_true(fabs(s / NBIG - 0.5) < 0.005); /* se 0.0009 */
  /* Found by search: at (seed 7, stream 3) index 23583885 the first word is
   * 0xffffff18 (all top bits set) and index 7827260 gives 0x0000002b (all
   * clear). The open interval must hold at both extremes. */
  uint32_t r[4];
  ibx_rng_u32x4(7, 3, 23583885, r);
  assert_int_equal(r[0] >> 8, 0xffffff);
  const float hi = ibx_rng_uniform(7, 3, 23583885);
  assert_true(hi < 1.0f);
  assert_true(hi > 0.9999f);
  ibx_rng_u32x4(7, 3, 7827260, r);
  assert_int_equal(r[0] >> 8, 0);
  const float lo = ibx_rng_uniform(7, 3, 7827260);
  assert_true(lo > 0.0f);
  assert_true(lo < 1e-6f);
  assert_true(1.0f - hi == lo); /* symmetric grid: (k + 1/2) / 2^23 */
  free(u);
}

/* ---- parameter store ----------------------------------------------------- */

static void test_params_store(void **state) {
  (void)state;
  ibx_params p;
  ibx_params_init(&p, 1);
  const int d_w[4] = {4, 3, 3, 3}, d_b[1] = {4}, d_fc[2] = {10, 7};
  int iw = -1, ib = -1, ifc = -1;
  assert_ibx_ok(ibx_params_declare(&p, "features.0.weight", 4, d_w, &iw));
  assert_ibx_ok(ibx_params_declare(&p, "features.0.bias", 1, d_b, &ib));
  assert_ibx_ok(ibx_params_declare(&p, "classifier.weight", 2, d_fc, &ifc));
  assert_int_equal(iw, 0);
  assert_int_equal(ib, 1);
  assert_int_equal(ifc, 2);
  assert_int_equal(p.count, 3);

  /* errors: duplicate name, bad dims, over-long name */
  ibx_clear_error();
  assert_int_equal(ibx_params_declare(&p, "features.0.bias", 1, d_b, NULL), IBX_ERR_ARG);
  assert_non_null(strstr(ibx_errmsg(), "features.0.bias"));
  const int zero[2] = {3, 0};
  assert_int_equal(ibx_params_declare(&p, "z", 2, zero, NULL), IBX_ERR_ARG);
  assert_int_equal(ibx_params_declare(&p, "z", 0, zero, NULL), IBX_ERR_ARG);
  assert_int_equal(ibx_params_declare(&p, "z", 5, d_w, NULL), IBX_ERR_ARG);
  char longname[IBX_PARAM_NAME_MAX + 8];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_int_equal(ibx_params_declare(&p, longname, 1, d_b, NULL), IBX_ERR_ARG);
  assert_int_equal(p.count, 3);

  assert_int_equal(ibx_params_count(&p), 108 + 4 + 70);
  assert_null(p.values);
  assert_ibx_ok(ibx_params_allocate(&p));
  assert_non_null(p.values);
  assert_non_null(p.grads);
  assert_true(p.total >= ibx_params_count(&p));
  assert_int_equal(ibx_params_allocate(&p), IBX_ERR_ARG); /* twice */
  assert_int_equal(ibx_params_declare(&p, "late", 1, d_b, NULL), IBX_ERR_ARG);

  assert_int_equal(ibx_params_find(&p, "features.0.bias"), ib);
  assert_int_equal(ibx_params_find(&p, "classifier.weight"), ifc);
  assert_int_equal(ibx_params_find(&p, "nope"), -1);

  /* views: shapes, zeroed, disjoint, aligned to 64 bytes */
  const int idx[3] = {iw, ib, ifc};
  for (int k = 0; k < 3; k++) {
    ibx_tensor v = ibx_params_value(&p, idx[k]), g = ibx_params_grad(&p, idx[k]);
    assert_int_equal(v.ndim, p.info[idx[k]].ndim);
    assert_int_equal((uintptr_t)v.data % 64, 0);
    assert_int_equal((uintptr_t)g.data % 64, 0);
    assert_int_equal(g.data - p.grads, v.data - p.values);
    assert_int_equal(ibx_numel(&v), (int64_t)p.info[idx[k]].numel);
    for (int64_t i = 0; i < ibx_numel(&v); i++) {
      assert_true(v.data[i] == 0.0f && g.data[i] == 0.0f);
      v.data[i] = (float)(k + 1);
      g.data[i] = 1.0f;
    }
  }
  ibx_tensor w = ibx_params_value(&p, iw), fc = ibx_params_value(&p, ifc);
  assert_int_equal(w.dim[0], 4);
  assert_int_equal(w.dim[3], 3);
  assert_int_equal(fc.ndim, 2);
  assert_int_equal(fc.dim[0], 10);
  assert_int_equal(fc.dim[1], 7);
  /* writes through one view did not land in another */
  assert_true(w.data[107] == 1.0f);
  assert_true(ibx_params_value(&p, ib).data[0] == 2.0f);
  assert_true(fc.data[0] == 3.0f);
  ibx_params_zero_grads(&p);
  for (size_t i = 0; i < p.total; i++)
    assert_true(p.grads[i] == 0.0f);
  ibx_params_free(&p);
  assert_null(p.values);
  assert_int_equal(p.count, 0);

  /* without gradients */
  ibx_params s;
  ibx_params_init(&s, 0);
  assert_ibx_ok(ibx_params_declare(&s, "bn.running_mean", 1, d_b, NULL));
  assert_ibx_ok(ibx_params_allocate(&s));
  assert_null(s.grads);
  assert_null(ibx_params_grad(&s, 0).data);
  ibx_params_zero_grads(&s); /* no-op */
  ibx_params_free(&s);

  /* many declarations grow the table */
  ibx_params m;
  ibx_params_init(&m, 1);
  for (int i = 0; i < 100; i++) {
    char name[32];
    snprintf(name, sizeof name, "layer%d.weight", i);
    const int d[1] = {i + 1};
    assert_ibx_ok(ibx_params_declare(&m, name, 1, d, NULL));
  }
  assert_int_equal(ibx_params_count(&m), 100 * 101 / 2);
  assert_int_equal(ibx_params_find(&m, "layer77.weight"), 77);
  assert_ibx_ok(ibx_params_allocate(&m));
  assert_int_equal(ibx_params_value(&m, 99).data[99], 0.0f);
  ibx_params_free(&m);
}

/* ---- optimisers ---------------------------------------------------------- */

/* Two steps on one parameter p0 = 1 with gradients 0.5 then -0.25, lr 0.1.
 * Expected values by hand from torch.optim.SGD's update:
 *   d = g + wd*p; buf = d (first step) or mu*buf + (1-damp)*d;
 *   d = nesterov ? d + mu*buf : buf; p -= lr*d. */
static void sgd_two_steps(ibx_sgd o, float e1, float e2) {
  float p = 1.0f, v = 0.0f;
  const float g[2] = {0.5f, -0.25f};
  assert_ibx_ok(ibx_sgd_step(&o, 0.1f, &p, &g[0], &v, 1, 0));
  if (fabsf(p - e1) > 1e-6f)
    fail_msg("sgd(mu %g, wd %g, nesterov %d, damp %g) step 1: %.8g, expected %.8g",
             (double)o.momentum, (double)o.weight_decay, o.nesterov, (double)o.dampening,
             (double)p, (double)e1);
  assert_ibx_ok(ibx_sgd_step(&o, 0.1f, &p, &g[1], &v, 1, 1));
  if (fabsf(p - e2) > 1e-6f)
    fail_msg("sgd(mu %g, wd %g, nesterov %d, damp %g) step 2: %.8g, expected %.8g",
             (double)o.momentum, (double)o.weight_decay, o.nesterov, (double)o.dampening,
             (double)p, (double)e2);
}

static void test_sgd(void **state) {
  (void)state;
  /* plain: 1 - 0.05 = 0.95; 0.95 + 0.025 = 0.975 */
  sgd_two_steps((ibx_sgd){0.0f, 0.0f, 0, 0.0f}, 0.95f, 0.975f);
  /* momentum 0.9: buf = 0.5 -> 0.95; buf = 0.45 - 0.25 = 0.2 -> 0.93 */
  sgd_two_steps((ibx_sgd){0.9f, 0.0f, 0, 0.0f}, 0.95f, 0.93f);
  /* nesterov: d = 0.5 + 0.45 = 0.95 -> 0.905; buf 0.2, d = -0.25 + 0.18 -> 0.912 */
  sgd_two_steps((ibx_sgd){0.9f, 0.0f, 1, 0.0f}, 0.905f, 0.912f);
  /* weight decay 0.01 with momentum: d = 0.51 -> 0.949;
   * d = -0.25 + 0.00949 = -0.24051, buf = 0.459 - 0.24051 = 0.21849 -> 0.927151 */
  sgd_two_steps((ibx_sgd){0.9f, 0.01f, 0, 0.0f}, 0.949f, 0.927151f);
  /* weight decay without momentum: 0.949; 0.949 + 0.024051 = 0.973051 */
  sgd_two_steps((ibx_sgd){0.0f, 0.01f, 0, 0.0f}, 0.949f, 0.973051f);
  /* dampening 0.5: the first step still sets buf = d (torch);
   * buf = 0.45 + 0.5*(-0.25) = 0.325 -> 0.95 - 0.0325 = 0.9175 */
  sgd_two_steps((ibx_sgd){0.9f, 0.0f, 0, 0.5f}, 0.95f, 0.9175f);

  /* bad settings */
  float p = 1.0f, g = 1.0f, v = 0.0f;
  ibx_sgd bad = {0.0f, 0.0f, 1, 0.0f}; /* nesterov without momentum */
  assert_int_equal(ibx_sgd_step(&bad, 0.1f, &p, &g, &v, 1, 0), IBX_ERR_ARG);
  bad = (ibx_sgd){0.9f, 0.0f, 1, 0.1f}; /* nesterov with dampening */
  assert_int_equal(ibx_sgd_step(&bad, 0.1f, &p, &g, &v, 1, 0), IBX_ERR_ARG);
  bad = (ibx_sgd){-0.1f, 0.0f, 0, 0.0f};
  assert_int_equal(ibx_sgd_step(&bad, 0.1f, &p, &g, &v, 1, 0), IBX_ERR_ARG);
  bad = (ibx_sgd){0.9f, 0.0f, 0, 0.0f};
  assert_int_equal(ibx_sgd_step(&bad, 0.1f, &p, &g, NULL, 1, 0), IBX_ERR_ARG);
  assert_true(strlen(ibx_errmsg()) > 0);
  assert_float_equal(p, 1.0f, 0.0f); /* untouched by failed calls */
}

/* Adam (torch.optim.Adam), lr 0.1, betas (0.9, 0.999), eps 1e-8, p0 = 1,
 * grads 0.5 then -0.25. By hand:
 *  t=1: m = 0.05, v = 2.5e-4; m^ = 0.5, v^ = 0.25; p = 1 - 0.1*0.5/0.5 = 0.9
 *  t=2: m = 0.045 - 0.025 = 0.02, v = 2.4975e-4 + 6.25e-5 = 3.1225e-4;
 *       m^ = 0.02/0.19 = 0.1052632, v^ = 3.1225e-4/0.001999 = 0.1562031,
 *       p = 0.9 - 0.1 * 0.1052632 / 0.3952254 = 0.8733663 */
static void adam_two_steps(ibx_adam o, float p0, const float g[2], float lr, float e1, float e2) {
  float p = p0, m = 0.0f, v = 0.0f;
  assert_ibx_ok(ibx_adam_step(&o, lr, &p, &g[0], &m, &v, 1, 0));
  if (fabsf(p - e1) > 1e-6f)
    fail_msg("adam(wd %g, decoupled %d) step 1: %.8g, expected %.8g", (double)o.weight_decay,
             o.decoupled, (double)p, (double)e1);
  assert_ibx_ok(ibx_adam_step(&o, lr, &p, &g[1], &m, &v, 1, 1));
  if (fabsf(p - e2) > 1e-6f)
    fail_msg("adam(wd %g, decoupled %d) step 2: %.8g, expected %.8g", (double)o.weight_decay,
             o.decoupled, (double)p, (double)e2);
}

static void test_adam(void **state) {
  (void)state;
  const float g[2] = {0.5f, -0.25f};
  adam_two_steps((ibx_adam){0.9f, 0.999f, 1e-8f, 0.0f, 0}, 1.0f, g, 0.1f, 0.9f, 0.8733663f);
  /* L2 (coupled) weight decay 0.1: g1 = 0.6, g2 = -0.25 + 0.09 = -0.16 */
  adam_two_steps((ibx_adam){0.9f, 0.999f, 1e-8f, 0.1f, 0}, 1.0f, g, 0.1f, 0.9f, 0.8544414f);
  /* decoupled (AdamW) 0.1: p *= 1 - 0.01 first: 0.99 - 0.1 = 0.89, then
   * 0.89 * 0.99 - 0.0266337 = 0.8544663 */
  adam_two_steps((ibx_adam){0.9f, 0.999f, 1e-8f, 0.1f, 1}, 1.0f, g, 0.1f, 0.89f, 0.8544663f);
  /* zero first gradient (m = v = 0: no move), then 3 with betas (0.5, 0.9),
   * eps 1e-3: m^ = 1.5/0.75 = 2, v^ = 0.9/0.19, step 0.01*2/(2.176429+0.001) */
  const float g2[2] = {0.0f, 3.0f};
  adam_two_steps((ibx_adam){0.5f, 0.9f, 1e-3f, 0.0f, 0}, -2.0f, g2, 0.01f, -2.0f, -2.0091851f);

  float p = 1.0f, gg = 1.0f, m = 0.0f, v = 0.0f;
  ibx_adam bad = {1.0f, 0.999f, 1e-8f, 0.0f, 0};
  assert_int_equal(ibx_adam_step(&bad, 0.1f, &p, &gg, &m, &v, 1, 0), IBX_ERR_ARG);
  bad = (ibx_adam){0.9f, 0.999f, 0.0f, 0.0f, 0};
  assert_int_equal(ibx_adam_step(&bad, 0.1f, &p, &gg, &m, &v, 1, 0), IBX_ERR_ARG);
  assert_float_equal(p, 1.0f, 0.0f);
}

/* The optimisers' parallel loops give the same bits at any thread count. */
static void test_optim_thread_independent(void **state) {
  (void)state;
  const size_t n = 70001;
  float *p1 = tu_alloc_randn(n, 1.0f, 201), *p2 = malloc(n * sizeof(float));
  float *g = tu_alloc_randn(n, 1.0f, 202);
  float *m1 = calloc(n, sizeof(float)), *v1 = calloc(n, sizeof(float));
  float *m2 = calloc(n, sizeof(float)), *v2 = calloc(n, sizeof(float));
  memcpy(p2, p1, n * sizeof(float));
  const int saved = omp_get_max_threads();
  ibx_adam a = {0.9f, 0.999f, 1e-8f, 5e-4f, 0};
  ibx_sgd s = {0.9f, 5e-4f, 1, 0.0f};
  omp_set_num_threads(1);
  assert_ibx_ok(ibx_adam_step(&a, 1e-3f, p1, g, m1, v1, n, 3));
  assert_ibx_ok(ibx_sgd_step(&s, 1e-2f, p1, g, v1, n, 3));
  omp_set_num_threads(3);
  assert_ibx_ok(ibx_adam_step(&a, 1e-3f, p2, g, m2, v2, n, 3));
  assert_ibx_ok(ibx_sgd_step(&s, 1e-2f, p2, g, v2, n, 3));
  omp_set_num_threads(saved);
  assert_memory_equal(p1, p2, n * sizeof(float));
  free(p1), free(p2), free(g), free(m1), free(v1), free(m2), free(v2);
}

/* ---- schedules ----------------------------------------------------------- */

static ibx_schedule sched(ibx_sched_kind kind, float base) {
  ibx_schedule s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.base_lr = base;
  return s;
}

static void test_schedule_constant_multistep(void **state) {
  (void)state;
  ibx_schedule s = sched(IBX_SCHED_CONSTANT, 0.05f);
  assert_ibx_ok(ibx_schedule_check(&s));
  for (long t = 0; t < 1000; t += 97)
    assert_float_equal(ibx_schedule_lr(&s, t), 0.05f, 0.0f);

  s = sched(IBX_SCHED_MULTISTEP, 0.1f);
  s.n_milestones = 2;
  s.milestones[0] = 30;
  s.milestones[1] = 60;
  s.gamma = 0.1f;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 0), 0.1f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 29), 0.1f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 30), 0.01f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 59), 0.01f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 60), 0.001f, 1e-9f);
  assert_float_equal(ibx_schedule_lr(&s, 100000), 0.001f, 1e-9f);

  /* warm-up: linear from warmup_start * base over warmup_steps, then the
   * schedule; milestones count from step 0 */
  s.warmup_steps = 10;
  s.warmup_start = 0.1f;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 0), 0.01f, 1e-8f);
  assert_float_equal(ibx_schedule_lr(&s, 5), 0.1f * (0.1f + 0.9f * 0.5f), 1e-8f);
  assert_float_equal(ibx_schedule_lr(&s, 9), 0.1f * (0.1f + 0.9f * 0.9f), 1e-8f);
  assert_float_equal(ibx_schedule_lr(&s, 10), 0.1f, 1e-8f);
  assert_float_equal(ibx_schedule_lr(&s, 30), 0.01f, 1e-8f);
  /* ramp is increasing */
  for (long t = 1; t <= 10; t++)
    assert_true(ibx_schedule_lr(&s, t) > ibx_schedule_lr(&s, t - 1));
  /* no milestones: constant */
  s.n_milestones = 0;
  s.warmup_steps = 0;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 500), 0.1f, 0.0f);
}

static void test_schedule_cosine(void **state) {
  (void)state;
  ibx_schedule s = sched(IBX_SCHED_COSINE, 1.0f);
  s.total_steps = 100;
  s.min_lr = 0.1f;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 0), 1.0f, 1e-7f);
  assert_float_equal(ibx_schedule_lr(&s, 50), 0.55f, 1e-6f);
  /* quarter: 0.1 + 0.45 * (1 + cos(pi/4)) */
  assert_float_equal(ibx_schedule_lr(&s, 25), 0.1f + 0.45f * (1.0f + 0.70710678f), 1e-6f);
  assert_float_equal(ibx_schedule_lr(&s, 100), 0.1f, 1e-7f);
  assert_float_equal(ibx_schedule_lr(&s, 250), 0.1f, 1e-7f); /* held after the end */
  for (long t = 1; t <= 100; t++)
    assert_true(ibx_schedule_lr(&s, t) <= ibx_schedule_lr(&s, t - 1));

  /* with warm-up the cosine spans [warmup, total] */
  s.warmup_steps = 20;
  s.warmup_start = 0.0f;
  s.min_lr = 0.0f;
  assert_ibx_ok(ibx_schedule_check(&s));
  assert_float_equal(ibx_schedule_lr(&s, 0), 0.0f, 0.0f);
  assert_float_equal(ibx_schedule_lr(&s, 10), 0.5f, 1e-7f);
  assert_float_equal(ibx_schedule_lr(&s, 20), 1.0f, 1e-7f);
  assert_float_equal(ibx_schedule_lr(&s, 60), 0.5f, 1e-6f);
  assert_float_equal(ibx_schedule_lr(&s, 100), 0.0f, 1e-7f);
}

static void expect_sched_error(ibx_schedule s, const char *word) {
  ibx_clear_error();
  assert_int_equal(ibx_schedule_check(&s), IBX_ERR_ARG);
  if (!strstr(ibx_errmsg(), word))
    fail_msg("schedule error '%s' does not mention '%s'", ibx_errmsg(), word);
}

/* KL warm-up: linear from 0 to beta over warmup_steps, beta after; none
 * when warmup_steps <= 0. Hand-computed. */
static void test_kl_warmup(void **state) {
  (void)state;
  assert_true(ibx_kl_warmup_beta(0.01, 0.0, 0) == 0.01f);
  assert_true(ibx_kl_warmup_beta(0.01, -1.0, 5) == 0.01f);
  assert_true(ibx_kl_warmup_beta(0.5, 100.0, 0) == 0.0f);
  assert_true(ibx_kl_warmup_beta(0.5, 100.0, 25) == 0.125f);
  assert_true(ibx_kl_warmup_beta(0.5, 100.0, 100) == 0.5f);
  assert_true(ibx_kl_warmup_beta(0.5, 100.0, 1000) == 0.5f);
  assert_true(ibx_kl_warmup_beta(0.3, 7.5, 3) == (float)(0.3 * (3.0 / 7.5)));
}

static void test_schedule_check_errors(void **state) {
  (void)state;
  ibx_schedule s = sched(IBX_SCHED_CONSTANT, 0.0f);
  expect_sched_error(s, "base_lr");
  s.base_lr = NAN;
  expect_sched_error(s, "base_lr");
  s = sched(IBX_SCHED_CONSTANT, 0.1f);
  s.warmup_steps = -1;
  expect_sched_error(s, "warmup");
  s.warmup_steps = 5;
  s.warmup_start = 1.5f;
  expect_sched_error(s, "warmup");

  s = sched(IBX_SCHED_MULTISTEP, 0.1f);
  s.gamma = 0.1f;
  s.n_milestones = 2;
  s.milestones[0] = 10, s.milestones[1] = 10;
  expect_sched_error(s, "milestones");
  s.milestones[0] = 0, s.milestones[1] = 10;
  expect_sched_error(s, "milestones");
  s.milestones[0] = 20, s.milestones[1] = 10;
  expect_sched_error(s, "milestones");
  s.n_milestones = IBX_SCHED_MAX_MILESTONES + 1;
  expect_sched_error(s, "milestones");
  s.n_milestones = -1;
  expect_sched_error(s, "milestones");
  s.n_milestones = 1;
  s.gamma = 0.0f;
  expect_sched_error(s, "gamma");

  s = sched(IBX_SCHED_COSINE, 0.1f);
  s.total_steps = 0;
  expect_sched_error(s, "total_steps");
  s.total_steps = 10;
  s.warmup_steps = 10;
  expect_sched_error(s, "total_steps");
  s.warmup_steps = 0;
  s.min_lr = 0.2f;
  expect_sched_error(s, "min_lr");
  s.min_lr = -0.01f;
  expect_sched_error(s, "min_lr");

  s = sched((ibx_sched_kind)42, 0.1f);
  expect_sched_error(s, "kind");
}

/* ---- memory -------------------------------------------------------------- */

static void test_alloc_and_failure_injection(void **state) {
  (void)state;
  for (size_t bytes = 0; bytes < 300; bytes += 37) {
    void *p = ibx_alloc(bytes, "test");
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    ibx_free(p);
  }
  unsigned char *z = ibx_calloc(1000, "zeros");
  assert_non_null(z);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(z[i], 0);
  ibx_free(z);
  ibx_free(NULL);

  /* the 3rd allocation from now fails, once */
  ibx_alloc_fail_after(3);
  void *a = ibx_alloc(16, "first"), *b = ibx_alloc(16, "second");
  ibx_clear_error();
  void *c = ibx_alloc(16, "third");
  void *d = ibx_alloc(16, "fourth");
  assert_non_null(a);
  assert_non_null(b);
  assert_null(c);
  assert_non_null(d);
  assert_non_null(strstr(ibx_errmsg(), "third"));
  ibx_free(a), ibx_free(b), ibx_free(d);
  /* disabling */
  ibx_alloc_fail_after(1);
  ibx_alloc_fail_after(0);
  a = ibx_alloc(16, "x");
  assert_non_null(a);
  ibx_free(a);
  /* calloc fails the same way */
  ibx_alloc_fail_after(1);
  assert_null(ibx_calloc(16, "calloc"));
}

static void test_scratch_growth(void **state) {
  (void)state;
  ibx_scratch s = {0};
  float *p = ibx_scratch_get(&s, 10);
  assert_non_null(p);
  assert_true(s.capacity >= 10);
  assert_int_equal(s.peak, 10);
  assert_int_equal((uintptr_t)p % 64, 0);
  p[9] = 1.0f;
  float *q = ibx_scratch_get(&s, 5); /* smaller: same buffer */
  assert_ptr_equal(q, p);
  assert_int_equal(s.peak, 10);
  const size_t cap = s.capacity;
  q = ibx_scratch_get(&s, 1000); /* grows */
  assert_non_null(q);
  assert_true(s.capacity >= 1000 && s.capacity > cap);
  assert_int_equal(s.peak, 1000);
  q[999] = 2.0f;
  assert_ptr_equal(ibx_scratch_get(&s, 1000), q);

  /* failed growth: NULL with a message, the old buffer stays usable */
  ibx_clear_error();
  ibx_alloc_fail_after(1);
  assert_null(ibx_scratch_get(&s, 5000));
  assert_true(strlen(ibx_errmsg()) > 0);
  assert_ptr_equal(s.data, q);
  assert_int_equal(s.capacity, 1000);
  assert_true(s.data[999] == 2.0f);
  float *r = ibx_scratch_get(&s, 5000); /* retry works */
  assert_non_null(r);
  assert_ptr_equal(r, s.data);
  assert_int_equal(s.capacity, 5000);
  ibx_scratch_free(&s);
  assert_null(s.data);
  assert_int_equal(s.capacity, 0);
  ibx_scratch_free(&s); /* twice is fine */
}

/* ---- errors, tensors, init ---------------------------------------------- */

static void test_errors(void **state) {
  (void)state;
  ibx_clear_error();
  assert_string_equal(ibx_errmsg(), "");
  assert_int_equal(ibx_fail(IBX_ERR_IO, "cannot open %s (%d)", "x.h5", 2), IBX_ERR_IO);
  assert_string_equal(ibx_errmsg(), "cannot open x.h5 (2)");
  ibx_clear_error();
  assert_string_equal(ibx_errmsg(), "");
  assert_string_equal(ibx_errname(IBX_OK), "ok");
  assert_string_equal(ibx_errname(IBX_ERR_SHAPE), "shape");
  assert_string_equal(ibx_errname(IBX_ERR_NOMEM), "nomem");
  for (int c = 0; c < IBX_ERR_COUNT; c++)
    assert_true(strlen(ibx_errname(c)) > 0);
  assert_string_equal(ibx_errname(IBX_ERR_COUNT), "unknown");
  assert_string_equal(ibx_errname(-1), "unknown");
  /* long messages are truncated, not overflowed */
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ibx_fail(IBX_ERR_ARG, "%s", big);
  assert_true(strlen(ibx_errmsg()) < sizeof big - 1);
  /* the message is per thread */
  ibx_fail(IBX_ERR_ARG, "main thread");
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 1)
      ibx_fail(IBX_ERR_IO, "worker thread");
  }
  assert_string_equal(ibx_errmsg(), "main thread");
  ibx_clear_error();
}

static void test_tensor_helpers(void **state) {
  (void)state;
  float d[120];
  ibx_tensor t = ibx_t4(d, 2, 3, 4, 5), u = ibx_t2(d, 6, 20), v = ibx_t1(d, 7);
  assert_int_equal(ibx_numel(&t), 120);
  assert_int_equal(ibx_numel(&u), 120);
  assert_int_equal(ibx_numel(&v), 7);
  char buf[64];
  assert_string_equal(ibx_shape_str(&t, buf, sizeof buf), "[2,3,4,5]");
  assert_string_equal(ibx_shape_str(&v, buf, sizeof buf), "[7]");
  char tiny[5];
  ibx_shape_str(&t, tiny, sizeof tiny); /* truncates safely */
  assert_true(strlen(tiny) < sizeof tiny);
  assert_ibx_ok(ibx_check_ndim(&t, 4, "op", "t"));
  assert_int_equal(ibx_check_ndim(&t, 2, "myop", "t"), IBX_ERR_SHAPE);
  assert_non_null(strstr(ibx_errmsg(), "myop"));
  assert_int_equal(ibx_check_ndim(NULL, 2, "myop", "t"), IBX_ERR_SHAPE);
  ibx_tensor neg = ibx_t2(d, 3, 0);
  assert_int_equal(ibx_check_ndim(&neg, 2, "myop", "t"), IBX_ERR_SHAPE);
  ibx_tensor nodata = ibx_t2(NULL, 3, 4);
  assert_int_equal(ibx_check_ndim(&nodata, 2, "myop", "t"), IBX_ERR_SHAPE);
  assert_ibx_ok(ibx_check_same(&t, &t, "op", "a", "b"));
  ibx_tensor t2 = ibx_t4(d, 2, 3, 5, 4);
  assert_int_equal(ibx_check_same(&t, &t2, "sameop", "a", "b"), IBX_ERR_SHAPE);
  assert_non_null(strstr(ibx_errmsg(), "sameop"));
  assert_int_equal(ibx_check_same(&t, &u, "sameop", "a", "b"), IBX_ERR_SHAPE);
  assert_int_equal(ibx_check_same(&t, NULL, "sameop", "a", "b"), IBX_ERR_SHAPE);
}

static void test_init(void **state) {
  (void)state;
  const size_t n = 50000;
  float *w = malloc(n * sizeof(float)), *w2 = malloc(n * sizeof(float));
  ibx_init_kaiming_normal(w, n, 2 * 9 * 64, 3, 1);
  double s2 = 0.0;
  for (size_t i = 0; i < n; i++)
    s2 += (double)w[i] * w[i];
  const double want = sqrt(2.0 / (2 * 9 * 64));
  assert_true(fabs(sqrt(s2 / n) / want - 1.0) < 0.02); /* se 0.003 */
  ibx_init_kaiming_normal(w2, n, 2 * 9 * 64, 3, 1);
  assert_memory_equal(w, w2, n * sizeof(float));
  ibx_init_kaiming_normal(w2, n, 2 * 9 * 64, 3, 2);
  assert_memory_not_equal(w, w2, n * sizeof(float));

  ibx_init_uniform(w, n, 0.25f, 3, 1);
  double s = 0.0;
  float lo = 1.0f, hi = -1.0f;
  for (size_t i = 0; i < n; i++) {
    s += w[i];
    lo = fminf(lo, w[i]), hi = fmaxf(hi, w[i]);
  }
  assert_true(lo > -0.25f && hi < 0.25f);
  assert_true(lo < -0.249f && hi > 0.249f);
  assert_true(fabs(s / n) < 0.005); /* se 0.0006 */
  ibx_init_normal(w, n, 0.01f, 3, 1);
  ibx_init_normal(w2, n, 1.0f, 3, 1);
  for (size_t i = 0; i < n; i += 101)
    assert_float_equal(w[i], 0.01f * w2[i], 1e-9f);
  ibx_init_constant(w, n, 0.5f);
  for (size_t i = 0; i < n; i++)
    assert_true(w[i] == 0.5f);
  free(w), free(w2);
}

/* clip_grad_norm: hand-computed (torch's rule: scale by max/(norm+1e-6)). */
static void test_clip_grad_norm(void **state) {
  (void)state;
  float g[3] = {3.0f, 4.0f, 0.0f};
  double norm = 0.0;
  ibx_clip_grad_norm(g, 3, 10.0f, &norm); /* below the bound: untouched */
  assert_true(fabs(norm - 5.0) < 1e-12);
  assert_true(g[0] == 3.0f && g[1] == 4.0f);
  ibx_clip_grad_norm(g, 3, 0.0f, &norm); /* 0: off */
  assert_true(g[0] == 3.0f && g[1] == 4.0f);
  ibx_clip_grad_norm(g, 3, 1.0f, &norm);
  assert_true(fabs(norm - 5.0) < 1e-12);
  assert_true(fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f && g[2] == 0.0f);
  ibx_clip_grad_norm(g, 3, 1.0f, &norm); /* now at the bound: unchanged */
  assert_true(fabs(norm - 1.0) < 1e-6);
  assert_true(fabsf(g[0] - 0.6f) < 1e-6f);
}

/* The norm of a large gradient (blocks summed in parallel, 16 lanes each,
 * a short tail): close to a long-double reference, and the same bits with
 * 1, 2 and 3 threads. */
static void test_clip_grad_norm_large(void **state) {
  (void)state;
  const size_t sizes[] = {17, 65536 * 3 + 5, 70000000 / 64 + 3};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    const size_t n = sizes[k];
    float *g = tu_alloc_randn(n, 1.0f, 40 + k);
    long double ref = 0.0L;
    for (size_t i = 0; i < n; i++)
      ref += (long double)g[i] * g[i];
    double norm[3];
    const int before = omp_get_max_threads();
    for (int t = 1; t <= 3; t++) {
      omp_set_num_threads(t);
      ibx_clip_grad_norm(g, n, 0.0f, &norm[t - 1]);
    }
    omp_set_num_threads(before);
    assert_true(fabs(norm[0] - sqrt((double)ref)) <= 1e-12 * sqrt((double)ref));
    assert_memory_equal(&norm[0], &norm[1], sizeof(double));
    assert_memory_equal(&norm[0], &norm[2], sizeof(double));
    free(g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_philox_kat),
      cmocka_unit_test(test_rng_u32x4_layout),
      cmocka_unit_test(test_rng_fill_thread_independent),
      cmocka_unit_test(test_rng_normal_moments),
      cmocka_unit_test(test_rng_uniform_range),
      cmocka_unit_test(test_params_store),
      cmocka_unit_test(test_sgd),
      cmocka_unit_test(test_adam),
      cmocka_unit_test(test_optim_thread_independent),
      cmocka_unit_test(test_schedule_constant_multistep),
      cmocka_unit_test(test_schedule_cosine),
      cmocka_unit_test(test_schedule_check_errors),
      cmocka_unit_test(test_kl_warmup),
      cmocka_unit_test(test_alloc_and_failure_injection),
      cmocka_unit_test(test_scratch_growth),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_tensor_helpers),
      cmocka_unit_test(test_init),
      cmocka_unit_test(test_clip_grad_norm),
      cmocka_unit_test(test_clip_grad_norm_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
