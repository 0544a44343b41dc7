/* HDF5 checkpoints (see include/ibx/checkpoint.h) and atomic file writes. */
#include "ibx/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hdf5.h>
#include <unistd.h>
#include <zlib.h>

#include "ibx/error.h"
#include "ibx/h5io.h"
#include "ibx/version.h"

#define CKPT_FORMAT "ibx-checkpoint"
#define CKPT_VERSION 2 /* 2: zlib crc32 of every tensor and of the metadata */
#define CKPT_CRC_ATTR "crc32"

/* zlib crc32 of n float32 values, in memory order (little-endian). */
static int64_t tensor_crc(const float *v, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const unsigned char *b = (const unsigned char *)v;
  for (size_t left = n * sizeof(float); left;) {
    const size_t m = left > (1u << 30) ? (1u << 30) : left;
    crc = crc32(crc, b, (uInt)m);
    b += m, left -= m;
  }
  return (int64_t)(uint32_t)crc;
}

/* crc32 of the metadata a resume depends on, as text. */
static int64_t meta_crc(long epoch, long step, uint64_t seed, int world_size, double best_error,
                        const char *start_time, const char *config_ini) {
  char head[256];
  snprintf(head, sizeof head, "%ld %ld %llu %d %.17g %s\n", epoch, step, (unsigned long long)seed,
           world_size, best_error, start_time);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, (const unsigned char *)head, (uInt)strlen(head));
  crc = crc32(crc, (const unsigned char *)config_ini, (uInt)strlen(config_ini));
  return (int64_t)(uint32_t)crc;
}

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

/* IBX_TEST_WRITE_DELAY_MS (fault-injection tests only): a pause with the
 * temporary file written but not yet renamed, so a test can kill a writer
 * in the middle of a write. */
