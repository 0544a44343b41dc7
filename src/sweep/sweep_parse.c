/* Sweep file parser. Our own line reader (not libinih) because every error
 * must name its line, and because axes, zip groups and stages are sections
 * with their own rules. Every config value is checked against the schema
 * here, so a typo fails at `ibx sweep plan`, not hours later in a job. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ibx/error.h"
#include "ibx/sweep.h"
#include "sweep_internal.h"

typedef enum { SEC_NONE, SEC_SWEEP, SEC_SET, SEC_GRID, SEC_ZIP, SEC_SLURM, SEC_LOCAL,
               SEC_STAGE } section_kind;

typedef struct {
  ibx_sweep *s;
  const char *file;
  int line;
  section_kind sec;
  int zip_axis; /* index of the current [zip] axis, -1 before its first key */
  ibx_config scratch; /* validates single values */
} parser;

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

#define FAIL(p, ...) fail_at(p, __VA_ARGS__)
__attribute__((format(printf, 2, 3))) static int fail_at(parser *p, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ibx_fail(IBX_ERR_ARG, "%s:%d: %s", p->file, p->line, msg);
}

static int copy(parser *p, char *dst, size_t cap, const char *src, const char *what) {
  if (strlen(src) >= cap)
    return FAIL(p, "%s is longer than %zu characters", what, cap - 1);
  strcpy(dst, src);
  return IBX_OK;
}

/* "a, b, [1,2], c" -> values; brackets keep a list value (train.milestones)
 * in one piece. Returns the count or -1 on an empty item/overflow. */
static int split_values(char *text, char out[][IBX_CFG_MAX_STRING], int cap) {
  int n = 0, depth = 0;
  char *start = text;
  for (char *c = text;; c++) {
    if (*c == '[')
      depth++;
    else if (*c == ']')
      depth--;
    if ((*c == ',' && depth == 0) || !*c) {
      const int end = !*c;
      *c = '\0';
      char *v = trim(start);
      size_t len = strlen(v);
      if (len >= 2 && v[0] == '[' && v[len - 1] == ']')
        v[len - 1] = '\0', v = trim(v + 1);
      if (!*v || n == cap || strlen(v) >= IBX_CFG_MAX_STRING)
        return -1;
      strcpy(out[n++], v);
      if (end)
        break;
      start = c + 1;
    }
  }
  return n;
}

/* Checks "key=value" against the schema (or that a config file loads). */
static int check_value(parser *p, const char *key, const char *value) {
  if (!strcmp(key, "config")) {
    char path[IBX_SWEEP_TEXT * 2];
    ibx_sw_fmt(path, sizeof path, "%s/%s", p->s->dir, value);
    ibx_config c;
    ibx_config_init(&c);
    int rc = ibx_config_load(&c, value[0] == '/' ? value : path);
    ibx_config_free(&c);
    return rc ? FAIL(p, "config %s: %s", value, ibx_errmsg()) : IBX_OK;
  }
  char assignment[IBX_CFG_MAX_STRING + 80];
  ibx_sw_fmt(assignment, sizeof assignment, "%s=%s", key, value);
  if (ibx_config_override(&p->scratch, assignment))
    return FAIL(p, "%s", ibx_errmsg());
  if (!strncmp(key, "output.", 7) && !strcmp(key, "output.dir"))
    return FAIL(p, "output.dir is set by the sweep (results/<sweep>/<run id>)");
  return IBX_OK;
}

static int add_axis_key(parser *p, ibx_sweep_axis *a, const char *key, char *value) {
  if (a->n_keys == IBX_SWEEP_MAX_KEYS)
    return FAIL(p, "more than %d keys in one zip", IBX_SWEEP_MAX_KEYS);
  if (strlen(key) >= sizeof a->key[0])
    return FAIL(p, "key '%s' is too long", key);
  int n = split_values(value, a->value[a->n_keys], IBX_SWEEP_MAX_VALUES);
  if (n < 0)
    return FAIL(p, "%s: empty axis or empty value (write values as 'a, b, c'; at most %d)", key,
                IBX_SWEEP_MAX_VALUES);
  if (a->n_keys && n != a->n_values)
    return FAIL(p, "%s has %d values but the zip's first key %s has %d", key, n, a->key[0],
                a->n_values);
  for (int i = 0; i < n; i++)
    IBX_TRY(check_value(p, key, a->value[a->n_keys][i]));
  strcpy(a->key[a->n_keys++], key);
  a->n_values = n;
  if (!a->line)
    a->line = p->line;
  return IBX_OK;
}

