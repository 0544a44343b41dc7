/* HDF5 checkpoints (see include/ibx/checkpoint.h) and atomic file writes. */
#include "ibx/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/h5io.h"
#include "ibx/version.h"

#define CKPT_FORMAT "ibx-checkpoint"
#define CKPT_VERSION 1

static int fsync_path(const char *path, int directory) {
  int fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open for fsync: %s", path, strerror(errno));
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc)
    return ibx_fail(IBX_ERR_IO, "%s: fsync failed: %s", path, strerror(err));
  return IBX_OK;
}

int ibx_atomic_write(const char *path, ibx_write_fn write, void *ctx) {
  char tmp[4096], dir[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return ibx_fail(IBX_ERR_ARG, "%s: path too long", path);
  int rc = write(tmp, ctx);
  if (!rc)
    rc = fsync_path(tmp, 0);
  if (!rc && rename(tmp, path))
    rc = ibx_fail(IBX_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
  if (rc) {
    unlink(tmp);
    return rc;
  }
  snprintf(dir, sizeof dir, "%s", path);
  return fsync_path(dirname(dir), 1);
}

static int write_store(ibx_h5 *f, const char *group, const ibx_params *p, const float *base) {
  char name[IBX_PARAM_NAME_MAX + 128];
  for (int i = 0; i < p->count; i++) {
    const ibx_param_info *pi = &p->info[i];
    int64_t dims[IBX_MAX_DIMS];
    for (int d = 0; d < pi->ndim; d++)
      dims[d] = pi->dim[d];
    snprintf(name, sizeof name, "%s/%s", group, pi->name);
    IBX_TRY(ibx_h5_write_f32(f, name, pi->ndim, dims, base + pi->offset));
  }
  return IBX_OK;
}

typedef struct {
  const ibx_params *params, *buffers;
  const ibx_opt_state *opt;
  const ibx_ckpt_meta *meta;
} write_ctx;

static int write_contents(ibx_h5 *f, const write_ctx *w) {
  const ibx_ckpt_meta *m = w->meta;
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "format", CKPT_FORMAT));
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "format_version", CKPT_VERSION));
  IBX_TRY(write_store(f, "model", w->params, w->params->values));
  if (w->buffers && w->buffers->count)
    IBX_TRY(write_store(f, "model", w->buffers, w->buffers->values));
  for (int s = 0; w->opt && s < w->opt->n_slots; s++) {
    char group[96];
    snprintf(group, sizeof group, "optimizer/%s", w->opt->slot_name[s]);
    IBX_TRY(write_store(f, group, w->params, w->opt->slot[s]));
  }
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "epoch", m->epoch));
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "step", m->step));
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "seed", (int64_t)m->seed));
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "world_size", m->world_size));
  IBX_TRY(ibx_h5_write_attr_f64(f, "/", "best_error", m->best_error));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "error_unit", "percent"));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "ibx_version", IBX_VERSION));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "git_commit", IBX_GIT_COMMIT));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "config", m->config_ini ? m->config_ini : ""));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "hostnames", m->hostnames ? m->hostnames : ""));
  IBX_TRY(ibx_h5_write_attr_str(f, "/", "start_time", m->start_time));
  char now[32];
  time_t t = time(NULL);
  struct tm tm;
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  return ibx_h5_write_attr_str(f, "/", "save_time", now);
}

static int write_file(const char *tmp_path, void *ctx) {
  ibx_h5 f;
  IBX_TRY(ibx_h5_create(&f, tmp_path));
  int rc = write_contents(&f, ctx);
  int rc_close = ibx_h5_close(&f);
  return rc ? rc : rc_close;
}

int ibx_checkpoint_write(const char *path, const ibx_params *params, const ibx_params *buffers,
                         const ibx_opt_state *opt, const ibx_ckpt_meta *meta) {
  if (!params->values)
    return ibx_fail(IBX_ERR_ARG, "%s: checkpoint of unallocated parameters", path);
  write_ctx w = {params, buffers, opt, meta};
  return ibx_atomic_write(path, write_file, &w);
}

