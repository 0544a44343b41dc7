/* Whole attribution evaluations (include/ibx/attribution_eval.h): loading a
 * run, IBA statistics over ranks, the per-image loop over methods and
 * metrics, the reduction over ranks, and the results file. */
#include "ibx/trainer.h"
#include "ibx/attribution_eval.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/attrib_metrics.h"
#include "ibx/augment.h"
#include "ibx/checkpoint.h"
#include "ibx/config.h"
#include "ibx/error.h"
#include "ibx/h5io.h"
#include "ibx/memory.h"

/* ---- the run ----------------------------------------------------------------- */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* best.h5, else the newest ckpt-<step>.h5 (zero-padded: the largest name). */
static int find_checkpoint(const char *dir, char *out, size_t len) {
  snprintf(out, len, "%s/best.h5", dir);
  struct stat st;
  if (stat(out, &st) == 0)
    return IBX_OK;
  DIR *d = opendir(dir);
  if (!d)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open run directory: %s", dir, strerror(errno));
  char best[256] = "";
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "ckpt-", 5) && strstr(e->d_name, ".h5") &&
        strlen(e->d_name) < sizeof best && strcmp(e->d_name, best) > 0)
      snprintf(best, sizeof best, "%s", e->d_name);
  closedir(d);
  if (!best[0])
    return ibx_fail(IBX_ERR_IO, "%s: no best.h5 or ckpt-<step>.h5 in the run directory", dir);
  snprintf(out, len, "%s/%s", dir, best);
  return IBX_OK;
}

/* The trainer's datasets (data.dataset, data.path). */
static int open_split(const ibx_config *c, const char *split, ibx_dataset **out) {
  return ibx_dataset_open_named(ibx_config_string(c, "data.dataset"),
                                ibx_config_string(c, "data.path"), split,
                                (int)ibx_config_int(c, "data.image_size"), out);
}

static int build_model(const ibx_config *c, const ibx_dataset *train, int max_batch,
                       ibx_model **out) {
  ibx_model_config mc;
  ibx_model_config_from(c, train, &mc);
  return ibx_model_create(&mc, max_batch, out);
}

static int open_run(const char *path, int max_batch, ibx_attr_run *run, ibx_config *cfg) {
  if (is_dir(path)) {
    IBX_TRY(find_checkpoint(path, run->ckpt, sizeof run->ckpt));
    snprintf(run->results_dir, sizeof run->results_dir, "%s/results", path);
  } else {
    snprintf(run->ckpt, sizeof run->ckpt, "%s", path);
    const char *slash = strrchr(path, '/');
    const int n = slash ? (int)(slash - path) : 1;
    snprintf(run->results_dir, sizeof run->results_dir, "%.*s/results", n, slash ? path : ".");
  }
  char *ini = NULL;
  IBX_TRY(ibx_checkpoint_read_config(run->ckpt, &ini));
  int rc = ibx_config_load_string(cfg, ini, run->ckpt);
  free(ini);
  IBX_TRY(rc);
  IBX_TRY(open_split(cfg, "train", &run->train));
  IBX_TRY(open_split(cfg, "test", &run->test));
  int c2, h2, w2;
  ibx_dataset_shape(run->train, &run->C, &run->src_h, &run->src_w);
  ibx_dataset_shape(run->test, &c2, &h2, &w2);
  if (c2 != run->C || h2 != run->src_h || w2 != run->src_w)
    return ibx_fail(IBX_ERR_FORMAT, "%s: test images %dx%dx%d differ from training %dx%dx%d",
                    ibx_dataset_name(run->test), c2, h2, w2, run->C, run->src_h, run->src_w);
  if (run->C > IBX_AUGMENT_MAX_CHANNELS)
    return ibx_fail(IBX_ERR_ARG, "attribute: %d channels are more than supported", run->C);
  run->H = run->W = (int)ibx_config_int(cfg, "data.image_size");
  run->classes = ibx_dataset_num_classes(run->train);
  IBX_TRY(build_model(cfg, run->train, max_batch, &run->model));
  IBX_TRY(ibx_checkpoint_read(run->ckpt, ibx_model_params(run->model),
                              ibx_model_buffers(run->model), NULL, NULL));
  return ibx_dataset_channel_stats(run->train, run->mean, run->std);
}

