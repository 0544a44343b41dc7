/* ibx command-line entry point: dispatches to subcommands. Each subcommand
 * lives in its own cli_<name>.c and returns a process exit status. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ibx/version.h"

static int cmd_version(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("ibx %s (commit %s)\n", IBX_VERSION, IBX_GIT_COMMIT);
  return 0;
}

static int cmd_help(int argc, char **argv);

static const ibx_command commands[] = {
    {"help", "show this help", cmd_help},
    {"version", "print the version and git commit", cmd_version},
    {"config", "show the resolved configuration, or the config reference", ibx_cmd_config},
    {"data", "inspect datasets, convert them to ibx's HDF5 format", ibx_cmd_data},
    {"train", "train a model (under mpirun/srun for data parallelism)", ibx_cmd_train},
    {"model", "show a model's layer table, or train it briefly on Fashion-MNIST", ibx_cmd_model},
    {"sweep", "plan, submit (Slurm), run (local) and watch a sweep of runs", ibx_cmd_sweep},
    {"collect", "turn a sweep's results into the papers' tables and plots", ibx_cmd_collect},
    {"report", "one self-contained HTML page of a sweep or run (tables, curves, pictures)",
     ibx_cmd_report},
    {"attribute", "attribution heatmaps (IBA and baselines) and their metrics", ibx_cmd_attribute},
    {"eval", "top-1 error, interpretability score, attention-map pictures", ibx_cmd_eval},
};
static const int n_commands = sizeof commands / sizeof commands[0];

static int cmd_help(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("usage: ibx <command> [options]\n\n"
         "Information-bottleneck attention and attribution experiments.\n\ncommands:\n");
  for (int i = 0; i < n_commands; i++)
    printf("  %-10s %s\n", commands[i].name, commands[i].summary);
  printf("\nRun 'ibx <command> --help' for a command's options.\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return cmd_help(0, NULL), 2;
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h"))
    return cmd_help(0, NULL);
  if (!strcmp(name, "--version"))
    return cmd_version(0, NULL);
  for (int i = 0; i < n_commands; i++)
    if (!strcmp(name, commands[i].name))
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "ibx: unknown command '%s' (see 'ibx --help')\n", name);
  return 2;
}
