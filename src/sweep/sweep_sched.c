/* Slurm queries for status and submit (see sweep_sched.h). */
#include "sweep_sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"

typedef struct {
  char stage[32], job[32], runs_file[IBX_SWEEP_TEXT];
  int offset, count;
} record;

static int load_records(const char *sweep_dir, record **out) {
  char path[IBX_SWEEP_TEXT + 32];
  ibx_sw_fmt(path, sizeof path, "%s/slurm/jobs.tsv", sweep_dir);
  FILE *f = fopen(path, "r");
  *out = NULL;
  if (!f)
    return 0;
  int n = 0, cap = 0;
  char line[IBX_SWEEP_TEXT + 256];
  while (fgets(line, sizeof line, f)) {
    record r;
    int submission, chunk;
    if (sscanf(line, "%d\t%31s\t%d\t%31s\t%d\t%d\t%511s", &submission, r.stage, &chunk, r.job,
               &r.offset, &r.count, r.runs_file) != 7)
      continue;
    if (n == cap) {
      record *b = realloc(*out, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *b);
      if (!b)
        break;
      *out = b;
    }
    (*out)[n++] = r;
  }
  fclose(f);
  return n;
}

/* Line (1-based) of a runs file; the caller frees. */
static char *runs_line(const char *runs_file, int line) {
  FILE *f = fopen(runs_file, "r");
  if (!f)
    return NULL;
  char buf[IBX_SWEEP_TEXT + 2];
  char *found = NULL;
  for (int i = 1; fgets(buf, sizeof buf, f); i++)
    if (i == line) {
      buf[strcspn(buf, "\n")] = '\0';
      found = strdup(buf);
      break;
    }
  fclose(f);
  return found;
}

static int is_active(const char *state) {
  static const char *const active[] = {"PENDING", "RUNNING", "REQUEUED", "SUSPENDED",
                                       "CONFIGURING", "COMPLETING", "RESIZING", "REQUEUE_HOLD",
                                       "REQUEUE_FED", "STAGE_OUT", NULL};
  for (int i = 0; active[i]; i++)
    if (!strncmp(state, active[i], strlen(active[i])))
      return 1;
  return 0;
}

/* States in which an attempt of a requeueable job ends before it runs again. */
static int ends_attempt(const char *state) {
  return !strcmp(state, "REQUEUED") || !strcmp(state, "NODE_FAIL") ||
         !strcmp(state, "PREEMPTED") || !strcmp(state, "REQUEUE_HOLD") ||
         !strcmp(state, "REQUEUE_FED");
}

/* One line of sacct/squeue after the job id: state and, when the query asks
 * for them, elapsed time, exit code and node list ("" where not given). */
typedef struct {
  const char *state, *elapsed, *exit_code, *nodes;
  int history; /* sacct -D: a second line for the same job is a later attempt */
} report;

static void set_fields(ibx_sched_entry *e, const report *rep) {
  ibx_sw_fmt(e->state, sizeof e->state, "%s", rep->state);
  e->active = is_active(rep->state);
  if (rep->elapsed[0])
    ibx_sw_fmt(e->elapsed, sizeof e->elapsed, "%s", rep->elapsed);
  if (rep->exit_code[0])
    ibx_sw_fmt(e->exit_code, sizeof e->exit_code, "%s", rep->exit_code);
  if (!strncmp(rep->state, "PENDING", 7)) /* not on any node (yet, or again) */
    e->nodes[0] = '\0';
  else if (rep->nodes[0] && strcmp(rep->nodes, "None assigned") && strcmp(rep->nodes, "(null)"))
    ibx_sw_fmt(e->nodes, sizeof e->nodes, "%s", rep->nodes);
}

static void add(ibx_sched_info *info, const record *r, int task, const report *rep) {
  char *run_dir = NULL;
  if (r->count > 0) {
    if (task < 0 || task >= r->count || !(run_dir = runs_line(r->runs_file, r->offset + task + 1)))
      return;
  }
  char job[48];
  if (r->count > 0)
    ibx_sw_fmt(job, sizeof job, "%s_%d", r->job, task);
  else
    ibx_sw_fmt(job, sizeof job, "%s", r->job);
  for (int i = 0; i < info->n; i++) /* a later report (squeue after sacct) replaces */
    if (!strcmp(info->e[i].stage, r->stage) &&
        ((!run_dir && !info->e[i].run_dir) ||
         (run_dir && info->e[i].run_dir && !strcmp(run_dir, info->e[i].run_dir)))) {
      ibx_sched_entry *e = &info->e[i];
      free(e->run_dir);
      e->run_dir = run_dir;
      /* the same job again: it was requeued (sacct -D lists every attempt; between
       * attempts sacct may show only the ended one and squeue the pending job) */
      if (!strcmp(e->job, job) && (rep->history || (ends_attempt(e->state) &&
                                                    is_active(rep->state)))) {
        e->requeues++;
        ibx_sw_fmt(e->requeued_after, sizeof e->requeued_after, "%s", e->state);
      } else if (strcmp(e->job, job)) { /* another submission of this run: start afresh */
        e->requeues = 0, e->requeued_after[0] = '\0';
        e->elapsed[0] = e->exit_code[0] = e->nodes[0] = '\0';
      }
      ibx_sw_fmt(e->job, sizeof e->job, "%s", job);
      set_fields(e, rep);
      return;
    }
  if (info->n == info->cap) {
    ibx_sched_entry *b = realloc(info->e, (size_t)(info->cap = info->cap ? 2 * info->cap : 32) *
                                              sizeof *b);
    if (!b) {
      free(run_dir);
      return;
    }
    info->e = b;
  }
  ibx_sched_entry *e = &info->e[info->n++];
  memset(e, 0, sizeof *e);
  e->run_dir = run_dir;
  ibx_sw_fmt(e->stage, sizeof e->stage, "%s", r->stage);
  ibx_sw_fmt(e->job, sizeof e->job, "%s", job);
  set_fields(e, rep);
}