int ibx_attr_run_open(const char *path, int max_batch, ibx_attr_run *run) {
  memset(run, 0, sizeof *run);
  ibx_config cfg = {0};
  int rc = ibx_config_init(&cfg);
  if (!rc)
    rc = open_run(path, max_batch, run, &cfg);
  ibx_config_free(&cfg);
  if (rc)
    ibx_attr_run_close(run);
  return rc;
}

void ibx_attr_run_close(ibx_attr_run *run) {
  ibx_model_free(run->model);
  if (run->train)
    ibx_dataset_close(run->train);
  if (run->test)
    ibx_dataset_close(run->test);
  memset(run, 0, sizeof *run);
}

int ibx_attr_run_input(const ibx_attr_run *run, const ibx_dataset *ds, long i, float *x,
                       int *label) {
  uint8_t buf[4 * 512 * 512];
  if ((size_t)run->C * run->src_h * run->src_w > sizeof buf)
    return ibx_fail(IBX_ERR_ARG, "attribute: images larger than 512x512x4 are not supported");
  IBX_TRY(ibx_dataset_read(ds, i, buf, label));
  ibx_augment a;
  ibx_augment_identity(&a);
  a.out_h = run->H, a.out_w = run->W;
  memcpy(a.mean, run->mean, sizeof a.mean);
  memcpy(a.std, run->std, sizeof a.std);
  return ibx_augment_apply(&a, run->C, run->src_h, run->src_w, buf, 0, (uint64_t)i, x);
}

int ibx_attr_run_box(const ibx_attr_run *run, const ibx_dataset *ds, long i, float box[4]) {
  if (!ibx_dataset_has_boxes(ds))
    return ibx_fail(IBX_ERR_ARG, "%s: the dataset has no bounding boxes", ibx_dataset_name(ds));
  IBX_TRY(ibx_dataset_box(ds, i, box));
  box[0] += (float)((run->W - run->src_w) / 2); /* the augment pipeline's centring */
  box[1] += (float)((run->H - run->src_h) / 2);
  return IBX_OK;
}

/* ---- IBA statistics over ranks ------------------------------------------------- */

int ibx_attr_estimate_stats(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a, long n) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  ibx_iba *b = ibx_attributor_iba(a);
  const long total = ibx_dataset_count(run->train);
  if (n <= 0 || n > total)
    n = total;
  const size_t in_n = (size_t)run->C * run->H * run->W;
  enum { CHUNK = 10 };
  float *x = ibx_alloc(CHUNK * in_n * sizeof(float), "statistics batch");
  if (!x)
    return IBX_ERR_NOMEM;
  /* contiguous shares: rank r takes [r n / world, (r+1) n / world) */
  const long lo = n * rank / world, hi = n * (rank + 1) / world;
  int rc = IBX_OK;
  for (long i = lo; i < hi && !rc; i += CHUNK) {
    const int nb = (int)(hi - i < CHUNK ? hi - i : CHUNK);
    for (int s = 0; s < nb && !rc; s++)
      rc = ibx_attr_run_input(run, run->train, i + s, x + s * in_n, NULL);
    if (!rc)
      rc = ibx_iba_add_samples(b, x, nb);
  }
  ibx_free(x);
  int any = rc != IBX_OK, failed = 0;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (failed)
    return rc ? rc : ibx_fail(IBX_ERR_MPI, "attribute: statistics failed on another rank");
  /* merge in rank order so every rank computes the same numbers */
  ibx_welford *w = ibx_iba_welford(b);
  const int k = w->k;
  double *all = ibx_alloc((size_t)world * (2 * (size_t)k + 1) * sizeof(double), "statistics");
  double *mine = ibx_alloc((2 * (size_t)k + 1) * sizeof(double), "statistics");
  if (!all || !mine) {
    ibx_free(all), ibx_free(mine);
    return IBX_ERR_NOMEM;
  }
  mine[0] = (double)w->n;
  memcpy(mine + 1, w->mean, (size_t)k * sizeof(double));
  memcpy(mine + 1 + k, w->m2, (size_t)k * sizeof(double));
  MPI_Allgather(mine, 2 * k + 1, MPI_DOUBLE, all, 2 * k + 1, MPI_DOUBLE, comm);
  w->n = 0;
  memset(w->mean, 0, 2 * (size_t)k * sizeof(double));
  for (int r = 0; r < world; r++) {
    const double *p = all + (size_t)r * (2 * k + 1);
    ibx_welford_merge(w, (long)p[0], p + 1, p + 1 + k);
  }
  ibx_free(all), ibx_free(mine);
  return ibx_iba_finish_stats(b);
}

