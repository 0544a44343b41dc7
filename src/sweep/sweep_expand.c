/* Sweep expansion: axes -> runs, content-addressed run ids, run directories. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"

void ibx_sweep_dir(const ibx_sweep *s, char *out, size_t len) {
  ibx_sw_fmt(out, len, "%s/%s", s->results, s->name);
}

/* FNV-1a over the resolved INI text minus the [output] section: the id says
 * what the run computes, not where it is written. Schema order makes the text
 * independent of the order keys were given in. */
/* The keys (outside [output]) that existed when run ids were fixed (ibx at
 * commit 4ffc1b0). A run's id hashes each of them, and a key added since
 * only when its value differs from its default: adding a key to the schema
 * must not change the id -- and so the results directory -- of any run of an
 * existing sweep (tests/cli_run_ids_stable.sh). Never edit this list. */
static const char *const id_v1_keys[] = {
    "data.dataset", "data.path", "data.image_size", "data.augment", "data.flip",
    "data.train_limit", "data.test_limit", "model.backbone", "model.head", "model.width",
    "model.wrn_depth", "model.wrn_widen", "model.K", "model.beta", "model.beta_warmup_epochs",
    "model.Q", "model.lambda_q", "model.lambda_c", "model.attention_layer", "train.epochs",
    "train.batch_size", "train.optimizer", "train.lr", "train.momentum", "train.nesterov",
    "train.weight_decay", "train.schedule", "train.milestones", "train.gamma", "train.grad_clip",
    "train.warmup_epochs", "train.seed", "train.sync_bn", "train.watchdog_s", "train.bucket_mb",
    "train.threads", "train.log_every", "eval.batch_size", "eval.every"};

static int is_id_v1_key(const ibx_cfg_key *k) {
  char name[128];
  snprintf(name, sizeof name, "%s.%s", k->section, k->key);
  for (size_t i = 0; i < sizeof id_v1_keys / sizeof id_v1_keys[0]; i++)
    if (!strcmp(id_v1_keys[i], name))
      return 1;
  return 0;
}

void ibx_sweep_config_id(const ibx_config *c, char id[17]) {
  uint64_t h = 0xcbf29ce484222325ULL;
  ibx_config defaults;
  const int have_defaults = ibx_config_init(&defaults) == IBX_OK;
  for (int i = 0; i < c->count; i++) {
    const ibx_cfg_value *v = &c->values[i];
    if (!strcmp(v->key->section, "output"))
      continue;
    if (have_defaults && !is_id_v1_key(v->key) && !strcmp(v->text, defaults.values[i].text))
      continue; /* a key added since ids were fixed, at its default */
    char line[IBX_CFG_MAX_STRING + 80];
    int n = ibx_sw_fmt(line, sizeof line, "%s.%s=%s\n", v->key->section, v->key->key, v->text);
    for (int k = 0; k < n; k++)
      h = (h ^ (unsigned char)line[k]) * 0x100000001b3ULL;
  }
  if (have_defaults)
    ibx_config_free(&defaults);
  ibx_sw_fmt(id, 17, "%016llx", (unsigned long long)h);
}

static const char *base_name(const char *path, char *out, size_t len) {
  const char *b = strrchr(path, '/');
  ibx_sw_fmt(out, len, "%s", b ? b + 1 : path);
  char *dot = strrchr(out, '.');
  if (dot && !strcmp(dot, ".ini"))
    *dot = '\0';
  return out;
}

/* The config of one point of the grid: defaults, base, a `config` axis file,
 * [set], then the axis values. */
static int resolve(const ibx_sweep *s, const int *pick, ibx_config *c, char *label, size_t llen) {
  IBX_TRY(ibx_config_init(c));
  if (s->base[0])
    IBX_TRY(ibx_config_load(c, s->base));
  label[0] = '\0';
  size_t used = 0;
  for (int a = 0; a < s->n_axes; a++)
    for (int k = 0; k < s->axes[a].n_keys; k++)
      if (!strcmp(s->axes[a].key[k], "config")) {
        const char *v = s->axes[a].value[k][pick[a]];
        char path[IBX_SWEEP_TEXT * 2];
        ibx_sw_fmt(path, sizeof path, "%s%s%s", v[0] == '/' ? "" : s->dir, v[0] == '/' ? "" : "/",
                 v);
        IBX_TRY(ibx_config_load(c, path));
      }
  for (int i = 0; i < s->n_set; i++)
    IBX_TRY(ibx_config_override(c, s->set[i]));
  for (int a = 0; a < s->n_axes; a++)
    for (int k = 0; k < s->axes[a].n_keys; k++) {
      const char *key = s->axes[a].key[k], *v = s->axes[a].value[k][pick[a]];
      char shown[IBX_CFG_MAX_STRING];
      if (!strcmp(key, "config"))
        base_name(v, shown, sizeof shown);
      else {
        char assignment[IBX_CFG_MAX_STRING + 80];
        ibx_sw_fmt(assignment, sizeof assignment, "%s=%s", key, v);
        IBX_TRY(ibx_config_override(c, assignment));
        ibx_sw_fmt(shown, sizeof shown, "%s", v);
      }
      used += ibx_sw_fmt(label + used, used < llen ? llen - used : 0, "%s%s=%s", used ? " " : "",
                       key, shown);
    }
  return IBX_OK;
}