static void test_write_delay(void) {
  static long delay_ms = -1;
  if (delay_ms < 0) {
    const char *v = getenv("IBX_TEST_WRITE_DELAY_MS");
    delay_ms = v ? atol(v) : 0;
  }
  if (delay_ms > 0) {
    struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

int ibx_atomic_write(const char *path, ibx_write_fn write, void *ctx) {
  char tmp[4096], dir[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return ibx_fail(IBX_ERR_ARG, "%s: path too long", path);
  int rc = write(tmp, ctx);
  test_write_delay();
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
    IBX_TRY(ibx_h5_write_attr_i64(f, name, CKPT_CRC_ATTR, tensor_crc(base + pi->offset, pi->numel)));
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
  IBX_TRY(ibx_h5_write_attr_i64(f, "/", "meta_crc32",
                                meta_crc(m->epoch, m->step, m->seed, m->world_size, m->best_error,
                                         m->start_time, m->config_ini ? m->config_ini : "")));
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

/* Opens path and checks it is an ibx checkpoint of a supported version
 * (*version: 1 without checksums, 2 with). */
static int open_checked(ibx_h5 *f, const char *path, int *version_out) {
  IBX_TRY(ibx_h5_open(f, path));
  char format[64] = "";
  int64_t version = 0;
  if (ibx_h5_read_attr_str(f, "/", "format", format, sizeof format) || strcmp(format, CKPT_FORMAT)) {
    ibx_h5_close(f);
    return ibx_fail(IBX_ERR_FORMAT, "%s: not an ibx checkpoint (HDF5 file without format=\"%s\")",
                    path, CKPT_FORMAT);
  }
  if (ibx_h5_read_attr_i64(f, "/", "format_version", &version) || version < 1 ||
      version > CKPT_VERSION) {
    ibx_h5_close(f);
    return ibx_fail(IBX_ERR_FORMAT, "%s: checkpoint format version %lld, this ibx reads 1 to %d",
                    path, (long long)version, CKPT_VERSION);
  }
  *version_out = (int)version;
  return IBX_OK;
}

/* Checks a tensor read from name against its stored crc32 (version 2). */
static int check_tensor_crc(const ibx_h5 *f, int version, const char *name, const float *v,
                            size_t n) {
  if (version < 2)
    return IBX_OK;
  int64_t want;
  if (ibx_h5_read_attr_i64(f, name, CKPT_CRC_ATTR, &want))
    return ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: tensor '%s' has no checksum",
                    f->path, name);
  const int64_t got = tensor_crc(v, n);
  if (got != want)
    return ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: tensor '%s' fails its checksum "
                    "(crc32 %08llx, stored %08llx)", f->path, name, (unsigned long long)got,
                    (unsigned long long)want);
  return IBX_OK;
}

/* Reads a string attribute of any length into a fresh malloc'ed buffer. */
static int read_attr_str_alloc(const ibx_h5 *f, const char *attr, char **out) {
  size_t cap = 1 << 16;
  char *buf = malloc(cap);
  if (!buf)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory reading '%s'", f->path, attr);
  int rc = ibx_h5_read_attr_str(f, "/", attr, buf, cap);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  return IBX_OK;
}

/* Reads the metadata and, for version 2, checks it against meta_crc32. */
static int read_meta_checked(const ibx_h5 *f, int version, ibx_ckpt_meta *meta, char **config) {
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
  IBX_TRY(ibx_h5_read_attr_str(f, "/", "start_time", meta->start_time, sizeof meta->start_time));
  char *ini = NULL;
  IBX_TRY(read_attr_str_alloc(f, "config", &ini));
  int rc = IBX_OK;
  if (version >= 2) {
    if (ibx_h5_read_attr_i64(f, "/", "meta_crc32", &v))
      rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: no meta_crc32", f->path);
    else if (v != meta_crc(meta->epoch, meta->step, meta->seed, meta->world_size,
                           meta->best_error, meta->start_time, ini))
      rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: metadata (step, config, ...) fails "
                    "its checksum", f->path);
  }
  /* the checksum covers best_error as stored; then the unit: files written
   * before errors were percent carry no error_unit and hold a fraction */
  char unit[16];
  if (!rc && ibx_h5_read_attr_str(f, "/", "error_unit", unit, sizeof unit)) {
    ibx_clear_error();
    meta->best_error *= 100.0;
  }
  if (rc || !config)
    free(ini);
  else
    *config = ini;
  return rc;
}

static int read_store(const ibx_h5 *f, int version, const char *group, ibx_params *p,
                      float *base) {
  char name[IBX_PARAM_NAME_MAX + 128];
  for (int i = 0; i < p->count; i++) {
    const ibx_param_info *pi = &p->info[i];
    ibx_tensor t = {base + pi->offset, pi->ndim, {1, 1, 1, 1}};
    for (int d = 0; d < pi->ndim; d++)
      t.dim[d] = pi->dim[d];
    snprintf(name, sizeof name, "%s/%s", group, pi->name);
    if (!ibx_h5_exists(f, name))
      return ibx_fail(IBX_ERR_FORMAT, "%s: checkpoint has no tensor '%s' (a different model, or a damaged file?)",
                      f->path, name);
    IBX_TRY(ibx_h5_read_tensor(f, name, &t));
    IBX_TRY(check_tensor_crc(f, version, name, t.data, pi->numel));
  }
  return IBX_OK;
}

static int read_contents(const ibx_h5 *f, int version, ibx_params *params, ibx_params *buffers,
                         ibx_opt_state *opt, ibx_ckpt_meta *meta) {
  IBX_TRY(read_store(f, version, "model", params, params->values));
  if (buffers && buffers->count)
    IBX_TRY(read_store(f, version, "model", buffers, buffers->values));
  for (int s = 0; opt && s < opt->n_slots; s++) {
    char group[96];
    snprintf(group, sizeof group, "optimizer/%s", opt->slot_name[s]);
    IBX_TRY(read_store(f, version, group, params, opt->slot[s]));
  }
  if (!meta)
    return IBX_OK;
  return read_meta_checked(f, version, meta, NULL);
}

int ibx_checkpoint_read(const char *path, ibx_params *params, ibx_params *buffers,
                        ibx_opt_state *opt, ibx_ckpt_meta *meta) {
  ibx_h5 f;
  int version;
  IBX_TRY(open_checked(&f, path, &version));
  int rc = read_contents(&f, version, params, buffers, opt, meta);
  ibx_h5_close(&f);
  return rc;
}

static int read_matching(const ibx_h5 *f, int version, ibx_params *p, int *loaded) {
  char name[IBX_PARAM_NAME_MAX + 128];
  *loaded = 0;
  for (int i = 0; i < p->count; i++) {
    const ibx_param_info *pi = &p->info[i];
    snprintf(name, sizeof name, "model/%s", pi->name);
    if (!ibx_h5_exists(f, name))
      continue;
    int nd = 0;
    int64_t dims[IBX_H5_MAX_DIMS];
    IBX_TRY(ibx_h5_shape(f, name, &nd, dims));
    int same = nd == pi->ndim;
    for (int d = 0; same && d < nd; d++)
      same = dims[d] == pi->dim[d];
    if (!same) {
      char have[64] = "", want[64] = "";
      for (int d = 0; d < nd; d++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%lld", d ? "x" : "",
                 (long long)dims[d]);
      for (int d = 0; d < pi->ndim; d++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "x" : "",
                 pi->dim[d]);
      return ibx_fail(IBX_ERR_FORMAT, "%s: parameter '%s' has shape %s there, this model's is %s "
                      "(another model.* size or vocabulary?)", f->path, pi->name, have, want);
    }
    ibx_tensor t = {p->values + pi->offset, pi->ndim, {1, 1, 1, 1}};
    for (int d = 0; d < pi->ndim; d++)
      t.dim[d] = pi->dim[d];
    IBX_TRY(ibx_h5_read_tensor(f, name, &t));
    IBX_TRY(check_tensor_crc(f, version, name, t.data, pi->numel));
    ++*loaded;
  }
  return IBX_OK;
}

int ibx_checkpoint_read_matching(const char *path, ibx_params *params, int *loaded) {
  ibx_h5 f;
  int version, n = 0;
  IBX_TRY(open_checked(&f, path, &version));
  int rc = read_matching(&f, version, params, &n);
  ibx_h5_close(&f);
  if (loaded)
    *loaded = n;
  return rc;
}

int ibx_checkpoint_read_config(const char *path, char **config_ini) {
  ibx_h5 f;
  int version;
  IBX_TRY(open_checked(&f, path, &version));
  ibx_ckpt_meta meta;
  int rc = read_meta_checked(&f, version, &meta, config_ini);
  ibx_h5_close(&f);
  return rc;
}

/* ---- whole-file verification ----------------------------------------------- */

typedef struct {
  const ibx_h5 *f;
  int version, rc;
  long tensors;
} verify_ctx;

static herr_t verify_object(hid_t root, const char *name, const H5O_info_t *info, void *user) {
  verify_ctx *v = user;
  if (info->type != H5O_TYPE_DATASET)
    return 0;
  hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
  hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
  const hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  float *buf = n >= 0 ? malloc((size_t)(n ? n : 1) * sizeof(float)) : NULL;
  if (!buf)
    v->rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: cannot open tensor '%s'",
                     v->f->path, name);
  else if (n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    v->rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: cannot read tensor '%s'",
                     v->f->path, name);
  else
    v->rc = check_tensor_crc(v->f, v->version, name, buf, (size_t)n);
  free(buf);
  if (sp >= 0)
    H5Sclose(sp);
  if (d >= 0)
    H5Dclose(d);
  v->tensors++;
  return v->rc ? 1 : 0;
}

int ibx_checkpoint_verify(const char *path) {
  ibx_h5 f;
  int version;
  IBX_TRY(open_checked(&f, path, &version));
  ibx_ckpt_meta meta;
  verify_ctx v = {&f, version, read_meta_checked(&f, version, &meta, NULL), 0};
  if (!v.rc && H5Ovisit((hid_t)f.id, H5_INDEX_NAME, H5_ITER_NATIVE, verify_object, &v) < 0 &&
      !v.rc)
    v.rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: cannot walk its contents", path);
  if (!v.rc && !v.tensors)
    v.rc = ibx_fail(IBX_ERR_FORMAT, "%s: corrupt checkpoint: no tensors", path);
  int rc_close = ibx_h5_close(&f);
  return v.rc ? v.rc : rc_close;
}
