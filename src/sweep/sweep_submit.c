/* ibx sweep submit: writes the sbatch scripts of one submission into
 * SWEEP_DIR/slurm/submit-<n>/ and submits them in stage order. The job ids go
 * to SWEEP_DIR/slurm/jobs.tsv (submission, stage, chunk, job id, offset,
 * count, runs file) so status and later submissions can ask Slurm about them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"
#include "sweep_sched.h"

#define MAX_CHUNKS 256

/* MaxArraySize from scontrol (the largest array index is one less). */
static int max_array_size(const ibx_sweep *s, const ibx_submit_options *o) {
  if (o->max_array > 0)
    return o->max_array;
  if (s->max_array > 0)
    return s->max_array;
  FILE *p = popen("scontrol show config 2>/dev/null", "r");
  int value = 0;
  if (p) {
    char line[512];
    while (fgets(line, sizeof line, p))
      if (sscanf(line, " MaxArraySize = %d", &value) == 1)
        break;
    pclose(p);
  }
  return value > 0 ? value : 1001;
}

/* sbatch --parsable SCRIPT -> job id. */
static int sbatch(const char *program, const char *script, char *id, size_t len) {
  char cmd[2 * IBX_SWEEP_TEXT + 64];
  ibx_sw_fmt(cmd, sizeof cmd, "%s --parsable '%s' 2>&1", program, script);
  FILE *p = popen(cmd, "r");
  if (!p)
    return ibx_fail(IBX_ERR_IO, "cannot run %s: %s", program, strerror(errno));
  char out[1024] = "";
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  out[strcspn(out, "\n")] = '\0';
  if (status != 0 || !out[0] || strspn(out, "0123456789") == 0)
    return ibx_fail(IBX_ERR_IO, "%s %s failed: %s", program, script, out[0] ? out : "no output");
  out[strspn(out, "0123456789")] = '\0'; /* "123;cluster" -> "123" */
  ibx_sw_fmt(id, len, "%s", out);
  return IBX_OK;
}

static int next_submission(const char *sweep_dir) {
  char path[IBX_SWEEP_TEXT + 64];
  struct stat sb;
  int n = 1;
  for (;; n++) {
    ibx_sw_fmt(path, sizeof path, "%s/slurm/submit-%d", sweep_dir, n);
    if (stat(path, &sb))
      return n;
  }
}

/* Dependency value of stage i, chunk k: aftercorr on the same chunk of each
 * per-run stage it follows, afterok/afterany on every job of the others. */
static void dependency(const ibx_sweep *s, int i, int k, int n_chunks,
                       char ids[][MAX_CHUNKS][32], char *out, size_t len) {
  const ibx_sweep_stage *st = &s->stages[i];
  size_t used = 0;
  out[0] = '\0';
  for (int d = 0; d < st->n_after; d++) {
    const int j = st->after[d];
    const ibx_sweep_stage *up = &s->stages[j];
    const int up_chunks = up->per_sweep ? 1 : n_chunks;
    if (!ids[j][0][0])
      continue; /* nothing was submitted for it: already done */
    const char *kind = st->after_any ? "afterany" : "afterok";
    if (!st->per_sweep && !up->per_sweep) {
      used += ibx_sw_fmt(out + used, len - used, "%s%s:%s", used ? "," : "",
                       st->after_any ? "afterany" : "aftercorr", ids[j][k]);
      continue;
    }
    used += ibx_sw_fmt(out + used, len - used, "%s%s", used ? "," : "", kind);
    for (int c = 0; c < up_chunks; c++)
      used += ibx_sw_fmt(out + used, len - used, ":%s", ids[j][c]);
  }
}