/* Splits "a|b|c" in place into at most n fields (missing ones ""). */
static void split_bars(char *line, const char **field, int n) {
  for (int i = 0; i < n; i++) {
    field[i] = line ? line : "";
    if (line) {
      char *bar = strchr(line, '|');
      if (bar)
        *bar = '\0';
      line = bar ? bar + 1 : NULL;
    }
  }
}

/* "123_4|RUNNING|...", "123_[5-9%2]|PENDING|...", "124|COMPLETED|..." -> entries. */
static void parse_line(ibx_sched_info *info, const record *recs, int n_recs, char *line,
                       int history) {
  line[strcspn(line, "\n")] = '\0';
  const char *f[5];
  split_bars(line, f, 5);
  if (!f[1][0])
    return;
  char state[32];
  ibx_sw_fmt(state, sizeof state, "%.*s", (int)strcspn(f[1], " "), f[1]); /* "CANCELLED by 0" */
  const report rep = {state, f[2], f[3], f[4], history};
  char *id = line; /* f[0] */
  char *under = strchr(id, '_');
  if (under)
    *under = '\0';
  for (int i = 0; i < n_recs; i++) {
    if (strcmp(recs[i].job, id))
      continue;
    if (!under) {
      if (recs[i].count == 0)
        add(info, &recs[i], 0, &rep);
      return;
    }
    const char *t = under + 1;
    if (*t != '[') {
      add(info, &recs[i], atoi(t), &rep);
      return;
    }
    for (t++; *t && *t != ']' && *t != '%';) { /* "5-9,12" */
      int lo = (int)strtol(t, (char **)&t, 10), hi = lo;
      if (*t == '-')
        hi = (int)strtol(t + 1, (char **)&t, 10);
      for (int k = lo; k <= hi && k - lo < 100000; k++)
        add(info, &recs[i], k, &rep);
      if (*t == ',')
        t++;
      else if (*t != ']' && *t != '%')
        break;
    }
    return;
  }
}

/* Runs "PREFIX[id1,id2,...]" and folds its "job|state" lines into info. */
static void run_query(ibx_sched_info *info, const record *recs, int n, const char *prefix,
                      int with_ids) {
  size_t cap = strlen(prefix) + (size_t)n * 34 + 32, used;
  char *cmd = malloc(cap);
  if (!cmd)
    return;
  used = (size_t)ibx_sw_fmt(cmd, cap, "%s", prefix);
  for (int i = 0; with_ids && i < n; i++)
    used += (size_t)ibx_sw_fmt(cmd + used, cap - used, "%s%s", i ? "," : "", recs[i].job);
  ibx_sw_fmt(cmd + used, cap - used, " 2>/dev/null");
  FILE *p = popen(cmd, "r");
  free(cmd);
  if (!p)
    return;
  const int is_sacct = !strncmp(prefix, "sacct", 5);
  char line[512];
  while (fgets(line, sizeof line, p))
    parse_line(info, recs, n, line, is_sacct);
  const int ok = pclose(p) == 0;
  if (is_sacct)
    info->have_sacct = ok;
}

void ibx_sched_query_full(const char *sweep_dir, int with_sacct, ibx_sched_info *info) {
  memset(info, 0, sizeof *info);
  record *recs;
  int n = load_records(sweep_dir, &recs);
  if (!n)
    return;
  /* -D: every attempt of a requeued job, oldest first (counted as requeues) */
  if (with_sacct)
    run_query(info, recs, n, "sacct -n -P -X -D -o JobID,State,Elapsed,ExitCode,NodeList -j ", 1);
  /* all of our jobs, not -j: squeue rejects ids it has already forgotten */
  run_query(info, recs, n, "squeue -h -r -o '%i|%T|%M||%N'", 0);
  free(recs);
}

void ibx_sched_free(ibx_sched_info *info) {
  for (int i = 0; i < info->n; i++)
    free(info->e[i].run_dir);
  free(info->e);
  memset(info, 0, sizeof *info);
}

const ibx_sched_entry *ibx_sched_lookup(const ibx_sched_info *info, const char *run_dir,
                                        const char *stage) {
  for (int i = 0; i < info->n; i++)
    if (info->e[i].run_dir && !strcmp(info->e[i].run_dir, run_dir) &&
        (!stage || !strcmp(info->e[i].stage, stage)))
      return &info->e[i];
  return NULL;
}

int ibx_sched_run_active(const ibx_sched_info *info, const char *run_dir) {
  for (int i = 0; i < info->n; i++)
    if (info->e[i].active && info->e[i].run_dir && !strcmp(info->e[i].run_dir, run_dir))
      return 1;
  return 0;
}

int ibx_sched_sweep_stage_active(const ibx_sched_info *info, const char *stage) {
  for (int i = 0; i < info->n; i++)
    if (info->e[i].active && !info->e[i].run_dir && !strcmp(info->e[i].stage, stage))
      return 1;
  return 0;
}

int ibx_sched_record(const char *sweep_dir, int submission, const char *stage, int chunk,
                     const char *job, int offset, int count, const char *runs_file) {
  char path[IBX_SWEEP_TEXT + 32];
  ibx_sw_fmt(path, sizeof path, "%s/slurm/jobs.tsv", sweep_dir);
  FILE *f = fopen(path, "a");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
  fprintf(f, "%d\t%s\t%d\t%s\t%d\t%d\t%s\n", submission, stage, chunk, job, offset, count,
          runs_file);
  return fclose(f) ? ibx_fail(IBX_ERR_IO, "%s: write failed", path) : IBX_OK;
}
