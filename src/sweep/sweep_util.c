/* Sweep helpers: files, stage markers, command templates. */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ibx/checkpoint.h"
#include "ibx/error.h"
#include "sweep_internal.h"

int ibx_sw_fmt(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, len, fmt, ap);
  va_end(ap);
  return n;
}

void ibx_sw_report(FILE *out, const char *fmt, ...) {
  if (!out)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
}

void ibx_sw_flush(FILE *out) {
  if (out)
    fflush(out);
}

int ibx_sw_mkdir_p(const char *dir) {
  char path[4096];
  ibx_sw_fmt(path, sizeof path, "%s", dir);
  for (char *p = path + 1;; p++) {
    if (*p && *p != '/')
      continue;
    const char c = *p;
    *p = '\0';
    if (mkdir(path, 0775) && errno != EEXIST)
      return ibx_fail(IBX_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
    if (!c)
      return IBX_OK;
    *p = '/';
  }
}

static int write_text_cb(const char *tmp, void *ctx) {
  FILE *f = fopen(tmp, "w");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
  fputs((const char *)ctx, f);
  return fclose(f) ? ibx_fail(IBX_ERR_IO, "%s: write failed", tmp) : IBX_OK;
}

int ibx_sw_write_text(const char *path, const char *text) {
  return ibx_atomic_write(path, write_text_cb, (void *)text);
}

int ibx_sw_read_line(const char *path, char *out, size_t len) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  if (!fgets(out, (int)len, f))
    out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\n")] = '\0';
  return 0;
}

char *ibx_sw_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (n + 1 == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger)
        free(buf);
      buf = bigger;
    }
  }
  fclose(f);
  if (buf)
    buf[n] = '\0';
  return buf;
}