int ibx_sweep_submit(const ibx_sweep *s, const ibx_submit_options *o) {
  ibx_sweep_run *runs;
  int n_runs, rc;
  IBX_TRY(ibx_sweep_expand(s, &runs, &n_runs));
  char sweep_dir[IBX_SWEEP_TEXT], sub_dir[IBX_SWEEP_TEXT + 64], runs_file[IBX_SWEEP_TEXT + 80];
  ibx_sweep_dir(s, sweep_dir, sizeof sweep_dir);
  int *pending = calloc((size_t)n_runs + 1, sizeof *pending);
  char *tmpl = NULL;
  if (!pending) {
    ibx_sweep_runs_free(runs, n_runs);
    return ibx_fail(IBX_ERR_NOMEM, "sweep submit: out of memory");
  }
  if (o->template_dir) {
    char path[IBX_SWEEP_TEXT + 32];
    ibx_sw_fmt(path, sizeof path, "%s/stage.sbatch.in", o->template_dir);
    if (!(tmpl = ibx_sw_read_file(path))) {
      rc = ibx_fail(IBX_ERR_IO, "%s: cannot read the sbatch template", path);
      goto out;
    }
  }
  if (!o->dry_run && (rc = ibx_sweep_prepare(s, runs, n_runs)))
    goto out;
  int n_pending = ibx_sw_pending_runs(s, runs, n_runs, o->retry_failed, pending);
  ibx_sched_info sched = {0};
  if (!o->dry_run) { /* runs still queued or running from an earlier submission stay */
    ibx_sched_query(sweep_dir, &sched);
    for (int r = 0; r < n_runs; r++)
      if (pending[r] && ibx_sched_run_active(&sched, runs[r].dir))
        pending[r] = 0, n_pending--;
  }
  int sweep_stage_open = 0;
  for (int i = 0; i < s->n_stages; i++)
    if (s->stages[i].per_sweep &&
        ibx_sweep_stage_state(&s->stages[i], sweep_dir, NULL, 0) != IBX_STAGE_DONE)
      sweep_stage_open |= !ibx_sched_sweep_stage_active(&sched, s->stages[i].name);
  ibx_sched_free(&sched);
  ibx_sw_report(o->out, "%s: %d runs, %d to submit%s\n", s->name, n_runs, n_pending,
                o->retry_failed ? " (failed ones included)" : "");
  if (!n_pending && !sweep_stage_open) {
    ibx_sw_report(o->out, "nothing to submit\n");
    rc = IBX_OK;
    goto out;
  }
  const int max_array = max_array_size(s, o);
  const int n_chunks = n_pending ? (n_pending + max_array - 1) / max_array : 0;
  if (n_chunks > MAX_CHUNKS) {
    rc = ibx_fail(IBX_ERR_ARG, "%d array chunks: more than %d", n_chunks, MAX_CHUNKS);
    goto out;
  }
  const int submission = next_submission(sweep_dir);
  ibx_sw_fmt(sub_dir, sizeof sub_dir, "%s/slurm/submit-%d", sweep_dir, submission);
  ibx_sw_fmt(runs_file, sizeof runs_file, "%s/runs", sub_dir);
  if (!o->dry_run) {
    char logs[IBX_SWEEP_TEXT + 16];
    ibx_sw_fmt(logs, sizeof logs, "%s/logs", sweep_dir);
    {
      size_t cap = (size_t)n_pending * (IBX_SWEEP_TEXT + 2) + 1, used = 0;
      char *list = malloc(cap);
      if (!list) {
        rc = ibx_fail(IBX_ERR_NOMEM, "sweep submit: out of memory");
        goto out;
      }
      list[0] = '\0';
      for (int r = 0; r < n_runs; r++)
        if (pending[r]) {
          used += ibx_sw_fmt(list + used, cap - used, "%s\n", runs[r].dir);
          for (int i = 0; i < s->n_stages; i++) /* corrupt outputs: run the stage again */
            if (!s->stages[i].per_sweep &&
                ibx_sweep_stage_state(&s->stages[i], runs[r].dir, NULL, 0) == IBX_STAGE_CORRUPT) {
              char marker[IBX_SWEEP_TEXT + 64];
              ibx_sw_fmt(marker, sizeof marker, "%s/stages/%s", runs[r].dir, s->stages[i].name);
              unlink(marker);
            }
        }
      for (int i = 0; i < s->n_stages; i++) /* sweep-wide stages run again over new results */
        if (s->stages[i].per_sweep) {
          char marker[IBX_SWEEP_TEXT + 64];
          ibx_sw_fmt(marker, sizeof marker, "%s/stages/%s", sweep_dir, s->stages[i].name);
          unlink(marker);
        }
      rc = ibx_sw_mkdir_p(sub_dir);
      if (!rc)
        rc = ibx_sw_mkdir_p(logs);
      if (!rc)
        rc = ibx_sw_write_text(runs_file, list);
      free(list);
      if (rc)
        goto out;
    }
  }
  static char ids[IBX_SWEEP_MAX_STAGES][MAX_CHUNKS][32];
  memset(ids, 0, sizeof ids);
  for (int i = 0; i < s->n_stages; i++) {
    const ibx_sweep_stage *st = &s->stages[i];
    const int chunks = st->per_sweep ? 1 : n_chunks;
    for (int k = 0; k < chunks; k++) {
      char dep[4096];
      if (o->dry_run) /* symbolic ids: {stage.chunk} */
        for (int j = 0; j < i; j++)
          for (int c = 0; c < (s->stages[j].per_sweep ? 1 : n_chunks); c++)
            ibx_sw_fmt(ids[j][c], sizeof ids[j][c], "{%s.%d}", s->stages[j].name, c);
      dependency(s, i, k, n_chunks, ids, dep, sizeof dep);
      const int offset = k * max_array;
      const int count = st->per_sweep ? 0 : (n_pending - offset < max_array ? n_pending - offset
                                                                           : max_array);
      ibx_sbatch_job job = {s, st, sweep_dir, runs_file, o->ibx, dep, offset, count};
      char *script;
      if ((rc = ibx_sweep_sbatch_render(&job, tmpl ? tmpl : ibx_sweep_template(), &script)))
        goto out;
      char path[IBX_SWEEP_TEXT + 128];
      ibx_sw_fmt(path, sizeof path, "%s/%s-%d.sbatch", sub_dir, st->name, k);
      if (o->dry_run) {
        ibx_sw_report(o->out, "==> %s <==\n%s\n", path, script);
        free(script);
        continue;
      }
      rc = ibx_sw_write_text(path, script);
      free(script);
      if (!rc)
        rc = sbatch(o->sbatch ? o->sbatch : "sbatch", path, ids[i][k], sizeof ids[i][k]);
      if (!rc)
        rc = ibx_sched_record(sweep_dir, submission, st->name, k, ids[i][k], offset, count,
                              runs_file);
      if (rc)
        goto out;
      ibx_sw_report(o->out, "submitted %s chunk %d: job %s (%s)%s%s\n", st->name, k, ids[i][k],
                    st->per_sweep ? "sweep-wide" : "array", dep[0] ? ", after " : "", dep);
    }
  }
  rc = IBX_OK;
out:
  free(tmpl);
  free(pending);
  ibx_sweep_runs_free(runs, n_runs);
  return rc;
}
