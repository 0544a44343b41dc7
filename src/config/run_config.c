/* The resolver of include/ibx/run_config.h: the one place that looks config
 * values up by key. Each row maps a schema key to a field of ibx_run_config;
 * resolving walks the rows once. */
#include "ibx/run_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ibx/error.h"

typedef enum {
  F_INT,
  F_LONG,
  F_DOUBLE,
  F_BOOL,
  F_STRING,
  F_LIST,
  F_OPTIMIZER,
  F_SCHEDULE
} field_type;

typedef struct {
  const char *name; /* "section.key" */
  size_t offset, size;
  field_type type;
} field;

#define FIELD(name, member, type)                                                                  \
  { name, offsetof(ibx_run_config, member), sizeof(((ibx_run_config *)0)->member), type }

static const field fields[] = {
    FIELD("data.dataset", data.dataset, F_STRING),
    FIELD("data.path", data.path, F_STRING),
    FIELD("data.image_size", data.image_size, F_INT),
    FIELD("data.augment", data.augment, F_BOOL),
    FIELD("data.flip", data.flip, F_BOOL),
    FIELD("data.token_dropout", data.token_dropout, F_DOUBLE),
    FIELD("data.vocab_from", data.vocab_from, F_STRING),
    FIELD("data.validation", data.validation, F_BOOL),
    FIELD("data.validation_fold", data.validation_fold, F_INT),
    FIELD("data.validation_folds", data.validation_folds, F_INT),
    FIELD("data.train_limit", data.train_limit, F_LONG),
    FIELD("data.test_limit", data.test_limit, F_LONG),
    FIELD("model.backbone", model.backbone, F_STRING),
    FIELD("model.head", model.head, F_STRING),
    FIELD("model.width", model.width, F_DOUBLE),
    FIELD("model.wrn_depth", model.wrn_depth, F_INT),
    FIELD("model.wrn_widen", model.wrn_widen, F_INT),
    FIELD("model.K", model.K, F_INT),
    FIELD("model.beta", model.beta, F_DOUBLE),
    FIELD("model.beta_warmup_epochs", model.beta_warmup_epochs, F_DOUBLE),
    FIELD("model.Q", model.Q, F_INT),
    FIELD("model.lambda_q", model.lambda_q, F_DOUBLE),
    FIELD("model.lambda_c", model.lambda_c, F_DOUBLE),
    FIELD("model.attention_layer", model.attention_layer, F_INT),
    FIELD("model.layers", model.layers, F_INT),
    FIELD("model.d_model", model.d_model, F_INT),
    FIELD("model.heads", model.heads, F_INT),
    FIELD("model.d_ff", model.d_ff, F_INT),
    FIELD("model.max_len", model.max_len, F_INT),
    FIELD("model.vocab", model.vocab, F_INT),
    FIELD("model.pool", model.pool, F_STRING),
    FIELD("model.dropout", model.dropout, F_DOUBLE),
    FIELD("model.objective", model.objective, F_STRING),
    FIELD("train.epochs", train.epochs, F_LONG),
    FIELD("train.batch_size", train.batch_size, F_INT),
    FIELD("train.optimizer", train.optimizer, F_OPTIMIZER),
    FIELD("train.lr", train.lr, F_DOUBLE),
    FIELD("train.momentum", train.momentum, F_DOUBLE),
    FIELD("train.nesterov", train.nesterov, F_BOOL),
    FIELD("train.weight_decay", train.weight_decay, F_DOUBLE),
    FIELD("train.schedule", train.schedule, F_SCHEDULE),
    FIELD("train.milestones", train.milestones, F_LIST),
    FIELD("train.gamma", train.gamma, F_DOUBLE),
    FIELD("train.grad_clip", train.grad_clip, F_DOUBLE),
    FIELD("train.warmup_epochs", train.warmup_epochs, F_DOUBLE),
    FIELD("train.seed", train.seed, F_LONG),
    FIELD("train.sync_bn", train.sync_bn, F_BOOL),
    FIELD("train.watchdog_s", train.watchdog_s, F_DOUBLE),
    FIELD("train.bucket_mb", train.bucket_mb, F_DOUBLE),
    FIELD("train.threads", train.threads, F_INT),
    FIELD("train.precision", train.precision, F_STRING),
    FIELD("train.log_every", train.log_every, F_LONG),
    FIELD("train.mask_prob", train.mask_prob, F_DOUBLE),
    FIELD("train.init_from", train.init_from, F_STRING),
    FIELD("eval.batch_size", eval.batch_size, F_INT),
    FIELD("eval.every", eval.every, F_LONG),
    FIELD("output.dir", output.dir, F_STRING),
    FIELD("output.keep_last", output.keep_last, F_INT),
    FIELD("output.checkpoint_every", output.checkpoint_every, F_LONG),
};
#define NFIELDS ((int)(sizeof fields / sizeof fields[0]))

int ibx_run_config_field_count(void) { return NFIELDS; }
const char *ibx_run_config_field_name(int i) {
  return i >= 0 && i < NFIELDS ? fields[i].name : NULL;
}

static const ibx_cfg_value *lookup(const ibx_config *c, const char *name) {
  for (int i = 0; i < c->count; i++) {
    const ibx_cfg_key *k = c->values[i].key;
    const size_t ns = strlen(k->section);
    if (!strncmp(name, k->section, ns) && name[ns] == '.' && !strcmp(name + ns + 1, k->key))
      return &c->values[i];
  }
  return NULL;
}

