/* Top-1 error of a run on a dataset, sharded over MPI ranks
 * (include/ibx/eval.h). */
#include <stdlib.h>

#include "ibx/dist.h"
#include "ibx/error.h"
#include "ibx/eval.h"

static int count_local(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds, long n,
                       long *right_out, long *seen_out) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const int B = run->max_batch;
  const size_t img = (size_t)run->in_c * run->in_h * run->in_w;
  float *canvas = malloc((size_t)B * img * sizeof *canvas);
  int *pred = malloc((size_t)B * sizeof *pred), *label = malloc((size_t)B * sizeof *label);
  int rc = canvas && pred && label ? IBX_OK
                                   : ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory");
  long right = 0, seen = 0;
  for (long i = rank; rc == IBX_OK && i < n;) {
    int nb = 0;
    for (; rc == IBX_OK && nb < B && i < n; nb++, i += world)
      rc = ibx_eval_canvas(run, ds, i, canvas + (size_t)nb * img, &label[nb]);
    if (rc == IBX_OK)
      rc = ibx_eval_forward(run, canvas, nb, pred, NULL);
    for (int k = 0; rc == IBX_OK && k < nb; k++)
      right += pred[k] == label[k];
    seen += nb;
  }
  free(canvas), free(pred), free(label);
  *right_out = right, *seen_out = seen;
  return rc;
}

int ibx_eval_error(MPI_Comm comm, ibx_eval_run *run, const ibx_dataset *ds, long limit,
                   ibx_eval_counts *out) {
  long n = ibx_dataset_count(ds);
  if (limit > 0 && limit < n)
    n = limit;
  long right = 0, seen = 0;
  /* every rank learns whether any failed, so none waits forever */
  IBX_TRY(ibx_dist_agree(comm, count_local(comm, run, ds, n, &right, &seen)));
  long local[2] = {right, seen}, total[2];
  MPI_Allreduce(local, total, 2, MPI_LONG, MPI_SUM, comm);
  out->n_correct = total[0], out->n_samples = total[1];
  return IBX_OK;
}

static int count_text_local(MPI_Comm comm, ibx_eval_run *run, const ibx_text_dataset *ds, long n,
                            long *right_out, long *seen_out) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const int B = run->max_batch, T = ibx_text_max_len(ds);
  int32_t *ids = malloc((size_t)B * T * sizeof *ids);
  int *len = malloc((size_t)B * sizeof *len), *label = malloc((size_t)B * sizeof *label);
  int rc = ids && len && label ? IBX_OK : ibx_fail(IBX_ERR_NOMEM, "evaluation: out of memory");
  long right = 0, seen = 0;
  for (long i = rank; rc == IBX_OK && i < n;) {
    int nb = 0;
    for (; rc == IBX_OK && nb < B && i < n; nb++, i += world)
      rc = ibx_text_read(ds, i, ids + (size_t)nb * T, &len[nb], &label[nb]);
    ibx_tensor logits;
    const ibx_model_input in = {.tokens = ids, .lengths = len, .stride = T};
    if (rc == IBX_OK)
      rc = ibx_model_forward_input(run->model, &in, NULL, nb, 0, 0, NULL, &logits);
    for (int k = 0; rc == IBX_OK && k < nb; k++) {
      const float *row = logits.data + (size_t)k * logits.dim[1];
      int best = 0;
      for (int c = 1; c < logits.dim[1]; c++)
        best = row[c] > row[best] ? c : best;
      right += best == label[k];
    }
    seen += nb;
  }
  free(ids), free(len), free(label);
  *right_out = right, *seen_out = seen;
  return rc;
}

int ibx_eval_error_text(MPI_Comm comm, ibx_eval_run *run, const ibx_text_dataset *ds, long limit,
                        ibx_eval_counts *out) {
  long n = ibx_text_count(ds);
  if (limit > 0 && limit < n)
    n = limit;
  long right = 0, seen = 0;
  const int rc = count_text_local(comm, run, ds, n, &right, &seen);
  long local[3] = {right, seen, rc ? 1 : 0}, total[3];
  MPI_Allreduce(local, total, 3, MPI_LONG, MPI_SUM, comm);
  if (rc)
    return rc;
  if (total[2])
    return ibx_fail(IBX_ERR_MPI, "evaluation failed on another rank");
  out->n_correct = total[0], out->n_samples = total[1];
  return IBX_OK;
}
