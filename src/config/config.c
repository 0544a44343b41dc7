/* INI configuration with schema validation and command-line overrides. */
#include "ibx/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ibx/error.h"

static int find(const ibx_config *c, const char *section, const char *key) {
  for (int i = 0; i < c->count; i++)
    if (!strcmp(c->values[i].key->section, section) && !strcmp(c->values[i].key->key, key))
      return i;
  return -1;
}

static int section_known(const char *section) {
  for (const ibx_cfg_key *k = ibx_config_schema; k->key; k++)
    if (!strcmp(k->section, section))
      return 1;
  return 0;
}

static const char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static int in_range(const ibx_cfg_key *k, double v) { return v >= k->min && v <= k->max; }

/* Parses text into v according to v->key; writes a problem into why. */
static int parse_value(ibx_cfg_value *v, const char *raw, char *why, size_t why_len) {
  const ibx_cfg_key *k = v->key;
  char buf[IBX_CFG_MAX_STRING];
  if (strlen(raw) >= sizeof buf)
    return snprintf(why, why_len, "value is longer than %d characters", IBX_CFG_MAX_STRING - 1), -1;
  strcpy(buf, raw);
  const char *text = trim(buf);
  char *end;
  switch (k->type) {
  case IBX_CFG_INT: {
    errno = 0;
    long x = strtol(text, &end, 10);
    if (!*text || *end || errno)
      return snprintf(why, why_len, "'%s' is not an integer", text), -1;
    if (!in_range(k, (double)x))
      return snprintf(why, why_len, "%ld is outside [%.15g, %.15g]", x, k->min, k->max), -1;
    v->i = x, v->f = (double)x;
    snprintf(v->text, sizeof v->text, "%ld", x);
    return 0;
  }
  case IBX_CFG_FLOAT: {
    errno = 0;
    double x = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(x))
      return snprintf(why, why_len, "'%s' is not a finite number", text), -1;
    if (!in_range(k, x))
      return snprintf(why, why_len, "%g is outside [%g, %g]", x, k->min, k->max), -1;
    v->f = x;
    snprintf(v->text, sizeof v->text, "%.9g", x);
    return 0;
  }
  case IBX_CFG_BOOL: {
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
      if (!strcmp(text, yes[i]) || !strcmp(text, no[i])) {
        v->i = !strcmp(text, yes[i]);
        snprintf(v->text, sizeof v->text, "%s", v->i ? "true" : "false");
        return 0;
      }
    }
    return snprintf(why, why_len, "'%s' is not a boolean (true/false)", text), -1;
  }
  case IBX_CFG_STRING:
    snprintf(v->text, sizeof v->text, "%s", text);
    return 0;
  case IBX_CFG_CHOICE: {
    const char *p = k->choices;
    const size_t n = strlen(text);
    while (p && *p) {
      const char *bar = strchr(p, '|');
      const size_t len = bar ? (size_t)(bar - p) : strlen(p);
      if (len == n && !strncmp(p, text, n)) {
        snprintf(v->text, sizeof v->text, "%s", text);
        return 0;
      }
      p = bar ? bar + 1 : NULL;
    }
    return snprintf(why, why_len, "'%s' is not one of %s", text, k->choices), -1;
  }
  case IBX_CFG_INT_LIST: {
    long items[IBX_CFG_MAX_LIST];
    int n = 0;
    const char *p = text;
    while (*p) {
      if (n == IBX_CFG_MAX_LIST)
        return snprintf(why, why_len, "more than %d items", IBX_CFG_MAX_LIST), -1;
      errno = 0;
      long x = strtol(p, &end, 10);
      if (end == p || errno)
        return snprintf(why, why_len, "'%s' is not a comma-separated list of integers", text), -1;
      if (!in_range(k, (double)x))
        return snprintf(why, why_len, "item %ld is outside [%.15g, %.15g]", x, k->min, k->max), -1;
      items[n++] = x;
      while (isspace((unsigned char)*end))
        end++;
      if (*end == ',')
        end++;
      else if (*end)
        return snprintf(why, why_len, "'%s' is not a comma-separated list of integers", text), -1;
      while (isspace((unsigned char)*end))
        end++;
      p = end;
    }
    v->n_list = n;
    memcpy(v->list, items, (size_t)n * sizeof(long));
    int used = 0;
    v->text[0] = '\0';
    for (int i = 0; i < n; i++)
      used += snprintf(v->text + used, sizeof v->text - used, i ? ",%ld" : "%ld", items[i]);
    return 0;
  }
  }
  return snprintf(why, why_len, "unknown type"), -1;
}