int ibx_sweep_expand(const ibx_sweep *s, ibx_sweep_run **out, int *n_out) {
  long total = 1;
  for (int a = 0; a < s->n_axes; a++)
    total *= s->axes[a].n_values;
  if (total > 100000)
    return ibx_fail(IBX_ERR_ARG, "%s: %ld runs is more than 100000", s->path, total);
  ibx_sweep_run *runs = calloc((size_t)total, sizeof *runs);
  if (!runs)
    return ibx_fail(IBX_ERR_NOMEM, "sweep: out of memory");
  int pick[IBX_SWEEP_MAX_AXES] = {0}, n = 0, rc = IBX_OK;
  char sweep_dir[IBX_SWEEP_TEXT];
  ibx_sweep_dir(s, sweep_dir, sizeof sweep_dir);
  for (long r = 0; r < total && rc == IBX_OK; r++) {
    long rest = r; /* the last axis varies fastest */
    for (int a = s->n_axes - 1; a >= 0; a--)
      pick[a] = (int)(rest % s->axes[a].n_values), rest /= s->axes[a].n_values;
    ibx_config c;
    ibx_sweep_run *run = &runs[n];
    rc = resolve(s, pick, &c, run->label, sizeof run->label);
    if (rc == IBX_OK) {
      ibx_sweep_config_id(&c, run->id);
      ibx_sw_fmt(run->dir, sizeof run->dir, "%s/%s", sweep_dir, run->id);
      char assignment[IBX_SWEEP_TEXT + 16];
      ibx_sw_fmt(assignment, sizeof assignment, "output.dir=%s", run->dir);
      rc = ibx_config_override(&c, assignment);
    }
    if (rc == IBX_OK) {
      int dup = 0; /* two grid points giving one config are one run */
      for (int i = 0; i < n && !dup; i++)
        dup = !strcmp(runs[i].id, run->id);
      if (!dup) {
        run->config_ini = ibx_config_to_ini(&c);
        if (!run->config_ini)
          rc = ibx_fail(IBX_ERR_NOMEM, "sweep: out of memory");
        else
          n++;
      }
    } else {
      rc = ibx_fail(rc, "%s: run %s: %s", s->path, run->label, ibx_errmsg());
    }
    ibx_config_free(&c);
  }
  if (rc) {
    ibx_sweep_runs_free(runs, n);
    return rc;
  }
  *out = runs, *n_out = n;
  return IBX_OK;
}

void ibx_sweep_runs_free(ibx_sweep_run *runs, int n_runs) {
  if (!runs)
    return;
  for (int i = 0; i < n_runs; i++)
    free(runs[i].config_ini);
  free(runs);
}

int ibx_sweep_prepare(const ibx_sweep *s, const ibx_sweep_run *runs, int n_runs) {
  char path[IBX_SWEEP_TEXT + 32];
  ibx_sweep_dir(s, path, sizeof path);
  IBX_TRY(ibx_sw_mkdir_p(path));
  /* the sweep's current runs: collect leaves out directories of runs an
   * earlier version of the sweep file had */
  char *ids = malloc((size_t)n_runs * 18 + 1);
  if (!ids)
    return ibx_fail(IBX_ERR_NOMEM, "sweep: out of memory");
  ids[0] = '\0';
  for (int i = 0; i < n_runs; i++)
    strcat(strcat(ids, runs[i].id), "\n");
  char list[IBX_SWEEP_TEXT + 48];
  ibx_sw_fmt(list, sizeof list, "%s/runs.txt", path);
  int rc = ibx_sw_write_text(list, ids);
  free(ids);
  IBX_TRY(rc);
  for (int i = 0; i < n_runs; i++) {
    IBX_TRY(ibx_sw_mkdir_p(runs[i].dir));
    ibx_sw_fmt(path, sizeof path, "%s/run.ini", runs[i].dir);
    char *old = ibx_sw_read_file(path);
    const int same = old && !strcmp(old, runs[i].config_ini);
    free(old);
    if (!same)
      IBX_TRY(ibx_sw_write_text(path, runs[i].config_ini));
    ibx_sw_fmt(path, sizeof path, "%s/label", runs[i].dir);
    char line[IBX_SWEEP_TEXT + 2];
    ibx_sw_fmt(line, sizeof line, "%s\n", runs[i].label);
    IBX_TRY(ibx_sw_write_text(path, line));
  }
  return IBX_OK;
}
