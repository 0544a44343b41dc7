/* ibx attribute: attribution heatmaps of a trained run. Evaluation mode runs
 * every method over test images on all MPI ranks and prints/writes the IBA
 * Table-1-style results; --image draws one image's heatmaps as a PNG grid.
 * Exit status: 0 done, 1 failed, 2 bad usage. */
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ibx/attrib_metrics.h"
#include "ibx/attribution.h"
#include "ibx/attribution_eval.h"
#include "ibx/checkpoint.h"
#include "ibx/dist.h"
#include "ibx/error.h"
#include "ibx/eval.h"
#include "ibx/memory.h"
#include "ibx/png.h"

static void usage(FILE *to) {
  fprintf(to,
          "usage: ibx attribute RUN_DIR|CHECKPOINT.h5 [options]   (under mpirun for many ranks)\n"
          "  evaluation (default): every method on the first N test images; prints the\n"
          "  Table-1-style table and writes RUN_DIR/results/attribution.h5\n"
          "    --images N            test images (default 200; 0: all)\n"
          "    --methods a,b,...     methods (default: all; see docs/attribution.md)\n"
          "    --points P            degradation curve points (default 25)\n"
          "    --stats N             training images for the IBA statistics (default 10000)\n"
          "    --iba-layer NAME      IBA bottleneck layer (default features.22)\n"
          "    --gradcam-layer NAME  Grad-CAM layer (default features.42)\n"
          "    --seed S              random, SmoothGrad and IBA noise (default 0)\n"
          "    --readout-images N    iba_readout: training images (default 2000)\n"
          "    --readout-epochs E    iba_readout: epochs (default 2)\n"
          "    --readout-lr LR       iba_readout: Adam learning rate (default 1e-3)\n"
          "    --readout-beta B      iba_readout: beta of the training loss (default 1; 10 closes it)\n"
          "    --readout-layers a,b  iba_readout: feature layers (default features.12,\n"
          "                          features.22,features.32,features.42)\n"
          "    --save-heatmaps       also store every method's raw heatmap of every image\n"
          "                          in attribution.h5 /heatmaps (docs/attribution.md)\n"
          "  single image:\n"
          "    --image I --png OUT.png [--split test|train] [--target C] [--scale K]\n"
          "      one PNG: the input, then each method's heatmap (jet, min-max), in a grid\n"
          "  --list-layers           names and shapes of the layers a bottleneck can use\n"
          "  text runs (model.backbone = transformer; docs/attribution.md, \"Text\"):\n"
          "    --images N            test sequences (default 200; 0: all)\n"
          "    --methods a,b,...     random,grad_x_embedding,integrated_gradients,occlusion,\n"
          "                          cls_attention,iba (default: all), iba_beta<B>\n"
          "    --layer L             IBA bottleneck after encoder layer L (default 2/3 depth)\n"
          "    --beta B              IBA beta (default 1e-5); --iba-betas a,b,..: a beta sweep\n"
          "                          (adds iba_beta<a>, ...); --iba-layers 1,2,..: a layer\n"
          "                          sweep (iba_l<L>; with --iba-betas the grid iba_l<L>_beta<B>)\n"
          "    --stats N             training sequences for the IBA statistics (default 2000)\n"
          "    --steps S             token-deletion steps (default 10)\n"
          "    --replace-with-mask   also the [MASK]-replacement variant of the degradation\n"
          "    --html N              sentences on the HTML page (default 20)\n"
          "  --quiet                 no progress lines\n");
}

typedef struct {
  const char *iba_betas, *iba_layers;
  long stats_text, html;
  int layer, steps, with_mask, stats_given;
  float beta;
  const char *run, *methods, *iba_layer, *gradcam_layer, *png, *split, *readout_layers;
  long images, stats, image, readout_images;
  int readout_epochs;
  float readout_lr, readout_beta;
  int points, target, scale, list_layers, quiet, save_heatmaps;
  unsigned long long seed;
} options;

