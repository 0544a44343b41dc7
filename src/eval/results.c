/* Results files under RUN_DIR/results (include/ibx/eval.h): every update
 * rewrites the whole file atomically (temp, fsync, rename), copying the
 * objects it does not replace, under an exclusive lock so two evaluations of
 * one run do not lose each other's groups. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"
#include "ibx/eval.h"

typedef struct {
  const char *path;
  const char *const *replace;
  int n;
  ibx_results_write_fn write;
  void *ctx;
} update_ctx;

/* 0: keep the object at name; 1: drop it (replaced); 2: descend (a
 * replaced group lies below it). */
static int fate(const update_ctx *u, const char *name) {
  const size_t len = strlen(name);
  int descend = 0;
  for (int i = 0; i < u->n; i++) {
    if (!strcmp(u->replace[i], name))
      return 1;
    if (!strncmp(u->replace[i], name, len) && u->replace[i][len] == '/')
      descend = 1;
  }
  return descend ? 2 : 0;
}

typedef struct {
  const update_ctx *u;
  hid_t dst;
  const char *prefix;
  int failed;
} copy_ctx;

static herr_t copy_link(hid_t group, const char *name, const H5L_info_t *info, void *data);

static int copy_tree(const update_ctx *u, hid_t src, hid_t dst, const char *prefix) {
  copy_ctx c = {u, dst, prefix, 0};
  if (H5Literate(src, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, copy_link, &c) < 0 || c.failed)
    return ibx_fail(IBX_ERR_IO, "%s: cannot copy the existing results under '%s'", u->path,
                    *prefix ? prefix : "/");
  return IBX_OK;
}

static herr_t copy_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  (void)info;
  copy_ctx *c = data;
  char full[1024];
  snprintf(full, sizeof full, "%s/%s", c->prefix, name);
  switch (fate(c->u, full)) {
  case 1:
    return 0;
  case 2: { /* a group holding a replaced one: copy its other members */
    hid_t s = H5Gopen2(group, name, H5P_DEFAULT);
    hid_t d = H5Gcreate2(c->dst, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (s < 0 || d < 0 || copy_tree(c->u, s, d, full))
      c->failed = 1;
    if (s >= 0)
      H5Gclose(s);
    if (d >= 0)
      H5Gclose(d);
    return c->failed ? -1 : 0;
  }
  default:
    if (H5Ocopy(group, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0)
      return c->failed = 1, -1;
    return 0;
  }
}

static int write_tmp(const char *tmp_path, void *ctx) {
  const update_ctx *u = ctx;
  ibx_h5 out;
  IBX_TRY(ibx_h5_create(&out, tmp_path));
  int rc = IBX_OK;
  if (access(u->path, F_OK) == 0) {
    ibx_h5 old;
    rc = ibx_h5_open(&old, u->path);
    if (rc == IBX_OK) {
      rc = copy_tree(u, (hid_t)old.id, (hid_t)out.id, "");
      ibx_h5_close(&old);
    }
  }
  if (rc == IBX_OK)
    rc = u->write(&out, u->ctx);
  const int rc_close = ibx_h5_close(&out);
  return rc ? rc : rc_close;
}

int ibx_results_group(ibx_h5 *f, const char *name) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  const hid_t g = H5Gcreate2((hid_t)f->id, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  if (g < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create group '%s'", f->path, name);
  H5Gclose(g);
  return IBX_OK;
}

static int make_dir_of(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    return IBX_OK;
  *slash = '\0';
  if (mkdir(dir, 0775) && errno != EEXIST)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
  return IBX_OK;
}

int ibx_results_update(const char *path, const char *const *replace, int n,
                       ibx_results_write_fn write, void *ctx) {
  IBX_TRY(make_dir_of(path));
  char lock_path[4200];
  snprintf(lock_path, sizeof lock_path, "%s.lock", path);
  const int fd = open(lock_path, O_CREAT | O_RDWR, 0664);
  if (fd < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open the lock file: %s", lock_path, strerror(errno));
  if (flock(fd, LOCK_EX)) {
    close(fd);
    return ibx_fail(IBX_ERR_IO, "%s: cannot lock: %s", lock_path, strerror(errno));
  }
  update_ctx u = {path, replace, n, write, ctx};
  const int rc = ibx_atomic_write(path, write_tmp, &u);
  flock(fd, LOCK_UN);
  close(fd);
  return rc;
}