int ibx_sw_h5_ok(const char *path) {
  H5E_auto2_t func;
  void *data;
  H5Eget_auto2(H5E_DEFAULT, &func, &data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int ok = 0;
  /* SWMR read: metrics.h5 of a run in progress is held open for writing */
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (f >= 0) {
    H5G_info_t info;
    ok = H5Gget_info(f, &info) >= 0;
    H5Fclose(f);
  }
  H5Eset_auto2(H5E_DEFAULT, func, data);
  return ok;
}

int ibx_sw_split_words(const char *text, char words[][IBX_SWEEP_TEXT], int cap) {
  int n = 0;
  const char *c = text;
  for (;;) {
    while (*c == ' ' || *c == '\t')
      c++;
    if (!*c)
      return n;
    if (n == cap)
      return ibx_fail(IBX_ERR_ARG, "command '%s': more than %d words", text, cap), -1;
    size_t len = 0;
    char quote = 0;
    for (; *c && (quote || (*c != ' ' && *c != '\t')); c++) {
      if (!quote && (*c == '\'' || *c == '"'))
        quote = *c;
      else if (quote && *c == quote)
        quote = 0;
      else if (len + 1 < IBX_SWEEP_TEXT)
        words[n][len++] = *c;
    }
    if (quote)
      return ibx_fail(IBX_ERR_ARG, "command '%s': unbalanced quote", text), -1;
    words[n++][len] = '\0';
  }
}

int ibx_sw_expand_word(const char *word, const ibx_sw_vars *v, char *out, size_t len) {
  size_t used = 0;
  for (const char *c = word; *c;) {
    const char *close = *c == '{' ? strchr(c, '}') : NULL;
    if (!close) {
      if (used + 1 < len)
        out[used++] = *c;
      c++;
      continue;
    }
    char name[32], num[16];
    ibx_sw_fmt(name, sizeof name, "%.*s", (int)(close - c - 1), c + 1);
    const char *val = NULL;
    if (!strcmp(name, "run_dir"))
      val = v->run_dir;
    else if (!strcmp(name, "config"))
      val = v->config;
    else if (!strcmp(name, "run_id"))
      val = v->run_id;
    else if (!strcmp(name, "sweep_dir"))
      val = v->sweep_dir;
    else if (!strcmp(name, "here"))
      val = v->here;
    else if (!strcmp(name, "ibx"))
      val = v->ibx;
    else if (!strcmp(name, "tasks"))
      ibx_sw_fmt(num, sizeof num, "%d", v->tasks), val = num;
    else
      return ibx_fail(IBX_ERR_ARG, "'%s': unknown placeholder {%s} (run_dir, config, run_id, "
                                   "sweep_dir, here, ibx, tasks)", word, name);
    if (!val)
      return ibx_fail(IBX_ERR_ARG, "'%s': {%s} has no value in a sweep-wide stage", word, name);
    used += ibx_sw_fmt(out + used, used < len ? len - used : 0, "%s", val);
    c = close + 1;
  }
  if (used >= len)
    return ibx_fail(IBX_ERR_ARG, "'%s': expands to more than %zu characters", word, len - 1);
  out[used] = '\0';
  return IBX_OK;
}

ibx_sweep_resources ibx_sw_stage_resources(const ibx_sweep *s, const ibx_sweep_stage *st) {
  ibx_sweep_resources r = st->res;
  if (!r.nodes)
    r.nodes = s->res.nodes;
  if (!r.tasks)
    r.tasks = s->res.tasks;
  if (!r.cpus_per_task)
    r.cpus_per_task = s->res.cpus_per_task;
  if (!r.time[0])
    strcpy(r.time, s->res.time);
  if (!r.partition[0])
    strcpy(r.partition, s->res.partition);
  if (!r.account[0])
    strcpy(r.account, s->res.account);
  if (!r.mem[0])
    strcpy(r.mem, s->res.mem);
  return r;
}

int ibx_sw_has_checkpoint(const char *run_dir) {
  DIR *d = opendir(run_dir);
  if (!d)
    return 0;
  int found = 0;
  for (struct dirent *e; !found && (e = readdir(d));) {
    size_t n = strlen(e->d_name);
    found = !strncmp(e->d_name, "ckpt-", 5) && n > 8 && !strcmp(e->d_name + n - 3, ".h5");
  }
  closedir(d);
  return found;
}

static const char *const state_names[] = {"pending", "running", "preempted", "failed",
                                          "corrupt", "done"};
const char *ibx_stage_state_name(ibx_stage_state st) { return state_names[st]; }

ibx_stage_state ibx_sweep_stage_state(const ibx_sweep_stage *st, const char *dir, char *why,
                                      size_t why_len) {
  char path[IBX_SWEEP_TEXT + 64], line[256];
  if (why)
    why[0] = '\0';
  ibx_sw_fmt(path, sizeof path, "%s/stages/%s", dir, st->name);
  if (ibx_sw_read_line(path, line, sizeof line))
    return IBX_STAGE_PENDING;
  if (strcmp(line, "done") && st->resume[0]) { /* a trainer's own record is the truth */
    char state[64];
    ibx_sw_fmt(path, sizeof path, "%s/state", dir);
    if (!ibx_sw_read_line(path, state, sizeof state) && !strcmp(state, "preempted"))
      return IBX_STAGE_PREEMPTED;
  }
  if (!strncmp(line, "running", 7))
    return IBX_STAGE_RUNNING;
  if (!strncmp(line, "preempted", 9))
    return IBX_STAGE_PREEMPTED;
  if (strcmp(line, "done")) {
    if (why)
      ibx_sw_fmt(why, why_len, "%s", line);
    return IBX_STAGE_FAILED;
  }
  char outputs[IBX_SWEEP_TEXT];
  ibx_sw_fmt(outputs, sizeof outputs, "%s", st->outputs);
  char *save = NULL;
  for (char *tok = strtok_r(outputs, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    ibx_sw_fmt(path, sizeof path, "%s/%s", dir, tok);
    struct stat sb;
    const size_t n = strlen(tok);
    const char *problem = NULL;
    if (stat(path, &sb))
      problem = "missing";
    else if (n > 3 && !strcmp(tok + n - 3, ".h5") && !ibx_sw_h5_ok(path))
      problem = "not readable HDF5 (corrupt?)";
    if (problem) {
      if (why)
        ibx_sw_fmt(why, why_len, "%s: %s", path, problem);
      return IBX_STAGE_CORRUPT;
    }
  }
  return IBX_STAGE_DONE;
}

int ibx_sweep_mark(const char *dir, const char *stage, const char *state, const char *event) {
  char path[IBX_SWEEP_TEXT + 64], line[512];
  ibx_sw_fmt(path, sizeof path, "%s/stages", dir);
  IBX_TRY(ibx_sw_mkdir_p(path));
  ibx_sw_fmt(path, sizeof path, "%s/stages/%s", dir, stage);
  ibx_sw_fmt(line, sizeof line, "%s\n", state);
  IBX_TRY(ibx_sw_write_text(path, line));
  ibx_sw_fmt(path, sizeof path, "%s/stages/%s.events", dir, stage);
  FILE *f = fopen(path, "a");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
  char when[32];
  time_t now = time(NULL);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  fprintf(f, "%s %s\n", when, event ? event : state);
  return fclose(f) ? ibx_fail(IBX_ERR_IO, "%s: write failed", path) : IBX_OK;
}

int ibx_sw_pending_runs(const ibx_sweep *s, const ibx_sweep_run *runs, int n_runs,
                        int retry_failed, int *pending) {
  int count = 0;
  for (int r = 0; r < n_runs; r++) {
    int any_open = 0, any_failed = 0;
    for (int i = 0; i < s->n_stages; i++) {
      if (s->stages[i].per_sweep)
        continue;
      ibx_stage_state st = ibx_sweep_stage_state(&s->stages[i], runs[r].dir, NULL, 0);
      any_open |= st != IBX_STAGE_DONE;
      any_failed |= st == IBX_STAGE_FAILED;
    }
    pending[r] = any_open && (retry_failed || !any_failed);
    count += pending[r];
  }
  return count;
}
