/* ibx sweep status and plan: what the run directories (and Slurm) say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"
#include "sweep_sched.h"

#define N_STATES (IBX_STAGE_DONE + 1)

/* "  [slurm 12_3 COMPLETED 00:01:02 exit 0:0 on vn[1,3]; requeued 1x, after NODE_FAIL]" */
static void describe_slurm(const ibx_sched_entry *e, char *out, size_t cap) {
  char elapsed[32] = "", code[32] = "", nodes[128] = "", requeued[80] = "";
  if (e->elapsed[0])
    ibx_sw_fmt(elapsed, sizeof elapsed, " %s", e->elapsed);
  if (e->exit_code[0] && !e->active)
    ibx_sw_fmt(code, sizeof code, " exit %s", e->exit_code);
  if (e->nodes[0])
    ibx_sw_fmt(nodes, sizeof nodes, " on %s", e->nodes);
  if (e->requeues)
    ibx_sw_fmt(requeued, sizeof requeued, "; requeued %dx, after %s", e->requeues,
               e->requeued_after);
  ibx_sw_fmt(out, cap, "  [slurm %s %s%s%s%s%s]", e->job, e->state, elapsed, code, nodes,
             requeued);
}

int ibx_sweep_status(const ibx_sweep *s, int verbose, FILE *out) {
  ibx_sweep_run *runs;
  int n_runs;
  IBX_TRY(ibx_sweep_expand(s, &runs, &n_runs));
  char sweep_dir[IBX_SWEEP_TEXT];
  ibx_sweep_dir(s, sweep_dir, sizeof sweep_dir);
  ibx_sched_info sched;
  ibx_sched_query_full(sweep_dir, 1, &sched);
  int count[IBX_SWEEP_MAX_STAGES][N_STATES] = {{0}};
  int all_done = 1, corrupt = 0;
  ibx_sw_report(out, "%s: %d runs in %s%s\n", s->name, n_runs, sweep_dir,
                sched.n ? (sched.have_sacct ? " (Slurm states from sacct/squeue)"
                                            : " (Slurm states from squeue; sacct unavailable)")
                        : "");
  for (int r = 0; r < n_runs; r++) {
    int shown = 0;
    for (int i = 0; i < s->n_stages; i++) {
      const ibx_sweep_stage *st = &s->stages[i];
      if (st->per_sweep)
        continue;
      char why[IBX_SWEEP_TEXT + 64];
      ibx_stage_state state = ibx_sweep_stage_state(st, runs[r].dir, why, sizeof why);
      count[i][state]++;
      all_done &= state == IBX_STAGE_DONE;
      corrupt |= state == IBX_STAGE_CORRUPT;
      const ibx_sched_entry *e = ibx_sched_lookup(&sched, runs[r].dir, st->name);
      if (state != IBX_STAGE_DONE || verbose) {
        if (!shown++)
          ibx_sw_report(out, "  %s  %s\n", runs[r].id, runs[r].label);
        char slurm[320] = "";
        if (e)
          describe_slurm(e, slurm, sizeof slurm);
        ibx_sw_report(out, "      %-10s %-9s%s%s%s\n", st->name, ibx_stage_state_name(state),
                      why[0] ? "  " : "", why, slurm);
      }
    }
  }
  for (int i = 0; i < s->n_stages; i++) {
    const ibx_sweep_stage *st = &s->stages[i];
    if (st->per_sweep) {
      char why[IBX_SWEEP_TEXT + 64];
      ibx_stage_state state = ibx_sweep_stage_state(st, sweep_dir, why, sizeof why);
      all_done &= state == IBX_STAGE_DONE;
      ibx_sw_report(out, "  %-10s (sweep-wide) %s%s%s\n", st->name, ibx_stage_state_name(state),
                    why[0] ? ": " : "", why);
      continue;
    }
    ibx_sw_report(out, "  %-10s", st->name);
    for (int k = N_STATES - 1; k >= 0; k--)
      if (count[i][k])
        ibx_sw_report(out, " %d %s", count[i][k], ibx_stage_state_name((ibx_stage_state)k));
    ibx_sw_report(out, "\n");
  }
  ibx_sched_free(&sched);
  ibx_sweep_runs_free(runs, n_runs);
  return corrupt ? 2 : all_done ? 0 : 1;
}
