/* What Slurm says about a sweep's jobs (internal): squeue for the jobs still
 * queued or running, sacct (when accounting is configured) for finished ones.
 * Jobs are found through SWEEP_DIR/slurm/jobs.tsv, written at submission. */
#ifndef IBX_SWEEP_SCHED_H
#define IBX_SWEEP_SCHED_H

typedef struct {
  char *run_dir; /* NULL for a sweep-wide stage's job */
  char stage[32], job[48], state[32];
  int active;    /* pending, running, requeued, ... */
  /* from sacct (squeue: elapsed and nodes only); "" when unknown */
  char elapsed[16], exit_code[16], nodes[96];
  int requeues;          /* earlier attempts of the same job (sacct -D) */
  char requeued_after[32]; /* the state the last earlier attempt ended in */
} ibx_sched_entry;

typedef struct {
  int n, cap;
  ibx_sched_entry *e;
  int have_sacct;
} ibx_sched_info;

/* Fills info from jobs.tsv + squeue (+ sacct when with_sacct); never fails:
 * without Slurm the info is just empty. */
void ibx_sched_query_full(const char *sweep_dir, int with_sacct, ibx_sched_info *info);
#define ibx_sched_query(dir, info) ibx_sched_query_full(dir, 0, info)
void ibx_sched_free(ibx_sched_info *info);
int ibx_sched_run_active(const ibx_sched_info *info, const char *run_dir);
int ibx_sched_sweep_stage_active(const ibx_sched_info *info, const char *stage);
/* Latest Slurm state of (run_dir, stage), or NULL. */
const ibx_sched_entry *ibx_sched_lookup(const ibx_sched_info *info, const char *run_dir,
                                        const char *stage);
/* Appends one submitted job to jobs.tsv. */
int ibx_sched_record(const char *sweep_dir, int submission, const char *stage, int chunk,
                     const char *job, int offset, int count, const char *runs_file);

#endif
