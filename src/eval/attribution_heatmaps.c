/* Raw per-image heatmaps of `ibx attribute --save-heatmaps`
 * (include/ibx/attribution_eval.h): gathered over MPI ranks and written to
 * RUN_DIR/results/attribution.h5 under /heatmaps, unnormalised, as the
 * methods return them (docs/attribution.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/attribution_eval.h"
#include "ibx/error.h"
#include "ibx/eval.h"

long ibx_attr_eval_count(const ibx_attr_run *run, long n_images) {
  const long total = ibx_dataset_count(run->test);
  return n_images > 0 && n_images < total ? n_images : total;
}

static int sum_all(MPI_Comm comm, void *buf, size_t count, MPI_Datatype type, size_t size) {
  const size_t step = (size_t)1 << 28; /* MPI counts are int */
  for (size_t off = 0; off < count; off += step) {
    const int c = (int)(count - off < step ? count - off : step);
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * size, c, type, MPI_SUM, comm) !=
        MPI_SUCCESS)
      return ibx_fail(IBX_ERR_MPI, "attribute: gathering the heatmaps failed");
  }
  return IBX_OK;
}

int ibx_attr_gather_heatmaps(MPI_Comm comm, const ibx_attr_eval_options *o, int n_methods,
                             long n, size_t hw) {
  if (o->heatmaps)
    IBX_TRY(sum_all(comm, o->heatmaps, (size_t)n_methods * n * hw, MPI_FLOAT, sizeof(float)));
  if (o->targets)
    IBX_TRY(sum_all(comm, o->targets, (size_t)n, MPI_INT, sizeof(int)));
  return IBX_OK;
}

typedef struct {
  const ibx_attr_run *run;
  const int *methods;
  int n_methods;
  long n;
  const float *heatmaps;
  const int *targets;
} heat_write;

static int write_heatmaps(ibx_h5 *f, void *vctx) {
  const heat_write *w = vctx;
  const int64_t d[3] = {w->n, w->run->H, w->run->W};
  const size_t per = (size_t)w->n * w->run->H * w->run->W;
  char name[128];
  for (int i = 0; i < w->n_methods; i++) {
    snprintf(name, sizeof name, "/heatmaps/%s", ibx_attr_method_name(w->methods[i]));
    IBX_TRY(ibx_h5_write_f32(f, name, 3, d, w->heatmaps + (size_t)i * per));
  }
  int32_t *t = malloc((size_t)(w->n > 0 ? w->n : 1) * sizeof *t);
  if (!t)
    return ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  for (long i = 0; i < w->n; i++)
    t[i] = w->targets[i];
  const int rc = ibx_h5_write_i32(f, "/heatmaps/target", 1, d, t);
  free(t);
  return rc;
}

int ibx_attr_heatmaps_write(const ibx_attr_run *run, const int *methods, int n_methods, long n,
                            const float *heatmaps, const int *targets) {
  enum { MAX = 64 };
  if (n_methods > MAX)
    return ibx_fail(IBX_ERR_ARG, "attribute: more than %d methods", MAX);
  char names[MAX + 1][80];
  const char *replace[MAX + 1];
  for (int i = 0; i < n_methods; i++) {
    snprintf(names[i], sizeof names[i], "/heatmaps/%s", ibx_attr_method_name(methods[i]));
    replace[i] = names[i];
  }
  replace[n_methods] = "/heatmaps/target";
  char path[4200];
  snprintf(path, sizeof path, "%s/attribution.h5", run->results_dir);
  heat_write w = {run, methods, n_methods, n, heatmaps, targets};
  return ibx_results_update(path, replace, n_methods + 1, write_heatmaps, &w);
}