/* ---- readout training -------------------------------------------------------------- */

static int train_readout_here(const ibx_attr_run *run, ibx_readout *ro,
                              const ibx_readout_options *o, int batch) {
  const size_t in_n = (size_t)run->C * run->H * run->W;
  float *x = ibx_alloc((size_t)batch * in_n * sizeof(float), "readout batch");
  int labels[64];
  if (!x)
    return IBX_ERR_NOMEM;
  const long total = ibx_dataset_count(run->train);
  const long n = o->images > 0 && o->images < total ? o->images : total;
  int rc = IBX_OK;
  const long n_norm = n < 500 ? n : 500;
  for (long i = 0; i < n_norm && !rc; i += batch) {
    const int nb = (int)(n_norm - i < batch ? n_norm - i : batch);
    for (int s = 0; s < nb && !rc; s++)
      rc = ibx_attr_run_input(run, run->train, i + s, x + s * in_n, NULL);
    if (!rc)
      rc = ibx_readout_add_norm_samples(ro, x, nb);
  }
  double avg = 0.0;
  long steps = 0;
  for (int e = 0; e < o->epochs && !rc; e++)
    for (long i = 0; i + batch <= n && !rc; i += batch) {
      for (int s = 0; s < batch && !rc; s++)
        rc = ibx_attr_run_input(run, run->train, i + s, x + s * in_n, &labels[s]);
      float loss = 0.0f;
      if (!rc)
        rc = ibx_readout_train_step(ro, x, labels, batch, o->lr, &loss);
      avg += loss, steps++;
      if (!o->quiet && steps % 50 == 0) {
        fprintf(stderr, "readout: epoch %d step %ld loss %.4f\n", e + 1, steps, avg / 50);
        avg = 0.0;
      }
    }
  ibx_free(x);
  return rc;
}

int ibx_attr_train_readout(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a,
                           const ibx_readout_options *o, ibx_readout **out) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  ibx_iba *b = ibx_attributor_iba(a);
  ibx_iba_set_beta(b, o->beta);
  IBX_TRY(ibx_readout_create(b, o->layers, o->n_layers, o->hidden, out));
  const int batch = ibx_iba_config_of(b)->batch;
  int rc = batch <= 64 ? IBX_OK : ibx_fail(IBX_ERR_ARG, "readout: batch %d > 64", batch);
  if (!rc && rank == 0)
    rc = train_readout_here(run, *out, o, batch);
  int any = rc != IBX_OK, failed = 0;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  if (!failed) {
    size_t nv;
    int ns;
    float *v = ibx_readout_values(*out, &nv), *sd = ibx_readout_feature_std(*out, &ns);
    MPI_Bcast(v, (int)nv, MPI_FLOAT, 0, comm);
    MPI_Bcast(sd, ns, MPI_FLOAT, 0, comm);
  }
  if (failed) {
    ibx_readout_free(*out);
    *out = NULL;
    return rc ? rc : ibx_fail(IBX_ERR_MPI, "readout: training failed on rank 0");
  }
  return IBX_OK;
}

