/* Local executor (ibx sweep run --local): the same stage tasks as the Slurm
 * executor, run on this machine with at most -j at once, each stage's ranks
 * started by the [local] launcher (mpiexec). Same markers in the run
 * directories, so status, collect and a later submit see the same thing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "ibx/trainer.h"
#include "sweep_internal.h"

/* T_PREEMPTED: stopped with a checkpoint (or interrupted), run again to go on */
enum { T_WAIT, T_RUNNING, T_DONE, T_FAILED, T_SKIPPED, T_PREEMPTED };

typedef struct {
  int stage, run; /* run -1: sweep-wide */
  int state;
  int signalled;  /* this runner passed an interrupt on to it */
  int blocked;    /* its run is held by a trainer this runner did not start */
  pid_t pid;
  time_t started;
  char dir[IBX_SWEEP_TEXT], log[IBX_SWEEP_TEXT + 64];
} task;

static volatile sig_atomic_t interrupted; /* how many SIGINT/SIGTERM arrived */
static void on_interrupt(int sig) { (void)sig, interrupted++; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* argv of a task: [launcher words if tasks > 1] [ibx] command words. */
static int build_argv(const ibx_sweep *s, const ibx_sweep_stage *st, const ibx_sweep_run *run,
                      const char *sweep_dir, const char *ibx, char ***argv_out) {
  static char words[96][IBX_SWEEP_TEXT];
  ibx_sweep_resources r = ibx_sw_stage_resources(s, st);
  char config[IBX_SWEEP_TEXT + 16];
  if (run)
    ibx_sw_fmt(config, sizeof config, "%s/run.ini", run->dir);
  ibx_sw_vars v = {run ? run->dir : NULL, run ? config : NULL, run ? run->id : NULL, sweep_dir,
                   s->dir, ibx, r.tasks};
  int n = 0, k;
  if (r.tasks > 1) {
    if ((k = ibx_sw_split_words(s->local_launcher, words, 32)) < 0)
      return IBX_ERR_ARG;
    n += k;
  }
  const int use_resume = run && st->resume[0] && ibx_sw_has_checkpoint(run->dir);
  const char *line = use_resume ? st->resume : st->command[0] ? st->command : st->exec;
  if (use_resume || st->command[0])
    strcpy(words[n++], "{ibx}");
  if ((k = ibx_sw_split_words(line, words + n, 96 - n)) < 0)
    return IBX_ERR_ARG;
  n += k;
  char **argv = calloc((size_t)n + 1, sizeof *argv);
  if (!argv)
    return ibx_fail(IBX_ERR_NOMEM, "sweep run: out of memory");
  for (int i = 0; i < n; i++) {
    char out[IBX_SWEEP_TEXT * 2];
    int rc = ibx_sw_expand_word(words[i], &v, out, sizeof out);
    if (rc || !(argv[i] = strdup(out))) {
      for (int j = 0; j < i; j++)
        free(argv[j]);
      free(argv);
      return rc ? rc : ibx_fail(IBX_ERR_NOMEM, "sweep run: out of memory");
    }
  }
  *argv_out = argv;
  return IBX_OK;
}

static void free_argv(char **argv) {
  for (int i = 0; argv && argv[i]; i++)
    free(argv[i]);
  free(argv);
}

static int start(const ibx_sweep *s, task *t, const ibx_sweep_run *runs, const char *sweep_dir,
                 const ibx_local_options *o) {
  const ibx_sweep_stage *st = &s->stages[t->stage];
  const ibx_sweep_run *run = t->run >= 0 ? &runs[t->run] : NULL;
  char **argv = NULL;
  IBX_TRY(build_argv(s, st, run, sweep_dir, o->ibx, &argv));
  char logs[IBX_SWEEP_TEXT + 16], event[IBX_SWEEP_TEXT * 2];
  ibx_sw_fmt(logs, sizeof logs, "%s/logs", t->dir);
  IBX_TRY(ibx_sw_mkdir_p(logs));
  ibx_sw_fmt(t->log, sizeof t->log, "%s/logs/%s.log", t->dir, st->name);
  const int resumed = run && st->resume[0] && ibx_sw_has_checkpoint(run->dir);
  ibx_sw_fmt(event, sizeof event, "%s local pid=%ld: %s", resumed ? "resume" : "start",
           (long)getpid(), argv[0]);
  IBX_TRY(ibx_sweep_mark(t->dir, st->name, "running local", event));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    free_argv(argv);
    return ibx_fail(IBX_ERR_IO, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    /* Its own process group: a terminal's Ctrl-C reaches this runner only,
     * which passes SIGUSR1 on (mpiexec forwards it; the ranks checkpoint and
     * exit 3), rather than mpiexec aborting the ranks on its own SIGINT.
     * SIGUSR1 also when this runner dies (kill -9): nothing goes on
     * unsupervised. */
    setpgid(0, 0);
    const pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    if (getppid() != parent)
      _exit(128 + SIGUSR1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!o->verbose) {
      int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0)
        dup2(fd, 1), dup2(fd, 2), close(fd);
    }
    execvp(argv[0], argv);
    /* the child's fd 2 is the task's log (or the runner's stderr with --verbose) */
    dprintf(STDERR_FILENO, "ibx sweep: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  free_argv(argv);
  t->pid = pid;
  t->state = T_RUNNING;
  t->signalled = 0;
  t->started = time(NULL);
  return IBX_OK;
}

/* What a finished task's run says of itself: a trainer stage's run state
 * file, when written since the task started, is the truth ("done",
 * "preempted"), whatever the launcher's exit status (mpiexec turns its own
 * SIGTERM/SIGINT into exit 1). Else the exit status: 0 done, 3 preempted;
 * a task this runner interrupted is preempted too (run again). */
static int outcome(const ibx_sweep_stage *st, const ibx_sweep_run *run, const task *t, int code) {
  if (run && st->resume[0]) {
    char path[IBX_SWEEP_TEXT + 16], line[256];
    struct stat sb;
    ibx_sw_fmt(path, sizeof path, "%s/state", run->dir);
    if (!stat(path, &sb) && sb.st_mtime >= t->started && !ibx_sw_read_line(path, line, sizeof line)) {
      if (!strcmp(line, "done"))
        return T_DONE;
      if (!strcmp(line, "preempted"))
        return T_PREEMPTED;
    }
  }
  if (code == 0)
    return T_DONE;
  return code == 3 || t->signalled ? T_PREEMPTED : T_FAILED;
}

/* A run directory whose lock a live trainer holds (one an earlier runner
 * started, or a Slurm job): its trainer stage must not start a second one. */
static int held_by_other(const ibx_sweep_stage *st, const ibx_sweep_run *run, char *who,
                         size_t len) {
  return run && st->resume[0] && ibx_run_dir_lock_holder(run->dir, who, len);
}

/* Last non-empty line of a log, for the periodic progress line. */
static void last_line(const char *path, char *out, size_t len) {
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  char buf[4096];
  fseek(f, 0, SEEK_END);
  long size = ftell(f), from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
  fseek(f, from, SEEK_SET);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  char *nl = strrchr(buf, '\n'), *cr = strrchr(buf, '\r');
  char *start = nl > cr ? nl : cr;
  ibx_sw_fmt(out, len, "%s", start ? start + 1 : buf);
}

/* Whether task t may start (1), must wait (0) or is skipped (-1). */
static int ready(const ibx_sweep *s, const task *tasks, int n_runs, const task *t) {
  const ibx_sweep_stage *st = &s->stages[t->stage];
  for (int d = 0; d < st->n_after; d++) {
    const int j = st->after[d];
    const int first = s->stages[j].per_sweep ? 0 : (t->run >= 0 ? t->run : 0);
    const int last = s->stages[j].per_sweep ? 0 : (t->run >= 0 ? t->run : n_runs - 1);
    for (int r = first; r <= last; r++) {
      const task *u = &tasks[j * n_runs + r];
      if (u->state == T_WAIT || u->state == T_RUNNING)
        return 0;
      if ((u->state == T_FAILED || u->state == T_SKIPPED || u->state == T_PREEMPTED) &&
          !st->after_any)
        return -1;
    }
  }
  return 1;
}

int ibx_sweep_run_local(const ibx_sweep *s, const ibx_local_options *o) {
  ibx_sweep_run *runs;
  int n_runs;
  IBX_TRY(ibx_sweep_expand(s, &runs, &n_runs));
  int rc = ibx_sweep_prepare(s, runs, n_runs);
  char sweep_dir[IBX_SWEEP_TEXT];
  ibx_sweep_dir(s, sweep_dir, sizeof sweep_dir);
  const int n_slots = n_runs > 0 ? n_runs : 1;
  task *tasks = calloc((size_t)s->n_stages * (size_t)n_slots, sizeof *tasks);
  int *pending = calloc((size_t)n_runs + 1, sizeof *pending);
  if (!rc && (!tasks || !pending))
    rc = ibx_fail(IBX_ERR_NOMEM, "sweep run: out of memory");
  if (rc) {
    free(tasks), free(pending);
    ibx_sweep_runs_free(runs, n_runs);
    return rc;
  }
  ibx_sw_pending_runs(s, runs, n_runs, o->retry_failed, pending);
  int todo = 0, any_run_work = 0;
  for (int i = 0; i < s->n_stages; i++)
    for (int r = 0; r < n_slots; r++) {
      task *t = &tasks[i * n_slots + r];
      t->stage = i;
      t->run = s->stages[i].per_sweep ? -1 : r;
      ibx_sw_fmt(t->dir, sizeof t->dir, "%s", t->run >= 0 ? runs[r].dir : sweep_dir);
      if (s->stages[i].per_sweep) {
        t->state = r == 0 ? T_WAIT : T_SKIPPED;
      } else if (r >= n_runs) {
        t->state = T_DONE;
      } else {
        ibx_stage_state ss = ibx_sweep_stage_state(&s->stages[i], runs[r].dir, NULL, 0);
        t->state = ss == IBX_STAGE_DONE ? T_DONE : pending[r] ? T_WAIT : T_SKIPPED;
        any_run_work |= t->state == T_WAIT;
      }
    }
  for (int i = 0; i < s->n_stages; i++) /* sweep-wide stages: again when runs changed */
    if (s->stages[i].per_sweep && !any_run_work &&
        ibx_sweep_stage_state(&s->stages[i], sweep_dir, NULL, 0) == IBX_STAGE_DONE)
      tasks[i * n_slots].state = T_DONE;
  for (int k = 0; k < s->n_stages * n_slots; k++)
    todo += tasks[k].state == T_WAIT;
  ibx_sw_report(o->out, "%s: %d runs, %d stage tasks to run, %d at a time (logs: RUN_DIR/logs/)\n",
                s->name, n_runs, todo, o->jobs);
  if (getuid() == 0) { /* Open MPI refuses root unless told; CI runs as root */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  void (*old_int)(int) = signal(SIGINT, on_interrupt);
  void (*old_term)(int) = signal(SIGTERM, on_interrupt);
  int running = 0, finished = 0, failed = 0, preempted = 0, passed_on = 0;
  double t0 = now_s(), last_beat = t0;
  for (;;) {
    if (interrupted > passed_on) { /* Ctrl-C: checkpoint and stop; again: terminate */
      const int sig = interrupted > 1 ? SIGTERM : SIGUSR1;
      for (int k = 0; k < s->n_stages * n_slots; k++)
        if (tasks[k].state == T_RUNNING) {
          kill(tasks[k].pid, sig);
          tasks[k].signalled = 1;
        }
      if (!passed_on)
        ibx_sw_report(o->out,
                      "%s: interrupted: the running tasks checkpoint and stop (again: terminate)\n",
                      s->name);
      ibx_sw_flush(o->out);
      passed_on = interrupted;
    }
    int blocked = 0;
    for (int k = 0; k < s->n_stages * n_slots && running < o->jobs && !interrupted && !rc; k++) {
      task *t = &tasks[k];
      if (t->state != T_WAIT)
        continue;
      int go = ready(s, tasks, n_slots, t);
      if (go < 0) {
        t->state = T_SKIPPED;
        ibx_sw_report(o->out, "[%3d/%d] %-8s %s skipped: an earlier stage did not finish\n",
                      ++finished, todo, s->stages[t->stage].name,
                      t->run >= 0 ? runs[t->run].id : "(sweep)");
        continue;
      }
      if (!go)
        continue;
      char who[256];
      if (held_by_other(&s->stages[t->stage], t->run >= 0 ? &runs[t->run] : NULL, who,
                        sizeof who)) {
        if (!t->blocked)
          ibx_sw_report(o->out, "        %-8s %s waits: a trainer still runs in %s (%s)\n",
                        s->stages[t->stage].name, runs[t->run].id, runs[t->run].dir, who);
        ibx_sw_flush(o->out);
        t->blocked = 1;
        blocked++;
        continue;
      }
      t->blocked = 0;
      if (start(s, t, runs, sweep_dir, o)) {
        t->state = T_FAILED, failed++, finished++;
        ibx_sw_report(o->out, "[%3d/%d] %-8s %s could not start: %s\n", finished, todo,
                      s->stages[t->stage].name, t->run >= 0 ? runs[t->run].id : "(sweep)",
                      ibx_errmsg());
        continue;
      }
      running++;
      ibx_sw_report(o->out, "        %-8s %s started  %s\n", s->stages[t->stage].name,
                    t->run >= 0 ? runs[t->run].id : "(sweep)",
                    t->run >= 0 ? runs[t->run].label : "");
      ibx_sw_flush(o->out); /* progress is read live from logs and pipes too */
    }
    if (!running && (!blocked || interrupted))
      break;
    int status;
    pid_t pid = running ? waitpid(-1, &status, WNOHANG) : 0;
    if (pid <= 0) {
      struct timespec ts = {0, 200000000};
      nanosleep(&ts, NULL);
      if (now_s() - last_beat >= 30) { /* progress while long runs go on */
        last_beat = now_s();
        for (int k = 0; k < s->n_stages * n_slots; k++)
          if (tasks[k].state == T_RUNNING) {
            char line[160];
            last_line(tasks[k].log, line, sizeof line);
            ibx_sw_report(o->out, "        %-8s %s %4lds | %s\n", s->stages[tasks[k].stage].name,
                          tasks[k].run >= 0 ? runs[tasks[k].run].id : "(sweep)",
                          (long)(time(NULL) - tasks[k].started), line[0] ? line : "(no output yet)");
          }
        ibx_sw_flush(o->out);
      }
      continue;
    }
    for (int k = 0; k < s->n_stages * n_slots; k++) {
      task *t = &tasks[k];
      if (t->state != T_RUNNING || t->pid != pid)
        continue;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      const char *name = s->stages[t->stage].name;
      char state[64];
      t->state = outcome(&s->stages[t->stage], t->run >= 0 ? &runs[t->run] : NULL, t, code);
      if (t->state == T_DONE)
        ibx_sw_fmt(state, sizeof state, "done");
      else if (t->state == T_PREEMPTED)
        ibx_sw_fmt(state, sizeof state, "preempted");
      else
        ibx_sw_fmt(state, sizeof state, "failed: exit %d", code);
      char event[128];
      ibx_sw_fmt(event, sizeof event, "%s (exit %d)", state, code);
      ibx_sweep_mark(t->dir, name, state, event);
      failed += t->state == T_FAILED;
      preempted += t->state == T_PREEMPTED;
      running--, finished++;
      ibx_sw_report(o->out, "[%3d/%d] %-8s %s %s after %lds%s%s\n", finished, todo, name,
                    t->run >= 0 ? runs[t->run].id : "(sweep)", state,
                    (long)(time(NULL) - t->started), t->state == T_FAILED ? ", log: " : "",
                    t->state == T_FAILED ? t->log : "");
      ibx_sw_flush(o->out);
    }
  }
  signal(SIGINT, old_int);
  signal(SIGTERM, old_term);
  ibx_sw_report(o->out, "%s: %d of %d stage tasks ran in %.0f s, %d failed, %d preempted%s\n",
                s->name, finished, todo, now_s() - t0, failed, preempted,
                interrupted || preempted ? " (run again to resume)" : "");
  free(tasks), free(pending);
  ibx_sweep_runs_free(runs, n_runs);
  if (!rc && (failed || preempted || interrupted))
    rc = ibx_fail(IBX_ERR_IO, "%s: %d stage task(s) failed, %d preempted%s", s->name, failed,
                  preempted, interrupted ? ", interrupted" : "");
  return rc;
}