static int parse(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->images = 200, o->stats = 10000, o->image = -1, o->points = 25, o->target = -1, o->scale = 4;
  o->iba_layer = "features.22", o->gradcam_layer = "features.42", o->split = "test";
  o->readout_layers = "features.12,features.22,features.32,features.42";
  o->readout_images = 2000, o->readout_epochs = 2, o->readout_lr = 1e-3f, o->readout_beta = 1.0f;
  o->html = 20, o->steps = 10, o->beta = 1e-5f;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
    if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      return usage(stdout), 1;
    else if (!strcmp(a, "--list-layers"))
      o->list_layers = 1;
    else if (!strcmp(a, "--quiet"))
      o->quiet = 1;
    else if (!strcmp(a, "--save-heatmaps"))
      o->save_heatmaps = 1;
    else if (OPT("--images"))
      o->images = atol(v);
    else if (OPT("--methods"))
      o->methods = v;
    else if (OPT("--points"))
      o->points = atoi(v);
    else if (OPT("--stats"))
      o->stats = atol(v), o->stats_given = 1;
    else if (!strcmp(a, "--replace-with-mask"))
      o->with_mask = 1;
    else if (OPT("--layer"))
      o->layer = atoi(v);
    else if (OPT("--beta"))
      o->beta = (float)atof(v);
    else if (OPT("--iba-betas"))
      o->iba_betas = v;
    else if (OPT("--iba-layers"))
      o->iba_layers = v;
    else if (OPT("--steps"))
      o->steps = atoi(v);
    else if (OPT("--html"))
      o->html = atol(v);
    else if (OPT("--iba-layer"))
      o->iba_layer = v;
    else if (OPT("--gradcam-layer"))
      o->gradcam_layer = v;
    else if (OPT("--seed"))
      o->seed = strtoull(v, NULL, 10);
    else if (OPT("--readout-images"))
      o->readout_images = atol(v);
    else if (OPT("--readout-epochs"))
      o->readout_epochs = atoi(v);
    else if (OPT("--readout-beta"))
      o->readout_beta = (float)atof(v);
    else if (OPT("--readout-lr"))
      o->readout_lr = (float)atof(v);
    else if (OPT("--readout-layers"))
      o->readout_layers = v;
    else if (OPT("--image"))
      o->image = atol(v);
    else if (OPT("--png"))
      o->png = v;
    else if (OPT("--split"))
      o->split = v;
    else if (OPT("--target"))
      o->target = atoi(v);
    else if (OPT("--scale"))
      o->scale = atoi(v);
    else if (a[0] == '-')
      return fprintf(stderr, "ibx attribute: unknown or incomplete option '%s'\n", a), 2;
    else if (!o->run)
      o->run = a;
    else
      return fprintf(stderr, "ibx attribute: unexpected argument '%s'\n", a), 2;
#undef OPT
  }
  if (!o->run)
    return fprintf(stderr, "ibx attribute: no run directory or checkpoint given\n"), 2;
  if (o->points < 2 || o->images < 0 || o->scale < 1 || o->scale > 64)
    return fprintf(stderr, "ibx attribute: --points must be >= 2, --images >= 0, --scale 1..64\n"), 2;
  if ((o->image >= 0) != (o->png != NULL))
    return fprintf(stderr, "ibx attribute: --image and --png go together\n"), 2;
  if (strcmp(o->split, "test") && strcmp(o->split, "train"))
    return fprintf(stderr, "ibx attribute: --split must be test or train\n"), 2;
  return 0;
}

/* Method indices from a comma list (NULL: all). */
static int pick_methods(const char *list, int *out, int *n) {
  *n = 0;
  if (!list) {
    for (int i = 0; i < ibx_attr_method_count(); i++)
      out[(*n)++] = i;
    return IBX_OK;
  }
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (*n >= ibx_attr_method_count())
      return ibx_fail(IBX_ERR_ARG, "--methods: too many methods");
    IBX_TRY(ibx_attr_find(t, &out[(*n)++]));
  }
  return *n ? IBX_OK : ibx_fail(IBX_ERR_ARG, "--methods: empty list");
}

static int needs(int (*pred)(int), const int *m, int n) {
  for (int i = 0; i < n; i++)
    if (pred(m[i]))
      return 1;
  return 0;
}