/* ---- evaluation ------------------------------------------------------------------ */

void ibx_attr_results_free(ibx_attr_result *r, int n) {
  for (int i = 0; r && i < n; i++)
    ibx_free(r[i].morf_8), r[i].morf_8 = NULL;
}

/* Per-rank sums, then reduced: for each method 4 curves of `points`, the
 * bbox ratio sum, and the seconds. */
int ibx_attr_evaluate(MPI_Comm comm, const ibx_attr_run *run, ibx_attributor *a,
                      const int *methods, int n_methods, const ibx_attr_eval_options *o,
                      ibx_attr_result *results) {
  int rank, world;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  const int P = o->points;
  const size_t per = 4 * (size_t)P + 2, in_n = (size_t)run->C * run->H * run->W;
  const long n_img = o->n_images > 0 && o->n_images < ibx_dataset_count(run->test)
                         ? o->n_images
                         : ibx_dataset_count(run->test);
  double *sums = ibx_calloc((size_t)n_methods * per * sizeof(double), "attribution sums");
  double *tot = ibx_calloc((size_t)n_methods * per * sizeof(double), "attribution sums");
  float *x = ibx_alloc((in_n + (size_t)run->H * run->W + 2 * (size_t)P) * sizeof(float), "image");
  if (!sums || !tot || !x) {
    ibx_free(sums), ibx_free(tot), ibx_free(x);
    return IBX_ERR_NOMEM;
  }
  float *heat = x + in_n, *mo = heat + (size_t)run->H * run->W, *le = mo + P;
  const int tiles[2] = {ibx_scaled_tile(8, run->H), ibx_scaled_tile(14, run->H)};
  const int has_boxes = ibx_dataset_has_boxes(run->test);
  long my_bbox = 0, my_images = 0;
  int rc = IBX_OK;
  for (long i = rank; i < n_img && !rc; i += world) {
    int label;
    float box[4];
    rc = ibx_attr_run_input(run, run->test, i, x, &label);
    int eligible = 0;
    if (!rc && has_boxes) {
      rc = ibx_attr_run_box(run, run->test, i, box);
      eligible = !rc && ibx_box_eligible(box, run->H, run->W, o->bbox_max);
    }
    for (int mi = 0; mi < n_methods && !rc; mi++) {
      double *s = sums + (size_t)mi * per;
      const double t0 = MPI_Wtime();
      rc = ibx_attribute(a, methods[mi], x, label, i, heat);
      s[4 * P + 1] += MPI_Wtime() - t0;
      for (int t = 0; t < 2 && !rc; t++) {
        rc = ibx_degradation_curves(run->model, 10, x, label, heat, tiles[t], P, mo, le);
        for (int j = 0; j < P && !rc; j++)
          s[(2 * t) * P + j] += mo[j], s[(2 * t + 1) * P + j] += le[j];
      }
      double ratio;
      if (!rc && eligible && !(rc = ibx_bbox_ratio(heat, run->H, run->W, box, &ratio)))
        s[4 * P] += ratio;
    }
    my_images++, my_bbox += eligible;
    if (!o->quiet && rank == 0 && my_images % 10 == 0)
      fprintf(stderr, "attribute: %ld of ~%ld images on rank 0\n", my_images,
              (n_img + world - 1) / world);
  }
  int any = rc != IBX_OK, failed = 0;
  MPI_Allreduce(&any, &failed, 1, MPI_INT, MPI_MAX, comm);
  long counts[2] = {my_images, my_bbox}, totals[2];
  if (!failed) {
    MPI_Allreduce(sums, tot, (int)(n_methods * per), MPI_DOUBLE, MPI_SUM, comm);
    MPI_Allreduce(counts, totals, 2, MPI_LONG, MPI_SUM, comm);
  }
  for (int mi = 0; mi < n_methods && !failed && !rc; mi++) {
    ibx_attr_result *r = &results[mi];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", ibx_attr_method_name(methods[mi]));
    r->morf_8 = ibx_alloc(4 * (size_t)P * sizeof(float), "curves");
    if (!r->morf_8) {
      rc = IBX_ERR_NOMEM;
      break;
    }
    r->lerf_8 = r->morf_8 + P, r->morf_14 = r->lerf_8 + P, r->lerf_14 = r->morf_14 + P;
    const double *t = tot + (size_t)mi * per;
    float *curves[4] = {r->morf_8, r->lerf_8, r->morf_14, r->lerf_14};
    for (int c = 0; c < 4; c++)
      for (int j = 0; j < P; j++)
        curves[c][j] = (float)(t[c * P + j] / (double)totals[0]);
    rc = ibx_degradation_score(r->morf_8, r->lerf_8, P, &r->degradation_8);
    if (!rc)
      rc = ibx_degradation_score(r->morf_14, r->lerf_14, P, &r->degradation_14);
    r->n_images = totals[0], r->n_bbox = totals[1];
    r->bbox_ratio = totals[1] ? t[4 * P] / (double)totals[1] : NAN;
    r->seconds = t[4 * P + 1] / (double)totals[0];
  }
  ibx_free(sums), ibx_free(tot), ibx_free(x);
  if (failed && !rc)
    return ibx_fail(IBX_ERR_MPI, "attribute: evaluation failed on another rank");
  return rc;
}

