/* Run configuration: INI files (libinih) with sections [data] [model] [train]
 * [eval] [output], every value overridable on the command line as
 * section.key=value. One schema (src/config/config_schema.c) lists every key
 * with its type, default, range and documentation: parsing validates against
 * it, the resolved config prints from it, and docs/config.md is generated
 * from it (`ibx config docs`), so code and docs cannot drift apart. */
#ifndef IBX_CONFIG_H
#define IBX_CONFIG_H

#include <stddef.h>

typedef enum { IBX_CFG_INT, IBX_CFG_FLOAT, IBX_CFG_BOOL, IBX_CFG_STRING, IBX_CFG_CHOICE,
               IBX_CFG_INT_LIST } ibx_cfg_type;

typedef struct {
  const char *section, *key;
  ibx_cfg_type type;
  const char *default_value; /* as text, parsed like a file value */
  double min, max;           /* numeric range (inclusive) for INT/FLOAT/INT_LIST items */
  const char *choices;       /* CHOICE: '|'-separated allowed values */
  const char *doc;
} ibx_cfg_key;

/* The schema: every key ibx knows, terminated by an entry with key NULL. */
extern const ibx_cfg_key ibx_config_schema[];

#define IBX_CFG_MAX_LIST 16
#define IBX_CFG_MAX_STRING 256

typedef struct {
  const ibx_cfg_key *key;
  int set_by;   /* 0 default, 1 file, 2 command line */
  char text[IBX_CFG_MAX_STRING]; /* normalised text form */
  long i;
  double f;
  int n_list;
  long list[IBX_CFG_MAX_LIST];
} ibx_cfg_value;

typedef struct {
  ibx_cfg_value *values; /* one per schema entry, in schema order */
  int count;
  char source[IBX_CFG_MAX_STRING]; /* the INI file, or "" */
} ibx_config;

/* All defaults. */
int ibx_config_init(ibx_config *c);
void ibx_config_free(ibx_config *c);
/* Reads an INI file on top of the current values. Unknown sections/keys and
 * bad values fail with "FILE:LINE: section.key: problem". */
int ibx_config_load(ibx_config *c, const char *path);
/* Applies one "section.key=value" override ("OVERRIDE: problem" on error). */
int ibx_config_override(ibx_config *c, const char *assignment);
/* Parses INI text (a checkpoint's stored config); name labels errors. */
int ibx_config_load_string(ibx_config *c, const char *text, const char *name);

/* Values are read through the typed ibx_run_config (ibx/run_config.h),
 * resolved once; there are no getters by "section.key" in the library (the
 * tests have some, tests/support/testutil.h). */

/* The fully resolved config as INI text (every key, with its value); the
 * caller frees the result. Reading it back gives the same config. */
char *ibx_config_to_ini(const ibx_config *c);
/* The schema as Markdown (docs/config.md); the caller frees the result. */
char *ibx_config_docs_markdown(void);

#endif