/* Trains the readout (rank 0, broadcast) and attaches it to a. */
static int readout(MPI_Comm comm, const options *o, const ibx_attr_run *run, ibx_attributor *a,
                   ibx_readout **ro) {
  char buf[512];
  const char *layers[8];
  int n = 0;
  snprintf(buf, sizeof buf, "%s", o->readout_layers);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
    layers[n++] = t;
  ibx_readout_options ro_opt = {layers,
                                n,
                                64,
                                o->readout_epochs,
                                o->readout_images,
                                o->readout_lr,
                                o->readout_beta,
                                o->quiet ? NULL : stderr};
  IBX_TRY(ibx_attr_train_readout(comm, run, a, &ro_opt, ro));
  ibx_attributor_set_readout(a, *ro);
  return IBX_OK;
}

static void print_table(const ibx_attr_result *r, int n, int H) {
  printf("\nAttribution (IBA Table 1 layout): degradation = area between LeRF and MoRF\n"
         "(normalised target probability, tiles %d and %d px = 8x8 and 14x14 on 224 px),\n"
         "bbox = fraction of the top-n heatmap pixels inside the box (boxes <= 33%%).\n\n",
         ibx_scaled_tile(8, H), ibx_scaled_tile(14, H));
  printf("%-26s %12s %12s %8s %10s\n", "method", "deg. 8x8", "deg. 14x14", "bbox", "s/image");
  for (int i = 0; i < n; i++)
    printf("%-26s %12.3f %12.3f %8.3f %10.3f\n", r[i].name, r[i].degradation_8,
           r[i].degradation_14, r[i].bbox_ratio, r[i].seconds);
  if (n)
    printf("\nimages: %ld (bbox: %ld with a box <= 33%% of the image)\n", r[0].n_images,
           r[0].n_bbox);
}

static int single_image(const options *o, ibx_attr_run *run, ibx_attributor *a,
                        const int *methods, int n) {
  ibx_dataset *ds = strcmp(o->split, "train") ? run->test : run->train;
  if (o->image >= ibx_dataset_count(ds))
    return ibx_fail(IBX_ERR_ARG, "--image %ld: the %s split has %ld images", o->image, o->split,
                    ibx_dataset_count(ds));
  const size_t in_n = (size_t)run->C * run->H * run->W, P = (size_t)run->H * run->W;
  float *x = ibx_alloc((in_n + (size_t)(n + 1) * P) * sizeof(float), "image");
  if (!x)
    return IBX_ERR_NOMEM;
  int label, rc = ibx_attr_run_input(run, ds, o->image, x, &label);
  const int target = o->target >= 0 ? o->target : label;
  float *heats = x + in_n;
  for (int i = 0; i < n && !rc; i++)
    rc = ibx_attribute(a, methods[i], x, target, o->image, heats + (size_t)i * P);
  ibx_panel panels[65];
  char input_title[96], heading[256];
  snprintf(input_title, sizeof input_title, "input: %s", ibx_dataset_class_name(ds, label));
  snprintf(heading, sizeof heading, "%s image %ld, target class %s", o->split, o->image,
           ibx_dataset_class_name(ds, target));
  panels[0] = (ibx_panel){x, 0, input_title}; /* the first channel of the input, grey */
  for (int i = 0; i < n && i < 64; i++)
    panels[i + 1] = (ibx_panel){heats + (size_t)i * P, 1, ibx_attr_method_name(methods[i])};
  if (!rc)
    rc = ibx_panel_grid_write(o->png, panels, (n < 64 ? n : 64) + 1, run->H, run->W, o->scale, 5,
                              heading);
  if (!rc) {
    printf("%s: image %ld of %s (label %d, target %d); panels left to right, top to bottom: "
           "input",
           o->png, o->image, o->split, label, target);
    for (int i = 0; i < n; i++)
      printf(", %s", ibx_attr_method_name(methods[i]));
    printf("\n");
  }
  ibx_free(x);
  return rc;
}

static int list_layers(const ibx_attr_run *run) {
  for (int i = 0; i < ibx_model_layer_count(run->model); i++) {
    char name[96];
    int d[3];
    IBX_TRY(ibx_model_layer(run->model, i, name, sizeof name, d));
    printf("%-28s %d x %d x %d\n", name, d[0], d[1], d[2]);
  }
  return IBX_OK;
}