/* ---- results file --------------------------------------------------------------- */

static const char *const known[] = {
    "random", "gradient", "saliency", "grad_x_input", "integrated_gradients", "smoothgrad",
    "guided_backprop", "gradcam", "guided_gradcam", "occlusion_8", "occlusion_14",
    "iba_per_sample_beta1", "iba_per_sample_beta10", "iba_per_sample_beta100", "iba_readout"};
#define N_KNOWN ((int)(sizeof known / sizeof known[0]))

typedef struct {
  const ibx_attr_result *r;
  int n, points;
  ibx_attr_result old[N_KNOWN]; /* groups carried over from the existing file */
  int n_old;
} write_ctx;

static int write_group(ibx_h5 *f, const ibx_attr_result *r, int points) {
  char g[128], d[160];
  snprintf(g, sizeof g, "/attribution/%s", r->name);
  const float *curves[4] = {r->morf_8, r->lerf_8, r->morf_14, r->lerf_14};
  const char *names[4] = {"morf_8", "lerf_8", "morf_14", "lerf_14"};
  const int64_t dims[1] = {points};
  for (int c = 0; c < 4; c++) {
    snprintf(d, sizeof d, "%s/%s", g, names[c]);
    IBX_TRY(ibx_h5_write_f32(f, d, 1, dims, curves[c]));
  }
  IBX_TRY(ibx_h5_write_attr_f64(f, g, "degradation_8", r->degradation_8));
  IBX_TRY(ibx_h5_write_attr_f64(f, g, "degradation_14", r->degradation_14));
  IBX_TRY(ibx_h5_write_attr_f64(f, g, "bbox_ratio", r->bbox_ratio));
  IBX_TRY(ibx_h5_write_attr_i64(f, g, "n_images", r->n_images));
  return ibx_h5_write_attr_i64(f, g, "n_bbox", r->n_bbox);
}

static int write_file(const char *tmp, void *vctx) {
  write_ctx *w = vctx;
  ibx_h5 f;
  IBX_TRY(ibx_h5_create(&f, tmp));
  int rc = IBX_OK;
  for (int i = 0; i < w->n && !rc; i++)
    rc = write_group(&f, &w->r[i], w->points);
  for (int i = 0; i < w->n_old && !rc; i++)
    rc = write_group(&f, &w->old[i], w->points);
  const int rc2 = ibx_h5_close(&f);
  return rc ? rc : rc2;
}

