/* Run directory bookkeeping: state file, checkpoint names, pruning, lookup. */
#include "run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"

int ibx_run_dir_make(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) { /* mkdir -p */
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0775) && errno != EEXIST)
      return ibx_fail(IBX_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
    *p = '/';
  }
  if (mkdir(path, 0775) && errno != EEXIST)
    return ibx_fail(IBX_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
  return IBX_OK;
}

typedef struct {
  const char *text;
} text_ctx;

static int write_text(const char *tmp_path, void *ctx) {
  FILE *f = fopen(tmp_path, "w");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write: %s", tmp_path, strerror(errno));
  fputs(((text_ctx *)ctx)->text, f);
  if (fclose(f))
    return ibx_fail(IBX_ERR_IO, "%s: write failed", tmp_path);
  return IBX_OK;
}

int ibx_run_dir_write_file(const char *dir, const char *name, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  text_ctx c = {text};
  return ibx_atomic_write(path, write_text, &c);
}

int ibx_run_dir_set_state(const char *dir, const char *state) {
  char line[1024];
  snprintf(line, sizeof line, "%s\n", state);
  for (char *p = line; p[1]; p++) /* one line, whatever the reason said */
    if (*p == '\n')
      *p = ' ';
  return ibx_run_dir_write_file(dir, "state", line);
}

void ibx_run_dir_ckpt_path(const char *dir, long step, char *out, size_t len) {
  snprintf(out, len, "%s/ckpt-%09ld.h5", dir, step);
}

/* Steps of the ckpt-<step>.h5 files in dir, ascending; returns the count. */
static int list_steps(const char *dir, long *steps, int cap) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    long step;
    char tail[8];
    if (sscanf(e->d_name, "ckpt-%ld.h%7s", &step, tail) == 2 && !strcmp(tail, "5") &&
        strlen(e->d_name) == 17)
      steps[n++] = step;
  }
  closedir(d);
  for (int i = 1; i < n; i++) /* insertion sort: few files */
    for (int j = i; j > 0 && steps[j] < steps[j - 1]; j--) {
      long t = steps[j];
      steps[j] = steps[j - 1], steps[j - 1] = t;
    }
  return n;
}

int ibx_run_dir_latest(const char *dir, char *out, size_t len) {
  long steps[4096];
  int n = list_steps(dir, steps, 4096);
  if (!n)
    return ibx_fail(IBX_ERR_IO, "%s: no checkpoint (ckpt-*.h5) to resume from", dir);
  ibx_run_dir_ckpt_path(dir, steps[n - 1], out, len);
  return IBX_OK;
}

void ibx_run_dir_prune(const char *dir, int keep_last) {
  long steps[4096];
  int n = list_steps(dir, steps, 4096);
  for (int i = 0; i < n - keep_last; i++) {
    char path[4096];
    ibx_run_dir_ckpt_path(dir, steps[i], path, sizeof path);
    unlink(path);
  }
}

/* ---- the run lock ------------------------------------------------------------ */

static void read_holder(int fd, char *who, size_t len) {
  char buf[256];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  snprintf(who, len, "%s", buf[0] ? buf : "unknown holder");
}

int ibx_run_dir_lock(const char *dir, int *fd_out, char *stale, size_t stale_len) {
  char path[4096], who[256];
  snprintf(path, sizeof path, "%s/%s", dir, IBX_RUN_LOCK_FILE);
  if (stale && stale_len)
    stale[0] = '\0';
  *fd_out = -1;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
  if (fd < 0)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open the run lock: %s", path, strerror(errno));
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_SETLK, &fl)) {
    const int err = errno;
    if (err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP) { /* no locking on this file system */
      close(fd);
      return IBX_OK;
    }
    read_holder(fd, who, sizeof who);
    close(fd);
    if (err == EACCES || err == EAGAIN)
      return ibx_fail(IBX_ERR_IO, "%s: the run is in use by another trainer (%s holds %s); two "
                      "writers on one run are not allowed", dir, who, path);
    return ibx_fail(IBX_ERR_IO, "%s: cannot lock: %s", path, strerror(err));
  }
  /* a holder that died (kill -9, lost node) leaves its line but no lock */
  read_holder(fd, who, sizeof who);
  if (stale && strcmp(who, "unknown holder"))
    snprintf(stale, stale_len, "%s", who);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  const int n = snprintf(who, sizeof who, "host %s pid %ld\n", host, (long)getpid());
  if (ftruncate(fd, 0) || pwrite(fd, who, (size_t)n, 0) != n) {
    const int err = errno;
    close(fd);
    return ibx_fail(IBX_ERR_IO, "%s: cannot write the run lock: %s", path, strerror(err));
  }
  *fd_out = fd;
  return IBX_OK;
}

void ibx_run_dir_unlock(int fd) {
  if (fd < 0)
    return;
  if (ftruncate(fd, 0)) { /* an empty lock file: released cleanly */
  }
  close(fd);
}

int ibx_run_dir_lock_holder(const char *dir, char *who, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, IBX_RUN_LOCK_FILE);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  int held = !fcntl(fd, F_GETLK, &fl) && fl.l_type != F_UNLCK;
  if (held && who)
    read_holder(fd, who, len);
  close(fd);
  return held;
}

/* ---- leftovers of killed writers ----------------------------------------------- */

/* Whether process pid exists on this host and is not a zombie (a killed
 * writer whose parent has not reaped it yet is gone for our purposes). */
static int process_alive(long pid) {
  if (kill((pid_t)pid, 0) && errno == ESRCH)
    return 0;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 1; /* no /proc: trust kill() */
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')'); /* "pid (comm) S ..." */
  return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

int ibx_run_dir_remove_stale_tmp(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *tmp = strstr(e->d_name, ".tmp.");
    if (!tmp || tmp == e->d_name)
      continue;
    char *end;
    const long pid = strtol(tmp + 5, &end, 10);
    if (*end || end == tmp + 5 || pid <= 0)
      continue;
    if (pid == (long)getpid() || process_alive(pid))
      continue; /* its writer may still be alive */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    removed += unlink(path) == 0;
  }
  closedir(d);
  return removed;
}
