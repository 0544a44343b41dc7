/* Argument parsing shared by the commands that read one directory and write
 * into a default place under it (ibx collect, ibx report). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int ibx_cli_dir_and_out(int argc, char **argv, const char *cmd, void (*usage)(FILE *to),
                        const char *default_name, const char **dir, char *out_path, size_t cap) {
  const char *out = NULL;
  *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return usage(stdout), 0;
    if (!strcmp(argv[i], "--out") && i + 1 < argc)
      out = argv[++i];
    else if (argv[i][0] == '-' || *dir)
      return fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[i]), usage(stderr), 2;
    else
      *dir = argv[i];
  }
  if (!*dir)
    return usage(stderr), 2;
  snprintf(out_path, cap, "%s", out ? out : *dir);
  if (!out && strlen(out_path) + strlen(default_name) + 2 < cap)
    strcat(strcat(out_path, "/"), default_name);
  return -1;
}