/* Reads groups of methods not in this evaluation from an existing file
 * (same curve length only; others are dropped, since they are not
 * comparable). */
static void carry_over(const char *path, write_ctx *w) {
  ibx_h5 f;
  if (ibx_h5_open(&f, path) != IBX_OK) {
    ibx_clear_error();
    return;
  }
  for (int k = 0; k < N_KNOWN; k++) {
    int fresh = 0;
    for (int i = 0; i < w->n; i++)
      fresh |= !strcmp(w->r[i].name, known[k]);
    char g[128], d[160];
    snprintf(g, sizeof g, "/attribution/%s", known[k]);
    if (fresh || !ibx_h5_exists(&f, g))
      continue;
    ibx_attr_result *o = &w->old[w->n_old];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", known[k]);
    o->morf_8 = ibx_alloc(4 * (size_t)w->points * sizeof(float), "old curves");
    if (!o->morf_8)
      break;
    o->lerf_8 = o->morf_8 + w->points, o->morf_14 = o->lerf_8 + w->points;
    o->lerf_14 = o->morf_14 + w->points;
    float *curves[4] = {o->morf_8, o->lerf_8, o->morf_14, o->lerf_14};
    const char *names[4] = {"morf_8", "lerf_8", "morf_14", "lerf_14"};
    int64_t n_img = 0, n_bbox = 0;
    int rc = IBX_OK;
    for (int c = 0; c < 4 && !rc; c++) {
      snprintf(d, sizeof d, "%s/%s", g, names[c]);
      rc = ibx_h5_read_f32(&f, d, curves[c], (size_t)w->points);
    }
    if (!rc)
      rc = ibx_h5_read_attr_f64(&f, g, "degradation_8", &o->degradation_8);
    if (!rc)
      rc = ibx_h5_read_attr_f64(&f, g, "degradation_14", &o->degradation_14);
    if (!rc)
      rc = ibx_h5_read_attr_f64(&f, g, "bbox_ratio", &o->bbox_ratio);
    if (!rc)
      rc = ibx_h5_read_attr_i64(&f, g, "n_images", &n_img);
    if (!rc)
      rc = ibx_h5_read_attr_i64(&f, g, "n_bbox", &n_bbox);
    o->n_images = (long)n_img, o->n_bbox = (long)n_bbox;
    if (rc) {
      ibx_free(o->morf_8);
      ibx_clear_error();
      continue;
    }
    w->n_old++;
  }
  ibx_h5_close(&f);
}

int ibx_attr_results_write(const ibx_attr_run *run, const ibx_attr_result *r, int n, int points) {
  if (mkdir(run->results_dir, 0777) && errno != EEXIST)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create: %s", run->results_dir, strerror(errno));
  char path[4200];
  snprintf(path, sizeof path, "%s/attribution.h5", run->results_dir);
  write_ctx *w = calloc(1, sizeof *w);
  if (!w)
    return ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
  w->r = r, w->n = n, w->points = points;
  /* the results-file protocol: updates of one file are serialised by an
   * exclusive lock on <file>.lock (docs/checkpoint-format.md) */
  char lock_path[4300];
  snprintf(lock_path, sizeof lock_path, "%s.lock", path);
  const int lock = open(lock_path, O_CREAT | O_RDWR, 0666);
  if (lock >= 0)
    flock(lock, LOCK_EX);
  carry_over(path, w);
  const int rc = ibx_atomic_write(path, write_file, w);
  if (lock >= 0)
    close(lock); /* releases the lock */
  for (int i = 0; i < w->n_old; i++)
    ibx_free(w->old[i].morf_8);
  free(w);
  return rc;
}