static int parse_int(parser *p, const char *key, const char *v, int lo, int *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (!*v || *end || errno || x < lo || x > 1000000)
    return FAIL(p, "%s: '%s' is not an integer >= %d", key, v, lo);
  *out = (int)x;
  return IBX_OK;
}

/* nodes/tasks/cpus_per_task/time/partition/account/mem, shared by [slurm]
 * and [stage]; returns 1 when key is not one of them. */
static int resource_key(parser *p, ibx_sweep_resources *r, const char *key, const char *v,
                        int *rc) {
  *rc = IBX_OK;
  if (!strcmp(key, "nodes"))
    *rc = parse_int(p, key, v, 1, &r->nodes);
  else if (!strcmp(key, "tasks"))
    *rc = parse_int(p, key, v, 1, &r->tasks);
  else if (!strcmp(key, "cpus_per_task"))
    *rc = parse_int(p, key, v, 1, &r->cpus_per_task);
  else if (!strcmp(key, "time"))
    *rc = copy(p, r->time, sizeof r->time, v, key);
  else if (!strcmp(key, "partition"))
    *rc = copy(p, r->partition, sizeof r->partition, v, key);
  else if (!strcmp(key, "account"))
    *rc = copy(p, r->account, sizeof r->account, v, key);
  else if (!strcmp(key, "mem"))
    *rc = copy(p, r->mem, sizeof r->mem, v, key);
  else
    return 1;
  return 0;
}

static int find_stage(const ibx_sweep *s, const char *name) {
  for (int i = 0; i < s->n_stages; i++)
    if (!strcmp(s->stages[i].name, name))
      return i;
  return -1;
}

static int stage_key(parser *p, ibx_sweep_stage *st, const char *key, char *v) {
  int rc;
  if (!resource_key(p, &st->res, key, v, &rc))
    return rc;
  if (!strcmp(key, "command"))
    return copy(p, st->command, sizeof st->command, v, key);
  if (!strcmp(key, "exec"))
    return copy(p, st->exec, sizeof st->exec, v, key);
  if (!strcmp(key, "resume"))
    return copy(p, st->resume, sizeof st->resume, v, key);
  if (!strcmp(key, "outputs"))
    return copy(p, st->outputs, sizeof st->outputs, v, key);
  if (!strcmp(key, "per")) {
    if (strcmp(v, "run") && strcmp(v, "sweep"))
      return FAIL(p, "per: '%s' is not run or sweep", v);
    st->per_sweep = !strcmp(v, "sweep");
    return IBX_OK;
  }
  if (!strcmp(key, "dependency")) {
    if (strcmp(v, "afterok") && strcmp(v, "afterany"))
      return FAIL(p, "dependency: '%s' is not afterok or afterany", v);
    st->after_any = !strcmp(v, "afterany");
    return IBX_OK;
  }
  if (!strcmp(key, "after")) {
    for (char *tok = strtok(v, ", "); tok; tok = strtok(NULL, ", ")) {
      int i = find_stage(p->s, tok);
      if (i < 0)
        return FAIL(p, "stage '%s' runs after '%s', which is not a stage defined above it",
                    st->name, tok);
      st->after[st->n_after++] = i;
    }
    return IBX_OK;
  }
  return FAIL(p, "unknown key '%s' in [stage %s]", key, st->name);
}

static int sweep_key(parser *p, const char *key, const char *v) {
  ibx_sweep *s = p->s;
  if (!strcmp(key, "name")) {
    for (const char *c = v; *c; c++)
      if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
        return FAIL(p, "name: '%s' may hold only letters, digits, '-', '_' and '.'", v);
    return copy(p, s->name, sizeof s->name, v, key);
  }
  if (!strcmp(key, "base")) {
    char path[IBX_SWEEP_TEXT * 2];
    ibx_sw_fmt(path, sizeof path, "%s%s%s", v[0] == '/' ? "" : s->dir, v[0] == '/' ? "" : "/", v);
    IBX_TRY(copy(p, s->base, sizeof s->base, path, key));
    if (ibx_config_load(&p->scratch, s->base))
      return FAIL(p, "base: %s", ibx_errmsg());
    return IBX_OK;
  }
  if (!strcmp(key, "results"))
    return copy(p, s->results, sizeof s->results, v, key);
  return FAIL(p, "unknown key '%s' in [sweep] (name, base, results)", key);
}

