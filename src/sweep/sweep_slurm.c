/* Slurm executor: one job array per per-run stage (chunked at MaxArraySize),
 * one job per sweep-wide stage, chained with --dependency so evaluation
 * follows each training run (aftercorr: task i after task i) and collection
 * follows everything. Every per-run stage's array lists the same pending
 * runs in the same order, which is what makes aftercorr line up. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"

extern const char ibx_sweep_stage_template[];
const char *ibx_sweep_template(void) { return ibx_sweep_stage_template; }

typedef struct {
  char *buf;
  size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n) {
  if (!t->buf && t->cap == (size_t)-1)
    return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = (t->cap ? t->cap : 1024);
    while (t->len + n + 1 > cap)
      cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
      free(t->buf);
      *t = (text){NULL, 0, (size_t)-1};
      return;
    }
    t->buf = b, t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}
static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* Single-quotes literal text for bash. */
static void put_quoted(text *t, const char *s, size_t n) {
  puts_(t, "'");
  for (size_t i = 0; i < n; i++)
    s[i] == '\'' ? puts_(t, "'\\''") : put(t, s + i, 1);
  puts_(t, "'");
}

/* One command word as a bash word: literals quoted, per-run placeholders as
 * variables the script sets from its array index. */
static int shell_word(text *t, const char *word, const ibx_sbatch_job *job, int tasks) {
  const int per_run = !job->stage->per_sweep;
  for (const char *c = word; *c;) {
    const char *open = strchr(c, '{'), *close = open ? strchr(open, '}') : NULL;
    if (!close) {
      put_quoted(t, c, strlen(c));
      break;
    }
    if (open > c)
      put_quoted(t, c, (size_t)(open - c));
    char name[32];
    ibx_sw_fmt(name, sizeof name, "%.*s", (int)(close - open - 1), open + 1);
    if (per_run && !strcmp(name, "run_dir"))
      puts_(t, "\"$run_dir\"");
    else if (per_run && !strcmp(name, "config"))
      puts_(t, "\"$run_dir/run.ini\"");
    else if (per_run && !strcmp(name, "run_id"))
      puts_(t, "\"$run_id\"");
    else {
      ibx_sw_vars v = {.sweep_dir = job->sweep_dir, .here = job->sweep->dir, .ibx = job->ibx,
                       .tasks = tasks};
      char piece[40], out[IBX_SWEEP_TEXT];
      ibx_sw_fmt(piece, sizeof piece, "{%s}", name);
      IBX_TRY(ibx_sw_expand_word(piece, &v, out, sizeof out));
      put_quoted(t, out, strlen(out));
    }
    c = close + 1;
  }
  return IBX_OK;
}

/* The stage's command (or resume line) as bash array elements. */
static int shell_command(text *t, const char *line, int is_ibx_args, const ibx_sbatch_job *job,
                         int tasks) {
  if (!line[0])
    return IBX_OK;
  static char words[64][IBX_SWEEP_TEXT];
  int n = ibx_sw_split_words(line, words, 64);
  if (n < 0)
    return IBX_ERR_ARG;
  if (is_ibx_args) {
    put_quoted(t, job->ibx, strlen(job->ibx));
    puts_(t, " ");
  }
  for (int i = 0; i < n; i++) {
    IBX_TRY(shell_word(t, words[i], job, tasks));
    if (i + 1 < n)
      puts_(t, " ");
  }
  return IBX_OK;
}

static void directive(text *t, const char *name, const char *value) {
  if (!value[0])
    return;
  char line[IBX_SWEEP_TEXT + 64];
  ibx_sw_fmt(line, sizeof line, "#SBATCH --%s=%s\n", name, value);
  puts_(t, line);
}