static int run_command(MPI_Comm comm, const options *o) {
  int rank, text = 0;
  MPI_Comm_rank(comm, &rank);
  IBX_TRY(ibx_eval_run_is_text(o->run, &text));
  if (text) {
    if (o->png || o->list_layers)
      return ibx_fail(IBX_ERR_ARG, "--image/--png and --list-layers are for image runs; a text "
                      "run writes an HTML page (--html N)");
    const ibx_text_attr_cli t = {o->run, o->methods, o->iba_betas, o->iba_layers, o->images,
                                 o->stats_given ? o->stats : 2000, o->html, o->layer, o->steps,
                                 o->with_mask, o->quiet, o->beta, o->seed};
    return ibx_attribute_text(comm, &t);
  }
  int methods[64], n = 0;
  IBX_TRY(pick_methods(o->methods, methods, &n));
  ibx_attr_run run;
  IBX_TRY(ibx_attr_run_open(o->run, 10, &run));
  if (o->list_layers) {
    const int rc = rank == 0 ? list_layers(&run) : IBX_OK;
    ibx_attr_run_close(&run);
    return rc;
  }
  ibx_attr_config cfg;
  ibx_attr_default(&cfg);
  cfg.iba_layer = o->iba_layer, cfg.gradcam_layer = o->gradcam_layer;
  cfg.seed = o->seed, cfg.iba.seed = o->seed;
  ibx_attributor *a = NULL;
  int rc = ibx_attributor_create(run.model, &cfg, &a);
  ibx_readout *ro = NULL;
  if (!rc && needs(ibx_attr_needs_iba, methods, n)) {
    rc = ibx_attr_estimate_stats(comm, &run, a, o->stats);
    if (!rc && rank == 0 && !o->quiet)
      fprintf(stderr, "attribute: IBA statistics of %s over %ld training images\n",
              o->iba_layer, ibx_iba_samples_seen(ibx_attributor_iba(a)));
  }
  if (!rc && needs(ibx_attr_is_readout, methods, n))
    rc = readout(comm, o, &run, a, &ro);
  if (!rc && o->png) {
    rc = rank == 0 ? single_image(o, &run, a, methods, n) : IBX_OK;
  } else if (!rc) {
    ibx_attr_result *res = calloc((size_t)n, sizeof *res);
    ibx_attr_eval_options eo = {.n_images = o->images,
                                .points = o->points,
                                .bbox_max = 0.33,
                                .progress = o->quiet ? NULL : stderr};
    const long n_img = ibx_attr_eval_count(&run, o->images);
    if (o->save_heatmaps) {
      eo.heatmaps = malloc((size_t)n * n_img * run.H * run.W * sizeof(float));
      eo.targets = malloc((size_t)(n_img > 0 ? n_img : 1) * sizeof(int));
    }
    rc = res && (!o->save_heatmaps || (eo.heatmaps && eo.targets))
             ? ibx_attr_evaluate(comm, &run, a, methods, n, &eo, res)
             : ibx_fail(IBX_ERR_NOMEM, "attribute: out of memory");
    if (!rc && rank == 0) {
      print_table(res, n, run.H);
      rc = ibx_attr_results_write(&run, res, n, o->points);
      if (!rc && o->save_heatmaps)
        rc = ibx_attr_heatmaps_write(&run, methods, n, n_img, eo.heatmaps, eo.targets);
      if (!rc)
        printf("wrote %s/attribution.h5\n", run.results_dir);
    }
    ibx_attr_results_free(res, n);
    free(res);
    free(eo.heatmaps);
    free(eo.targets);
  }
  ibx_readout_free(ro);
  ibx_attributor_free(a);
  ibx_attr_run_close(&run);
  return rc;
}

int ibx_cmd_attribute(int argc, char **argv) {
  options o;
  const int p = parse(argc, argv, &o);
  if (p)
    return p == 1 ? 0 : (usage(stderr), 2);
  int provided, rank;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int rc = run_command(MPI_COMM_WORLD, &o);
  if (rc) /* each failing rank says why */
    fprintf(stderr, "ibx attribute: %s\n", ibx_errmsg());
  const int failed = ibx_dist_agree(MPI_COMM_WORLD, rc) != IBX_OK;
  MPI_Finalize();
  return failed ? 1 : 0;
}
