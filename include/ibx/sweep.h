/* Sweeps: a sweep file (INI, jobs/sweeps/NAME.ini; format in docs/sweeps.md)
 * names a base config, axes of config values and the stages each run goes
 * through (train, then evaluation commands, then collection). The sweep
 * expands into runs, each a fully resolved config whose id is a hash of that
 * config (so the same run described twice, with keys in any order, has one
 * id and one directory, results/<sweep>/<id>). Executors: Slurm job arrays
 * (sbatch scripts from the templates in slurm/) and a local one (mpiexec).
 *
 * Per-stage progress lives in the run directory, so status needs no
 * scheduler: RUN_DIR/stages/<stage> holds one line (running JOB | done |
 * preempted | failed: exit N), RUN_DIR/stages/<stage>.events one line per
 * start/end. Sweep-wide stages keep theirs in SWEEP_DIR/stages/. */
#ifndef IBX_SWEEP_H
#define IBX_SWEEP_H

#include <stdio.h>

#include <stddef.h>

#include "ibx/config.h"

#define IBX_SWEEP_MAX_AXES 16
#define IBX_SWEEP_MAX_KEYS 8   /* keys in one (zipped) axis */
#define IBX_SWEEP_MAX_VALUES 64
#define IBX_SWEEP_MAX_STAGES 12
#define IBX_SWEEP_MAX_SET 32
#define IBX_SWEEP_TEXT 512

typedef struct {
  int n_keys, n_values;
  char key[IBX_SWEEP_MAX_KEYS][64];           /* "model.beta", or "config" (a config file) */
  char value[IBX_SWEEP_MAX_KEYS][IBX_SWEEP_MAX_VALUES][IBX_CFG_MAX_STRING];
  int line;
} ibx_sweep_axis;

/* Resources of a stage's Slurm job (or of the whole sweep as defaults). */
typedef struct {
  int nodes, tasks, cpus_per_task;
  char time[32], partition[64], account[64], mem[32];
} ibx_sweep_resources;

typedef struct {
  char name[32];
  int per_sweep;                          /* 0: once per run; 1: once for the sweep */
  char command[IBX_SWEEP_TEXT];           /* ibx arguments, with {placeholders} */
  char exec[IBX_SWEEP_TEXT];              /* or a whole program line instead */
  char resume[IBX_SWEEP_TEXT];            /* used when the run dir holds a ckpt-*.h5 */
  char outputs[IBX_SWEEP_TEXT];           /* files it writes (relative), checked by status */
  int n_after, after[IBX_SWEEP_MAX_STAGES]; /* indices of earlier stages */
  int after_any;                          /* dependency = afterany (else afterok/aftercorr) */
  ibx_sweep_resources res;                /* 0 / "" fields inherit [slurm] */
  int line;
} ibx_sweep_stage;

typedef struct {
  char path[IBX_SWEEP_TEXT];     /* the sweep file */
  char dir[IBX_SWEEP_TEXT];      /* its directory ({here}) */
  char name[64];
  char base[IBX_SWEEP_TEXT];     /* base config, resolved against dir ("" = defaults) */
  char results[IBX_SWEEP_TEXT];  /* root of run directories (default "results") */
  int n_set;
  char set[IBX_SWEEP_MAX_SET][IBX_CFG_MAX_STRING + 64]; /* "section.key=value" for every run */
  int n_axes;
  ibx_sweep_axis axes[IBX_SWEEP_MAX_AXES];
  int n_stages;
  ibx_sweep_stage stages[IBX_SWEEP_MAX_STAGES];
  ibx_sweep_resources res;       /* [slurm] defaults */
  int throttle, max_array;       /* array throttle (%N); 0 max_array = ask scontrol */
  char slurm_launcher[IBX_SWEEP_TEXT]; /* runs a stage's ranks inside the allocation */
  char local_launcher[IBX_SWEEP_TEXT]; /* runs them on this machine ({tasks}) */
} ibx_sweep;

typedef struct {
  char id[17];                   /* 16 hex digits */
  char dir[IBX_SWEEP_TEXT];      /* results/<sweep>/<id> */
  char label[IBX_SWEEP_TEXT];    /* the axis values, "model.beta=0.01 train.seed=1" */
  char *config_ini;              /* the resolved config (output.dir = dir) */
} ibx_sweep_run;

/* Parses and validates a sweep file. Errors read "FILE:LINE: problem"
 * (unknown key or section, bad or empty axis, zip lengths that differ, a
 * stage after a stage not defined above it). */
