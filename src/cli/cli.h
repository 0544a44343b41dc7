/* Subcommand table shared by the CLI's files. */
#ifndef IBX_CLI_H
#define IBX_CLI_H

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
} ibx_command;

int ibx_cmd_demo(int argc, char **argv);

#endif