static int slurm_key(parser *p, const char *key, const char *v) {
  int rc;
  if (!resource_key(p, &p->s->res, key, v, &rc))
    return rc;
  if (!strcmp(key, "throttle"))
    return parse_int(p, key, v, 0, &p->s->throttle);
  if (!strcmp(key, "max_array"))
    return parse_int(p, key, v, 1, &p->s->max_array);
  if (!strcmp(key, "launcher"))
    return copy(p, p->s->slurm_launcher, sizeof p->s->slurm_launcher, v, key);
  return FAIL(p, "unknown key '%s' in [slurm]", key);
}

static int on_section(parser *p, char *name) {
  ibx_sweep *s = p->s;
  char *word = strtok(name, " \t"), *arg = strtok(NULL, " \t");
  if (!word)
    return FAIL(p, "empty section name");
  p->sec = SEC_NONE;
  if (!strcmp(word, "sweep"))
    p->sec = SEC_SWEEP;
  else if (!strcmp(word, "set"))
    p->sec = SEC_SET;
  else if (!strcmp(word, "grid"))
    p->sec = SEC_GRID;
  else if (!strcmp(word, "slurm"))
    p->sec = SEC_SLURM;
  else if (!strcmp(word, "local"))
    p->sec = SEC_LOCAL;
  else if (!strcmp(word, "zip")) {
    p->sec = SEC_ZIP;
    p->zip_axis = -1;
  } else if (!strcmp(word, "stage")) {
    if (!arg)
      return FAIL(p, "[stage] needs a name: [stage train]");
    if (find_stage(s, arg) >= 0)
      return FAIL(p, "stage '%s' is defined twice", arg);
    if (s->n_stages == IBX_SWEEP_MAX_STAGES)
      return FAIL(p, "more than %d stages", IBX_SWEEP_MAX_STAGES);
    ibx_sweep_stage *st = &s->stages[s->n_stages++];
    IBX_TRY(copy(p, st->name, sizeof st->name, arg, "stage name"));
    st->line = p->line;
    p->sec = SEC_STAGE;
    return IBX_OK;
  } else
    return FAIL(p, "unknown section [%s] (sweep, set, grid, zip, slurm, local, stage NAME)", word);
  if (arg)
    return FAIL(p, "[%s] takes no name", word);
  return IBX_OK;
}

static int on_entry(parser *p, const char *key, char *value) {
  ibx_sweep *s = p->s;
  switch (p->sec) {
  case SEC_NONE:
    return FAIL(p, "'%s' is outside any section", key);
  case SEC_SWEEP:
    return sweep_key(p, key, value);
  case SEC_SLURM:
    return slurm_key(p, key, value);
  case SEC_LOCAL:
    if (strcmp(key, "launcher"))
      return FAIL(p, "unknown key '%s' in [local] (launcher)", key);
    return copy(p, s->local_launcher, sizeof s->local_launcher, value, key);
  case SEC_STAGE:
    return stage_key(p, &s->stages[s->n_stages - 1], key, value);
  case SEC_SET:
    if (!*value)
      return FAIL(p, "%s has no value", key);
    IBX_TRY(check_value(p, key, value));
    if (s->n_set == IBX_SWEEP_MAX_SET)
      return FAIL(p, "more than %d [set] keys", IBX_SWEEP_MAX_SET);
    ibx_sw_fmt(s->set[s->n_set++], sizeof s->set[0], "%s=%s", key, value);
    return IBX_OK;
  case SEC_GRID:
  case SEC_ZIP:
    if (p->sec == SEC_GRID || p->zip_axis < 0) {
      if (s->n_axes == IBX_SWEEP_MAX_AXES)
        return FAIL(p, "more than %d axes", IBX_SWEEP_MAX_AXES);
      p->zip_axis = s->n_axes++;
    }
    for (int a = 0; a < s->n_axes; a++)
      for (int k = 0; k < s->axes[a].n_keys; k++)
        if (!strcmp(s->axes[a].key[k], key))
          return FAIL(p, "%s is already an axis (line %d)", key, s->axes[a].line);
    int rc = add_axis_key(p, &s->axes[p->zip_axis], key, value);
    if (p->sec == SEC_GRID)
      p->zip_axis = -1;
    return rc;
  }
  return IBX_OK;
}

