/* ibx collect internals: the runs and every number read from them. */
#ifndef IBX_COLLECT_INTERNAL_H
#define IBX_COLLECT_INTERNAL_H

#include <stdio.h>

#include "ibx/collect.h"
#include "ibx/config.h"
#include "ibx/run_config.h"
#include "ibx/sweep.h"

typedef struct {
  char dir[IBX_SWEEP_TEXT], id[64], dataset[64];
  char label[IBX_SWEEP_TEXT]; /* backbone-head and the varying keys but seed */
  ibx_config config;       /* every key (the labels name the ones that vary) */
  ibx_run_config settings; /* the same, typed */
} ibx_collect_run;

typedef struct {
  char table[32], row[IBX_SWEEP_TEXT], col[IBX_SWEEP_TEXT + 32], file[IBX_SWEEP_TEXT + 64];
  double value;
  int run;
} ibx_collect_value;

typedef struct {
  ibx_collect_run *runs;
  int n_runs;
  ibx_collect_value *values;
  int n_values, cap_values;
  int n_problems;
  int *varies; /* per schema key: differs between runs */
} ibx_collect_data;

int ibx_collect_read(const char *sweep_dir, FILE *report, ibx_collect_data *d);
void ibx_collect_data_free(ibx_collect_data *d);

#endif
