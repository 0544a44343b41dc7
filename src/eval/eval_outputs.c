/* Per-image outputs of `ibx eval error --save-outputs` (include/ibx/eval.h):
 * label, prediction, logits and every attention map of each sample, sharded
 * over MPI ranks like the error count and summed onto every rank (each row
 * is written by exactly one rank, the others hold zeros). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/eval.h"

void ibx_eval_outputs_free(ibx_eval_outputs *o) {
  free(o->label), free(o->pred), free(o->logits);
  for (int i = 0; i < IBX_EVAL_MAX_MAPS; i++)
    free(o->maps[i]);
  memset(o, 0, sizeof *o);
}

static int alloc_outputs(const ibx_eval_run *run, long n, ibx_eval_outputs *o) {
  memset(o, 0, sizeof *o);
  o->n = n;
  o->classes = ibx_model_config_of(run->model)->num_classes;
  o->n_maps = ibx_model_attention_count(run->model); /* shapes from ibx_eval_open's forward */
  if (o->n_maps > IBX_EVAL_MAX_MAPS)
    return ibx_fail(IBX_ERR_ARG, "%s: %d attention maps, at most %d can be saved", run->ckpt,
                    o->n_maps, IBX_EVAL_MAX_MAPS);
  const size_t N = n > 0 ? (size_t)n : 1;
  o->label = calloc(N, sizeof(int));
  o->pred = calloc(N, sizeof(int));
  o->logits = calloc(N * (size_t)o->classes, sizeof(float));
  int ok = o->label && o->pred && o->logits;
  for (int k = 0; ok && k < o->n_maps; k++) {
    ibx_tensor t;
    IBX_TRY(ibx_model_attention(run->model, k, &t));
    o->map_h[k] = t.dim[2], o->map_w[k] = t.dim[3];
    ok = (o->maps[k] = calloc(N * (size_t)t.dim[2] * t.dim[3], sizeof(float))) != NULL;
  }
  return ok ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory for %ld outputs", n);
}

/* This rank's samples i = rank, rank + world, ... into their rows of o. */
static int fill_local(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds,
                      ibx_eval_outputs *o) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const int B = run->max_batch;
  const size_t img = (size_t)run->in_c * run->in_h * run->in_w;
  float *canvas = malloc((size_t)B * img * sizeof *canvas);
  long *rows = malloc((size_t)B * sizeof *rows);
  int rc = canvas && rows ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory");
  for (long i = rank; rc == IBX_OK && i < o->n;) {
    int nb = 0;
    for (; rc == IBX_OK && nb < B && i < o->n; nb++, i += world) {
      rows[nb] = i;
      rc = ibx_eval_canvas(run, ds, i, canvas + (size_t)nb * img, &o->label[i]);
    }
    if (rc)
      break;
    ibx_eval_normalise(run, canvas, nb);
    ibx_tensor logits;
    rc = ibx_model_forward(run->model, run->x, NULL, nb, 0, 0, NULL, &logits);
    for (int b = 0; rc == IBX_OK && b < nb; b++) {
      const float *row = logits.data + (size_t)b * o->classes;
      int best = 0;
      for (int k = 1; k < o->classes; k++)
        best = row[k] > row[best] ? k : best;
      o->pred[rows[b]] = best;
      memcpy(o->logits + (size_t)rows[b] * o->classes, row, (size_t)o->classes * sizeof(float));
    }
    for (int k = 0; rc == IBX_OK && k < o->n_maps; k++) {
      ibx_tensor t;
      rc = ibx_model_attention(run->model, k, &t);
      const size_t hw = (size_t)o->map_h[k] * o->map_w[k];
      for (int b = 0; rc == IBX_OK && b < nb; b++)
        memcpy(o->maps[k] + (size_t)rows[b] * hw, t.data + (size_t)b * hw, hw * sizeof(float));
    }
  }
  free(canvas), free(rows);
  return rc;
}

static int sum_all(MPI_Comm comm, void *buf, size_t count, MPI_Datatype type) {
  /* in pieces: MPI counts are int */
  const size_t step = (size_t)1 << 28, size = type == MPI_INT ? sizeof(int) : sizeof(float);
  for (size_t off = 0; off < count; off += step) {
    const int c = (int)(count - off < step ? count - off : step);
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * size, c, type, MPI_SUM, comm) !=
        MPI_SUCCESS)
      return ibx_fail(IBX_ERR_MPI, "evaluation: gathering the outputs failed");
  }
  return IBX_OK;
}

int ibx_eval_outputs_collect(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds,
                             long limit, ibx_eval_outputs *out, ibx_eval_counts *counts) {
  long n = ibx_dataset_count(ds);
  if (limit > 0 && limit < n)
    n = limit;
  int rc = alloc_outputs(run, n, out);
  if (!rc)
    rc = fill_local(comm, run, ds, out);
  /* every rank learns whether any failed, so none waits forever */
  int any = rc ? 1 : 0, failed = 0;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (!failed) {
    rc = sum_all(comm, out->label, (size_t)n, MPI_INT);
    if (!rc)
      rc = sum_all(comm, out->pred, (size_t)n, MPI_INT);
    if (!rc)
      rc = sum_all(comm, out->logits, (size_t)n * out->classes, MPI_FLOAT);
    for (int k = 0; !rc && k < out->n_maps; k++)
      rc = sum_all(comm, out->maps[k], (size_t)n * out->map_h[k] * out->map_w[k], MPI_FLOAT);
  } else if (!rc) {
    rc = ibx_fail(IBX_ERR_MPI, "evaluation failed on another rank");
  }
  if (rc) {
    ibx_eval_outputs_free(out);
    return rc;
  }
  counts->n_samples = n, counts->n_correct = 0;
  for (long i = 0; i < n; i++)
    counts->n_correct += out->pred[i] == out->label[i];
  return IBX_OK;
}

int ibx_eval_outputs_write(ibx_h5 *f, const char *group, const ibx_eval_outputs *o) {
  char name[512];
  const int64_t n = o->n;
  int32_t *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
  if (!tmp)
    return ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory");
  int rc = IBX_OK;
  const int *src[2] = {o->label, o->pred};
  const char *names[2] = {"label", "prediction"};
  for (int k = 0; k < 2 && !rc; k++) {
    for (int64_t i = 0; i < n; i++)
      tmp[i] = (int32_t)src[k][i];
    snprintf(name, sizeof name, "%s/%s", group, names[k]);
    rc = ibx_h5_write_i32(f, name, 1, &n, tmp);
  }
  free(tmp);
  if (!rc) {
    const int64_t d[2] = {n, o->classes};
    snprintf(name, sizeof name, "%s/logits", group);
    rc = ibx_h5_write_f32(f, name, 2, d, o->logits);
  }
  for (int k = 0; !rc && k < o->n_maps; k++) {
    const int64_t d[3] = {n, o->map_h[k], o->map_w[k]};
    snprintf(name, sizeof name, "%s/attention_%d", group, k);
    rc = ibx_h5_write_f32(f, name, 3, d, o->maps[k]);
  }
  if (!rc)
    rc = ibx_h5_write_attr_i64(f, group, "n_attention_maps", o->n_maps);
  return rc;
}
