/* Subcommand table shared by the CLI's files. */
#ifndef IBX_CLI_H
#define IBX_CLI_H

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
} ibx_command;

int ibx_cmd_config(int argc, char **argv);
int ibx_cmd_train(int argc, char **argv);
int ibx_cmd_data(int argc, char **argv);
int ibx_cmd_model(int argc, char **argv);
int ibx_cmd_sweep(int argc, char **argv);
int ibx_cmd_collect(int argc, char **argv);
int ibx_cmd_report(int argc, char **argv);
int ibx_cmd_attribute(int argc, char **argv);
int ibx_cmd_eval(int argc, char **argv);

/* Builds a config from [FILE.ini] [section.key=value ...] (argv without the
 * command name); defined in cli_config.c. */
#include "ibx/config.h"
int ibx_cli_resolve_config(int argc, char **argv, ibx_config *c);

/* ibx attribute on a text run (cli_attribute_text.c). */
#include <mpi.h>
typedef struct {
  const char *run, *methods, *betas, *layers;
  long sequences, stats, html;
  int layer, steps, with_mask, quiet;
  float beta;
  unsigned long long seed;
} ibx_text_attr_cli;
int ibx_attribute_text(MPI_Comm comm, const ibx_text_attr_cli *o);

#endif
