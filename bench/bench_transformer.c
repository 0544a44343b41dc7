/* Transformer text classifier: seconds per training step (forward, loss,
 * backward, AdamW update) and per per-sample IBA sequence, on fixed shapes,
 * plus peak RSS. Compare with bench/torch_transformer_bench.py on the same
 * shapes (bench/transformer_vs_torch.sh runs both).
 *
 *   bench_transformer [--batch 32] [--len 128] [--layers 2] [--d 128] [--heads 4]
 *                     [--ff 512] [--vocab 4000] [--steps 20] [--iba 5] [--dropout 0.1]
 *                     [--min-seconds 10]
 * Times the steady state: after warm-up, at least --steps training steps and
 * --min-seconds of them, then at least --iba IBA sequences and --min-seconds
 * of those (docs/performance.md: never a few steps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ibx/error.h"
#include "ibx/iba_text.h"
#include "ibx/layers.h"
#include "ibx/optim.h"
#include "ibx/rng.h"
#include "ibx/transformer.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int arg(int argc, char **argv, const char *name, int def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name))
      return atoi(argv[i + 1]);
  return def;
}

static double farg(int argc, char **argv, const char *name, double def) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], name))
      return atof(argv[i + 1]);
  return def;
}

#define CHECK(x)                                                    \
  do {                                                              \
    if ((x) != IBX_OK) {                                            \
      fprintf(stderr, "bench_transformer: %s\n", ibx_errmsg());    \
      return 1;                                                     \
    }                                                               \
  } while (0)

int main(int argc, char **argv) {
  ibx_transformer_config c;
  ibx_transformer_config_defaults(&c);
  const int B = arg(argc, argv, "--batch", 32), T = arg(argc, argv, "--len", 128);
  c.layers = arg(argc, argv, "--layers", 2), c.d_model = arg(argc, argv, "--d", 128);
  c.heads = arg(argc, argv, "--heads", 4), c.d_ff = arg(argc, argv, "--ff", 512);
  c.vocab = arg(argc, argv, "--vocab", 4000), c.max_len = T, c.num_classes = 4;
  c.dropout = (float)farg(argc, argv, "--dropout", 0.1);
  const int min_steps = arg(argc, argv, "--steps", 20), min_iba = arg(argc, argv, "--iba", 5);
  const double min_s = farg(argc, argv, "--min-seconds", 10.0);
  int steps = 0, n_iba = 0;
  ibx_transformer *t;
  CHECK(ibx_transformer_create(&c, B > 10 ? B : 10, &t));
  ibx_params *P = ibx_transformer_params(t);
  int32_t *ids = malloc((size_t)B * T * sizeof *ids);
  int *len = malloc((size_t)B * sizeof *len), *lab = malloc((size_t)B * sizeof *lab);
  float *probs = malloc((size_t)B * 4 * sizeof(float)), *dl = malloc((size_t)B * 4 * sizeof(float));
  float *m = calloc(P->total, sizeof(float)), *v = calloc(P->total, sizeof(float));
  for (int i = 0; i < B * T; i++)
    ids[i] = 5 + (int)(ibx_rng_uniform(1, 2, (uint64_t)i) * (c.vocab - 5));
  for (int n = 0; n < B; n++)
    len[n] = T, lab[n] = n % 4, ids[(size_t)n * T] = 2;
  const ibx_adam adam = {0.9f, 0.999f, 1e-8f, 0.01f, 1};
  double t_train = 0.0;
  for (int s = -2; s < min_steps || t_train < min_s; s++) { /* two warm-up steps */
    const double t0 = now();
    ibx_tensor lg;
    CHECK(ibx_transformer_forward(t, ids, T, len, NULL, B, 1, (uint64_t)s + 100, &lg));
    float loss;
    ibx_tensor pt = ibx_t2(probs, B, 4), dlt = ibx_t2(dl, B, 4);
    CHECK(ibx_softmax_xent_forward(&lg, lab, &loss, &pt));
    CHECK(ibx_softmax_xent_backward(&pt, lab, 1.0f, &dlt));
    ibx_params_zero_grads(P);
    CHECK(ibx_transformer_backward(t, dl, NULL));
    CHECK(ibx_adam_step(&adam, 1e-4f, P->values, P->grads, m, v, P->total, s + 2));
    if (s >= 0)
      t_train += now() - t0, steps++;
  }
  double t_iba = 0.0;
  if (min_iba > 0) {
    ibx_iba_text_config ic;
    ibx_iba_text_default(&ic);
    ibx_iba_text *b;
    CHECK(ibx_iba_text_create(t, ibx_iba_text_default_layer(c.layers), &ic, &b));
    CHECK(ibx_iba_text_add_samples(b, ids, T, len, B < 16 ? B : 16));
    CHECK(ibx_iba_text_finish_stats(b));
    float *heat = malloc((size_t)T * sizeof(float));
    for (int s = -1; s < min_iba || t_iba < min_s; s++) {
      const double t0 = now();
      CHECK(ibx_iba_text_heatmap(b, ids + (size_t)(s + 1) % B * T, T, 0, heat, NULL));
      if (s >= 0)
        t_iba += now() - t0, n_iba++;
    }
    free(heat);
    ibx_iba_text_free(b);
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("ibx transformer: batch %d, len %d, layers %d, d_model %d, heads %d, d_ff %d, vocab %d, "
         "dropout %g\n",
         B, T, c.layers, c.d_model, c.heads, c.d_ff, c.vocab, (double)c.dropout);
  printf("train step: %.4f s (%.1f sequences/s; %d steps in %.1f s)\n", t_train / steps,
         B * steps / t_train, steps, t_train);
  if (n_iba > 0)
    printf("per-sample IBA: %.4f s per sequence (%d sequences in %.1f s)\n", t_iba / n_iba, n_iba,
           t_iba);
  printf("peak RSS: %.1f MiB\n", ru.ru_maxrss / 1024.0);
  ibx_transformer_free(t);
  free(ids), free(len), free(lab), free(probs), free(dl), free(m), free(v);
  return 0;
}