/* The schema type a field type reads. */
static int type_fits(field_type f, ibx_cfg_type t) {
  switch (f) {
  case F_INT:
  case F_LONG:
    return t == IBX_CFG_INT;
  case F_DOUBLE:
    return t == IBX_CFG_FLOAT;
  case F_BOOL:
    return t == IBX_CFG_BOOL;
  case F_STRING:
    return t == IBX_CFG_STRING || t == IBX_CFG_CHOICE;
  case F_LIST:
    return t == IBX_CFG_INT_LIST;
  case F_OPTIMIZER:
  case F_SCHEDULE:
    return t == IBX_CFG_CHOICE;
  }
  return 0;
}

static int choice(const char *name, const char *text, const char *const *names, int n, int *out) {
  for (int i = 0; i < n; i++)
    if (!strcmp(text, names[i]))
      return *out = i, IBX_OK;
  return ibx_fail(IBX_ERR_ARG, "config: %s = '%s' has no meaning in the resolver", name, text);
}

static int resolve_field(const field *f, const ibx_cfg_value *v, ibx_run_config *rc) {
  char *at = (char *)rc + f->offset;
  switch (f->type) {
  case F_INT: {
    const int x = (int)v->i;
    if ((long)x != v->i)
      return ibx_fail(IBX_ERR_ARG, "config: %s = %ld does not fit an int", f->name, v->i);
    memcpy(at, &x, sizeof x);
    return IBX_OK;
  }
  case F_LONG:
    memcpy(at, &v->i, sizeof v->i);
    return IBX_OK;
  case F_DOUBLE:
    memcpy(at, &v->f, sizeof v->f);
    return IBX_OK;
  case F_BOOL: {
    const int x = (int)v->i;
    memcpy(at, &x, sizeof x);
    return IBX_OK;
  }
  case F_STRING:
    if (strlen(v->text) >= f->size)
      return ibx_fail(IBX_ERR_ARG, "config: %s = '%s' is longer than %zu characters", f->name,
                      v->text, f->size - 1);
    memcpy(at, v->text, strlen(v->text) + 1);
    return IBX_OK;
  case F_LIST: {
    ibx_train_settings *t = &rc->train; /* the one list: train.milestones */
    if (at != (char *)t->milestones)
      return ibx_fail(IBX_ERR_ARG, "config: %s: only train.milestones is a list field", f->name);
    memcpy(t->milestones, v->list, (size_t)v->n_list * sizeof v->list[0]);
    t->n_milestones = v->n_list;
    return IBX_OK;
  }
  case F_OPTIMIZER: {
    static const char *const names[] = {"sgd", "adam", "adamw"};
    int k = 0;
    IBX_TRY(choice(f->name, v->text, names, 3, &k));
    const ibx_optimizer_kind x = (ibx_optimizer_kind)k;
    memcpy(at, &x, sizeof x);
    return IBX_OK;
  }
  case F_SCHEDULE: {
    static const char *const names[] = {"constant", "multistep", "cosine", "linear"};
    static const ibx_sched_kind kinds[] = {IBX_SCHED_CONSTANT, IBX_SCHED_MULTISTEP,
                                           IBX_SCHED_COSINE, IBX_SCHED_LINEAR};
    int k = 0;
    IBX_TRY(choice(f->name, v->text, names, 4, &k));
    const ibx_sched_kind x = kinds[k];
    memcpy(at, &x, sizeof x);
    return IBX_OK;
  }
  }
  return ibx_fail(IBX_ERR_ARG, "config: %s: unknown field type", f->name);
}

int ibx_run_config_resolve(const ibx_config *c, ibx_run_config *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < NFIELDS; i++) {
    const ibx_cfg_value *v = lookup(c, fields[i].name);
    if (!v)
      return ibx_fail(IBX_ERR_ARG, "config: resolver key %s is not in the schema", fields[i].name);
    if (!type_fits(fields[i].type, v->key->type))
      return ibx_fail(IBX_ERR_ARG, "config: resolver key %s has another type in the schema",
                      fields[i].name);
    IBX_TRY(resolve_field(&fields[i], v, out));
  }
  return IBX_OK;
}

void ibx_run_model_config(const ibx_run_config *rc, const ibx_dataset *train,
                          ibx_model_config *mc) {
  const ibx_model_settings *m = &rc->model;
  memset(mc, 0, sizeof *mc);
  snprintf(mc->backbone, sizeof mc->backbone, "%s", m->backbone);
  snprintf(mc->head, sizeof mc->head, "%s", m->head);
  ibx_model_config_defaults(mc);
  ibx_dataset_shape(train, &mc->in_channels, NULL, NULL);
  mc->in_height = mc->in_width = rc->data.image_size;
  mc->num_classes = ibx_dataset_num_classes(train);
  mc->width = (float)m->width;
  mc->wrn_depth = m->wrn_depth;
  mc->wrn_widen = m->wrn_widen;
  mc->K = m->K;
  mc->beta = (float)m->beta;
  mc->Q = m->Q;
  mc->lambda_q = (float)m->lambda_q;
  mc->lambda_c = (float)m->lambda_c;
  mc->attention_layer = m->attention_layer;
  mc->seed = (uint64_t)rc->train.seed;
}

int ibx_run_open_dataset(const ibx_run_config *rc, const char *split, ibx_dataset **out) {
  return ibx_dataset_open_named(rc->data.dataset, rc->data.path, split, rc->data.image_size, out);
}
