/* ibx config: print the resolved configuration or the reference docs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ibx/config.h"
#include "ibx/error.h"

static int usage(FILE *to, int status) {
  fprintf(to, "usage: ibx config show [FILE.ini] [section.key=value ...]\n"
              "       ibx config docs        (Markdown reference, as in docs/config.md)\n");
  return status;
}

/* Loads FILE (if the first argument is not an override) and applies the
 * remaining section.key=value overrides. */
int ibx_cli_resolve_config(int argc, char **argv, ibx_config *c) {
  int rc = ibx_config_init(c);
  int i = 0;
  if (!rc && argc > 0 && !strchr(argv[0], '='))
    rc = ibx_config_load(c, argv[i++]);
  for (; !rc && i < argc; i++)
    rc = ibx_config_override(c, argv[i]);
  return rc;
}

int ibx_cmd_config(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
  if (!strcmp(argv[1], "docs")) {
    char *md = ibx_config_docs_markdown();
    if (!md)
      return fprintf(stderr, "ibx config: out of memory\n"), 1;
    fputs(md, stdout);
    free(md);
    return 0;
  }
  if (strcmp(argv[1], "show"))
    return fprintf(stderr, "ibx config: unknown action '%s'\n", argv[1]), usage(stderr, 2);
  ibx_config c;
  if (ibx_cli_resolve_config(argc - 2, argv + 2, &c)) {
    fprintf(stderr, "ibx config: %s\n", ibx_errmsg());
    ibx_config_free(&c);
    return 2;
  }
  char *ini = ibx_config_to_ini(&c);
  fputs(ini ? ini : "", stdout);
  free(ini);
  ibx_config_free(&c);
  return 0;
}