int ibx_config_init(ibx_config *c) {
  memset(c, 0, sizeof *c);
  int n = 0;
  while (ibx_config_schema[n].key)
    n++;
  c->values = calloc((size_t)n, sizeof *c->values);
  if (!c->values)
    return ibx_fail(IBX_ERR_NOMEM, "config: out of memory");
  c->count = n;
  for (int i = 0; i < n; i++) {
    char why[200];
    c->values[i].key = &ibx_config_schema[i];
    if (parse_value(&c->values[i], ibx_config_schema[i].default_value, why, sizeof why))
      return ibx_fail(IBX_ERR_ARG, "config schema: default of %s.%s: %s",
                      ibx_config_schema[i].section, ibx_config_schema[i].key, why);
  }
  return IBX_OK;
}

void ibx_config_free(ibx_config *c) {
  free(c->values);
  memset(c, 0, sizeof *c);
}

/* Sets section.key from text; on failure records "WHERE: section.key: why". */
static int assign(ibx_config *c, const char *section, const char *key, const char *value,
                  int set_by, const char *where) {
  char why[200];
  if (!section_known(section))
    return ibx_fail(IBX_ERR_ARG, "%s: unknown section [%s]", where, section);
  int i = find(c, section, key);
  if (i < 0)
    return ibx_fail(IBX_ERR_ARG, "%s: unknown key %s.%s", where, section, key);
  ibx_cfg_value tmp = c->values[i];
  if (parse_value(&tmp, value, why, sizeof why))
    return ibx_fail(IBX_ERR_ARG, "%s: %s.%s: %s", where, section, key, why);
  tmp.set_by = set_by;
  c->values[i] = tmp;
  return IBX_OK;
}

/* Debian's inih passes no line number to the handler; ini_parse returns the
 * line of the first error, so the handler keeps only the first message and
 * finish_parse prefixes "FILE:LINE". */
typedef struct {
  ibx_config *c;
  int rc;
  char msg[512];
} load_ctx;

static int on_entry(void *user, const char *section, const char *key, const char *value) {
  load_ctx *l = user;
  if (l->rc != IBX_OK)
    return 0;
  l->rc = assign(l->c, section, key, value, 1, "");
  if (l->rc != IBX_OK)
    snprintf(l->msg, sizeof l->msg, "%s", ibx_errmsg() + 2); /* drop the empty "where: " */
  return l->rc == IBX_OK;
}

static int finish_parse(load_ctx *l, int result, const char *name) {
  if (result == -1)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open config file", name);
  if (result == -2)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory parsing config", name);
  if (result > 0 && l->rc == IBX_OK) /* a syntax error, not one of ours */
    return ibx_fail(IBX_ERR_ARG, "%s:%d: syntax error (expected [section] or key = value)", name,
                    result);
  if (l->rc != IBX_OK)
    return ibx_fail(l->rc, "%s:%d: %s", name, result, l->msg);
  return IBX_OK;
}

/* What inih does not report: an unclosed "[section" (inih goes on with the
 * previous section) and a key set twice in one section (inih passes both,
 * the last would win). Checked on the text before parsing. */
typedef struct {
  char section[64], key[64];
  int line;
} seen_key;

