/* ibx train: the distributed trainer's command line. Run under mpirun or
 * srun; exit status 0 done, 1 failed, 2 usage/config error, 3 preempted
 * (checkpoint written after SIGUSR1/SIGTERM: a Slurm script requeues). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ibx/config.h"
#include "ibx/dist.h"
#include "ibx/error.h"
#include "ibx/trainer.h"

static void usage(FILE *to) {
  fprintf(to, "usage: ibx train [CONFIG.ini] [section.key=value ...] [--quiet]\n"
              "       ibx train --resume RUN_DIR|CHECKPOINT.h5 [--quiet]\n\n"
              "Trains on every MPI rank (mpirun -n N ibx train ...). Keys: docs/config.md.\n"
              "Exit status: 0 done, 1 failed, 2 bad usage or config, 3 preempted (requeue).\n");
}

/* The watchdog's last word (from its thread: no MPI, no stdio locks). */
static void report_stall(const char *message) {
  char line[640];
  const int n = snprintf(line, sizeof line, "ibx train: %s; ending this rank\n", message);
  if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
    _exit(IBX_TRAIN_FAILED);
  _exit(IBX_TRAIN_FAILED);
}

int ibx_cmd_train(int argc, char **argv) {
  const char *resume = NULL;
  int quiet = 0, n_pos = 0;
  char *pos[256];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return usage(stdout), 0;
    if (!strcmp(argv[i], "--quiet"))
      quiet = 1;
    else if (!strcmp(argv[i], "--resume") && i + 1 < argc)
      resume = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1] == '-')
      return fprintf(stderr, "ibx train: unknown option '%s'\n", argv[i]), usage(stderr), 2;
    else if (n_pos < 256)
      pos[n_pos++] = argv[i];
  }
  if (resume && n_pos)
    return fprintf(stderr, "ibx train: --resume takes the config stored in the checkpoint; "
                           "no config file or overrides\n"), 2;
  int provided, rank;
  ibx_dist_prefer_ring_buckets();
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ibx_train_install_signal_handlers();
  ibx_config cfg = {0};
  int status;
  if (!resume && ibx_cli_resolve_config(n_pos, pos, &cfg)) {
    if (rank == 0)
      fprintf(stderr, "ibx train: %s\n", ibx_errmsg());
    status = IBX_TRAIN_USAGE;
  } else {
    ibx_train_options o = {.comm = MPI_COMM_WORLD,
                           .config = &cfg,
                           .resume = resume,
                           .progress = quiet ? NULL : stdout,
                           .warnings = stderr,
                           .on_stall = report_stall};
    status = ibx_train_run(&o);
    if (status == IBX_TRAIN_ABORTED) { /* the other ranks are stuck in a collective */
      fprintf(stderr, "ibx train: %s; aborting the job\n", ibx_errmsg());
      fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, IBX_TRAIN_FAILED);
    }
    if (status == IBX_TRAIN_FAILED && rank == 0)
      fprintf(stderr, "ibx train: %s\n", ibx_errmsg());
    else if (status == IBX_TRAIN_PREEMPTED && rank == 0)
      fprintf(stderr, "ibx train: stopped on request after writing a checkpoint; resume with "
                      "--resume\n");
  }
  ibx_config_free(&cfg);
  MPI_Finalize();
  return status;
}