static int fill(text *t, const char *name, const ibx_sbatch_job *job) {
  const ibx_sweep_stage *st = job->stage;
  const ibx_sweep *s = job->sweep;
  ibx_sweep_resources r = ibx_sw_stage_resources(s, st);
  char v[IBX_SWEEP_TEXT * 2];
  if (!strcmp(name, "SWEEP"))
    puts_(t, s->name);
  else if (!strcmp(name, "STAGE"))
    puts_(t, st->name);
  else if (!strcmp(name, "WHAT")) {
    if (st->per_sweep)
      puts_(t, "once for the sweep");
    else
      ibx_sw_fmt(v, sizeof v, "runs %d..%d of %s (array task i = line %d+i+1)", job->offset,
               job->offset + job->count - 1, job->runs_file, job->offset),
          puts_(t, v);
  } else if (!strcmp(name, "JOB_NAME"))
    ibx_sw_fmt(v, sizeof v, "ibx-%s-%s", s->name, st->name), puts_(t, v);
  else if (!strcmp(name, "ARRAY_DIRECTIVE")) {
    if (st->per_sweep)
      puts_(t, "# (one job, no array)");
    else if (s->throttle > 0)
      ibx_sw_fmt(v, sizeof v, "#SBATCH --array=0-%d%%%d", job->count - 1, s->throttle), puts_(t, v);
    else
      ibx_sw_fmt(v, sizeof v, "#SBATCH --array=0-%d", job->count - 1), puts_(t, v);
  } else if (!strcmp(name, "LOG")) {
    ibx_sw_fmt(v, sizeof v, "%s/logs/%s-%s.out", job->sweep_dir, st->name,
             st->per_sweep ? "%j" : "%A_%a");
    puts_(t, v);
  } else if (!strcmp(name, "RESOURCE_DIRECTIVES")) {
    char num[16];
    ibx_sw_fmt(num, sizeof num, "%d", r.nodes), directive(t, "nodes", num);
    ibx_sw_fmt(num, sizeof num, "%d", r.tasks), directive(t, "ntasks", num);
    ibx_sw_fmt(num, sizeof num, "%d", r.cpus_per_task), directive(t, "cpus-per-task", num);
    directive(t, "time", r.time);
    directive(t, "partition", r.partition);
    directive(t, "account", r.account);
    directive(t, "mem", r.mem);
    if (job->dependency && job->dependency[0]) {
      directive(t, "dependency", job->dependency);
      directive(t, "kill-on-invalid-dep", "yes");
    }
  } else if (!strcmp(name, "SELECT_RUN")) {
    if (st->per_sweep) {
      puts_(t, "run_dir=");
      put_quoted(t, job->sweep_dir, strlen(job->sweep_dir));
      puts_(t, "\njob=$SLURM_JOB_ID");
    } else {
      ibx_sw_fmt(v, sizeof v, "run_dir=$(sed -n \"$((%d + SLURM_ARRAY_TASK_ID + 1))p\" ",
               job->offset);
      puts_(t, v);
      put_quoted(t, job->runs_file, strlen(job->runs_file));
      puts_(t, ")\n[ -n \"$run_dir\" ] || { echo \"ibx sweep: no run for array task "
               "$SLURM_ARRAY_TASK_ID\" >&2; exit 1; }\n"
               "run_id=${run_dir##*/}\njob=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}");
    }
  } else if (!strcmp(name, "COMMAND")) {
    IBX_TRY(shell_command(t, st->command[0] ? st->command : st->exec, st->command[0] != 0, job,
                          r.tasks));
  } else if (!strcmp(name, "RESUME")) {
    IBX_TRY(shell_command(t, st->resume, 1, job, r.tasks));
  } else if (!strcmp(name, "LAUNCH")) {
    static char words[32][IBX_SWEEP_TEXT];
    int n = ibx_sw_split_words(s->slurm_launcher, words, 32);
    if (n < 0)
      return IBX_ERR_ARG;
    for (int i = 0; i < n; i++) {
      IBX_TRY(shell_word(t, words[i], job, r.tasks));
      puts_(t, " ");
    }
  } else
    return ibx_fail(IBX_ERR_FORMAT, "sbatch template: unknown placeholder {{%s}}", name);
  return IBX_OK;
}

int ibx_sweep_sbatch_render(const ibx_sbatch_job *job, const char *tmpl, char **out) {
  text t = {0};
  for (const char *c = tmpl; *c;) {
    const char *open = strstr(c, "{{"), *close = open ? strstr(open, "}}") : NULL;
    if (!close) {
      puts_(&t, c);
      break;
    }
    put(&t, c, (size_t)(open - c));
    char name[64];
    ibx_sw_fmt(name, sizeof name, "%.*s", (int)(close - open - 2), open + 2);
    int rc = fill(&t, name, job);
    if (rc) {
      free(t.buf);
      return rc;
    }
    c = close + 2;
  }
  if (!t.buf)
    return ibx_fail(IBX_ERR_NOMEM, "sbatch script: out of memory");
  *out = t.buf;
  return IBX_OK;
}