static void copy_trimmed(char *out, size_t len, const char *from, size_t n) {
  while (n && isspace((unsigned char)*from))
    from++, n--;
  while (n && isspace((unsigned char)from[n - 1]))
    n--;
  snprintf(out, len, "%.*s", (int)n, from);
}

static int check_structure(const char *text, const char *name) {
  enum { MAX_SEEN = 1024 };
  seen_key *seen = malloc(MAX_SEEN * sizeof *seen);
  if (!seen)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory parsing config", name);
  int n_seen = 0, line = 0, prev_was_key = 0, rc = IBX_OK;
  char section[64] = "";
  if (!strncmp(text, "\xEF\xBB\xBF", 3)) /* UTF-8 byte order mark, as inih allows */
    text += 3;
  for (const char *p = text; *p && !rc;) {
    const char *end = strchr(p, '\n');
    const size_t len = end ? (size_t)(end - p) : strlen(p);
    line++;
    const char *s = p;
    while (s < p + len && isspace((unsigned char)*s))
      s++;
    const size_t rest = (size_t)(p + len - s);
    if (!rest || *s == ';' || *s == '#') {
      prev_was_key = prev_was_key && rest; /* a blank line ends a multi-line value */
    } else if (*s == '[') {
      const char *close = memchr(s, ']', rest);
      if (!close)
        rc = ibx_fail(IBX_ERR_ARG, "%s:%d: unclosed section header '%.*s' (expected [section])",
                      name, line, (int)rest, s);
      else
        copy_trimmed(section, sizeof section, s + 1, (size_t)(close - s - 1));
      prev_was_key = 0;
    } else if (s > p && prev_was_key) {
      /* an indented line after a key continues its value (inih multi-line) */
    } else {
      size_t k = strcspn(s, "=:\n");
      prev_was_key = k < rest;
      if (prev_was_key && n_seen < MAX_SEEN) {
        seen_key *e = &seen[n_seen];
        copy_trimmed(e->key, sizeof e->key, s, k);
        snprintf(e->section, sizeof e->section, "%s", section);
        e->line = line;
        for (int i = 0; i < n_seen && !rc; i++)
          if (!strcmp(seen[i].section, e->section) && !strcmp(seen[i].key, e->key))
            rc = ibx_fail(IBX_ERR_ARG, "%s:%d: %s.%s is set twice (lines %d and %d)", name, line,
                          e->section, e->key, seen[i].line, line);
        n_seen++;
      }
    }
    p = end ? end + 1 : p + len;
  }
  free(seen);
  return rc;
}

static int parse_text(ibx_config *c, const char *text, const char *name) {
  IBX_TRY(check_structure(text, name));
  load_ctx l = {c, IBX_OK, ""};
  return finish_parse(&l, ini_parse_string(text, on_entry, &l), name);
}