/* Opens path and checks it is an ibx checkpoint of a supported version. */
static int open_checked(ibx_h5 *f, const char *path) {
  IBX_TRY(ibx_h5_open(f, path));
  char format[64] = "";
  int64_t version = 0;
  if (ibx_h5_read_attr_str(f, "/", "format", format, sizeof format) || strcmp(format, CKPT_FORMAT)) {
    ibx_h5_close(f);
    return ibx_fail(IBX_ERR_FORMAT, "%s: not an ibx checkpoint (HDF5 file without format=\"%s\")",
                    path, CKPT_FORMAT);
  }
  if (ibx_h5_read_attr_i64(f, "/", "format_version", &version) || version != CKPT_VERSION) {
    ibx_h5_close(f);
    return ibx_fail(IBX_ERR_FORMAT, "%s: checkpoint format version %lld, this ibx reads %d", path,
                    (long long)version, CKPT_VERSION);
  }
  return IBX_OK;
}

static int read_store(const ibx_h5 *f, const char *group, ibx_params *p, float *base) {
  char name[IBX_PARAM_NAME_MAX + 128];
  for (int i = 0; i < p->count; i++) {
    const ibx_param_info *pi = &p->info[i];
    ibx_tensor t = {base + pi->offset, pi->ndim, {1, 1, 1, 1}};
    for (int d = 0; d < pi->ndim; d++)
      t.dim[d] = pi->dim[d];
    snprintf(name, sizeof name, "%s/%s", group, pi->name);
    if (!ibx_h5_exists(f, name))
      return ibx_fail(IBX_ERR_FORMAT, "%s: checkpoint has no tensor '%s' (a different model?)",
                      f->path, name);
    IBX_TRY(ibx_h5_read_tensor(f, name, &t));
  }
  return IBX_OK;
}

static int read_contents(const ibx_h5 *f, ibx_params *params, ibx_params *buffers,
                         ibx_opt_state *opt, ibx_ckpt_meta *meta) {
  IBX_TRY(read_store(f, "model", params, params->values));
  if (buffers && buffers->count)
    IBX_TRY(read_store(f, "model", buffers, buffers->values));
  for (int s = 0; opt && s < opt->n_slots; s++) {
    char group[96];
    snprintf(group, sizeof group, "optimizer/%s", opt->slot_name[s]);
    IBX_TRY(read_store(f, group, params, opt->slot[s]));
  }
  if (!meta)
    return IBX_OK;
  int64_t v;
  memset(meta, 0, sizeof *meta);
  IBX_TRY(ibx_h5_read_attr_i64(f, "/", "epoch", &v));
  meta->epoch = (long)v;
  IBX_TRY(ibx_h5_read_attr_i64(f, "/", "step", &v));
  meta->step = (long)v;
  IBX_TRY(ibx_h5_read_attr_i64(f, "/", "seed", &v));
  meta->seed = (uint64_t)v;
  IBX_TRY(ibx_h5_read_attr_i64(f, "/", "world_size", &v));
  meta->world_size = (int)v;
  IBX_TRY(ibx_h5_read_attr_f64(f, "/", "best_error", &meta->best_error));
  char unit[16];
  if (ibx_h5_read_attr_str(f, "/", "error_unit", unit, sizeof unit)) {
    ibx_clear_error(); /* written before errors were percent: a fraction */
    meta->best_error *= 100.0;
  }
  return ibx_h5_read_attr_str(f, "/", "start_time", meta->start_time, sizeof meta->start_time);
}

int ibx_checkpoint_read(const char *path, ibx_params *params, ibx_params *buffers,
                        ibx_opt_state *opt, ibx_ckpt_meta *meta) {
  ibx_h5 f;
  IBX_TRY(open_checked(&f, path));
  int rc = read_contents(&f, params, buffers, opt, meta);
  ibx_h5_close(&f);
  return rc;
}

int ibx_checkpoint_read_config(const char *path, char **config_ini) {
  ibx_h5 f;
  IBX_TRY(open_checked(&f, path));
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  int rc = buf ? ibx_h5_read_attr_str(&f, "/", "config", buf, cap)
               : ibx_fail(IBX_ERR_NOMEM, "%s: out of memory reading config", path);
  ibx_h5_close(&f);
  if (rc)
    free(buf);
  else
    *config_ini = buf;
  return rc;
}