int ibx_sweep_load(const char *path, ibx_sweep *s);

/* Expands the axes (grid product, zipped axes in lockstep) into runs with
 * their ids and directories; free with ibx_sweep_runs_free. */
int ibx_sweep_expand(const ibx_sweep *s, ibx_sweep_run **runs, int *n_runs);
void ibx_sweep_runs_free(ibx_sweep_run *runs, int n_runs);

/* The run id of a resolved config: a 64-bit FNV-1a hash of its INI text with
 * the output section left out, so it names exactly what the run computes. */
void ibx_sweep_config_id(const ibx_config *c, char id[17]);

/* results/<sweep> */
void ibx_sweep_dir(const ibx_sweep *s, char *out, size_t len);

/* Stage state, read from the marker files. */
typedef enum {
  IBX_STAGE_PENDING, IBX_STAGE_RUNNING, IBX_STAGE_PREEMPTED, IBX_STAGE_FAILED,
  IBX_STAGE_CORRUPT, IBX_STAGE_DONE
} ibx_stage_state;
const char *ibx_stage_state_name(ibx_stage_state st);

/* State of stage st in dir (a run dir, or the sweep dir for sweep stages);
 * CORRUPT when it says done but one of its outputs is missing or, for .h5,
 * not readable HDF5 (why, if not NULL, names the file). */
ibx_stage_state ibx_sweep_stage_state(const ibx_sweep_stage *st, const char *dir, char *why,
                                      size_t why_len);
/* Writes the marker (atomically) and appends an event line. */
int ibx_sweep_mark(const char *dir, const char *stage, const char *state, const char *event);

/* Writes RUN_DIR/run.ini (the resolved config) for every run not yet
 * having one, and creates the directories. */
int ibx_sweep_prepare(const ibx_sweep *s, const ibx_sweep_run *runs, int n_runs);

/* ---- Slurm ---------------------------------------------------------------- */

/* One sbatch script: a chunk of a per-run stage's array (count runs listed
 * in runs_file from line offset+1 on), or a sweep stage (count 0).
 * dependency is the full "--dependency=..." value or "". */
typedef struct {
  const ibx_sweep *sweep;
  const ibx_sweep_stage *stage;
  const char *sweep_dir, *runs_file, *ibx, *dependency;
  int offset, count;
} ibx_sbatch_job;

/* Renders the script from the template text (slurm/stage.sbatch.in); the
 * caller frees *out. */
int ibx_sweep_sbatch_render(const ibx_sbatch_job *job, const char *template_text, char **out);
/* The built-in copy of slurm/stage.sbatch.in. */
const char *ibx_sweep_template(void);

typedef struct {
  const char *ibx;          /* path of the ibx binary the jobs run */
  const char *template_dir; /* NULL: the built-in template */
  int dry_run, retry_failed;
  int max_array;            /* 0: sweep file, else scontrol, else 1001 */
  const char *sbatch;       /* the sbatch program ("sbatch") */
  FILE *out;                /* what it did (the CLI: stdout); NULL: silent */
} ibx_submit_options;

/* Writes the scripts into SWEEP_DIR/slurm/ and submits them in stage order
 * (sbatch --parsable), chaining dependencies; pending runs only (not done, not
 * queued; failed ones only with retry_failed). Dry run: prints the scripts
 * with symbolic dependencies, submits nothing. Reports what it did to o->out. */
int ibx_sweep_submit(const ibx_sweep *s, const ibx_submit_options *o);

/* ---- local executor --------------------------------------------------------- */
typedef struct {
  const char *ibx;
  int jobs;      /* concurrent stage tasks */
  int verbose;   /* pass the commands' output through */
  int retry_failed;
  FILE *out;     /* progress (the CLI: stdout); NULL: silent */
} ibx_local_options;

/* Runs every pending stage task on this machine, dependencies first;
 * reports progress to o->out. Returns IBX_OK when everything ended done, else an error naming
 * how many failed. */
int ibx_sweep_run_local(const ibx_sweep *s, const ibx_local_options *o);

/* Prints to out the per-stage counts and every run that is not done (with
 * sacct/squeue states when the sweep was submitted and they are available).
 * Returns 0 when all is done, 1 otherwise (2 if a corrupt file was found). */
int ibx_sweep_status(const ibx_sweep *s, int verbose, FILE *out);

#endif
