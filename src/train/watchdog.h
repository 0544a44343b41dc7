/* The trainer's watchdog (internal): a thread that ends the process when the
 * training loop makes no progress for timeout seconds.
 *
 * Why: a rank that dies or hangs leaves the others blocked inside an MPI
 * collective. mpirun notices a dead process and ends the job at once, but a
 * hung rank (stopped, stuck in I/O, a lost node whose connections never
 * reset), or a launcher that does not kill the remaining tasks, would leave
 * the job waiting until its time limit. The loop calls beat() after every
 * step, evaluation batch and checkpoint; a rank blocked in a collective
 * stops beating, and its watchdog records "failed: ..." in the run's state
 * file and calls on_stall (which must end the process; _exit(1) when NULL).
 * The process exits without MPI_Finalize, which makes mpirun or srun end
 * the remaining ranks. */
#ifndef IBX_WATCHDOG_H
#define IBX_WATCHDOG_H

typedef struct ibx_watchdog ibx_watchdog;

/* timeout_s <= 0: no thread, beat/stop are no-ops (*out = NULL). */
int ibx_watchdog_start(double timeout_s, const char *run_dir, int rank,
                       void (*on_stall)(const char *message), ibx_watchdog **out);
void ibx_watchdog_beat(ibx_watchdog *w);
void ibx_watchdog_stop(ibx_watchdog *w);

#endif