static int check_whole(parser *p) {
  ibx_sweep *s = p->s;
  p->line = 1;
  if (!s->name[0])
    return FAIL(p, "[sweep] name is missing");
  if (!s->n_stages)
    return FAIL(p, "no [stage NAME] sections: nothing to run");
  for (int i = 0; i < s->n_stages; i++) {
    ibx_sweep_stage *st = &s->stages[i];
    p->line = st->line;
    if (!st->command[0] == !st->exec[0])
      return FAIL(p, "stage '%s' needs exactly one of command (ibx arguments) or exec",
                  st->name);
    const char *lines[3] = {st->command, st->exec, st->resume};
    ibx_sw_vars v = {"R", "C", "I", "S", "H", "X", 1};
    if (st->per_sweep)
      v.run_dir = v.config = v.run_id = NULL;
    for (int k = 0; k < 3; k++) {
      static char words[96][IBX_SWEEP_TEXT];
      char out[IBX_SWEEP_TEXT * 2];
      int n = ibx_sw_split_words(lines[k], words, 96);
      if (n < 0)
        return FAIL(p, "stage '%s': %s", st->name, ibx_errmsg());
      for (int w = 0; w < n; w++)
        if (ibx_sw_expand_word(words[w], &v, out, sizeof out))
          return FAIL(p, "stage '%s': %s", st->name, ibx_errmsg());
    }
    for (int d = 0; d < st->n_after; d++)
      if (!st->per_sweep && s->stages[st->after[d]].per_sweep)
        return FAIL(p, "stage '%s' runs per run but after the sweep-wide stage '%s'", st->name,
                    s->stages[st->after[d]].name);
  }
  return IBX_OK;
}

int ibx_sweep_load(const char *path, ibx_sweep *s) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(path, "r");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open sweep file: %s", path, strerror(errno));
  ibx_sw_fmt(s->path, sizeof s->path, "%s", path);
  ibx_sw_fmt(s->dir, sizeof s->dir, "%s", path);
  char *slash = strrchr(s->dir, '/');
  if (slash)
    *slash = '\0';
  else
    strcpy(s->dir, ".");
  strcpy(s->results, "results");
  s->res = (ibx_sweep_resources){.nodes = 1, .tasks = 1, .cpus_per_task = 1};
  strcpy(s->res.time, "01:00:00");
  s->throttle = 0;
  strcpy(s->slurm_launcher, "srun --mpi=pmix");
  strcpy(s->local_launcher, "mpiexec -n {tasks} --oversubscribe");
  parser p = {.s = s, .file = path, .zip_axis = -1};
  ibx_config_init(&p.scratch);
  char buf[4096];
  int rc = IBX_OK;
  while (rc == IBX_OK && fgets(buf, sizeof buf, f)) {
    p.line++;
    if (!strchr(buf, '\n') && !feof(f)) {
      rc = FAIL(&p, "line longer than %zu characters", sizeof buf - 2);
      break;
    }
    char *c = buf;
    for (char *q = c; *q; q++) /* comments: ';' or '#' at the start or after a space */
      if ((*q == ';' || *q == '#') && (q == c || isspace((unsigned char)q[-1]))) {
        *q = '\0';
        break;
      }
    char *line = trim(c);
    if (!*line)
      continue;
    if (*line == '[') {
      char *end = strchr(line, ']');
      if (!end || end[1])
        rc = FAIL(&p, "malformed section header '%s'", line);
      else
        *end = '\0', rc = on_section(&p, line + 1);
      continue;
    }
    char *eq = strchr(line, '=');
    if (!eq) {
      rc = FAIL(&p, "expected key = value, got '%s'", line);
      continue;
    }
    *eq = '\0';
    rc = on_entry(&p, trim(line), trim(eq + 1));
  }
  fclose(f);
  if (rc == IBX_OK)
    rc = check_whole(&p);
  ibx_config_free(&p.scratch);
  return rc;
}
