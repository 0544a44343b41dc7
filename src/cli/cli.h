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

/* Parses argv (argv[0] the command name) as DIR [--out PATH] [--help]: sets
 * *dir and writes into out_path (cap bytes) PATH, or DIR/default_name when
 * --out is not given, and returns -1; otherwise prints usage (and for a bad
 * argument "CMD: unexpected argument" to stderr) and returns the exit status:
 * 0 after --help, 2 after bad usage. Defined in cli_args.c. */
#include <stddef.h>
#include <stdio.h>
int ibx_cli_dir_and_out(int argc, char **argv, const char *cmd, void (*usage)(FILE *to),
                        const char *default_name, const char **dir, char *out_path, size_t cap);

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