int ibx_config_load(ibx_config *c, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ibx_fail(IBX_ERR_IO, "%s: cannot open config file: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
    fclose(f);
    return ibx_fail(IBX_ERR_IO, "%s: not a config file (%s)", path,
                    S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
  }
  size_t cap = 4096, n = 0;
  char *text = malloc(cap);
  for (size_t got; text && (got = fread(text + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (n + 1 == cap) {
      char *bigger = realloc(text, cap *= 2);
      if (!bigger)
        free(text);
      text = bigger;
    }
  }
  const int read_error = ferror(f);
  fclose(f);
  if (!text)
    return ibx_fail(IBX_ERR_NOMEM, "%s: out of memory reading config", path);
  text[n] = '\0';
  int rc = read_error ? ibx_fail(IBX_ERR_IO, "%s: cannot read config file", path)
           : memchr(text, '\0', n) ? ibx_fail(IBX_ERR_ARG, "%s: not a text file (NUL byte)", path)
                                   : parse_text(c, text, path);
  free(text);
  if (!rc)
    snprintf(c->source, sizeof c->source, "%s", path);
  return rc;
}

int ibx_config_load_string(ibx_config *c, const char *text, const char *name) {
  return parse_text(c, text, name);
}

int ibx_config_override(ibx_config *c, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  const char *dot = strchr(assignment, '.');
  if (!eq || !dot || dot > eq || dot == assignment || dot + 1 == eq)
    return ibx_fail(IBX_ERR_ARG, "override '%s': expected section.key=value", assignment);
  char section[64], key[64];
  if ((size_t)(dot - assignment) >= sizeof section || (size_t)(eq - dot - 1) >= sizeof key)
    return ibx_fail(IBX_ERR_ARG, "override '%s': name too long", assignment);
  memcpy(section, assignment, (size_t)(dot - assignment));
  section[dot - assignment] = '\0';
  memcpy(key, dot + 1, (size_t)(eq - dot - 1));
  key[eq - dot - 1] = '\0';
  char where[IBX_CFG_MAX_STRING + 32];
  snprintf(where, sizeof where, "override '%s'", assignment);
  return assign(c, trim(section), trim(key), eq + 1, 2, where);
}

char *ibx_config_to_ini(const ibx_config *c) {
  size_t cap = 256 + (size_t)c->count * (IBX_CFG_MAX_STRING + 80), used = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  const char *section = "";
  for (int i = 0; i < c->count; i++) {
    const ibx_cfg_value *v = &c->values[i];
    if (strcmp(section, v->key->section)) {
      section = v->key->section;
      used += snprintf(out + used, cap - used, "%s[%s]\n", used ? "\n" : "", section);
    }
    used += snprintf(out + used, cap - used, "%s = %s\n", v->key->key, v->text);
  }
  return out;
}

static const char *type_name(const ibx_cfg_key *k) {
  switch (k->type) {
  case IBX_CFG_INT: return "integer";
  case IBX_CFG_FLOAT: return "number";
  case IBX_CFG_BOOL: return "boolean";
  case IBX_CFG_STRING: return "string";
  case IBX_CFG_CHOICE: return "choice";
  case IBX_CFG_INT_LIST: return "integer list";
  }
  return "?";
}

char *ibx_config_docs_markdown(void) {
  size_t cap = 64 * 1024, used = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  used += snprintf(out + used, cap - used,
                   "# Configuration reference\n\n"
                   "Generated by `ibx config docs` from `src/config/config_schema.c`; do not edit "
                   "by hand (a test checks that this file matches the schema).\n\n"
                   "Configs are INI files with the sections below. Any key can be overridden on "
                   "the command line as `section.key=value`, e.g. `ibx train jobs/fmnist_aib.ini "
                   "model.beta=0.1 train.epochs=3`. Unknown sections or keys and bad values are "
                   "errors that name the file, line and key. The fully resolved config is "
                   "printed at start and stored in every checkpoint.\n");
  const char *section = "";
  for (const ibx_cfg_key *k = ibx_config_schema; k->key; k++) {
    if (strcmp(section, k->section)) {
      section = k->section;
      used += snprintf(out + used, cap - used,
                       "\n## [%s]\n\n| key | type | default | allowed | meaning |\n"
                       "| --- | --- | --- | --- | --- |\n", section);
    }
    char allowed[200] = "";
    if (k->type == IBX_CFG_CHOICE)
      snprintf(allowed, sizeof allowed, "%s", k->choices);
    else if (k->type == IBX_CFG_INT || k->type == IBX_CFG_FLOAT || k->type == IBX_CFG_INT_LIST)
      snprintf(allowed, sizeof allowed, "%.6g .. %.6g", k->min, k->max);
    for (char *p = allowed; *p; p++)
      if (*p == '|')
        *p = '/';
    used += snprintf(out + used, cap - used, "| `%s` | %s | `%s` | %s | %s |\n", k->key,
                     type_name(k), *k->default_value ? k->default_value : "(empty)", allowed,
                     k->doc);
  }
  return out;
}
